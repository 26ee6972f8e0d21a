"""``python -m eljobs backfill``: raw hourly partitions → validated EventLogging capsules →
Kafka or files, with an account of every line.

Replaces ``hdfs dfs -text … | awk … | eventlogging-processor FORMAT stdin:// OUTPUT
--output-invalid`` with one Spark job:

1. list the hours ``[ceil(since), floor(until))`` under ``--input_path``
   (:mod:`eljobs.io.raw`; hours without input are in the account as ``missing``/``empty``);
2. read every file (SequenceFile, text with key, raw lines), strip the key up to the first TAB;
3. parse, validate and serialize on the executors (:func:`eljobs.backfill.process_raw_lines`);
4. mark the valid events of ``--disabled_schemas`` as ``disabled`` (counted, never written);
5. count what became of the lines per hour and schema, then write valid capsules to every
   ``--output`` and EventErrors to ``--output_invalid`` from the same persisted frame (the
   lines are processed once);
6. print the account, and write it as JSON next to each file output and to ``--report_path``.

Exit status 0 when the job ran, invalid events being data; 1 when it could not (unreadable
input, a failed write); 2 for bad options.
"""

from __future__ import annotations

import json
import logging
import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from eljobs.backfill import (
    INVALID_KINDS,
    AccountRow,
    Writer,
    count_outcomes,
    mark_disabled,
    process_raw_lines,
    summarize,
)
from eljobs.config import effective_config, option
from eljobs.eventlogging import PRODUCTION_FORMAT
from eljobs.eventlogging.schemas import SchemaRepository
from eljobs.io.fs import LOCAL_DEFAULT_FS, filesystem, join, local_path
from eljobs.io.kafka import KafkaOptions
from eljobs.io.raw import (
    DEFAULT_DATETIME_FORMAT,
    HourInput,
    list_raw_input,
    naming_bad_input,
    read_raw,
)
from eljobs.io.uris import WriterURI, WriterURIError, parse_writer_uri
from eljobs.jobs.base import job_main
from eljobs.report import RunReport, default_report_path, format_table

if TYPE_CHECKING:
    from pyspark.sql import DataFrame, SparkSession

log = logging.getLogger(__name__)

FIRST_OUTPUT = "first"


