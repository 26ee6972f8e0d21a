"""End to end through Kafka: backfill one generated hour into the embedded broker, extract the
same window back, and compare message for message with the file-sink output of the same input.

Record timestamps are the produce time (as with Spark's sink and the reference
``kafka-confluent`` writer), so the window extracted is the hour(s) the backfill ran in.
EventError capsules carry the wall time of their making (spec: not reproducible), so they are
compared without ``timestamp`` and ``uuid``; valid capsules are compared byte for byte.
"""

from __future__ import annotations

import json
from collections import Counter
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from eljobs.jobs import backfill, extract
from eljobs.testing.broker import EmbeddedBroker
from eljobs.testing.sample import (
    generate_lines,
    load_sample_schemas,
    write_sample_schemas,
    write_text_hour,
)
from eljobs.timewindow import floor_hour

NAMES = ("navigationtiming", "editattemptstep", "searchsatisfaction")
HOUR = datetime(2024, 2, 3, 4, tzinfo=UTC)


def _topics(out: Path) -> dict[str, list[str]]:
    topics: dict[str, list[str]] = {}
    for d in sorted(out.glob("topic=*")):
        lines = topics.setdefault(d.name.split("=", 1)[1], [])
        for part in sorted(d.glob("part-*")):
            lines.extend(part.read_text(encoding="utf-8").splitlines())
    return topics


def _comparable(topic: str, value: str) -> str:
    if topic != "eventlogging_EventError":
        return value
    capsule = json.loads(value)
    capsule.pop("timestamp", None)
    capsule.pop("uuid", None)
    return json.dumps(capsule, sort_keys=True)


@pytest.mark.slow
def test_backfill_to_kafka_then_extract_equals_the_file_sink(
    spark: Any, schemas_dir: Path, tmp_path: Path
) -> None:
    schemas = load_sample_schemas(NAMES, source=schemas_dir)
    write_sample_schemas(tmp_path / "schemas", NAMES, source=schemas_dir)
    raw = tmp_path / "raw"
    lines = generate_lines(schemas, 300, hour=HOUR, seed=5, invalid_fraction=0.1)
    write_text_hour(raw / HOUR.strftime("%Y/%m/%d/%H"), [s.line for s in lines], compress=True)
    common = [
        "--input_path", str(raw),
        "--since", HOUR.isoformat(),
        "--until", (HOUR + timedelta(hours=1)).isoformat(),
        "--schemas_path", str(tmp_path / "schemas"),
        "--hostname", "backfill-kafka-test",
    ]  # fmt: skip

    file_out = tmp_path / "file_sink"
    assert backfill.main([*common, "--output", f"file://{file_out}", "--output_invalid"]) == 0
    from_files = _topics(file_out)
    assert "eventlogging_EventError" in from_files and len(from_files) >= 3

    with EmbeddedBroker(log_path=tmp_path / "kafka.log") as b:
        started = datetime.now(UTC)
        code = backfill.main(
            [
                *common,
                "--output", f"kafka:///{b.bootstrap_servers}?topic=eventlogging_{{schema}}",
                "--output_invalid",
                "--create_topics",
                "--report_path", str(tmp_path / "backfill_kafka.json"),
            ]
        )  # fmt: skip
        assert code == 0
        ended = datetime.now(UTC)
        extracted = tmp_path / "extracted"
        code = extract.main(
            [
                "--bootstrap_servers", b.bootstrap_servers,
                "--topics_regex", "eventlogging_.*",
                "--since", floor_hour(started).isoformat(),
                "--until", (floor_hour(ended) + timedelta(hours=1)).isoformat(),
                "--output", f"file://{extracted}",
            ]
        )  # fmt: skip
        assert code == 0
    from_kafka = _topics(extracted)

    assert sorted(from_kafka) == sorted(from_files)
    for topic, values in from_files.items():
        assert len(from_kafka[topic]) == len(values), topic
        assert Counter(_comparable(topic, v) for v in from_kafka[topic]) == Counter(
            _comparable(topic, v) for v in values
        ), topic
    # The backfill's account holds what the sink acknowledged per topic: the same counts.
    report = json.loads((tmp_path / "backfill_kafka.json").read_text())
    assert report["ok"] is True
    acknowledged: Counter[str] = Counter()
    for per_topic_written in report["written"].values():
        acknowledged.update(per_topic_written)
    assert acknowledged == Counter({t: len(v) for t, v in from_files.items()})
    extract_report = json.loads((extracted / "_extract_report.json").read_text())
    per_topic: Counter[str] = Counter()
    for row in extract_report["rows"]:
        per_topic[row["topic"]] += row["written"]
    assert per_topic == Counter({t: len(v) for t, v in from_files.items()})
