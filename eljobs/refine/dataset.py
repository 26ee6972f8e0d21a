"""``refine_dataset``: refine exactly the given input directories into the given table and
partitions, the way a scheduler launches the Scala ``RefineHiveDataset`` today (one Airflow
task per dataset and hour), instead of discovering targets as ``refine`` does.

It shares :class:`eljobs.refine.runner.Refiner` with ``refine``: the same reading, schema,
transforms, normalize-and-widen, table evolution, staged write and atomic partition commit,
flags, account and report. What differs is only where the targets come from
(:func:`dataset_targets`), the options (:class:`RefineDatasetConfig`, named as in the Scala
CLI) and the table format: ``--table_format iceberg`` hands each partition to
:class:`eljobs.refine.iceberg_table.IcebergTableWriter` instead of the Hive writer (the Scala
``RefineIcebergDataset``'s output). See docs/differences.md ("refine_dataset").
"""

from __future__ import annotations

import logging
import re
from dataclasses import asdict, dataclass
from typing import TYPE_CHECKING, Any

from pyspark.sql.types import StructType

from eljobs.config import JobConfig, option
from eljobs.io.fs import filesystem
from eljobs.refine import ddl, iceberg_table
from eljobs.refine.hive_table import HiveTableWriter
from eljobs.refine.iceberg_table import (
    IcebergTableWriter,
    check_iceberg_catalog,
    describe_table,
    hadoop_warehouse,
    iceberg_identifier,
)
from eljobs.refine.options import INPUT_FORMATS
from eljobs.refine.runner import (
    ReadSettings,
    Refiner,
    RefineResult,
    WriterFactory,
    print_results,
    short_error,
)
from eljobs.refine.schema import jsonschema_to_spark, make_loader
from eljobs.refine.targets import RefineTarget, parse_hive_partition_path
from eljobs.refine.transform_names import transform_name_problems
from eljobs.refine.transforms import resolve_transforms
from eljobs.report import tracking

if TYPE_CHECKING:
    from pyspark.sql import SparkSession

    from eljobs.io.fs import FileSystem
    from eljobs.refine.table_writer import TableWriter

log = logging.getLogger(__name__)

#: ``spark_job_scale`` values; ``small`` writes one file per partition.
JOB_SCALES = ("small", "medium", "large")
#: ``table_format`` values: external Parquet Hive tables, or Iceberg tables.
TABLE_FORMATS = ("hive", "iceberg")

_PARTITION_PATH = re.compile(r"^(?:[A-Za-z_][A-Za-z0-9_]*=[^/]+/?)+$")
_CATALOG_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")


