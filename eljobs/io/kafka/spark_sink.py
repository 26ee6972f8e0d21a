"""The JVM path: Spark's own ``format("kafka")`` sink (the spark-sql-kafka-0-10 connector)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING

from eljobs.io.kafka.errors import KafkaSinkError
from eljobs.io.kafka.frame import prepare_frame
from eljobs.io.kafka.jvm import first_line
from eljobs.io.kafka.options import spark_sink_options, split_options

if TYPE_CHECKING:
    from pyspark.sql import DataFrame


def prepare_spark_write(
    df: DataFrame, *, bootstrap_servers: str, options: Mapping[str, str], timeout_s: float
) -> tuple[DataFrame, dict[str, str]]:
    """Exactly what the ``spark`` path hands to ``df.write.format("kafka")``: the DataFrame
    (contract columns only) and the options."""
    _, topic = split_options(options)
    return prepare_frame(df, topic), spark_sink_options(
        bootstrap_servers, options, timeout_s=timeout_s
    )


def write_spark(
    df: DataFrame,
    *,
    bootstrap_servers: str,
    options: Mapping[str, str],
    timeout_s: float,
    topics: Sequence[str],
) -> None:
    """Write ``df`` with Spark's ``format("kafka")``; the connector fails the job on any send
    error, so returning means every row was acknowledged.

    Raises:
        KafkaSinkError: the write failed (names the servers, ``topics`` and the root cause).
    """
    sdf, sopts = prepare_spark_write(
        df, bootstrap_servers=bootstrap_servers, options=options, timeout_s=timeout_s
    )
    try:
        sdf.write.format("kafka").options(**sopts).mode("append").save()
    except Exception as e:
        raise KafkaSinkError(
            f"Spark's Kafka sink failed writing to {bootstrap_servers} (topics "
            f"{', '.join(topics)}): {first_line(e)}",
            bootstrap_servers=bootstrap_servers,
            topics=list(topics),
        ) from e
