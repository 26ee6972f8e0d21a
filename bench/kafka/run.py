"""Benchmark: rows/s of eljobs' two Kafka sinks on Apache Kafka, against the floor measured in
the same run against the same broker: one plain confluent-kafka producer process sending the
same messages as fast as it can.

    .venv/bin/python bench/kafka/run.py [--n 1000000] [--topics 6] [--topic_partitions 3]
        [--tasks 1,2] [--runs 2]

Sides: ``spark`` (Spark's own ``format("kafka")``, the JVM producer), ``python`` (eljobs'
Python Data Source writer, confluent-kafka in Spark's Python workers), each with 1 and 2 sink
tasks (``--tasks``), and ``floor`` (one producer process).

Messages are capsule-sized JSON (about 450 bytes: schema, revision, event, userAgent, uuid, ...)
spread over ``eventlogging_<Schema>`` topics. They are generated once by Spark and written to a
local file; the floor process loads that file into memory before its clock starts, and the
sinks write the same rows from cached DataFrames (one per task count), so no side pays for
generation.

One Apache Kafka broker (single KRaft node from the set-up's jars) serves the whole run; every
measurement writes to topics of its own, created beforehand and deleted afterwards. All sides
use the same producer settings where the clients share them (idempotent, acks=all,
linger.ms=20), so the ratios compare ways of producing, not delivery guarantees. A sink's time
covers the whole ``write_to_kafka`` call: the broker and topic checks, the rows-per-topic
action, the end-offset readings of the account, the write job and the commit. Each side runs
``--runs`` times (the first run pays for starting workers); the best run of each side gives the
ratio, and every run is printed.

Target (issue 10): the faster eljobs sink >= 1.0 x the lone producer. On a 2-core machine the
broker shares the cores with Spark's JVM and the Python workers; the figures say what that
costs.
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


def floor_worker(path: str, servers: str, conf_json: str, prefix: str = "") -> None:
    """The floor: one process, one producer, every message as fast as it can, to ``prefix`` +
    each line's topic; prints JSON."""
    from confluent_kafka import Producer

    msgs: list[tuple[str, bytes]] = []
    for f in sorted(Path(path).glob("part-*")):
        with open(f, "rb") as fh:
            for line in fh:
                raw, _, value = line.rstrip(b"\n").partition(b"\t")
                msgs.append((prefix + raw.decode(), value))
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


