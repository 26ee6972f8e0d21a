"""The end-to-end demo, the README's first command (``make demo``, ``python -m eljobs.demo``).

On local Spark and an embedded Kafka broker, in ``work/demo`` (replaced on each run), it plays
the life of a few hours of EventLogging data, as an operator would see it:

1. **sample** raw client-side hours, generated from the real schemas (``../shared/data``, or
   the copies bundled with eljobs): varnishkafka lines in Hadoop SequenceFiles laid out like
   the Camus import (``raw/eventlogging_client_side/<yyyy>/<MM>/<dd>/<HH>``), with a share of
   invalid lines of every kind;
2. **extract** the window from the broker: nothing there yet (the gap to fill);
3. **backfill** the hours into Kafka topics ``eventlogging_<Schema>`` (EventErrors to
   ``eventlogging_EventError``);
4. **extract** again: the topics now hold what the backfill produced, message for message;
5. **import** the extracted events as hourly raw partitions
   (``raw/eventlogging_legacy/eventlogging_<Schema>/year=/month=/day=/hour=``), which is the
   Kafka importer's job in production (Gobblin), not eljobs';
6. **refine** them into Hive tables of database ``event`` (EventLogging capsule schemas, the
   production transform functions);
7. **refine_sanitize** ``event`` into ``event_sanitized`` through the analytics allowlist, with
   salts made by ``salts rotate``.

Each job prints its own account table; the demo adds what each step means and where its output
is, and ends with a summary. The broker and Spark are stopped on the way out, whatever happens
(``try``/``finally``, and the broker's ``atexit`` hook), so no process is left behind.

``--small`` runs the same steps on one hour of three schemas (the test suite uses it).
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import sys
import time
import traceback
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pyspark.sql import functions as F

from eljobs.io.kafka.window import KafkaSourceError
from eljobs.jobs import backfill, extract, refine, refine_sanitize, salts
from eljobs.log import setup_logging
from eljobs.report import format_table
from eljobs.spark import get_session
from eljobs.testing.broker import EmbeddedBroker
from eljobs.testing.sample import (
    DEMO_SCHEMAS,
    generate_lines,
    schemas_source,
    write_sample_schemas,
    write_sequence_hour,
)
from eljobs.timewindow import floor_hour, utcnow

if TYPE_CHECKING:
    from pyspark.sql import DataFrame, SparkSession

ROOT = Path(__file__).resolve().parent.parent
SHARED_ALLOWLIST = ROOT.parent / "shared" / "data" / "allowlists"
BUNDLED_ALLOWLIST = ROOT / "conf" / "demo_allowlist.yaml"
ANALYTICS_ALLOWLIST = "event_sanitized_analytics_allowlist.yaml"


@dataclass(frozen=True)
class DemoSettings:
    """How much data the demo makes.

    Attributes:
        hours: how many whole hours of raw data, ending at the last whole hour before now.
        lines_per_hour: raw lines per hour.
        schemas: Event Platform names of the schemas used (``../shared`` directory names).
        invalid_fraction: share of invalid lines (every kind of error appears).
        seed: random seed of the generator.
        database: the Hive database refine writes (production: ``event``).
        sanitized_database: the one refine_sanitize writes (production: ``event_sanitized``).
    """

    hours: int = 2
    lines_per_hour: int = 1500
    schemas: tuple[str, ...] = DEMO_SCHEMAS
    invalid_fraction: float = 0.03
    seed: int = 20240115
    database: str = "event"
    sanitized_database: str = "event_sanitized"


#: The ``--small`` settings: one hour, three schemas.
SMALL = DemoSettings(
    hours=1,
    lines_per_hour=300,
    schemas=("navigationtiming", "editattemptstep", "searchsatisfaction"),
    invalid_fraction=0.05,
)


@dataclass
class DemoResult:
    """What each step of the demo returned (the jobs' own result objects)."""

    since: datetime
    until: datetime
    paths: dict[str, Path]
    raw_lines: int = 0
    gap: Any = None
    backfill: Any = None
    extract: Any = None
    imported: dict[str, int] = field(default_factory=dict)
    refine: Any = None
    sanitize: Any = None
    tables: dict[str, dict[str, int]] = field(default_factory=dict)
    seconds: dict[str, float] = field(default_factory=dict)


def _step(n: int, title: str, what: str) -> None:
    bar = "=" * max(4, 96 - len(title) - 12)
    print(f"\n== step {n}/7: {title} {bar}", flush=True)
    print(what, flush=True)


def _hour_path(h: datetime) -> str:
    return h.strftime("%Y/%m/%d/%H")


def _allowlist() -> Path:
    shared = SHARED_ALLOWLIST / ANALYTICS_ALLOWLIST
    return shared if shared.is_file() else BUNDLED_ALLOWLIST


def demo_paths(work: Path) -> dict[str, Path]:
    """Where each step writes, under ``work``."""
    return {
        "work": work,
        "schemas": work / "schemas",
        "raw_client_side": work / "raw" / "eventlogging_client_side",
        "extract_before": work / "extract" / "before",
        "extract_after": work / "extract" / "after",
        "raw_legacy": work / "raw" / "eventlogging_legacy",
        "event": work / "event",
        "event_sanitized": work / "event_sanitized",
        "salts": work / "salts",
        "reports": work / "reports",
    }


# ------------------------------------------------------------------------------------ steps


def write_sample(
    spark: SparkSession, settings: DemoSettings, paths: dict[str, Path], hours: list[datetime]
) -> int:
    """Step 1: schemas in EventLogging layout and SequenceFile raw hours; returns lines written."""
    schemas = write_sample_schemas(paths["schemas"], settings.schemas)
    total = 0
    first_seq = 1
    for i, hour in enumerate(hours):
        lines = generate_lines(
            schemas,
            settings.lines_per_hour,
            hour=hour,
            seed=settings.seed + i,
            first_seq=first_seq,
            invalid_fraction=settings.invalid_fraction,
        )
        first_seq += len(lines)
        write_sequence_hour(
            spark,
            paths["raw_client_side"] / _hour_path(hour),
            [s.line for s in lines],
            first_key=total,
        )
        total += len(lines)
        kinds: dict[str, int] = {}
        for s in lines:
            kinds[s.kind] = kinds.get(s.kind, 0) + 1
        invalid = sum(n for k, n in kinds.items() if k != "valid")
        print(
            f"  hour {hour:%Y-%m-%dT%H}: {len(lines)} raw lines ({invalid} invalid on purpose) in "
            f"{paths['raw_client_side'] / _hour_path(hour)}"
        )
    names = ", ".join(f"{s.name} (revision {s.revision})" for s in schemas)
    print(f"  schemas from {schemas_source()}: {names}")
    print(f"  written for --schemas_path as <Name>/<revision>.json in {paths['schemas']}")
    return total


def run_extract(
    spark: SparkSession, bootstrap: str, since: datetime, until: datetime, out: Path
) -> Any:
    """Steps 2 and 4: every message of the eventlogging_* topics in [since, until)."""
    cfg = extract.Config(
        bootstrap_servers=bootstrap,
        topics_regex=re.compile("eventlogging_.*"),
        since=since,
        until=until,
        output=out.as_uri(),
    )
    return extract.run(spark, cfg)


def run_backfill(
    spark: SparkSession, bootstrap: str, since: datetime, until: datetime, paths: dict[str, Path]
) -> Any:
    """Step 3: the raw hours into Kafka, as the production procedure did."""
    cfg = backfill.Config(
        # The production format and topics of conf/backfill_eventlogging_client_side.properties.
        format="%q %{recvFrom}s %{seqId}d %D %{ip}i %u",
        input_path_datetime_format="yyyy/MM/dd/HH",
        input_path=str(paths["raw_client_side"]),
        schemas_path=(str(paths["schemas"]),),
        output=(f"kafka:///{bootstrap}?topic=eventlogging_{{schema}}",),
        output_invalid=backfill.FIRST_OUTPUT,
        create_topics=True,
        since=since,
        until=until,
        report_path=str(paths["reports"] / "backfill.json"),
    )
    return backfill.run(spark, cfg)


def import_hourly(spark: SparkSession, extracted: Path, out: Path) -> dict[str, int]:
    """Step 5: lay the extracted capsules out by event hour, as the importer does in production:
    ``out/<topic>/year=YYYY/month=MM/day=DD/hour=HH``. EventErrors are not refined."""
    staged = out.with_name(out.name + "_staging")
    events: DataFrame = (
        spark.read.text(str(extracted))  # discovers the topic=<topic> directories as a column
        .where(F.col("topic") != "eventlogging_EventError")
        .withColumn("ts", F.to_timestamp(F.get_json_object("value", "$.dt")))
    )
    hourly = events.select(
        "value",
        "topic",
        F.date_format("ts", "yyyy").alias("year"),
        F.date_format("ts", "MM").alias("month"),
        F.date_format("ts", "dd").alias("day"),
        F.date_format("ts", "HH").alias("hour"),
    )
    counts = {r["topic"]: r["count"] for r in hourly.groupBy("topic").count().collect()}
    hourly.coalesce(1).write.mode("overwrite").partitionBy(
        "topic", "year", "month", "day", "hour"
    ).text(str(staged))
    out.mkdir(parents=True, exist_ok=True)
    for d in sorted(staged.glob("topic=*")):
        target = out / d.name.split("=", 1)[1]
        shutil.rmtree(target, ignore_errors=True)
        d.rename(target)
    shutil.rmtree(staged)
    return counts


def run_refine(
    spark: SparkSession, since: datetime, until: datetime, paths: dict[str, Path], database: str
) -> Any:
    """Step 6: raw hourly partitions -> Hive tables in database ``event``."""
    # Like the Scala job, refine writes into existing databases: create the demo's.
    spark.sql(f"CREATE DATABASE IF NOT EXISTS {database} LOCATION '{paths['event']}'")
    base = re.escape(str(paths["raw_legacy"]))
    cfg = refine.Config(
        input_path=str(paths["raw_legacy"]),
        input_path_regex=re.compile(
            rf"{base}/eventlogging_(.+)/year=(\d+)/month=(\d+)/day=(\d+)/hour=(\d+)"
        ),
        input_path_regex_capture_groups=("table", "year", "month", "day", "hour"),
        output_path=str(paths["event"]),
        output_database=database,
        schema_base_uris=("eventlogging",),
        eventlogging_schemas_path=str(paths["schemas"]),
        transform_functions=("filter_allowed_domains", "event_transforms"),
        # The demo geocodes with the bundled GeoLite2 City of 2018, not production data.
        geocode_database="bundled",
        merge_with_hive_schema_before_read=True,
        parallelism=2,
        since=since,
        until=until,
        report_path=str(paths["reports"] / "refine.json"),
    )
    return refine.run(spark, cfg)


def run_sanitize(
    spark: SparkSession,
    since: datetime,
    until: datetime,
    paths: dict[str, Path],
    hours: list[datetime],
    databases: tuple[str, str],
) -> Any:
    """Step 7: ``salts rotate`` then ``event`` -> ``event_sanitized`` through the allowlist."""
    source, target = databases
    # One rotation per distinct quarter: the demo hours may straddle a quarter's start.
    for when in sorted({hours[0], utcnow()}):
        salts.run(None, salts.Config(salts_path=str(paths["salts"]), now=when))
    spark.sql(f"CREATE DATABASE IF NOT EXISTS {target} LOCATION '{paths['event_sanitized']}'")
    cfg_s = refine_sanitize.Config(
        input_database=source,
        output_database=target,
        output_path=str(paths["event_sanitized"]),
        allowlist_path=str(_allowlist()),
        keep_all_enabled=False,
        salts_path=str(paths["salts"]),
        parallelism=2,
        since=since,
        until=until,
        report_path=str(paths["reports"] / "refine_sanitize.json"),
    )
    return refine_sanitize.run(spark, cfg_s)


def table_counts(spark: SparkSession, database: str) -> dict[str, int]:
    """Rows per table of ``database`` (empty when it does not exist)."""
    if not spark.catalog.databaseExists(database):
        return {}
    out = {}
    for t in sorted(spark.catalog.listTables(database), key=lambda t: t.name):
        out[t.name] = spark.table(f"{database}.{t.name}").count()
    return out


# ------------------------------------------------------------------------------------ driver


def run_demo(
    spark: SparkSession,
    settings: DemoSettings,
    *,
    work: Path,
    bootstrap: str,
    now: datetime | None = None,
) -> DemoResult:
    """Run the seven steps with ``spark`` and the broker at ``bootstrap``; prints as it goes."""
    now = now or utcnow()
    until = floor_hour(now)
    since = until - timedelta(hours=settings.hours)
    hours = [since + timedelta(hours=i) for i in range(settings.hours)]
    paths = demo_paths(work)
    paths["reports"].mkdir(parents=True, exist_ok=True)
    result = DemoResult(since=since, until=until, paths=paths)
    # Kafka record timestamps are the produce time (now), so the extract window reaches the
    # end of the current hour.
    kafka_until = until + timedelta(hours=1)

    def timed(name: str, fn: Any, *args: Any) -> Any:
        t0 = time.monotonic()
        out = fn(*args)
        result.seconds[name] = time.monotonic() - t0
        return out

    window = f"[{since:%Y-%m-%dT%H}:00Z, {until:%Y-%m-%dT%H}:00Z)"
    _step(
        1, "sample raw hours", f"Raw client-side data for the hours {window}, as Camus imported it."
    )
    result.raw_lines = timed("sample", write_sample, spark, settings, paths, hours)

    _step(
        2,
        "find the gap (extract)",
        f"What do the eventlogging_* topics of {bootstrap} hold for {window}? (kafkacat's job)",
    )
    try:
        result.gap = timed(
            "gap", run_extract, spark, bootstrap, since, kafka_until, paths["extract_before"]
        )
        print(f"  -> {_total(result.gap)} messages: the hours are missing, backfill them.")
    except KafkaSourceError as e:
        # A fresh broker has no topic at all: extract says so instead of reading nothing.
        print(f"  extract: {e}")
        print("  -> no eventlogging_* topic exists yet: the whole window is missing, backfill it.")

    _step(
        3,
        "backfill",
        "Parse and validate every raw line (eventlogging-processor's job), produce valid "
        "capsules to eventlogging_<Schema> and EventErrors to eventlogging_EventError.",
    )
    result.backfill = timed("backfill", run_backfill, spark, bootstrap, since, until, paths)

    _step(4, "check the account (extract again)", f"The same window, read back from {bootstrap}.")
    result.extract = timed(
        "extract",
        run_extract,
        spark,
        bootstrap,
        since,
        floor_hour(utcnow()) + timedelta(hours=1),  # the backfill may have crossed an hour
        paths["extract_after"],
    )
    produced = _produced(result.backfill)
    extracted = _extracted(result.extract)
    same = produced == extracted
    print(
        f"  -> backfill produced {sum(produced.values())} messages to {len(produced)} topics; "
        f"extract read {sum(extracted.values())}: "
        + ("the same counts on every topic." if same else f"MISMATCH {produced} != {extracted}")
    )

    _step(
        5,
        "import by event hour",
        "Lay the extracted capsules out as hourly raw partitions by their dt (in production the "
        f"Kafka importer does this) under {paths['raw_legacy']}.",
    )
    result.imported = timed(
        "import", import_hourly, spark, paths["extract_after"], paths["raw_legacy"]
    )
    print(
        format_table(
            ["topic", "events"],
            [[t, n] for t, n in sorted(result.imported.items())],
            title="imported",
        )
    )

    dbs = (settings.database, settings.sanitized_database)
    _step(
        6,
        "refine",
        f"Raw hourly partitions -> Hive tables of database `{dbs[0]}` (capsule schemas, the "
        "production transform functions: allowed domains, dedup, geocoding, user agents).",
    )
    result.refine = timed("refine", run_refine, spark, since, until, paths, dbs[0])

    _step(
        7,
        "refine_sanitize",
        f"`{dbs[0]}` -> `{dbs[1]}` through {_allowlist().name} (keep_all off), hashing with "
        f"salts from `salts rotate` in {paths['salts']}. Tables the allowlist does not list "
        "are not copied; fields it does not list are NULL.",
    )
    result.sanitize = timed("refine_sanitize", run_sanitize, spark, since, until, paths, hours, dbs)

    result.tables = {db: table_counts(spark, db) for db in dbs}
    return result


def _total(extract_result: Any) -> int:
    return sum(_extracted(extract_result).values())


def _extracted(extract_result: Any) -> dict[str, int]:
    """Messages read per topic by an extract run."""
    out: dict[str, int] = {}
    for row in extract_result.rows:
        out[row["topic"]] = out.get(row["topic"], 0) + int(row["read"])
    return {t: n for t, n in out.items() if n}


def _produced(backfill_result: Any) -> dict[str, int]:
    """Messages produced per topic by a backfill run (all writers together)."""
    out: dict[str, int] = {}
    for counts in backfill_result.written.values():
        for topic, n in counts.items():
            out[topic] = out.get(topic, 0) + n
    return out


def summary(result: DemoResult) -> str:
    """The closing summary: counts at each stage and where everything is."""
    totals = result.backfill.totals()
    rows = [
        ["raw lines (sample)", result.raw_lines, str(result.paths["raw_client_side"])],
        ["lines read by backfill", totals["read"], "read = valid + invalid"],
        ["valid capsules", totals["valid"], "topics eventlogging_<Schema>"],
        [
            "invalid (EventError)",
            totals["validation"] + totals["processor"],
            f"validation {totals['validation']}, processor {totals['processor']}",
        ],
        ["messages extracted", _total(result.extract), str(result.paths["extract_after"])],
        ["events imported", sum(result.imported.values()), str(result.paths["raw_legacy"])],
    ]
    for key, (db, tables) in zip(("event", "event_sanitized"), result.tables.items(), strict=True):
        location = result.paths[key]
        rows.append(
            [f"rows in {db}.*", sum(tables.values()), f"{len(tables)} tables in {location}"]
        )
    parts = [format_table(["stage", "count", "where / note"], rows, title="eljobs demo: summary")]
    for db, tables in result.tables.items():
        parts.append(
            format_table(["table", "rows"], [[f"{db}.{t}", n] for t, n in tables.items()], title=db)
        )
    timing = ", ".join(f"{k} {v:.0f}s" for k, v in result.seconds.items())
    parts.append(f"time per step: {timing}")
    parts.append(
        f"run reports (JSON): {result.paths['reports']}; Hive metastore and warehouse: "
        f"{result.paths['work']}"
    )
    return "\n\n".join(parts)


def ok(result: DemoResult) -> bool:
    """Every job ran and every count adds up."""
    return bool(
        result.backfill.ok
        and result.extract.ok
        and result.refine.ok
        and result.sanitize.ok
        and _produced(result.backfill) == _extracted(result.extract)
        and any(result.tables.values())
    )


def main(argv: Sequence[str] | None = None) -> int:
    """``python -m eljobs.demo [--small] [--work DIR]``."""
    ap = argparse.ArgumentParser(prog="python -m eljobs.demo", description=__doc__.split("\n\n")[0])
    ap.add_argument("--small", action="store_true", help="one hour of three schemas (quick)")
    ap.add_argument("--work", default="work/demo", help="work folder, replaced (default work/demo)")
    args = ap.parse_args(argv)
    settings = SMALL if args.small else DemoSettings()
    work = Path(args.work).absolute()
    shutil.rmtree(work, ignore_errors=True)
    work.mkdir(parents=True)
    # The embedded metastore, warehouse and reports of this run live in the demo folder.
    os.environ["ELJOBS_WORK"] = str(work)
    os.environ.setdefault("LOG_LEVEL", "WARNING")

    setup_logging()
    started = time.monotonic()
    print(f"eljobs demo: work folder {work}", flush=True)
    broker = EmbeddedBroker(log_path=work / "broker.log")
    spark = None
    try:
        broker.start()
        print(
            f"local Apache Kafka broker (one KRaft node) on {broker.bootstrap_servers}, "
            f"pid {broker.pid}"
        )
        spark = get_session(
            "local",
            app_name="eljobs-demo",
            conf={
                "spark.sql.shuffle.partitions": "4",
                # The demo prints tables: no progress bar or UI in between.
                "spark.ui.showConsoleProgress": "false",
                "spark.ui.enabled": "false",
                "spark.sql.debug.maxToStringFields": "1000",
            },
        )
        print(f"local Spark {spark.version}, master {spark.sparkContext.master}")
        result = run_demo(spark, settings, work=work, bootstrap=broker.bootstrap_servers)
        print("\n" + summary(result))
        good = ok(result)
    except Exception as e:  # say what failed in one line after the traceback, then clean up
        traceback.print_exc()
        print(f"\neljobs demo: a step failed: {type(e).__name__}: {str(e).splitlines()[0]}")
        good = False
    finally:
        if spark is not None:
            spark.stop()
        broker.stop()
    minutes = (time.monotonic() - started) / 60
    verdict = "every step ran and the counts add up" if good else "SOMETHING FAILED (see above)"
    print(f"\neljobs demo finished in {minutes:.1f} min: {verdict}. Broker and Spark stopped.")
    return 0 if good else 1


if __name__ == "__main__":
    sys.exit(main())
