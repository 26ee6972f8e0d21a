"""Benchmark: rows/s of eljobs' Kafka sink (Python Data Source path) on local[2], against the
floor measured in the same run: one plain confluent-kafka producer process sending the same
messages as fast as it can.

    .venv/bin/python bench/kafka/run.py [--n 1000000] [--topics 6] [--topic_partitions 3]

Messages are capsule-sized JSON (about 450 bytes: schema, revision, event, userAgent, uuid, ...)
spread over ``eventlogging_<Schema>`` topics. They are generated once by Spark and written to a
local file; the floor process loads that file into memory before its clock starts, and the sink
writes the same rows from a cached DataFrame, so neither side pays for generation.

Each measured run gets a fresh broker (Tansu keeps everything in memory: about 1 GB per 4.3 M
messages) with the topics created beforehand. Both sides use the sink's producer settings
(idempotent, acks=all, linger.ms=20, ...), so the ratio measures parallel production from
Spark's executors against one process, not different delivery guarantees. The sink's time covers
the whole ``write_to_kafka`` call: the broker check, the rows-per-topic action that checks the
topics, the write job and the commit. Each side runs twice (the first sink run pays for starting
Python workers); the best run of each side gives the ratio, and every run is printed.

Target (issue 3): sink >= 1.5 x the single producer. On a 2-core machine the broker shares the
cores with Spark's JVM and both Python workers; the figures say what that costs.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

SCHEMAS = (
    "NavigationTiming",
    "EditAttemptStep",
    "SearchSatisfaction",
    "PaintTiming",
    "CentralNoticeImpression",
    "UniversalLanguageSelector",
    "VirtualPageView",
    "MobileWikiAppLinkPreview",
)


def generate(spark: object, n: int, n_topics: int, path: Path, partitions: int) -> None:
    """Write n lines ``topic TAB capsule-json`` to ``path`` (a Spark text folder)."""
    from pyspark.sql import functions as F

    names = SCHEMAS[:n_topics]
    schema = F.element_at(
        F.array(*[F.lit(s) for s in names]), (F.col("id") % len(names) + 1).cast("int")
    )
    ids = F.col("id")
    capsule = F.to_json(
        F.struct(
            F.date_format(
                F.timestamp_seconds(F.lit(1706925600) + ids % 3600), "yyyy-MM-dd'T'HH:mm:ss'Z'"
            ).alias("dt"),
            F.struct(
                (ids % 9000 + 100).alias("connectStart"),
                (ids % 7000 + 300).alias("domInteractive"),
            ).alias("event"),
            F.concat_ws(
                ".", (ids % 223 + 1).cast("string"), (ids % 251).cast("string"), F.lit("12.34")
            ).alias("ip"),
            F.concat(F.lit("cp"), (ids % 40 + 1000).cast("string"), F.lit(".eqiad.wmnet")).alias(
                "recvFrom"
            ),
            (ids % 5 + 17000000).alias("revision"),
            schema.alias("schema"),
            ids.alias("seqId"),
            F.struct(
                F.lit("Chrome").alias("browser_family"),
                (ids % 40 + 80).cast("string").alias("browser_major"),
                F.lit("0").alias("browser_minor"),
                F.lit("Other").alias("device_family"),
                F.lit(False).alias("is_bot"),
                F.lit(False).alias("is_mediawiki"),
                F.lit("Windows").alias("os_family"),
                F.lit("10").alias("os_major"),
                F.lit(None).cast("string").alias("os_minor"),
                F.lit("-").alias("wmf_app_version"),
            ).alias("userAgent"),
            F.md5(ids.cast("string")).alias("uuid"),
            F.lit("en.wikipedia.org").alias("webHost"),
            F.lit("enwiki").alias("wiki"),
        ),
        {"ignoreNullFields": "false"},
    )
    df = spark.range(n, numPartitions=partitions).select(  # type: ignore[attr-defined]
        F.concat(F.lit("eventlogging_"), schema, F.lit("\t"), capsule).alias("line")
    )
    df.write.mode("overwrite").text(str(path))


def floor_worker(path: str, servers: str, conf_json: str) -> None:
    """The floor: one process, one producer, every message as fast as it can; prints JSON."""
    from confluent_kafka import Producer

    msgs: list[tuple[str, bytes]] = []
    for f in sorted(Path(path).glob("part-*")):
        with open(f, "rb") as fh:
            for line in fh:
                topic, _, value = line.rstrip(b"\n").partition(b"\t")
                msgs.append((topic.decode(), value))
    failed = [0]

    def on_delivery(err: object, _msg: object) -> None:
        # With delivery.report.only.error (the sink's setting) only failures call back.
        if err is not None:
            failed[0] += 1

    conf = json.loads(conf_json)
    # confluent-kafka takes this one as a Python bool.
    conf["delivery.report.only.error"] = conf.get("delivery.report.only.error") == "true"
    producer = Producer({**conf, "on_delivery": on_delivery})
    produce, poll = producer.produce, producer.poll
    start = time.perf_counter()
    for topic, value in msgs:
        while True:
            try:
                produce(topic, value)
                break
            except BufferError:
                poll(0.05)
    remaining = producer.flush(300)
    elapsed = time.perf_counter() - start
    print(
        json.dumps(
            {
                "n": len(msgs),
                "acked": len(msgs) - failed[0] - remaining,
                "failed": failed[0] + remaining,
                "seconds": elapsed,
                "bytes": sum(len(v) for _, v in msgs),
            }
        )
    )


def transfer_only_rate(spark: object, df: object, n: int) -> float:
    """Rows/s of the same Arrow write path with no Kafka at all: Spark hands the batches to a
    Python Data Source writer that only turns the columns into Python lists, as the sink does
    before producing. The sink cannot be faster than this on the same cores."""
    from pyspark.sql.datasource import DataSource, DataSourceArrowWriter, WriterCommitMessage

    class _Writer(DataSourceArrowWriter):
        def write(self, iterator):  # type: ignore[no-untyped-def]
            for batch in iterator:
                batch.column(0).to_pylist()
                batch.column(1).to_pylist()
            return WriterCommitMessage()

    class _Source(DataSource):
        @classmethod
        def name(cls) -> str:
            return "bench_arrow_discard"

        def writer(self, schema, overwrite):  # type: ignore[no-untyped-def]
            return _Writer()

    spark.dataSource.register(_Source)  # type: ignore[attr-defined]
    start = time.perf_counter()
    df.write.format("bench_arrow_discard").mode("append").save()  # type: ignore[attr-defined]
    return n / (time.perf_counter() - start)


def _versions() -> dict[str, str]:
    import confluent_kafka
    import pyarrow
    import pyspark

    from eljobs.testing.broker import broker_binary

    tansu = subprocess.run([broker_binary(), "--version"], capture_output=True, text=True)
    return {
        "python": platform.python_version(),
        "pyspark": pyspark.__version__,
        "pyarrow": pyarrow.__version__,
        "confluent-kafka": confluent_kafka.version()[0],
        "librdkafka": confluent_kafka.libversion()[0],
        "tansu": (tansu.stdout or tansu.stderr).strip(),
    }


def _machine() -> str:
    from eljobs.testing.machine import total_memory

    load = os.getloadavg()
    return (
        f"nproc={os.cpu_count()} memory={total_memory()} "
        f"load average (1/5/15 min) {load[0]:.1f}/{load[1]:.1f}/{load[2]:.1f} "
        f"({platform.platform()})"
    )


def main(argv: list[str] | None = None) -> int:
    """Run the benchmark; prints the figures and returns 0."""
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--n", type=int, default=1_000_000, help="messages per run")
    ap.add_argument("--topics", type=int, default=6, help="number of topics (<= 8)")
    ap.add_argument("--topic_partitions", type=int, default=3)
    ap.add_argument("--spark_partitions", type=int, default=2, help="sink tasks (local[2])")
    ap.add_argument("--runs", type=int, default=2, help="runs of each side")
    ap.add_argument("--floor-worker", nargs=3, metavar=("PATH", "SERVERS", "CONF"))
    args = ap.parse_args(argv)
    if args.floor_worker:
        floor_worker(*args.floor_worker)
        return 0

    work = Path(tempfile.mkdtemp(prefix="eljobs-bench-kafka-"))
    os.environ.setdefault("ELJOBS_WORK", str(work))
    from confluent_kafka.admin import AdminClient, NewTopic

    from eljobs.io.kafka import producer_config, write_to_kafka
    from eljobs.spark import get_session
    from eljobs.testing.broker import EmbeddedBroker

    spark = get_session(
        "local",
        app_name="bench-kafka",
        conf={"spark.master": "local[2]", "spark.ui.enabled": "false"},
        hive=False,
    )
    data = work / "messages"
    t0 = time.perf_counter()
    generate(spark, args.n, args.topics, data, args.spark_partitions)
    print(f"generated {args.n:,} messages in {time.perf_counter() - t0:.1f}s", flush=True)

    from pyspark.sql import functions as F

    df = (
        spark.read.text(str(data))
        .select(
            F.substring_index("value", "\t", 1).alias("topic"),
            F.expr("substr(value, instr(value, '\t') + 1)").alias("value"),
        )
        .repartition(args.spark_partitions)
        .cache()
    )
    stats = df.select(F.count("*").alias("n"), F.avg(F.length("value")).alias("avg")).first()
    topics = [r["topic"] for r in df.select("topic").distinct().collect()]
    assert stats is not None
    avg_bytes = float(stats["avg"])

    results: dict[str, list[dict[str, float]]] = {"sink": [], "floor": []}
    with EmbeddedBroker(log_path=work / "tansu.log") as broker:

        def fresh() -> None:
            broker.restart()
            admin = AdminClient({"bootstrap.servers": broker.bootstrap_servers})
            for fut in admin.create_topics(
                [NewTopic(t, args.topic_partitions, 1) for t in topics]
            ).values():
                fut.result()

        conf = producer_config(broker.bootstrap_servers, {}, timeout_s=120)
        for run in range(args.runs):
            fresh()
            start = time.perf_counter()
            res = write_to_kafka(df, bootstrap_servers=broker.bootstrap_servers, timeout_s=120)
            secs = time.perf_counter() - start
            assert res.total == args.n, res.produced
            results["sink"].append({"seconds": secs, "rate": args.n / secs})
            print(f"sink  run {run + 1}: {args.n / secs:>10,.0f} rows/s ({secs:.1f}s)", flush=True)

            fresh()
            out = subprocess.run(
                [
                    sys.executable,
                    __file__,
                    "--floor-worker",
                    str(data),
                    broker.bootstrap_servers,
                    json.dumps(conf),
                ],
                capture_output=True,
                text=True,
                check=True,
            ).stdout
            floor = json.loads(out.strip().splitlines()[-1])
            assert floor["acked"] == args.n and floor["failed"] == 0, floor
            results["floor"].append(
                {"seconds": floor["seconds"], "rate": args.n / floor["seconds"]}
            )
            print(
                f"floor run {run + 1}: {args.n / floor['seconds']:>10,.0f} rows/s "
                f"({floor['seconds']:.1f}s)",
                flush=True,
            )
    # Measured after the sink runs, so Python workers are warm for it too.
    transfer = [transfer_only_rate(spark, df, args.n) for _ in range(args.runs)]
    spark.stop()

    best_sink = max(r["rate"] for r in results["sink"])
    best_floor = max(r["rate"] for r in results["floor"])
    ratio = best_sink / best_floor
    print()
    print("bench/kafka: eljobs Kafka sink (python path) vs one plain confluent-kafka producer")
    print(f"machine:  {_machine()}")
    print(
        f"input:    {args.n:,} capsule JSON messages, {avg_bytes:.0f} bytes on average, "
        f"{len(topics)} topics x {args.topic_partitions} partitions, "
        f"{args.spark_partitions} sink tasks on local[2]"
    )
    print(f"versions: {json.dumps(_versions())}")
    for side in ("sink", "floor"):
        runs = ", ".join(f"{r['rate']:,.0f}" for r in results[side])
        print(f"{side:6s} rows/s per run: {runs}")
    print(
        "spark->python Arrow transfer alone (no Kafka) rows/s per run: "
        + ", ".join(f"{r:,.0f}" for r in transfer)
    )
    print(f"best sink {best_sink:,.0f} rows/s, best floor {best_floor:,.0f} rows/s")
    print(f"ratio sink/floor = {ratio:.2f} (target >= 1.5: {'met' if ratio >= 1.5 else 'NOT met'})")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