@dataclass(frozen=True, kw_only=True)
class RefineDatasetConfig(JobConfig):
    """Refine the given input directories into the given Hive or Iceberg table, one partition
    per input (the options of the Scala RefineHiveDataset CLI), creating or evolving the table.

    Example:
      python -m eljobs refine_dataset \\
        --input_paths $RAW/eventlogging_NavigationTiming/year=2024/month=02/day=15/hour=00 \\
        --partition_paths year=2024/month=2/day=15/hour=0 \\
        --table event.navigationtiming --output_path /wmf/data/event \\
        --schema_base_uris /srv/schemas/event/secondary/jsonschema \\
        --schema_uri /analytics/legacy/navigationtiming/1.6.0 \\
        --transform_functions event_transforms
      (add --table_format iceberg --iceberg_catalog iceberg for an Iceberg table in the local
      session's catalog)
    """

    config_file: tuple[str, ...] = option(
        (), help="Java .properties files to load first (repeat or comma separate; later wins)."
    )
    input_paths: tuple[str, ...] = option(
        (), help="Input directories, one per output partition (hdfs://, file:// or plain)."
    )
    partition_paths: tuple[str, ...] = option(
        (),
        help="Output partitions in path form k1=v1/k2=v2, one per input path, in the same "
        "order (e.g. datacenter=eqiad/year=2024/month=2/day=15/hour=0). The values become "
        "literal partition columns.",
    )
    table: str = option("", help="Fully qualified output table, db.table.")
    table_format: str = option(
        "hive",
        help="eljobs addition (the Scala jobs are RefineHiveDataset and RefineIcebergDataset): "
        "hive writes an external Parquet table; iceberg an Iceberg table in iceberg_catalog, "
        "each partition replaced in one snapshot.",
    )
    iceberg_catalog: str = option(
        "spark_catalog",
        help="With table_format=iceberg: the Spark catalog holding the table, configured in "
        "the session as org.apache.iceberg.spark.SparkCatalog or SparkSessionCatalog "
        "(spark_catalog: the session catalog wrapped by SparkSessionCatalog, as on a "
        "cluster; the local session presets define a Hadoop catalog named iceberg).",
    )
    output_path: str | None = option(
        None,
        help="eljobs addition: base directory of a table that does not exist yet (created at "
        "<output_path>/<table>). An existing table keeps its own location. An Iceberg table "
        "in a Hadoop catalog must be at <warehouse>/<db>/<table>.",
    )
    input_format: str = option(
        "json", help=f"Format of the input, one of {','.join(INPUT_FORMATS)}."
    )
    schema_uri: str | None = option(
        None,
        help="The schema of the input, relative to schema_base_uris (latest version used), e.g. "
        "/analytics/legacy/navigationtiming/1.6.0. With schema_base_uris=eventlogging: the "
        "EventLogging schema name. Unset: the first event's schema_field, or inferred.",
    )
    schema_base_uris: tuple[str, ...] = option(
        (),
        help="Event schema repositories (local dirs, file://, http(s)://), or 'eventlogging' "
        "(with eventlogging_schemas_path). Empty: Spark infers the schema from the data.",
    )
    schema_field: str = option("/$schema", help="JSON pointer to the schema URI in an event.")
    eventlogging_schemas_path: str | None = option(
        None, help="Directory of EventLogging schemas for schema_base_uris=eventlogging."
    )
    transform_functions: tuple[str, ...] = option(
        (),
        help="Transform functions applied in order (names as for refine: event_transforms, "
        "deduplicate, Scala object names ending in one, or 'package.module:function').",
    )
    dataframe_reader_options: dict[str, str] = option(
        default_factory=lambda: {"mode": "FAILFAST"},
        default_doc="mode:FAILFAST",
        help="DataFrameReader options k1:v1,k2:v2. The Scala default FAILFAST fails the "
        "partition at the first malformed line; mode:PERMISSIVE counts corrupt records "
        "against corrupt_record_failure_threshold instead.",
    )
    corrupt_record_failure_threshold: int = option(
        1, help="With mode:PERMISSIVE: fail a partition with at least this many corrupt records."
    )
    spark_job_scale: str = option(
        "small",
        help=f"One of {','.join(JOB_SCALES)}: small writes one file per partition, the others "
        "as many as the input has partitions.",
    )
    compression_codec: str = option("snappy", help="Parquet compression codec.")
    geocode_database: str = option(
        "/usr/share/GeoIP/GeoIP2-City.mmdb",
        help="The MaxMind City database geocode_ip reads ('bundled': the demo's GeoLite2).",
    )
    allow_table_recreate: bool = option(
        False,
        help="When the Hive metastore refuses to add members to a struct column, drop and "
        "re-create the external table (readers see no table for a moment). Off: the "
        "partition fails naming the table and the column. Hive tables only.",
    )
    report_path: str | None = option(
        None,
        help="Where to write the JSON run report (default <work>/reports/...), on failure too "
        "with the partitions done so far; checked writable before any work starts.",
    )

    def validate(self) -> list[str]:
        """Every problem of the option set, as messages (empty when usable)."""
        problems = super().validate()
        if not self.input_paths:
            problems.append("Must provide input_paths.")
        elif len(self.input_paths) != len(self.partition_paths):
            problems.append(
                f"input_paths and partition_paths must have the same number of elements, "
                f"found {len(self.input_paths)} and {len(self.partition_paths)}."
            )
        if not self.table:
            problems.append("Must provide table (db.table).")
        elif self.table.count(".") != 1 or not all(self.table.split(".")):
            problems.append(f"Invalid table {self.table!r}: it should have the form db.table.")
        for p in self.partition_paths:
            if not _PARTITION_PATH.match(p):
                problems.append(
                    f"Invalid partition_paths entry {p!r}: it should have the form "
                    "k1=v1/k2=v2/.../kn=vn."
                )
        if self.input_format not in INPUT_FORMATS:
            problems.append(
                f"Invalid input_format {self.input_format}. Must be one of "
                f"{','.join(INPUT_FORMATS)}."
            )
        if self.table_format not in TABLE_FORMATS:
            problems.append(
                f"Invalid table_format {self.table_format}. Must be one of "
                f"{','.join(TABLE_FORMATS)}."
            )
        elif self.table_format == "iceberg":
            if not _CATALOG_NAME.match(self.iceberg_catalog):
                problems.append(
                    f"Invalid iceberg_catalog {self.iceberg_catalog!r}: expected a Spark "
                    "catalog name (letters, digits, underscores)."
                )
            if self.allow_table_recreate:
                problems.append(
                    "allow_table_recreate applies to Hive tables only; Iceberg evolves the "
                    "table in place."
                )
        if self.spark_job_scale not in JOB_SCALES:
            problems.append(
                f"Invalid spark_job_scale {self.spark_job_scale}. Must be one of "
                f"{','.join(JOB_SCALES)}."
            )
        if self.schema_uri and not self.schema_base_uris:
            problems.append("schema_uri needs schema_base_uris to resolve it against.")
        if tuple(self.schema_base_uris) == ("eventlogging",) and not self.eventlogging_schemas_path:
            problems.append("schema_base_uris=eventlogging needs eventlogging_schemas_path.")
        problems.extend(transform_name_problems(self.transform_functions))
        return problems


