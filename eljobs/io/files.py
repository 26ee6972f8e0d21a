"""File sink: one JSON line per event into ``DIR/topic=<topic>/part-*``.

The eventlogging-processor's ``file://`` writer appended every event to one file; eljobs keeps
the topic it would have gone to as a Hive-style directory, so a file output can stand in for a
Kafka output (and be loaded back per topic). Writes append: a second run adds part files, as a
second processor run appended lines.

Small files (reports, schemas, flags) go through :mod:`eljobs.io.fs`.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from typing import TYPE_CHECKING

from pyspark.sql import Observation
from pyspark.sql import functions as F

from eljobs.errors import OutputError

if TYPE_CHECKING:
    from pyspark.sql import DataFrame


UNLISTED = "<topics not listed>"


def write_files(
    df: DataFrame,
    path: str,
    *,
    topics: Sequence[str] | None = None,
    topic_col: str = "topic",
    value_col: str = "value",
    mode: str = "append",
) -> dict[str, int]:
    """Write ``value_col`` as text lines under ``path``, one directory per topic.

    Rows whose topic is null are not written (the caller counts them as unroutable). The
    lines written per topic are counted during the write itself (Spark observed metrics, which
    count each partition once even when a task is retried), for the ``topics`` given; rows of
    other topics are written too and counted under :data:`UNLISTED`. Without ``topics`` they
    are found first with one more pass over ``df`` (persist it when it is expensive).

    Args:
        df: rows with a string topic and a string value (a serialized JSON event).
        path: the output directory (plain path, ``file://`` or ``hdfs://``).
        topics: the topics expected in ``df``.
        topic_col: the column naming the topic.
        value_col: the column holding the line to write.
        mode: Spark save mode, ``append`` (default) or ``overwrite``.

    Returns:
        Lines written per topic (topics with none are left out).

    Raises:
        OutputError: the write failed (the message names the directory).
    """
    rows = df.where(F.col(topic_col).isNotNull()).select(
        F.col(topic_col).alias("topic"), F.col(value_col).alias("value")
    )
    if topics is None:
        topics = sorted(r["topic"] for r in rows.select("topic").distinct().collect())
    listed = list(dict.fromkeys(topics))
    obs = Observation(f"files-{uuid.uuid4().hex}")
    observed = rows.observe(
        obs,
        F.count(F.lit(1)).alias("all"),
        *(
            F.sum(F.when(F.col("topic") == t, 1).otherwise(0)).alias(f"t{i}")
            for i, t in enumerate(listed)
        ),
    )
    try:
        observed.write.mode(mode).partitionBy("topic").text(path)
    except Exception as e:
        raise OutputError(f"writing events under {path} failed: {e}") from e
    metrics = obs.get
    counts = {t: int(metrics.get(f"t{i}") or 0) for i, t in enumerate(listed)}
    other = int(metrics.get("all") or 0) - sum(counts.values())
    if other:
        counts[UNLISTED] = other
    return {t: n for t, n in counts.items() if n}
