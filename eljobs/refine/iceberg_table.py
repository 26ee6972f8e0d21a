"""The Iceberg table writer: one partition of an Iceberg table, replaced in one snapshot.

It is the :class:`~eljobs.refine.table_writer.TableWriter` that ``refine_dataset
--table_format iceberg`` uses beside :class:`eljobs.refine.hive_table.HiveTableWriter`; the
reading, transforms, normalize-and-widen and conforming before it are the runner's, shared.

**Catalog.** The table is ``<catalog>.<db>.<table>`` in a Spark catalog backed by Iceberg
(``org.apache.iceberg.spark.SparkCatalog`` or ``SparkSessionCatalog``), named by
``--iceberg_catalog``. The local and test session presets define a Hadoop catalog named
:data:`eljobs.spark.LOCAL_ICEBERG_CATALOG`; a cluster configures its own (docs/operations.md,
"Iceberg").

**Create and evolve.** A new table is created from the planned schema with one identity
partition field per partition key (``PARTITIONED BY (year, month, day, hour)``). An existing
one is evolved by Iceberg's own schema evolution: ``ALTER TABLE … ADD COLUMNS`` for new
top-level and nested fields (one statement, one metadata commit) and ``ALTER COLUMN … TYPE``
for the promotions Iceberg allows (int → bigint, float → double, a wider decimal). Iceberg
tracks columns by id, so no data file is rewritten and no table is dropped (the Hive path's
struct problem does not exist here).

**Commit.** The rows are staged as Parquet in ``<partition directory>/_staging-<id>``, as
the Hive writer does, so the input's account is checked and the DDL issued before the table
changes. The commit then reads them back and writes them with
``DataFrameWriterV2.overwrite(<partition filter>)``: one Iceberg snapshot that removes the
partition's old files and adds the new ones. Readers see the old snapshot or the new one,
never both or neither; a rerun of the same hour replaces the rows instead of adding to them;
an input with no rows leaves the partition empty (a dynamic ``overwritePartitions()`` would
keep the old rows there, having no row to name the partition). The price is one more pass
over the partition's rows (read the staged Parquet, write Iceberg's).
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from functools import reduce
from typing import TYPE_CHECKING

from pyspark.sql import Column, DataFrame
from pyspark.sql import functions as F
from pyspark.sql.types import (
    ArrayType,
    DataType,
    DecimalType,
    DoubleType,
    FloatType,
    IntegerType,
    LongType,
    MapType,
    StructField,
    StructType,
)

from eljobs.columns import quote_name
from eljobs.refine.ddl import columns_ddl, sql_string, type_ddl
from eljobs.refine.evolution import data_fields, planned_table_schema
from eljobs.refine.flags import DONE_FLAG, FAILED_FLAG
from eljobs.refine.frames import conform_to_table
from eljobs.refine.schema import make_nullable
from eljobs.refine.table_writer import write_parquet

if TYPE_CHECKING:
    from pyspark.sql import SparkSession

    from eljobs.io.fs import FileSystem
    from eljobs.refine.targets import RefineTarget

log = logging.getLogger(__name__)

#: The Spark catalog plug-ins of the Iceberg runtime that ``--iceberg_catalog`` may name.
ICEBERG_CATALOG_CLASSES = (
    "org.apache.iceberg.spark.SparkCatalog",
    "org.apache.iceberg.spark.SparkSessionCatalog",
)
#: Prefix of a staging directory inside a partition directory (hidden from readers).
STAGING_PREFIX = "_staging-"


class IcebergCatalogError(ValueError):
    """The named Spark catalog is not configured as an Iceberg catalog in this session."""


class IcebergTableError(ValueError):
    """The existing table cannot take the partition: not an Iceberg table, or not partitioned
    by the partition keys."""


# --------------------------------------------------------------------------------------------
# Schema evolution (pure)


@dataclass(frozen=True)
class SchemaChange:
    """One Iceberg schema change: ``add`` a field at ``path`` or ``widen`` the field there.

    ``path`` names nested fields as Spark's ALTER TABLE does: struct members by name, an
    array's element as ``element``, a map's value as ``value``.
    """

    kind: str
    path: tuple[str, ...]
    data_type: DataType

    @property
    def column(self) -> str:
        """The back-quoted multi-part column name (``\\`s\\`.\\`x\\```)."""
        return ".".join(quote_name(p) for p in self.path)


@dataclass
class IcebergPlan:
    """The schema an existing table will have, the changes that give it, and warnings about
    data types cast to the table's (conflicts Iceberg cannot promote)."""

    schema: StructType
    changes: list[SchemaChange] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)


