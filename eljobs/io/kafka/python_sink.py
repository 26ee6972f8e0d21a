"""The Python sink's driver side: run eljobs' Data Source writer
(:mod:`eljobs.io.kafka.writer`) and read back what its tasks acknowledged."""

from __future__ import annotations

import json
import re
import tempfile
import uuid
import weakref
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from eljobs.io.kafka.errors import KafkaSinkError
from eljobs.io.kafka.jvm import activate, first_line
from eljobs.io.kafka.options import split_options
from eljobs.io.kafka.writer import MARK, SOURCE_NAME, KafkaDataSource

if TYPE_CHECKING:
    from pyspark.sql import DataFrame

_REGISTERED: weakref.WeakSet[Any] = weakref.WeakSet()  # sessions with our source


def write_python(
    frame: DataFrame, *, bootstrap_servers: str, options: Mapping[str, str], timeout_s: float
) -> dict[str, int]:
    spark = frame.sparkSession
    activate(spark)
    if spark not in _REGISTERED:
        spark.dataSource.register(KafkaDataSource)
        _REGISTERED.add(spark)
    client, _ = split_options(options)
    report = Path(tempfile.gettempdir()) / f"eljobs-kafka-commit-{uuid.uuid4().hex}.json"
    writer = (
        frame.write.format(SOURCE_NAME)
        .mode("append")
        .option("bootstrap_servers", bootstrap_servers)
        .option("timeout_s", str(timeout_s))
        .option("commit_report", str(report))
    )
    for k, v in client.items():
        writer = writer.option(f"kafka.{k}", v)
    try:
        try:
            writer.save()
        except Exception as e:
            done = _read_report(report)
            detail = _failure_detail(e)
            raise KafkaSinkError(
                f"Kafka write to {bootstrap_servers} failed: {detail}. Acknowledged by the "
                f"tasks that completed: {done.get('produced', {})}",
                bootstrap_servers=bootstrap_servers,
                topics=[],
                produced=done.get("produced", {}),
            ) from e
        done = _read_report(report)
        if done.get("status") != "committed":
            raise KafkaSinkError(
                f"Kafka write to {bootstrap_servers}: the commit report {report} is missing",
                bootstrap_servers=bootstrap_servers,
            )
        return {str(k): int(v) for k, v in done["produced"].items()}
    finally:
        report.unlink(missing_ok=True)


def _failure_detail(e: BaseException) -> str:
    """The task's own message when a task raised :class:`KafkaDeliveryError`, else the first
    informative line of the Spark or Java error."""
    texts = [str(e)]
    java = getattr(e, "java_exception", None)
    if java is not None:
        texts.append(str(java))
    for text in texts:
        for ln in text.splitlines():
            if MARK in ln:
                return ln.split(MARK, 1)[1].strip()
    for text in texts:
        # The exception line of a Python worker's traceback ("TypeError: ...").
        for ln in text.splitlines():
            if re.match(r"^[A-Za-z_][\w.]*(Error|Exception): ", ln.strip()):
                return ln.strip()[:500]
    for text in reversed(texts):
        for ln in text.splitlines():
            ln = ln.strip()
            if ln and not ln.startswith(("at ", "An error occurred while calling", ":")):
                return ln[:500]
    return first_line(e)


def _read_report(path: Path) -> dict[str, Any]:
    try:
        return dict(json.loads(path.read_text()))
    except (OSError, ValueError):
        return {}
