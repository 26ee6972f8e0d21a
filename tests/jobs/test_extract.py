"""``python -m eljobs extract`` against the real embedded broker: a window by message timestamp,
values and records, the per-topic-hour account, and messages that cannot be one line."""

from __future__ import annotations

import json
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from eljobs.config import ConfigError, parse_config
from eljobs.jobs.extract import Config, main
from eljobs.testing.broker import Broker

H = datetime(2024, 5, 6, 7, tzinfo=UTC)  # the window is [H, H+2h)


def _iso(dt: datetime) -> str:
    return dt.strftime("%Y-%m-%dT%H:%M:%SZ")


def _lines(folder: Path) -> list[str]:
    out: list[str] = []
    for f in sorted(folder.glob("part-*")):
        out.extend(f.read_text(encoding="utf-8").splitlines())
    return out


@pytest.fixture(scope="module")
def topics(broker: Broker) -> dict[str, Any]:
    """Two topics with messages an hour before, inside (two hours) and an hour after the
    window, with explicit timestamps; a third with a value holding a line break."""
    from confluent_kafka import Producer
    from confluent_kafka.admin import AdminClient, NewTopic

    run = uuid.uuid4().hex[:6]
    a, b, c = f"ext_{run}_a", f"ext_{run}_b", f"ext_{run}_c"
    admin = AdminClient({"bootstrap.servers": broker.bootstrap_servers})
    for f in admin.create_topics(
        [NewTopic(a, 2, 1), NewTopic(b, 1, 1), NewTopic(c, 1, 1)]
    ).values():
        f.result()
    p = Producer({"bootstrap.servers": broker.bootstrap_servers})
    expected: dict[str, dict[str, list[str]]] = {a: {}, b: {}}
    for topic, parts in ((a, 2), (b, 1)):
        for hour in (-1, 0, 1, 2):
            for i in range(5):
                dt = H + timedelta(hours=hour, minutes=10 * i)
                value = json.dumps({"topic": topic, "dt": _iso(dt), "i": i})
                p.produce(
                    topic,
                    value.encode(),
                    key=f"k{i}".encode(),
                    partition=i % parts,
                    timestamp=int(dt.timestamp() * 1000),
                )
                if hour in (0, 1):
                    expected[topic].setdefault(_iso(H + timedelta(hours=hour)), []).append(value)
    for value in ("fine", "two\nlines"):
        p.produce(c, value.encode(), timestamp=int((H + timedelta(minutes=1)).timestamp() * 1000))
    assert p.flush(10) == 0
    return {"a": a, "b": b, "c": c, "run": run, "expected": expected}


def _args(broker: Broker, out: Path, *extra: str) -> list[str]:
    return [
        "--bootstrap_servers",
        broker.bootstrap_servers,
        "--since",
        _iso(H - timedelta(minutes=30)),  # rounded up to H
        "--until",
        _iso(H + timedelta(hours=2, minutes=30)),  # rounded down to H+2h
        "--output",
        f"file://{out}",
        *extra,
    ]


def test_extracts_the_window_values_per_topic_with_an_account(
    spark: Any, broker: Broker, topics: dict[str, Any], tmp_path: Path, capsys: Any
) -> None:
    out = tmp_path / "out"
    code = main(_args(broker, out, "--topics_regex", f"ext_{topics['run']}_[ab]"))
    assert code == 0
    for t in (topics["a"], topics["b"]):
        want = sorted(v for vs in topics["expected"][t].values() for v in vs)
        assert sorted(_lines(out / f"topic={t}")) == want
    assert not (out / f"topic={topics['c']}").exists()
    report = json.loads((out / "_extract_report.json").read_text())
    assert report["ok"] is True
    assert report["window"] == {"since": _iso(H), "until": _iso(H + timedelta(hours=2))}
    assert sorted(
        (r["topic"], r["hour"], r["read"], r["written"]) for r in report["rows"]
    ) == sorted(
        (t, hour, 5, 5) for t in (topics["a"], topics["b"]) for hour in topics["expected"][t]
    )
    printed = capsys.readouterr().out
    assert "TOTAL" in printed and _iso(H + timedelta(hours=1)) in printed


