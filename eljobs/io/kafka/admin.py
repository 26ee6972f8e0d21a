"""Driver-side cluster questions: which topics exist, creating the missing ones."""

from __future__ import annotations

import time
from collections.abc import Mapping, Sequence
from typing import Any

from eljobs.io.kafka.errors import KafkaSinkError, KafkaUnreachableError
from eljobs.io.kafka.options import admin_config

# confluent_kafka (librdkafka, about 0.1 s to load) is imported inside the functions that talk
# to a broker: the backfill and extract jobs import eljobs.io.kafka whether or not a run uses
# Kafka (a backfill to files never does).


def existing_topics(
    bootstrap_servers: str, options: Mapping[str, str], timeout_s: float
) -> set[str]:
    """Topic names the cluster knows (a metadata request for all topics, which never creates
    any, unlike asking about one topic on brokers that auto-create).

    Raises:
        KafkaUnreachableError: no broker answered within ``timeout_s``.
    """
    from confluent_kafka.admin import AdminClient

    admin = AdminClient(admin_config(bootstrap_servers, options))
    try:
        md = admin.list_topics(timeout=timeout_s)
    except Exception as e:
        raise KafkaUnreachableError(
            f"Kafka brokers {bootstrap_servers} did not answer a metadata request within "
            f"{timeout_s:g}s ({e}); nothing was produced",
            bootstrap_servers=bootstrap_servers,
        ) from None
    return set(md.topics)


def create_kafka_topics(
    bootstrap_servers: str,
    topics: Sequence[str],
    *,
    partitions: int,
    options: Mapping[str, str],
    timeout_s: float,
) -> None:
    """Create ``topics`` with ``partitions`` partitions (broker-default replication) and wait
    until metadata shows them. A topic created meanwhile by someone else is fine.

    Raises:
        KafkaSinkError: a topic could not be created (named, with the broker's answer).
    """
    from confluent_kafka import KafkaError
    from confluent_kafka.admin import AdminClient, NewTopic

    admin = AdminClient(admin_config(bootstrap_servers, options))
    futures = admin.create_topics(
        [NewTopic(t, num_partitions=partitions, replication_factor=-1) for t in topics],
        request_timeout=timeout_s,
    )
    failed = []
    for t, fut in futures.items():
        try:
            fut.result(timeout=timeout_s)
        except Exception as e:
            err = e.args[0] if e.args else None
            if getattr(err, "code", lambda: None)() == KafkaError.TOPIC_ALREADY_EXISTS:
                continue
            failed.append(f"{t}: {e}")
    if failed:
        raise KafkaSinkError(
            f"could not create topics on {bootstrap_servers}: " + "; ".join(failed),
            bootstrap_servers=bootstrap_servers,
            topics=topics,
        )
    # A new topic is in metadata before its partitions have a leader; a reader or writer that
    # comes then gets NOT_LEADER_OR_FOLLOWER (seen on Apache Kafka), so wait for the leaders.
    deadline = time.monotonic() + timeout_s
    while True:
        missing = _without_leaders(admin, topics, timeout_s)
        if not missing:
            return
        if time.monotonic() > deadline:
            raise KafkaSinkError(
                f"topics {sorted(missing)} were created on {bootstrap_servers} but their "
                f"partitions had no leader in metadata within {timeout_s:g}s",
                bootstrap_servers=bootstrap_servers,
                topics=sorted(missing),
            )
        time.sleep(0.1)


def _without_leaders(admin: Any, topics: Sequence[str], timeout_s: float) -> set[str]:
    """The ``topics`` that are missing from metadata or have a partition without a leader."""
    md = admin.list_topics(timeout=timeout_s)
    out = set()
    for t in topics:
        meta = md.topics.get(t)
        parts = meta.partitions.values() if meta is not None and meta.error is None else []
        if not parts or any(p.leader < 0 for p in parts):
            out.add(t)
    return out


def topic_end_offsets(
    bootstrap_servers: str, topics: Sequence[str], options: Mapping[str, str], timeout_s: float
) -> dict[str, int] | None:
    """The sum of each topic's partition end offsets (high watermarks, committed or not): how
    many messages the topic has ever been given. ``None`` when the brokers do not answer.

    Two readings around a write tell how many messages the write left in each topic, from
    every task attempt (failed ones included) and from any other producer meanwhile.
    """
    from confluent_kafka import Consumer, TopicPartition

    conf = {
        **admin_config(bootstrap_servers, options),
        "group.id": "eljobs-offsets",
        "enable.auto.commit": "false",
        "isolation.level": "read_uncommitted",
    }
    consumer = Consumer(conf)
    try:
        md = consumer.list_topics(timeout=timeout_s)
        out: dict[str, int] = {}
        for t in topics:
            meta = md.topics.get(t)
            if meta is None or meta.error is not None:
                out[t] = 0
                continue
            total = 0
            for p in meta.partitions:
                _, high = consumer.get_watermark_offsets(
                    TopicPartition(t, p), timeout=timeout_s, cached=False
                )
                total += int(high)
            out[t] = total
        return out
    except Exception:  # the brokers are gone (that is what a caller wants to know)
        return None
    finally:
        consumer.close()


def topic_max_message_bytes(
    bootstrap_servers: str, topics: Sequence[str], options: Mapping[str, str], timeout_s: float
) -> dict[str, int]:
    """Each topic's ``max.message.bytes`` (the largest record batch the broker accepts)."""
    from confluent_kafka.admin import AdminClient, ConfigResource

    admin = AdminClient(admin_config(bootstrap_servers, options))
    futures = admin.describe_configs(
        [ConfigResource(ConfigResource.Type.TOPIC, t) for t in topics], request_timeout=timeout_s
    )
    out = {}
    for res, fut in futures.items():
        try:
            entry = fut.result(timeout=timeout_s).get("max.message.bytes")
        except Exception as e:
            raise KafkaSinkError(
                f"could not read max.message.bytes of topic {res.name} on {bootstrap_servers}: {e}",
                bootstrap_servers=bootstrap_servers,
                topics=[res.name],
            ) from None
        if entry is not None and entry.value is not None:
            out[res.name] = int(entry.value)
    return out
