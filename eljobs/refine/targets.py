"""Refine targets: discovery in FS and DB mode, partition paths and specs.

A :class:`RefineTarget` is one input directory → one output Hive partition. The pure helpers
(:func:`candidate_paths`, :func:`match_candidate`, :func:`table_passes`, :func:`partition_path`,
:func:`partition_spec`, :func:`partition_hour`) are tested without Spark. Discovery, flags and
reading go through the file-system layer :mod:`eljobs.io.fs` (a bare path is on Hadoop's default
file system, as in the Scala job); they run on the driver.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING

from eljobs.io.fs import FileSystem, filesystem
from eljobs.naming import normalize_name
from eljobs.refine.flags import DONE_FLAG, FAILED_FLAG, FlagState, decode_flag, encode_flag
from eljobs.timewindow import compile_joda, floor_hour, hours_in_window

if TYPE_CHECKING:
    from pyspark.sql import SparkSession

    from eljobs.refine.options import RefineConfig

log = logging.getLogger(__name__)

Partition = tuple[tuple[str, str], ...]

_DIGITS = re.compile(r"^\d+$")


class TargetDiscoveryError(ValueError):
    """The search window or the input cannot give targets (e.g. since equal to until)."""


class TableNameCollisionError(ValueError):
    """Several datasets of one run normalize to the same output table."""


# --------------------------------------------------------------------------------------------
# Pure helpers


def strip_zeros(value: str) -> str:
    """``"03"`` → ``"3"``, ``"00"`` → ``"0"``; non-numeric values unchanged."""
    return str(int(value)) if _DIGITS.match(value) else value


def partition_path(partition: Partition) -> str:
    """Relative partition path ``k=v/...``; numeric values lose leading zeros."""
    return "/".join(f"{k}={strip_zeros(v)}" for k, v in partition)


def partition_spec(partition: Partition) -> str:
    """SQL partition spec ``datacenter="eqiad",year=2021,...`` (numbers bare, others quoted)."""
    parts = []
    for k, v in partition:
        if _DIGITS.match(v):
            parts.append(f"`{k}`={int(v)}")
        else:
            escaped = v.replace("\\", "\\\\").replace('"', '\\"')
            parts.append(f'`{k}`="{escaped}"')
    return ",".join(parts)


def display_spec(partition: Partition) -> str:
    """The spec as the Scala job prints it (no back-quotes): ``datacenter="eqiad",year=2021``."""
    return ",".join(f"{k}={int(v)}" if _DIGITS.match(v) else f'{k}="{v}"' for k, v in partition)


def partition_values(partition: Partition) -> dict[str, str | int]:
    """Ordered partition mapping with numeric values as ints (for :class:`TransformContext`)."""
    return {k: (int(v) if _DIGITS.match(v) else v) for k, v in partition}


def partition_hour(partition: Partition) -> datetime | None:
    """The UTC time a partition stands for, from ``year``/``month``/``day``/``hour`` when the
    keys form a valid hierarchy (``hour`` needs ``day``, ``month`` and ``year``...); else None."""
    values = {k: v for k, v in partition}
    keys = ("year", "month", "day", "hour")
    parts: list[int] = []
    for k in keys:
        if k not in values:
            break
        if not _DIGITS.match(values[k]):
            return None
        parts.append(int(values[k]))
    if not parts or any(k in values for k in keys[len(parts) :]):
        return None
    y, mo, d, h = parts + [1, 1, 0][len(parts) - 1 :]
    try:
        return datetime(y, mo, d, h, tzinfo=UTC)
    except ValueError:
        return None


def parse_hive_partition_path(path: str) -> Partition:
    """``year=2024/month=1/...`` (trailing segments of a path) → ordered pairs; segments
    without ``=`` are ignored."""
    out = []
    for seg in path.strip("/").split("/"):
        if "=" in seg:
            k, _, v = seg.partition("=")
            out.append((k, v))
    return tuple(out)


def candidate_paths(
    dataset_dirs: Iterable[str], hours: Sequence[datetime], datetime_format: str
) -> list[str]:
    """``<dataset_dir>/<format(hour)>`` for every dataset and hour, duplicates removed, in
    order (a daily format gives one candidate per day)."""
    fmt = compile_joda(datetime_format)
    seen: dict[str, None] = {}
    for d in dataset_dirs:
        base = d.rstrip("/")
        for h in hours:
            seen.setdefault(f"{base}/{fmt(h)}", None)
    return list(seen)


def match_candidate(
    path: str, regex: re.Pattern[str], groups: Sequence[str]
) -> tuple[str, Partition] | None:
    """Search ``regex`` in ``path``; return (normalized table, partition pairs) or None.

    Partition pairs are the captured groups other than ``table``, in capture-list order, with
    the values as captured (``"03"``).
    """
    m = regex.search(path)
    if m is None:
        return None
    values = m.groups()
    table = ""
    pairs: list[tuple[str, str]] = []
    for name, value in zip(groups, values, strict=False):
        if name == "table":
            table = normalize_name(value or "")
        else:
            pairs.append((name, value or ""))
    return table, tuple(pairs)


def table_passes(
    name: str, include: re.Pattern[str] | None, exclude: re.Pattern[str] | None
) -> bool:
    """Full-match include/exclude on a normalized table name (exclude wins; None passes)."""
    if exclude is not None and exclude.fullmatch(name):
        return False
    return include is None or include.fullmatch(name) is not None


# --------------------------------------------------------------------------------------------
# Targets


@dataclass(frozen=True)
class RefineTarget:
    """One input directory → one output Hive partition.

    Attributes:
        input_path: the fully qualified input directory.
        database: output Hive database.
        table: normalized output table name.
        table_location: ``<output_path>/<table>``.
        partition: ordered (key, value-as-captured) pairs.
        input_mtime: the input directory's modification time (epoch ms) at discovery.
        input_format: forced input format, or None (inferred at read time).
        input_table: DB mode: the input table ``db.table``; None in FS mode.
        dataset: the dataset the input belongs to (FS mode: its directory under input_path;
            DB mode: the input table), used to find datasets whose names normalize alike.
    """

    input_path: str
    database: str
    table: str
    table_location: str
    partition: Partition
    input_mtime: int | None
    input_format: str | None = None
    input_table: str | None = None
    dataset: str | None = None

    @property
    def qualified_table(self) -> str:
        """``db.table`` (un-quoted)."""
        return f"{self.database}.{self.table}"

    @property
    def quoted_table(self) -> str:
        """```db`.`table```."""
        return f"`{self.database}`.`{self.table}`"

    @property
    def partition_path(self) -> str:
        """Absolute output partition directory."""
        return f"{self.table_location.rstrip('/')}/{partition_path(self.partition)}"

    @property
    def spec(self) -> str:
        """SQL partition spec with quoted keys."""
        return partition_spec(self.partition)

    @property
    def values(self) -> dict[str, str | int]:
        """Partition mapping with numeric values as ints."""
        return partition_values(self.partition)

    @property
    def hour(self) -> datetime | None:
        """The partition's time, None without a year/month/day/hour hierarchy."""
        return partition_hour(self.partition)

    def __str__(self) -> str:
        return (
            f"{self.input_path} -> {self.quoted_table} ({display_spec(self.partition)}) "
            f"at {self.partition_path}"
        )

    # Flags ------------------------------------------------------------------------------

    def flag_state(self, fs: FileSystem) -> FlagState:
        """Read the output partition's flags now."""
        out = self.partition_path
        if not fs.exists(out):
            return FlagState(partition_exists=False)
        done_path, failed_path = f"{out}/{DONE_FLAG}", f"{out}/{FAILED_FLAG}"
        done = fs.exists(done_path)
        failed = fs.exists(failed_path)
        return FlagState(
            partition_exists=True,
            done=done,
            done_mtime=decode_flag(fs.read_bytes(done_path)) if done else None,
            failed=failed,
            failed_mtime=decode_flag(fs.read_bytes(failed_path)) if failed else None,
        )

    def write_flag(self, fs: FileSystem, name: str) -> None:
        """Write ``_REFINED`` or ``_REFINE_FAILED`` holding the input mtime.

        Raises:
            TargetDiscoveryError: the input did not exist when the target was discovered.
        """
        if self.input_mtime is None:
            raise TargetDiscoveryError(
                f"cannot write {name} for {self}: input {self.input_path} did not exist"
            )
        # written to a hidden file and renamed into place: a monitor never reads half a flag
        fs.write_bytes(f"{self.partition_path}/{name}", encode_flag(self.input_mtime))


