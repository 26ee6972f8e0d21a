"""Kafka source for a time window: plan per-partition ranges on the driver, read them in parallel.

:func:`plan_ranges` resolves the topics (a list, or a regular expression over the cluster's
topic names) and asks, for every partition, the offset of the first message at or after
``since`` (``offsets_for_times``). :func:`read_window` reads those ranges as one Spark
partition per topic-partition, with eljobs' Python Data Source reader (:class:`KafkaSource`,
``format("eljobs_kafka_source")``) or, when the connector is on the classpath, Spark's own Kafka
source with ``startingOffsetsByTimestamp``/``endingOffsetsByTimestamp``. Both give Spark's Kafka
source schema: ``key``, ``value`` (binary), ``topic``, ``partition``, ``offset``, ``timestamp``,
``timestampType``.

Window semantics are Kafka's (the same as Spark's by-timestamp offsets): in each partition,
from the first message whose timestamp is ``>= since`` up to, not including, the first message
whose timestamp is ``>= until`` (or the end of the partition).

The reader never trusts the broker's end offsets. Tansu (the embedded test broker) answers
"latest offset" wrongly and ignores the timestamp in ``offsets_for_times`` (it answers the
earliest offset), so the reader treats the planned start as a lower bound, skips messages
before ``since``, and reads until a message at or after ``until`` or the end of the partition
(librdkafka's partition-EOF event, which follows the fetch's high watermark). On a real broker
the planned start is exact and nothing is skipped.
"""

from __future__ import annotations

import json
import re
import uuid
import weakref
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import asdict, dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any

from eljobs.errors import InputError
from eljobs.io.kafka import activate, connector_available, split_options

try:
    from pyspark.sql.datasource import DataSource, DataSourceReader, InputPartition
except ImportError:  # pragma: no cover - a cluster brings its own pyspark
    DataSource = object  # type: ignore[assignment,misc]
    DataSourceReader = object  # type: ignore[assignment,misc]
    InputPartition = object  # type: ignore[assignment,misc]

if TYPE_CHECKING:
    import pyarrow as pa
    from pyspark.sql import DataFrame, SparkSession
    from pyspark.sql.types import StructType

SOURCE_NAME = "eljobs_kafka_source"
SCHEMA = (
    "key binary, value binary, topic string, partition int, offset bigint, "
    "timestamp timestamp, timestampType int"
)
BATCH_ROWS = 10_000


class KafkaSourceError(InputError):
    """Topics or partitions cannot be read; the message names servers, topics and partitions."""


@dataclass(frozen=True)
class PartitionRange:
    """One topic-partition to read: from ``start_offset`` (a lower bound of the window's first
    offset), keeping messages from the first with timestamp ``>= since_ms`` up to the first
    with timestamp ``>= until_ms`` or the end of the partition."""

    topic: str
    partition: int
    start_offset: int
    since_ms: int
    until_ms: int


def to_ms(dt: datetime) -> int:
    """Milliseconds since the epoch (aware or UTC-naive datetime)."""
    from eljobs.timewindow import to_utc

    return int(to_utc(dt).timestamp() * 1000)


def consumer_config(bootstrap_servers: str, options: Mapping[str, str]) -> dict[str, Any]:
    """librdkafka settings of the readers: defaults tuned for bulk reading, then ``options``
    (``kafka.``-prefixed). No offsets are ever committed."""
    client, _ = split_options(options)
    conf: dict[str, Any] = {
        "bootstrap.servers": bootstrap_servers,
        "group.id": f"eljobs-extract-{uuid.uuid4().hex[:12]}",
        "enable.auto.commit": "false",
        "enable.auto.offset.store": "false",
        "enable.partition.eof": "true",
        "auto.offset.reset": "earliest",
        # Bulk reading: bigger fetches, a short broker-side wait, a deep local queue.
        "fetch.wait.max.ms": "50",
        "fetch.min.bytes": "1",
        "fetch.max.bytes": str(64 * 1024 * 1024),
        "max.partition.fetch.bytes": str(8 * 1024 * 1024),
        "queued.min.messages": "200000",
        "queued.max.messages.kbytes": str(256 * 1024),
        "log_level": "3",
    }
    conf.update(client)
    return conf


def resolve_topics(
    available: Sequence[str], topics: Sequence[str], topics_regex: re.Pattern[str] | None
) -> list[str]:
    """The topics to read: ``topics`` (all must exist) or those matching ``topics_regex``
    (``fullmatch``; internal ``__`` topics excluded).

    Raises:
        KafkaSourceError: a named topic does not exist, or nothing matches the regex.
    """
    have = set(available)
    if topics_regex is not None:
        chosen = sorted(t for t in have if topics_regex.fullmatch(t) and not t.startswith("__"))
        if not chosen:
            raise KafkaSourceError(
                f"--topics_regex {topics_regex.pattern!r} matches no topic (the cluster has "
                f"{len(have)}: {', '.join(sorted(have)[:20])})"
            )
        return chosen
    missing = [t for t in topics if t not in have]
    if missing:
        raise KafkaSourceError(f"--topics: topics {', '.join(missing)} do not exist")
    return list(dict.fromkeys(topics))


