"""A Hadoop mini cluster for tests, notebooks and the demo: HDFS and YARN in one local JVM.

:class:`MiniHadoopCluster` runs ``eljobs/testing/java/MiniCluster.java`` (Hadoop's own
``MiniDFSCluster`` and ``MiniYARNCluster``: one NameNode, one DataNode, one ResourceManager and
one NodeManager) with the jars the set-up fetched into ``.jvm/hadoop-minicluster`` (the
``hadoop-client-minicluster`` of pyspark's Hadoop version, see ``jvm/pom.xml``). Every service
listens on a loopback port the OS picks; all data lives under one temporary folder.

Once HDFS has answered a ``mkdirs`` and YARN lists a running NodeManager, the launcher writes a
client configuration folder (``core-site.xml`` with ``fs.defaultFS``, ``hdfs-site.xml``,
``yarn-site.xml``): point ``HADOOP_CONF_DIR`` at it and a Spark session, ``spark-submit`` or
``bin/<job>`` resolves bare paths on that HDFS and submits to that YARN, as on the cluster.

The class is a context manager and stops the cluster by its process id; an ``atexit`` hook and
the launcher's own watch on its parent process stop it when the owner forgets or dies. The CLI
starts a detached cluster for the demo and notebooks::

    python -m eljobs.testing.hadoop start [--pid_file F]  # HADOOP_CONF_DIR=, fs.defaultFS=, pid=
    python -m eljobs.testing.hadoop stop [--pid_file F]

Cost (docs/operations.md, "Hadoop mini cluster"): one JVM of about 400 MB resident, ready in
about 50 s on the 2-core test machine under load (C1-only JIT, serial GC; the launcher class is
compiled once and cached).
"""

from __future__ import annotations

import argparse
import atexit
import getpass
import hashlib
import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.parse
import urllib.request
import zipfile
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType

from eljobs.jvm import JvmArtifactsMissing, jvm_dir, require_jars
from eljobs.testing.processes import alive, stop_child, stop_pid

DEFAULT_PID_FILE = Path(tempfile.gettempdir()) / "eljobs-hadoop.json"

#: The launcher's source, shipped with the package.
LAUNCHER_SOURCE = Path(__file__).resolve().parent / "java" / "MiniCluster.java"

#: JVM options of the cluster. Start-up is mostly class loading and one-off initialisation, so
#: the C1 compiler alone and the serial collector roughly halve the time to ready (measured 113 s
#: -> 51 s with the source launch replaced by the cached class, under a load of 16 on 2 cores)
#: and keep the resident size near 400 MB. Guice (the YARN web apps) needs java.lang opened on
#: Java 17.
JAVA_OPTIONS = (
    "-Xmx1g",
    "-XX:TieredStopAtLevel=1",
    "-XX:+UseSerialGC",
    "--add-opens=java.base/java.lang=ALL-UNNAMED",
)

# Hadoop's services log at INFO by default: thousands of lines per start. Warnings are enough
# to say why a start failed.
_LOG4J2 = """\
rootLogger.level = warn
rootLogger.appenderRef.err.ref = err
appender.err.type = Console
appender.err.name = err
appender.err.target = SYSTEM_ERR
appender.err.layout.type = PatternLayout
appender.err.layout.pattern = %d{HH:mm:ss.SSS} %p %c{1}: %m%n
"""


#: Spark settings of a job submitted to the mini YARN, over ``conf/spark-cluster.conf`` (which
#: asks for 8 GiB x 4-core executors, dynamic allocation and YARN's external shuffle service).
#: One small executor fits the test machine, and the mini NodeManager runs no ``spark_shuffle``
#: auxiliary service, so executors keep their own shuffle files. Give them to ``bin/<job>`` as
#: ``ELJOBS_SPARK_ARGS`` (:meth:`MiniHadoopCluster.spark_args`).
MINI_YARN_SPARK_CONF: dict[str, str] = {
    "spark.driver.memory": "1g",
    "spark.executor.instances": "1",
    "spark.executor.memory": "1g",
    "spark.executor.cores": "1",
    "spark.executor.memoryOverhead": "384m",
    "spark.dynamicAllocation.enabled": "false",
    "spark.shuffle.service.enabled": "false",
}


