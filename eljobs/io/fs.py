"""The one file-system layer of eljobs: every read, write, list, rename, delete and mtime of a
job goes through :func:`filesystem`.

Paths follow Hadoop's rules, as the Scala jobs do:

* a bare path (``/wmf/data/event``) is on Hadoop's default file system ``fs.defaultFS``:
  ``file:///`` on a laptop, HDFS on a cluster whose ``core-site.xml`` says
  ``hdfs://analytics-hadoop``. A relative bare path is relative to that file system's working
  directory (the current directory locally, ``/user/<name>`` on HDFS);
* ``file:///x`` (also ``file:/x`` and ``file://localhost/x``) is always the local disk;
* ``hdfs://nn:8020/x`` and every other Hadoop scheme are explicit; ``hdfs:///x`` takes the
  authority of the default file system when that is HDFS too.

Two implementations share the :class:`FileSystem` interface:

* :class:`JvmFileSystem` calls Hadoop's ``FileSystem`` through py4j, with the active Spark
  session's Hadoop configuration (so ``spark.hadoop.*`` settings, Kerberos and every scheme the
  cluster's class path knows work). It runs on the driver only.
* :class:`LocalFileSystem` is plain Python for ``file:`` paths, for the moments when no Spark is
  involved at all (``salts rotate`` on a local directory, notebooks without a session). It
  reads ``fs.defaultFS`` from ``$HADOOP_CONF_DIR/core-site.xml`` (:func:`default_fs`) so a bare
  path means the same thing with and without a session, and refuses other file systems.

The path resolution (:func:`resolve`, :func:`local_path`, :func:`escape_glob`...) is pure and is
tested without Spark. The qualified form is Hadoop's (``file:/x``, ``hdfs://nn:8020/x``).
"""

from __future__ import annotations

import bz2
import contextlib
import getpass
import gzip
import os
import posixpath
import re
import shutil
import stat
import sys
import tempfile
import uuid
import xml.etree.ElementTree as ET
import zlib
from abc import ABC, abstractmethod
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

# Hadoop's glob characters ``? * [ ] { } \`` escaped by a backslash: one function for eljobs
from eljobs.io.globs import escape_glob

if TYPE_CHECKING:
    from pyspark.sql import SparkSession

#: The default file system when no ``core-site.xml`` names one (Hadoop's own default).
LOCAL_DEFAULT_FS = "file:///"

_SCHEME = re.compile(r"^([A-Za-z][A-Za-z0-9+.-]*):(.*)$", re.DOTALL)
_GZIP_NAMES = (".gz", ".gzip")
_BZIP2_NAMES = (".bz2", ".bzip2")


class FsError(OSError):
    """A file-system operation failed; the message names the path and the reason."""


class PathNotFoundError(FsError, FileNotFoundError):
    """The path does not exist."""


class FsConfigError(FsError):
    """The Hadoop configuration (``core-site.xml``) cannot be read or names no usable file
    system."""


class NeedsSparkError(FsError):
    """A path on a non-local file system was used without a Spark session (the JVM's Hadoop
    client reaches it; plain Python only reaches the local disk)."""


@dataclass(frozen=True)
class FileInfo:
    """What a file system says about one path."""

    path: str
    """The qualified path (``file:/x/y``, ``hdfs://nn:8020/x/y``)."""
    name: str
    """The last path component."""
    is_dir: bool
    size: int
    """Bytes (0 for directories)."""
    mtime: int
    """Modification time, epoch milliseconds."""


# --------------------------------------------------------------------------------------------
# Pure path resolution


def split_scheme(path: str) -> tuple[str | None, str]:
    """``("hdfs", "//nn/x")`` for ``hdfs://nn/x``; ``(None, path)`` for a bare path.

    The scheme is lower-cased. A single letter followed by ``:`` is taken as a scheme too, as
    Hadoop does.
    """
    m = _SCHEME.match(path)
    if m is None:
        return None, path
    return m.group(1).lower(), m.group(2)


def _split_authority(rest: str) -> tuple[str | None, str]:
    # "//nn:8020/x" -> ("nn:8020", "/x"); "/x" -> (None, "/x"); "///x" -> ("", "/x")
    if rest.startswith("//"):
        after = rest[2:]
        slash = after.find("/")
        if slash < 0:
            return after, "/"
        return after[:slash], after[slash:]
    return None, rest


def _normalize(path: str) -> str:
    # Hadoop's Path collapses repeated slashes, drops a trailing one and normalizes "."/".."
    if not path:
        return "/"
    norm = posixpath.normpath(path)
    if norm.startswith("//"):
        norm = "/" + norm.lstrip("/")
    return norm


