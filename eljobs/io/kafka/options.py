"""Kafka settings: the jobs' ``--kafka_*`` options and the client settings built from them.

Everything here is pure (no Spark, no network). Options use Spark's ``kafka.`` prefix for
client settings on every path (``kafka.linger.ms`` -> ``linger.ms``): :func:`producer_config`
makes the Python sink's librdkafka settings, :func:`spark_sink_options` the options of Spark's
``format("kafka")``, with the same defaults (``acks=all``, idempotence) where the two clients
share them, so the same ``kafka.*`` options reach both sinks.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Literal

from eljobs.config import JobConfig, option
from eljobs.io.kafka.errors import KafkaContractError

SinkName = Literal["auto", "spark", "python"]


@dataclass(frozen=True, kw_only=True)
class KafkaClientOptions(JobConfig):
    """The Kafka options every job that talks to Kafka has, reading or writing; inherit from
    it (or :class:`KafkaOptions`) in a job's ``Config``."""

    kafka_option: dict[str, str] = option(
        default_factory=dict,
        accumulate=True,
        pair_sep="=",
        prefix="kafka.",
        help="Client setting with Spark's kafka. prefix, e.g. kafka.linger.ms=50 (producer) or "
        "kafka.fetch.wait.max.ms=50 (consumer); repeatable, and properties files may carry "
        "kafka.* keys directly.",
    )
    kafka_timeout: float = option(
        30.0,
        help="Seconds to wait for the brokers to answer (and, when writing, for each message "
        "to be acknowledged) before the job fails.",
    )

    def validate(self) -> list[str]:
        """Problems with the client options, then those of the job's other options."""
        problems = super().validate()
        for k in self.kafka_option:
            if not k.startswith("kafka."):
                problems.append(
                    f"--kafka_option: expected kafka.<setting>=<value> (kafka.linger.ms=50), "
                    f"found {k!r}"
                )
        if self.kafka_timeout <= 0:
            problems.append(f"--kafka_timeout: expected seconds > 0, found {self.kafka_timeout}")
        return problems


@dataclass(frozen=True, kw_only=True)
class KafkaOptions(KafkaClientOptions):
    """The Kafka sink options of a job; inherit from it in a job's ``Config``."""

    kafka_sink: SinkName = option(
        "auto",
        help="Kafka sink: spark (Spark's format('kafka'), needs the spark-sql-kafka-0-10 "
        "connector), python (eljobs' Python Data Source writer) or auto (spark when the "
        "connector is on the classpath, else python).",
    )
    create_topics: bool = option(
        False, help="Create missing topics (with --topic_partitions) instead of failing."
    )
    topic_partitions: int = option(1, help="Partitions of topics made by --create_topics.")

    def kafka_write_kwargs(self) -> dict[str, Any]:
        """Keyword arguments for :func:`write_to_kafka` (all but ``bootstrap_servers``)."""
        return {
            "options": dict(self.kafka_option),
            "sink": self.kafka_sink,
            "create_topics": self.create_topics,
            "topic_partitions": self.topic_partitions,
            "timeout_s": self.kafka_timeout,
        }

    def validate(self) -> list[str]:
        """Problems with the client and sink options, then those of the job's other options."""
        problems = super().validate()
        if self.topic_partitions < 1:
            problems.append(
                f"--topic_partitions: expected a whole number >= 1, found {self.topic_partitions}"
            )
        return problems


# --------------------------------------------------------------------------------------------
# Client settings


def split_options(options: Mapping[str, str]) -> tuple[dict[str, str], str | None]:
    """Split sink options into client settings (``kafka.`` prefix removed) and the ``topic``.

    Raises:
        KafkaContractError: a key is neither ``kafka.<setting>`` nor ``topic``.
    """
    client: dict[str, str] = {}
    topic: str | None = None
    for k, v in options.items():
        if k.startswith("kafka."):
            client[k[len("kafka.") :]] = str(v)
        elif k == "topic":
            topic = str(v)
        else:
            raise KafkaContractError(
                f"Kafka option {k!r}: expected kafka.<client setting> (e.g. kafka.linger.ms) "
                "or topic"
            )
    return client, topic


