"""Run Refine: discover targets, refine each (read, transform, evolve the table, write one
partition, flag), tables in parallel, and report.

:func:`run_refine` is the entry used by ``eljobs.jobs.refine`` and by RefineSanitize, which
passes its sanitizer as ``extra_transforms`` (applied after ``transform_functions``).
"""

from __future__ import annotations

import logging
import time
import uuid
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass, field
from typing import TYPE_CHECKING

from pyspark.sql import Observation
from pyspark.sql import functions as F

from eljobs.io.email import send_email
from eljobs.io.fs import FileSystem, filesystem
from eljobs.refine.context import TransformContext, TransformFn, apply_transforms
from eljobs.refine.evolution import same_columns
from eljobs.refine.flags import DONE_FLAG, FAILED_FLAG, should_refine
from eljobs.refine.frames import add_partition_columns, conform_to_table, normalize_and_widen
from eljobs.refine.hive_table import HiveTableWriter
from eljobs.refine.reader import read_target
from eljobs.refine.report import Failure, failure_report
from eljobs.refine.schema import make_loader
from eljobs.refine.table_writer import TableWriter
from eljobs.refine.targets import (
    RefineTarget,
    TableNameCollisionError,
    discover_targets,
    table_collisions,
)
from eljobs.refine.transforms import resolve_transforms
from eljobs.report import ReportTracker, error_text, format_table, tracking

if TYPE_CHECKING:
    from pyspark.sql import SparkSession

    from eljobs.refine.options import RefineConfig
    from eljobs.refine.schema import SchemaLoader

log = logging.getLogger(__name__)


@dataclass
class TargetResult:
    """The outcome of one target.

    Attributes:
        target: the target's string form.
        table: ``db.table``.
        partition_path: the output partition directory.
        status: ``refined``, ``failed`` or ``dry_run``.
        read: input records read (before corrupt records are dropped); None when not read.
        corrupt: corrupt input records.
        written: rows written to the partition.
        seconds: wall time of this target.
        error: the failure message (``Failed refinement of <target>. Original exception: ...``).
    """

    target: str
    table: str
    partition_path: str
    status: str
    read: int | None = None
    corrupt: int | None = None
    written: int | None = None
    seconds: float = 0.0
    error: str | None = None


@dataclass
class RefineResult:
    """What a Refine run did; ``ok`` is true iff no target failed."""

    ok: bool
    targets: list[TargetResult] = field(default_factory=list)
    report_path: str | None = None
    failure_report: str | None = None


def select_targets(
    fs: FileSystem,
    targets: Sequence[RefineTarget],
    *,
    ignore_failure_flag: bool = False,
    ignore_done_flag: bool = False,
    limit: int | None = None,
) -> list[RefineTarget]:
    """Targets whose flags say they need refining, then the first ``limit``."""
    keep = [
        t
        for t in targets
        if should_refine(
            t.flag_state(fs),
            t.input_mtime,
            ignore_failure_flag=ignore_failure_flag,
            ignore_done_flag=ignore_done_flag,
        )
    ]
    return keep[:limit] if limit is not None else keep


def group_by_table(targets: Sequence[RefineTarget]) -> dict[str, list[RefineTarget]]:
    """Targets per fully qualified table, tables and targets in discovery order."""
    groups: dict[str, list[RefineTarget]] = {}
    for t in targets:
        groups.setdefault(t.qualified_table, []).append(t)
    return groups


#: An exception as one readable, redacted message (kept under its old name for the refine code).
short_error = error_text


def _conf_options(spark: SparkSession) -> dict[str, str]:
    try:
        return {str(k): str(v) for k, v in spark.conf.getAll.items()}
    except Exception:
        return {str(k): str(v) for k, v in spark.sparkContext.getConf().getAll()}


WriterFactory = Callable[[RefineTarget], TableWriter]


@dataclass(frozen=True, kw_only=True)
class ReadSettings:
    """How a target's input is read (the reading options of ``refine`` and ``refine_dataset``).

    Attributes:
        merge_with_hive: merge the loaded schema with the table's before reading.
        reader_options: extra DataFrameReader options.
        corrupt_threshold: fail a target with at least this many corrupt records (<= 0: never).
    """

    merge_with_hive: bool = False
    reader_options: Mapping[str, str] = field(default_factory=dict)
    corrupt_threshold: int = 1


