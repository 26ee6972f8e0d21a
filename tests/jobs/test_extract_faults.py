"""Fault drill for ``python -m eljobs extract`` on Apache Kafka, for both readers: the broker is
killed while the extract reads and restarted seconds later. The run must either fail loudly
(exit 1, a message naming the servers and the topic, no report claiming a complete window) or
write exactly the window's messages; never part of the window with exit 0.

The drill starts its own broker so the session's shared one keeps running; the kill and
restart happen in the test's thread while the job runs in another, as an operator would run it
(``main`` with its arguments, exit code and report).
"""

from __future__ import annotations

import json
import threading
import time
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from eljobs.jobs.extract import main
from eljobs.testing.broker import ApacheKafkaBroker

H = datetime(2024, 5, 6, 7, tzinfo=UTC)  # the window is [H, H+1h)
PARTITIONS = 4
IN_WINDOW = 40_000
OUTSIDE = 2_000  # before the window, and as many after it
# The producer's batches hold this many messages, and the readers fetch one batch per request
# (``max.partition.fetch.bytes=1``; each reader task reads one partition): reading the window
# takes 1,600 round trips, seconds rather than a fraction of one, so the kill lands while the
# read is under way (the test checks that it did).
BATCH = 25
FETCH_OPTIONS = ("kafka.max.partition.fetch.bytes=1",)
# Outages: --kafka_timeout (None: the default, 30 s) and how long the broker stays dead before
# its restart begins (the restart itself takes seconds more). A brief one may be ridden out; one
# past the timeout should fail the run. Either way the run must not claim part of the window.
OUTAGES: dict[str, tuple[str | None, float]] = {
    "brief": (None, 3.0),
    "past_timeout": ("8", 11.0),
}


def _iso(dt: datetime) -> str:
    return dt.strftime("%Y-%m-%dT%H:%M:%SZ")


def _lines(folder: Path) -> list[str]:
    out: list[str] = []
    for f in sorted(folder.glob("part-*")):
        out.extend(f.read_text(encoding="utf-8").splitlines())
    return out


