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

The report is written on failure too (:func:`eljobs.report.tracking`): status ``failed``, the
error, the account and the counts each writer was to write, what the writers done before the
failure wrote, and what a failed Kafka write is known to have acknowledged and landed. A dry
run prints the account and writes nothing, no report either.

Exit status 0 when the job ran, invalid events being data; 1 when it could not (unreadable
input, a failed write); 2 for bad options.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from pyspark import StorageLevel
from pyspark.sql import functions as F

from eljobs.backfill import (
    INVALID_KINDS,
    AccountRow,
    Writer,
    count_outcomes,
    mark_disabled,
    process_raw_lines,
    summarize,
)
from eljobs.config import option
from eljobs.eventlogging import PRODUCTION_FORMAT
from eljobs.eventlogging.schemas import SchemaRepository
from eljobs.io.files import write_files
from eljobs.io.fs import LOCAL_DEFAULT_FS, filesystem, join, local_path
from eljobs.io.kafka import KafkaOptions, write_to_kafka
from eljobs.io.kafka.errors import KafkaSinkError
from eljobs.io.raw import (
    DEFAULT_DATETIME_FORMAT,
    HourInput,
    list_raw_input,
    naming_bad_input,
    read_raw,
)
from eljobs.io.uris import CAPSULE_TOPIC, WriterURI, WriterURIError, parse_writer_uri
from eljobs.jobs.base import job_main
from eljobs.report import ReportTracker, format_table, tracking

if TYPE_CHECKING:
    from pyspark.sql import DataFrame, SparkSession

log = logging.getLogger(__name__)

FIRST_OUTPUT = "first"
#: The topics a Kafka output routed by the capsule's own ``topic`` may write to by default.
DEFAULT_TOPICS_REGEX = "eventlogging_.*"


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
        "(also kafka-confluent://; query: topic, key, blacklist, producer options). Given "
        "on the command line, replaces the config file's outputs.",
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
    topics_regex: re.Pattern[str] | None = option(
        re.compile(DEFAULT_TOPICS_REGEX),
        help="Kafka outputs without ?topic= send each event to the topic its capsule names: "
        "only topics whose whole name matches this regex are written to, the events of any "
        "other topic are counted as rejected and never written (so an event cannot choose a "
        "topic other producers own, even with --create_topics). Empty: no check. Outputs "
        "with ?topic= and file outputs are not checked.",
    )
    hostname: str | None = option(
        None, help="recvFrom of EventError events (default: each executor's host name)."
    )
    report_path: str | None = option(
        None,
        default_doc="<work>/reports/backfill-<time>.json",
        help="Where to write the JSON account (also written next to each file output), on "
        "failure too; checked writable before any work starts. A dry run writes none.",
    )

    def __post_init__(self) -> None:
        self.coerce_fields()
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
        """read/valid/validation/processor/disabled/unroutable/blacklisted/rejected over all
        rows."""
        keys = (
            *("read", "valid", "validation", "processor", "disabled"),
            *("unroutable", "blacklisted", "rejected"),
        )
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
    topics_allowed: re.Pattern[str] | None = None
    """The topics the output may write to (whole name), None: any. Set for Kafka outputs whose
    topic is the capsule's own (``--topics_regex``)."""

    def blacklisted(self, schemas: Iterable[str]) -> frozenset[str]:
        """The capsule schema names among ``schemas`` the output's blacklist drops."""
        return frozenset(n for n in schemas if self.sink.is_blacklisted(n))

    def rejected(self, topics: Iterable[str]) -> frozenset[str]:
        """The topics among ``topics`` the output may not write to."""
        allowed = self.topics_allowed
        if allowed is None:
            return frozenset()
        return frozenset(t for t in topics if not allowed.fullmatch(t))

    def account(self, schemas: Iterable[str], topics: Iterable[str] = ()) -> Writer:
        """The output as the account sees it, given the schema names and the topics (of its
        topic column) the run met."""
        return Writer(
            name=self.sink.uri,
            topic_column=self.topic_column,
            takes_valid=self.takes_valid,
            takes_invalid=self.takes_invalid,
            blacklisted=self.blacklisted(schemas),
            rejected_topics=self.rejected(topics),
        )

    def frame(
        self, processed: DataFrame, schemas: Iterable[str], topics: Iterable[str] = ()
    ) -> DataFrame:
        """The ``topic``, ``value`` (and ``key``) rows to write: the events the account counts
        for this output, given the schema names and topics the run met. The rejected topics
        are the Python decision of :meth:`rejected` turned into a list, so the account and the
        write cannot disagree on a regex."""
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
        rejected = self.rejected(topics)
        if rejected:
            cond = cond & ~F.col(self.topic_column).isin(sorted(rejected))
        cols = [F.col(self.topic_column).alias("topic"), F.col("value")]
        if self.key_column is not None:
            cond = cond & F.col(self.key_column).isNotNull()
            cols.append(F.col(self.key_column).alias("key"))
        return processed.where(cond).select(*cols)


