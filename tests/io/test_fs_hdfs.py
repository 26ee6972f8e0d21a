"""The file-system layer on a real HDFS (the Hadoop mini cluster): bare paths and ``hdfs:///``
follow ``fs.defaultFS``, small files are replaced through a rename, and a report given as
``hdfs:///x/r.json`` lands on HDFS, not in a local folder named ``hdfs:``."""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from eljobs.io import fs as fsmod
from eljobs.io.fs import FsError, JvmFileSystem, LocalFileSystem, NeedsSparkError
from eljobs.report import RunReport
from eljobs.testing.hadoop import MiniHadoopCluster

pytestmark = pytest.mark.slow


@pytest.fixture
def on_hdfs(spark: Any, hadoop_cluster: MiniHadoopCluster) -> Iterator[JvmFileSystem]:
    """The session's default file system switched to the mini cluster's HDFS for one test,
    as a cluster's core-site.xml sets it."""
    conf = spark.sparkContext._jsc.hadoopConfiguration()
    before = conf.get("fs.defaultFS")
    conf.set("fs.defaultFS", hadoop_cluster.default_fs)
    try:
        yield JvmFileSystem(spark)
    finally:
        conf.set("fs.defaultFS", before)


def test_bare_and_hdfs_paths_follow_the_default_fs(
    on_hdfs: JvmFileSystem, hadoop_cluster: MiniHadoopCluster
) -> None:
    fs = on_hdfs
    assert fs.default_fs == hadoop_cluster.default_fs
    assert fs.qualify("/wmf/data/event") == f"{hadoop_cluster.default_fs}/wmf/data/event"
    assert fs.qualify("hdfs:///wmf/x") == f"{hadoop_cluster.default_fs}/wmf/x"
    assert fs.qualify("file:///tmp/x") == "file:/tmp/x"
    # the pure resolution gives the same answer from the generated core-site.xml
    conf_dir = hadoop_cluster.env()["HADOOP_CONF_DIR"]
    default = fsmod.default_fs({"HADOOP_CONF_DIR": conf_dir})
    assert fsmod.resolve("/wmf/data/event", default=default) == fs.qualify("/wmf/data/event")
    with pytest.raises(NeedsSparkError):
        LocalFileSystem(default).read_text("/wmf/data/event/x")


def test_operations_on_hdfs(on_hdfs: JvmFileSystem, hadoop_cluster: MiniHadoopCluster) -> None:
    fs = on_hdfs
    base = "/eljobs-fs-test"
    fs.delete(base, recursive=True)
    fs.write_text(f"{base}/salts/2024010100_2024040100_2024052000", "old")
    # replaced in one rename (FileContext with OVERWRITE on HDFS), owner-only
    fs.write_text(f"{base}/salts/2024010100_2024040100_2024052000", "secret", private=True)
    assert hadoop_cluster.read_bytes(f"{base}/salts/2024010100_2024040100_2024052000") == (
        b"secret"
    )
    listed = hadoop_cluster.list_status(f"{base}/salts")
    assert [e["pathSuffix"] for e in listed] == ["2024010100_2024040100_2024052000"]
    assert listed[0]["permission"] == "600"
    st = fs.info(f"hdfs:///{base.lstrip('/')}/salts/2024010100_2024040100_2024052000")
    assert st is not None and st.size == 6 and st.mtime > 0 and not st.is_dir
    assert fs.read_text(f"{base}/salts/2024010100_2024040100_2024052000") == "secret"
    assert fs.head(f"{base}/salts/2024010100_2024040100_2024052000", 3) == b"sec"

    fs.write_bytes(f"{base}/in/2024/01/05/03/part-0", b"a\n")
    fs.write_bytes(f"{base}/in/2024/01/05/04/part-0", b"b\n")
    assert [e.name for e in fs.list(f"{base}/in/2024/01/05")] == ["03", "04"]
    assert len(fs.glob(f"{base}/in/2024/01/05/*/part-*")) == 2
    assert [e.name for e in fs.walk(f"{base}/in")] == ["part-0", "part-0"]
    fs.rename(f"{base}/in/2024/01/05/04", f"{base}/moved/04")
    assert fs.exists(f"{base}/moved/04/part-0") and not fs.exists(f"{base}/in/2024/01/05/04")
    fs.mkdirs(f"{base}/staging/data-1")
    fs.write_bytes(f"{base}/staging/data-1/part-0", b"new\n")
    fs.replace_dir(f"{base}/staging", f"{base}/moved")
    assert [e.name for e in fs.list(f"{base}/moved")] == ["data-1"]
    local = fs.local_copy(f"{base}/moved/data-1/part-0")
    assert Path(local).read_bytes() == b"new\n"
    with pytest.raises(FsError, match="destination exists"):
        fs.rename(f"{base}/in", f"{base}/moved")
    assert fs.delete(base, recursive=True)
    assert fs.info(base) is None


def test_report_to_hdfs_uri_lands_on_hdfs(
    on_hdfs: JvmFileSystem,
    hadoop_cluster: MiniHadoopCluster,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # the bug this layer fixed: the report went to a local file ./hdfs:/x/r.json
    monkeypatch.chdir(tmp_path)
    written = RunReport("refine", {"since": "1"}).finish(True).write("hdfs:///x/r.json")
    assert written == f"{hadoop_cluster.default_fs}/x/r.json"
    assert json.loads(hadoop_cluster.read_bytes("/x/r.json"))["job"] == "refine"
    assert os.listdir(tmp_path) == []
