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
        landed: messages each topic gained during the write, from every task attempt (None
            when unknown, e.g. the brokers were gone).
    """

    def __init__(
        self,
        message: str,
        *,
        bootstrap_servers: str = "",
        topics: Sequence[str] = (),
        produced: Mapping[str, int] | None = None,
        landed: Mapping[str, int] | None = None,
    ) -> None:
        self.bootstrap_servers = bootstrap_servers
        self.topics = list(topics)
        self.produced = dict(produced or {})
        self.landed = dict(landed) if landed is not None else None
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
        produced: messages acknowledged per topic (by the attempts Spark kept).
        landed: messages each topic gained during the write (end offsets after minus before):
            every task attempt's deliveries, failed attempts' included; ``None`` if unknown.
        failed_attempts: task attempts of the write that failed (Spark retried them).
    """

    sink: str
    reason: str
    produced: dict[str, int]
    landed: dict[str, int] | None = None
    failed_attempts: int = 0

    @property
    def duplicates(self) -> int | None:
        """Messages in the topics beyond those acknowledged: what failed attempts delivered
        before they failed (their rows were produced again by the retry). Exact when no other
        producer writes to the topics during the write; ``None`` if unknown."""
        if self.landed is None:
            return None
        return sum(self.landed.values()) - self.total

    @property
    def total(self) -> int:
        """Messages acknowledged over all topics."""
        return sum(self.produced.values())
