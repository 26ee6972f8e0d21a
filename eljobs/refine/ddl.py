"""Hive catalog DDL for Refine: the DDL text (pure), and the catalog calls that create and
evolve a table and move a partition's location (driver, through Spark SQL and py4j).

**Struct evolution under Spark 4.** The Scala job sends ``ALTER TABLE … CHANGE COLUMN `f` `f`
<new struct>`` over Hive JDBC. Spark's own catalog refuses that statement for a type change
(``NOT_SUPPORTED_CHANGE_COLUMN``), and the Hive metastore's
``hive.metastore.disallow.incompatible.col.type.changes`` check (on by default) rejects the
equivalent ``alterTableDataSchema`` because the column's type string changes. eljobs therefore
calls the session catalog's ``alterTableDataSchema`` with the full new data schema after
turning that metastore check off on the Spark Hive client's configuration: appending struct
members is safe for Parquet, which resolves fields by name. When the metastore still refuses
(a remote metastore with the check enforced server-side), the only way left is to drop the
external table and create it again with the new schema, re-registering its partitions at
their locations (no data moves). Readers see no table between the two statements, so this is
done only with ``allow_table_recreate``; otherwise the target fails with
:class:`TableRecreateRefusedError` naming the table and the columns (docs/operations.md).
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from pyspark.sql.types import ArrayType, DataType, MapType, StructField, StructType

from eljobs.columns import quote_name
from eljobs.failpoints import failpoint
from eljobs.refine.evolution import (
    data_fields,
    frame_partition_fields,
    plan_evolution,
)
from eljobs.refine.targets import parse_hive_partition_path, partition_spec

if TYPE_CHECKING:
    from pyspark.sql import SparkSession

log = logging.getLogger(__name__)


class TableRecreateRefusedError(RuntimeError):
    """The metastore refused a struct change and re-creating the table was not allowed."""


# --------------------------------------------------------------------------------------------
# DDL text


def type_ddl(dt: DataType) -> str:
    """Hive/Spark DDL for a type, nested names back-quoted (``STRUCT<`a`: BIGINT>``)."""
    if isinstance(dt, StructType):
        inner = ", ".join(f"{quote_name(f.name)}: {type_ddl(f.dataType)}" for f in dt.fields)
        return f"STRUCT<{inner}>"
    if isinstance(dt, ArrayType):
        return f"ARRAY<{type_ddl(dt.elementType)}>"
    if isinstance(dt, MapType):
        return f"MAP<{type_ddl(dt.keyType)}, {type_ddl(dt.valueType)}>"
    return dt.simpleString().upper()


def columns_ddl(fields: Sequence[StructField]) -> str:
    """``\\`a\\` BIGINT, \\`b\\` STRING``."""
    return ", ".join(f"{quote_name(f.name)} {type_ddl(f.dataType)}" for f in fields)


def create_table_ddl(
    qualified: str, data: Sequence[StructField], partitions: Sequence[StructField], location: str
) -> str:
    """``CREATE EXTERNAL TABLE`` for Parquet data partitioned by ``partitions``."""
    return (
        f"CREATE EXTERNAL TABLE {qualified} ({columns_ddl(data)}) "
        f"PARTITIONED BY ({columns_ddl(partitions)}) STORED AS PARQUET "
        f"LOCATION {sql_string(location)}"
    )


def sql_string(s: str) -> str:
    """``s`` as a single-quoted SQL string literal."""
    return "'" + s.replace("\\", "\\\\").replace("'", "\\'") + "'"


def quoted_table(database: str, table: str) -> str:
    """```db`.`table```."""
    return f"{quote_name(database)}.{quote_name(table)}"


# --------------------------------------------------------------------------------------------
# Catalog reads


def table_exists(spark: SparkSession, database: str, table: str) -> bool:
    """Whether ``database.table`` exists in the catalog."""
    return bool(spark.catalog.tableExists(quoted_table(database, table)))


def table_schema(spark: SparkSession, database: str, table: str) -> StructType:
    """The table's schema (data columns then partition columns)."""
    return spark.table(quoted_table(database, table)).schema


def partition_columns(spark: SparkSession, database: str, table: str) -> list[str]:
    """The table's partition column names in order."""
    return [
        c.name for c in spark.catalog.listColumns(quoted_table(database, table)) if c.isPartition
    ]


def partition_location(spark: SparkSession, qualified: str, spec: str) -> str | None:
    """Where the metastore says partition ``spec`` of table ``qualified`` lives, None when the
    table has no such partition."""
    if not spark.sql(f"SHOW PARTITIONS {qualified} PARTITION ({spec})").collect():
        return None
    for r in spark.sql(f"DESCRIBE FORMATTED {qualified} PARTITION ({spec})").collect():
        # The partition's Location comes first; the table's follows it.
        if (r[0] or "").strip() == "Location":
            return str(r[1]).strip()
    return None


# --------------------------------------------------------------------------------------------
# Partition DDL: each is one metastore call, so readers see the old or the new location.


def set_partition_location(spark: SparkSession, qualified: str, spec: str, location: str) -> None:
    """Point an existing partition at ``location`` (one metastore update)."""
    spark.sql(f"ALTER TABLE {qualified} PARTITION ({spec}) SET LOCATION {sql_string(location)}")


def add_partition(spark: SparkSession, qualified: str, spec: str, location: str) -> None:
    """Register a new partition at ``location``."""
    spark.sql(
        f"ALTER TABLE {qualified} ADD IF NOT EXISTS PARTITION ({spec}) "
        f"LOCATION {sql_string(location)}"
    )


# --------------------------------------------------------------------------------------------
# Create or evolve