def test_record_format_carries_topic_partition_offset_timestamp_key(
    spark: Any, broker: Broker, topics: dict[str, Any], tmp_path: Path
) -> None:
    out = tmp_path / "rec"
    assert main(_args(broker, out, "--topics", topics["a"], "--output_format", "record")) == 0
    records = [json.loads(line) for line in _lines(out / f"topic={topics['a']}")]
    assert len(records) == 10
    for r in records:
        assert set(r) == {"topic", "partition", "offset", "timestamp", "key", "value"}
        value = json.loads(r["value"])
        assert r["topic"] == topics["a"]
        assert r["partition"] == value["i"] % 2
        assert r["key"] == f"k{value['i']}"
        assert r["timestamp"] == int(datetime.fromisoformat(value["dt"]).timestamp() * 1000)
    # The hour before the window put 3 messages in partition 0 and 2 in partition 1.
    assert min(r["offset"] for r in records if r["partition"] == 0) == 3
    assert min(r["offset"] for r in records if r["partition"] == 1) == 2


def test_a_value_with_a_line_break_is_rejected_counted_and_fails_the_run(
    spark: Any, broker: Broker, topics: dict[str, Any], tmp_path: Path
) -> None:
    out = tmp_path / "nl"
    assert main(_args(broker, out, "--topics", topics["c"])) == 1
    assert _lines(out / f"topic={topics['c']}") == ["fine"]
    report = json.loads((out / "_extract_report.json").read_text())
    assert [(r["read"], r["written"], r["rejected"]) for r in report["rows"]] == [(2, 1, 1)]
    assert "--output_format record" in report["failures"][0]["reason"]
    # With records nothing is lost.
    assert (
        main(_args(broker, tmp_path / "nl2", "--topics", topics["c"], "--output_format", "record"))
        == 0
    )
    values = [json.loads(x)["value"] for x in _lines(tmp_path / "nl2" / f"topic={topics['c']}")]
    assert sorted(values) == ["fine", "two\nlines"]


def test_options_are_checked_together() -> None:
    with pytest.raises(ConfigError) as ei:
        parse_config(
            Config,
            [
                "--bootstrap_servers",
                "b:1",
                "--since",
                "2024-01-01T10:30",
                "--until",
                "2024-01-01T10:50",
                "--output",
                "file:///tmp/x",
                "--kafka_option",
                "fetch.wait.max.ms=5",
            ],
        )
    text = str(ei.value)
    assert "exactly one of --topics and --topics_regex" in text
    assert "holds no whole hour" in text
    assert "expected kafka.<setting>" in text


def test_a_failed_extract_writes_its_report_at_its_usual_place(
    spark: Any, broker: Broker, topics: dict[str, Any], tmp_path: Path
) -> None:
    out = tmp_path / "failed"
    missing = f"ext_{topics['run']}_missing"
    assert main(_args(broker, out, "--topics", missing)) == 1
    report = json.loads((out / "_extract_report.json").read_text())
    assert (report["ok"], report["status"]) == (False, "failed")
    assert missing in report["error"] and "do not exist" in report["error"]
    # What was known before the failure: the window and the output.
    assert report["window"] == {"since": _iso(H), "until": _iso(H + timedelta(hours=2))}
    assert report["output"] == f"file:{out}"


def test_a_report_path_that_cannot_be_written_stops_extract_before_reading(
    spark: Any, broker: Broker, topics: dict[str, Any], tmp_path: Path, capsys: Any
) -> None:
    out = tmp_path / "never"
    path = "hdfs:///reports/extract.json"
    assert main(_args(broker, out, "--topics", topics["a"], "--report_path", path)) == 2
    err = capsys.readouterr().err
    assert f"--report_path: cannot write a report at {path}: " in err
    assert not out.exists()


def test_a_failed_read_is_told_by_its_telling_line() -> None:
    from eljobs.jobs.extract import _cause

    python_side = Exception(
        "An error occurred while calling o1.collectToPython.\n"
        "org.apache.spark.api.python.PythonException: Traceback (most recent call last):\n"
        '  File "reader.py", line 1, in read_range\n'
        "eljobs.io.kafka.window.KafkaSourceError: reading t[0] from b:1: nothing received\n"
    )
    assert _cause(python_side) == (
        "eljobs.io.kafka.window.KafkaSourceError: reading t[0] from b:1: nothing received"
    )
    jvm_side = Exception(
        "An error occurred while calling o2.collectToPython.\n"
        ": org.apache.spark.SparkException: Job aborted due to stage failure: Lost task 0.0: "
        "org.apache.kafka.common.errors.TimeoutException: Timeout of 8000ms expired before "
        "the position for partition t-0 could be determined\n"
        "\tat org.apache.kafka.clients.consumer.internals.Foo.bar(Foo.java:1)\n"
    )
    assert _cause(jvm_side).startswith(
        "org.apache.kafka.common.errors.TimeoutException: Timeout of 8000ms expired"
    )
    assert _cause(Exception("first line\nsecond")) == "first line"