_EXECUTOR_MAIN = "org.apache.spark.executor.YarnCoarseGrainedExecutorBackend"
_CONTAINER_LOG_DIR = "-Dspark.yarn.app.container.log.dir="


@dataclass(frozen=True)
class ExecutorProcess:
    """One Spark executor's JVM in a container of the mini NodeManager."""

    pid: int
    executor_id: str
    """Spark's executor id (``1``, ``2``, ... in the order they were granted)."""
    container_id: str
    """YARN's container id (``container_<cluster time>_<app>_<attempt>_<n>``)."""


def _flag(args: list[str], name: str) -> str | None:
    try:
        return args[args.index(name) + 1]
    except (ValueError, IndexError):
        return None


class HadoopClusterError(RuntimeError):
    """The mini cluster could not be found, started or reached."""


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args: object, **kwargs: object) -> None:
        return None


def _java() -> str:
    home = os.environ.get("JAVA_HOME")
    if home and (Path(home) / "bin" / "java").is_file():
        return str(Path(home) / "bin" / "java")
    found = shutil.which("java")
    if not found:
        raise HadoopClusterError(
            "the Hadoop mini cluster needs Java: no 'java' on PATH or in JAVA_HOME"
        )
    return found


def _javac() -> str | None:
    home = os.environ.get("JAVA_HOME")
    if home and (Path(home) / "bin" / "javac").is_file():
        return str(Path(home) / "bin" / "javac")
    return shutil.which("javac")


def launcher_command_prefix() -> list[str]:
    """``-cp CLASSPATH MAIN`` for the launcher: the cached compiled class when javac is there.

    The class is compiled once per launcher source and jar set into ``.jvm/launchers/<hash>``
    (a fresh folder renamed into place, so concurrent test runs never see half a class); without
    javac, or when that folder cannot be written, Java's single-file source launch compiles the
    source in memory at each start instead (about 6 s of CPU more).
    """
    jars = [str(p) for p in require_jars("hadoop-minicluster")]
    cp = os.pathsep.join(jars)
    javac = _javac()
    if javac is None:
        return ["-cp", cp, str(LAUNCHER_SOURCE)]
    digest = hashlib.sha1(LAUNCHER_SOURCE.read_bytes())
    for j in jars:
        digest.update(Path(j).name.encode())
    classes = jvm_dir() / "launchers" / digest.hexdigest()[:12]
    if not (classes / "MiniCluster.class").is_file():
        try:
            classes.parent.mkdir(parents=True, exist_ok=True)
            tmp = Path(tempfile.mkdtemp(prefix=".build-", dir=classes.parent))
        except OSError:
            return ["-cp", cp, str(LAUNCHER_SOURCE)]
        done = subprocess.run(
            [javac, "-nowarn", "-d", str(tmp), "-cp", cp, str(LAUNCHER_SOURCE)],
            capture_output=True,
            text=True,
            check=False,
        )
        if done.returncode != 0:
            shutil.rmtree(tmp, ignore_errors=True)
            raise HadoopClusterError(
                f"compiling {LAUNCHER_SOURCE} against {jvm_dir() / 'hadoop-minicluster'} failed "
                f"(javac exit {done.returncode}):\n{done.stderr[-2000:]}"
            )
        try:
            tmp.rename(classes)
        except OSError:
            # Another run renamed its build first: same source, same class.
            shutil.rmtree(tmp, ignore_errors=True)
    return ["-cp", os.pathsep.join([str(classes), cp]), "MiniCluster"]


def _answers(address: str, timeout_s: float = 2.0) -> bool:
    host, _, port = address.rpartition(":")
    try:
        with socket.create_connection((host, int(port)), timeout=timeout_s):
            return True
    except OSError:
        return False


