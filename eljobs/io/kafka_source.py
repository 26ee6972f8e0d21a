"""Kept so ``from eljobs.io.kafka_source import ...`` keeps working: the window source now lives
in :mod:`eljobs.io.kafka.source` (driver side), :mod:`eljobs.io.kafka.reader` (executors) and
:mod:`eljobs.io.kafka.window` (the ranges)."""

from __future__ import annotations

from eljobs.io.kafka.options import consumer_config
from eljobs.io.kafka.reader import KafkaRangeReader, KafkaSource, RangePartition, read_range
from eljobs.io.kafka.source import plan_ranges, read_window, resolve_topics, spark_source_options
from eljobs.io.kafka.window import SCHEMA, SOURCE_NAME, KafkaSourceError, PartitionRange, to_ms

__all__ = [
    "SCHEMA",
    "SOURCE_NAME",
    "KafkaRangeReader",
    "KafkaSource",
    "KafkaSourceError",
    "PartitionRange",
    "RangePartition",
    "consumer_config",
    "plan_ranges",
    "read_range",
    "read_window",
    "resolve_topics",
    "spark_source_options",
    "to_ms",
]
