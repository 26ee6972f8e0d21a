"""``python -m eljobs extract``: every message of Kafka topics for a time window, to files.

Replaces the ``kafkacat -C -t TOPIC -p P -o OFFSET -c N`` step used to check what a topic holds
for a window. The window is ``[ceil(since), floor(until))`` in whole hours, as in the other jobs;
in each partition it runs from the first message whose timestamp is in the window to the first
one at or after its end (Kafka's by-timestamp offsets; see :mod:`eljobs.io.kafka.source`).
Partitions are read in parallel, one Spark partition per topic-partition.

On an exact plan (Apache Kafka), what was read is checked against it before anything is
written: per partition, every planned offset once and nothing else
(:func:`eljobs.io.kafka.source.check_read`; ``--allow_offset_gaps`` accepts offsets without a
message, as transactions and compaction leave). A read that fails (a broker gone for longer than
``--kafka_timeout``) or differs from the plan fails the run with exit 1, naming the servers and
topics; a partial window is never written as a complete one.

Output ``--output file:///DIR`` as ``DIR/topic=<topic>/part-*`` text files (topics extracted
again are replaced, others kept):

* ``--output_format value`` (default): the raw message values, one per line, ready to be fed
  back to refine as raw JSON. A value that is null or holds a line break cannot be one line:
  such messages are counted as rejected (per topic and hour) and the job exits 1; use
  ``record`` for them.
* ``--output_format record``: one JSON object per message with ``topic``, ``partition``,
  ``offset``, ``timestamp`` (milliseconds since the epoch, as ``kafkacat -J``), ``key`` and
  ``value`` (strings, or null).

The job prints messages read per topic and hour (read = written + rejected) and writes the same
account as a JSON report (``--report_path``; default ``<DIR>/_extract_report.json``, on whatever
file system ``DIR`` is: paths follow :mod:`eljobs.io.fs`, a bare path is on Hadoop's default
file system), checked writable before any work starts; a failed run writes it too, with
status ``failed``, the error and what was planned and counted before the failure. With
``--plot`` it also draws the messages read per hour and topic (every hour of the window, empty
ones as zero) as a PNG next to the report (:mod:`eljobs.plot`), so a gap shows at a glance.
"""

from __future__ import annotations

import importlib.util
import logging
import re
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Any, Literal

from py4j.protocol import Py4JError
from pyspark import StorageLevel
from pyspark.errors import PySparkException
from pyspark.sql import functions as F

from eljobs.config import option
from eljobs.io.fs import filesystem, join
from eljobs.io.kafka.options import KafkaClientOptions
from eljobs.io.kafka.source import RangeRead, check_read, plan_ranges, read_window
from eljobs.io.kafka.window import KafkaSourceError, PartitionRange
from eljobs.jobs.base import job_main
from eljobs.plot import events_per_hour_png
from eljobs.report import ReportTracker, format_table, tracking
from eljobs.timewindow import ceil_hour, floor_hour, hours_in_window, isoformat_z, utcnow

if TYPE_CHECKING:
    from pyspark.sql import DataFrame, SparkSession

    from eljobs.io.fs import FileSystem

log = logging.getLogger(__name__)