def read_default_fs(conf_dir: str | os.PathLike[str]) -> str | None:
    """``fs.defaultFS`` (or the deprecated ``fs.default.name``) of ``<conf_dir>/core-site.xml``;
    None when the file is missing or sets neither.

    Raises:
        FsConfigError: the file exists but is not valid XML (the message names it).
    """
    site = Path(conf_dir) / "core-site.xml"
    if not site.is_file():
        return None
    try:
        root = ET.parse(site).getroot()
    except (ET.ParseError, OSError) as e:
        raise FsConfigError(f"cannot read {site}: expected Hadoop configuration XML: {e}") from None
    found: dict[str, str] = {}
    for prop in root.iter("property"):
        name = (prop.findtext("name") or "").strip()
        value = (prop.findtext("value") or "").strip()
        if name in ("fs.defaultFS", "fs.default.name") and value:
            found[name] = value
    return found.get("fs.defaultFS") or found.get("fs.default.name")


def default_fs(environ: Mapping[str, str] | None = None) -> str:
    """Hadoop's default file system without a Spark session: ``fs.defaultFS`` of
    ``$HADOOP_CONF_DIR/core-site.xml``, else ``file:///``.

    With a session, :attr:`JvmFileSystem.default_fs` is the authority (it also sees
    ``spark.hadoop.fs.defaultFS``).
    """
    env = os.environ if environ is None else environ
    conf_dir = env.get("HADOOP_CONF_DIR")
    if conf_dir:
        value = read_default_fs(conf_dir)
        if value:
            return value
    return LOCAL_DEFAULT_FS


def _working_dir(default: str, cwd: str | None) -> str:
    scheme, _ = split_scheme(default)
    if scheme == "file":
        return cwd if cwd is not None else os.getcwd()
    # Hadoop's working directory on HDFS and the like: the user's home.
    user = os.environ.get("HADOOP_USER_NAME") or getpass.getuser()
    return f"/user/{user}"


def resolve(path: str, *, default: str | None = None, cwd: str | None = None) -> str:
    """The qualified form of ``path`` under Hadoop's rules (see the module docstring).

    Args:
        path: a bare path or a URI.
        default: the default file system (``fs.defaultFS``); :func:`default_fs` when None.
        cwd: the working directory for relative local paths (the current one when None).

    Returns:
        ``file:/abs/path`` for the local disk, ``<scheme>://<authority>/path`` otherwise.

    Raises:
        FsError: an empty path, or a ``file:`` URI with a host other than ``localhost``.
    """
    text = str(path).strip()
    if not text:
        raise FsError("expected a path, found an empty string")
    default = default if default is not None else default_fs()
    scheme, rest = split_scheme(text)
    if scheme is None:
        scheme, dfs_rest = split_scheme(default)
        if scheme is None:
            raise FsConfigError(
                f"fs.defaultFS: expected a URI such as hdfs://nn, found {default!r}"
            )
        authority, _ = _split_authority(dfs_rest)
        p = text if text.startswith("/") else posixpath.join(_working_dir(default, cwd), text)
        return _qualified(scheme, authority or "", _normalize(p))
    authority, p = _split_authority(rest)
    if scheme == "file":
        if authority not in (None, "", "localhost"):
            raise FsError(
                f"{text}: a file: URI names a local path, expected file:///abs/path, found the "
                f"host {authority!r}"
            )
        if not p.startswith("/"):
            p = posixpath.join(cwd if cwd is not None else os.getcwd(), p)
        return _qualified("file", "", _normalize(p))
    if not authority:
        # hdfs:///x: Hadoop takes the default file system's authority when the schemes agree.
        d_scheme, d_rest = split_scheme(default)
        if d_scheme == scheme:
            authority = _split_authority(d_rest)[0] or ""
    if not p.startswith("/"):
        p = "/" + p
    return _qualified(scheme, authority or "", _normalize(p))


def _qualified(scheme: str, authority: str, path: str) -> str:
    if scheme == "file" or not authority:
        return f"{scheme}:{path}"
    return f"{scheme}://{authority}{path}"


def scheme_of(path: str, *, default: str | None = None) -> str:
    """The scheme ``path`` resolves to (``file``, ``hdfs``...)."""
    scheme, _ = split_scheme(resolve(path, default=default, cwd="/"))
    assert scheme is not None
    return scheme


def is_local(path: str, *, default: str | None = None) -> bool:
    """Whether ``path`` resolves to the local disk (a ``file:`` path)."""
    return scheme_of(path, default=default) == "file"


