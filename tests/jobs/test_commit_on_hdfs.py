"""Refine's partition commit killed on HDFS (issue: exactly what was written, item 2).

tests/refine/test_commit_drill.py kills a refine at every step of the commit on the local file
system; this drill does the two steps that matter on HDFS, where the renames and the location
switch go to the NameNode: killed after the new data directory is renamed into the partition
(readers must still see the old rows), and after the metastore partition points at it (readers
see the new rows, the old directory still on HDFS). A third process checks what the second
left, reruns both tables, and finds the new rows only, with ``_REFINED`` beside one data
directory. Each process is a ``hdfs_commit_worker.py`` with ``HADOOP_CONF_DIR`` pointing at the
mini cluster and the drill's own Derby metastore; three JVM starts, so slow.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from eljobs.testing.hadoop import MiniHadoopCluster

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[1]
sys.path.insert(0, str(HERE))
from hdfs_commit_worker import NEW, OLD  # noqa: E402

pytestmark = [pytest.mark.slow, pytest.mark.timeout(1800)]


def _run(
    cluster: MiniHadoopCluster, work: Path, plan: dict[str, Any], failpoint: str | None
) -> tuple[int, list[dict[str, Any]]]:
    env = dict(os.environ)
    env.update(cluster.env())
    env["ELJOBS_WORK"] = str(work)
    env["PYTHONPATH"] = str(ROOT)
    env.setdefault("SPARK_LOCAL_IP", "127.0.0.1")
    env.pop("ELJOBS_FAILPOINT", None)
    if failpoint:
        env["ELJOBS_FAILPOINT"] = failpoint
    proc = subprocess.run(
        [sys.executable, str(HERE / "hdfs_commit_worker.py"), json.dumps(plan)],
        env=env, cwd=work.parent, capture_output=True, text=True, timeout=900, check=False,
    )  # fmt: skip
    if proc.returncode not in (0, -signal.SIGKILL):
        pytest.fail(f"drill worker exited {proc.returncode}:\n{proc.stderr[-4000:]}")
    return proc.returncode, [
        json.loads(ln) for ln in proc.stdout.splitlines() if ln.startswith("{")
    ]


def test_a_commit_killed_on_hdfs_shows_old_or_new_rows_and_a_rerun_finishes(
    hadoop_cluster: MiniHadoopCluster, tmp_path: Path
) -> None:
    work = tmp_path / "work"
    code, out = _run(hadoop_cluster, work, {"prepare": "renamed"}, "commit_renamed")
    assert code == -signal.SIGKILL and {"survived": "renamed"} not in out, out
    assert out[0]["default_fs"] == hadoop_cluster.default_fs

    code, out = _run(
        hadoop_cluster, work, {"check": ["renamed"], "prepare": "switched"}, "commit_switched"
    )
    assert code == -signal.SIGKILL and {"survived": "switched"} not in out, out
    renamed = out[0]["seen"]["renamed"]
    # Killed after the rename: the partition still points at the old data, on HDFS, and the
    # new data directory lies beside it unused.
    assert renamed["rows"] == OLD
    assert renamed["location"].startswith(f"{hadoop_cluster.default_fs}/wmf/drill/out/renamed/")
    assert len([e for e in renamed["entries"] if e.startswith("data-")]) == 2, renamed

    code, out = _run(
        hadoop_cluster, work, {"check": ["switched"], "recover": ["renamed", "switched"]}, None
    )
    assert code == 0, out
    switched = out[0]["seen"]["switched"]
    # Killed after the switch: readers see the new rows; the old directory is still there.
    assert switched["rows"] == NEW
    assert len([e for e in switched["entries"] if e.startswith("data-")]) == 2, switched
    for table, seen in out[1]["recovered"].items():
        assert seen["rows"] == NEW, table
        flag, data = seen["entries"]  # sorted: "_" before "d"
        assert (flag, data[:5]) == ("_REFINED", "data-"), seen
        assert seen["location"].endswith(f"/{data}")