class TableLocationError(ValueError):
    """The output table does not exist and no ``output_path`` says where to create it."""


class FixedSchemaLoader:
    """A schema loader that gives the schema named by ``schema_uri`` for every event."""

    def __init__(self, schema: StructType) -> None:
        self.schema = schema

    def schema_for_event(self, event: Any) -> StructType:
        """The fixed schema, whatever ``event`` says."""
        return self.schema


def _table_location(spark: SparkSession, cfg: RefineDatasetConfig) -> str | None:
    """The output table's location, None when it does not exist."""
    database, table = cfg.table.split(".")
    if cfg.table_format == "iceberg":
        ident = iceberg_identifier(cfg.iceberg_catalog, database, table)
        exists = iceberg_table.table_exists(spark, ident)
        return describe_table(spark, ident).location if exists else None
    if not ddl.table_exists(spark, database, table):
        return None
    for r in spark.sql(f"DESCRIBE FORMATTED {ddl.quoted_table(database, table)}").collect():
        if (r[0] or "").strip() == "Location":
            return str(r[1]).strip()
    return None


def _hadoop_catalog_location(
    spark: SparkSession, fs: FileSystem, cfg: RefineDatasetConfig
) -> str | None:
    """Where a new Iceberg table goes in a Hadoop catalog (``<warehouse>/<db>/<table>``, the
    only place such a catalog accepts); None for other catalogs.

    Raises:
        TableLocationError: ``output_path`` names another place.
    """
    warehouse = hadoop_warehouse(spark, cfg.iceberg_catalog)
    if warehouse is None:
        return None
    database, table = cfg.table.split(".")
    location = f"{warehouse}/{database}/{table}"
    if cfg.output_path:
        wanted = f"{cfg.output_path.rstrip('/')}/{table}"
        if fs.qualify(wanted).rstrip("/") != fs.qualify(location).rstrip("/"):
            raise TableLocationError(
                f"--output_path {cfg.output_path}: catalog {cfg.iceberg_catalog} is a Hadoop "
                f"catalog, which creates table {cfg.table} at {location}; expected "
                f"--output_path {warehouse}/{database} or none, found {cfg.output_path}"
            )
    return location