@dataclass(frozen=True, kw_only=True)
class DiscoveryScope:
    """What target discovery keeps in either mode: the time window, the table filters
    (full match on the normalized name; exclude wins) and where the tables go
    (``<output_database>.<table>`` at ``<output_path>/<table>``)."""

    since: datetime
    until: datetime
    output_database: str
    output_path: str
    include: re.Pattern[str] | None = None
    exclude: re.Pattern[str] | None = None

    def table_passes(self, table: str) -> bool:
        """Whether the normalized ``table`` passes the filters."""
        return table_passes(table, self.include, self.exclude)

    def table_location(self, table: str) -> str:
        """The directory of the output table ``table``."""
        return f"{self.output_path.rstrip('/')}/{table}"


def discover_targets(spark: SparkSession, cfg: RefineConfig) -> list[RefineTarget]:
    """All targets of ``cfg`` in discovery order (FS or DB mode), before the flag filter: the
    options handed to :func:`discover_fs_targets` or :func:`discover_db_targets`.

    Raises:
        TargetDiscoveryError: DB mode with since equal to or after until (hour granularity).
    """
    assert cfg.output_path and cfg.output_database
    scope = DiscoveryScope(
        since=cfg.since,
        until=cfg.until,
        output_database=cfg.output_database,
        output_path=cfg.output_path,
        include=cfg.table_include_regex,
        exclude=cfg.table_exclude_regex,
    )
    fs = filesystem(spark)
    if cfg.input_database:
        return discover_db_targets(spark, fs, scope, input_database=cfg.input_database)
    assert cfg.input_path and cfg.input_path_regex is not None
    assert cfg.input_path_regex_capture_groups
    return discover_fs_targets(
        fs,
        scope,
        input_path=cfg.input_path,
        regex=cfg.input_path_regex,
        capture_groups=cfg.input_path_regex_capture_groups,
        datetime_format=cfg.input_path_datetime_format,
        input_format=cfg.input_format,
    )


