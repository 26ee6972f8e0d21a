"""The file-system layer: pure path resolution (no Spark), and the same contract for the plain
Python implementation and the JVM (Hadoop FileSystem) one, on real local files."""

from __future__ import annotations

import gzip
import os
import stat
from pathlib import Path
from typing import Any

import pytest

from eljobs.io import fs as fsmod
from eljobs.io.fs import (
    FileSystem,
    FsConfigError,
    FsError,
    JvmFileSystem,
    LocalFileSystem,
    NeedsSparkError,
    PathNotFoundError,
)

HDFS = "hdfs://analytics-hadoop"


# ---------------------------------------------------------------------------- resolution


@pytest.mark.parametrize(
    ("path", "default", "expected"),
    [
        # bare absolute paths land on the default file system
        ("/wmf/data/event", HDFS, "hdfs://analytics-hadoop/wmf/data/event"),
        ("/wmf/data/event", "hdfs://nn:8020/", "hdfs://nn:8020/wmf/data/event"),
        ("/srv/salts", "file:///", "file:/srv/salts"),
        # explicit schemes win over the default
        ("file:///srv/salts", HDFS, "file:/srv/salts"),
        ("file:/srv/salts", HDFS, "file:/srv/salts"),
        ("file://localhost/srv/salts", HDFS, "file:/srv/salts"),
        ("hdfs://other:8020/x", HDFS, "hdfs://other:8020/x"),
        ("hdfs://other:8020/x", "file:///", "hdfs://other:8020/x"),
        # hdfs:///x takes the default's authority when the schemes agree
        ("hdfs:///x/r.json", HDFS, "hdfs://analytics-hadoop/x/r.json"),
        ("hdfs:///x/r.json", "file:///", "hdfs:/x/r.json"),
        ("s3a://bucket/key", HDFS, "s3a://bucket/key"),
        # Hadoop's normalization
        ("/a//b/./c/../d/", "file:///", "file:/a/b/d"),
        ("HDFS://nn/x", HDFS, "hdfs://nn/x"),
    ],
)
def test_resolve(path: str, default: str, expected: str) -> None:
    assert fsmod.resolve(path, default=default) == expected


def test_relative_paths_use_the_working_directory(monkeypatch: pytest.MonkeyPatch) -> None:
    assert fsmod.resolve("out/r.json", default="file:///", cwd="/home/me") == (
        "file:/home/me/out/r.json"
    )
    assert fsmod.resolve("file:out", default=HDFS, cwd="/home/me") == "file:/home/me/out"
    monkeypatch.setenv("HADOOP_USER_NAME", "analytics")
    assert fsmod.resolve("out", default=HDFS) == "hdfs://analytics-hadoop/user/analytics/out"


@pytest.mark.parametrize("bad", ["", "  ", "file://somehost/x"])
def test_resolve_refuses(bad: str) -> None:
    with pytest.raises(FsError):
        fsmod.resolve(bad, default="file:///")


def test_local_path_and_is_local() -> None:
    assert fsmod.local_path("/x", default="file:///") == "/x"
    assert fsmod.local_path("file:///x", default=HDFS) == "/x"
    assert fsmod.local_path("/x", default=HDFS) is None
    assert fsmod.local_path("hdfs:///x/r.json", default="file:///") is None
    assert fsmod.is_local("file:/x", default=HDFS)
    assert not fsmod.is_local("/user/hdfs/salts", default=HDFS)
    assert fsmod.is_local("/user/hdfs/salts", default="file:///")


def test_default_fs_reads_core_site(tmp_path: Path) -> None:
    assert fsmod.default_fs({}) == "file:///"
    assert fsmod.default_fs({"HADOOP_CONF_DIR": str(tmp_path)}) == "file:///"
    (tmp_path / "core-site.xml").write_text(
        "<?xml version='1.0'?>\n<configuration>\n"
        "  <property><name>fs.default.name</name><value>hdfs://old:9000</value></property>\n"
        "  <property><name>fs.defaultFS</name><value> hdfs://analytics-hadoop </value></property>\n"
        "</configuration>\n"
    )
    assert fsmod.default_fs({"HADOOP_CONF_DIR": str(tmp_path)}) == HDFS
    (tmp_path / "core-site.xml").write_text("<configuration><property>")
    with pytest.raises(FsConfigError, match=r"core-site\.xml"):
        fsmod.default_fs({"HADOOP_CONF_DIR": str(tmp_path)})


