"""Raw hourly partitions of client-side EventLogging lines: listing and reading.

The Camus importer wrote the topic ``eventlogging-client-side`` into hourly directories
(``<base>/2024/01/05/03/``) as Hadoop SequenceFiles whose key is a sequence number and whose
value is the varnishkafka line. Saved ``hdfs dfs -text`` output (``<seq>\\t<line>``, often
gzip'ed) and plain files of raw lines exist too. This module

* lists the hours ``[ceil(since), floor(until))`` under ``--input_path`` laid out by a Joda
  pattern (:func:`list_raw_input`), through the Hadoop FileSystem of the JVM so ``hdfs://``,
  ``file://`` and plain local paths all work, reporting hours with no input instead of
  skipping them;
* resolves each file's format (``--input_format auto`` reads the first bytes: ``SEQ`` is a
  SequenceFile; gzip, bzip2 or anything else is text, with a key when its first line starts
  with digits and a TAB, else raw lines);
* reads every file into one DataFrame ``hour, file, raw`` (:func:`read_raw`), keeping the work
  in the JVM until the Python processing step:

  - SequenceFiles go through Hadoop's ``SequenceFileAsTextInputFormat`` (any key and value
    Writable, any codec the cluster has) and become a DataFrame on the JVM side through the
    bean reflection of ``createDataFrame(JavaRDD<Text>, Text.class)``: no row is pickled
    through Python. Measured on 1,000,000 lines, local[2], with a no-op ``mapInArrow``: 5.7 s
    this way against 10.1 s with ``sc.sequenceFile(...).toDF()``, whose rows are pickled to a
    Python worker and back before Arrow ever sees them (see MEASUREMENTS.md).
  - text and lines files go through Spark's text source (codec by file extension).

* turns a failed read into an :class:`~eljobs.errors.InputError` that names the file
  (:func:`naming_bad_input`), by re-reading the inputs one at a time in the JVM once the job
  has failed.

The key is dropped: for SequenceFiles it is a separate record field; for text it is everything
up to the **first** TAB (``cut -f 2-``, not the published ``awk`` clean-up, which turned every
TAB of the line into a space and split ``ip`` and ``userAgent`` at the wrong place; see
docs/differences.md).
A text line without any TAB is kept whole, as ``cut`` does.
"""

from __future__ import annotations

import contextlib
import logging
import re
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any, Literal

from py4j.protocol import Py4JJavaError
from pyspark.errors import PySparkException
from pyspark.sql import DataFrame
from pyspark.sql import functions as F

from eljobs.errors import InputError
from eljobs.io.fs import JvmFileSystem, join
from eljobs.io.globs import escape_glob, escape_input_paths
from eljobs.timewindow import compile_joda, hours_in_window

if TYPE_CHECKING:
    from pyspark.sql import SparkSession

log = logging.getLogger(__name__)

InputFormat = Literal["auto", "sequence", "text", "lines"]
INPUT_FORMATS: tuple[str, ...] = ("auto", "sequence", "text", "lines")
FileFormat = Literal["sequence", "text", "lines"]

#: The importer's layout of hourly partitions.
DEFAULT_DATETIME_FORMAT = "yyyy/MM/dd/HH"

_SEQ_MAGIC = b"SEQ"
_GZIP_MAGIC = b"\x1f\x8b"
_BZIP2_MAGIC = b"BZh"
# Hadoop picks the decompression codec of a text file by its name, not its content.
_CODEC_EXTENSIONS = {"gzip": (".gz", ".gzip"), "bzip2": (".bz2", ".bzip2")}


@dataclass(frozen=True)
class RawFile:
    """One data file of an hourly partition."""

    path: str
    """Hadoop path as text (``file:/data/2024/01/05/03/part-0``, ``hdfs://nn/...``)."""
    uri: str
    """The same path as a URI string (percent-encoded), as Spark's file sources report it."""
    hour: datetime
    size: int
    format: FileFormat
    compression: str | None = None
    """``gzip``/``bzip2`` when the first bytes say so (text files only)."""


