"""Spark's Kafka-sink DataFrame contract: check a frame, keep its columns, count rows per topic."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from pyspark.sql import functions as F
from pyspark.sql import types as T

from eljobs.io.kafka.errors import KafkaContractError

if TYPE_CHECKING:
    from pyspark.sql import DataFrame


def prepare_frame(df: DataFrame, topic: str | None = None) -> DataFrame:
    """Check ``df`` against Spark's Kafka-sink contract and keep only its columns, in the order
    ``topic, key, value, partition, headers`` (those present).

    Args:
        df: the rows to write.
        topic: the ``topic`` option: every row goes to it (overrides a ``topic`` column).

    Raises:
        KafkaContractError: a column is missing or has the wrong type (named with both types).
    """
    fields = {f.name: f.dataType for f in df.schema.fields}
    problems = []

    def want(name: str, ok: bool, expected: str) -> None:
        if name in fields and not ok:
            problems.append(
                f"column {name!r}: expected {expected}, found {fields[name].simpleString()}"
            )

    if topic is None and "topic" not in fields:
        problems.append("column 'topic' (string) is missing and no topic option was given")
    if "value" not in fields:
        problems.append("column 'value' (string or binary) is missing")
    if topic is None:
        want("topic", isinstance(fields.get("topic"), T.StringType), "string")
    want("value", isinstance(fields.get("value"), T.StringType | T.BinaryType), "string or binary")
    want("key", isinstance(fields.get("key"), T.StringType | T.BinaryType), "string or binary")
    want("partition", isinstance(fields.get("partition"), T.IntegerType), "int")
    h = fields.get("headers")
    headers_ok = (
        isinstance(h, T.ArrayType)
        and isinstance(h.elementType, T.StructType)
        and [(f.name, type(f.dataType)) for f in h.elementType.fields]
        == [("key", T.StringType), ("value", T.BinaryType)]
    )
    want("headers", headers_ok, "array<struct<key:string,value:binary>>")
    if problems:
        raise KafkaContractError(
            "DataFrame does not follow the Kafka sink contract: " + "; ".join(problems)
        )
    cols = []
    for name in ("topic", "key", "value", "partition", "headers"):
        if name == "topic" and topic is not None:
            cols.append(F.lit(topic).alias("topic"))
        elif name in fields:
            cols.append(F.col(name))
    return df.select(*cols)


# The smallest framing of one record alone in a record batch (61 bytes of batch header, at
# least 7 of record header): a record whose key and value exceed a topic's max.message.bytes
# minus this can never be accepted uncompressed.
RECORD_OVERHEAD_MIN = 68


def _payload_bytes(df: DataFrame) -> Any:
    def size(name: str) -> Any:
        return F.coalesce(F.octet_length(F.col(name)), F.lit(0))

    total = size("value")
    if "key" in df.columns:
        total = total + size("key")
    if "headers" in df.columns:
        total = total + F.coalesce(
            F.aggregate(
                F.col("headers"),
                F.lit(0),
                lambda acc, h: acc + F.octet_length(h["key"]) + F.octet_length(h["value"]),
            ),
            F.lit(0),
        )
    return total


def topic_stats(df: DataFrame) -> dict[str, tuple[int, int]]:
    """Per topic: rows routed to it and the largest key + value + headers in bytes (one
    Spark action).

    Raises:
        KafkaContractError: some rows have a null topic.
    """
    out: dict[str, tuple[int, int]] = {}
    rows = (
        df.groupBy("topic")
        .agg(F.count(F.lit(1)).alias("count"), F.max(_payload_bytes(df)).alias("largest"))
        .collect()
    )
    for r in rows:
        if r["topic"] is None:
            raise KafkaContractError(
                f"{r['count']} rows have a null topic; every row needs a topic (column or option)"
            )
        out[r["topic"]] = (int(r["count"]), int(r["largest"] or 0))
    return out


def rows_per_topic(df: DataFrame) -> dict[str, int]:
    """Rows routed to each topic (one Spark action).

    Raises:
        KafkaContractError: some rows have a null topic.
    """
    return {t: n for t, (n, _) in topic_stats(df).items()}


def oversized_per_topic(df: DataFrame, limits: dict[str, int]) -> dict[str, int]:
    """Rows of each topic in ``limits`` too large for its ``max.message.bytes`` (one action)."""
    cond = None
    for t, limit in limits.items():
        c = (F.col("topic") == t) & (_payload_bytes(df) > limit - RECORD_OVERHEAD_MIN)
        cond = c if cond is None else cond | c
    if cond is None:
        return {}
    return {r["topic"]: int(r["count"]) for r in df.where(cond).groupBy("topic").count().collect()}
