"""Reading a Refine target's input: format inference, the read schema,
reader options, and the corrupt-record threshold.

Runs on the driver (listing, first line, schema loading) and builds a lazily evaluated frame.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, cast

from pyspark.sql import DataFrame, Observation
from pyspark.sql import functions as F
from pyspark.sql.types import StringType, StructField, StructType

from eljobs.columns import quote_name
from eljobs.errors import InputError
from eljobs.io.globs import escape_glob, escape_input_paths
from eljobs.naming import normalize_name
from eljobs.refine.evolution import merge_schemas
from eljobs.refine.schema import (
    SchemaLoader,
    SchemaLoadError,
    make_nullable,
    parse_first_event,
)

if TYPE_CHECKING:
    from pyspark.sql import SparkSession

    from eljobs.io.fs import FileSystem
    from eljobs.refine.targets import RefineTarget

log = logging.getLogger(__name__)

_PREFIX_BYTES = 64 * 1024


class CorruptRecordsError(InputError):
    """A target has at least ``corrupt_record_failure_threshold`` corrupt records."""

    def __init__(self, message: str, *, read: int, corrupt: int) -> None:
        super().__init__(message)
        self.read = read
        self.corrupt = corrupt


def data_files(fs: FileSystem, path: str) -> list[str]:
    """Data files of an input directory in name order: names starting with ``_`` (markers)
    or ``.`` (Hadoop hidden files such as checksums) and zero-length files are skipped."""
    return [
        e.path
        for e in fs.list(path, missing_ok=True)
        if not e.is_dir and e.size > 0 and not e.name.startswith(("_", "."))
    ]


def format_from_magic(head: bytes) -> str:
    """``PAR`` → parquet, ``SEQ`` → sequence_json, ``{``/``[`` → json, else text."""
    if head[:3] == b"PAR":
        return "parquet"
    if head[:3] == b"SEQ":
        return "sequence_json"
    if head[:1] in (b"{", b"["):
        return "json"
    return "text"


def infer_format(fs: FileSystem, path: str) -> str:
    """The input format of a directory from its first data file (``empty`` when none);
    compressed files (``.gz``, ``.bz2``...) are decompressed first, by the codec Hadoop picks
    from the name."""
    files = data_files(fs, path)
    if not files:
        return "empty"
    return format_from_magic(fs.head(files[0], 16, decompress=True))


@dataclass
class ReadResult:
    """A target's input frame, corrupt rows removed, and its account.

    The frame is lazy: ``read`` and ``corrupt`` are observed while the first action over
    ``df`` runs (Refine's write), so the input is parsed once. Call :meth:`account` after that
    action to fill them in and apply the corrupt-record threshold.

    Attributes:
        df: the input rows that parsed (no corrupt-record column).
        input_format: ``parquet``, ``sequence_json``, ``json``, ``text`` or ``empty``.
        partitions: the input's partition count (Refine writes as many files at most).
        read: input records, corrupt ones included; None until :meth:`account`.
        corrupt: corrupt input records; None until :meth:`account`.
    """

    df: DataFrame
    input_format: str
    partitions: int = 1
    read: int | None = None
    corrupt: int | None = None
    _settle: Callable[[], tuple[int, int]] | None = field(default=None, repr=False)

    def account(self) -> tuple[int, int]:
        """``(read, corrupt)``; the first call after the action over ``df`` collects them.

        Raises:
            CorruptRecordsError: corrupt records reach the threshold (> 0). Nothing written
                from ``df`` should be kept then.
        """
        if self.read is None and self._settle is not None:
            self.read, self.corrupt = self._settle()
        return int(self.read or 0), int(self.corrupt or 0)


def _first_line(spark: SparkSession, fs: FileSystem, path: str, fmt: str) -> str | None:
    if fmt == "sequence_json":
        values: list[Any] = (
            spark.sparkContext.sequenceFile(escape_input_paths(path)).values().take(1)
        )
        if not values:
            return None
        v = values[0]
        return v.decode("utf-8") if isinstance(v, bytes | bytearray) else str(v)
    for f in data_files(fs, path):
        head = fs.head(f, _PREFIX_BYTES, decompress=True).decode("utf-8", "replace")
        for line in head.splitlines():
            if line.strip():
                return line
    return None


def read_schema(
    spark: SparkSession,
    fs: FileSystem,
    target: RefineTarget,
    fmt: str,
    *,
    loader: SchemaLoader | None,
    table_schema: StructType | None,
    merge_with_hive: bool,
) -> StructType | None:
    """The explicit read schema of a target, or None to let Spark infer it.

    Raises:
        SchemaLoadError: schema repositories are used with a format other than json /
            sequence_json, or the first event's schema cannot be loaded.
    """
    schema: StructType | None
    if target.input_table:
        schema = spark.table(target.input_table).schema
    elif loader is None or fmt == "empty":
        schema = None
    else:
        if fmt not in ("json", "sequence_json"):
            raise SchemaLoadError(
                f"schema_base_uris needs json or sequence_json input, found {fmt} in "
                f"{target.input_path}"
            )
        line = _first_line(spark, fs, target.input_path, fmt)
        schema = (
            None
            if line is None
            else loader.schema_for_event(parse_first_event(line, target.input_path))
        )
    if schema is not None and merge_with_hive and table_schema is not None:
        schema = merge_keep_casing(table_schema, schema)
    return schema


def merge_keep_casing(hive: StructType, loaded: StructType) -> StructType:
    """Hive schema merged with a loaded schema (Hive fields first). Top-level names are
    matched after normalization (``$schema`` is the table's ``_schema``) and spelled as in the
    loaded schema, so JSON keys (``$schema``, ``webHost``) still match when reading."""
    spelled: dict[str, str] = {}
    renamed = []
    for f in loaded.fields:
        key = normalize_name(f.name)
        spelled.setdefault(key, f.name)
        renamed.append(StructField(key, f.dataType, True))
    merged = merge_schemas(hive, StructType(renamed)).schema
    return StructType(
        [StructField(spelled.get(f.name.lower(), f.name), f.dataType, True) for f in merged]
    )


def read_target(
    spark: SparkSession,
    fs: FileSystem,
    target: RefineTarget,
    *,
    loader: SchemaLoader | None = None,
    table_schema: StructType | None = None,
    merge_with_hive: bool = False,
    reader_options: Mapping[str, str] | None = None,
    corrupt_threshold: int = 1,
) -> ReadResult:
    """Read a target's input (lazily); :meth:`ReadResult.account`, called after the first
    action over the result's frame, counts it and applies the corrupt-record rule.

    Raises:
        SchemaLoadError: see :func:`read_schema`.
    """
    fmt = target.input_format or infer_format(fs, target.input_path)
    schema = read_schema(
        spark,
        fs,
        target,
        fmt,
        loader=loader,
        table_schema=table_schema,
        merge_with_hive=merge_with_hive,
    )
    # a default is given, so the conf answers a string
    corrupt_col = cast(
        str, spark.conf.get("spark.sql.columnNameOfCorruptRecord", "_corrupt_record")
    )
    opts = {"mode": "PERMISSIVE", "columnNameOfCorruptRecord": corrupt_col}
    opts.update(reader_options or {})
    corrupt_col = opts.get("columnNameOfCorruptRecord", corrupt_col)
    permissive = opts.get("mode", "").upper() == "PERMISSIVE"

    if fmt in ("json", "sequence_json", "text") and schema is not None:
        schema = make_nullable(schema)  # type: ignore[assignment]
    if (
        permissive
        and schema is not None
        and fmt in ("json", "sequence_json")
        and corrupt_col not in schema.fieldNames()
    ):
        schema = StructType([*schema.fields, StructField(corrupt_col, StringType(), True)])

    reader = spark.read.options(**opts)
    if schema is not None and fmt != "text":
        reader = reader.schema(schema)
    # Spark and Hadoop expand globs in paths: a dataset directory named with ? * [ ] { } must
    # read only itself.
    path = escape_glob(target.input_path)
    if fmt == "json":
        df = reader.json(path)
    elif fmt == "sequence_json":
        rdd: Any = spark.sparkContext.sequenceFile(escape_input_paths(target.input_path)).values()
        lines = rdd.map(lambda v: v.decode("utf-8") if isinstance(v, bytes | bytearray) else v)
        df = reader.json(lines)
    elif fmt == "text":
        df = spark.read.options(**(reader_options or {})).text(path)
    elif fmt == "parquet":
        df = reader.parquet(path)
    elif fmt == "empty":
        df = spark.createDataFrame([], schema or StructType([]))
        return ReadResult(df=df, input_format=fmt, read=0, corrupt=0)
    else:
        raise InputError(f"unsupported input_format {fmt!r} for {target.input_path}")

    partitions = max(df.rdd.getNumPartitions(), 1) if df.columns else 1
    check_corrupt = permissive and fmt != "text" and corrupt_col in df.columns
    # Counted while the write runs (Observation) instead of in a pass of their own: the JSON
    # is parsed once. The threshold is applied afterwards, before the output is kept.
    observation = Observation(f"eljobs_refine_input_{uuid.uuid4().hex}")
    metrics = [F.count(F.lit(1)).alias("read")]
    if check_corrupt:
        metrics.append(F.count(F.col(corrupt_col)).alias("corrupt"))
        # Spark refuses JSON queries that read only the corrupt-record column (a count() of
        # this frame would): one more column keeps every query over it valid.
        other = next((c for c in df.columns if c != corrupt_col), None)
        if other is not None:
            metrics.append(F.count(F.col(quote_name(other))).alias("parsed"))
    observed = df.observe(observation, *metrics)
    clean = (
        observed.where(F.col(corrupt_col).isNull()).drop(corrupt_col) if check_corrupt else observed
    )

    def settle() -> tuple[int, int]:
        got = observation.get
        total, bad = int(got["read"]), int(got.get("corrupt", 0))
        if bad:
            _apply_threshold(df, target, corrupt_col, total, bad, corrupt_threshold)
        return total, bad

    return ReadResult(df=clean, input_format=fmt, partitions=partitions, _settle=settle)


def _apply_threshold(
    raw: DataFrame, target: RefineTarget, corrupt_col: str, total: int, bad: int, threshold: int
) -> None:
    """Raise when ``bad`` reaches ``threshold`` (> 0), else log a warning; both name the first
    corrupt record (found by scanning ``raw`` again: rare, and only when there is one)."""
    # Every column is selected: Spark refuses JSON queries that read only the corrupt-record
    # column, and a narrower read would not see type errors in the other fields.
    first_rows = raw.where(F.col(corrupt_col).isNotNull()).limit(1).collect()
    first = first_rows[0][corrupt_col] if first_rows else None
    pct = 100.0 * bad / total if total else 0.0
    if 0 < threshold <= bad:
        raise CorruptRecordsError(
            f"Encountered {bad} corrupt records out of {total} total input records "
            f"({pct:.2f}%) when reading {target} input data, which is greater than "
            f"corruptRecordFailureThreshold {threshold}. First corrupt record: {first}",
            read=total,
            corrupt=bad,
        )
    log.warning(
        "Encountered %d corrupt records out of %d total input records (%.2f%%) when reading %s "
        "input data (corruptRecordFailureThreshold %d); dropping them. First corrupt record: %s",
        bad,
        total,
        pct,
        target,
        threshold,
        first,
    )
