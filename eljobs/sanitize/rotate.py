"""Salt rotation (the reference's ``bin/saltrotate -p '3 months' -b '50 days'``).

Periods are counted from 1970-01-01T00:00Z in steps of ``period``; the salt of the period
containing ``now`` is created when missing (64 random lower-case hex characters, no newline,
file mode 0600), named ``<start>_<end>_<deletion>`` with ``deletion = end + retention``; every
salt file whose deletion time has come (``now >= deletion``) is deleted. Files that are not salt
files make the rotation fail with a :class:`~eljobs.sanitize.salts.SaltError` naming them, so
nothing unexpected is deleted.

Durations: ``<N> <unit>`` with unit ``hours``, ``days``, ``weeks``, ``months`` or ``years``
(singular accepted). Months and years are calendar steps.

The reference tool's other modes:

* ``period=None`` (``--period none``): a one-off salt that never expires, named ``<start>__``
  (empty end and deletion), created when the directory holds no never-expiring salt;
* ``retention=None`` (``--retention none``): salts are named without a deletion time
  (``<start>_<end>_``) and never deleted (no backup/retention deletion);
* ``initial=True`` (``--initial``): the first salt of a new directory, starting at 1970-01-01
  instead of the period's (or the hour's) start, so data older than the directory is covered
  too; refused when the directory already holds salts.

The directory is reached through :mod:`eljobs.io.fs`: a bare path is on Hadoop's default file
system (HDFS on the cluster), ``file://`` is the local disk. The reference's ``saltrotate``
worked on a local directory that the deployment then copied to HDFS; rotating the HDFS
directory in place needs no copy (docs/differences.md).
"""

from __future__ import annotations

import re
import secrets
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from dateutil.relativedelta import relativedelta

from eljobs.io.fs import FileSystem, filesystem, join
from eljobs.sanitize.salts import NEVER, SaltError, parse_salt_name
from eljobs.timewindow import to_utc

EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
SALT_LENGTH = 64
_DURATION = re.compile(r"^\s*(\d+)\s+(hour|day|week|month|year)s?\s*$", re.IGNORECASE)


class DurationError(ValueError):
    """A ``--period``/``--retention`` value is not ``<N> <unit>``."""


@dataclass(frozen=True)
class Duration:
    """A whole number of hours, days, weeks, months or years."""

    count: int
    unit: str

    def delta(self, times: int = 1) -> relativedelta:
        """This duration times ``times`` as a relativedelta."""
        return relativedelta(**{f"{self.unit}s": self.count * times})

    def __str__(self) -> str:
        return f"{self.count} {self.unit}s"


def parse_duration(text: str, *, option: str = "duration") -> Duration:
    """``'3 months'`` → Duration(3, 'month').

    Raises:
        DurationError: not ``<N> <unit>`` with N ≥ 1 (the message names the option).
    """
    m = _DURATION.match(text or "")
    if not m or int(m.group(1)) < 1:
        raise DurationError(
            f"--{option}: expected '<N> <unit>' with N >= 1 and unit hours, days, weeks, months "
            f"or years (e.g. '3 months'), found {text!r}"
        )
    return Duration(int(m.group(1)), m.group(2).lower())


