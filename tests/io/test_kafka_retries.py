"""Drill: task retries on (``local[2,4]``, as YARN's four attempts) and the broker paused
(SIGSTOP) past the delivery timeout mid-write. Failed attempts leave what they delivered in
Kafka; the write's account must say how many messages that is, and a consumer must count the
same. Runs in its own Spark (a subprocess: the test session's master has no retries)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import uuid
from pathlib import Path
from typing import Any

import pytest

from eljobs.testing.broker import EmbeddedBroker, read_topic


@pytest.mark.slow
@pytest.mark.parametrize("sink", ["python", "spark"])
def test_retried_attempts_duplicates_are_counted_as_a_consumer_counts_them(
    tmp_path: Path, sink: str
) -> None:
    n = 40_000
    topic = f"drill_{sink}_{uuid.uuid4().hex[:8]}"
    script = Path(__file__).with_name("kafka_drill.py")
    with EmbeddedBroker(log_path=tmp_path / "kafka.log") as b:
        env = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)}
        proc = subprocess.run(
            [sys.executable, str(script), b.bootstrap_servers, str(b.pid), topic, sink, str(n)],
            capture_output=True,
            text=True,
            timeout=900,
            env=env,
        )
        lines = [ln for ln in proc.stdout.splitlines() if ln.startswith("DRILL ")]
        assert lines, proc.stdout[-3000:] + proc.stderr[-3000:]
        out: dict[str, Any] = json.loads(lines[-1][len("DRILL ") :])
        print(out)
        assert out["paused_after"] is not None, out
        assert out["ok"], out
        values = [m["value"] for m in read_topic(b.bootstrap_servers, topic)]
    # The pause failed attempts, Spark retried them, and the job succeeded.
    assert out["failed_attempts"] >= 1, out
    assert out["produced"] == {topic: n}
    # Every row is there; the extra copies a consumer sees are the account's duplicates.
    assert len(set(values)) == n
    assert out["duplicates"] == len(values) - n, (out, len(values))
    assert out["landed"] == {topic: len(values)}