def plan_ranges(
    *,
    bootstrap_servers: str,
    topics: Sequence[str] = (),
    topics_regex: re.Pattern[str] | None = None,
    since: datetime,
    until: datetime,
    options: Mapping[str, str] = {},
    timeout_s: float = 30.0,
) -> list[PartitionRange]:
    """One :class:`PartitionRange` per partition of the chosen topics (driver side).

    Raises:
        KafkaSourceError: the brokers did not answer in ``timeout_s``, or bad topics.
    """
    from confluent_kafka import Consumer, TopicPartition

    since_ms, until_ms = to_ms(since), to_ms(until)
    consumer = Consumer(consumer_config(bootstrap_servers, options))
    try:
        try:
            md = consumer.list_topics(timeout=timeout_s)
        except Exception as e:
            raise KafkaSourceError(
                f"Kafka brokers {bootstrap_servers} did not answer a metadata request within "
                f"{timeout_s:g}s ({e})"
            ) from None
        chosen = resolve_topics(list(md.topics), topics, topics_regex)
        wanted = [
            TopicPartition(t, p, since_ms) for t in chosen for p in sorted(md.topics[t].partitions)
        ]
        if not wanted:
            return []
        try:
            found = consumer.offsets_for_times(wanted, timeout=timeout_s)
        except Exception as e:
            raise KafkaSourceError(
                f"offsets for {since.isoformat()} of {', '.join(chosen)} from "
                f"{bootstrap_servers}: {e}"
            ) from None
        ranges = []
        for tp in found:
            if tp.error is not None:
                raise KafkaSourceError(
                    f"offset by time of {tp.topic}[{tp.partition}] on {bootstrap_servers}: "
                    f"{tp.error}"
                )
            if tp.offset < 0:
                # No message at or after `since` in this partition: nothing in the window.
                continue
            ranges.append(PartitionRange(tp.topic, tp.partition, tp.offset, since_ms, until_ms))
        return ranges
    finally:
        consumer.close()


def spark_source_options(
    ranges: Sequence[PartitionRange], *, bootstrap_servers: str, options: Mapping[str, str]
) -> dict[str, str]:
    """Options for Spark's own ``format("kafka")`` batch source reading the same window."""
    client, _ = split_options(options)
    starting: dict[str, dict[str, int]] = {}
    ending: dict[str, dict[str, int]] = {}
    for r in ranges:
        starting.setdefault(r.topic, {})[str(r.partition)] = r.since_ms
        ending.setdefault(r.topic, {})[str(r.partition)] = r.until_ms
    opts = {
        "kafka.bootstrap.servers": bootstrap_servers,
        "assign": json.dumps({t: sorted(int(p) for p in ps) for t, ps in starting.items()}),
        "startingOffsetsByTimestamp": json.dumps(starting, sort_keys=True),
        "endingOffsetsByTimestamp": json.dumps(ending, sort_keys=True),
        "startingOffsetsByTimestampStrategy": "latest",
        "failOnDataLoss": "true",
    }
    opts.update({f"kafka.{k}": v for k, v in client.items() if k != "bootstrap.servers"})
    return opts


_REGISTERED: weakref.WeakSet[Any] = weakref.WeakSet()  # sessions with our source


def read_window(
    spark: SparkSession,
    ranges: Sequence[PartitionRange],
    *,
    bootstrap_servers: str,
    options: Mapping[str, str] = {},
    reader: str = "auto",
    timeout_s: float = 30.0,
) -> tuple[DataFrame, str]:
    """A DataFrame over ``ranges`` (Spark's Kafka source schema) and the reader used.

    Args:
        reader: ``auto`` (Spark's source when the connector is on the classpath), ``spark``
            or ``python``.
        timeout_s: a partition that gives nothing (not even its end) for this long fails the
            task with an error naming the servers and the partition.
    """
    use_spark = reader == "spark" or (reader == "auto" and connector_available(spark))
    if reader == "spark" and not connector_available(spark):
        raise KafkaSourceError(
            "--kafka_reader spark: the spark-sql-kafka-0-10 connector is not on the classpath"
        )
    if use_spark:
        opts = spark_source_options(ranges, bootstrap_servers=bootstrap_servers, options=options)
        return spark.read.format("kafka").options(**opts).load().select(
            *[c.split()[0] for c in SCHEMA.split(", ")]
        ), "spark"
    activate(spark)
    if spark not in _REGISTERED:
        spark.dataSource.register(KafkaSource)
        _REGISTERED.add(spark)
    client, _ = split_options(options)
    r = (
        spark.read.format(SOURCE_NAME)
        .option("bootstrap_servers", bootstrap_servers)
        .option("ranges", json.dumps([asdict(x) for x in ranges]))
        .option("timeout_s", str(timeout_s))
    )
    for k, v in client.items():
        r = r.option(f"kafka.{k}", v)
    return r.load(), "python"


# --------------------------------------------------------------------------------------------
# The Python Data Source (runs in Spark's Python workers)


