"""The embedded Tansu broker: start, answer metadata, kill/restart on the same port, stop by
pid, and the small CLI. No Spark."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from eljobs.testing.broker import (
    BrokerError,
    EmbeddedBroker,
    free_port,
    read_topic,
    wait_until_ready,
)

ROOT = Path(__file__).resolve().parents[2]


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    # A zombie still answers kill(0); check its state.
    try:
        state = Path(f"/proc/{pid}/stat").read_text().split()[2]
    except OSError:
        return False
    return state != "Z"


def test_starts_answers_and_stops_leaving_no_process(tmp_path: Path) -> None:
    from confluent_kafka import Producer

    with EmbeddedBroker(log_path=tmp_path / "b.log") as b:
        pid = b.pid
        assert pid is not None and _alive(pid)
        assert b.bootstrap_servers.startswith("127.0.0.1:")
        p = Producer({"bootstrap.servers": b.bootstrap_servers})
        p.produce("brk_t", b"hello")
        assert p.flush(10) == 0
        assert [m["value"] for m in read_topic(b.bootstrap_servers, "brk_t")] == [b"hello"]
    assert not _alive(pid)


def test_kill_then_restart_on_the_same_port_starts_empty(tmp_path: Path) -> None:
    from confluent_kafka import Producer

    with EmbeddedBroker(log_path=tmp_path / "b.log") as b:
        port, first = b.port, b.pid
        p = Producer({"bootstrap.servers": b.bootstrap_servers})
        p.produce("brk_k", b"x")
        assert p.flush(10) == 0
        b.kill()
        assert not b.is_running() and first is not None and not _alive(first)
        with pytest.raises(BrokerError, match=f"127.0.0.1:{port}"):
            wait_until_ready(b.bootstrap_servers, timeout_s=1)
        b.restart()
        assert b.port == port and b.pid != first and b.is_running()
        with pytest.raises(BrokerError, match="does not exist"):
            read_topic(b.bootstrap_servers, "brk_k", timeout_s=5)  # memory storage: gone


def test_cli_start_prints_bootstrap_and_pid_and_stop_kills_it(tmp_path: Path) -> None:
    pid_file = tmp_path / "broker.json"
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    out = subprocess.run(
        [sys.executable, "-m", "eljobs.testing.broker", "start", "--pid_file", str(pid_file)],
        capture_output=True,
        text=True,
        env=env,
        timeout=60,
        check=True,
    ).stdout
    info = json.loads(pid_file.read_text())
    pid = int(info["pid"])
    try:
        assert f"bootstrap_servers={info['bootstrap_servers']}" in out
        assert f"pid={pid}" in out
        assert _alive(pid)  # outlives the CLI process, for the demo and notebooks
        wait_until_ready(info["bootstrap_servers"], timeout_s=10)
        stop = subprocess.run(
            [sys.executable, "-m", "eljobs.testing.broker", "stop", "--pid_file", str(pid_file)],
            capture_output=True,
            text=True,
            env=env,
            timeout=60,
        )
        assert stop.returncode == 0, stop.stderr
        deadline = time.monotonic() + 10
        while _alive(pid) and time.monotonic() < deadline:
            time.sleep(0.05)
        assert not _alive(pid)
        assert not pid_file.exists()
    finally:
        if _alive(pid):
            os.kill(pid, 9)


def test_wait_until_ready_gives_up_in_bounded_time_naming_the_servers() -> None:
    servers = f"127.0.0.1:{free_port()}"
    start = time.monotonic()
    with pytest.raises(BrokerError, match=servers):
        wait_until_ready(servers, timeout_s=1.5)
    assert time.monotonic() - start < 10
