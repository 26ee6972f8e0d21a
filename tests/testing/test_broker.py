"""Our brokers (Apache Kafka KRaft and Tansu): start, answer metadata, kill/restart on the same
port, stop by pid, and the small CLI. No Spark."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from eljobs.testing.broker import (
    ApacheKafkaBroker,
    BrokerError,
    EmbeddedBroker,
    TansuBroker,
    free_port,
    read_topic,
    storage_format_args,
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


@pytest.mark.parametrize("impl", ["apache", "tansu"])
def test_starts_answers_and_stops_leaving_no_process(tmp_path: Path, impl: str) -> None:
    from confluent_kafka import Producer

    with EmbeddedBroker(impl=impl, log_path=tmp_path / "b.log") as b:
        pid = b.pid
        assert pid is not None and _alive(pid)
        assert b.bootstrap_servers.startswith("127.0.0.1:")
        p = Producer({"bootstrap.servers": b.bootstrap_servers})
        p.produce("brk_t", b"hello")
        assert p.flush(10) == 0
        assert [m["value"] for m in read_topic(b.bootstrap_servers, "brk_t")] == [b"hello"]
    assert not _alive(pid)


def test_tansu_kill_then_restart_on_the_same_port_starts_empty(tmp_path: Path) -> None:
    from confluent_kafka import Producer

    with TansuBroker(log_path=tmp_path / "b.log") as b:
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


def test_apache_kill_then_restart_keeps_its_disk_log(tmp_path: Path) -> None:
    from confluent_kafka import Producer

    with ApacheKafkaBroker(log_path=tmp_path / "b.log", data_dir=tmp_path / "kafka") as b:
        port, first = b.port, b.pid
        p = Producer({"bootstrap.servers": b.bootstrap_servers, "acks": "all"})
        for i in range(3):
            p.produce("brk_keep", f"m{i}".encode())
        assert p.flush(10) == 0
        b.kill()
        assert not b.is_running() and first is not None and not _alive(first)
        with pytest.raises(BrokerError, match=f"127.0.0.1:{port}"):
            wait_until_ready(b.bootstrap_servers, timeout_s=1)
        b.restart()
        assert b.port == port and b.pid != first and b.is_running()
        got = read_topic(b.bootstrap_servers, "brk_keep", timeout_s=30)
        assert [(m["offset"], m["value"]) for m in got] == [(0, b"m0"), (1, b"m1"), (2, b"m2")]
    assert (tmp_path / "kafka" / "log" / "meta.properties").exists()  # caller's dir is kept


def test_a_cluster_id_starting_with_a_dash_stays_one_argument(tmp_path: Path) -> None:
    # The storage tool's parser read "-B3l..." given apart as an option (a CI run failed so).
    args = storage_format_args("-B3l_x", tmp_path / "server.properties")
    assert "--cluster-id=-B3l_x" in args
    assert "-B3l_x" not in args


def test_unknown_impl_is_refused_naming_the_choices() -> None:
    with pytest.raises(BrokerError, match=r"'kraft'.*\['apache', 'tansu'\]"):
        EmbeddedBroker(impl="kraft")


@pytest.mark.parametrize("impl", ["apache", "tansu"])
def test_cli_start_prints_bootstrap_and_pid_and_stop_kills_it(tmp_path: Path, impl: str) -> None:
    pid_file = tmp_path / "broker.json"
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    out = subprocess.run(
        [
            sys.executable,
            "-m",
            "eljobs.testing.broker",
            "start",
            "--impl",
            impl,
            "--pid_file",
            str(pid_file),
        ],
        capture_output=True,
        text=True,
        env=env,
        timeout=180,
        check=True,
    ).stdout
    info = json.loads(pid_file.read_text())
    pid = int(info["pid"])
    assert info["impl"] == impl
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
        if impl == "apache":
            assert not Path(info["data_dir"]).exists()
    finally:
        if _alive(pid):
            os.kill(pid, 9)


def test_wait_until_ready_gives_up_in_bounded_time_naming_the_servers() -> None:
    servers = f"127.0.0.1:{free_port()}"
    start = time.monotonic()
    with pytest.raises(BrokerError, match=servers):
        wait_until_ready(servers, timeout_s=1.5)
    assert time.monotonic() - start < 10