class RangePartition(InputPartition):
    """One Spark partition: one :class:`PartitionRange`."""

    def __init__(self, rng: PartitionRange) -> None:
        super().__init__(asdict(rng))
        self.rng = rng


class KafkaSource(DataSource):
    """``format("eljobs_kafka_source")``: options ``bootstrap_servers``, ``ranges`` (JSON list of
    :class:`PartitionRange`), ``timeout_s`` and ``kafka.*`` consumer settings."""

    @classmethod
    def name(cls) -> str:
        """The format name."""
        return SOURCE_NAME

    def schema(self) -> str:
        """Spark's Kafka source schema."""
        return SCHEMA

    def reader(self, schema: StructType) -> KafkaRangeReader:
        """A reader over the planned ranges."""
        return KafkaRangeReader(dict(self.options))


class KafkaRangeReader(DataSourceReader):
    """Reads each planned range with its own consumer, in Arrow batches."""

    def __init__(self, options: Mapping[str, str]) -> None:
        opts = {str(k): str(v) for k, v in options.items()}
        self.bootstrap_servers = opts["bootstrap_servers"]
        self.ranges = [PartitionRange(**r) for r in json.loads(opts.get("ranges", "[]"))]
        self.timeout_s = float(opts.get("timeout_s", "30"))
        kafka_opts = {k: v for k, v in opts.items() if k.lower().startswith("kafka.")}
        self.conf = consumer_config(self.bootstrap_servers, kafka_opts)

    def partitions(self) -> Sequence[InputPartition]:
        """One Spark partition per topic-partition range."""
        return [RangePartition(r) for r in self.ranges]

    def read(self, partition: InputPartition) -> Iterator[pa.RecordBatch]:
        """The window's messages of one topic-partition."""
        rng = partition.rng if isinstance(partition, RangePartition) else None
        if rng is None:
            rng = PartitionRange(**partition.value)
        return read_range(rng, self.conf, self.timeout_s)


def _batch(cols: dict[str, list[Any]]) -> pa.RecordBatch:
    import pyarrow as pa

    return pa.RecordBatch.from_arrays(
        [
            pa.array(cols["key"], pa.binary()),
            pa.array(cols["value"], pa.binary()),
            pa.array(cols["topic"], pa.string()),
            pa.array(cols["partition"], pa.int32()),
            pa.array(cols["offset"], pa.int64()),
            pa.array([t * 1000 for t in cols["timestamp"]], pa.timestamp("us", tz="UTC")),
            pa.array(cols["timestampType"], pa.int32()),
        ],
        names=["key", "value", "topic", "partition", "offset", "timestamp", "timestampType"],
    )


def read_range(
    rng: PartitionRange, conf: Mapping[str, Any], timeout_s: float
) -> Iterator[pa.RecordBatch]:
    """Yield Arrow batches of the messages of ``rng`` (see the module docstring for the
    window rule).

    Raises:
        KafkaSourceError: no progress (no message, no end of partition) for ``timeout_s``, or
            a consumer error; the message names the servers, topic, partition and offset.
    """
    import time

    from confluent_kafka import Consumer, KafkaError, TopicPartition

    servers = conf.get("bootstrap.servers", "?")
    where = f"{rng.topic}[{rng.partition}]"
    consumer = Consumer(dict(conf))
    try:
        consumer.assign([TopicPartition(rng.topic, rng.partition, rng.start_offset)])
        started = False
        done = False
        position = rng.start_offset
        cols: dict[str, list[Any]] = {
            k: [] for k in ("key", "value", "topic", "partition", "offset", "timestamp")
        }
        cols["timestampType"] = []
        last_progress = time.monotonic()
        while not done:
            msgs = consumer.consume(BATCH_ROWS, timeout=0.5)
            if not msgs:
                if time.monotonic() - last_progress > timeout_s:
                    raise KafkaSourceError(
                        f"reading {where} from {servers}: nothing received for {timeout_s:g}s "
                        f"at offset {position} (broker down, or the partition is gone)"
                    )
                continue
            last_progress = time.monotonic()
            for m in msgs:
                err = m.error()
                if err is not None:
                    if err.code() == KafkaError._PARTITION_EOF:
                        done = True
                        break
                    if err.retriable():
                        continue
                    raise KafkaSourceError(f"reading {where} from {servers} at {position}: {err}")
                ts_type, ts = m.timestamp()
                if not started:
                    if ts < rng.since_ms:
                        continue
                    started = True
                if ts >= rng.until_ms:
                    done = True
                    break
                position = int(m.offset() or 0)
                cols["key"].append(m.key())
                cols["value"].append(m.value())
                cols["offset"].append(position)
                cols["timestamp"].append(ts)
                cols["timestampType"].append(ts_type - 1 if ts_type > 0 else -1)
            n = len(cols["offset"])
            if n >= BATCH_ROWS or (done and n):
                cols["topic"] = [rng.topic] * n
                cols["partition"] = [rng.partition] * n
                yield _batch(cols)
                for v in cols.values():
                    v.clear()
    finally:
        consumer.close()
