"""Small file-system helpers of the sanitize package: read a text file and list a directory
given a plain path, ``file://`` or any Hadoop URI (``hdfs://...``).

Local paths are read with Python. Other schemes go through the JVM Hadoop ``FileSystem`` of the
active Spark session (driver side), so no HDFS client library is needed in Python. These run
on the driver only; they never see row data.
"""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Any

_SCHEME = re.compile(r"^([A-Za-z][A-Za-z0-9+.-]*):(//)?")
_FILE = re.compile(r"^file:(//[^/]*)?", re.IGNORECASE)


def is_local(path: str) -> bool:
    """True for plain paths and ``file:`` URIs (``file:///x``, ``file:/x``, ``file://x``)."""
    m = _SCHEME.match(path)
    return m is None or m.group(1).lower() == "file"


def local_path(path: str) -> Path:
    """The local file-system path of a plain path or ``file:`` URI."""
    if path.lower().startswith("file://") and not path.startswith("file:///"):
        # file://relative or file://localhost/x: keep what follows the scheme as a path.
        return Path(path[len("file://") :])
    return Path(_FILE.sub("", path))


def _hadoop(path: str) -> tuple[Any, Any]:
    from pyspark.sql import SparkSession

    spark = SparkSession.getActiveSession()
    if spark is None:
        raise OSError(
            f"cannot read {path}: a non-local path needs an active Spark session "
            "(the JVM Hadoop FileSystem is used)"
        )
    jvm: Any = spark.sparkContext._jvm
    jpath = jvm.org.apache.hadoop.fs.Path(path)
    fs = jpath.getFileSystem(spark.sparkContext._jsc.hadoopConfiguration())
    return fs, jpath


def read_text(path: str) -> str:
    """The whole content of ``path`` decoded as UTF-8.

    Raises:
        OSError: the file cannot be read (the message names it).
    """
    if is_local(path):
        return local_path(path).read_text(encoding="utf-8")
    return hadoop_read_text(path)


def hadoop_read_text(path: str) -> str:
    """Read ``path`` as UTF-8 through the JVM Hadoop FileSystem of the active session."""
    fs, jpath = _hadoop(path)
    try:
        stream = fs.open(jpath)
    except Exception as e:  # py4j wraps the Java IOException
        raise OSError(f"cannot read {path}: {type(e).__name__}") from None
    try:
        return bytes(stream.readAllBytes()).decode("utf-8")
    finally:
        stream.close()


def list_names(path: str) -> list[str]:
    """Names (not paths) of the entries of directory ``path``, sorted.

    Raises:
        OSError: ``path`` is not a readable directory.
    """
    if is_local(path):
        p = local_path(path)
        if not p.is_dir():
            raise OSError(f"{path} is not a directory")
        return sorted(os.listdir(p))
    return hadoop_list_names(path)


def hadoop_list_names(path: str) -> list[str]:
    """Sorted entry names of directory ``path`` through the JVM Hadoop FileSystem."""
    fs, jpath = _hadoop(path)
    if not fs.exists(jpath) or not fs.getFileStatus(jpath).isDirectory():
        raise OSError(f"{path} is not a directory")
    return sorted(str(s.getPath().getName()) for s in fs.listStatus(jpath))


def join(base: str, name: str) -> str:
    """``base/name`` for paths and URIs alike."""
    return base.rstrip("/") + "/" + name
