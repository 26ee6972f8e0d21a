"""eljobs' Kafka writer: a Spark 4 Python Data Source (``format("eljobs_kafka")``) whose
tasks run in Spark's Python workers and produce with confluent-kafka.

Idempotent producer, ``acks=all`` by default, Arrow batches; each task waits for every
delivery report, fails on any delivery error (so Spark retries it) and returns per-topic
counts in its commit message.
"""

from __future__ import annotations

import json
import os
from collections import Counter
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from eljobs.io.kafka.options import producer_config

try:  # pyspark is a dependency of the local/test extras; a cluster brings its own.
    from pyspark.sql.datasource import DataSource, DataSourceArrowWriter, WriterCommitMessage
except ImportError:  # pragma: no cover
    DataSource = object  # type: ignore[assignment,misc]
    DataSourceArrowWriter = object  # type: ignore[assignment,misc]
    WriterCommitMessage = object  # type: ignore[assignment,misc]

# confluent_kafka is imported in the producing task only: the driver imports this module for
# every backfill, Kafka or not (see eljobs.io.kafka.admin).

if TYPE_CHECKING:
    import pyarrow as pa
    from pyspark.sql.types import StructType

SOURCE_NAME = "eljobs_kafka"
# Marks a task's own delivery error in Spark's wrapped error text (see python_sink).
MARK = "EljobsKafkaDeliveryError:"


@dataclass
class KafkaCommitMessage(WriterCommitMessage):
    """One task's result: messages acknowledged per topic."""

    produced: dict[str, int] = field(default_factory=dict)


class KafkaDeliveryError(RuntimeError):
    """A task could not get every message acknowledged; Spark fails (and retries) the task."""


class KafkaDataSource(DataSource):
    """``format("eljobs_kafka")``: batch writes to Kafka (options: ``bootstrap_servers``,
    ``timeout_s``, ``commit_report``, ``kafka.*`` producer settings)."""

    @classmethod
    def name(cls) -> str:
        """The format name."""
        return SOURCE_NAME

    def writer(self, schema: StructType, overwrite: bool) -> KafkaArrowWriter:
        """A writer for one write job."""
        return KafkaArrowWriter(dict(self.options), schema)


class KafkaArrowWriter(DataSourceArrowWriter):
    """Produces Arrow batches with one confluent-kafka producer per task."""

    def __init__(self, options: Mapping[str, str], schema: StructType) -> None:
        opts = {str(k): str(v) for k, v in options.items()}
        self.bootstrap_servers = opts["bootstrap_servers"]
        self.timeout_s = float(opts.get("timeout_s", "30"))
        self.commit_report = opts.get("commit_report")
        kafka_opts = {k: v for k, v in opts.items() if k.lower().startswith("kafka.")}
        self.conf = producer_config(self.bootstrap_servers, kafka_opts, timeout_s=self.timeout_s)
        self.columns = [f.name for f in schema.fields]

    def write(self, iterator: Iterator[pa.RecordBatch]) -> KafkaCommitMessage:
        """Produce every row; return per-topic acknowledged counts or raise."""
        return KafkaCommitMessage(produced=produce_batches(iterator, self.conf, self.timeout_s))

    def commit(self, messages: list[WriterCommitMessage | None]) -> None:
        """Sum the tasks' counts into the commit report the driver reads."""
        self._report("committed", messages)

    def abort(self, messages: list[WriterCommitMessage | None]) -> None:
        """Record what the completed tasks acknowledged (failed tasks report in their error)."""
        self._report("aborted", messages)

    def _report(self, status: str, messages: list[WriterCommitMessage | None]) -> None:
        total: dict[str, int] = {}
        for m in messages:
            if not isinstance(m, KafkaCommitMessage):
                continue
            for t, n in m.produced.items():
                total[t] = total.get(t, 0) + n
        if self.commit_report:
            tmp = f"{self.commit_report}.{os.getpid()}.tmp"
            Path(tmp).write_text(json.dumps({"status": status, "produced": total}))
            os.replace(tmp, self.commit_report)


class _Deliveries:
    """Delivery-report bookkeeping of one producer.

    With ``delivery.report.only.error`` (the default here) librdkafka reports only failures;
    every message still gets exactly one outcome, so once nothing is left in the producer's
    queue the acknowledged count per topic is handed minus failed. Success reports, when a
    user turns them back on, are counted directly.
    """

    def __init__(self) -> None:
        self.handed: dict[str, int] = {}
        self.succeeded: dict[str, int] = {}
        self.failed_by_topic: dict[str, int] = {}
        self.failed = 0
        self.errors: list[str] = []

    def __call__(self, err: Any, msg: Any) -> None:
        t = msg.topic()
        if err is None:
            self.succeeded[t] = self.succeeded.get(t, 0) + 1
        else:
            self.failed += 1
            self.failed_by_topic[t] = self.failed_by_topic.get(t, 0) + 1
            if len(self.errors) < 3:
                self.errors.append(f"{t}[{msg.partition()}]: {err.str()}")

    def add_handed(self, topic: str, n: int) -> None:
        self.handed[topic] = self.handed.get(topic, 0) + n

    def hand(self, topics: Sequence[str]) -> None:
        for t, n in Counter(topics).items():
            self.handed[t] = self.handed.get(t, 0) + n

    def acked(self, only_errors: bool, settled: bool) -> dict[str, int]:
        """Acknowledged per topic; with error-only reports exact only when ``settled``."""
        if not only_errors:
            return dict(self.succeeded)
        if not settled:
            return {}
        return {
            t: n - self.failed_by_topic.get(t, 0)
            for t, n in self.handed.items()
            if n - self.failed_by_topic.get(t, 0)
        }


