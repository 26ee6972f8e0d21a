"""Salts: the salt directory, and the choice of a salt for a partition.

Salt files are named ``<start>_<end>_<deletion>`` with ``yyyyMMddHH`` UTC timestamps, e.g.
``2024010100_2024040100_2024052000``; the content (lines concatenated without separators) is
the salt string. :func:`load_salts` reads a directory in file-name order.

Deliberate differences from the reference loader (documented in docs/differences.md):

* a file whose name does not have this form (a foreign file) is a :class:`SaltError` naming the
  file, not a crash; hidden entries (names starting with ``.`` or ``_``, e.g. Hadoop's
  ``.crc`` or ``_SUCCESS``) are skipped;
* an empty end part means "never expires" (end = 3000-01-01T00Z), as the reference intends, and
  ``<start>__`` / ``<start>_`` / ``<start>__<deletion>`` are all read that way (the reference
  crashes on ``<start>__`` because Java's split drops trailing empty parts);
* an empty salt file is an error (hashing with an empty key would be silently weak).

Selection: a partition's window comes from its keys, ``year`` (mandatory) [+ ``month`` [+
``day`` [+ ``hour``]]] giving ``[start, start + 1 year/month/day/hour)``; the first salt in name
order with ``salt.start <= window.start`` and ``window.end <= salt.end`` (both inclusive) is used.

A :class:`Salt`'s value never appears in its ``repr``.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING

from eljobs.io.fs import filesystem
from eljobs.timewindow import isoformat_z, to_utc

if TYPE_CHECKING:
    from eljobs.io.fs import FileSystem

NEVER = datetime(3000, 1, 1, tzinfo=UTC)
_STAMP = re.compile(r"^\d{10}$")


class SaltError(ValueError):
    """A salt file or the salt directory is unusable; the message names the file."""


class PartitionWindowError(ValueError):
    """A partition has no ``year`` key, or a time key that is not a valid number."""


@dataclass(frozen=True)
class Salt:
    """A salt and the time span it covers.

    Attributes:
        start: first instant covered (naive datetimes are taken as UTC).
        end: last instant covered (inclusive when matching windows).
        value: the secret; hidden from ``repr``.
        name: the file it was read from, if any.
    """

    start: datetime
    end: datetime
    value: str = field(repr=False)
    name: str | None = field(default=None, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "start", to_utc(self.start))
        object.__setattr__(self, "end", to_utc(self.end))
        if not isinstance(self.value, str) or not self.value:
            where = f"salt file {self.name}" if self.name else "a Salt"
            raise SaltError(f"{where}: the value must be a non-empty string")

    def covers(self, start: datetime, end: datetime) -> bool:
        """True when ``[start, end)`` lies within this salt's span (edges inclusive)."""
        return self.start <= to_utc(start) and to_utc(end) <= self.end


def parse_stamp(text: str, *, file: str) -> datetime:
    """``yyyyMMddHH`` (UTC) → datetime.

    Raises:
        SaltError: not ten digits or not a valid date-hour; the message names the file.
    """
    if not _STAMP.match(text):
        raise SaltError(
            f"salt file {file}: expected a yyyyMMddHH timestamp, found {text!r} "
            "(salt files are named <start>_<end>_<deletion>)"
        )
    try:
        return datetime(int(text[0:4]), int(text[4:6]), int(text[6:8]), int(text[8:10]), tzinfo=UTC)
    except ValueError as e:
        raise SaltError(f"salt file {file}: invalid timestamp {text!r}: {e}") from None


def parse_salt_name(name: str) -> tuple[datetime, datetime, datetime | None]:
    """``(start, end, deletion)`` from a salt file name; an empty end means never expires.

    Raises:
        SaltError: the name is not ``<start>_<end>_<deletion>`` (the message names it).
    """
    parts = name.split("_")
    if len(parts) < 2 or len(parts) > 3 or not parts[0]:
        raise SaltError(
            f"salt file {name}: expected a name <start>_<end>_<deletion> with yyyyMMddHH "
            f"timestamps, found {len(parts)} part(s)"
        )
    start = parse_stamp(parts[0], file=name)
    end = parse_stamp(parts[1], file=name) if parts[1] else NEVER
    deletion = parse_stamp(parts[2], file=name) if len(parts) == 3 and parts[2] else None
    if end <= start:
        raise SaltError(f"salt file {name}: end {parts[1]} is not after start {parts[0]}")
    return start, end, deletion