@dataclass(frozen=True)
class HourInput:
    """What one hour of the window has: its directory and data files, or nothing."""

    hour: datetime
    directory: str
    files: tuple[RawFile, ...]
    status: Literal["ok", "missing", "empty"]
    """``missing``: no directory; ``empty``: a directory without data (0 lines)."""

    @property
    def label(self) -> str:
        """The hour as ``2024-01-05T03:00Z`` (the ``hour`` column of :func:`read_raw`)."""
        return hour_label(self.hour)


def hour_label(hour: datetime) -> str:
    """``2024-01-05T03:00Z``: the form of the ``hour`` column and of the account."""
    return hour.strftime("%Y-%m-%dT%H:00Z")


def detect_format(head: bytes) -> tuple[FileFormat, str | None]:
    """Format and compression of a file from its first bytes (``--input_format auto``).

    ``SEQ`` starts a Hadoop SequenceFile; gzip and bzip2 magic numbers, or anything else, mean
    text (:func:`list_raw_input` then tells keyed text from raw lines by the first line).
    Returns ``(format, compression)``.
    """
    if head.startswith(_SEQ_MAGIC):
        return "sequence", None
    if head.startswith(_GZIP_MAGIC):
        return "text", "gzip"
    if head.startswith(_BZIP2_MAGIC):
        return "text", "bzip2"
    return "text", None


def alternate_padding(pattern: str) -> str | None:
    """The same Joda pattern with zero padding of month/day/hour switched (``MM`` <-> ``M``).

    Hive-style directories are written both ways (``month=03`` and ``month=3``); the pattern as
    given is tried first and this one when its directory does not exist. Quoted literals are
    left alone. None when the pattern has no such field.
    """
    out: list[str] = []
    changed = False
    for m in re.finditer(r"'[^']*'|M+|d+|H+|[^'MdH]+", pattern):
        tok = m.group(0)
        if tok[0] in "MdH" and len(tok) in (1, 2):
            out.append(tok[0] if len(tok) == 2 else tok * 2)
            changed = True
        else:
            out.append(tok)
    return "".join(out) if changed else None


_KEYED = re.compile(r"^\d+\t")


def _codec_ok(name: str, compression: str | None) -> bool:
    return compression is None or name.lower().endswith(_CODEC_EXTENSIONS[compression])


def _is_hidden(name: str) -> bool:
    # Hadoop's and Spark's convention: _SUCCESS, .crc files and the like are not data.
    return name.startswith("_") or name.startswith(".")


def list_raw_input(
    spark: SparkSession,
    input_path: str,
    *,
    since: datetime,
    until: datetime,
    datetime_format: str = DEFAULT_DATETIME_FORMAT,
    input_format: InputFormat = "auto",
) -> list[HourInput]:
    """List the data files of every hour ``[ceil(since), floor(until))`` under ``input_path``.

    Args:
        spark: the session (its JVM and Hadoop configuration reach ``hdfs://`` paths).
        input_path: base directory of the hourly partitions (a plain path, ``file://`` or
            ``hdfs://``).
        since: start of the window; rounded up to a whole hour.
        until: end of the window; rounded down, exclusive.
        datetime_format: Joda pattern of an hour's directory below ``input_path``
            (``yyyy/MM/dd/HH``, ``'year='yyyy/'month='MM/'day='dd/'hour='HH``...). When the
            directory it gives does not exist, the pattern with the other zero padding of
            month/day/hour is tried too (``month=3`` against ``month=03``).
        input_format: ``auto`` reads each file's first bytes; otherwise every file is taken to
            be of the given format (a file that plainly is something else is an error).

    Returns:
        One :class:`HourInput` per hour of the window, in order, hours without data included.

    Raises:
        InputError: an unknown format, a file whose content contradicts ``input_format``, or
            compressed text whose name does not tell Hadoop its codec.
    """
    if input_format not in INPUT_FORMATS:
        raise InputError(
            f"--input_format: expected one of {', '.join(INPUT_FORMATS)}, found {input_format!r}"
        )
    fs = JvmFileSystem(spark)
    base = fs.qualify(input_path)
    patterns = [compile_joda(datetime_format)]
    alt = alternate_padding(datetime_format)
    if alt is not None:
        patterns.append(compile_joda(alt))

    out: list[HourInput] = []
    for hour in hours_in_window(since, until):
        candidates = []
        for fmt in patterns:
            rel = fmt(hour)
            if rel not in candidates:
                candidates.append(rel)
        directory = None
        for rel in candidates:
            if fs.exists(join(base, rel)):
                directory = fs.qualify(join(base, rel))
                break
        if directory is None:
            shown = fs.qualify(join(base, candidates[0]))
            out.append(HourInput(hour=hour, directory=shown, files=(), status="missing"))
            continue
        files = _list_files(fs, directory, hour, input_format)
        status: Literal["ok", "empty"] = "ok" if any(f.size > 0 for f in files) else "empty"
        out.append(HourInput(hour=hour, directory=directory, files=tuple(files), status=status))
    return out


