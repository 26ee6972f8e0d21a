"""The context a Refine transform function receives besides its DataFrame.

A transform function has the signature ``fn(df, *, context=None) -> DataFrame``. The runner passes
a :class:`TransformContext` naming the output table and partition of the target being refined
(the sanitizer needs both), the existing Hive table schema (``parse_user_agent`` checks it for a
legacy ``useragent`` struct) and the Spark conf values transforms read. Called with only ``df``
(notebooks, tests) every transform must still work.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from pyspark.sql import DataFrame
    from pyspark.sql.types import StructType


@dataclass(frozen=True)
class TransformContext:
    """Where the frame being transformed will be written.

    Attributes:
        database: the output Hive database.
        table: the normalized output table name.
        partition: ordered partition keys to values (``{"datacenter": "eqiad", "year": 2024,
            "month": 1, ...}``); values made only of digits are ints.
        table_schema: the existing Hive table schema, None when the table does not exist yet.
        options: Spark conf values transforms read, e.g.
            ``spark.refine.transformfunction.parsetimestampfields.timestampfields``.
    """

    database: str
    table: str
    partition: Mapping[str, str | int]
    table_schema: StructType | None = None
    options: Mapping[str, str] = field(default_factory=dict)


#: ``fn(df, *, context: TransformContext | None = None) -> DataFrame``
TransformFn = Callable[..., "DataFrame"]


def apply_transforms(
    df: DataFrame, transforms: Any, *, context: TransformContext | None = None
) -> DataFrame:
    """Fold ``transforms`` (an iterable of :data:`TransformFn`) over ``df`` in order."""
    for fn in transforms:
        df = fn(df, context=context)
    return df