@dataclass(frozen=True, kw_only=True)
class Config(KafkaOptions):
    """Backfill EventLogging client-side raw data: parse, validate and write capsules."""

    input_path: str = option(
        help="Base directory of the hourly raw partitions (plain path, file:// or hdfs://)."
    )
    input_path_datetime_format: str = option(
        DEFAULT_DATETIME_FORMAT,
        help="Joda pattern of an hour's directory below --input_path, e.g. yyyy/MM/dd/HH or "
        "'year='yyyy/'month='MM/'day='dd/'hour='HH (the other zero padding is tried too).",
    )
    input_format: Literal["auto", "sequence", "text", "lines"] = option(
        "auto",
        help="Format of the input files: auto (by content: SEQ = sequence; text whose first "
        "line starts with digits and a TAB = text; other text = lines), "
        "sequence (Hadoop SequenceFile, any codec, value = the raw line), text (lines "
        "<seq>TAB<raw line>, gzip/bzip2/plain: the key is cut at the first TAB only) or "
        "lines (raw lines without key).",
    )
    since: datetime = option(
        help="Start of the window: ISO-8601 or a whole number of hours ago (rounded up to "
        "the hour)."
    )
    until: datetime = option(
        help="End of the window, exclusive: ISO-8601 or hours ago (rounded down to the hour)."
    )
    format: str = option(
        PRODUCTION_FORMAT,
        help="EventLogging format string of the raw lines (the processor's FORMAT argument).",
    )
    schemas_path: tuple[str, ...] = option(
        help="One or more directories of EventLogging schemas laid out "
        "<dir>/<Name>/<revision>.json|yaml (plain, file:// or hdfs://); the first one holding "
        "a (name, revision) wins.",
    )
    output: tuple[str, ...] = option(
        default_factory=tuple,
        accumulate=True,
        help="Writer URIs; every valid event goes to each: file:///DIR (JSON lines in "
        "DIR/topic=<topic>/) or kafka:///host:port[,host:port]?topic=eventlogging_{schema} "
        "(also kafka-confluent://; query: topic, key, blacklist, producer options).",
    )
    output_invalid: str | None = option(
        None,
        bare=FIRST_OUTPUT,
        help="Where EventError events go: a writer URI, or given without a value the first "
        "--output (so eventlogging_EventError). Unset: invalid events are counted, not written.",
    )
    disabled_schemas: tuple[str, ...] = option(
        (),
        help="Schema names whose valid events are not written (counted as 'disabled' per hour "
        "and schema), as the production processor's eventlogging_schemas_disabled_filter: "
        "comma-separated names, and/or @PATH for a local file of names, one a line (# starts "
        "a comment). Invalid events of these schemas are still EventErrors.",
    )
    dry_run: bool = option(
        False, help="Read, parse and validate, print the account, write nothing."
    )
    repartition: int = option(
        0,
        help="Spread the raw lines over this many partitions before processing (0: keep the "
        "input splits; useful when a few unsplittable gzip files hold an hour).",
    )
    arrow_batch_rows: int = option(
        2000,
        help="Raw lines per Arrow batch handed to the Python processor "
        "(spark.sql.execution.arrow.maxRecordsPerBatch for this run): bounds a Python "
        "worker's memory whatever the size of the input.",
    )
    max_partition_bytes: int = option(
        64 * 2**20,
        help="Largest input split in bytes (spark.sql.files.maxPartitionBytes for this run): "
        "a large uncompressed text file is read by several tasks; gzip files cannot be split.",
    )
    hostname: str | None = option(
        None, help="recvFrom of EventError events (default: each executor's host name)."
    )
    report_path: str | None = option(
        None,
        default_doc="<work>/reports/backfill-<time>.json",
        help="Where to write the JSON account (also written next to each file output).",
    )

    def __post_init__(self) -> None:
        # List options are split at commas, but a Kafka URI lists its brokers with commas:
        # glue back every piece that does not start a URI of its own.
        object.__setattr__(self, "output", rejoin_uris(self.output))
        object.__setattr__(self, "disabled_schemas", expand_name_files(self.disabled_schemas))
        super().__post_init__()

    def writers(self) -> list[WriterURI]:
        """The parsed ``--output`` URIs."""
        return [parse_writer_uri(u) for u in self.output]

    def invalid_writer(self, writers: list[WriterURI]) -> WriterURI | None:
        """The writer of EventErrors: None, the first of ``writers`` (the parsed outputs), or
        one of its own."""
        if self.output_invalid is None:
            return None
        if self.output_invalid.strip().lower() in (FIRST_OUTPUT, "true", ""):
            return writers[0] if writers else None
        return parse_writer_uri(self.output_invalid)

    def validate(self) -> list[str]:
        """Every problem with the options."""
        problems = super().validate()
        if not self.output and not self.dry_run:
            problems.append("--output: at least one writer URI is required (or --dry_run)")
        bare_invalid = (self.output_invalid or "").strip().lower() in (FIRST_OUTPUT, "true")
        if bare_invalid and not self.output and not self.dry_run:
            problems.append("--output_invalid without a value needs an --output")
        for u in self.output:
            try:
                parse_writer_uri(u)
            except WriterURIError as e:
                problems.append(f"--output: {e}")
        if self.output_invalid and not bare_invalid:
            try:
                parse_writer_uri(self.output_invalid)
            except WriterURIError as e:
                problems.append(f"--output_invalid: {e}")
        if self.until <= self.since:
            problems.append(
                f"--until ({self.until.isoformat()}) must be after --since "
                f"({self.since.isoformat()})"
            )
        if not self.schemas_path:
            problems.append("--schemas_path: at least one schema directory is required")
        bad = [n for n in self.disabled_schemas if not _SCHEMA_NAME.match(n)]
        if bad:
            problems.append(
                f"--disabled_schemas: expected schema names (letters, digits, _ . -), found {bad}"
            )
        if self.arrow_batch_rows < 1:
            problems.append(
                f"--arrow_batch_rows: expected 1 or more, found {self.arrow_batch_rows}"
            )
        if self.max_partition_bytes < 2**20:
            problems.append(
                f"--max_partition_bytes: expected at least 1 MiB (1048576), found "
                f"{self.max_partition_bytes}"
            )
        if self.repartition < 0:
            problems.append(f"--repartition: expected 0 or more, found {self.repartition}")
        return problems


_SCHEMA_NAME = re.compile(r"^[A-Za-z0-9_.-]+$")