def plan_outputs(
    writers: list[WriterURI],
    invalid_writer: WriterURI | None,
    *,
    topics_regex: re.Pattern[str] | None = None,
) -> list[OutputPlan]:
    """One plan per output, in write order: every ``--output`` (the first one's topic is the
    processor's ``topic`` column), then ``--output_invalid`` when it is a writer of its own
    (its topic is the ``topic`` column of invalid events). Kafka outputs routed by the
    capsule's own topic write only to topics ``topics_regex`` matches whole."""

    def allowed(w: WriterURI) -> re.Pattern[str] | None:
        by_capsule = w.kind == "kafka" and w.topic_template == CAPSULE_TOPIC
        return topics_regex if by_capsule else None

    plans = [
        OutputPlan(
            sink=w,
            topic_column="topic" if i == 0 else f"topic_{i}",
            key_column=f"key_{i}" if w.key_template else None,
            takes_valid=True,
            takes_invalid=invalid_writer is w,
            topics_allowed=allowed(w),
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
                topics_allowed=allowed(invalid_writer),
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
        with tracking("backfill", cfg, fs=filesystem(spark)) as tracker:
            return _run(spark, cfg, tracker)
    finally:
        for key, old in before.items():
            if old is None:
                spark.conf.unset(key)
            else:
                spark.conf.set(key, old)


def _run(spark: SparkSession, cfg: Config, tracker: ReportTracker) -> BackfillResult:
    # Filled as the run goes: a failure report holds everything done before the failure.
    report = tracker.report
    report.extra["dry_run"] = cfg.dry_run
    report.extra["disabled_schemas"] = list(cfg.disabled_schemas)
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
    report.extra["hours"] = [
        {
            "hour": h.label,
            "status": h.status,
            "directory": h.directory,
            "files": len(h.files),
            "bytes": sum(f.size for f in h.files),
        }
        for h in hours
    ]
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
    plans = plan_outputs(writers, invalid_writer, topics_regex=cfg.topics_regex)
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
    # The topics of each routing column: the topic guard is resolved against them once.
    topics = {col: {c[col] for c in counts if c[col] is not None} for col in route_cols}
    rows, expected = summarize(counts, [p.account(seen, topics[p.topic_column]) for p in plans])
    rejected = {p.sink.uri: sorted(p.rejected(topics[p.topic_column])) for p in plans}
    for uri, names in rejected.items():
        if names:
            log.warning(
                "%s: events routed to topics %s are rejected (not matched by --topics_regex "
                "%s), never written",
                uri,
                ", ".join(names),
                cfg.topics_regex.pattern if cfg.topics_regex else None,
            )
    expected_by_writer: dict[str, dict[str, int]] = {}
    for (name, topic), n in expected.items():
        expected_by_writer.setdefault(name, {})[topic] = n
    _log_hours(hours, rows)

    written: dict[str, dict[str, int]] = {}
    # Per Kafka writer: what the topics gained (every task attempt), duplicates, failed attempts.
    kafka_attempts: dict[str, dict[str, Any]] = {}
    failures: list[dict[str, Any]] = []
    # The account is in the report before the first write; written and kafka_attempts are the
    # dicts the writes fill, so a failure report shows the writers done and the one that failed.
    report.rows = [r.to_dict() for r in rows]
    report.extra.update(
        {
            "totals": BackfillResult(ok=False, rows=rows, hours=hours).totals(),
            "written": written,
            "expected": expected_by_writer,
            "kafka_attempts": kafka_attempts,
            "rejected_topics": {uri: names for uri, names in rejected.items() if names},
        }
    )
    if not cfg.dry_run:
        try:
            for plan in plans:
                want = expected_by_writer.get(plan.sink.uri, {})
                frame = plan.frame(processed, seen, topics[plan.topic_column])
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
    report.failures = failures
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
    result.report_paths = _write_reports(cfg, writers, tracker, ok)
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
        counts = write_files(frame, w.target, topics=sorted(expected))
        log.info("%s: wrote %s", w.uri, counts)
        return counts
    kwargs = cfg.kafka_write_kwargs()
    kwargs["options"] = {**kwargs["options"], **w.options}
    try:
        result = write_to_kafka(frame, bootstrap_servers=w.target, **kwargs)
    except KafkaSinkError as e:
        # What the failed write is known to have done goes into the failure report.
        kafka_attempts[w.uri] = {
            "sink": kwargs.get("sink"),
            "failed": True,
            "acknowledged": dict(e.produced),
            "landed": e.landed,
        }
        raise
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
                sum(r.rejected for r in rs),
                sum(sum(r.written.values()) for r in rs),
            ]
        )
    heads = [
        *("read", "valid", "validation", "processor", "disabled"),
        *("unroutable", "blacklisted", "rejected", "written"),
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
        "+ disabled {disabled}; unroutable {unroutable}, blacklisted {blacklisted}, "
        "rejected {rejected}".format(**t)
    )
    return "\n\n".join(out)


def _write_reports(
    cfg: Config, writers: list[WriterURI], tracker: ReportTracker, ok: bool
) -> list[str]:
    """Write the account next to each file output and at the report path (none for a dry
    run); returns the qualified paths."""
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    # a leading underscore keeps Spark and Hive readers of DIR from reading it
    copies = [
        join(w.target, f"_backfill-account-{stamp}.json") for w in writers if w.kind == "file"
    ]
    return tracker.write(ok, copies=copies)


def main(argv: list[str] | None = None) -> int:
    """Entry point of ``python -m eljobs backfill``."""
    return job_main("backfill", Config, run, argv)
