"""End to end through Kafka: backfill one generated hour into the embedded broker (Apache
Kafka) with both sinks (Spark's connector and eljobs' Python writer), extract the same window
back with both readers, and compare message for message (key, value, topic) with the
file-sink output of the same input.

Record timestamps are the produce time (as with Spark's sink and the reference
``kafka-confluent`` writer), so the window extracted is the hour(s) the backfill ran in.
EventError capsules carry the wall time of their making (spec: not reproducible), so they are
compared without ``timestamp`` and ``uuid``; valid capsules are compared byte for byte.
"""

from __future__ import annotations

import json
import uuid
from collections import Counter
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from eljobs.io.kafka.admin import existing_topics
from eljobs.jobs import backfill, extract
from eljobs.testing.broker import Broker, EmbeddedBroker, read_topic
from eljobs.testing.sample import (
    encode_query,
    generate_lines,
    load_sample_schemas,
    varnishkafka_line,
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
    if not topic.endswith("eventlogging_EventError"):
        return value
    capsule = json.loads(value)
    capsule.pop("timestamp", None)
    capsule.pop("uuid", None)
    return json.dumps(capsule, sort_keys=True)


def _records(out: Path) -> dict[str, list[tuple[str | None, str]]]:
    """Extract's record output: per topic, (key, comparable value) of every message."""
    got: dict[str, list[tuple[str | None, str]]] = {}
    for topic, lines in _topics(out).items():
        for line in lines:
            rec = json.loads(line)
            assert rec["topic"] == topic
            got.setdefault(topic, []).append((rec["key"], _comparable(topic, rec["value"])))
    return got


@pytest.mark.slow
def test_backfill_with_both_sinks_then_extract_with_both_readers_equals_the_file_sink(
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
    want = {t: Counter((None, _comparable(t, v)) for v in vs) for t, vs in from_files.items()}

    sinks = ("spark", "python")
    with EmbeddedBroker(log_path=tmp_path / "kafka.log") as b:
        started = datetime.now(UTC)
        for sink in sinks:
            # Each sink writes its own copy of the topics, prefixed with its name.
            code = backfill.main(
                [
                    *common,
                    "--output", f"kafka:///{b.bootstrap_servers}?topic={sink}_eventlogging_{{schema}}",
                    "--output_invalid",
                    "--create_topics",
                    "--kafka_sink", sink,
                    "--kafka_option", "kafka.linger.ms=5",
                    "--report_path", str(tmp_path / f"backfill_{sink}.json"),
                ]
            )  # fmt: skip
            assert code == 0, sink
        ended = datetime.now(UTC)
        extracted: dict[str, Path] = {}
        for reader in ("spark", "python"):
            extracted[reader] = tmp_path / f"extracted_{reader}"
            code = extract.main(
                [
                    "--bootstrap_servers", b.bootstrap_servers,
                    "--topics_regex", "(spark|python)_eventlogging_.*",
                    "--since", floor_hour(started).isoformat(),
                    "--until", (floor_hour(ended) + timedelta(hours=1)).isoformat(),
                    "--output", f"file://{extracted[reader]}",
                    "--output_format", "record",
                    "--kafka_reader", reader,
                ]
            )  # fmt: skip
            assert code == 0, reader

    for reader, out in extracted.items():
        got = _records(out)
        report = json.loads((out / "_extract_report.json").read_text())
        assert report["reader"] == reader
        for sink in sinks:
            mine = {
                t.removeprefix(f"{sink}_"): Counter(pairs)
                for t, pairs in got.items()
                if t.startswith(f"{sink}_")
            }
            # Message for message: the same keys (none) and values in the same topics.
            assert mine == want, (sink, reader)
    for sink in sinks:
        # The account holds what the sink acknowledged per topic, and every attempt's count:
        # the topics gained exactly that, nothing twice.
        report = json.loads((tmp_path / f"backfill_{sink}.json").read_text())
        assert report["ok"] is True
        acknowledged: Counter[str] = Counter()
        for per_topic_written in report["written"].values():
            acknowledged.update(per_topic_written)
        assert acknowledged == Counter({f"{sink}_{t}": len(v) for t, v in from_files.items()}), sink
        (attempts,) = report["kafka_attempts"].values()
        assert attempts["sink"] == sink
        assert attempts["duplicates"] == 0 and attempts["failed_attempts"] == 0
        assert attempts["landed"] == dict(acknowledged)


def _lines_choosing_topics(topics: list[str]) -> list[str]:
    """Valid client-side lines of schema Demo whose capsules name their own ``topic``."""
    out = []
    for seq, topic in enumerate(topics, start=1):
        capsule = {
            "event": {"action": "view"},
            "revision": 1,
            "schema": "Demo",
            "wiki": "enwiki",
            "topic": topic,
        }
        out.append(
            varnishkafka_line(
                encode_query(capsule), "cp1", seq, "2024-01-05T03:00:00", "1.2.3.4", "Firefox/120"
            )
        )
    return out


@pytest.mark.slow
def test_events_naming_a_topic_outside_topics_regex_are_rejected_never_written(
    spark: Any, broker: Broker, tmp_path: Path
) -> None:
    run = uuid.uuid4().hex[:6]
    allowed, foreign = f"eventlogging_guard_{run}", f"owned_by_others_{run}"
    schema = tmp_path / "schemas" / "Demo" / "1.json"
    schema.parent.mkdir(parents=True)
    schema.write_text(json.dumps({"properties": {"action": {"type": "string"}}}))
    raw = tmp_path / "raw"
    write_text_hour(raw / "2024/01/05/03", _lines_choosing_topics([allowed] * 3 + [foreign] * 2))
    uri = f"kafka:///{broker.bootstrap_servers}"  # no ?topic=: each capsule's own topic
    report = tmp_path / "account.json"
    args = [
        "--input_path", str(raw),
        "--since", "2024-01-05T03:00:00Z",
        "--until", "2024-01-05T04:00:00Z",
        "--schemas_path", str(tmp_path / "schemas"),
        "--output", uri,
        "--report_path", str(report),
    ]  # fmt: skip

    # Without --create_topics the allowed topic is missing: the run fails, and its report holds
    # the account, what the output was to receive and what the failed Kafka write did.
    assert backfill.main(args) == 1
    failed = json.loads(report.read_text())
    assert (failed["ok"], failed["status"]) == (False, "failed")
    assert allowed in failed["error"] and foreign not in failed["error"]
    assert (failed["totals"]["read"], failed["totals"]["rejected"]) == (5, 2)
    assert failed["expected"] == {uri: {allowed: 3}} and failed["written"] == {}
    assert failed["kafka_attempts"][uri]["failed"] is True
    assert failed["kafka_attempts"][uri]["acknowledged"] == {}
    assert failed["rejected_topics"] == {uri: [foreign]}

    assert backfill.main([*args, "--create_topics"]) == 0
    acc = json.loads(report.read_text())
    assert acc["status"] == "succeeded"
    assert (acc["totals"]["valid"], acc["totals"]["rejected"]) == (5, 2)
    assert acc["written"] == {uri: {allowed: 3}}
    assert [r["rejected"] for r in acc["rows"]] == [2]
    # Never written, not even created: the topic belongs to someone else.
    assert foreign not in existing_topics(broker.bootstrap_servers, {}, 30.0)
    assert len(read_topic(broker.bootstrap_servers, allowed)) == 3
