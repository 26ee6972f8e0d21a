"""File sink: one JSON line per event into ``DIR/topic=<topic>/part-*``.

The eventlogging-processor's ``file://`` writer appended every event to one file; eljobs keeps
the topic it would have gone to as a Hive-style directory, so a file output can stand in for a
Kafka output (and be loaded back per topic). Writes append: a second run adds part files, as a
second processor run appended lines.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from eljobs.errors import OutputError

if TYPE_CHECKING:
    from pyspark.sql import DataFrame


def write_files(
    df: DataFrame,
    path: str,
    *,
    topic_col: str = "topic",
    value_col: str = "value",
    mode: str = "append",
) -> dict[str, int]:
    """Write ``value_col`` as text lines under ``path``, one directory per topic.

    Rows whose topic is null are not written (the caller counts them as unroutable).
    The per-topic counts are computed first, from ``df``: persist ``df`` when it is expensive.

    Args:
        df: rows with a string topic and a string value (a serialized JSON event).
        path: the output directory (plain path, ``file://`` or ``hdfs://``).
        topic_col: the column naming the topic.
        value_col: the column holding the line to write.
        mode: Spark save mode, ``append`` (default) or ``overwrite``.

    Returns:
        Lines written per topic.

    Raises:
        OutputError: the write failed (the message names the directory).
    """
    from pyspark.sql import functions as F

    rows = df.where(F.col(topic_col).isNotNull()).select(
        F.col(topic_col).alias("topic"), F.col(value_col).alias("value")
    )
    counts = {r["topic"]: int(r["count"]) for r in rows.groupBy("topic").count().collect()}
    if not counts:
        return {}
    try:
        rows.write.mode(mode).partitionBy("topic").text(path)
    except Exception as e:
        raise OutputError(f"writing events under {path} failed: {e}") from e
    return counts