def test_bare_paths_follow_hadoop_conf_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "core-site.xml").write_text(
        "<configuration><property><name>fs.defaultFS</name><value>hdfs://nn:8020</value>"
        "</property></configuration>"
    )
    monkeypatch.setenv("HADOOP_CONF_DIR", str(tmp_path))
    assert fsmod.resolve("/user/hdfs/salts") == "hdfs://nn:8020/user/hdfs/salts"
    local = LocalFileSystem()
    assert local.default_fs == "hdfs://nn:8020"
    with pytest.raises(NeedsSparkError, match="hdfs://nn:8020/user/hdfs/salts"):
        local.read_text("/user/hdfs/salts/x")
    # an explicit local path still works without a session
    (tmp_path / "a").write_text("A")
    assert local.read_text(f"file://{tmp_path}/a") == "A"


@pytest.mark.parametrize(
    ("path", "escaped"),
    [
        ("/a/b", "/a/b"),
        ("/a/{x,y}/[0-9]?*", "/a/\\{x,y\\}/\\[0-9\\]\\?\\*"),
        ("/a\\b", "/a\\\\b"),
    ],
)
def test_escape_glob(path: str, escaped: str) -> None:
    assert fsmod.escape_glob(path) == escaped
    assert not fsmod.has_glob(escaped)


@pytest.mark.parametrize(
    ("glob", "matches", "misses"),
    [
        ("part-*", ["part-0", "part-"], ["xpart-0", "a/part-0"]),
        ("h?", ["h1"], ["h", "h12"]),
        ("[0-2]x", ["1x"], ["3x"]),
        ("[^0-2]x", ["3x"], ["1x"]),
        ("{a,bc}.json", ["a.json", "bc.json"], ["b.json"]),
        ("a\\*", ["a*"], ["ab"]),
    ],
)
def test_glob_to_regex(glob: str, matches: list[str], misses: list[str]) -> None:
    rx = fsmod.glob_to_regex(glob)
    assert all(rx.match(m) for m in matches)
    assert not any(rx.match(m) for m in misses)


def test_join_parent_basename() -> None:
    assert fsmod.join("hdfs://nn/x/", "y", "z") == "hdfs://nn/x/y/z"
    assert fsmod.parent("hdfs://nn/x/y") == "hdfs://nn/x"
    assert fsmod.parent("file:/x") == "file:/"
    assert fsmod.basename("file:/x/y/") == "y"


# ---------------------------------------------------------------------------- one contract


@pytest.fixture(params=["local", "jvm"])
def fs(request: pytest.FixtureRequest) -> FileSystem:
    """Both implementations; the contract below holds for each."""
    if request.param == "local":
        return LocalFileSystem("file:///")
    spark: Any = request.getfixturevalue("spark")
    return JvmFileSystem(spark)


def test_write_read_info_list(fs: FileSystem, tmp_path: Path) -> None:
    base = f"file://{tmp_path}"
    fs.write_text(f"{base}/d/b.txt", "héllo\nworld")
    fs.write_bytes(f"{tmp_path}/d/a.bin", b"\x00\x01")  # bare path: default FS = file:///
    assert (tmp_path / "d" / "b.txt").read_text(encoding="utf-8") == "héllo\nworld"
    assert fs.read_text(f"{base}/d/b.txt") == "héllo\nworld"
    assert fs.read_bytes(f"{base}/d/a.bin") == b"\x00\x01"
    assert fs.head(f"{base}/d/b.txt", 3) == "hé".encode()
    st = fs.info(f"{base}/d/b.txt")
    assert st is not None and not st.is_dir and st.size == len("héllo\nworld".encode())
    assert st.path == f"file:{tmp_path}/d/b.txt" and st.name == "b.txt"
    assert abs(st.mtime - os.stat(tmp_path / "d" / "b.txt").st_mtime * 1000) < 1000
    assert fs.is_dir(f"{base}/d") and not fs.is_dir(f"{base}/d/b.txt")
    assert fs.info(f"{base}/nothing") is None and fs.mtime(f"{base}/nothing") is None
    # the temporary file of the atomic write is gone; Hadoop's local checksum files are
    # hidden and left out here
    names = [e.name for e in fs.list(f"{base}/d") if not e.name.startswith(".")]
    assert names == ["a.bin", "b.txt"]
    assert [e.name for e in fs.walk(base) if not e.name.startswith(".")] == ["a.bin", "b.txt"]


def test_write_replaces_and_can_be_private(fs: FileSystem, tmp_path: Path) -> None:
    target = f"file://{tmp_path}/salts/2024010100_2024040100_2024052000"
    fs.write_text(target, "old")
    fs.write_text(target, "secret", private=True)
    f = tmp_path / "salts" / "2024010100_2024040100_2024052000"
    assert f.read_text() == "secret"
    assert stat.S_IMODE(f.stat().st_mode) == 0o600
    assert not [n for n in os.listdir(f.parent) if n.endswith(".tmp")]