def local_path(path: str, *, default: str | None = None) -> str | None:
    """The local file-system path of ``path`` when it resolves to ``file:``, else None."""
    qualified = resolve(path, default=default)
    scheme, rest = split_scheme(qualified)
    return rest if scheme == "file" else None


def join(base: str, *names: str) -> str:
    """``base/name/...`` for bare paths and URIs alike (no resolution)."""
    out = base.rstrip("/") or "/"
    for n in names:
        out = out.rstrip("/") + "/" + n.strip("/")
    return out


def basename(path: str) -> str:
    """The last component of a path or URI."""
    return path.rstrip("/").rsplit("/", 1)[-1]


def parent(path: str) -> str:
    """The parent of a qualified path (``file:/a/b`` -> ``file:/a``)."""
    scheme, rest = split_scheme(path)
    authority, p = _split_authority(rest)
    up = posixpath.dirname(p.rstrip("/")) or "/"
    if scheme is None:
        return up
    return _qualified(scheme, authority or "", up)


def glob_to_regex(component: str) -> re.Pattern[str]:
    """A regular expression for one path component of a Hadoop glob (``*``, ``?``,
    ``[abc]``, ``[^a]``, ``{a,b}``, ``\\`` escapes); ``*`` never crosses a ``/``."""
    out: list[str] = []
    i, depth = 0, 0
    while i < len(component):
        c = component[i]
        if c == "\\" and i + 1 < len(component):
            out.append(re.escape(component[i + 1]))
            i += 2
            continue
        if c == "*":
            out.append("[^/]*")
        elif c == "?":
            out.append("[^/]")
        elif c == "[":
            end = component.find("]", i + 1)
            if end < 0:
                raise FsError(f"glob {component!r}: unclosed '[' at {i}")
            body = component[i + 1 : end]
            neg = body.startswith(("^", "!"))
            body = body[1:] if neg else body
            out.append("[" + ("^" if neg else "") + body.replace("\\", "\\\\") + "]")
            i = end
        elif c == "{":
            depth += 1
            out.append("(?:")
        elif c == "}" and depth:
            depth -= 1
            out.append(")")
        elif c == "," and depth:
            out.append("|")
        else:
            out.append(re.escape(c))
        i += 1
    if depth:
        raise FsError(f"glob {component!r}: unclosed '{{'")
    return re.compile("".join(out) + r"\Z")


def has_glob(path: str) -> bool:
    """Whether ``path`` holds an unescaped glob character."""
    return re.search(r"(?<!\\)[?*\[{]", path) is not None


# --------------------------------------------------------------------------------------------
# The interface


