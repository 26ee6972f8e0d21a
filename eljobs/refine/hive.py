"""Refine's Hive side: normalize-and-widen, schema merge, table creation and evolution,
conforming a frame to its table, and writing one partition (spec refine §1.7, §1.8).

Pure schema logic (:func:`merge_schemas`, :func:`plan_evolution`, :func:`type_ddl`,
:func:`create_table_ddl`) is tested without Spark; the frame functions are DataFrame →
DataFrame transforms built from native expressions; :func:`create_or_evolve_table` and
:func:`commit_partition` talk to the catalog and file system (driver).

**Struct evolution under Spark 4.** The Scala job sends ``ALTER TABLE … CHANGE COLUMN `f` `f`
<new struct>`` over Hive JDBC. Spark's own catalog refuses that statement for a type change
(``NOT_SUPPORTED_CHANGE_COLUMN``), and the Hive metastore's
``hive.metastore.disallow.incompatible.col.type.changes`` check (on by default) rejects the
equivalent ``alterTableDataSchema`` because the column's type string changes. eljobs therefore
calls the session catalog's ``alterTableDataSchema`` with the full new data schema after
turning that metastore check off on the Spark Hive client's configuration: appending struct
members is safe for Parquet, which resolves fields by name. When the metastore still refuses
(a remote metastore with the check enforced server-side), the external table is dropped and
re-created with the new schema and its partitions re-registered at their locations (no data
moves).
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

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
    StructField,
    StructType,
)

from eljobs.naming import normalize_name, sanitize_field_name

if TYPE_CHECKING:
    from eljobs.refine.targets import HadoopFs, RefineTarget

log = logging.getLogger(__name__)


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
# Normalize and widen (step 4)


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
        _normalize_expr(F.col(_quote(f.name)), f.dataType).alias(normalize_name(f.name))
        for f in df.schema.fields
    ]
    return df.select(*cols)


def _quote(name: str) -> str:
    return "`" + name.replace("`", "``") + "`"


# --------------------------------------------------------------------------------------------
# Merge (§1.8)


@dataclass
class MergeResult:
    """A merged schema and the warnings about kept table types."""

    schema: StructType
    warnings: list[str] = field(default_factory=list)


def merge_schemas(table: StructType, frame: StructType) -> MergeResult:
    """Merge ``frame`` into ``table``: table fields first (their types kept on conflicts),
    then new fields in frame order. Top-level names compare case-insensitively; nested struct
    names case-sensitively. Struct/struct merge recursively; array/array merge elements;
    map/map merge keys and values; any other conflict keeps the table type with a warning."""
    warnings: list[str] = []
    return MergeResult(_merge_struct(table, frame, "", True, warnings), warnings)


def _merge_struct(
    a: StructType, b: StructType, where: str, top: bool, warnings: list[str]
) -> StructType:
    def key(n: str) -> str:
        return n.lower() if top else n

    b_by = {key(f.name): f for f in b.fields}
    out: list[StructField] = []
    seen = set()
    for fa in a.fields:
        k = key(fa.name)
        seen.add(k)
        fb = b_by.get(k)
        path = f"{where}.{fa.name}" if where else fa.name
        dt = fa.dataType if fb is None else _merge_type(fa.dataType, fb.dataType, path, warnings)
        out.append(StructField(fa.name, dt, True))
    for fb in b.fields:
        if key(fb.name) not in seen:
            seen.add(key(fb.name))
            out.append(StructField(fb.name, fb.dataType, True))
    return StructType(out)


def _merge_type(a: DataType, b: DataType, path: str, warnings: list[str]) -> DataType:
    if isinstance(a, StructType) and isinstance(b, StructType):
        return _merge_struct(a, b, path, False, warnings)
    if isinstance(a, ArrayType) and isinstance(b, ArrayType):
        return ArrayType(_merge_type(a.elementType, b.elementType, f"{path}[]", warnings), True)
    if isinstance(a, MapType) and isinstance(b, MapType):
        return MapType(
            _merge_type(a.keyType, b.keyType, f"{path}{{key}}", warnings),
            _merge_type(a.valueType, b.valueType, f"{path}{{}}", warnings),
            True,
        )
    if a != b:
        warnings.append(
            f"field {path}: table type {a.simpleString()} kept, data type "
            f"{b.simpleString()} will be cast to it"
        )
    return a


# --------------------------------------------------------------------------------------------
# DDL


def type_ddl(dt: DataType) -> str:
    """Hive/Spark DDL for a type, nested names back-quoted (``STRUCT<`a`: BIGINT>``)."""
    if isinstance(dt, StructType):
        inner = ", ".join(f"{_quote(f.name)}: {type_ddl(f.dataType)}" for f in dt.fields)
        return f"STRUCT<{inner}>"
    if isinstance(dt, ArrayType):
        return f"ARRAY<{type_ddl(dt.elementType)}>"
    if isinstance(dt, MapType):
        return f"MAP<{type_ddl(dt.keyType)}, {type_ddl(dt.valueType)}>"
    return dt.simpleString().upper()


def columns_ddl(fields: Sequence[StructField]) -> str:
    """``\\`a\\` BIGINT, \\`b\\` STRING``."""
    return ", ".join(f"{_quote(f.name)} {type_ddl(f.dataType)}" for f in fields)


def create_table_ddl(
    qualified: str, data: Sequence[StructField], partitions: Sequence[StructField], location: str
) -> str:
    """``CREATE EXTERNAL TABLE`` for Parquet data partitioned by ``partitions``."""
    return (
        f"CREATE EXTERNAL TABLE {qualified} ({columns_ddl(data)}) "
        f"PARTITIONED BY ({columns_ddl(partitions)}) STORED AS PARQUET "
        f"LOCATION '{_sql_string(location)}'"
    )


def _sql_string(s: str) -> str:
    return s.replace("\\", "\\\\").replace("'", "\\'")


@dataclass
class EvolutionPlan:
    """What an existing table needs: new top-level columns and widened struct columns (each
    sorted by name), the resulting data schema, and merge warnings."""

    add_columns: list[StructField]
    changed_structs: list[StructField]
    new_data_schema: StructType
    warnings: list[str]

    @property
    def empty(self) -> bool:
        """True when the table needs no change."""
        return not self.add_columns and not self.changed_structs


def plan_evolution(table_data: StructType, frame_data: StructType) -> EvolutionPlan:
    """Compare the table's data columns with the frame's (both without partition columns)."""
    merged = merge_schemas(table_data, frame_data)
    existing = {f.name.lower(): f for f in table_data.fields}
    new_fields = [f for f in merged.schema.fields if f.name.lower() not in existing]
    changed = [
        f
        for f in merged.schema.fields
        if f.name.lower() in existing and f.dataType != existing[f.name.lower()].dataType
    ]
    # Columns are appended sorted by name (parity with the reference's DDL order).
    add_sorted = sorted(new_fields, key=lambda f: f.name)
    data_schema = StructType(
        [f for f in merged.schema.fields if f.name.lower() in existing] + add_sorted
    )
    return EvolutionPlan(
        add_sorted, sorted(changed, key=lambda f: f.name), data_schema, merged.warnings
    )


# --------------------------------------------------------------------------------------------
# Conform (step 6)


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
            e = _conform_expr(F.col(_quote(src.name)), src.dataType, f.dataType, f.name)
            cols.append(e.alias(f.name))
    return df.select(*cols)


def _nullable(c: Column) -> Column:
    """The same values typed nullable: struct(), transform() and transform_values() build
    non-nullable results, while Hive columns, struct members and map values are nullable."""
    # (CASE WHEN true THEN c END is folded by the analyzer and stays non-nullable.)
    return F.when(c.isNull(), F.lit(None)).otherwise(c)


# --------------------------------------------------------------------------------------------
# Catalog


def table_exists(spark: Any, database: str, table: str) -> bool:
    """Whether ``database.table`` exists in the catalog."""
    return bool(spark.catalog.tableExists(f"`{database}`.`{table}`"))


def table_schema(spark: Any, database: str, table: str) -> StructType:
    """The table's schema (data columns then partition columns)."""
    return spark.table(f"`{database}`.`{table}`").schema