def expand_name_files(entries: tuple[str, ...]) -> tuple[str, ...]:
    """``("A", "@/etc/names.txt")`` → ``("A", <the names in the file>)``, without duplicates.

    A file holds one name a line; blank lines and what follows ``#`` are ignored.

    Raises:
        ValueError: a file cannot be read (the message names the option and the file).
    """
    out: dict[str, None] = {}
    for entry in entries:
        if not entry.startswith("@"):
            out[entry] = None
            continue
        path = entry[1:]
        # Read while the options are parsed, before any Spark session exists: plain Python on
        # the launching machine's disk, like --config_file (a bare path is local here).
        local = local_path(path, default=LOCAL_DEFAULT_FS)
        try:
            if local is None:
                raise OSError(
                    "expected a local file (a path or file://): options are read before "
                    "Spark starts"
                )
            text = Path(local).read_text(encoding="utf-8")
        except OSError as e:
            raise ValueError(f"--disabled_schemas: cannot read the names file {path!r}: {e}") from e
        for line in text.splitlines():
            name = line.split("#", 1)[0].strip()
            if name:
                out[name] = None
    return tuple(out)


_URI_START = re.compile(r"^(/|[A-Za-z][A-Za-z0-9+.-]*://)")


def rejoin_uris(pieces: tuple[str, ...]) -> tuple[str, ...]:
    """``("kafka:///a:1", "b:2?topic=t", "file:///d")`` → ``("kafka:///a:1,b:2?topic=t",
    "file:///d")``: undo the comma split of a list option for URIs whose brokers have commas."""
    out: list[str] = []
    for piece in pieces:
        if out and not _URI_START.match(piece):
            out[-1] = f"{out[-1]},{piece}"
        else:
            out.append(piece)
    return tuple(out)


@dataclass
class BackfillResult:
    """What a backfill run did."""

    ok: bool
    rows: list[AccountRow]
    hours: list[HourInput]
    written: dict[str, dict[str, int]] = field(default_factory=dict)
    """Events each writer reported written, by topic."""
    expected: dict[str, dict[str, int]] = field(default_factory=dict)
    """Events each writer should have written, by topic (from the counts)."""
    report_paths: list[str] = field(default_factory=list)
    report: dict[str, Any] = field(default_factory=dict)

    def totals(self) -> dict[str, int]:
        """read/valid/validation/processor/disabled/unroutable/blacklisted over all rows."""
        keys = ("read", "valid", "validation", "processor", "disabled", "unroutable", "blacklisted")
        return {k: sum(getattr(r, k) for r in self.rows) for k in keys}


# ----------------------------------------------------------------------------- schemas


def load_schemas(spark: SparkSession, paths: tuple[str, ...]) -> SchemaRepository:
    """Read the schema directories on the driver through the file-system layer (a bare path
    is on the default file system; ``file://`` and ``hdfs://`` explicit)."""
    return SchemaRepository.from_paths(list(paths), fs=filesystem(spark))


# --------------------------------------------------------------------------------- run


@dataclass(frozen=True)
class OutputPlan:
    """One output of a run, decided once from the options: the columns of the processed frame
    that hold its topic and key, and which events it takes. The account (what the output
    should receive) and the write (what it is sent) are both derived from it, so they select
    the same events.
    """

    sink: WriterURI
    """Where the events go (the parsed ``--output``/``--output_invalid`` URI)."""
    topic_column: str
    """The column holding each event's topic for this output (null: unroutable)."""
    key_column: str | None
    """The column holding each event's key, None when the output has no key template."""
    takes_valid: bool
    takes_invalid: bool

    def blacklisted(self, schemas: Iterable[str]) -> frozenset[str]:
        """The capsule schema names among ``schemas`` the output's blacklist drops."""
        return frozenset(n for n in schemas if self.sink.is_blacklisted(n))

    def account(self, schemas: Iterable[str]) -> Writer:
        """The output as the account sees it, given the schema names the run met."""
        return Writer(
            name=self.sink.uri,
            topic_column=self.topic_column,
            takes_valid=self.takes_valid,
            takes_invalid=self.takes_invalid,
            blacklisted=self.blacklisted(schemas),
        )

    def frame(self, processed: DataFrame, schemas: Iterable[str]) -> DataFrame:
        """The ``topic``, ``value`` (and ``key``) rows to write: the events the account counts
        for this output, given the schema names the run met."""
        from pyspark.sql import functions as F

        kinds = []
        if self.takes_valid:
            kinds.append(F.col("kind") == "valid")
        if self.takes_invalid:
            kinds.append(F.col("kind").isin(*INVALID_KINDS))
        cond = kinds[0] if len(kinds) == 1 else (kinds[0] | kinds[1])
        cond = cond & F.col(self.topic_column).isNotNull()
        blacklisted = self.blacklisted(schemas)
        if blacklisted:
            capsule_schema = F.when(F.col("kind") == "valid", F.col("schema")).otherwise(
                F.lit("EventError")
            )
            cond = cond & ~capsule_schema.isin(sorted(blacklisted))
        cols = [F.col(self.topic_column).alias("topic"), F.col("value")]
        if self.key_column is not None:
            cond = cond & F.col(self.key_column).isNotNull()
            cols.append(F.col(self.key_column).alias("key"))
        return processed.where(cond).select(*cols)