class FileSystem(ABC):
    """File operations on qualified or bare paths (see the module docstring)."""

    default_fs: str
    """``fs.defaultFS`` as this implementation sees it."""

    @abstractmethod
    def qualify(self, path: str) -> str:
        """The fully qualified form (scheme and authority) of ``path``."""

    @abstractmethod
    def info(self, path: str) -> FileInfo | None:
        """What the file system says about ``path``; None when it does not exist."""

    @abstractmethod
    def _list_dir(self, path: str) -> list[FileInfo]:
        """Entries of an existing directory."""

    @abstractmethod
    def walk(self, path: str) -> list[FileInfo]:
        """Every file (not directory) below ``path``, recursively, sorted by path; a file
        path gives itself.

        Raises:
            PathNotFoundError: ``path`` does not exist.
        """

    @abstractmethod
    def glob(self, pattern: str) -> list[FileInfo]:
        """Paths matching a Hadoop glob (``*``, ``?``, ``[..]``, ``{a,b}``), sorted by path;
        a pattern without glob characters gives the path itself when it exists."""

    @abstractmethod
    def read_bytes(self, path: str, limit: int | None = None) -> bytes:
        """The content of a file (its first ``limit`` bytes when given).

        Raises:
            PathNotFoundError: no such file.
            FsError: it cannot be read.
        """

    @abstractmethod
    def _head_decompressed(self, path: str, limit: int) -> bytes:
        """Up to ``limit`` bytes of the decompressed content of a compressed file."""

    @abstractmethod
    def write_bytes(self, path: str, data: bytes, *, private: bool = False) -> None:
        """Create or replace a file (parents created). The content is written to a hidden
        file next to it that is then renamed over it, so a reader sees the old or the new
        content, never half of it. ``private`` makes the file readable by its owner only
        (mode 0600) from the moment it exists: for salts.

        Raises:
            FsError: the write or the rename failed (the message names the path).
        """

    @abstractmethod
    def mkdirs(self, path: str) -> None:
        """Create a directory and its parents (nothing when it exists)."""

    @abstractmethod
    def delete(self, path: str, *, recursive: bool = False) -> bool:
        """Delete ``path``; False when there was nothing to delete.

        Raises:
            FsError: a non-empty directory without ``recursive``, or the file system refused.
        """

    @abstractmethod
    def rename(self, source: str, dest: str) -> None:
        """Move ``source`` to ``dest`` (which must not exist; parents created).

        Raises:
            FsError: the file system refused the rename (the message names both paths).
        """

    @abstractmethod
    def local_copy(self, path: str) -> str:
        """A local file path holding ``path``'s content: the file itself on the local disk,
        else a copy in a new temporary directory (for libraries that only open local files,
        such as the geocoding database reader)."""

    # Derived operations ---------------------------------------------------------------

    def exists(self, path: str) -> bool:
        """Whether ``path`` exists."""
        return self.info(path) is not None

    def is_dir(self, path: str) -> bool:
        """Whether ``path`` is an existing directory."""
        st = self.info(path)
        return st is not None and st.is_dir

    def mtime(self, path: str) -> int | None:
        """Modification time in epoch ms, None when ``path`` does not exist."""
        st = self.info(path)
        return None if st is None else st.mtime

    def list(self, path: str, *, missing_ok: bool = False) -> list[FileInfo]:
        """Entries of directory ``path`` sorted by name.

        Raises:
            PathNotFoundError: ``path`` does not exist (unless ``missing_ok``: empty list).
            FsError: ``path`` is a file.
        """
        st = self.info(path)
        if st is None:
            if missing_ok:
                return []
            raise PathNotFoundError(f"{path}: expected a directory, found nothing there")
        if not st.is_dir:
            raise FsError(f"{path}: expected a directory, found a file")
        return sorted(self._list_dir(path), key=lambda e: e.name)

    def read_text(self, path: str) -> str:
        """The content of a file decoded as UTF-8.

        Raises:
            FsError: the file cannot be read or is not UTF-8 (the message names it).
        """
        data = self.read_bytes(path)
        try:
            return data.decode("utf-8")
        except UnicodeDecodeError as e:
            raise FsError(
                f"{path}: expected UTF-8 text, found invalid bytes at {e.start}"
            ) from None

    def head(self, path: str, limit: int, *, decompress: bool = False) -> bytes:
        """Up to ``limit`` bytes from the start of a file; with ``decompress``, of its content
        decompressed by the codec its name gives, as Hadoop reads it (``.gz`` and ``.bz2``;
        through the JVM, every codec the cluster knows)."""
        if decompress:
            return self._head_decompressed(path, limit)
        return self.read_bytes(path, limit)

    def write_text(self, path: str, text: str, *, private: bool = False) -> None:
        """:meth:`write_bytes` of ``text`` encoded as UTF-8."""
        self.write_bytes(path, text.encode("utf-8"), private=private)

    def replace_dir(self, source: str, dest: str) -> None:
        """Move directory ``source`` to ``dest``, replacing whatever ``dest`` held (parents
        created). Both must be on one file system, where a rename moves no data.

        Raises:
            FsError: the file system refused the rename (the message names both paths).
        """
        self.delete(dest, recursive=True)
        self.rename(source, dest)

    def check_writable(self, directory: str) -> None:
        """Fail early when files cannot be created in ``directory`` (created if missing): a
        hidden probe file is written and deleted.

        Raises:
            FsError: the directory cannot be created or written (the message names it).
        """
        probe = join(directory, f"._eljobs-write-check-{uuid.uuid4().hex}")
        try:
            self.mkdirs(directory)
            self.write_bytes(probe, b"")
        except OSError as e:
            raise FsError(f"{directory}: expected a writable directory: {e}") from None
        self.delete(probe)


def _temp_sibling(path: str) -> str:
    # Hidden (leading '.') so Spark and Hive readers of the directory never take it for data.
    return join(parent(path), f".{basename(path)}.{uuid.uuid4().hex[:12]}.tmp")


# --------------------------------------------------------------------------------------------
# Plain Python, local disk only


