"""Property tests (hypothesis): random nested schemas (structs, maps, arrays, nulls), random
allowlists and rows. For every example: the output equals an independent model of the sanitization
rules
(so every value is NULL/empty unless its path is allowlisted, every ``hash`` output is the HMAC
of its input), and no input string of a non-kept field appears anywhere in the output or in the
captured logs. One DataFrame and one action per example."""

from __future__ import annotations

import itertools
import json
import logging
import logging.handlers
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pyspark.sql import SparkSession

from eljobs.naming import normalize_name
from eljobs.sanitize import Salt, load_allowlist, sanitize
from eljobs.sanitize.hashing import hmac_sha256_hex_py

SALT_VALUE = "c4f3" * 16
SALT = Salt(datetime(2024, 1, 1, tzinfo=UTC), datetime(2024, 4, 1, tzinfo=UTC), SALT_VALUE)
NAMES = ["a", "B", "c_d", "Ee", "f", "gH", "i", "J_k"]
MAP_KEYS = ["k", "K2", "x-y", "Zz"]

# --------------------------------------------------------------------------------------------
# Types: ("string",) ("bigint",) ("boolean",) ("array",) ("struct", [(name, type)...])
# ("map", value_type)

simple_types = st.sampled_from([("string",), ("string",), ("bigint",), ("boolean",), ("array",)])


def types(depth: int) -> st.SearchStrategy[Any]:
    if depth == 0:
        return simple_types
    return st.one_of(
        simple_types,
        structs(depth - 1),
        st.tuples(
            st.just("map"), st.one_of(st.sampled_from([("string",), ("bigint",)]), structs(0))
        ),
    )


def structs(depth: int, *, min_size: int = 1, max_size: int = 4) -> st.SearchStrategy[Any]:
    return st.lists(
        st.tuples(st.sampled_from(NAMES), types(depth)),
        min_size=min_size,
        max_size=max_size,
        unique_by=lambda f: f[0].lower(),
    ).map(lambda fields: ("struct", fields))


def ddl(t: Any) -> str:
    kind = t[0]
    if kind == "array":
        return "array<string>"
    if kind == "struct":
        return "struct<" + ", ".join(f"{n}: {ddl(ft)}" for n, ft in t[1]) + ">"
    if kind == "map":
        return f"map<string, {ddl(t[1])}>"
    return kind


# --------------------------------------------------------------------------------------------
# Allowlists: None (absent) or a valid value for the type, keys in random case


def allow_for(t: Any, *, in_map: bool = False) -> st.SearchStrategy[Any]:
    kind = t[0]
    if kind == "string":
        return st.sampled_from(["keep", "hash"])
    if kind in ("bigint", "boolean", "array"):
        return st.just("keep")
    if kind == "struct":
        return st.one_of(st.just("keep_all"), struct_allow(t))
    # map
    vt = t[1]
    per_key = allow_for(vt, in_map=True)
    return st.one_of(
        st.just("keep_all"),
        st.dictionaries(st.sampled_from(MAP_KEYS).map(_recase), per_key, max_size=3),
    )


def _recase(name: str) -> str:
    return name.upper() if len(name) % 2 else name.lower()


def struct_allow(t: Any) -> st.SearchStrategy[Any]:
    return st.fixed_dictionaries(
        {},
        optional={
            (n.upper() if i % 2 else n.lower()): allow_for(ft) for i, (n, ft) in enumerate(t[1])
        },
    )


# --------------------------------------------------------------------------------------------
# Values: every string is a unique token so leaks can be traced


@dataclass
class Tokens:
    counter: itertools.count  # type: ignore[type-arg]

    def next(self) -> str:
        return f"tok{next(self.counter)}é"


def value(draw: Any, t: Any, tokens: Tokens) -> Any:
    if draw(st.integers(0, 5)) == 0:
        return None
    kind = t[0]
    if kind == "string":
        return tokens.next()
    if kind == "bigint":
        return draw(st.integers(-(2**40), 2**40))
    if kind == "boolean":
        return draw(st.booleans())
    if kind == "array":
        return [tokens.next() for _ in range(draw(st.integers(0, 2)))]
    if kind == "struct":
        return tuple(value(draw, ft, tokens) for _, ft in t[1])
    keys = draw(st.lists(st.sampled_from(MAP_KEYS), max_size=3, unique=True))
    return {k: value(draw, t[1], tokens) for k in keys}