def _list_files(
    fs: JvmFileSystem, directory: str, hour: datetime, input_format: str
) -> list[RawFile]:
    files: list[RawFile] = []
    for st in fs.walk(directory):
        rel = st.path[len(directory) :]
        if any(_is_hidden(part) for part in rel.split("/") if part):
            continue
        size = st.size
        path_text = st.path
        fmt: FileFormat
        compression: str | None = None
        if size == 0:
            # An empty file holds no lines whatever its declared format (Hadoop would reject an
            # empty SequenceFile, but there is nothing to lose in it).
            continue
        if input_format == "auto":
            fmt, compression = detect_format(fs.head(path_text, 4))
            # keyed text (`hdfs dfs -text` output) starts with the number and a TAB; a raw line
            # starts with its query string
            if (
                fmt == "text"
                and _codec_ok(st.name, compression)
                and not _KEYED.match(_first_line(fs, path_text))
            ):
                fmt = "lines"
        else:
            fmt = input_format  # type: ignore[assignment]
            if fmt != "sequence":
                # Text inputs are opened anyway to catch a codec Hadoop would not apply.
                found, compression = detect_format(fs.head(path_text, 4))
                if found == "sequence":
                    raise InputError(
                        f"{path_text}: --input_format {fmt} was given but the file is a Hadoop "
                        "SequenceFile (starts with 'SEQ'); use --input_format sequence or auto"
                    )
        if compression is not None:
            exts = _CODEC_EXTENSIONS[compression]
            if not st.name.lower().endswith(exts):
                raise InputError(
                    f"{path_text}: the content is {compression}-compressed but the name does not "
                    f"end in {' or '.join(exts)}, so Hadoop would read the compressed bytes as "
                    "text; rename the file"
                )
        files.append(
            RawFile(
                path=path_text,
                uri=fs.uri(path_text),
                hour=hour,
                size=size,
                format=fmt,
                compression=compression,
            )
        )
    files.sort(key=lambda f: f.path)
    return files


def _first_line(fs: JvmFileSystem, path: str, limit: int = 64) -> str:
    """The start of the first line of a text file, decompressed by the codec Hadoop picks
    from its name (at most ``limit`` bytes)."""
    head = fs.head(path, limit, decompress=True)
    return head.split(b"\n", 1)[0].decode("utf-8", errors="replace")


def _hadoop_input_paths(files: Sequence[RawFile]) -> str:
    # FileInputFormat takes a comma separated list of glob patterns: escape both.
    return ",".join(escape_input_paths(f.path) for f in files)


def _read_sequence(spark: SparkSession, files: Sequence[RawFile]) -> DataFrame:
    jvm: Any = spark._jvm
    cls = jvm.java.lang.Class.forName
    text_cls = cls("org.apache.hadoop.io.Text")
    # The *AsText* input format turns any key/value Writable into Text in the JVM.
    jrdd = spark._jsc.hadoopFile(
        _hadoop_input_paths(files),
        cls("org.apache.hadoop.mapred.SequenceFileAsTextInputFormat"),
        text_cls,
        text_cls,
    )
    # Bean reflection over Text gives the columns bytes (the backing array, possibly longer
    # than the value) and length; no row crosses into Python here.
    jdf = spark._jsparkSession.createDataFrame(jrdd.values(), text_cls)
    df = DataFrame(jdf, spark)
    # Text.toString() in the input format already replaced malformed UTF-8 with U+FFFD.
    return df.select(
        F.input_file_name().alias("_key"),
        F.expr("cast(substring(bytes, 1, length) as string)").alias("raw"),
    )