def _run_ddl(spark: SparkSession, ddl: str, issued: list[str]) -> None:
    """Run ``ddl`` and record it in ``issued``; "already exists" errors are ignored (as the
    reference does, so two runs racing to add one column both succeed)."""
    try:
        spark.sql(ddl)
        issued.append(ddl)
    except Exception as e:
        if "already exists" not in str(e).lower():
            raise


def create_or_evolve_table(
    spark: SparkSession,
    database: str,
    table: str,
    *,
    location: str,
    partition_keys: Sequence[str],
    frame_schema: StructType,
    existing: StructType | bool | None = True,
    allow_recreate: bool = False,
) -> tuple[StructType, list[str]]:
    """Create ``database.table`` at ``location`` from the frame schema, or evolve it to hold
    the frame.

    Args:
        partition_keys: the partition columns, in order (also columns of ``frame_schema``).
        existing: the table's current schema when the caller already looked it up, None when
            it knows the table does not exist, True (default) to look it up here.
        allow_recreate: when the metastore refuses a struct change, drop and re-create the
            external table (readers briefly see no table) instead of failing.

    Returns:
        The table schema afterwards and the DDL statements issued (for logs and tests).

    Raises:
        TableRecreateRefusedError: a struct change was refused and ``allow_recreate`` is off.
    """
    keys = list(partition_keys)
    frame_data = data_fields(frame_schema, keys)
    q = quoted_table(database, table)
    issued: list[str] = []
    if existing is True:
        existing = (
            table_schema(spark, database, table) if table_exists(spark, database, table) else None
        )
    if not isinstance(existing, StructType):
        part_fields = frame_partition_fields(frame_schema, keys)
        _run_ddl(spark, create_table_ddl(q, frame_data, part_fields, location), issued)
        spark.catalog.refreshTable(q)
        return table_schema(spark, database, table), issued

    plan = plan_evolution(StructType(data_fields(existing, keys)), StructType(frame_data))
    for w in plan.warnings:
        log.warning("%s: %s", q, w)
    if plan.add_columns:
        _run_ddl(spark, f"ALTER TABLE {q} ADD COLUMNS ({columns_ddl(plan.add_columns)})", issued)
    if plan.changed_structs:
        old = {f.name.lower(): f for f in existing.fields}
        if not try_alter_data_schema(spark, database, table, plan.new_data_schema):
            changes = "; ".join(
                f"{f.name}: table has {old[f.name.lower()].dataType.simpleString()}, data "
                f"needs {f.dataType.simpleString()}"
                for f in plan.changed_structs
            )
            if not allow_recreate:
                raise TableRecreateRefusedError(
                    f"the metastore refused to add struct members to {q} ({changes}). "
                    "Re-creating the external table would leave readers without it between "
                    "DROP and CREATE; rerun with --allow_table_recreate=true to allow that, or "
                    "alter the columns by hand and rerun"
                )
            log.warning("struct change refused; re-creating external table %s (%s)", q, changes)
            recreate_table(spark, database, table, location, plan.new_data_schema)
        for f in plan.changed_structs:
            issued.append(
                f"ALTER TABLE {q} CHANGE COLUMN {quote_name(f.name)} {quote_name(f.name)} "
                f"{type_ddl(f.dataType)}"
            )
    if plan.empty:
        return existing, issued
    spark.catalog.refreshTable(q)
    return table_schema(spark, database, table), issued


_INCOMPATIBLE_CHECK = "hive.metastore.disallow.incompatible.col.type.changes"


def try_alter_data_schema(
    spark: SparkSession, database: str, table: str, new_data: StructType
) -> bool:
    """Replace the table's data schema in place through the session catalog, relaxing the
    Hive client's incompatible-type check when the first attempt is refused.

    Returns:
        False when the metastore still refuses (the caller decides whether to re-create).
    """
    jss = spark._jsparkSession
    jvm: Any = spark._jvm
    ident = jvm.org.apache.spark.sql.catalyst.TableIdentifier(table, jvm.scala.Some(database))
    jschema = jvm.org.apache.spark.sql.types.DataType.fromJson(new_data.json())
    catalog = jss.sessionState().catalog()
    try:
        catalog.alterTableDataSchema(ident, jschema)
        return True
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
        return True
    except Exception as second:
        log.warning("struct change still refused by the metastore: %s", second)
    return False


def recreate_table(
    spark: SparkSession, database: str, table: str, location: str, new_data: StructType
) -> None:
    """Drop the external table and create it again with ``new_data`` as its data columns,
    re-registering every partition at its location (no data moves).

    Between the DROP and the CREATE readers see no table; a process killed there leaves it
    missing. The statements that restore it are logged before the DROP for that case.
    """
    q = quoted_table(database, table)
    current = table_schema(spark, database, table)
    keys = partition_columns(spark, database, table)
    part_fields = [f for f in current.fields if f.name in keys]
    partitions = []
    for row in spark.sql(f"SHOW PARTITIONS {q}").collect():
        spec = partition_spec(parse_hive_partition_path(row[0]))
        partitions.append((spec, partition_location(spark, q, spec)))
    create = create_table_ddl(q, new_data.fields, part_fields, location)
    adds = [
        f"ALTER TABLE {q} ADD IF NOT EXISTS PARTITION ({spec})"
        + (f" LOCATION {sql_string(loc)}" if loc else "")
        for spec, loc in partitions
    ]
    log.warning(
        "re-creating %s; if this process dies before it is done, restore the table with:\n%s",
        q,
        ";\n".join([create, *adds]),
    )
    spark.sql(f"DROP TABLE {q}")
    failpoint("recreate_dropped")
    spark.sql(create)
    for stmt in adds:
        spark.sql(stmt)