def discover_fs_targets(
    fs: FileSystem,
    scope: DiscoveryScope,
    *,
    input_path: str,
    regex: re.Pattern[str],
    capture_groups: Sequence[str],
    datetime_format: str,
    input_format: str | None = None,
) -> list[RefineTarget]:
    """FS mode: every hour of ``[ceil(since), until)`` of ``scope`` under each dataset
    directory of ``input_path`` (the sub-path of an hour printed by the Joda pattern
    ``datetime_format``) that exists, whose path ``regex`` matches (its groups named by
    ``capture_groups``) and whose table passes the scope's filters."""
    datasets = sorted(e.path for e in fs.list(input_path, missing_ok=True) if e.is_dir)
    hours = hours_in_window(scope.since, scope.until, round_since="ceil")
    out = []
    for dataset in datasets:
        for cand in candidate_paths([dataset], hours, datetime_format):
            matched = match_candidate(cand, regex, capture_groups)
            if matched is None:
                continue
            table, partition = matched
            if not scope.table_passes(table):
                continue
            mtime = fs.mtime(cand)
            if mtime is None:
                continue
            out.append(
                RefineTarget(
                    input_path=cand,
                    database=scope.output_database,
                    table=table,
                    table_location=scope.table_location(table),
                    partition=partition,
                    input_mtime=mtime,
                    input_format=input_format,
                    dataset=dataset,
                )
            )
    return out


def table_collisions(targets: Iterable[RefineTarget]) -> dict[str, list[str]]:
    """Output tables that more than one dataset would be refined into (``eventlogging_Bar'x``
    and ``eventlogging_Bar;x`` both normalize to ``bar_x``): qualified table → the datasets,
    sorted. Targets without a dataset are not compared."""
    by_table: dict[str, set[str]] = {}
    for t in targets:
        if t.dataset is not None:
            by_table.setdefault(t.qualified_table, set()).add(t.dataset)
    return {table: sorted(ds) for table, ds in by_table.items() if len(ds) > 1}


def db_hour_bounds(since: datetime, until: datetime) -> tuple[datetime, datetime]:
    """DB mode window ``[floor(since), floor(until))``.

    Raises:
        TargetDiscoveryError: since equal to until, or since after until, at hour granularity.
    """
    start, end = floor_hour(since), floor_hour(until)
    if start == end:
        raise TargetDiscoveryError(
            f"since equal to until ({start.isoformat()}): the DB mode window "
            "[floor(since), floor(until)) is empty"
        )
    if start > end:
        raise TargetDiscoveryError(
            f"since ({start.isoformat()}) must be before until ({end.isoformat()})"
        )
    return start, end


def discover_db_targets(
    spark: SparkSession, fs: FileSystem, scope: DiscoveryScope, *, input_database: str
) -> list[RefineTarget]:
    """DB mode: every partition of ``[floor(since), floor(until))`` of ``scope`` of each table
    of ``input_database`` whose normalized name passes the scope's filters.

    Raises:
        TargetDiscoveryError: since equal to or after until (hour granularity).
    """
    start, end = db_hour_bounds(scope.since, scope.until)
    out = []
    tables = sorted(t.name for t in spark.catalog.listTables(input_database) if not t.isTemporary)
    for name in tables:
        table = normalize_name(name)
        if not scope.table_passes(table):
            continue
        qualified = f"`{input_database}`.`{name}`"
        try:
            rows = spark.sql(f"SHOW PARTITIONS {qualified}").collect()
        except Exception as e:  # an unpartitioned table has no targets
            log.warning("skipping %s: cannot list partitions: %s", qualified, e)
            continue
        for row in rows:
            partition = parse_hive_partition_path(row[0])
            hour = partition_hour(partition)
            if hour is None or not (start <= hour < end):
                continue
            location = _partition_location(spark, qualified, partition)
            out.append(
                RefineTarget(
                    input_path=location,
                    database=scope.output_database,
                    table=table,
                    table_location=scope.table_location(table),
                    partition=partition,
                    input_mtime=fs.mtime(location),
                    input_format="parquet",
                    input_table=f"{input_database}.{name}",
                    dataset=f"{input_database}.{name}",
                )
            )
    return out


def _partition_location(spark: SparkSession, qualified: str, partition: Partition) -> str:
    rows = spark.sql(
        f"DESCRIBE FORMATTED {qualified} PARTITION ({partition_spec(partition)})"
    ).collect()
    for r in rows:
        if (r[0] or "").strip() == "Location":
            return str(r[1]).strip()
    raise TargetDiscoveryError(
        f"no Location for partition {partition_spec(partition)} of {qualified}"
    )