def dataset_targets(spark: SparkSession, cfg: RefineDatasetConfig) -> list[RefineTarget]:
    """One target per (input path, partition path) pair, into ``cfg.table``.

    A target's ``table_location`` is the table's (Hive or Iceberg) location; its partition
    directory holds the flags and, while a target runs, its staged rows.

    Raises:
        TableLocationError: the table does not exist and ``output_path`` is not given.
    """
    database, table = cfg.table.split(".")
    location = _table_location(spark, cfg)
    fs = filesystem(spark)
    if location is None and cfg.table_format == "iceberg":
        location = _hadoop_catalog_location(spark, fs, cfg)
    if location is None:
        if not cfg.output_path:
            raise TableLocationError(
                f"table {cfg.table} does not exist and --output_path is not given: expected "
                "an existing table or a base directory to create it in"
            )
        location = f"{cfg.output_path.rstrip('/')}/{table}"
    return [
        RefineTarget(
            input_path=fs.qualify(path),
            database=database,
            table=table,
            table_location=location,
            partition=parse_hive_partition_path(ppath),
            input_mtime=fs.mtime(path),
            input_format=cfg.input_format,
        )
        for path, ppath in zip(cfg.input_paths, cfg.partition_paths, strict=True)
    ]


def table_writer_factory(
    spark: SparkSession, fs: FileSystem, cfg: RefineDatasetConfig
) -> WriterFactory:
    """The :class:`~eljobs.refine.table_writer.TableWriter` of each target, for
    ``cfg.table_format``."""

    def iceberg(target: RefineTarget) -> TableWriter:
        return IcebergTableWriter(spark, fs, target, catalog=cfg.iceberg_catalog)

    def hive(target: RefineTarget) -> TableWriter:
        return HiveTableWriter(spark, fs, target, allow_recreate=cfg.allow_table_recreate)

    return iceberg if cfg.table_format == "iceberg" else hive


def run_refine_dataset(spark: SparkSession, cfg: RefineDatasetConfig) -> RefineResult:
    """Refine every input of ``cfg`` into its partition; ``result.ok`` iff none failed."""
    job_name = "refine_dataset"
    fs = filesystem(spark)
    with tracking(job_name, cfg, fs=fs) as tracker:
        report = tracker.report
        result = RefineResult(ok=False)
        try:
            transforms = resolve_transforms(cfg.transform_functions)
            loader: Any = make_loader(
                cfg.schema_base_uris,
                schema_field=cfg.schema_field,
                eventlogging_schemas_path=cfg.eventlogging_schemas_path,
            )
            if cfg.schema_uri and loader is not None:
                if hasattr(loader, "load_latest"):
                    fixed = jsonschema_to_spark(loader.load_latest(cfg.schema_uri))
                else:
                    fixed = loader.schema_for_name(cfg.schema_uri.strip("/"))
                loader = FixedSchemaLoader(fixed)
            if cfg.table_format == "iceberg":
                check_iceberg_catalog(spark, cfg.iceberg_catalog)
            targets = dataset_targets(spark, cfg)
        except Exception as e:
            # Nothing was refined: the run fails as a whole, with its report.
            message = short_error(e)
            log.error("%s: %s", job_name, message)
            report.failures = [{"target": cfg.table, "error": message}]
            result.report_path = tracker.fail(message)
            return result
        refiner = Refiner(
            spark,
            transforms=transforms,
            loader=loader,
            read=ReadSettings(
                merge_with_hive=False,
                reader_options=cfg.dataframe_reader_options,
                corrupt_threshold=cfg.corrupt_record_failure_threshold,
            ),
            codec=cfg.compression_codec,
            transform_options={"geocode_ip.database": cfg.geocode_database},
            writer_for=table_writer_factory(spark, fs, cfg),
            max_files=1 if cfg.spark_job_scale == "small" else None,
        )
        result.targets = refiner.run(
            targets, parallelism=1, on_done=lambda r: report.rows.append(asdict(r))
        )
        failed = [r for r in result.targets if r.status == "failed"]
        result.ok = not failed
        print_results(job_name, result.targets)
        report.rows = [asdict(r) for r in result.targets]
        report.failures = [{"target": r.target, "error": r.error} for r in failed]
        path = tracker.write(result.ok)[-1]
        result.report_path = path
        print(f"{job_name} run report: {path}")
        return result
