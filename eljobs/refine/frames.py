"""Refine's DataFrame → DataFrame steps around the table: partition columns, normalize and
widen, and conforming a frame to its table's schema (see docs/differences.md).

Each function builds native column expressions only: no session is created, no file or
catalog touched, so the same steps serve every table format.
"""

from __future__ import annotations

from collections.abc import Sequence

from pyspark.sql import Column, DataFrame
from pyspark.sql import functions as F
from pyspark.sql.types import (
    ArrayType,
    DataType,
    DoubleType,
    FloatType,
    IntegerType,
    LongType,
    MapType,
    StringType,
    StructType,
)

from eljobs.columns import quote_name
from eljobs.naming import normalize_name, sanitize_field_name


class SchemaMismatchError(ValueError):
    """Data cannot be conformed to the table (e.g. a non-struct value in a struct column)."""


# --------------------------------------------------------------------------------------------
# Partition columns


def add_partition_columns(df: DataFrame, partition: Sequence[tuple[str, str]]) -> DataFrame:
    """Add one literal column per partition key, in order: bigint when the value parses as a
    64-bit integer (``"03"`` → 3), else string. An existing column of that name is replaced."""
    for key, value in partition:
        try:
            number = int(value)
            lit = F.lit(number).cast("bigint") if -(2**63) <= number < 2**63 else F.lit(value)
        except ValueError:
            lit = F.lit(value)
        df = df.withColumn(key, lit)
    return df


# --------------------------------------------------------------------------------------------
# Normalize and widen


def _widen(dt: DataType) -> DataType:
    if isinstance(dt, IntegerType):
        return LongType()
    if isinstance(dt, FloatType):
        return DoubleType()
    return dt


def _is_flat_and_normal(dt: StructType) -> bool:
    """True when normalizing ``dt`` changes nothing but NULL → struct of NULLs: no nested
    struct, every member nullable, no name to sanitize and no type to widen."""
    return all(
        f.nullable
        and not isinstance(f.dataType, StructType)
        and sanitize_field_name(f.name) == f.name
        and _widen(f.dataType) == f.dataType
        for f in dt.fields
    )


def _normalize_expr(c: Column, dt: DataType) -> Column:
    if isinstance(dt, StructType):
        if not dt.fields:
            return c
        if _is_flat_and_normal(dt):
            # Same values as the rebuild below, without copying every member one by one
            # (wide event structs made that a noticeable part of Refine's time): a present
            # struct is kept whole, a NULL one replaced by the struct of NULLs.
            nulls = F.struct(*[F.lit(None).cast(f.dataType).alias(f.name) for f in dt.fields])
            return _nullable(F.coalesce(c, nulls))
        # Rebuilding with struct() (named_struct) turns a NULL struct into a struct of NULLs:
        # kept on purpose for parity with the reference.
        return _nullable(
            F.struct(
                *[
                    _normalize_expr(c.getField(f.name), f.dataType).alias(
                        sanitize_field_name(f.name)
                    )
                    for f in dt.fields
                ]
            )
        )
    widened = _widen(dt)
    return c.cast(widened) if widened != dt else c


def normalize_and_widen(df: DataFrame) -> DataFrame:
    """Normalize top-level names (lower-cased), sanitize nested struct names (case kept), widen
    int→bigint and float→double at the top level and inside structs (not in arrays or maps),
    and rebuild every struct: a NULL struct becomes a struct whose fields are all NULL."""
    cols = [
        _normalize_expr(F.col(quote_name(f.name)), f.dataType).alias(normalize_name(f.name))
        for f in df.schema.fields
    ]
    return df.select(*cols)


# --------------------------------------------------------------------------------------------
# Conform


def _conform_expr(c: Column, src: DataType, dst: DataType, path: str) -> Column:
    if src == dst:
        # Already the table's type (nullability included): rebuilding would give the same
        # values, NULL structs having become structs of NULLs in normalize_and_widen, and
        # only make Spark's generated code bigger.
        return c
    if isinstance(dst, StructType):
        if not isinstance(src, StructType):
            raise SchemaMismatchError(
                f"cannot conform field {path}: the table has a struct "
                f"({dst.simpleString()}) but the data has {src.simpleString()}"
            )
        by_name = {f.name: f for f in src.fields}
        parts = []
        for f in dst.fields:
            sf = by_name.get(f.name)
            sub = f"{path}.{f.name}"
            e = (
                F.lit(None).cast(f.dataType)
                if sf is None
                else _conform_expr(c.getField(f.name), sf.dataType, f.dataType, sub)
            )
            parts.append(e.alias(f.name))
        return _nullable(F.struct(*parts))
    if isinstance(dst, ArrayType) and isinstance(src, ArrayType):
        if _needs_rebuild(src.elementType, dst.elementType):
            return F.transform(
                c, lambda x: _conform_expr(x, src.elementType, dst.elementType, f"{path}[]")
            )  # elements are nullable: _conform_expr wraps rebuilt structs
        return c.try_cast(dst)
    if isinstance(dst, MapType) and isinstance(src, MapType):
        if _needs_rebuild(src.valueType, dst.valueType):
            return F.transform_values(
                c.try_cast(MapType(dst.keyType, src.valueType, True)),
                lambda _k, v: _conform_expr(v, src.valueType, dst.valueType, f"{path}{{}}"),
            )
        return c.try_cast(dst)
    if isinstance(dst, StringType) and isinstance(src, StructType | ArrayType | MapType):
        return c.cast(dst)
    # try_cast: values that do not fit become NULL ("abc" or 9223372036854776000 → bigint),
    # as in the reference (Spark 3 non-ANSI casts); Spark 4's ANSI cast would fail instead.
    return c.try_cast(dst)


def _needs_rebuild(src: DataType, dst: DataType) -> bool:
    return src != dst and isinstance(dst, StructType | ArrayType | MapType)


def conform_to_table(df: DataFrame, table_schema: StructType) -> DataFrame:
    """Select ``df`` into the table's shape: table column order (partition columns last as
    the catalog lists them), missing columns as typed NULLs, differing types cast (values that
    do not fit → NULL), structs rebuilt by name recursively.

    Raises:
        SchemaMismatchError: a struct column receives non-struct data.
    """
    by_lower = {f.name.lower(): f for f in df.schema.fields}
    cols = []
    for f in table_schema.fields:
        src = by_lower.get(f.name.lower())
        if src is None:
            cols.append(F.lit(None).cast(f.dataType).alias(f.name))
        else:
            e = _conform_expr(F.col(quote_name(src.name)), src.dataType, f.dataType, f.name)
            cols.append(e.alias(f.name))
    return df.select(*cols)


def _nullable(c: Column) -> Column:
    """The same values typed nullable: struct(), transform() and transform_values() build
    non-nullable results, while Hive columns, struct members and map values are nullable."""
    # (CASE WHEN true THEN c END is folded by the analyzer and stays non-nullable.)
    return F.when(c.isNull(), F.lit(None)).otherwise(c)