class Refiner:
    """Refines targets of one run (read, transform, normalize, stage, evolve, commit, flag);
    shared by the table threads (read-only state). Used by ``refine``, ``refine_sanitize``
    and ``refine_dataset``.

    Args:
        max_files: at most this many output files per partition (None: the input's
            partition count, as the reference).
    """

    def __init__(
        self,
        spark: SparkSession,
        *,
        transforms: Sequence[TransformFn],
        loader: SchemaLoader | None,
        read: ReadSettings,
        codec: str,
        writer_for: WriterFactory,
        transform_options: Mapping[str, str] | None = None,
        max_files: int | None = None,
    ) -> None:
        self.spark = spark
        self.fs = filesystem(spark)
        self.transforms = list(transforms)
        self.loader = loader
        self.read_settings = read
        self.codec = codec
        self.writer_for = writer_for
        self.options = {**_conf_options(spark), **(transform_options or {})}
        self.max_files = max_files

    def run(
        self,
        targets: Sequence[RefineTarget],
        *,
        parallelism: int,
        on_done: Callable[[TargetResult], None] | None = None,
    ) -> list[TargetResult]:
        """Refine ``targets``: tables in parallel (at most ``parallelism``), the targets of one
        table serially in the given order. ``on_done`` is called with each result as its
        target finishes (from the table's thread), so a report holds the targets done so far
        if the run stops early."""
        groups = list(group_by_table(targets).values())
        out: list[TargetResult] = []
        if not groups:
            return out
        with ThreadPoolExecutor(max_workers=max(1, min(parallelism, len(groups)))) as pool:
            for table_results in pool.map(lambda g: self.refine_table(g, on_done=on_done), groups):
                out.extend(table_results)
        return out

    def refine_table(
        self,
        targets: Sequence[RefineTarget],
        *,
        on_done: Callable[[TargetResult], None] | None = None,
    ) -> list[TargetResult]:
        """Refine one table's targets serially, in order (``on_done``: see :meth:`run`)."""
        results = []
        for t in targets:
            res = self.refine_one(t)
            results.append(res)
            if on_done is not None:
                on_done(res)
        return results

    def refine_one(self, target: RefineTarget) -> TargetResult:
        """Refine one target; any failure is caught, flagged and reported.

        The partition is staged first (:class:`TableWriter`). Only when that write succeeded,
        the input's account passes the corrupt-record threshold and the table DDL went through
        is it committed, so a failing target leaves its table and old partition as they were
        (the reference fails corrupt input before any of it too).
        """
        t0 = time.monotonic()
        res = TargetResult(
            target=str(target),
            table=target.qualified_table,
            partition_path=target.partition_path,
            status="failed",
        )
        steps: dict[str, float] = {}
        staged: list[str] = []
        writer = self.writer_for(target)
        rs = self.read_settings
        try:
            existing = writer.existing_schema()
            read = read_target(
                self.spark,
                self.fs,
                target,
                loader=self.loader,
                table_schema=existing,
                merge_with_hive=rs.merge_with_hive,
                reader_options=dict(rs.reader_options),
                corrupt_threshold=rs.corrupt_threshold,
            )
            df = add_partition_columns(read.df, target.partition)
            context = TransformContext(
                database=target.database,
                table=target.table,
                partition=target.values,
                table_schema=existing,
                options=self.options,
            )
            df = apply_transforms(df, self.transforms, context=context)
            df = normalize_and_widen(df)
            frame_schema = df.schema
            planned = writer.planned_schema(frame_schema, existing)
            # Back to the input's partition count without a shuffle (a transform such as
            # deduplicate leaves spark.sql.shuffle.partitions partitions); no-op when fewer.
            files = (
                read.partitions if self.max_files is None else min(read.partitions, self.max_files)
            )
            df = conform_to_table(df, planned).coalesce(max(files, 1))
            written = Observation(f"eljobs_refine_output_{uuid.uuid4().hex}")
            df = df.observe(written, F.count(F.lit(1)).alias("rows"))
            steps["plan"] = time.monotonic() - t0
            staged.append(writer.stage(df, codec=self.codec))
            steps["write"] = time.monotonic() - t0
            try:
                read.account()
            finally:
                res.read, res.corrupt = read.read, read.corrupt
            schema, ddl = writer.evolve(frame_schema, existing)
            for stmt in ddl:
                log.info("%s: %s", target.quoted_table, stmt)
            rows = int(written.get["rows"])
            if not same_columns(schema, planned):
                # The catalog answered with other columns than planned: conform the staged
                # rows to what it has (correct, one more Parquet pass).
                log.warning(
                    "%s: table columns differ from the planned ones; rewriting the staged "
                    "partition to the table's schema",
                    target.quoted_table,
                )
                again = self.spark.read.parquet(staged[-1])
                staged.append(writer.stage(conform_to_table(again, schema), codec=self.codec))
            writer.commit(staged.pop())
            steps["commit"] = time.monotonic() - t0
            target.write_flag(self.fs, DONE_FLAG)
            res.written = rows
            res.status = "refined"
        except Exception as e:
            # A corrupt-record failure still accounts for what was read.
            res.read = getattr(e, "read", res.read)
            res.corrupt = getattr(e, "corrupt", res.corrupt)
            res.error = f"Failed refinement of {target}. Original exception: {short_error(e)}"
            log.error(res.error)
            try:
                target.write_flag(self.fs, FAILED_FLAG)
            except Exception as flag_error:
                log.error("cannot write %s for %s: %s", FAILED_FLAG, target, flag_error)
        finally:
            for path in staged:
                writer.discard(path)
            res.seconds = round(time.monotonic() - t0, 3)
        log.info(
            "%s %s: read %s, corrupt %s, written %s in %.1fs (cumulative: %s)",
            res.status,
            target,
            res.read,
            res.corrupt,
            res.written,
            res.seconds,
            ", ".join(f"{k} {v:.1f}s" for k, v in steps.items()),
        )
        return res