def promotable(table: DataType, data: DataType) -> bool:
    """Whether Iceberg can change a column of type ``table`` to ``data`` in place (the type
    promotions of the Iceberg spec: int → long, float → double, decimal to a larger
    precision at the same scale)."""
    if isinstance(table, IntegerType) and isinstance(data, LongType):
        return True
    if isinstance(table, FloatType) and isinstance(data, DoubleType):
        return True
    return (
        isinstance(table, DecimalType)
        and isinstance(data, DecimalType)
        and table.scale == data.scale
        and data.precision > table.precision
    )


def plan_iceberg_evolution(table: StructType, frame: StructType) -> IcebergPlan:
    """Plan the evolution of a table whose schema is ``table`` to hold ``frame`` (the frame's
    data columns).

    Table columns keep their order; new top-level columns are appended sorted by name (as
    ``refine`` orders added Hive columns), new nested fields in frame order (Iceberg adds a
    field at the end of its struct). Top-level names compare case-insensitively, nested ones
    exactly, as for Hive tables. A type conflict Iceberg can promote becomes a ``widen``
    change; any other keeps the table's type, the data being cast to it (with a warning).
    """
    plan = IcebergPlan(StructType([]))
    plan.schema = _merge_struct(table, frame, (), True, plan)
    return plan


def _merge_struct(
    a: StructType, b: StructType, path: tuple[str, ...], top: bool, plan: IcebergPlan
) -> StructType:
    def key(n: str) -> str:
        return n.lower() if top else n

    b_by = {key(f.name): f for f in b.fields}
    out: list[StructField] = []
    for fa in a.fields:
        fb = b_by.pop(key(fa.name), None)
        here = (*path, fa.name)
        dt = fa.dataType if fb is None else _merge_type(fa.dataType, fb.dataType, here, plan)
        out.append(StructField(fa.name, dt, True))
    new = list(b_by.values())
    if top:
        new.sort(key=lambda f: f.name)
    for fb in new:
        plan.changes.append(SchemaChange("add", (*path, fb.name), make_nullable(fb.dataType)))
        out.append(StructField(fb.name, make_nullable(fb.dataType), True))
    return StructType(out)


def _merge_type(a: DataType, b: DataType, path: tuple[str, ...], plan: IcebergPlan) -> DataType:
    if isinstance(a, StructType) and isinstance(b, StructType):
        return _merge_struct(a, b, path, False, plan)
    if isinstance(a, ArrayType) and isinstance(b, ArrayType):
        return ArrayType(_merge_type(a.elementType, b.elementType, (*path, "element"), plan))
    if isinstance(a, MapType) and isinstance(b, MapType):
        if a.keyType != b.keyType:
            # Iceberg changes no map key: the keys are cast to the table's key type.
            _keep(a.keyType, b.keyType, (*path, "key"), plan)
        value = _merge_type(a.valueType, b.valueType, (*path, "value"), plan)
        return MapType(a.keyType, value, True)
    if a == b:
        return a
    if promotable(a, b):
        plan.changes.append(SchemaChange("widen", path, b))
        return b
    return _keep(a, b, path, plan)


def _keep(a: DataType, b: DataType, path: tuple[str, ...], plan: IcebergPlan) -> DataType:
    plan.warnings.append(
        f"field {'.'.join(path)}: table type {a.simpleString()} kept (Iceberg cannot change "
        f"it to {b.simpleString()}), the data will be cast to it"
    )
    return a


def iceberg_planned_schema(
    keys: Sequence[str], frame_schema: StructType, existing: StructType | None
) -> StructType:
    """The table schema :meth:`IcebergTableWriter.evolve` will leave, without a catalog: for
    a new table the same as a Hive table's (data columns then the partition keys), for an
    existing one :func:`plan_iceberg_evolution` of its columns and the frame's data columns
    (partition columns are ordinary columns in Iceberg, so new columns follow them)."""
    if existing is None:
        return planned_table_schema(keys, frame_schema, None)
    merged = plan_iceberg_evolution(existing, StructType(data_fields(frame_schema, keys)))
    planned = make_nullable(merged.schema)
    assert isinstance(planned, StructType)
    return planned


def change_statements(identifier: str, changes: Sequence[SchemaChange]) -> list[str]:
    """The ALTER TABLE statements for ``changes``: every addition in one ``ADD COLUMNS``
    (one Iceberg metadata commit), then one ``ALTER COLUMN … TYPE`` per widening."""
    adds = [c for c in changes if c.kind == "add"]
    out = []
    if adds:
        cols = ", ".join(f"{c.column} {type_ddl(c.data_type)}" for c in adds)
        out.append(f"ALTER TABLE {identifier} ADD COLUMNS ({cols})")
    out.extend(
        f"ALTER TABLE {identifier} ALTER COLUMN {c.column} TYPE {type_ddl(c.data_type)}"
        for c in changes
        if c.kind == "widen"
    )
    return out