@st.composite
def examples(draw: Any) -> tuple[Any, Any, list[Any]]:
    # A wide top level: each example is one frame and one Spark action, so pack many cases.
    schema = draw(structs(2, min_size=4, max_size=8))
    allow = draw(struct_allow(schema))
    tokens = Tokens(itertools.count())
    rows = [
        tuple(value(draw, ft, tokens) for _, ft in schema[1])
        for _ in range(draw(st.integers(2, 6)))
    ]
    return schema, allow, rows


# --------------------------------------------------------------------------------------------
# The model of the sanitization rules (independent of eljobs.sanitize.mask) and leak tracking


def norm_allow(a: Any) -> Any:
    if isinstance(a, dict):
        return {normalize_name(k): norm_allow(v) for k, v in a.items()}
    return a


def model(t: Any, allow: Any, v: Any, leaked: list[str]) -> Any:
    """Expected output value; input strings that must not survive are added to ``leaked``."""
    kind = t[0]
    if allow is None:
        _collect(v, leaked)
        if kind == "map":
            return None if v is None else {}
        return None
    if allow in ("keep", "keep_all"):
        return plain(t, v)
    if allow == "hash":
        if v is None:
            return None
        leaked.append(v)
        return hmac_sha256_hex_py(SALT_VALUE, v)
    if v is None:
        return None
    if kind == "struct":
        return {
            n: model(ft, allow.get(n.lower()), fv, leaked)
            for (n, ft), fv in zip(t[1], v, strict=True)
        }
    out = {}
    for k, mv in v.items():
        if k.lower() in allow:
            out[k] = model(t[1], allow[k.lower()], mv, leaked)
        else:
            _collect(mv, leaked)
    return out


def plain(t: Any, v: Any) -> Any:
    if v is None:
        return None
    if t[0] == "struct":
        return {n: plain(ft, fv) for (n, ft), fv in zip(t[1], v, strict=True)}
    if t[0] == "map":
        return {k: plain(t[1], mv) for k, mv in v.items()}
    return v


def _collect(v: Any, out: list[str]) -> None:
    if isinstance(v, str):
        out.append(v)
    elif isinstance(v, tuple | list):
        for x in v:
            _collect(x, out)
    elif isinstance(v, dict):
        for x in v.values():
            _collect(x, out)


def to_plain(v: Any) -> Any:
    from pyspark.sql import Row

    if isinstance(v, Row):
        return {k: to_plain(x) for k, x in v.asDict(recursive=False).items()}
    if isinstance(v, dict):
        return {k: to_plain(x) for k, x in v.items()}
    if isinstance(v, list):
        return [to_plain(x) for x in v]
    return v


def _run(spark: SparkSession, schema: Any, allow: Any, rows: list[Any]) -> tuple[Any, Any, Any]:
    columns = ", ".join(f"{n} {ddl(ft)}" for n, ft in schema[1]) + ", year bigint"
    df = spark.createDataFrame([(*r, 2024) for r in rows], columns)
    al = load_allowlist({"Tbl": allow}, keep_all_enabled=True)
    out = sanitize(df, al, table="tbl", partition={"year": 2024, "month": 2}, salts=[SALT])
    return [to_plain(r) for r in out.collect()], out, df


@settings(
    max_examples=15,
    deadline=None,
    suppress_health_check=[
        HealthCheck.too_slow,
        HealthCheck.data_too_large,
        # capfd is read (and so reset) inside every example.
        HealthCheck.function_scoped_fixture,
    ],
)
@given(ex=examples())
def test_random_schemas_allowlists_and_rows(
    spark: SparkSession, ex: tuple[Any, Any, list[Any]], capfd: pytest.CaptureFixture[str]
) -> None:
    schema, allow, rows = ex
    capfd.readouterr()
    records = logging.handlers.BufferingHandler(10_000)
    logging.getLogger().addHandler(records)
    try:
        got, out, df = _run(spark, schema, allow, rows)
    finally:
        logging.getLogger().removeHandler(records)

    top_allow = norm_allow(allow)
    leaked: list[str] = []
    expected = []
    for r in rows:
        row = {
            n: model(ft, top_allow.get(n.lower()), v, leaked)
            for (n, ft), v in zip(schema[1], r, strict=True)
        }
        row["year"] = 2024
        expected.append(row)
    assert out.schema.simpleString() == df.schema.simpleString()
    assert got == expected

    dumped = json.dumps(got, ensure_ascii=False)
    captured = capfd.readouterr()
    logs = captured.out + captured.err + "\n".join(r.getMessage() for r in records.buffer)
    for s in leaked:
        assert s not in dumped
        assert s not in logs
    assert SALT_VALUE not in logs