def run_refine(
    spark: SparkSession,
    cfg: RefineConfig,
    *,
    extra_transforms: Sequence[TransformFn] = (),
    job_name: str = "refine",
) -> RefineResult:
    """Refine every target of ``cfg`` that needs it.

    Args:
        spark: the session (Hive support on).
        cfg: the validated config.
        extra_transforms: applied after ``cfg.transform_functions`` (RefineSanitize's sanitizer).
        job_name: names the run report, the rerun command and the email subject.

    Returns:
        A :class:`RefineResult`, ``ok`` iff no target failed.
    """
    fs = filesystem(spark)
    with tracking(job_name, cfg, fs=fs) as tracker:
        return _run_refine(spark, cfg, fs, tracker, extra_transforms, job_name)


def _run_refine(
    spark: SparkSession,
    cfg: RefineConfig,
    fs: FileSystem,
    tracker: ReportTracker,
    extra_transforms: Sequence[TransformFn],
    job_name: str,
) -> RefineResult:
    transforms = [*resolve_transforms(cfg.transform_functions), *extra_transforms]
    loader = (
        None
        if cfg.input_database
        else make_loader(
            cfg.schema_base_uris,
            schema_field=cfg.schema_field,
            eventlogging_schemas_path=cfg.eventlogging_schemas_path,
        )
    )
    report = tracker.report
    discovered = discover_targets(spark, cfg)
    targets = select_targets(
        fs,
        discovered,
        ignore_failure_flag=cfg.ignore_failure_flag,
        ignore_done_flag=cfg.ignore_done_flag,
        limit=cfg.limit,
    )
    source = cfg.input_path or f"database {cfg.input_database}"
    log.info("%d targets found in %s, %d need refinement", len(discovered), source, len(targets))
    result = RefineResult(ok=True)
    if cfg.dry_run:
        for t in targets:
            print(f"{t.input_path} -> {t.partition_path}")
            result.targets.append(
                TargetResult(str(t), t.qualified_table, t.partition_path, "dry_run")
            )
    elif targets:
        # Datasets whose names normalize alike would be written into one table, each
        # overwriting the other's partitions: none of them is refined.
        collisions = table_collisions(discovered)
        for t in targets:
            if t.qualified_table in collisions:
                result.targets.append(_collision_failure(fs, t, collisions[t.qualified_table]))
                report.rows.append(asdict(result.targets[-1]))
        targets_to_refine = [t for t in targets if t.qualified_table not in collisions]
        refiner = Refiner(
            spark,
            transforms=transforms,
            loader=loader,
            read=ReadSettings(
                merge_with_hive=cfg.merge_with_hive_schema_before_read,
                reader_options=cfg.dataframereader_options,
                corrupt_threshold=cfg.corrupt_record_failure_threshold,
            ),
            codec=cfg.compression_codec,
            # The explicit --geocode_database wins over Spark conf keys naming a database.
            transform_options={"geocode_ip.database": cfg.geocode_database},
            writer_for=lambda t: HiveTableWriter(
                spark, fs, t, allow_recreate=cfg.allow_table_recreate
            ),
        )
        # Each target's result goes into the report as it finishes: the targets done so far.
        result.targets.extend(
            refiner.run(
                targets_to_refine,
                parallelism=cfg.parallelism,
                on_done=lambda r: report.rows.append(asdict(r)),
            )
        )
    else:
        log.info("No targets need refinement in %s", source)

    failed = [r for r in result.targets if r.status == "failed"]
    result.ok = not failed
    if result.targets:
        print_results(job_name, result.targets)
    report.rows = [asdict(r) for r in result.targets]
    if failed:
        by_str = {str(t): t for t in targets}
        failures = [Failure(by_str[r.target], r.error or "") for r in failed]
        totals: dict[str, int] = {}
        for t in targets:
            totals[t.qualified_table] = totals.get(t.qualified_table, 0) + 1
        text = failure_report(
            job_name,
            cfg,
            failures,
            totals,
            application_id=spark.sparkContext.applicationId,
        )
        result.failure_report = text
        log.error("%s", text)
        report.failures = [{"target": r.target, "error": r.error} for r in failed]
        report.extra["failure_report"] = text
        if cfg.should_email_report and not cfg.dry_run:
            _email(spark, cfg, f"Refine failures for job {spark.sparkContext.appName}", text)
    if cfg.dry_run:
        # A dry run writes nothing at all, not even its report.
        tracker.write(result.ok)
        log.info("dry run: %d targets would be refined; no run report written", len(targets))
        return result
    path = tracker.write(result.ok)[-1]
    result.report_path = path
    print(f"{job_name} run report: {path}")
    return result