def partition_columns(spark: Any, database: str, table: str) -> list[str]:
    """The table's partition column names in order."""
    return [c.name for c in spark.catalog.listColumns(f"`{database}`.`{table}`") if c.isPartition]


def _data_fields(schema: StructType, keys: Sequence[str]) -> list[StructField]:
    """The fields of ``schema`` that are not partition keys (compared case-insensitively)."""
    lower_keys = {k.lower() for k in keys}
    return [f for f in schema.fields if f.name.lower() not in lower_keys]


def _frame_partition_fields(frame_schema: StructType, keys: Sequence[str]) -> list[StructField]:
    """The partition columns a new table gets: ``keys`` in order, typed as in the frame."""
    by_lower = {f.name.lower(): f for f in frame_schema.fields}
    return [StructField(k, by_lower[k.lower()].dataType, True) for k in keys]


def _run_ddl(spark: Any, ddl: str, issued: list[str]) -> None:
    """Run ``ddl`` and record it in ``issued``; "already exists" errors are ignored (§1.7)."""
    try:
        spark.sql(ddl)
        issued.append(ddl)
    except Exception as e:
        if "already exists" not in str(e).lower():
            raise


def create_or_evolve_table(
    spark: Any,
    target: RefineTarget,
    frame_schema: StructType,
    existing: StructType | bool | None = True,
) -> tuple[StructType, list[str]]:
    """Create the target's table from the frame schema, or evolve it to hold the frame.

    Args:
        existing: the table's current schema when the caller already looked it up, None when
            it knows the table does not exist, True (default) to look it up here.

    Returns:
        The table schema afterwards and the DDL statements issued (for logs and tests).
    """
    keys = [k for k, _ in target.partition]
    data_fields = _data_fields(frame_schema, keys)
    q = target.quoted_table
    issued: list[str] = []
    if existing is True:
        existing = (
            table_schema(spark, target.database, target.table)
            if table_exists(spark, target.database, target.table)
            else None
        )
    if not isinstance(existing, StructType):
        part_fields = _frame_partition_fields(frame_schema, keys)
        ddl = create_table_ddl(q, data_fields, part_fields, target.table_location)
        _run_ddl(spark, ddl, issued)
        spark.catalog.refreshTable(f"{target.database}.{target.table}")
        return table_schema(spark, target.database, target.table), issued

    plan = plan_evolution(StructType(_data_fields(existing, keys)), StructType(data_fields))
    for w in plan.warnings:
        log.warning("%s: %s", q, w)
    if plan.add_columns:
        _run_ddl(spark, f"ALTER TABLE {q} ADD COLUMNS ({columns_ddl(plan.add_columns)})", issued)
    if plan.changed_structs:
        _alter_data_schema(spark, target, plan.new_data_schema)
        for f in plan.changed_structs:
            issued.append(
                f"ALTER TABLE {q} CHANGE COLUMN {_quote(f.name)} {_quote(f.name)} "
                f"{type_ddl(f.dataType)}"
            )
    if plan.empty:
        return existing, issued
    spark.catalog.refreshTable(f"{target.database}.{target.table}")
    return table_schema(spark, target.database, target.table), issued