def create_statement(
    identifier: str, schema: StructType, keys: Sequence[str], location: str | None
) -> str:
    """``CREATE TABLE … USING iceberg PARTITIONED BY (<keys>)`` (identity partitions)."""
    where = f" LOCATION {sql_string(location)}" if location else ""
    parts = ", ".join(quote_name(k) for k in keys)
    return (
        f"CREATE TABLE {identifier} ({columns_ddl(schema.fields)}) USING iceberg "
        f"PARTITIONED BY ({parts}){where}"
    )


# --------------------------------------------------------------------------------------------
# Catalog


def iceberg_identifier(catalog: str, database: str, table: str) -> str:
    """```catalog`.`db`.`table```."""
    return ".".join(quote_name(p) for p in (catalog, database, table))


def check_iceberg_catalog(spark: SparkSession, catalog: str) -> None:
    """Raise :class:`IcebergCatalogError` unless ``catalog`` is an Iceberg catalog here.

    A session's catalogs are fixed when it starts (``spark.sql.catalog.<name>``), so the
    message says which settings the session needs.
    """
    key = f"spark.sql.catalog.{catalog}"
    found = spark.conf.get(key, None)
    if found in ICEBERG_CATALOG_CLASSES:
        return
    raise IcebergCatalogError(
        f"--iceberg_catalog {catalog}: expected {key} to be one of "
        f"{', '.join(ICEBERG_CATALOG_CLASSES)} (with the iceberg-spark-runtime jar on the "
        f"class path), found {found or 'no such setting'}. Start the session with the "
        "catalog configured (docs/operations.md, 'Iceberg'); the local and test presets "
        "define one named 'iceberg'"
    )


def hadoop_warehouse(spark: SparkSession, catalog: str) -> str | None:
    """The warehouse of ``catalog`` when it is a Hadoop catalog, else None.

    A Hadoop catalog keeps table ``db.t`` at ``<warehouse>/db/t`` and refuses any other
    location, including the same path with a scheme (Spark qualifies ``LOCATION`` to
    ``file:/…`` before Iceberg compares it).
    """
    if spark.conf.get(f"spark.sql.catalog.{catalog}.type", None) != "hadoop":
        return None
    warehouse = spark.conf.get(f"spark.sql.catalog.{catalog}.warehouse", None)
    return warehouse.rstrip("/") if warehouse else None


@dataclass(frozen=True)
class IcebergTableInfo:
    """What ``DESCRIBE TABLE EXTENDED`` says of a table: its provider, location and
    partitioning (``["year", "bucket(16, id)"]``, identity fields as bare column names)."""

    provider: str | None
    location: str | None
    partitioning: tuple[str, ...]


def describe_table(spark: SparkSession, identifier: str) -> IcebergTableInfo:
    """:class:`IcebergTableInfo` of an existing table.

    Spark lists identity-only partitioning under ``# Partition Information`` (one row per
    column) and any other under ``# Partitioning`` (``Part 0 | days(ts)``).
    """
    provider = location = None
    partitioning: list[str] = []
    section = ""
    for r in spark.sql(f"DESCRIBE TABLE EXTENDED {identifier}").collect():
        name, value = (r[0] or "").strip(), (r[1] or "").strip()
        if name == "# col_name" or not name:
            continue
        if name.startswith("#"):
            section = name
            continue
        if section == "# Partition Information":
            partitioning.append(name)
        elif section == "# Partitioning" and name.startswith("Part "):
            partitioning.append(value)
        elif section == "# Detailed Table Information":
            if name == "Provider":
                provider = value
            elif name == "Location":
                location = value
    return IcebergTableInfo(provider, location, tuple(partitioning))


def table_exists(spark: SparkSession, identifier: str) -> bool:
    """Whether the (catalog-qualified) table exists."""
    return bool(spark.catalog.tableExists(identifier))


# --------------------------------------------------------------------------------------------
# Writer