def period_bounds(now: datetime, period: Duration) -> tuple[datetime, datetime]:
    """The period ``[start, end)`` containing ``now``, periods counted from 1970-01-01T00Z."""
    now = to_utc(now)
    if now < EPOCH:
        raise DurationError(f"now {now.isoformat()} is before 1970-01-01")
    if period.unit in ("month", "year"):
        months = (now.year - 1970) * 12 + (now.month - 1)
        step = period.count * (12 if period.unit == "year" else 1)
        k = months // step
    else:
        hours = {"hour": 1, "day": 24, "week": 168}[period.unit] * period.count
        k = int((now - EPOCH) // timedelta(hours=hours))
    start = EPOCH + period.delta(k)
    end = EPOCH + period.delta(k + 1)
    return start, end


def _stamp(dt: datetime) -> str:
    return to_utc(dt).strftime("%Y%m%d%H")


def salt_file_name(start: datetime, end: datetime | None, deletion: datetime | None) -> str:
    """``<start>_<end>_<deletion>`` with yyyyMMddHH UTC timestamps; a part that is None
    (never ends, never deleted) is left empty."""
    parts = (start, end, deletion)
    return "_".join("" if x is None else _stamp(x) for x in parts)


def parse_optional_duration(text: str | None, *, option: str) -> Duration | None:
    """:func:`parse_duration`, with ``none`` (any case) or an empty value meaning None."""
    if text is None or text.strip().lower() in ("", "none"):
        return None
    return parse_duration(text, option=option)


@dataclass
class RotationResult:
    """What a rotation did (file names only; salt values are never reported)."""

    created: list[str] = field(default_factory=list)
    deleted: list[str] = field(default_factory=list)
    kept: list[str] = field(default_factory=list)
    ok: bool = True


def rotate_salts(
    salts_path: str,
    *,
    period: Duration | str | None,
    retention: Duration | str | None,
    now: datetime,
    dry_run: bool = False,
    initial: bool = False,
    fs: FileSystem | None = None,
) -> RotationResult:
    """Create the current period's salt if missing and delete expired salts.

    Args:
        salts_path: the salt directory (created if missing).
        period: salt validity, e.g. ``3 months``; None (or ``none``): one salt that never
            expires.
        retention: how long after its end a salt is kept, e.g. ``50 days``; None (or
            ``none``): salts are never deleted.
        now: the current time (naive = UTC).
        dry_run: report what would be done without changing anything.
        initial: the directory is new: its first salt starts at 1970-01-01.
        fs: the file-system layer; by default the active Spark session's, or plain Python for
            a local directory when there is none.

    Raises:
        SaltError: the directory holds a file that is not a salt file, or ``initial`` is asked
            of a directory that already holds salts.
        FsError: the directory cannot be listed or written (an ``OSError``).
        DurationError: a bad period or retention.
    """
    if period is None or isinstance(period, str):
        period = parse_optional_duration(period, option="period")
    if retention is None or isinstance(retention, str):
        retention = parse_optional_duration(retention, option="retention")
    now = to_utc(now)
    fs = fs or filesystem()
    if not dry_run:
        fs.mkdirs(salts_path)
    names = [e.name for e in fs.list(salts_path, missing_ok=True)]
    names = [n for n in names if not n.startswith((".", "_"))]
    parsed = {name: parse_salt_name(name) for name in names}  # foreign files fail here
    if initial and names:
        raise SaltError(
            f"--initial creates the first salt of a new directory, but {salts_path} already "
            f"holds {len(names)} salt file(s), e.g. {names[0]}"
        )
    result = RotationResult()
    if period is None:
        # One salt for ever: the hour it is made (the epoch for a new directory's first).
        start, end = (EPOCH if initial else now.replace(minute=0, second=0, microsecond=0)), None
    else:
        start, end = period_bounds(now, period)
    deletion = end + retention.delta() if end is not None and retention is not None else None
    have_current = False
    for name in names:
        salt_start, salt_end, salt_deletion = parsed[name]
        if salt_deletion is not None and now >= salt_deletion:
            result.deleted.append(name)
            if not dry_run:
                fs.delete(join(salts_path, name))
            continue
        result.kept.append(name)
        if end is None:
            have_current = have_current or salt_end == NEVER
        elif salt_start <= start and salt_end == end:
            have_current = True
    if not have_current and (deletion is None or now < deletion):
        name = salt_file_name(EPOCH if initial else start, end, deletion)
        result.created.append(name)
        if not dry_run:
            # owner-only (0600) from creation, no newline, never half-written
            secret = secrets.token_hex(SALT_LENGTH // 2)
            fs.write_text(join(salts_path, name), secret, private=True)
    return result