def planned_table_schema(
    target: RefineTarget, frame_schema: StructType, existing: StructType | None
) -> StructType:
    """The table schema :func:`create_or_evolve_table` will leave, computed without touching the
    catalog: data columns (the table's, then new ones sorted by name, structs widened; or the
    frame's for a new table) then partition columns, every field nullable.

    Lets Refine conform and write a partition before any DDL, so a target that fails (corrupt
    records, a write error) changes no table. :func:`same_columns` checks the guess afterwards.
    """
    from eljobs.refine.schema import make_nullable

    keys = [k for k, _ in target.partition]
    frame_data = _data_fields(frame_schema, keys)
    if existing is None:
        parts = _frame_partition_fields(frame_schema, keys)
        data = frame_data
    else:
        lower_keys = {k.lower() for k in keys}
        parts = [f for f in existing.fields if f.name.lower() in lower_keys]
        current = StructType(_data_fields(existing, keys))
        data = plan_evolution(current, StructType(frame_data)).new_data_schema.fields
    planned = make_nullable(StructType([*data, *parts]))
    assert isinstance(planned, StructType)
    return planned


def same_columns(a: StructType, b: StructType) -> bool:
    """Same column names (top level compared case-insensitively, as Hive does) and types
    (nested names exactly), in the same order; nullability ignored."""

    def shape(s: StructType) -> list[tuple[str, str]]:
        return [(f.name.lower(), f.dataType.simpleString()) for f in s.fields]

    return shape(a) == shape(b)


