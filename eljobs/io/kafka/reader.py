"""eljobs' Kafka window reader: a Spark 4 Python Data Source (``format("eljobs_kafka_source")``)
whose tasks run in Spark's Python workers, one consumer per planned partition range (see
:mod:`eljobs.io.kafka.source` for the planning and the window rule)."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import asdict
from typing import TYPE_CHECKING, Any

from eljobs.io.kafka.options import consumer_config
from eljobs.io.kafka.window import SCHEMA, SOURCE_NAME, KafkaSourceError, PartitionRange

try:
    from pyspark.sql.datasource import DataSource, DataSourceReader, InputPartition
except ImportError:  # pragma: no cover - a cluster brings its own pyspark
    DataSource = object  # type: ignore[assignment,misc]
    DataSourceReader = object  # type: ignore[assignment,misc]
    InputPartition = object  # type: ignore[assignment,misc]

# pyarrow and confluent_kafka are imported in the executors' read tasks only: extract's driver
# imports this module and needs neither.

if TYPE_CHECKING:
    import pyarrow as pa
    from pyspark.sql.types import StructType

BATCH_ROWS = 10_000


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


def _is_progress(m: Any) -> bool:
    """Whether a consumed item is a message or the end of the partition (not an error)."""
    from confluent_kafka import KafkaError  # on the executor, with the consumer that needs it

    err = m.error()
    return err is None or err.code() == KafkaError._PARTITION_EOF


def read_range(
    rng: PartitionRange,
    conf: Mapping[str, Any],
    timeout_s: float,
    stats: dict[str, int] | None = None,
) -> Iterator[pa.RecordBatch]:
    """Yield Arrow batches of the messages of ``rng`` (see :class:`PartitionRange` for exact
    and work-around ranges).

    Args:
        stats: if given, ``stats["fetched"]`` counts the messages taken from the consumer
            (kept or not): what reading the range cost.

    Raises:
        KafkaSourceError: no progress (no message, no end of partition) for ``timeout_s``; a
            consumer error; or, for an exact range, the partition ended before the planned end
            offset (a broker that lost messages, or came back without them). The message names
            the servers, topic, partition and offsets.
    """
    from confluent_kafka import Consumer, KafkaError, TopicPartition

    servers = conf.get("bootstrap.servers", "?")
    where = f"{rng.topic}[{rng.partition}]"
    exact = rng.exact
    if stats is not None:
        stats.setdefault("fetched", 0)
    settings = dict(conf)
    if exact:
        # Never let the consumer move itself: after a broker restart or a retention clean-up,
        # an offset "out of range" would otherwise send it to the earliest offset (messages
        # read twice, and from outside the window) instead of failing.
        settings["auto.offset.reset"] = "error"
    consumer = Consumer(settings)
    try:
        consumer.assign([TopicPartition(rng.topic, rng.partition, rng.start_offset)])
        started = exact  # an exact range starts at the window's first message
        done = False
        position = rng.start_offset  # the next offset wanted
        cols: dict[str, list[Any]] = {
            k: [] for k in ("key", "value", "topic", "partition", "offset", "timestamp")
        }
        cols["timestampType"] = []
        last_progress = time.monotonic()
        while not done:
            # An exact range never takes more from the consumer than it still needs.
            want = min(BATCH_ROWS, rng.end_offset - position) if exact else BATCH_ROWS
            msgs = consumer.consume(max(1, want), timeout=0.5)
            if any(_is_progress(m) for m in msgs):
                last_progress = time.monotonic()
            elif time.monotonic() - last_progress > timeout_s:
                # Retriable errors are not progress either: they would otherwise keep a
                # reader waiting on a dead broker for ever.
                raise KafkaSourceError(
                    f"reading {where} from {servers}: nothing received for {timeout_s:g}s "
                    f"at offset {position}"
                    + (f" of the planned end {rng.end_offset}" if exact else "")
                    + " (broker down, or the partition is gone)"
                )
            for m in msgs:
                err = m.error()
                if err is not None:
                    if err.code() == KafkaError._PARTITION_EOF:
                        end = int(m.offset() or 0)
                        if exact and end < rng.end_offset:
                            raise KafkaSourceError(
                                f"reading {where} from {servers}: the partition ends at offset "
                                f"{end}, before the planned end {rng.end_offset} (messages "
                                "lost on the broker?); the window is incomplete"
                            )
                        done = True
                        break
                    if err.retriable():
                        continue
                    raise KafkaSourceError(f"reading {where} from {servers} at {position}: {err}")
                if stats is not None:
                    stats["fetched"] += 1
                offset = int(m.offset() or 0)
                if exact and offset >= rng.end_offset:
                    done = True
                    break
                if exact and offset < position:
                    raise KafkaSourceError(
                        f"reading {where} from {servers}: offset {offset} came after offset "
                        f"{position - 1}; expected rising offsets (the consumer went back, "
                        "which would read messages twice)"
                    )
                ts_type, ts = m.timestamp()
                if not exact:
                    if not started:
                        if ts < rng.since_ms:
                            continue
                        started = True
                    if ts >= rng.until_ms:
                        done = True
                        break
                position = offset + 1
                cols["key"].append(m.key())
                cols["value"].append(m.value())
                cols["offset"].append(offset)
                cols["timestamp"].append(ts)
                cols["timestampType"].append(ts_type - 1 if ts_type > 0 else -1)
            if exact and position >= rng.end_offset:
                done = True
            n = len(cols["offset"])
            if n >= BATCH_ROWS or (done and n):
                cols["topic"] = [rng.topic] * n
                cols["partition"] = [rng.partition] * n
                yield _batch(cols)
                for v in cols.values():
                    v.clear()
    finally:
        consumer.close()