@dataclass(frozen=True, kw_only=True)
class Config(KafkaClientOptions):
    """Extract every message of Kafka topics for a time window into files."""

    bootstrap_servers: str = option(help="Kafka bootstrap servers, host:port[,host:port...].")
    topics: tuple[str, ...] = option((), help="Topics to read (comma separated).")
    topics_regex: re.Pattern[str] | None = option(
        None, help="Read every topic whose whole name matches this regex (instead of --topics)."
    )
    since: datetime = option(
        help="Start of the window: ISO-8601 or a whole number of hours ago (rounded up to the "
        "hour)."
    )
    until: datetime = option(
        default_factory=utcnow,
        default_doc="now",
        help="End of the window: ISO-8601 or hours ago (rounded down to the hour; exclusive).",
    )
    output: str = option(
        help="Output folder: file:///DIR, hdfs://..., or a bare path on the default file system."
    )
    output_format: Literal["value", "record"] = option(
        "value",
        help="value: raw message values one per line; record: JSON with topic, partition, "
        "offset, timestamp (ms), key and value.",
    )
    kafka_reader: Literal["auto", "spark", "python"] = option(
        "auto",
        help="spark (Spark's Kafka source, needs the spark-sql-kafka-0-10 connector), python "
        "(eljobs' Python Data Source reader) or auto (spark when the connector is present).",
    )
    allow_offset_gaps: bool = option(
        False,
        help="Accept planned offsets that hold no message (transaction markers, aborted "
        "transactions, compaction); by default any is a lost message and fails the run.",
    )
    report_path: str | None = option(
        None,
        default_doc="<output>/_extract_report.json",
        help="Where to write the JSON run report, on failure too; checked writable before "
        "any work starts.",
    )
    plot: bool = option(
        False,
        help="Also draw messages read per hour and topic as a PNG next to the JSON report "
        "(same name, .png); needs matplotlib.",
    )

    def validate(self) -> list[str]:
        """Every problem with the options."""
        problems = super().validate()
        if bool(self.topics) == (self.topics_regex is not None):
            problems.append("give exactly one of --topics and --topics_regex")
        if floor_hour(self.until) <= ceil_hour(self.since):
            problems.append(
                f"--since/--until: the window [{isoformat_z(ceil_hour(self.since))}, "
                f"{isoformat_z(floor_hour(self.until))}) holds no whole hour"
            )
        if not self.output.strip():
            problems.append("--output: expected file:///DIR")
        # Found, not imported: loading matplotlib takes about half a second.
        if self.plot and importlib.util.find_spec("matplotlib") is None:
            problems.append("--plot: expected matplotlib to be installed, found it missing")
        return problems

    def default_report(self, job: str) -> str:
        """The report's place without ``--report_path``: next to the output, on whatever file
        system the output is (see :func:`eljobs.report.report_target`)."""
        # a leading underscore keeps Spark and Hive readers of the output from taking it for data
        return join(self.output, f"_{job}_report.json")


@dataclass
class ExtractResult:
    """Outcome of one extract run."""

    ok: bool
    reader: str
    since: datetime
    until: datetime
    rows: list[dict[str, Any]] = field(default_factory=list)
    report_path: str | None = None
    """The qualified path of the JSON report."""
    plot_path: str | None = None
    """The qualified path of the PNG plot (``--plot``)."""

    @property
    def read(self) -> int:
        """Messages read in the window."""
        return sum(int(r["read"]) for r in self.rows)

    @property
    def written(self) -> int:
        """Messages written to the output."""
        return sum(int(r["written"]) for r in self.rows)

    def per_topic(self) -> dict[str, int]:
        """Messages written per topic."""
        out: dict[str, int] = {}
        for r in self.rows:
            out[r["topic"]] = out.get(r["topic"], 0) + int(r["written"])
        return out


def run(spark: SparkSession, cfg: Config) -> ExtractResult:
    """Plan, read, write and account for one window; the report is written on failure too."""
    fs = filesystem(spark)
    with tracking("extract", cfg, fs=fs) as tracker:
        return _run(spark, cfg, fs, tracker)