class LocalFileSystem(FileSystem):
    """``file:`` paths with plain Python; other file systems are refused (see module doc)."""

    def __init__(self, default: str | None = None) -> None:
        self.default_fs = default if default is not None else default_fs()

    def qualify(self, path: str) -> str:
        """Resolve ``path``; see :func:`resolve`."""
        return resolve(path, default=self.default_fs)

    def _local(self, path: str) -> str:
        qualified = self.qualify(path)
        scheme, rest = split_scheme(qualified)
        if scheme != "file":
            raise NeedsSparkError(
                f"{path} resolves to {qualified} (fs.defaultFS is {self.default_fs}): "
                "reaching it needs a Spark session, whose JVM holds the "
                "Hadoop client; plain Python reaches file: paths only"
            )
        return rest

    def _info(self, local: str, st: os.stat_result) -> FileInfo:
        is_dir = stat.S_ISDIR(st.st_mode)
        return FileInfo(
            path=f"file:{local}",
            name=posixpath.basename(local) or "/",
            is_dir=is_dir,
            size=0 if is_dir else st.st_size,
            mtime=st.st_mtime_ns // 1_000_000,
        )

    def info(self, path: str) -> FileInfo | None:
        """See :meth:`FileSystem.info`."""
        local = self._local(path)
        try:
            return self._info(local, os.stat(local))
        except FileNotFoundError:
            return None
        except OSError as e:
            raise FsError(f"{path}: {e.strerror}") from None

    def _list_dir(self, path: str) -> list[FileInfo]:
        local = self._local(path)
        out = []
        with os.scandir(local) as it:
            for entry in it:
                out.append(self._info(posixpath.join(local, entry.name), entry.stat()))
        return out

    def walk(self, path: str) -> list[FileInfo]:
        """See :meth:`FileSystem.walk`."""
        local = self._local(path)
        st = self.info(path)
        if st is None:
            raise PathNotFoundError(f"{path}: no such file or directory")
        if not st.is_dir:
            return [st]
        out = []
        for dirpath, _dirs, files in os.walk(local):
            for name in files:
                f = posixpath.join(dirpath, name)
                out.append(self._info(f, os.stat(f)))
        return sorted(out, key=lambda e: e.path)

    def glob(self, pattern: str) -> list[FileInfo]:
        """See :meth:`FileSystem.glob` (braces must not hold a ``/``)."""
        local = self._local(pattern)
        parts = [p for p in local.split("/") if p]
        current = ["/"]
        for part in parts:
            nxt = []
            if not has_glob(part):
                literal = re.sub(r"\\(.)", r"\1", part)
                nxt = [posixpath.join(c, literal) for c in current]
                nxt = [p for p in nxt if os.path.lexists(p)]
            else:
                rx = glob_to_regex(part)
                for c in current:
                    if os.path.isdir(c):
                        nxt += [posixpath.join(c, n) for n in sorted(os.listdir(c)) if rx.match(n)]
            current = nxt
        return sorted((self._info(p, os.stat(p)) for p in current), key=lambda e: e.path)

    def read_bytes(self, path: str, limit: int | None = None) -> bytes:
        """See :meth:`FileSystem.read_bytes`."""
        local = self._local(path)
        try:
            with open(local, "rb") as f:
                return f.read() if limit is None else f.read(limit)
        except FileNotFoundError:
            raise PathNotFoundError(f"cannot read {path}: no such file") from None
        except OSError as e:
            raise FsError(f"cannot read {path}: {e.strerror}") from None

    def _head_decompressed(self, path: str, limit: int) -> bytes:
        if not path.lower().endswith(_GZIP_NAMES + _BZIP2_NAMES):
            return self.read_bytes(path, limit)
        local = self._local(path)
        opener: Any = bz2.open if path.lower().endswith(_BZIP2_NAMES) else gzip.open
        try:
            with opener(local, "rb") as f:
                return bytes(f.read(limit))
        except FileNotFoundError:
            raise PathNotFoundError(f"cannot read {path}: no such file") from None
        except (OSError, EOFError, zlib.error) as e:
            raise FsError(f"cannot decompress {path}: {e}") from None

    def write_bytes(self, path: str, data: bytes, *, private: bool = False) -> None:
        """See :meth:`FileSystem.write_bytes`."""
        local = self._local(path)
        tmp = self._local(_temp_sibling(self.qualify(path)))
        try:
            os.makedirs(posixpath.dirname(local), exist_ok=True)
            fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600 if private else 0o666)
            with os.fdopen(fd, "wb") as f:
                f.write(data)
            os.replace(tmp, local)
        except OSError as e:
            if os.path.lexists(tmp):
                os.unlink(tmp)
            raise FsError(f"cannot write {path}: {e.strerror or e}") from None

    def mkdirs(self, path: str) -> None:
        """See :meth:`FileSystem.mkdirs`."""
        local = self._local(path)
        try:
            os.makedirs(local, exist_ok=True)
        except OSError as e:
            raise FsError(f"cannot create directory {path}: {e.strerror or e}") from None

    def delete(self, path: str, *, recursive: bool = False) -> bool:
        """See :meth:`FileSystem.delete`."""
        local = self._local(path)
        try:
            if os.path.isdir(local) and not os.path.islink(local):
                if recursive:
                    shutil.rmtree(local)
                else:
                    os.rmdir(local)
            else:
                os.unlink(local)
        except FileNotFoundError:
            return False
        except OSError as e:
            raise FsError(f"cannot delete {path}: {e.strerror or e}") from None
        return True

    def rename(self, source: str, dest: str) -> None:
        """See :meth:`FileSystem.rename`."""
        src, dst = self._local(source), self._local(dest)
        if os.path.lexists(dst):
            raise FsError(f"cannot move {source} to {dest}: the destination exists")
        try:
            os.makedirs(posixpath.dirname(dst), exist_ok=True)
            os.rename(src, dst)
        except OSError as e:
            raise FsError(f"cannot move {source} to {dest}: {e.strerror or e}") from None

    def local_copy(self, path: str) -> str:
        """See :meth:`FileSystem.local_copy` (always the file itself here)."""
        local = self._local(path)
        if not os.path.isfile(local):
            raise PathNotFoundError(f"{path}: expected a file, found none")
        return local