def produce_batches(
    batches: Iterator[pa.RecordBatch], conf: Mapping[str, str], timeout_s: float
) -> dict[str, int]:
    """Produce every row of ``batches`` (Kafka-sink columns) and wait for all delivery reports.

    Returns:
        Messages acknowledged per topic.

    Raises:
        KafkaDeliveryError: a message failed or was not acknowledged in time; the message says
            how many were acknowledged per topic before that (when known).
    """
    from confluent_kafka import KafkaError, KafkaException, Producer

    servers = conf.get("bootstrap.servers", "?")
    only_errors = str(conf.get("delivery.report.only.error", "false")).lower() == "true"
    dr = _Deliveries()
    settings: dict[str, Any] = dict(conf)
    # confluent-kafka takes this one as a Python bool, not librdkafka's string.
    settings["delivery.report.only.error"] = only_errors
    producer = Producer({**settings, "on_delivery": dr})
    produce = producer.produce
    poll = producer.poll
    deadline_s = timeout_s + 5

    def wait_for_room() -> None:
        # Local queue full: serve delivery reports until there is room. Messages time out
        # after message.timeout.ms, so this wait is bounded.
        poll(0.05)

    def enqueue_all(topic: str, msgs: list[dict[str, Any]]) -> bool:
        """produce_batch until every message is queued; False when deliveries fail meanwhile.

        produce_batch marks the messages it could not queue with ``_error``; a full local queue
        is waited out (bounded by message.timeout.ms), any other error fails the task.
        """
        pending = msgs
        while pending:
            queued = producer.produce_batch(topic, pending)
            if queued == len(pending):
                dr.add_handed(topic, len(pending))
                return True
            retry = []
            for m in pending:
                err = m.pop("_error", None)
                if err is None:
                    continue
                if err.code() != KafkaError._QUEUE_FULL:
                    raise fail(f"cannot queue a message for {topic}: {err}", False)
                retry.append(m)
            if len(pending) - len(retry) != queued:
                raise fail(
                    f"produce_batch queued {queued} of {len(pending)} messages for {topic} but "
                    f"marked {len(retry)} as not queued",
                    False,
                )
            dr.add_handed(topic, queued)
            wait_for_room()
            if dr.failed:
                return False
            pending = retry
        return True

    def fail(why: str, settled: bool) -> KafkaDeliveryError:
        handed = sum(dr.handed.values())
        acked = dr.acked(only_errors, settled)
        known = (
            f"acknowledged per topic: {acked}"
            if settled or not only_errors
            else f"{len(producer)} still unacknowledged"
        )
        return KafkaDeliveryError(
            f"{MARK} {why} (brokers {servers}; {handed} messages handed to the producer, "
            f"{known}; failed per topic: {dr.failed_by_topic}; first errors: {dr.errors})"
        )

    try:
        for batch in batches:
            if dr.failed:
                break
            n = batch.num_rows
            if n == 0:
                continue
            names = batch.schema.names
            topics = batch.column(names.index("topic")).to_pylist()
            values = batch.column(names.index("value")).to_pylist()
            done = 0
            if names == ["topic", "value"]:
                # The common case (no key, partition or headers): group the batch by topic and
                # hand each group to librdkafka in one produce_batch call (about 3 times less
                # Python work per message than one produce call each).
                groups: dict[str, list[dict[str, Any]]] = {}
                for t, v in zip(topics, values, strict=True):
                    g = groups.get(t)
                    if g is None:
                        g = groups[t] = []
                    g.append({"value": v})
                for t, msgs in groups.items():
                    if not enqueue_all(t, msgs):
                        break
                if dr.failed:
                    break
                poll(0)
                continue
            else:
                keys = batch.column(names.index("key")).to_pylist() if "key" in names else None
                parts = (
                    batch.column(names.index("partition")).to_pylist()
                    if "partition" in names
                    else None
                )
                headers = (
                    batch.column(names.index("headers")).to_pylist() if "headers" in names else None
                )
                for i in range(n):
                    kw: dict[str, Any] = {}
                    if keys is not None:
                        kw["key"] = keys[i]
                    if parts is not None and parts[i] is not None:
                        kw["partition"] = parts[i]
                    if headers is not None and headers[i]:
                        kw["headers"] = [(h["key"], h["value"]) for h in headers[i]]
                    while True:
                        try:
                            produce(topics[i], values[i], **kw)
                            break
                        except BufferError:
                            wait_for_room()
                            if dr.failed:
                                break
                    if dr.failed:
                        break
                    done += 1
            dr.hand(topics if done == n else topics[:done])
            poll(0)
        if dr.failed:
            remaining = producer.flush(deadline_s)
            raise fail(f"{dr.failed} messages failed delivery", remaining == 0)
        remaining = producer.flush(deadline_s)
    except KafkaException as e:
        raise fail(f"producer error {e}", False) from None
    if remaining:
        raise fail(f"{remaining} messages still unacknowledged after {deadline_s:g}s", False)
    if dr.failed:
        raise fail(f"{dr.failed} messages failed delivery", True)
    return dr.acked(only_errors, True)
