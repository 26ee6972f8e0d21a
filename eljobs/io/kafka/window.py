"""A time window of Kafka topics: the per-partition ranges both readers share, and its errors.

Window semantics are Kafka's (the same as Spark's by-timestamp offsets): in each partition,
from the first message whose timestamp is ``>= since`` up to, not including, the first message
whose timestamp is ``>= until``.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from eljobs.errors import InputError
from eljobs.timewindow import to_utc

SOURCE_NAME = "eljobs_kafka_source"
SCHEMA = (
    "key binary, value binary, topic string, partition int, offset bigint, "
    "timestamp timestamp, timestampType int"
)


class KafkaSourceError(InputError):
    """Topics or partitions cannot be read; the message names servers, topics and partitions."""


@dataclass(frozen=True)
class PartitionRange:
    """One topic-partition to read.

    Exact (``end_offset >= 0``, planned on a broker whose offsets can be trusted): the offsets
    ``[start_offset, end_offset)``, nothing more is fetched or filtered.

    Work-around (``end_offset == -1``, a broker that ignores timestamps in offset look-ups):
    ``start_offset`` is only a lower bound; keep messages from the first with timestamp
    ``>= since_ms`` up to the first with timestamp ``>= until_ms`` or the end of the partition.
    """

    topic: str
    partition: int
    start_offset: int
    since_ms: int
    until_ms: int
    end_offset: int = -1

    @property
    def exact(self) -> bool:
        """Whether the range is a planned offset range (see the class docstring)."""
        return self.end_offset >= 0

    @property
    def offsets(self) -> int:
        """Offsets in an exact range (messages, plus any transaction markers), else 0."""
        return max(0, self.end_offset - self.start_offset) if self.exact else 0


def to_ms(dt: datetime) -> int:
    """Milliseconds since the epoch (aware or UTC-naive datetime)."""
    return int(to_utc(dt).timestamp() * 1000)