def _collision_failure(
    fs: FileSystem, target: RefineTarget, datasets: Sequence[str]
) -> TargetResult:
    """The failed result of a target whose table other datasets of the run normalize to too;
    its partition gets the failure flag."""
    error = TableNameCollisionError(
        f"the input directories {', '.join(datasets)} all normalize to table "
        f"{target.quoted_table}: refining them would mix their rows in one table (each "
        "overwriting the other's partitions), so none of them is refined. Rename or move all "
        "but one of them, or refine them separately into different output databases"
    )
    message = f"Failed refinement of {target}. Original exception: {short_error(error)}"
    log.error(message)
    try:
        target.write_flag(fs, FAILED_FLAG)
    except Exception as flag_error:
        log.error("cannot write %s for %s: %s", FAILED_FLAG, target, flag_error)
    return TargetResult(
        target=str(target),
        table=target.qualified_table,
        partition_path=target.partition_path,
        status="failed",
        error=message,
    )


def print_results(job_name: str, results: Sequence[TargetResult]) -> None:
    """Print the run's table: one line per target with its account."""
    failed = sum(r.status == "failed" for r in results)
    print(
        format_table(
            ["table", "partition", "status", "read", "corrupt", "written", "seconds"],
            [
                [r.table, _rel(r), r.status, r.read, r.corrupt, r.written, r.seconds]
                for r in results
            ],
            title=f"{job_name}: {len(results)} targets, {failed} failed",
        )
    )


def _rel(r: TargetResult) -> str:
    """The partition path relative to the table directory (``year=2024/month=1/...``)."""
    segs = r.partition_path.rstrip("/").split("/")
    return "/".join(s for s in segs if "=" in s)


def _email(spark: SparkSession, cfg: RefineConfig, subject: str, body: str) -> None:
    try:
        send_email(
            smtp_uri=cfg.smtp_uri,
            from_email=cfg.from_email,
            to_emails=cfg.to_emails,
            subject=subject,
            body=body,
        )
    except Exception as e:  # the report is also in the log and the run report
        log.error("could not email the report: %s", e)