def _read_ready(path: Path) -> dict[str, str]:
    out: dict[str, str] = {}
    for line in path.read_text().splitlines():
        key, sep, value = line.partition("=")
        if sep:
            out[key.strip()] = value.strip()
    return out


class MiniHadoopCluster:
    """HDFS (NameNode + DataNode) and YARN (ResourceManager + NodeManager) in one local JVM.

    Args:
        base_dir: folder for the services' data, the configuration folder and the log (default:
            a new temporary folder, removed by :meth:`close`).
        nm_memory_mb: memory the NodeManager offers to containers (YARN's bookkeeping only:
            containers are processes of their own, sized by whoever asks for them).
        nm_vcores: virtual cores the NodeManager offers.
        ready_timeout_s: how long :meth:`start` waits for both services to answer.
    """

    def __init__(
        self,
        base_dir: str | Path | None = None,
        *,
        nm_memory_mb: int = 8192,
        nm_vcores: int = 8,
        ready_timeout_s: float = 420.0,
    ) -> None:
        self._own_dir = base_dir is None
        self.base_dir = Path(base_dir or tempfile.mkdtemp(prefix="eljobs-hadoop-")).absolute()
        self.nm_memory_mb = nm_memory_mb
        self.nm_vcores = nm_vcores
        self.ready_timeout_s = ready_timeout_s
        self.conf_dir = self.base_dir / "conf"
        self.log_path = self.base_dir / "cluster.log"
        self.info: dict[str, str] = {}
        self.startup_seconds: float | None = None
        self._proc: subprocess.Popen[bytes] | None = None
        self._atexit_registered = False

    @property
    def pid(self) -> int | None:
        """Process id of the cluster's JVM, or None."""
        return self._proc.pid if self._proc is not None else None

    @property
    def default_fs(self) -> str:
        """``hdfs://127.0.0.1:PORT``, the ``fs.defaultFS`` of the generated configuration."""
        return self._ready_value("fs.defaultFS")

    @property
    def resourcemanager_address(self) -> str:
        """``HOST:PORT`` of the ResourceManager's client protocol."""
        return self._ready_value("yarn.resourcemanager.address")

    def _ready_value(self, key: str) -> str:
        if key not in self.info:
            raise HadoopClusterError(f"the mini cluster is not started (no {key} yet)")
        return self.info[key]

    @property
    def webhdfs_address(self) -> str:
        """``HOST:PORT`` of the NameNode's HTTP server (WebHDFS)."""
        return self._ready_value("dfs.namenode.http-address")

    def _webhdfs(
        self, path: str, op: str, *, method: str = "GET", data: bytes | None = None
    ) -> bytes:
        if not path.startswith("/"):
            raise ValueError(f"expected an absolute HDFS path, found {path!r}")
        user = urllib.parse.quote(getpass.getuser())
        url = (
            f"http://{self.webhdfs_address}/webhdfs/v1{urllib.parse.quote(path)}"
            f"?op={op}&user.name={user}"
        )
        if op == "CREATE":
            url += "&overwrite=true"
        try:
            request = urllib.request.Request(url, method=method)
            if op == "CREATE":
                # The NameNode answers with a redirect to the DataNode that takes the bytes;
                # urllib follows redirects for GET only.
                opener = urllib.request.build_opener(_NoRedirect)
                try:
                    opener.open(request, timeout=60)
                    raise HadoopClusterError(f"WebHDFS CREATE {path}: no redirect to a DataNode")
                except urllib.error.HTTPError as e:
                    if e.code != 307:
                        raise
                    request = urllib.request.Request(
                        e.headers["Location"], data=data or b"", method="PUT"
                    )
            with urllib.request.urlopen(request, timeout=60) as answer:
                return bytes(answer.read())
        except urllib.error.HTTPError as e:
            if e.code == 404:
                raise FileNotFoundError(f"{self.default_fs}{path}") from None
            raise HadoopClusterError(f"WebHDFS {op} {path}: HTTP {e.code} {e.reason}") from e

    def list_status(self, path: str) -> list[dict[str, object]]:
        """WebHDFS ``LISTSTATUS`` of an HDFS path: one dict per entry (``pathSuffix``, ``type``,
        ``length``, ``modificationTime``, ...). Checks what landed on HDFS without a JVM.

        Raises:
            FileNotFoundError: the path does not exist on this cluster's HDFS.
        """
        answer = json.loads(self._webhdfs(path, "LISTSTATUS"))
        return list(answer["FileStatuses"]["FileStatus"])

    def read_bytes(self, path: str) -> bytes:
        """The content of an HDFS file (WebHDFS ``OPEN``, redirected to the DataNode)."""
        return self._webhdfs(path, "OPEN")

    def write_bytes(self, path: str, data: bytes) -> None:
        """Create (or replace) an HDFS file with ``data``; parent folders are created."""
        self._webhdfs(path, "CREATE", method="PUT", data=data)

    def put(self, local: str | Path, path: str) -> None:
        """Copy a local file, or a folder with everything under it, to ``path`` on HDFS."""
        src = Path(local)
        if src.is_dir():
            for f in sorted(p for p in src.rglob("*") if p.is_file()):
                self.write_bytes(
                    f"{path.rstrip('/')}/{f.relative_to(src).as_posix()}", f.read_bytes()
                )
        else:
            self.write_bytes(path, src.read_bytes())

    def upload_spark_jars(self, path: str = "/spark/spark-jars.zip") -> str:
        """Put pyspark's jars on HDFS as one uncompressed zip; returns its URI.

        That URI is what ``spark.yarn.archive`` takes (a site does the same once per Spark
        version): without it every submission zips and uploads the 460 MB of jars again.
        """
        # Lazy: the mini-cluster command runs without pyspark loaded until it is asked for this.
        import pyspark

        jars = Path(pyspark.__file__).resolve().parent / "jars"
        with tempfile.TemporaryDirectory(prefix="eljobs-spark-jars-") as tmp:
            archive = Path(tmp) / "spark-jars.zip"
            with zipfile.ZipFile(archive, "w", zipfile.ZIP_STORED) as z:
                for jar in sorted(jars.glob("*.jar")):
                    z.write(jar, jar.name)
            self.put(archive, path)
        return f"{self.default_fs}{path}"

    def spark_args(
        self, *, spark_archive: str | None = None, conf: Mapping[str, str] | None = None
    ) -> str:
        """``ELJOBS_SPARK_ARGS`` for ``bin/<job>`` on this YARN: :data:`MINI_YARN_SPARK_CONF`,
        ``spark.yarn.archive`` when given (:meth:`upload_spark_jars`), then ``conf`` (values
        without spaces: the wrapper splits the string into words)."""
        out = dict(MINI_YARN_SPARK_CONF)
        if spark_archive:
            out["spark.yarn.archive"] = spark_archive
        out.update(conf or {})
        return " ".join(f"--conf {k}={v}" for k, v in out.items())

    def executor_processes(self, app_id: str) -> list[ExecutorProcess]:
        """The Spark executors of YARN application ``app_id`` running now on this NodeManager.

        The NodeManager starts each container as local processes: the executor's JVM runs
        ``YarnCoarseGrainedExecutorBackend`` with ``--app-id`` and ``--executor-id``, and its
        ``-Dspark.yarn.app.container.log.dir`` ends with the container id. Read from Linux's
        ``/proc``; processes that end while being read are skipped.
        """
        found = []
        for entry in Path("/proc").iterdir():
            if not entry.name.isdigit():
                continue
            try:
                args = (entry / "cmdline").read_bytes().decode(errors="replace").split("\0")
            except OSError:
                continue
            if _EXECUTOR_MAIN not in args or _flag(args, "--app-id") != app_id:
                continue
            log_dir = next((a for a in args if a.startswith(_CONTAINER_LOG_DIR)), "")
            found.append(
                ExecutorProcess(
                    pid=int(entry.name),
                    executor_id=_flag(args, "--executor-id") or "",
                    container_id=Path(log_dir.removeprefix(_CONTAINER_LOG_DIR)).name,
                )
            )
        return sorted(found, key=lambda p: p.pid)

    def yarn_container_logs(self) -> dict[str, list[Path]]:
        """Log folders of the containers the NodeManager ran, per application id.

        The ResourceManager's REST API is no help here: the two YARN web apps of one JVM share
        Guice's static servlet filter, and the NodeManager's, started last, answers for both.
        """
        out: dict[str, list[Path]] = {}
        # MiniYARNCluster names them <name>-logDir-nm-<i>_<j> under ./target (or a link to it).
        for app in sorted(self.base_dir.glob("**/*-logDir-nm-*/application_*")):
            out[app.name] = sorted(p for p in app.iterdir() if p.name.startswith("container_"))
        return out

    def env(self) -> dict[str, str]:
        """Environment settings that point Hadoop clients and Spark at this cluster."""
        conf = str(self.conf_dir)
        return {"HADOOP_CONF_DIR": conf, "YARN_CONF_DIR": conf}

    def is_running(self) -> bool:
        """Whether the cluster's JVM is alive."""
        return self._proc is not None and self._proc.poll() is None

    def command(self, *, owner_pid: int | None) -> list[str]:
        """The ``java`` command line that starts the cluster."""
        options = [
            *JAVA_OPTIONS,
            f"-Djava.io.tmpdir={self.base_dir / 'tmp'}",
            f"-Dlog4j2.configurationFile=file:{self.base_dir / 'log4j2.properties'}",
        ]
        if owner_pid is not None:
            options.append(f"-Deljobs.parent.pid={owner_pid}")
        return [
            _java(),
            *options,
            *launcher_command_prefix(),
            str(self.base_dir / "data"),
            str(self.conf_dir),
            str(self.nm_memory_mb),
            str(self.nm_vcores),
        ]

    def start(self, *, detach: bool = False) -> MiniHadoopCluster:
        """Start the cluster and wait until HDFS and YARN both answer.

        Args:
            detach: keep the cluster when this Python process exits (CLI use); otherwise it is
                stopped at exit, and the JVM stops itself if this process dies.

        Raises:
            HadoopClusterError: the cluster did not come up within ``ready_timeout_s``, or its
                JVM exited (the message carries the end of its log).
            JvmArtifactsMissing: the set-up has not fetched ``.jvm/hadoop-minicluster``.
        """
        if self.is_running():
            return self
        (self.base_dir / "tmp").mkdir(parents=True, exist_ok=True)
        (self.base_dir / "log4j2.properties").write_text(_LOG4J2)
        ready_file = self.conf_dir / "ready"
        ready_file.unlink(missing_ok=True)
        command = self.command(owner_pid=None if detach else os.getpid())
        started = time.monotonic()
        with open(self.log_path, "ab") as log:
            # MiniYARNCluster keeps its NodeManager folders under ./target: run it in base_dir.
            self._proc = subprocess.Popen(
                command,
                cwd=self.base_dir,
                stdout=log,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                start_new_session=detach,
            )
        if not detach and not self._atexit_registered:
            atexit.register(self.stop)
            self._atexit_registered = True
        try:
            self._wait_ready(ready_file)
        except HadoopClusterError:
            self.stop()
            raise
        self.startup_seconds = time.monotonic() - started
        return self

    def _wait_ready(self, ready_file: Path) -> None:
        deadline = time.monotonic() + self.ready_timeout_s
        proc = self._proc
        assert proc is not None
        while not ready_file.is_file():
            if proc.poll() is not None:
                raise HadoopClusterError(
                    f"the mini cluster's JVM exited with code {proc.returncode} before it was "
                    f"ready; log {self.log_path}:\n{self._log_tail()}"
                )
            if time.monotonic() > deadline:
                raise HadoopClusterError(
                    f"the mini cluster was not ready within {self.ready_timeout_s:.0f}s (expected "
                    f"{ready_file}); log {self.log_path}:\n{self._log_tail()}"
                )
            time.sleep(0.2)
        self.info = _read_ready(ready_file)
        # The launcher checked both from the inside; check that they answer from here too.
        hdfs = self.default_fs.removeprefix("hdfs://")
        for name, address in (("HDFS", hdfs), ("YARN", self.resourcemanager_address)):
            if not _answers(address):
                raise HadoopClusterError(f"{name} of the mini cluster does not answer at {address}")

    def _log_tail(self, chars: int = 3000) -> str:
        try:
            return self.log_path.read_text(errors="replace")[-chars:]
        except OSError:
            return "(no log)"

    def rss_mb(self) -> float | None:
        """Resident memory of the cluster's JVM in MiB (Linux ``/proc``), or None."""
        if not self.is_running():
            return None
        try:
            status = Path(f"/proc/{self.pid}/status").read_text()
        except OSError:
            return None
        for line in status.splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
        return None

    def stop(self, timeout_s: float = 30.0) -> None:
        """Stop the cluster (SIGTERM: YARN, then HDFS; SIGKILL after ``timeout_s``). Idempotent."""
        stop_child(self._proc, timeout_s)

    def close(self) -> None:
        """Stop the cluster and remove the folder it made for itself (if any)."""
        self.stop()
        if self._own_dir:
            shutil.rmtree(self.base_dir, ignore_errors=True)

    def __enter__(self) -> MiniHadoopCluster:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        # Keep the folder when leaving on an error: its log may say why.
        if exc_type is None:
            self.close()
        else:
            self.stop()

    def __repr__(self) -> str:
        fs = self.info.get("fs.defaultFS", "not started")
        return f"MiniHadoopCluster({fs}, pid={self.pid}, conf={self.conf_dir})"