@pytest.fixture(scope="module")
def drill(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    """A broker of the drill's own, with one topic: ``OUTSIDE`` messages in the half hour
    before the window, ``IN_WINDOW`` spread over its hour and ``OUTSIDE`` after it, with explicit
    timestamps rising in every partition (as a live topic's do)."""
    from confluent_kafka import Producer
    from confluent_kafka.admin import AdminClient, NewTopic

    log = tmp_path_factory.mktemp("drill") / "kafka.log"
    t0 = time.monotonic()
    with ApacheKafkaBroker(log_path=log) as b:
        t1 = time.monotonic()
        topic = f"drill_{uuid.uuid4().hex[:8]}"
        admin = AdminClient({"bootstrap.servers": b.bootstrap_servers})
        for f in admin.create_topics([NewTopic(topic, PARTITIONS, 1)]).values():
            f.result(30)
        p = Producer(
            {
                "bootstrap.servers": b.bootstrap_servers,
                # Retries of a plain producer can write a batch twice; the topic must hold
                # exactly what was produced.
                "enable.idempotence": True,
                "batch.num.messages": BATCH,
                "linger.ms": 5,
                "queue.buffering.max.messages": 1_000_000,
            }
        )
        expected: list[str] = []
        plan = [
            (H - timedelta(minutes=30), timedelta(minutes=30), OUTSIDE, False),
            (H, timedelta(hours=1), IN_WINDOW, True),
            (H + timedelta(hours=1), timedelta(minutes=30), OUTSIDE, False),
        ]
        seq = 0
        for start, span, n, inside in plan:
            step_ms = span.total_seconds() * 1000 / n
            base_ms = int(start.timestamp() * 1000)
            for i in range(n):
                value = json.dumps({"seq": seq, "inside": inside, "pad": "x" * 60})
                p.produce(
                    topic,
                    value.encode(),
                    partition=seq % PARTITIONS,
                    timestamp=base_ms + int(i * step_ms),
                )
                seq += 1
                if inside:
                    expected.append(value)
                if seq % 50_000 == 0:
                    p.poll(0)
        assert p.flush(60) == 0
        print(f"drill broker up in {t1 - t0:.1f}s, topic filled in {time.monotonic() - t1:.1f}s")
        yield {"broker": b, "topic": topic, "expected": sorted(expected), "log": log}


def _read_stage(spark: Any, deadline: float, job: threading.Thread) -> int | None:
    """The id of the first stage running tasks (the extract's first stage reads Kafka)."""
    tracker = spark.sparkContext.statusTracker()
    while time.monotonic() < deadline and job.is_alive():
        for sid in tracker.getActiveStageIds():
            info = tracker.getStageInfo(sid)
            if info is not None and info.numActiveTasks > 0:
                return int(sid)
        time.sleep(0.05)
    return None


@pytest.mark.slow
@pytest.mark.parametrize("outage", sorted(OUTAGES))
@pytest.mark.parametrize("reader", ["spark", "python"])
def test_broker_restarted_during_an_extract_fails_or_writes_the_whole_window(
    spark: Any, drill: dict[str, Any], tmp_path: Path, capsys: Any, reader: str, outage: str
) -> None:
    timeout, down_s = OUTAGES[outage]
    b: ApacheKafkaBroker = drill["broker"]
    topic = drill["topic"]
    out = tmp_path / "out"
    argv = [
        "--bootstrap_servers",
        b.bootstrap_servers,
        "--topics",
        topic,
        "--since",
        _iso(H),
        "--until",
        _iso(H + timedelta(hours=1)),
        "--output",
        f"file://{out}",
        "--kafka_reader",
        reader,
        *[a for opt in FETCH_OPTIONS for a in ("--kafka_option", opt)],
        *(["--kafka_timeout", timeout] if timeout else []),
    ]
    box: dict[str, Any] = {}

    def extract() -> None:
        try:
            box["code"] = main(argv)
        except BaseException as e:  # the job must answer with an exit code, not raise
            box["error"] = e

    job = threading.Thread(target=extract)
    started = time.monotonic()
    job.start()
    stage = _read_stage(spark, time.monotonic() + 60, job)
    assert stage is not None, (
        f"the extract never started reading: {str(box.get('error', box))[:4000]}"
    )
    time.sleep(0.5)  # let every read task get going
    b.kill()
    try:
        killed_at = time.monotonic() - started
        # The drill is worth something only if the kill interrupted the read.
        interrupted = stage in spark.sparkContext.statusTracker().getActiveStageIds()
        time.sleep(down_s)
    finally:
        b.restart()  # the next drill needs the broker, whatever happened here
    back_at = time.monotonic() - started
    job.join(240)
    assert interrupted, (
        f"the reading stage {stage} ended before the broker was killed: make the read longer"
    )
    assert not job.is_alive(), "the extract did not end within 240 s of the restart"
    took = time.monotonic() - started
    assert "error" not in box, f"main raised instead of exiting 1: {box['error']!r}"
    code = box["code"]
    captured = capsys.readouterr()
    report_path = out / "_extract_report.json"
    report = json.loads(report_path.read_text()) if report_path.exists() else None
    timing = (
        f"killed at {killed_at:.1f}s, back at {back_at:.1f}s, job ended at {took:.1f}s "
        f"(broker down {back_at - killed_at:.1f}s)"
    )
    if code == 0:
        lines = _lines(out / f"topic={topic}")
        assert len(lines) == len(drill["expected"]), (
            f"exit 0 with {len(lines)} of the window's {len(drill['expected'])} messages"
        )
        assert sorted(lines) == drill["expected"]
        assert report is not None and report["ok"] is True
        assert sum(r["read"] for r in report["rows"]) == IN_WINDOW
        outcome = f"completed: exit 0 with all {len(lines)} messages of the window"
    else:
        assert code == 1, f"expected exit 0 or 1, found {code}"
        failed = [x for x in captured.err.splitlines() if "eljobs extract failed" in x]
        assert failed, f"exit 1 without the job's failure line:\n{captured.err[-3000:]}"
        message = failed[-1]
        assert b.bootstrap_servers in message and topic in message, message
        # No report, or one that does not claim the window.
        assert report is None or report["ok"] is False, report
        outcome = f"failed: exit 1: {message[:400]}"
    with capsys.disabled():
        print(f"\n[{reader} reader, {outage} outage] {timing}; {outcome}")