_INCOMPATIBLE_CHECK = "hive.metastore.disallow.incompatible.col.type.changes"


def _alter_data_schema(spark: Any, target: RefineTarget, new_data: StructType) -> None:
    jss = spark._jsparkSession
    jvm = spark._jvm
    ident = jvm.org.apache.spark.sql.catalyst.TableIdentifier(
        target.table, jvm.scala.Some(target.database)
    )
    jschema = jvm.org.apache.spark.sql.types.DataType.fromJson(new_data.json())
    catalog = jss.sessionState().catalog()
    try:
        catalog.alterTableDataSchema(ident, jschema)
        return
    except Exception as first:
        log.info(
            "metastore refused the struct change (%s); relaxing %s", first, _INCOMPATIBLE_CHECK
        )
    try:
        client = jss.sharedState().externalCatalog().unwrapped().client()
        client.conf().set(_INCOMPATIBLE_CHECK, "false")
        jvm.org.apache.hadoop.hive.ql.metadata.Hive.get().getConf().set(
            _INCOMPATIBLE_CHECK, "false"
        )
        catalog.alterTableDataSchema(ident, jschema)
        return
    except Exception as second:
        log.warning(
            "struct change still refused (%s); re-creating external table %s",
            second,
            target.quoted_table,
        )
    _recreate_table(spark, target, new_data)


def _recreate_table(spark: Any, target: RefineTarget, new_data: StructType) -> None:
    q = target.quoted_table
    current = table_schema(spark, target.database, target.table)
    keys = partition_columns(spark, target.database, target.table)
    part_fields = [f for f in current.fields if f.name in keys]
    location = target.table_location
    partitions = []
    for row in spark.sql(f"SHOW PARTITIONS {q}").collect():
        from eljobs.refine.targets import parse_hive_partition_path, partition_spec

        pairs = parse_hive_partition_path(row[0])
        loc = None
        for r in spark.sql(f"DESCRIBE FORMATTED {q} PARTITION ({partition_spec(pairs)})").collect():
            # The partition's Location comes first; the table's follows it.
            if (r[0] or "").strip() == "Location":
                loc = str(r[1]).strip()
                break
        partitions.append((partition_spec(pairs), loc))
    spark.sql(f"DROP TABLE {q}")
    spark.sql(create_table_ddl(q, new_data.fields, part_fields, location))
    for spec, loc in partitions:
        where = f" LOCATION '{_sql_string(loc)}'" if loc else ""
        spark.sql(f"ALTER TABLE {q} ADD IF NOT EXISTS PARTITION ({spec}){where}")


#: Directory under a table's location holding partitions written but not yet moved in place.
#: Hive and Spark skip names starting with ``_`` when they list a table's files.
STAGING_DIR = "_eljobs_staging"


def staging_path(target: RefineTarget) -> str:
    """A fresh staging directory for ``target``'s partition, beside the table's partitions (so
    the final move is a rename on one file system)."""
    return f"{target.table_location.rstrip('/')}/{STAGING_DIR}/{uuid.uuid4().hex}"


def write_parquet(df: DataFrame, path: str, *, codec: str) -> None:
    """Write ``df`` as Parquet to ``path`` (overwritten) with compression ``codec``."""
    df.write.mode("overwrite").option("compression", codec).parquet(path)


def commit_partition(spark: Any, fs: HadoopFs, target: RefineTarget, staged: str) -> None:
    """Put a staged partition in place: drop the partition from the metastore, replace its
    directory with ``staged`` (a rename), and register it again at that location."""
    q = target.quoted_table
    spark.sql(f"ALTER TABLE {q} DROP IF EXISTS PARTITION ({target.spec})")
    fs.replace_dir(staged, target.partition_path)
    spark.sql(
        f"ALTER TABLE {q} ADD IF NOT EXISTS PARTITION ({target.spec}) "
        f"LOCATION '{_sql_string(target.partition_path)}'"
    )