def load_salts(path: str, *, fs: FileSystem | None = None) -> list[Salt]:
    """Read every salt file of directory ``path``, in file-name order.

    ``path`` follows the rules of :mod:`eljobs.io.fs`: a bare path is on Hadoop's default file
    system (HDFS on the cluster, as the Scala sanitizer reads ``salts_path``), ``file://`` and
    ``hdfs://`` are explicit.

    Args:
        path: the salt directory.
        fs: the file-system layer; by default the active Spark session's (or plain Python for
            local paths when there is none).

    Raises:
        SaltError: the directory cannot be listed, or a file is foreign, malformed or empty;
            the message names the file (never its content).
    """
    fs = fs or filesystem()
    try:
        entries = fs.list(path)
    except OSError as e:
        raise SaltError(f"cannot list salts_path {path}: {e}") from None
    salts = []
    for entry in entries:
        name = entry.name
        if name.startswith((".", "_")):
            continue
        start, end, _deletion = parse_salt_name(name)
        try:
            text = fs.read_text(entry.path)
        except OSError as e:
            # never the content, and not the decoder's message either (it quotes bytes)
            raise SaltError(f"cannot read salt file {entry.path}: {type(e).__name__}") from None
        value = "".join(text.splitlines())
        if not value:
            raise SaltError(f"salt file {entry.path} is empty")
        salts.append(Salt(start, end, value, name=name))
    return salts


def _int_key(partition: Mapping[str, object], key: str) -> int | None:
    if key not in partition:
        return None
    v = partition[key]
    try:
        return int(str(v).strip())
    except ValueError:
        raise PartitionWindowError(
            f"partition key {key!r} must be a whole number, found {v!r}"
        ) from None


def partition_window(partition: Mapping[str, object]) -> tuple[datetime, datetime]:
    """The time window ``[start, end)`` of a partition (UTC).

    ``year`` is mandatory; ``month``, ``day``, ``hour`` narrow the window only as a hierarchy
    (``day`` is used only with ``month``, ``hour`` only with ``day``).

    Raises:
        PartitionWindowError: no ``year`` key, or a key that is not a valid date part.
    """
    year = _int_key(partition, "year")
    if year is None:
        raise PartitionWindowError(
            f"partition {dict(partition)!r} has no 'year' key; the sanitizer needs the "
            "partition's time window to choose a salt"
        )
    month = _int_key(partition, "month")
    day = _int_key(partition, "day") if month is not None else None
    hour = _int_key(partition, "hour") if day is not None else None
    try:
        if month is None:
            return datetime(year, 1, 1, tzinfo=UTC), datetime(year + 1, 1, 1, tzinfo=UTC)
        start = datetime(year, month, 1, tzinfo=UTC)
        if day is None:
            nxt = datetime(year + (month == 12), month % 12 + 1, 1, tzinfo=UTC)
            return start, nxt
        start = datetime(year, month, day, tzinfo=UTC)
        if hour is None:
            return start, start + timedelta(days=1)
        start = start.replace(hour=hour)
        return start, start + timedelta(hours=1)
    except ValueError as e:
        raise PartitionWindowError(
            f"partition {dict(partition)!r} is not a valid date: {e}"
        ) from None


def select_salt(salts: Iterable[Salt], partition: Mapping[str, object]) -> Salt | None:
    """The first salt (in the given order) covering the partition's window, or None.

    Raises:
        PartitionWindowError: the partition has no ``year`` (even when nothing is hashed).
    """
    start, end = partition_window(partition)
    for s in salts:
        if s.covers(start, end):
            return s
    return None


def missing_salt_reason(salts: Sequence[Salt], partition: Mapping[str, object]) -> str | None:
    """Why :func:`select_salt` found no salt for ``partition`` when salts were loaded: none of
    them covers its window (the message gives the window and each salt's span and file name,
    never a value). None when no salt was loaded at all (the reference's "Salt must be
    defined" case) or when one covers the window.

    Raises:
        PartitionWindowError: the partition has no ``year``.
    """
    if not salts:
        return None
    start, end = partition_window(partition)
    if any(s.covers(start, end) for s in salts):
        return None
    spans = ", ".join(
        f"{isoformat_z(s.start)}..{isoformat_z(s.end)}" + (f" ({s.name})" if s.name else "")
        for s in salts
    )
    return (
        f"No salt covers the partition window [{isoformat_z(start)}, {isoformat_z(end)}): "
        f"the {len(salts)} salts loaded cover {spans}"
    )
