"""The distinct-value reduction shared by the Arrow-batched UDF modules. No Spark."""

from __future__ import annotations

import pyarrow as pa

from eljobs.refine.arrow_batch import distinct_strings


def test_distinct_values_spread_back_over_the_batch():
    batch = distinct_strings(pa.chunked_array([["a", None], ["b", "a", None]]))
    assert set(batch.distinct) <= {"a", "b", None}
    assert {"a", "b"} <= set(batch.distinct)
    assert len(batch.distinct) == len(set(batch.distinct))  # each value once
    answers = [None if v is None else v.upper() for v in batch.distinct]
    assert batch.spread(answers, pa.string()).to_pylist() == ["A", None, "B", "A", None]
    assert batch.values.is_null().to_pylist() == [False, True, False, False, True]


def test_non_string_batches_are_cast():
    batch = distinct_strings(pa.array([1, 2, 1]))
    assert batch.values.type == pa.string()
    assert batch.spread([f"<{v}>" for v in batch.distinct], pa.string()).to_pylist() == [
        "<1>",
        "<2>",
        "<1>",
    ]
