"""eljobs.eventlogging.jsoncodec against the standard library: the same bytes out, on
hand-picked edge cases and on seeded random documents."""

from __future__ import annotations

import json
import random
import struct
from typing import Any

import pytest

from eljobs.eventlogging import jsoncodec

EDGE_VALUES: list[Any] = [
    {"b": 1, "a": {"z": [1, 2.5, None, True, False], "é": "ü", "": {}}},
    {"s": 'q"uote \\ back \\" \x00\x1f\x7f \u2028 \U0001f600 / <&>'},
    {"lone": "\ud800", "pair": "\ud83d\ude00"},
    {"floats": [1e16, 1e-4, 1e-5, 1.5e-07, 5e-324, -0.0, 1.7976931348623157e308, 0.1, 100.0]},
    {"special": [float("nan"), float("inf"), float("-inf")]},
    {"ints": [2**63, 2**64 - 1, 2**64, -(2**63) - 1, 2**100]},
    {"text e-5 and 1e-5 in a string": "1e-5", "x": 1.25e-9},
    {"\uffff": 1, "\U0001f600": 2, "Z": 3, "a": 4, "é": 5},
    [[[[[[[[[[[[1]]]]]]]]]]]],
    ["x" * 300] * 3,
    "plain",
    12,
    None,
]


@pytest.mark.parametrize("value", EDGE_VALUES, ids=range(len(EDGE_VALUES)))
def test_dumps_is_json_dumps_sort_keys(value: Any) -> None:
    assert jsoncodec.dumps(value) == json.dumps(value, sort_keys=True)


def test_dumps_deep_nesting_is_left_to_the_standard_library() -> None:
    deep: Any = 1
    for _ in range(300):
        deep = {"a": [deep]}
    assert jsoncodec.dumps(deep) == json.dumps(deep, sort_keys=True)
    too_deep: Any = 1
    for _ in range(5000):
        too_deep = [too_deep]
    with pytest.raises(RecursionError):
        json.dumps(too_deep)
    with pytest.raises(RecursionError):  # the same error as the reference, not ujson's
        jsoncodec.dumps(too_deep)


def _random_float(rng: random.Random) -> float:
    if rng.random() < 0.5:
        return float(struct.unpack("d", struct.pack("Q", rng.getrandbits(64)))[0])
    return round(rng.uniform(-1, 1) * 10 ** rng.randint(-12, 22), rng.randint(0, 15))


def _random_doc(rng: random.Random, depth: int = 0) -> Any:
    kind = rng.random()
    if depth < 3 and kind < 0.25:
        return {_random_text(rng): _random_doc(rng, depth + 1) for _ in range(rng.randint(0, 6))}
    if depth < 3 and kind < 0.35:
        return [_random_doc(rng, depth + 1) for _ in range(rng.randint(0, 4))]
    if kind < 0.55:
        return _random_float(rng)
    if kind < 0.7:
        return rng.choice([0, -1, 2**31, 2**63 - 1, 2**64, -(10**20), rng.getrandbits(70)])
    if kind < 0.75:
        return rng.choice([None, True, False])
    return _random_text(rng)


def _random_text(rng: random.Random) -> str:
    alphabet = 'aZ09 ,:"\\/\x00\x1f\x7f\x80é€\u2028\ufeff\U0001f600e-+.'
    return "".join(rng.choice(alphabet) for _ in range(rng.randint(0, 12)))


def test_dumps_on_random_documents() -> None:
    rng = random.Random(20261201)
    for _ in range(4_000):
        doc = {"event": _random_doc(rng), "schema": "S", "revision": 1}
        assert jsoncodec.dumps(doc) == json.dumps(doc, sort_keys=True)
    for _ in range(30_000):
        f = _random_float(rng)
        assert jsoncodec.dumps([f]) == json.dumps([f])