def _run(spark: SparkSession, cfg: Config, fs: FileSystem, tracker: ReportTracker) -> ExtractResult:
    since, until = ceil_hour(cfg.since), floor_hour(cfg.until)
    # Filled as the run goes: a failure report holds what was planned and counted.
    report = tracker.report
    out = fs.qualify(cfg.output)
    report.extra.update(
        {"window": {"since": isoformat_z(since), "until": isoformat_z(until)}, "output": out}
    )
    ranges = plan_ranges(
        bootstrap_servers=cfg.bootstrap_servers,
        topics=cfg.topics,
        topics_regex=cfg.topics_regex,
        since=since,
        until=until,
        options=cfg.kafka_option,
        timeout_s=cfg.kafka_timeout,
    )
    topics = sorted({r.topic for r in ranges})
    log.info(
        "extract %s .. %s: %d partitions of %s",
        isoformat_z(since),
        isoformat_z(until),
        len(ranges),
        ", ".join(topics) or "(none with data)",
    )
    try:
        reader = _read_check_write(spark, cfg, ranges, topics, out, tracker)
    except KafkaSourceError:
        raise
    except Exception as e:
        # A reader's task failed (the broker went away, a range ended early): Spark's error
        # names neither the servers nor, for the Python reader, the cause on its first line.
        if not _is_spark_error(e):
            raise
        raise KafkaSourceError(
            f"reading {', '.join(topics)} from {cfg.bootstrap_servers} (--kafka_reader "
            f"{cfg.kafka_reader}) failed; no output was committed: {_cause(e)}"
        ) from None

    rows = report.rows
    rejected_total = sum(r["rejected"] for r in rows)
    ok = rejected_total == 0
    table = format_table(
        ["topic", "hour", "read", "written", "rejected"],
        [[r["topic"], r["hour"], r["read"], r["written"], r["rejected"]] for r in rows]
        + [
            [
                "TOTAL",
                "",
                sum(r["read"] for r in rows),
                sum(r["written"] for r in rows),
                rejected_total,
            ]
        ],
        title=f"extract {isoformat_z(since)} .. {isoformat_z(until)} ({reader} reader) -> {out}",
    )
    print(table)
    if rejected_total:
        msg = (
            f"{rejected_total} messages are null or hold a line break and cannot be written "
            "one per line; rerun with --output_format record to keep them"
        )
        log.error(msg)
        report.failures.append({"reason": msg, "count": rejected_total})
    # extract has no dry run: there is always a report path, the last one written
    written_report = tracker.write(ok)[-1]
    print(f"report: {written_report}")
    plot_path = None
    if cfg.plot:
        png = events_per_hour_png(
            {"messages": rows},
            hours=[isoformat_z(h) for h in hours_in_window(since, until)],
            title=f"extract {isoformat_z(since)} .. {isoformat_z(until)}: messages per hour",
        )
        stem = (
            written_report[: -len(".json")] if written_report.endswith(".json") else written_report
        )
        plot_path = fs.qualify(f"{stem}.png")
        fs.write_bytes(plot_path, png)
        print(f"plot: {plot_path}")
    return ExtractResult(ok, reader, since, until, rows, written_report, plot_path)


def _read_check_write(
    spark: SparkSession,
    cfg: Config,
    ranges: list[PartitionRange],
    topics: list[str],
    out: str,
    tracker: ReportTracker,
) -> str:
    """Read the window once (into a cache), account for it, check it against the plan, then
    write it; the reader used. The report's rows are filled before the check and the write, so
    a failure report holds what was read."""
    report = tracker.report
    df, reader = read_window(
        spark,
        ranges,
        bootstrap_servers=cfg.bootstrap_servers,
        options=cfg.kafka_option,
        reader=cfg.kafka_reader,
        timeout_s=cfg.kafka_timeout,
    )
    log.info("extract reads with the %s Kafka reader", reader)
    exact = bool(ranges) and all(r.exact for r in ranges)
    report.extra.update(
        {
            "reader": reader,
            "partitions": len(ranges),
            # Exact plans read only these offsets (see eljobs.io.kafka.source).
            "plan": "offsets" if exact else "by timestamp",
            "planned_offsets": sum(r.offsets for r in ranges),
        }
    )

    if cfg.output_format == "value":
        line = F.col("value").cast("string")
        rejected = F.col("value").isNull() | F.col("value").cast("string").rlike("[\\r\\n]")
    else:
        line = F.to_json(
            F.struct(
                F.col("topic"),
                F.col("partition"),
                F.col("offset"),
                F.unix_millis(F.col("timestamp")).alias("timestamp"),
                F.col("key").cast("string").alias("key"),
                F.col("value").cast("string").alias("value"),
            ),
            {"ignoreNullFields": "false"},
        )
        rejected = F.lit(False)
    shaped = df.select(
        F.col("topic"),
        F.col("partition"),
        F.col("offset"),
        # The session time zone is UTC (eljobs.spark); a string avoids Python's local zone.
        F.date_format(F.col("timestamp"), "yyyy-MM-dd'T'HH:00:00'Z'").alias("hour"),
        line.alias("line"),
        rejected.alias("rejected"),
    ).persist(StorageLevel.MEMORY_AND_DISK)
    try:
        # Read once from Kafka (into the cache), then account, check and write from the cache.
        counts = (
            shaped.groupBy("topic", "hour")
            .agg(F.count(F.lit(1)).alias("read"), F.sum(F.col("rejected").cast("int")).alias("rej"))
            .orderBy("topic", "hour")
            .collect()
        )
        # The counts are known before the check and the write: a failure report holds them.
        report.rows = _rows(counts, topics)
        if exact:
            # Before writing: a window that is not the plan must not replace a good output.
            # Planned offsets without a message (only with --allow_offset_gaps can it be > 0).
            report.extra["missing_offsets"] = _check_against_plan(cfg, ranges, shaped, reader)
        (
            shaped.filter(~F.col("rejected"))
            .select("topic", "line")
            .write.mode("overwrite")
            .partitionBy("topic")
            .text(out)
        )
    finally:
        shaped.unpersist()
    return reader