class IcebergTableWriter:
    """:class:`~eljobs.refine.table_writer.TableWriter` for an Iceberg table.

    Args:
        spark: the session, with ``catalog`` configured (:func:`check_iceberg_catalog`).
        fs: the file system layer (staging).
        target: the table and partition to write; its ``table_location`` is the table's
            location (an existing table's own, or where a new one is created).
        catalog: the Spark catalog that holds the table.
    """

    def __init__(
        self, spark: SparkSession, fs: FileSystem, target: RefineTarget, *, catalog: str
    ) -> None:
        self.spark = spark
        self.fs = fs
        self.target = target
        self.catalog = catalog
        self.keys = [k for k, _ in target.partition]
        self.identifier = iceberg_identifier(catalog, target.database, target.table)
        self.codec = "snappy"

    def existing_schema(self) -> StructType | None:
        """The table's schema now, None when it does not exist.

        Raises:
            IcebergTableError: the table is not an Iceberg table, or a partition key is not an
                identity partition field of it (the overwrite could not replace whole files).
        """
        if not table_exists(self.spark, self.identifier):
            return None
        # Another process may have committed since this session's catalog cached the table.
        self.spark.sql(f"REFRESH TABLE {self.identifier}")
        info = describe_table(self.spark, self.identifier)
        if (info.provider or "").lower() != "iceberg":
            raise IcebergTableError(
                f"{self.identifier} is a {info.provider or 'non-Iceberg'} table, expected an "
                "Iceberg table (--table_format iceberg); refine it with --table_format hive"
            )
        identity = {p.lower() for p in info.partitioning}
        missing = [k for k in self.keys if k.lower() not in identity]
        if missing:
            raise IcebergTableError(
                f"{self.identifier} is partitioned by ({', '.join(info.partitioning)}), "
                f"expected identity partition fields for every partition key "
                f"({', '.join(self.keys)}); missing {', '.join(missing)}"
            )
        return self.spark.table(self.identifier).schema

    def planned_schema(self, frame_schema: StructType, existing: StructType | None) -> StructType:
        """The schema :meth:`evolve` will leave (pure)."""
        return iceberg_planned_schema(self.keys, frame_schema, existing)

    def stage(self, df: DataFrame, *, codec: str) -> str:
        """Write ``df`` to a fresh ``_staging-<id>`` directory inside the partition directory
        (not part of the table: Iceberg reads only the files its snapshot lists)."""
        self.codec = codec
        path = f"{self.target.partition_path}/{STAGING_PREFIX}{uuid.uuid4().hex}"
        try:
            write_parquet(df, path, codec=codec)
        except Exception:
            # The runner discards only what stage returned: a failed write (FAILFAST on a
            # malformed line) would otherwise leave its directory in the partition.
            self.discard(path)
            raise
        return path

    def evolve(
        self, frame_schema: StructType, existing: StructType | None
    ) -> tuple[StructType, list[str]]:
        """Create the table, or add and widen its columns (module docstring)."""
        issued: list[str] = []
        if existing is None:
            schema = self.planned_schema(frame_schema, None)
            # A Hadoop catalog places the table itself (dataset_targets checked it is there).
            hadoop = hadoop_warehouse(self.spark, self.catalog) is not None
            location = None if hadoop else self.target.table_location
            stmt = create_statement(self.identifier, schema, self.keys, location)
            self._run(stmt, issued)
        else:
            plan = plan_iceberg_evolution(
                existing, StructType(data_fields(frame_schema, self.keys))
            )
            for w in plan.warnings:
                log.warning("%s: %s", self.identifier, w)
            for stmt in change_statements(self.identifier, plan.changes):
                self._run(stmt, issued)
            if not issued:
                return existing, issued
        return self.spark.table(self.identifier).schema, issued

    def commit(self, staged: str) -> None:
        """Replace the partition's rows by the staged ones in one Iceberg snapshot."""
        df = conform_to_table(
            self.spark.read.parquet(staged), self.spark.table(self.identifier).schema
        )
        (
            df.writeTo(self.identifier)
            .option("compression-codec", self.codec)
            # Recorded in the snapshot summary: which input made this partition's rows.
            .option("snapshot-property.eljobs.input-path", self.target.input_path)
            .overwrite(self.partition_filter())
        )
        # The snapshot holds copies of the rows: the staged files are not needed any more
        # (the runner discards only stagings that were not committed).
        self.discard(staged)
        self._clean()

    def _clean(self) -> None:
        """Delete the partition directory's old flags (the runner writes the new one next)
        and stagings left by killed runs. Only those names: a table whose ``write.data.path``
        is its location keeps data files here too."""
        for entry in self.fs.list(self.target.partition_path, missing_ok=True):
            name = entry.path.rstrip("/").rsplit("/", 1)[-1]
            if name in (DONE_FLAG, FAILED_FLAG) or name.startswith(STAGING_PREFIX):
                self.discard(entry.path)

    def discard(self, staged: str) -> None:
        """Delete a staging directory (nothing when it is gone)."""
        try:
            self.fs.delete(staged, recursive=True)
        except Exception as e:  # leftovers are harmless: no snapshot lists them
            log.warning("cannot remove staging directory %s: %s", staged, e)

    def partition_filter(self) -> Column:
        """``year = 2024 AND month = 2 AND …``: the rows of this target's partition."""
        conditions = [F.col(quote_name(k)) == F.lit(v) for k, v in self.target.values.items()]
        return reduce(lambda a, b: a & b, conditions)

    def _run(self, stmt: str, issued: list[str]) -> None:
        # (The runner logs the statements issued.)
        try:
            self.spark.sql(stmt)
        except Exception as e:
            # Two runs racing to add one column: the loser finds it there, as for Hive.
            if "already exists" not in str(e).lower():
                raise
            return
        issued.append(stmt)
