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

On a broker that answers offset look-ups correctly (Apache Kafka), the plan is exact: per
partition, ``[offsets_for_times(since), offsets_for_times(until))``, the end being the
partition's end offset (the last stable offset, as the readers read committed messages only)
when no message is at or after ``until``. A partition said to hold nothing at or after ``since``
is dropped from the plan only when its newest timestamp agrees (asked again, then refused).
Both readers read only those offsets (Spark's source with ``startingOffsets``/``endingOffsets``),
and a partition that ends before its planned end fails the read instead of returning part of
the window. :func:`check_read` compares what a
reader returned with the plan (the extract job runs it before writing).

A broker that ignores the timestamp of ``offsets_for_times`` (Tansu answers the earliest offset
and a wrong end offset) is detected while planning: asked for the offset of a time after every
message, Kafka answers "none" (-1), such a broker a real offset. Only then the plan falls back to
a work-around: the start is a lower bound, the reader skips messages before ``since`` and reads
until a message at or after ``until`` or the end of the partition.
"""

from __future__ import annotations

import json
import logging
import re
import time
import weakref
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any

from eljobs.io.kafka.chooser import connector_available
from eljobs.io.kafka.jvm import activate
from eljobs.io.kafka.options import consumer_config, split_options
from eljobs.io.kafka.reader import KafkaSource
from eljobs.io.kafka.window import (
    SCHEMA,
    SOURCE_NAME,
    KafkaSourceError,
    PartitionRange,
    to_ms,
)

# confluent_kafka (librdkafka, about 0.1 s to load) is imported inside the functions that talk
# to a broker: the backfill and extract jobs import eljobs.io.kafka whether or not a run uses
# Kafka (a backfill to files never does).

if TYPE_CHECKING:
    from pyspark.sql import DataFrame, SparkSession

log = logging.getLogger(__name__)


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
    try:
        consumer = Consumer(consumer_config(bootstrap_servers, options))
    except Exception as e:
        # librdkafka refuses bad settings here, before any broker is asked.
        raise KafkaSourceError(
            f"Kafka consumer settings for {bootstrap_servers} (--kafka_option): {e}"
        ) from None
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

        def by_time(ms: int, what: str) -> dict[tuple[str, int], int]:
            asked = [TopicPartition(tp.topic, tp.partition, ms) for tp in wanted]
            try:
                found = consumer.offsets_for_times(asked, timeout=timeout_s)
            except Exception as e:
                raise KafkaSourceError(
                    f"offsets for {what} of {', '.join(chosen)} from {bootstrap_servers}: {e}"
                ) from None
            out = {}
            for tp in found:
                if tp.error is not None:
                    raise KafkaSourceError(
                        f"offset for {what} of {tp.topic}[{tp.partition}] on "
                        f"{bootstrap_servers}: {tp.error}"
                    )
                if tp.offset < -1:
                    # -1 is Kafka's "no message at or after this time"; any other negative
                    # value is a client sentinel (invalid, logical offsets), not an answer.
                    raise KafkaSourceError(
                        f"offset for {what} of {tp.topic}[{tp.partition}] on "
                        f"{bootstrap_servers}: expected an offset or -1 (none at or after), "
                        f"got {tp.offset}"
                    )
                out[(tp.topic, tp.partition)] = int(tp.offset)
            unanswered = [
                f"{t}[{p}]" for t, p in ((x.topic, x.partition) for x in asked) if (t, p) not in out
            ]
            if unanswered:
                raise KafkaSourceError(
                    f"offsets for {what} from {bootstrap_servers}: no answer for "
                    f"{', '.join(unanswered[:10])} (expected one per partition)"
                )
            return out

        starts = by_time(since_ms, since.isoformat())
        # A time after every message: Kafka answers -1 everywhere; a broker that ignores the
        # timestamp answers an offset, and then no answer by time can be trusted.
        probe = by_time(_FAR_FUTURE_MS, "a time after every message")
        ignores_time = [f"{t}[{p}]" for (t, p), off in probe.items() if off >= 0]
        if ignores_time:
            log.warning(
                "brokers %s answer an offset for a time after every message (%s): they ignore "
                "timestamps in offset look-ups, so the window is found by reading each "
                "partition from the answered offset and skipping by timestamp",
                bootstrap_servers,
                ", ".join(ignores_time[:5]),
            )
            return [
                PartitionRange(t, p, off, since_ms, until_ms)
                for (t, p), off in starts.items()
                if off >= 0
            ]
        # "Nothing at or after since" skips the partition: before trusting it, make sure the
        # partition's newest timestamp agrees, else the window would silently lose it.
        for attempt in range(_CONFIRM_ATTEMPTS):
            empty = [tp for tp, off in starts.items() if off < 0]
            contradicted = _newer_than(bootstrap_servers, options, empty, since_ms, timeout_s)
            if not contradicted:
                break
            if attempt + 1 == _CONFIRM_ATTEMPTS:
                raise KafkaSourceError(
                    f"brokers {bootstrap_servers} answer that no message of "
                    + ", ".join(f"{t}[{p}]" for (t, p), _ in contradicted[:5])
                    + f" is at or after {since.isoformat()}, but the same partitions hold "
                    "messages stamped "
                    + ", ".join(str(ts) for _, ts in contradicted[:5])
                    + f" (ms) by their newest-timestamp offset; asked {_CONFIRM_ATTEMPTS} "
                    "times. Expected the two answers to agree; the window would miss these "
                    "partitions"
                )
            log.warning(
                "brokers %s: offsets by time say nothing at or after %s in %s but their "
                "newest timestamps disagree; asking again",
                bootstrap_servers,
                since.isoformat(),
                ", ".join(f"{t}[{p}]" for (t, p), _ in contradicted[:5]),
            )
            time.sleep(_CONFIRM_PAUSE_S)
            starts = by_time(since_ms, since.isoformat())
        ends = by_time(until_ms, until.isoformat())
        ranges = []
        for (t, p), start in sorted(starts.items()):
            if start < 0:
                # No message at or after `since` in this partition: nothing in the window.
                continue
            end = ends[(t, p)]
            if end < 0:
                # Nothing at or after `until` yet: the window runs to the partition's end.
                end = _end_offset(consumer, t, p, bootstrap_servers, timeout_s)
            if end < start:
                raise KafkaSourceError(
                    f"{t}[{p}] on {bootstrap_servers}: the window's first offset {start} is "
                    f"after its end offset {end}; expected start <= end"
                )
            if end > start:
                ranges.append(PartitionRange(t, p, start, since_ms, until_ms, end))
        return ranges
    finally:
        consumer.close()


# 9999-12-31: after every message's timestamp (see plan_ranges).
_FAR_FUTURE_MS = 253_402_214_400_000

# How often plan_ranges asks again when "nothing at or after since" contradicts a partition's
# newest timestamp, and the pause between asks.
_CONFIRM_ATTEMPTS = 4
_CONFIRM_PAUSE_S = 2.0


def _newer_than(
    servers: str,
    options: Mapping[str, str],
    partitions: Sequence[tuple[str, int]],
    since_ms: int,
    timeout_s: float,
) -> list[tuple[tuple[str, int], int]]:
    """The partitions among ``partitions`` whose newest message (Kafka's max-timestamp offset
    look-up) is stamped at or after ``since_ms``, with that timestamp. A broker that cannot
    answer the look-up (before Kafka 3.0) confirms nothing and contradicts nothing."""
    if not partitions:
        return []
    from confluent_kafka import TopicPartition
    from confluent_kafka.admin import AdminClient, OffsetSpec

    client, _ = split_options(options)
    admin = AdminClient({**client, "bootstrap.servers": servers})
    asked = {TopicPartition(t, p): OffsetSpec.max_timestamp() for t, p in partitions}
    out = []
    try:
        futures = admin.list_offsets(asked, request_timeout=timeout_s)
        for tp, fut in futures.items():
            info = fut.result(timeout=timeout_s)
            if info.offset >= 0 and info.timestamp >= since_ms:
                out.append(((tp.topic, tp.partition), int(info.timestamp)))
    except Exception as e:
        log.warning(
            "brokers %s did not answer the newest-timestamp look-up (%s): partitions with "
            "nothing at or after the window's start are taken as the offset look-up says",
            servers,
            e,
        )
        return []
    return sorted(out)


def _end_offset(consumer: Any, topic: str, partition: int, servers: str, timeout_s: float) -> int:
    """The partition's end offset for this consumer (its last stable offset when it reads
    committed messages only)."""
    from confluent_kafka import TopicPartition

    try:
        _, high = consumer.get_watermark_offsets(
            TopicPartition(topic, partition), timeout=timeout_s, cached=False
        )
    except Exception as e:
        raise KafkaSourceError(f"end offset of {topic}[{partition}] on {servers}: {e}") from None
    return int(high)


def spark_source_options(
    ranges: Sequence[PartitionRange],
    *,
    bootstrap_servers: str,
    options: Mapping[str, str],
    timeout_s: float = 30.0,
) -> dict[str, str]:
    """Options for Spark's own ``format("kafka")`` batch source reading the same window: the
    planned offsets when the plan is exact, else Spark's by-timestamp offsets. A task that
    receives nothing for ``timeout_s`` fails, as the Python reader's does: Spark's poll timeout
    (by default ``spark.network.timeout``, two minutes) and the Java consumer's wait for its
    position after a reconnection (``default.api.timeout.ms``, one minute) are set to it."""
    client, _ = split_options(options)
    exact = all(r.exact for r in ranges)
    starting: dict[str, dict[str, int]] = {}
    ending: dict[str, dict[str, int]] = {}
    for r in ranges:
        starting.setdefault(r.topic, {})[str(r.partition)] = r.start_offset if exact else r.since_ms
        ending.setdefault(r.topic, {})[str(r.partition)] = r.end_offset if exact else r.until_ms
    suffix = "" if exact else "ByTimestamp"
    opts = {
        "kafka.bootstrap.servers": bootstrap_servers,
        "assign": json.dumps({t: sorted(int(p) for p in ps) for t, ps in starting.items()}),
        f"startingOffsets{suffix}": json.dumps(starting, sort_keys=True),
        f"endingOffsets{suffix}": json.dumps(ending, sort_keys=True),
        "failOnDataLoss": "true",
        # The same committed-only view as the Python reader (the Java client's default is
        # read_uncommitted).
        "kafka.isolation.level": "read_committed",
        "kafkaConsumer.pollTimeoutMs": str(int(timeout_s * 1000)),
        "kafka.default.api.timeout.ms": str(int(timeout_s * 1000)),
        # The Java client wants requests to time out no later than its API calls.
        "kafka.request.timeout.ms": str(min(30000, int(timeout_s * 1000))),
    }
    if not exact:
        opts["startingOffsetsByTimestampStrategy"] = "latest"
    opts.update({f"kafka.{k}": v for k, v in client.items() if k != "bootstrap.servers"})
    return opts


@dataclass(frozen=True)
class RangeRead:
    """What a reader returned for one topic-partition: messages, distinct offsets, and the
    first and last offset."""

    topic: str
    partition: int
    messages: int
    distinct: int
    first: int
    last: int


def check_read(
    ranges: Sequence[PartitionRange],
    reads: Sequence[RangeRead],
    *,
    bootstrap_servers: str,
    allow_gaps: bool = False,
) -> tuple[int, list[str]]:
    """Compare what the reader returned with the exact plan: every planned offset read once.

    A reader that stops early, skips ahead after a reconnection or reads a range twice returns
    a different window than planned; this is the driver's check of it, the same for both
    readers. Work-around ranges (no planned end) are not checked.

    Args:
        allow_gaps: accept planned offsets without a message (transaction markers, aborted
            transactions, compacted messages: offsets a committed reader never sees). Without
            it, any missing offset is a problem: the topics eljobs reads are written without
            transactions or compaction, where a missing offset is a lost message.

    Returns:
        The planned offsets without a message, and the problems (empty when the read is the
        plan), each naming the servers, topic, partition and offsets.
    """
    got = {(r.topic, r.partition): r for r in reads}
    planned = {(r.topic, r.partition): r for r in ranges if r.exact}
    missing_total = 0
    problems: list[str] = []
    for key in sorted(set(got) - {(r.topic, r.partition) for r in ranges}):
        problems.append(
            f"{key[0]}[{key[1]}] on {bootstrap_servers}: {got[key].messages} messages read from "
            "a partition that was not planned"
        )
    for (t, p), rng in sorted(planned.items()):
        where = f"{t}[{p}] on {bootstrap_servers}"
        span = f"[{rng.start_offset}, {rng.end_offset})"
        r = got.get((t, p)) or RangeRead(t, p, 0, 0, rng.start_offset, rng.start_offset - 1)
        if r.messages and (r.first < rng.start_offset or r.last >= rng.end_offset):
            problems.append(
                f"{where}: offsets {r.first}..{r.last} read, expected only the planned {span}"
            )
        if r.distinct < r.messages:
            problems.append(
                f"{where}: {r.messages} messages read for {r.distinct} offsets of {span}; "
                "expected each offset once"
            )
        missing = max(0, rng.offsets - r.distinct)
        missing_total += missing
        if missing and not allow_gaps:
            problems.append(
                f"{where}: {r.distinct} of the planned {rng.offsets} offsets {span} read; "
                f"{missing} have no message (expected none missing: lost messages, or "
                "transaction markers or compaction, which --allow_offset_gaps accepts)"
            )
    return missing_total, problems


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
        opts = spark_source_options(
            ranges, bootstrap_servers=bootstrap_servers, options=options, timeout_s=timeout_s
        )
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
