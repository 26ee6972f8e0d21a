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
import weakref
from collections.abc import Mapping, Sequence
from dataclasses import asdict
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

if TYPE_CHECKING:
    from pyspark.sql import DataFrame, SparkSession


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
