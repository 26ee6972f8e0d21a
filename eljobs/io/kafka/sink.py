"""The entry point of Kafka writes (driver side): check the frame and the cluster, then hand
the rows to the chosen sink (:mod:`eljobs.io.kafka.spark_sink` or
:mod:`eljobs.io.kafka.python_sink`) and return what was acknowledged per topic.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import TYPE_CHECKING

from eljobs.io.kafka.admin import create_kafka_topics, existing_topics
from eljobs.io.kafka.chooser import choose_sink
from eljobs.io.kafka.errors import (
    KafkaSinkError,
    KafkaWriteResult,
    MissingTopicsError,
)
from eljobs.io.kafka.frame import prepare_frame, rows_per_topic
from eljobs.io.kafka.options import SinkName, producer_config, split_options
from eljobs.io.kafka.python_sink import write_python
from eljobs.io.kafka.spark_sink import write_spark

if TYPE_CHECKING:
    from pyspark.sql import DataFrame

log = logging.getLogger(__name__)


def write_to_kafka(
    df: DataFrame,
    *,
    bootstrap_servers: str,
    options: Mapping[str, str] = {},
    sink: SinkName = "auto",
    create_topics: bool = False,
    topic_partitions: int = 1,
    timeout_s: float = 30.0,
) -> KafkaWriteResult:
    """Write ``df`` (Spark's Kafka-sink contract) to Kafka and return what was acknowledged.

    Args:
        df: rows with ``topic``, ``value`` and optional ``key``, ``partition``, ``headers``.
        bootstrap_servers: ``host:port[,host:port...]``.
        options: ``kafka.``-prefixed producer settings, and optionally ``topic``.
        sink: ``auto``, ``spark`` or ``python`` (see :func:`choose_sink`).
        create_topics: create missing topics instead of failing.
        topic_partitions: partitions of the topics created.
        timeout_s: bound on waiting for the brokers and on each message's acknowledgement.

    Raises:
        KafkaUnreachableError: the brokers did not answer (nothing was produced).
        MissingTopicsError: topics do not exist and ``create_topics`` is false.
        KafkaContractError: bad columns or options.
        KafkaSinkError: the write failed; ``produced`` holds what completed tasks had
            acknowledged (failed tasks say in the message what they had).
    """
    spark = df.sparkSession
    chosen, reason = choose_sink(spark, sink)
    log.info("Kafka sink: %s (%s)", chosen, reason)
    _, topic_option = split_options(options)
    frame = prepare_frame(df, topic_option)
    # Validate the settings before touching the cluster.
    producer_config(bootstrap_servers, options, timeout_s=timeout_s)

    known = existing_topics(bootstrap_servers, options, timeout_s)
    routed = rows_per_topic(frame)
    missing = sorted(set(routed) - known)
    if missing:
        if not create_topics:
            raise MissingTopicsError(
                f"topics {', '.join(missing)} do not exist on {bootstrap_servers} "
                f"({sum(routed[t] for t in missing)} rows routed to them); create them or "
                "pass --create_topics; nothing was produced",
                bootstrap_servers=bootstrap_servers,
                topics=missing,
            )
        log.info("creating topics %s with %d partitions", missing, topic_partitions)
        create_kafka_topics(
            bootstrap_servers,
            missing,
            partitions=topic_partitions,
            options=options,
            timeout_s=timeout_s,
        )
    if not routed:
        log.info("Kafka sink: no rows to write")
        return KafkaWriteResult(chosen, reason, {})

    if chosen == "spark":
        write_spark(
            df,
            bootstrap_servers=bootstrap_servers,
            options=options,
            timeout_s=timeout_s,
            topics=sorted(routed),
        )
        # Spark's sink fails the job on any send error: success means every row was acked.
        produced = dict(routed)
    else:
        produced = write_python(
            frame, bootstrap_servers=bootstrap_servers, options=options, timeout_s=timeout_s
        )
        if produced != routed:
            raise KafkaSinkError(
                f"messages acknowledged by {bootstrap_servers} {produced} differ from rows "
                f"routed {routed}",
                bootstrap_servers=bootstrap_servers,
                topics=sorted(routed),
                produced=produced,
            )
    log.info(
        "Kafka sink (%s) produced %d messages to %s: %s",
        chosen,
        sum(produced.values()),
        bootstrap_servers,
        ", ".join(f"{t}={n}" for t, n in sorted(produced.items())),
    )
    return KafkaWriteResult(chosen, reason, produced)
