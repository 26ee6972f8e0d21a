"""Errors of the Kafka sink and what a write returns."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from eljobs.errors import OutputError


class KafkaSinkError(OutputError):
    """Writing to Kafka failed; the message names the bootstrap servers and topics.

    Attributes:
        bootstrap_servers: the servers the write went to.
        topics: the topics concerned.
        produced: messages known to be acknowledged per topic before the failure.
    """

    def __init__(
        self,
        message: str,
        *,
        bootstrap_servers: str = "",
        topics: Sequence[str] = (),
        produced: Mapping[str, int] | None = None,
    ) -> None:
        self.bootstrap_servers = bootstrap_servers
        self.topics = list(topics)
        self.produced = dict(produced or {})
        super().__init__(message)


class KafkaUnreachableError(KafkaSinkError):
    """No broker answered within the timeout."""


class MissingTopicsError(KafkaSinkError):
    """Topics the DataFrame routes rows to do not exist (and ``create_topics`` was not set)."""


class KafkaContractError(KafkaSinkError, ValueError):
    """The DataFrame or the options do not follow Spark's Kafka-sink contract."""


@dataclass(frozen=True)
class KafkaWriteResult:
    """What :func:`write_to_kafka` did.

    Attributes:
        sink: ``spark`` or ``python``.
        reason: why that sink was chosen (logged too).
        produced: messages acknowledged per topic.
    """

    sink: str
    reason: str
    produced: dict[str, int]

    @property
    def total(self) -> int:
        """Messages acknowledged over all topics."""
        return sum(self.produced.values())