# --------------------------------------------------------------------------------------------
# CLI


def _cli_start(pid_file: Path) -> int:
    if pid_file.exists():
        info = json.loads(pid_file.read_text())
        if alive(int(info["pid"])):
            print(
                f"a mini cluster is already running: {info['default_fs']} pid {info['pid']} "
                f"({pid_file})",
                file=sys.stderr,
            )
            return 1
    cluster = MiniHadoopCluster().start(detach=True)
    info = {
        "pid": cluster.pid,
        "default_fs": cluster.default_fs,
        "conf_dir": str(cluster.conf_dir),
        "base_dir": str(cluster.base_dir),
    }
    pid_file.parent.mkdir(parents=True, exist_ok=True)
    pid_file.write_text(json.dumps(info) + "\n")
    print(f"HADOOP_CONF_DIR={cluster.conf_dir}")
    print(f"fs.defaultFS={cluster.default_fs}")
    print(f"pid={cluster.pid}")
    print(f"pid_file={pid_file}")
    return 0


def _cli_stop(pid_file: Path) -> int:
    if not pid_file.exists():
        print(f"no mini cluster pid file at {pid_file}", file=sys.stderr)
        return 1
    info = json.loads(pid_file.read_text())
    pid = int(info["pid"])
    stop_pid(pid, 30)
    pid_file.unlink()
    shutil.rmtree(info["base_dir"], ignore_errors=True)
    print(f"stopped mini cluster pid {pid} ({info['default_fs']})")
    return 0


def main(argv: list[str] | None = None) -> int:
    """``python -m eljobs.testing.hadoop start|stop``."""
    ap = argparse.ArgumentParser(prog="python -m eljobs.testing.hadoop", description=__doc__)
    ap.add_argument("action", choices=["start", "stop"])
    ap.add_argument("--pid_file", type=Path, default=DEFAULT_PID_FILE, help="pid file (JSON)")
    args = ap.parse_args(argv)
    try:
        if args.action == "start":
            return _cli_start(args.pid_file)
        return _cli_stop(args.pid_file)
    except (HadoopClusterError, JvmArtifactsMissing) as e:
        print(f"eljobs hadoop: {e}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    raise SystemExit(main())