def plan_outputs(writers: list[WriterURI], invalid_writer: WriterURI | None) -> list[OutputPlan]:
    """One plan per output, in write order: every ``--output`` (the first one's topic is the
    processor's ``topic`` column), then ``--output_invalid`` when it is a writer of its own
    (its topic is the ``topic`` column of invalid events)."""
    plans = [
        OutputPlan(
            sink=w,
            topic_column="topic" if i == 0 else f"topic_{i}",
            key_column=f"key_{i}" if w.key_template else None,
            takes_valid=True,
            takes_invalid=invalid_writer is w,
        )
        for i, w in enumerate(writers)
    ]
    if invalid_writer is not None and not any(w is invalid_writer for w in writers):
        plans.append(
            OutputPlan(
                sink=invalid_writer,
                topic_column="topic",
                key_column="key_invalid" if invalid_writer.key_template else None,
                takes_valid=False,
                takes_invalid=True,
            )
        )
    return plans


def _extra_templates(plans: list[OutputPlan]) -> tuple[dict[str, str], dict[str, str]]:
    """The columns the processor renders besides ``topic``, for valid and for invalid events:
    the topics of the outputs after the first, and every key."""
    valid: dict[str, str] = {}
    invalid: dict[str, str] = {}
    for p in plans:
        rendered = valid if p.takes_valid else invalid
        if p.topic_column != "topic":
            rendered[p.topic_column] = p.sink.topic_template
        if p.key_column is not None and p.sink.key_template:
            rendered[p.key_column] = p.sink.key_template
    return valid, invalid


def run(spark: SparkSession, cfg: Config) -> BackfillResult:
    """Run the backfill described by ``cfg`` (see the module docstring).

    The batch and split sizes of ``cfg`` are set on the session for the run and restored after.
    """
    settings = {
        "spark.sql.execution.arrow.maxRecordsPerBatch": str(cfg.arrow_batch_rows),
        "spark.sql.files.maxPartitionBytes": str(cfg.max_partition_bytes),
    }
    before: dict[str, str | None] = {k: spark.conf.get(k, None) for k in settings}
    for key, value in settings.items():
        spark.conf.set(key, value)
    try:
        return _run(spark, cfg)
    finally:
        for key, old in before.items():
            if old is None:
                spark.conf.unset(key)
            else:
                spark.conf.set(key, old)