def _check_against_plan(
    cfg: Config, ranges: list[PartitionRange], shaped: DataFrame, reader: str
) -> int:
    """Fail unless the reader returned every planned offset once (see
    :func:`eljobs.io.kafka.source.check_read`); the planned offsets without a message."""

    per_partition = (
        shaped.groupBy("topic", "partition")
        .agg(
            F.count(F.lit(1)).alias("n"),
            F.countDistinct("offset").alias("distinct"),
            F.min("offset").alias("first"),
            F.max("offset").alias("last"),
        )
        .collect()
    )
    reads = [
        RangeRead(r["topic"], int(r["partition"]), r["n"], r["distinct"], r["first"], r["last"])
        for r in per_partition
    ]
    missing, problems = check_read(
        ranges, reads, bootstrap_servers=cfg.bootstrap_servers, allow_gaps=cfg.allow_offset_gaps
    )
    if problems:
        shown = "; ".join(problems[:10]) + (
            f"; and {len(problems) - 10} more" if len(problems) > 10 else ""
        )
        raise KafkaSourceError(
            f"the {reader} reader did not return the planned window from "
            f"{cfg.bootstrap_servers}; nothing was written: {shown}"
        )
    if missing:
        log.warning("%d planned offsets hold no message (accepted by --allow_offset_gaps)", missing)
    return missing


def _is_spark_error(e: BaseException) -> bool:
    """Whether ``e`` is an error Spark raised for a failed job (Java or Python side)."""
    return isinstance(e, (Py4JError, PySparkException))


def _cause(e: BaseException, limit: int = 600) -> str:
    """The telling line of a Spark job failure: eljobs' own error raised in a Python worker,
    else the Kafka client's error, else the last "Caused by", else Spark's first line."""
    lines = [x.strip() for x in str(e).splitlines() if x.strip()]
    ours = [x for x in lines if "KafkaSourceError: " in x]
    kafka = [x[x.index("org.apache.kafka.") :] for x in lines if "org.apache.kafka." in x]
    kafka = [x for x in kafka if "Exception: " in x or "Error: " in x]
    caused = [x for x in lines if x.startswith("Caused by:")]
    for found in (ours, kafka, caused):
        if found:
            return (found[-1] if found is ours else found[0])[:limit]
    return (lines[0] if lines else type(e).__name__)[:limit]


def _rows(counts: list[Any], topics: list[str]) -> list[dict[str, Any]]:
    """Account rows per topic and hour (read = written + rejected); topics without messages in
    the window get one row of zeros."""
    rows: list[dict[str, Any]] = []
    for r in counts:
        rej = int(r["rej"] or 0)
        rows.append(
            {
                "topic": r["topic"],
                "hour": r["hour"],
                "read": int(r["read"]),
                "written": int(r["read"]) - rej,
                "rejected": rej,
            }
        )
    for t in topics:
        if not any(row["topic"] == t for row in rows):
            rows.append({"topic": t, "hour": "-", "read": 0, "written": 0, "rejected": 0})
    return rows


def main(argv: list[str] | None = None) -> int:
    """Command-line entry: ``python -m eljobs extract [options]``."""
    return job_main("extract", Config, run, argv)