def test_missing_paths(fs: FileSystem, tmp_path: Path) -> None:
    base = f"file://{tmp_path}"
    with pytest.raises(PathNotFoundError, match="missing"):
        fs.read_bytes(f"{base}/missing")
    with pytest.raises(PathNotFoundError, match="expected a directory"):
        fs.list(f"{base}/missing")
    assert fs.list(f"{base}/missing", missing_ok=True) == []
    (tmp_path / "f").write_text("x")
    with pytest.raises(FsError, match="found a file"):
        fs.list(f"{base}/f")
    assert fs.delete(f"{base}/missing") is False


def test_mkdirs_delete_rename_replace_dir(fs: FileSystem, tmp_path: Path) -> None:
    base = f"file://{tmp_path}"
    fs.mkdirs(f"{base}/a/b")
    assert (tmp_path / "a" / "b").is_dir()
    (tmp_path / "a" / "b" / "part-0").write_text("new")
    (tmp_path / "old").mkdir()
    (tmp_path / "old" / "stale").write_text("stale")
    fs.replace_dir(f"{base}/a/b", f"{base}/old")
    assert sorted(os.listdir(tmp_path / "old")) == ["part-0"]
    assert not (tmp_path / "a" / "b").exists()
    fs.rename(f"{base}/old/part-0", f"{base}/c/d/part-1")
    assert (tmp_path / "c" / "d" / "part-1").read_text() == "new"
    (tmp_path / "e").write_text("e")
    with pytest.raises(FsError, match="destination exists"):
        fs.rename(f"{base}/e", f"{base}/c/d/part-1")
    with pytest.raises(FsError):
        fs.delete(f"{base}/c")  # a non-empty directory needs recursive
    assert fs.delete(f"{base}/c", recursive=True)
    assert not (tmp_path / "c").exists()


def test_glob(fs: FileSystem, tmp_path: Path) -> None:
    for rel in ("2024/01/05/03/part-0", "2024/01/05/04/part-0", "2024/01/06/00/x", "a[1]/f"):
        p = tmp_path / rel
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_text("x")
    base = f"file://{tmp_path}"
    found = [e.path for e in fs.glob(f"{base}/2024/01/05/*/part-*")]
    assert found == [
        f"file:{tmp_path}/2024/01/05/03/part-0",
        f"file:{tmp_path}/2024/01/05/04/part-0",
    ]
    assert len(fs.glob(f"{base}/2024/01/{{05,06}}/0?")) == 3
    # an escaped path reads exactly that path, brackets included
    escaped = fsmod.escape_glob(f"{base}/a[1]/f")
    assert [e.name for e in fs.glob(escaped)] == ["f"]
    assert fs.glob(f"{base}/nothing/*") == []


def test_head_decompresses_by_name(fs: FileSystem, tmp_path: Path) -> None:
    (tmp_path / "x.gz").write_bytes(gzip.compress(b"1\tline one\n2\tline two\n"))
    assert fs.head(f"file://{tmp_path}/x.gz", 6, decompress=True) == b"1\tline"
    assert fs.head(f"file://{tmp_path}/x.gz", 2) == b"\x1f\x8b"


def test_local_copy_and_check_writable(fs: FileSystem, tmp_path: Path) -> None:
    (tmp_path / "geo.mmdb").write_bytes(b"db")
    assert fs.local_copy(f"file://{tmp_path}/geo.mmdb") == f"{tmp_path}/geo.mmdb"
    with pytest.raises(PathNotFoundError):
        fs.local_copy(f"file://{tmp_path}/none.mmdb")
    fs.check_writable(f"file://{tmp_path}/reports")
    assert [n for n in os.listdir(tmp_path / "reports") if not n.startswith(".")] == []
    (tmp_path / "a-file").write_text("x")
    with pytest.raises(FsError, match="expected a writable directory"):
        fs.check_writable(f"file://{tmp_path}/a-file/reports")


def test_jvm_sees_the_session_default_fs(spark: Any) -> None:
    jfs = fsmod.filesystem(spark)
    assert isinstance(jfs, JvmFileSystem)
    assert jfs.default_fs.startswith("file:")
    assert jfs.qualify("/x/y") == "file:/x/y"
    # with a session active, the layer is the JVM one
    assert isinstance(fsmod.filesystem(), JvmFileSystem)