def _run(spark: SparkSession, cfg: Config) -> BackfillResult:
    from pyspark import StorageLevel

    report = RunReport(job="backfill", config=effective_config(cfg))
    writers = cfg.writers()
    invalid_writer = cfg.invalid_writer(writers)
    hours = list_raw_input(
        spark,
        cfg.input_path,
        since=cfg.since,
        until=cfg.until,
        datetime_format=cfg.input_path_datetime_format,
        input_format=cfg.input_format,
    )
    for h in hours:
        log.info(
            "hour %s: %s, %d files, %d bytes (%s)",
            h.label,
            h.status,
            len(h.files),
            sum(f.size for f in h.files),
            h.directory,
        )
    schemas = load_schemas(spark, cfg.schemas_path)
    log.info("schemas: %d (name, revision) pairs from %s", len(schemas), schemas.source)

    # Topic (and key) of each output: the first output's topic comes with the processor; the
    # others, and keys, are rendered in the same pass over the capsules.
    plans = plan_outputs(writers, invalid_writer)
    valid_templates, invalid_templates = _extra_templates(plans)
    topic_template = writers[0].topic_template if writers else "eventlogging_{schema}"
    invalid_template = invalid_writer.topic_template if invalid_writer else None

    raw = read_raw(spark, hours).select("hour", "raw")
    if cfg.repartition:
        raw = raw.repartition(cfg.repartition)
    processed = process_raw_lines(
        raw,
        schemas=schemas,
        log_format=cfg.format,
        topic_template=topic_template,
        invalid_topic_template=invalid_template,
        valid_templates=valid_templates,
        invalid_templates=invalid_templates,
        hostname=cfg.hostname,
        drop=("raw", "message"),
    )
    if cfg.disabled_schemas:
        log.info("disabled schemas (counted, never written): %s", ", ".join(cfg.disabled_schemas))
        processed = mark_disabled(processed, schemas=cfg.disabled_schemas)
    route_cols = list(dict.fromkeys(["topic", *(p.topic_column for p in plans)]))
    if not cfg.dry_run:
        # Counted first, then written by each writer: persisted so the lines are processed once.
        # DISK_ONLY streams the cached batches to and from local disk; MEMORY_AND_DISK ran a
        # 1 GiB local driver out of heap on 1,000,000 lines (about 1.3 GB of capsules).
        processed = processed.persist(StorageLevel.DISK_ONLY)

    with naming_bad_input(spark, hours):
        counts = [r.asDict() for r in count_outcomes(processed, route_columns=route_cols).collect()]

    # The capsule schema names the run met (EventError for invalid events): the blacklists
    # of the account and of the write are resolved against the same names.
    seen = {c["schema"] for c in counts} | {"EventError"}
    rows, expected = summarize(counts, [p.account(seen) for p in plans])
    expected_by_writer: dict[str, dict[str, int]] = {}
    for (name, topic), n in expected.items():
        expected_by_writer.setdefault(name, {})[topic] = n
    _log_hours(hours, rows)

    written: dict[str, dict[str, int]] = {}
    # Per Kafka writer: what the topics gained (every task attempt), duplicates, failed attempts.
    kafka_attempts: dict[str, dict[str, Any]] = {}
    failures: list[dict[str, Any]] = []
    if not cfg.dry_run:
        try:
            for plan in plans:
                want = expected_by_writer.get(plan.sink.uri, {})
                frame = plan.frame(processed, seen)
                written[plan.sink.uri] = _write(spark, plan.sink, frame, cfg, want, kafka_attempts)
        finally:
            processed.unpersist()

    if not cfg.dry_run:
        for name in expected_by_writer.keys() | written.keys():
            want, got = expected_by_writer.get(name, {}), written.get(name, {})
            if want != got:
                failures.append(
                    {"writer": name, "expected": want, "written": got, "error": "count mismatch"}
                )

    ok = not failures
    result = BackfillResult(
        ok=ok, rows=rows, hours=hours, written=written, expected=expected_by_writer
    )
    report.rows = [r.to_dict() for r in rows]
    report.failures = failures
    report.extra = {
        "hours": [
            {
                "hour": h.label,
                "status": h.status,
                "directory": h.directory,
                "files": len(h.files),
                "bytes": sum(f.size for f in h.files),
            }
            for h in hours
        ],
        "totals": result.totals(),
        "written": written,
        "expected": expected_by_writer,
        "kafka_attempts": kafka_attempts,
        "dry_run": cfg.dry_run,
        "disabled_schemas": list(cfg.disabled_schemas),
    }
    report.finish(ok)
    result.report = report.to_dict()
    print(render_account(result))
    for uri, att in kafka_attempts.items():
        landed = att["landed"]
        print(
            f"{uri} ({att['sink']} sink): the topics gained "
            f"{'?' if landed is None else sum(landed.values())} messages from every task "
            f"attempt; {att['failed_attempts']} attempts failed; duplicates "
            f"{'?' if att['duplicates'] is None else att['duplicates']}"
        )
    result.report_paths = _write_reports(spark, cfg, writers, report)
    for p in result.report_paths:
        print(f"account written to {p}")
    return result