# --------------------------------------------------------------------------------------------
# Hadoop through the JVM


class JvmFileSystem(FileSystem):
    """Hadoop ``FileSystem`` calls through py4j with the session's Hadoop configuration
    (driver only)."""

    def __init__(self, spark: SparkSession) -> None:
        self._spark = spark
        self._jvm: Any = spark.sparkContext._jvm
        self._conf: Any = spark.sparkContext._jsc.hadoopConfiguration()
        self.default_fs = str(self._conf.get("fs.defaultFS") or LOCAL_DEFAULT_FS)
        self._raw: Any = None

    # -- helpers

    def _raw_local(self) -> Any:
        if self._raw is None:
            raw = self._jvm.org.apache.hadoop.fs.RawLocalFileSystem()
            raw.initialize(self._jvm.java.net.URI("file:///"), self._conf)
            self._raw = raw
        return self._raw

    def _path(self, path: str) -> Any:
        return self._jvm.org.apache.hadoop.fs.Path(path)

    def _resolve(self, path: str) -> tuple[Any, Any]:
        """(Hadoop FileSystem, qualified Hadoop Path) of ``path``."""
        try:
            p = self._path(path)
            fs = p.getFileSystem(self._conf)
            if str(fs.getScheme()) == "file":
                # The raw local file system: no hidden .crc file next to every small file we
                # write (salts, flags, reports), and a rename that replaces in one step.
                fs = self._raw_local()
            return fs, fs.makeQualified(p)
        except Exception as e:  # py4j wraps IllegalArgumentException, IOException...
            raise _fs_error(e, f"cannot resolve {path}") from None

    def _info_of(self, st: Any) -> FileInfo:
        p = st.getPath()
        is_dir = bool(st.isDirectory())
        return FileInfo(
            path=str(p.toString()),
            name=str(p.getName()),
            is_dir=is_dir,
            size=0 if is_dir else int(st.getLen()),
            mtime=int(st.getModificationTime()),
        )

    # -- interface

    def qualify(self, path: str) -> str:
        """The path as Hadoop qualifies it against ``fs.defaultFS``."""
        return str(self._resolve(path)[1].toString())

    def uri(self, path: str) -> str:
        """The qualified path as a percent-encoded URI, the form Spark's
        ``input_file_name()`` reports (``file:///a%20b`` for ``file:/a b``)."""
        uri = str(self._resolve(path)[1].toUri().toString())
        if uri.startswith("file:/") and not uri.startswith("file:///"):
            # Spark lists local files with an empty authority (file:///x); the raw local file
            # system leaves it out (file:/x): give Spark's form
            uri = "file:///" + uri[len("file:/") :]
        return uri

    def exists(self, path: str) -> bool:
        """See :meth:`FileSystem.exists` (one call, no exception for a missing path)."""
        fs, p = self._resolve(path)
        try:
            return bool(fs.exists(p))
        except Exception as e:
            raise _fs_error(e, f"cannot stat {path}") from None

    def info(self, path: str) -> FileInfo | None:
        """See :meth:`FileSystem.info`."""
        fs, p = self._resolve(path)
        try:
            return self._info_of(fs.getFileStatus(p))
        except Exception as e:
            if _is_java(e, "java.io.FileNotFoundException"):
                return None
            raise _fs_error(e, f"cannot stat {path}") from None

    def _list_dir(self, path: str) -> list[FileInfo]:
        fs, p = self._resolve(path)
        try:
            return [self._info_of(st) for st in fs.listStatus(p)]
        except Exception as e:
            raise _fs_error(e, f"cannot list {path}") from None

    def walk(self, path: str) -> list[FileInfo]:
        """See :meth:`FileSystem.walk`."""
        fs, p = self._resolve(path)
        out = []
        try:
            it = fs.listFiles(p, True)
            while it.hasNext():
                out.append(self._info_of(it.next()))
        except Exception as e:
            raise _fs_error(e, f"cannot list {path}") from None
        return sorted(out, key=lambda e: e.path)

    def glob(self, pattern: str) -> list[FileInfo]:
        """See :meth:`FileSystem.glob`."""
        fs, p = self._resolve(pattern)
        try:
            found = fs.globStatus(p)
        except Exception as e:
            raise _fs_error(e, f"cannot glob {pattern}") from None
        return sorted((self._info_of(st) for st in (found or [])), key=lambda e: e.path)

    def read_bytes(self, path: str, limit: int | None = None) -> bytes:
        """See :meth:`FileSystem.read_bytes`."""
        fs, p = self._resolve(path)
        try:
            stream = fs.open(p)
        except Exception as e:
            raise _fs_error(e, f"cannot read {path}") from None
        try:
            data = stream.readAllBytes() if limit is None else stream.readNBytes(limit)
            return bytes(data)
        except Exception as e:
            raise _fs_error(e, f"cannot read {path}") from None
        finally:
            stream.close()

    def _head_decompressed(self, path: str, limit: int) -> bytes:
        fs, p = self._resolve(path)
        factory = self._jvm.org.apache.hadoop.io.compress.CompressionCodecFactory(self._conf)
        codec = factory.getCodec(p)
        try:
            stream = fs.open(p)
        except Exception as e:
            raise _fs_error(e, f"cannot read {path}") from None
        try:
            if codec is not None:
                stream = codec.createInputStream(stream)
            return bytes(stream.readNBytes(limit))
        except Exception as e:
            raise _fs_error(e, f"cannot decompress {path}") from None
        finally:
            stream.close()

    def write_bytes(self, path: str, data: bytes, *, private: bool = False) -> None:
        """See :meth:`FileSystem.write_bytes`."""
        fs, dst = self._resolve(path)
        tmp = self._path(_temp_sibling(str(dst.toString())))
        try:
            fs.mkdirs(dst.getParent())
            out = fs.create(tmp, False)
            try:
                if private:
                    # before any byte is written: the secret never sits in a readable file
                    perm = self._jvm.org.apache.hadoop.fs.permission.FsPermission("600")
                    fs.setPermission(tmp, perm)
                out.write(bytearray(data))
            finally:
                out.close()
            self._rename_over(fs, tmp, dst)
        except Exception as e:
            _quietly_delete(fs, tmp)
            raise _fs_error(e, f"cannot write {path}") from None

    def _rename_over(self, fs: Any, tmp: Any, dst: Any) -> None:
        # FileContext's rename with OVERWRITE replaces the file in one step (atomic on HDFS);
        # file systems without a FileContext binding fall back to delete-then-rename.
        jvm = self._jvm
        if str(dst.toUri().getScheme()) == "file":
            # rename(2) replaces the destination atomically
            if not fs.rename(tmp, dst):
                raise FsError(f"the file system refused to rename {tmp.toString()} to {dst}")
            return
        try:
            fc = jvm.org.apache.hadoop.fs.FileContext.getFileContext(dst.toUri(), self._conf)
            gateway: Any = self._spark.sparkContext._gateway
            opts = gateway.new_array(jvm.org.apache.hadoop.fs.Options.Rename, 1)
            opts[0] = jvm.org.apache.hadoop.fs.Options.Rename.OVERWRITE
            fc.rename(tmp, dst, opts)
            return
        except Exception as e:
            if not _is_java(e, "org.apache.hadoop.fs.UnsupportedFileSystemException"):
                raise
        if fs.exists(dst):
            fs.delete(dst, False)
        if not fs.rename(tmp, dst):
            raise FsError(f"the file system refused to rename {tmp.toString()} to {dst}")

    def mkdirs(self, path: str) -> None:
        """See :meth:`FileSystem.mkdirs`."""
        fs, p = self._resolve(path)
        try:
            ok = fs.mkdirs(p)
        except Exception as e:
            raise _fs_error(e, f"cannot create directory {path}") from None
        if not ok:
            raise FsError(f"cannot create directory {path}: the file system refused")

    def delete(self, path: str, *, recursive: bool = False) -> bool:
        """See :meth:`FileSystem.delete`."""
        fs, p = self._resolve(path)
        try:
            if not fs.exists(p):
                return False
            return bool(fs.delete(p, recursive))
        except Exception as e:
            raise _fs_error(e, f"cannot delete {path}") from None

    def rename(self, source: str, dest: str) -> None:
        """See :meth:`FileSystem.rename`."""
        fs, src = self._resolve(source)
        dfs, dst = self._resolve(dest)
        try:
            if dfs.exists(dst):
                raise FsError(f"cannot move {source} to {dest}: the destination exists")
            dfs.mkdirs(dst.getParent())
            ok = fs.rename(src, dst)
        except FsError:
            raise
        except Exception as e:
            raise _fs_error(e, f"cannot move {source} to {dest}") from None
        if not ok:
            raise FsError(f"could not move {source} to {dest}: the file system refused the rename")

    def local_copy(self, path: str) -> str:
        """See :meth:`FileSystem.local_copy`."""
        fs, p = self._resolve(path)
        qualified = str(p.toString())
        scheme, rest = split_scheme(qualified)
        if scheme == "file":
            if not os.path.isfile(rest):
                raise PathNotFoundError(f"{path}: expected a file, found none")
            return rest
        target = posixpath.join(tempfile.mkdtemp(prefix="eljobs-local-copy-"), basename(rest))
        try:
            fs.copyToLocalFile(False, p, self._path(f"file:{target}"), True)
        except Exception as e:
            raise _fs_error(e, f"cannot copy {path} to the local disk") from None
        return target