def _read_text(spark: SparkSession, files: Sequence[RawFile], *, keyed: bool) -> DataFrame:
    df = spark.read.text([escape_glob(f.path) for f in files])
    value = F.col("value")
    if keyed:
        # Everything after the first TAB (cut -f 2-); a line without TAB stays whole.
        value = F.expr("substring(value, instr(value, '\\t') + 1)")
    # Spark keeps a text line's bytes as they are; replace malformed UTF-8 with U+FFFD the way
    # the reference's stdin reader did, so Arrow and Python see valid strings.
    return df.select(F.input_file_name().alias("_key"), F.make_valid_utf8(value).alias("raw"))


def raw_files(hours: Sequence[HourInput]) -> list[RawFile]:
    """Every data file of the listed hours, in order."""
    return [f for h in hours for f in h.files]


def read_raw(spark: SparkSession, hours: Sequence[HourInput]) -> DataFrame:
    """Read every file of the listed hours into one DataFrame ``hour, file, raw``.

    ``hour`` is the label ``2024-01-05T03:00Z`` of the hour the file was listed under, ``file``
    its Hadoop path, ``raw`` the line without its key. Nothing is read before an action runs;
    run that action inside :func:`naming_bad_input` to get errors that name the file.
    """
    files = raw_files(hours)
    schema = "hour string, file string, raw string"
    if not files:
        return spark.createDataFrame([], schema)
    parts = []
    by_format: dict[str, list[RawFile]] = {}
    for f in files:
        by_format.setdefault(f.format, []).append(f)
    for fmt, group in sorted(by_format.items()):
        if fmt == "sequence":
            df = _read_sequence(spark, group)
            keys = [(f.path, f.path, hour_label(f.hour)) for f in group]
        else:
            df = _read_text(spark, group, keyed=fmt == "text")
            keys = [(f.uri, f.path, hour_label(f.hour)) for f in group]
        index = spark.createDataFrame(keys, "_key string, file string, hour string")
        parts.append(df.join(F.broadcast(index), "_key").select("hour", "file", "raw"))
    out = parts[0]
    for p in parts[1:]:
        out = out.unionByName(p)
    return out


def unreadable_file(spark: SparkSession, files: Sequence[RawFile]) -> tuple[RawFile, str] | None:
    """The first file that cannot be read to its end, with the reason; None when all can.

    Each file is read alone and counted inside the JVM (no Python), so this is only meant to
    explain a failure after the fact.
    """
    jvm: Any = spark._jvm
    jsc: Any = spark._jsc
    cls = jvm.java.lang.Class.forName
    for f in files:
        try:
            if f.format == "sequence":
                text_cls = cls("org.apache.hadoop.io.Text")
                jsc.hadoopFile(
                    _hadoop_input_paths([f]),
                    cls("org.apache.hadoop.mapred.SequenceFileAsTextInputFormat"),
                    text_cls,
                    text_cls,
                ).count()
            else:
                jsc.textFile(_hadoop_input_paths([f])).count()
        except Py4JJavaError as e:
            return f, _root_cause(e)
    return None


def _root_cause(e: Exception) -> str:
    jex: Any = getattr(e, "java_exception", None)
    if jex is None:
        return str(e).strip().splitlines()[0]
    cause = jex
    while cause.getCause() is not None and cause.getCause() != cause:
        cause = cause.getCause()
    return f"{cause.getClass().getName()}: {cause.getMessage()}"


@contextlib.contextmanager
def naming_bad_input(spark: SparkSession, hours: Sequence[HourInput]) -> Iterator[None]:
    """Run a Spark action over :func:`read_raw` input; a read failure becomes an InputError.

    When the action fails, each input file is re-read alone (in the JVM); if one cannot be
    read, :class:`InputError` names it, its format and the Hadoop error. Other failures are
    re-raised unchanged.
    """
    try:
        yield
    except Exception as e:
        if not _is_spark_failure(e):
            raise
        files = raw_files(hours)
        log.warning(
            "the job failed; re-reading %d input files to find an unreadable one", len(files)
        )
        found = unreadable_file(spark, files)
        if found is None:
            raise
        f, reason = found
        raise InputError(
            f"cannot read input file {f.path} (hour {hour_label(f.hour)}, format {f.format}"
            f"{', ' + f.compression if f.compression else ''}): {reason}"
        ) from e


def _is_spark_failure(e: Exception) -> bool:
    return isinstance(e, Py4JJavaError | PySparkException)