def _sink_client_settings(bootstrap_servers: str, options: Mapping[str, str]) -> dict[str, str]:
    """The sink's client settings (:func:`split_options`) without ``bootstrap.servers``, which
    may repeat ``bootstrap_servers`` but not contradict it.

    Raises:
        KafkaContractError: ``kafka.bootstrap.servers`` names other servers.
    """
    client, _ = split_options(options)
    given = client.pop("bootstrap.servers", None)
    if given is not None and given != bootstrap_servers:
        raise KafkaContractError(
            f"kafka.bootstrap.servers={given!r} conflicts with bootstrap_servers="
            f"{bootstrap_servers!r}; give the servers once"
        )
    return client


def producer_config(
    bootstrap_servers: str, options: Mapping[str, str], *, timeout_s: float
) -> dict[str, str]:
    """librdkafka settings of the Python sink's producers: defaults, then the user's options.

    Defaults: idempotent producer, ``acks=all``, every message either acknowledged or failed
    within ``timeout_s`` (``message.timeout.ms``), larger batches than librdkafka's defaults.
    """
    client = _sink_client_settings(bootstrap_servers, options)
    conf = {
        "bootstrap.servers": bootstrap_servers,
        "enable.idempotence": "true",
        "acks": "all",
        "message.timeout.ms": str(int(timeout_s * 1000)),
        # Only failures call back into Python; acknowledged = handed - failed (see
        # _Deliveries), which saves a Python call per message.
        "delivery.report.only.error": "true",
        "linger.ms": "20",
        "batch.num.messages": "10000",
        "queue.buffering.max.messages": "200000",
        "queue.buffering.max.kbytes": "262144",
        "socket.connection.setup.timeout.ms": str(max(1000, int(timeout_s * 1000))),
    }
    conf.update(client)
    return conf


def admin_config(bootstrap_servers: str, options: Mapping[str, str]) -> dict[str, Any]:
    """Settings for the driver's AdminClient: the servers and the connection settings
    (security, client id) of ``options``; producer-only tuning is left out."""
    client, _ = split_options(options)
    conf: dict[str, Any] = {"bootstrap.servers": bootstrap_servers, "log_level": 3}
    for k, v in client.items():
        if k.startswith(("security.", "sasl.", "ssl.", "client.", "socket.", "broker.")):
            conf[k] = v
    return conf


def spark_sink_options(
    bootstrap_servers: str, options: Mapping[str, str], *, timeout_s: float
) -> dict[str, str]:
    """The options handed to Spark's ``format("kafka")``: ``kafka.``-prefixed producer
    settings with the same defaults as the Python path where the Java client shares them."""
    client = _sink_client_settings(bootstrap_servers, options)
    timeout_ms = int(timeout_s * 1000)
    request_ms = int(client.get("request.timeout.ms", min(30000, timeout_ms)))
    linger_ms = int(client.get("linger.ms", 20))
    conf = {
        "bootstrap.servers": bootstrap_servers,
        "enable.idempotence": "true",
        "acks": "all",
        "linger.ms": str(linger_ms),
        "max.block.ms": str(timeout_ms),
        "request.timeout.ms": str(request_ms),
        # The Java client insists on delivery.timeout.ms >= linger.ms + request.timeout.ms.
        "delivery.timeout.ms": str(max(timeout_ms, linger_ms + request_ms)),
    }
    conf.update(client)
    return {f"kafka.{k}": v for k, v in conf.items()}


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
        # Only committed messages (librdkafka's default, said here because the Java client's
        # is read_uncommitted): an aborted transaction of the Python sink stays invisible.
        "isolation.level": "read_committed",
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