def _write(
    spark: SparkSession,
    w: WriterURI,
    frame: DataFrame,
    cfg: Config,
    expected: dict[str, int],
    kafka_attempts: dict[str, dict[str, Any]],
) -> dict[str, int]:
    if w.kind == "file":
        from eljobs.io.files import write_files

        counts = write_files(frame, w.target, topics=sorted(expected))
        log.info("%s: wrote %s", w.uri, counts)
        return counts
    from eljobs.io.kafka import write_to_kafka

    kwargs = cfg.kafka_write_kwargs()
    kwargs["options"] = {**kwargs["options"], **w.options}
    result = write_to_kafka(frame, bootstrap_servers=w.target, **kwargs)
    log.info("%s: produced %s (sink %s: %s)", w.uri, result.produced, result.sink, result.reason)
    kafka_attempts[w.uri] = {
        "sink": result.sink,
        "landed": result.landed,
        "duplicates": result.duplicates,
        "failed_attempts": result.failed_attempts,
    }
    if result.duplicates:
        log.warning(
            "%s: %d task attempts failed and were retried; the topics hold %d duplicate "
            "messages besides the %d acknowledged (see docs/operations.md, retries and reruns)",
            w.uri,
            result.failed_attempts,
            result.duplicates,
            result.total,
        )
    return dict(result.produced)


def _log_hours(hours: list[HourInput], rows: list[AccountRow]) -> None:
    keys = ("read", "valid", "validation", "processor", "disabled")
    by_hour: dict[str, dict[str, int]] = {}
    for r in rows:
        t = by_hour.setdefault(r.hour, dict.fromkeys(keys, 0))
        for k in t:
            t[k] += getattr(r, k)
    for h in hours:
        t = by_hour.get(h.label, dict.fromkeys(keys, 0))
        log.info(
            "hour %s (%s): read %d = valid %d + validation %d + processor %d + disabled %d",
            h.label,
            h.status,
            *(t[k] for k in keys),
        )


def render_account(result: BackfillResult) -> str:
    """The account as text tables: per hour, per hour × schema, and per writer × topic."""
    per_hour = []
    for h in result.hours:
        rs = [r for r in result.rows if r.hour == h.label]
        per_hour.append(
            [
                h.label,
                h.status,
                len(h.files),
                *(sum(getattr(r, k) for r in rs) for k in ("read", "valid", "validation")),
                *(sum(getattr(r, k) for r in rs) for k in ("processor", "disabled", "unroutable")),
                sum(r.blacklisted for r in rs),
                sum(sum(r.written.values()) for r in rs),
            ]
        )
    heads = [
        *("read", "valid", "validation", "processor", "disabled"),
        *("unroutable", "blacklisted", "written"),
    ]
    out = [
        format_table(
            ["hour", "input", "files", *heads], per_hour, title="Backfill account per hour"
        )
    ]
    out.append(
        format_table(
            ["hour", "schema", *heads],
            [
                [r.hour, r.schema, *(getattr(r, k) for k in heads[:-1]), sum(r.written.values())]
                for r in result.rows
            ],
            title="Per hour and schema (read = valid + validation + processor + disabled)",
        )
    )
    writer_rows = []
    for name in sorted(result.expected.keys() | result.written.keys()):
        want = result.expected.get(name, {})
        got = result.written.get(name, {})
        for topic in sorted(want.keys() | got.keys()):
            writer_rows.append([name, topic, want.get(topic, 0), got.get(topic, "-")])
    if writer_rows:
        out.append(
            format_table(
                ["writer", "topic", "to write", "written"], writer_rows, title="Written per topic"
            )
        )
    t = result.totals()
    out.append(
        "total: read {read} = valid {valid} + validation {validation} + processor {processor} "
        "+ disabled {disabled}; unroutable {unroutable}, blacklisted {blacklisted}".format(**t)
    )
    return "\n\n".join(out)


def _write_reports(
    spark: SparkSession, cfg: Config, writers: list[WriterURI], report: RunReport
) -> list[str]:
    fs = filesystem(spark)
    # one text for every copy, so the copies agree to the millisecond
    text = json.dumps(report.to_dict(), indent=2, default=str) + "\n"
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    targets = []
    if not cfg.dry_run:
        for w in writers:
            if w.kind == "file":
                # a leading underscore keeps Spark and Hive readers of DIR from reading it
                targets.append(join(w.target, f"_backfill-account-{stamp}.json"))
    targets.append(cfg.report_path or default_report_path("backfill"))
    paths = []
    for t in targets:
        fs.write_text(t, text)
        paths.append(fs.qualify(t))
    return paths


def main(argv: list[str] | None = None) -> int:
    """Entry point of ``python -m eljobs backfill``."""
    return job_main("backfill", Config, run, argv)
