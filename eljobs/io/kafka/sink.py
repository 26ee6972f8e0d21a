"""The entry point of Kafka writes (driver side): check the frame and the cluster, then hand
the rows to the chosen sink (:mod:`eljobs.io.kafka.spark_sink` or
:mod:`eljobs.io.kafka.python_sink`) and return what was acknowledged per topic.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from eljobs.io.kafka.admin import (
    create_kafka_topics,
    existing_topics,
    topic_end_offsets,
    topic_max_message_bytes,
)
from eljobs.io.kafka.chooser import choose_sink
from eljobs.io.kafka.errors import (
    KafkaContractError,
    KafkaSinkError,
    KafkaWriteResult,
    MissingTopicsError,
)
from eljobs.io.kafka.frame import (
    RECORD_OVERHEAD_MIN,
    oversized_per_topic,
    prepare_frame,
    topic_stats,
)
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
    stats = topic_stats(frame)
    routed = {t: n for t, (n, _) in stats.items()}
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
    _check_sizes(frame, stats, bootstrap_servers, options, timeout_s)

    before = topic_end_offsets(bootstrap_servers, sorted(routed), options, timeout_s)
    sc = spark.sparkContext
    group = f"eljobs-kafka-write-{uuid.uuid4().hex[:12]}"
    previous = sc.getLocalProperty("spark.jobGroup.id")
    sc.setJobGroup(group, f"Kafka write to {bootstrap_servers} ({chosen} sink)")
    try:
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
    except KafkaSinkError as e:
        landed = _landed(before, bootstrap_servers, sorted(routed), options, timeout_s)
        failed = _failed_attempts(sc, group)
        grew = (
            f"the topics grew by {sum(landed.values())} messages during the write "
            f"({_per_topic(landed)}), counting every task attempt"
            if landed is not None
            else "how many messages the topics gained is unknown (the brokers did not answer)"
        )
        raise KafkaSinkError(
            f"{e}. Of {sum(routed.values())} rows to write, {grew}; {failed} task attempts "
            "failed. What was delivered stays in Kafka: a rerun writes those messages again",
            bootstrap_servers=bootstrap_servers,
            topics=sorted(routed),
            produced=e.produced,
            landed=landed,
        ) from e
    finally:
        sc.setLocalProperty("spark.jobGroup.id", previous)  # type: ignore[arg-type]
    landed = _landed(before, bootstrap_servers, sorted(routed), options, timeout_s)
    failed = _failed_attempts(sc, group)
    if produced != routed:
        raise KafkaSinkError(
            f"messages acknowledged by {bootstrap_servers} {produced} differ from rows "
            f"routed {routed}",
            bootstrap_servers=bootstrap_servers,
            topics=sorted(routed),
            produced=produced,
            landed=landed,
        )
    result = KafkaWriteResult(chosen, reason, produced, landed, failed)
    log.info(
        "Kafka sink (%s) produced %d messages to %s: %s; the topics gained %s (%s duplicates "
        "from %d failed task attempts)",
        chosen,
        result.total,
        bootstrap_servers,
        _per_topic(produced),
        "?" if landed is None else sum(landed.values()),
        "?" if result.duplicates is None else result.duplicates,
        failed,
    )
    return result


def _per_topic(counts: Mapping[str, int]) -> str:
    return ", ".join(f"{t}={n}" for t, n in sorted(counts.items()))


def _landed(
    before: dict[str, int] | None,
    servers: str,
    topics: list[str],
    options: Mapping[str, str],
    timeout_s: float,
) -> dict[str, int] | None:
    """Messages each topic gained since ``before`` (None if either reading is missing)."""
    if before is None:
        return None
    # Short: after a failure the brokers may be gone, and the error is waiting.
    after = topic_end_offsets(servers, topics, options, min(timeout_s, 10.0))
    if after is None:
        return None
    return {t: after.get(t, 0) - before.get(t, 0) for t in topics}


def _failed_attempts(sc: Any, group: str) -> int:
    """Failed task attempts of the jobs of ``group`` (Spark's status tracker)."""
    tracker = sc.statusTracker()
    failed = 0
    for job_id in tracker.getJobIdsForGroup(group):
        info = tracker.getJobInfo(job_id)
        for stage_id in info.stageIds if info is not None else ():
            stage = tracker.getStageInfo(stage_id)
            if stage is not None:
                failed += int(stage.numFailedTasks)
    return failed


def _check_sizes(
    frame: DataFrame,
    stats: dict[str, tuple[int, int]],
    servers: str,
    options: Mapping[str, str],
    timeout_s: float,
) -> None:
    """Refuse, before producing anything, rows that no topic can accept: larger than the
    topic's ``max.message.bytes`` even alone in a batch. Skipped when the producer compresses
    (a large message may then fit); the broker's refusal still fails the write then.

    Raises:
        KafkaContractError: names each topic, its limit and how many rows exceed it.
    """
    client, _ = split_options(options)
    if client.get("compression.type", "none") not in ("none", ""):
        return
    limits = topic_max_message_bytes(servers, sorted(stats), options, timeout_s)
    suspects = {
        t: limit
        for t, limit in limits.items()
        if t in stats and stats[t][1] > limit - RECORD_OVERHEAD_MIN
    }
    if not suspects:
        return
    counts = oversized_per_topic(frame, suspects)
    raise KafkaContractError(
        "messages larger than their topic's max.message.bytes, which the broker would refuse: "
        + "; ".join(
            f"{t}: {n} of {stats[t][0]} messages exceed {suspects[t]} bytes"
            for t, n in sorted(counts.items())
        )
        + f" (brokers {servers}); nothing was produced. Raise the topic's max.message.bytes or "
        "leave these rows out",
        bootstrap_servers=servers,
        topics=sorted(counts),
    )