def _versions() -> dict[str, str]:
    import confluent_kafka
    import pyarrow
    import pyspark

    jars = sorted((ROOT / ".jvm" / "kafka-broker").glob("kafka-server-[0-9]*.jar"))
    kafka = jars[-1].stem.removeprefix("kafka-server-") if jars else "?"
    return {
        "python": platform.python_version(),
        "pyspark": pyspark.__version__,
        "pyarrow": pyarrow.__version__,
        "confluent-kafka": confluent_kafka.version()[0],
        "librdkafka": confluent_kafka.libversion()[0],
        "apache-kafka": kafka,
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
    ap.add_argument("--tasks", default="1,2", help="sink task counts to measure (local[2])")
    ap.add_argument("--runs", type=int, default=2, help="runs of each side")
    ap.add_argument("--floor-worker", nargs=4, metavar=("PATH", "SERVERS", "CONF", "PREFIX"))
    args = ap.parse_args(argv)
    if args.floor_worker:
        floor_worker(*args.floor_worker)
        return 0
    task_counts = [int(x) for x in args.tasks.split(",")]

    work = Path(tempfile.mkdtemp(prefix="eljobs-bench-kafka-"))
    os.environ.setdefault("ELJOBS_WORK", str(work))
    from confluent_kafka.admin import AdminClient, NewTopic

    from eljobs.io.kafka import connector_available, producer_config, write_to_kafka
    from eljobs.spark import get_session
    from eljobs.testing.broker import EmbeddedBroker

    spark = get_session(
        "local",
        app_name="bench-kafka",
        conf={"spark.master": "local[2]", "spark.ui.enabled": "false"},
        hive=False,
    )
    if not connector_available(spark):
        raise SystemExit("bench/kafka: Spark's Kafka connector is not on the class path (set-up)")
    data = work / "messages"
    t0 = time.perf_counter()
    generate(spark, args.n, args.topics, data, max(task_counts))
    print(f"generated {args.n:,} messages in {time.perf_counter() - t0:.1f}s", flush=True)

    from pyspark.sql import functions as F

    base = spark.read.text(str(data)).select(
        F.substring_index("value", "\t", 1).alias("topic"),
        F.expr("substr(value, instr(value, '\t') + 1)").alias("value"),
    )
    frames = {k: base.repartition(k).cache() for k in task_counts}
    for k, frame in frames.items():
        assert frame.count() == args.n, k
    df = frames[task_counts[0]]
    stats = df.select(F.avg(F.length("value")).alias("avg")).first()
    topics = [r["topic"] for r in df.select("topic").distinct().collect()]
    assert stats is not None
    avg_bytes = float(stats["avg"])

    sides = [f"{sink} x{k}" for k in task_counts for sink in ("spark", "python")] + ["floor"]
    results: dict[str, list[float]] = {side: [] for side in sides}
    with EmbeddedBroker(impl="apache", log_path=work / "kafka.log") as broker:
        admin = AdminClient({"bootstrap.servers": broker.bootstrap_servers})
        seq = [0]

        def fresh() -> str:
            """Topics of their own for one measurement; returns their name prefix."""
            seq[0] += 1
            prefix = f"b{seq[0]}_"
            for fut in admin.create_topics(
                [NewTopic(prefix + t, args.topic_partitions, 1) for t in topics]
            ).values():
                fut.result()
            # Created is not yet visible: wait until metadata shows every topic.
            want = {prefix + t for t in topics}
            while not want <= set(admin.list_topics(timeout=30).topics):
                time.sleep(0.1)
            return prefix

        def drop(prefix: str) -> None:
            for fut in admin.delete_topics([prefix + t for t in topics]).values():
                fut.result()

        conf = producer_config(broker.bootstrap_servers, {}, timeout_s=120)
        for run in range(args.runs):
            for k in task_counts:
                for sink in ("spark", "python"):
                    prefix = fresh()
                    frame = frames[k].select(
                        F.concat(F.lit(prefix), F.col("topic")).alias("topic"), "value"
                    )
                    start = time.perf_counter()
                    res = write_to_kafka(
                        frame,
                        bootstrap_servers=broker.bootstrap_servers,
                        sink=sink,
                        # The topics exist; this only waits until metadata shows them.
                        create_topics=True,
                        topic_partitions=args.topic_partitions,
                        timeout_s=120,
                    )
                    secs = time.perf_counter() - start
                    assert res.total == args.n and res.duplicates == 0, res
                    drop(prefix)
                    side = f"{sink} x{k}"
                    results[side].append(args.n / secs)
                    print(
                        f"{side:10s} run {run + 1}: {args.n / secs:>10,.0f} rows/s ({secs:.1f}s)",
                        flush=True,
                    )

            prefix = fresh()
            out = subprocess.run(
                [
                    sys.executable,
                    __file__,
                    "--floor-worker",
                    str(data),
                    broker.bootstrap_servers,
                    json.dumps(conf),
                    prefix,
                ],
                capture_output=True,
                text=True,
                check=True,
            ).stdout
            floor = json.loads(out.strip().splitlines()[-1])
            assert floor["acked"] == args.n and floor["failed"] == 0, floor
            drop(prefix)
            results["floor"].append(args.n / floor["seconds"])
            print(
                f"{'floor':10s} run {run + 1}: {args.n / floor['seconds']:>10,.0f} rows/s "
                f"({floor['seconds']:.1f}s)",
                flush=True,
            )
    spark.stop()

    best = {side: max(rates) for side, rates in results.items()}
    print()
    print("bench/kafka: eljobs' Kafka sinks vs one plain confluent-kafka producer, Apache Kafka")
    print(f"machine:  {_machine()}")
    print(
        f"input:    {args.n:,} capsule JSON messages, {avg_bytes:.0f} bytes on average, "
        f"{len(topics)} topics x {args.topic_partitions} partitions, local[2]"
    )
    print(f"versions: {json.dumps(_versions())}")
    for side in sides:
        runs = ", ".join(f"{r:,.0f}" for r in results[side])
        ratio = best[side] / best["floor"]
        print(f"{side:10s} rows/s per run: {runs:30s} best/floor = {ratio:.2f}")
    fastest = max((s for s in sides if s != "floor"), key=lambda s: best[s])
    ratio = best[fastest] / best["floor"]
    print(
        f"fastest eljobs sink: {fastest}, {ratio:.2f} x the lone producer "
        f"(target >= 1.0: {'met' if ratio >= 1.0 else 'NOT met'})"
    )
    for sink in ("spark", "python"):
        if len(task_counts) > 1:
            lo, hi = f"{sink} x{task_counts[0]}", f"{sink} x{task_counts[-1]}"
            print(f"{sink}: {hi} / {lo} = {best[hi] / best[lo]:.2f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
