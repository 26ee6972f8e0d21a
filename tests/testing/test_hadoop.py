"""The Hadoop mini cluster: generated client configuration, bare paths on its HDFS, the CLI.

The cluster is the session fixture ``hadoop_cluster`` (tests/conftest.py); Spark runs in a
child process because a bare path's file system is fixed by ``HADOOP_CONF_DIR`` when the JVM
starts, and the test run's own session is a local one. What landed on HDFS is checked through
WebHDFS, without a second JVM.
"""

from __future__ import annotations

import contextlib
import json
import os
import subprocess
import sys
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

from eljobs.testing.hadoop import MiniHadoopCluster

ROOT = Path(__file__).resolve().parents[2]

pytestmark = pytest.mark.slow


def _site(path: Path) -> dict[str, str]:
    root = ET.parse(path).getroot()
    return {p.findtext("name") or "": p.findtext("value") or "" for p in root.iter("property")}


def _child_env(cluster: MiniHadoopCluster, work: Path) -> dict[str, str]:
    env = dict(os.environ)
    env.update(cluster.env())
    env["PYTHONPATH"] = str(ROOT)
    env["ELJOBS_WORK"] = str(work)
    env.setdefault("SPARK_LOCAL_IP", "127.0.0.1")
    return env


def test_generated_configuration_names_both_services(hadoop_cluster: MiniHadoopCluster) -> None:
    core = _site(hadoop_cluster.conf_dir / "core-site.xml")
    hdfs = _site(hadoop_cluster.conf_dir / "hdfs-site.xml")
    yarn = _site(hadoop_cluster.conf_dir / "yarn-site.xml")

    assert core["fs.defaultFS"] == hadoop_cluster.default_fs
    assert hadoop_cluster.default_fs.startswith("hdfs://127.0.0.1:")
    assert hdfs["dfs.replication"] == "1"
    assert yarn["yarn.resourcemanager.address"] == hadoop_cluster.resourcemanager_address
    scheduler_host = yarn["yarn.resourcemanager.scheduler.address"].split(":")[0]
    assert scheduler_host in ("localhost", "127.0.0.1")
    # The launcher made the folders Spark's staging and YARN's containers use.
    names = {e["pathSuffix"] for e in hadoop_cluster.list_status("/")}
    assert {"tmp", "user"} <= names


SPARK_CHILD = """
import json, sys
from eljobs.spark import get_session
spark = get_session("test", app_name="hadoop-bare-path", hive=False)
path = sys.argv[1]
spark.createDataFrame([(1, "a"), (2, "b"), (3, "c")], "id INT, name STRING") \\
    .coalesce(1).write.mode("overwrite").json(path)
back = spark.read.json(path)
print(json.dumps({
    "default_fs": spark.sparkContext._jsc.hadoopConfiguration().get("fs.defaultFS"),
    "rows": sorted([r.id, r.name] for r in back.collect()),
    "files": back.inputFiles(),
}))
"""


def test_bare_path_of_a_local_session_lands_on_hdfs(
    hadoop_cluster: MiniHadoopCluster, tmp_path: Path
) -> None:
    bare = "/eljobs-test/bare-path/out"
    done = subprocess.run(
        [sys.executable, "-c", SPARK_CHILD, bare],
        env=_child_env(hadoop_cluster, tmp_path),
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    out = json.loads(done.stdout.strip().splitlines()[-1])

    assert out["default_fs"] == hadoop_cluster.default_fs
    assert out["rows"] == [[1, "a"], [2, "b"], [3, "c"]]
    assert out["files"] and all(
        f.startswith(f"{hadoop_cluster.default_fs}{bare}/part-") for f in out["files"]
    )
    # On HDFS, seen through the NameNode's own HTTP API; nothing on the local disk.
    listed = {e["pathSuffix"]: e for e in hadoop_cluster.list_status(bare)}
    assert "_SUCCESS" in listed
    parts = [n for n in listed if n.startswith("part-")]
    assert len(parts) == 1
    lines = hadoop_cluster.read_bytes(f"{bare}/{parts[0]}").decode().splitlines()
    assert sorted(json.loads(x)["name"] for x in lines) == ["a", "b", "c"]
    assert not Path("/eljobs-test").exists()


def test_missing_artifacts_say_how_to_fetch_them(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from eljobs.jvm import JvmArtifactsMissing

    monkeypatch.setenv("ELJOBS_JVM_DIR", str(tmp_path / "empty"))
    cluster = MiniHadoopCluster(tmp_path / "cluster")
    with pytest.raises(JvmArtifactsMissing, match=r"hadoop-minicluster.*make setup"):
        cluster.start()
    assert cluster.pid is None


def test_cli_start_prints_the_contract_lines_and_stop_ends_the_cluster(tmp_path: Path) -> None:
    pid_file = tmp_path / "hadoop.json"
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    started = subprocess.run(
        [sys.executable, "-m", "eljobs.testing.hadoop", "start", "--pid_file", str(pid_file)],
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    assert started.returncode == 0, started.stderr[-3000:]
    lines = dict(x.split("=", 1) for x in started.stdout.splitlines() if "=" in x)
    pid = int(lines["pid"])
    try:
        conf_dir = Path(lines["HADOOP_CONF_DIR"])
        assert _site(conf_dir / "core-site.xml")["fs.defaultFS"] == lines["fs.defaultFS"]
        assert lines["fs.defaultFS"].startswith("hdfs://127.0.0.1:")
        os.kill(pid, 0)  # alive after the CLI returned: it is detached

        stopped = subprocess.run(
            [sys.executable, "-m", "eljobs.testing.hadoop", "stop", "--pid_file", str(pid_file)],
            env=env,
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )
        assert stopped.returncode == 0, stopped.stderr
        with pytest.raises(ProcessLookupError):
            os.kill(pid, 0)
        assert not conf_dir.exists()
        assert not pid_file.exists()
    finally:
        # Never leave a detached JVM behind on a shared machine, whatever failed above.
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, 9)


def test_put_copies_a_folder_to_hdfs_byte_for_byte(
    hadoop_cluster: MiniHadoopCluster, tmp_path: Path
) -> None:
    src = tmp_path / "tree"
    (src / "a" / "b").mkdir(parents=True)
    (src / "top.txt").write_text("top\n")
    (src / "a" / "b" / "deep.bin").write_bytes(bytes(range(256)) * 3)
    hadoop_cluster.put(src, "/eljobs-test/put")
    assert {e["pathSuffix"] for e in hadoop_cluster.list_status("/eljobs-test/put")} == {
        "a",
        "top.txt",
    }
    assert hadoop_cluster.read_bytes("/eljobs-test/put/a/b/deep.bin") == bytes(range(256)) * 3
    hadoop_cluster.write_bytes("/eljobs-test/put/top.txt", b"replaced")
    assert hadoop_cluster.read_bytes("/eljobs-test/put/top.txt") == b"replaced"
    with pytest.raises(FileNotFoundError, match="/eljobs-test/put/none"):
        hadoop_cluster.list_status("/eljobs-test/put/none")
