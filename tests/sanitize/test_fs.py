"""File access of the sanitize package: local paths and ``file:`` URIs in Python, other URIs
(``hdfs://``) through the JVM Hadoop FileSystem, exercised here with ``file://`` URIs."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from eljobs.sanitize import _fs


@pytest.mark.parametrize(
    ("path", "local"),
    [("/a/b", "/a/b"), ("file:///a/b", "/a/b"), ("file:/a/b", "/a/b"), ("rel/x", "rel/x")],
)
def test_local_forms(path: str, local: str) -> None:
    assert _fs.is_local(path)
    assert str(_fs.local_path(path)) == local


def test_hadoop_uris_are_not_local() -> None:
    assert not _fs.is_local("hdfs://nn:8020/wmf/salts")
    assert not _fs.is_local("hdfs:/wmf/salts")


def test_reads_and_lists_through_the_jvm(spark: Any, tmp_path: Path) -> None:
    (tmp_path / "b_file").write_text("héllo\nworld")
    (tmp_path / "a_file").write_text("")
    uri = f"file://{tmp_path}"
    assert _fs.hadoop_read_text(f"{uri}/b_file") == "héllo\nworld"
    assert _fs.hadoop_list_names(uri) == ["a_file", "b_file"]
    with pytest.raises(OSError, match="cannot read"):
        _fs.hadoop_read_text(f"{uri}/missing")
    with pytest.raises(OSError, match="is not a directory"):
        _fs.hadoop_list_names(f"{uri}/missing")
