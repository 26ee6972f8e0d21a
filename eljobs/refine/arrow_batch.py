"""What the Arrow-batched per-row modules share (:mod:`eljobs.refine.geo`,
:mod:`eljobs.refine.ua_batch`): a batch of strings reduced to its distinct values, so Python
runs once per distinct value, and the per-value answers spread back over the batch.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc


@dataclass(frozen=True)
class DistinctStrings:
    """A batch as a string array, its distinct values and, per row, its value's index.

    Attributes:
        values: the batch (chunks combined, cast to string when it was not).
        distinct: the distinct values, NULL included when present.
        indices: per row, the index of its value in ``distinct``.
    """

    values: pa.Array
    distinct: list[str | None]
    indices: pa.Array

    def spread(self, answers: Sequence[Any], type_: pa.DataType) -> pa.Array:
        """One answer per distinct value (in ``distinct`` order) → one per row."""
        return pc.take(pa.array(answers, type=type_), self.indices)


def distinct_strings(values: pa.Array | pa.ChunkedArray) -> DistinctStrings:
    """Reduce a batch of strings to its distinct values (dictionary encoding)."""
    if isinstance(values, pa.ChunkedArray):
        values = values.combine_chunks()
    if not pa.types.is_string(values.type) and not pa.types.is_large_string(values.type):
        values = values.cast(pa.string())
    encoded = pc.dictionary_encode(values)
    return DistinctStrings(values, encoded.dictionary.to_pylist(), encoded.indices)