def _java_class(e: BaseException) -> str | None:
    jex = getattr(e, "java_exception", None)
    if jex is None:
        return None
    try:
        return str(jex.getClass().getName())
    except Exception:  # pragma: no cover - the gateway is gone
        return None


def _is_java(e: BaseException, cls: str) -> bool:
    return _java_class(e) == cls


def _fs_error(e: BaseException, what: str) -> FsError:
    cls = _java_class(e)
    if cls is None:
        return e if isinstance(e, FsError) else FsError(f"{what}: {e}")
    jex: Any = getattr(e, "java_exception", None)
    msg = str(jex.getMessage()) if jex is not None else ""
    short = cls.rsplit(".", 1)[-1]
    if cls == "java.io.FileNotFoundException":
        return PathNotFoundError(f"{what}: no such file or directory ({msg})")
    return FsError(f"{what}: {short}: {msg}")


def _quietly_delete(fs: Any, p: Any) -> None:
    # best effort on an error path: the original error is the one to report
    with contextlib.suppress(Exception):
        fs.delete(p, False)


# --------------------------------------------------------------------------------------------
# Choosing one


def active_session() -> SparkSession | None:
    """The active Spark session, or None; pyspark is not imported when nothing imported it
    (then there cannot be a session)."""
    if "pyspark.sql" not in sys.modules:
        return None
    # Lazy on purpose: the layer serves pyspark-free commands (options files, salts on the
    # local disk, reports), and a session exists only once something imported pyspark.
    from pyspark.sql import SparkSession

    session = SparkSession.getActiveSession()
    if session is None:
        # another thread's session (getActiveSession is per thread)
        session = getattr(SparkSession, "_instantiatedSession", None)
    if session is None or session.sparkContext._jsc is None:
        return None
    return session


def filesystem(spark: SparkSession | None = None) -> FileSystem:
    """The file system layer for ``spark`` (or the active session): :class:`JvmFileSystem`
    when there is a session, else :class:`LocalFileSystem` with ``fs.defaultFS`` from
    ``$HADOOP_CONF_DIR``."""
    session = spark if spark is not None else active_session()
    if session is not None:
        return JvmFileSystem(session)
    return LocalFileSystem()


__all__ = [
    "FileInfo",
    "FileSystem",
    "FsConfigError",
    "FsError",
    "JvmFileSystem",
    "LocalFileSystem",
    "NeedsSparkError",
    "PathNotFoundError",
    "active_session",
    "basename",
    "default_fs",
    "escape_glob",
    "filesystem",
    "glob_to_regex",
    "has_glob",
    "is_local",
    "join",
    "local_path",
    "parent",
    "read_default_fs",
    "resolve",
    "scheme_of",
    "split_scheme",
]
