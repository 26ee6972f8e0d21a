"""Time windows: ``--since``/``--until`` values, whole-hour ranges and Joda-style path patterns.

Pure functions, no Spark. All datetimes returned are timezone-aware UTC.

* :func:`parse_when` reads ``--since``/``--until``: a whole number means that many hours before
  now (not rounded); anything else is ISO-8601 (``2021-03-22``, ``2021-03-22T19``,
  ``2021-03-22T19:00:00Z``, ``...+01:00``), zone-less values being UTC.
* :func:`hours_in_window` lists the hours ``[ceil(since), floor(until))`` (the FS-mode rule of
  Refine); :func:`floor_hour`/:func:`ceil_hour` are its building blocks.
* :func:`compile_joda` / :func:`format_hour` print an hour with a Joda pattern such as
  ``yyyy/MM/dd/HH`` or ``'year='yyyy/'month='MM/'day='dd/'hour='HH``.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import UTC, datetime, timedelta


class TimeWindowError(ValueError):
    """A since/until value or a datetime pattern cannot be understood."""


_HOURS_AGO = re.compile(r"^\d+$")
_ISO = re.compile(
    r"^(?P<y>\d{4})(?:-(?P<mo>\d{2})(?:-(?P<d>\d{2})"
    r"(?:[T ](?P<h>\d{2})(?::(?P<mi>\d{2})(?::(?P<s>\d{2})(?:[.,](?P<f>\d{1,9}))?)?)?)?)?)?"
    r"(?P<z>Z|[+-]\d{2}(?::?\d{2})?)?$"
)


def utcnow() -> datetime:
    """The current time, UTC."""
    return datetime.now(UTC)


def to_utc(dt: datetime) -> datetime:
    """Naive datetimes are taken as UTC; aware ones are converted to UTC."""
    if dt.tzinfo is None:
        return dt.replace(tzinfo=UTC)
    return dt.astimezone(UTC)


def parse_when(value: str | int | datetime, *, now: datetime | None = None) -> datetime:
    """Parse a ``--since``/``--until`` value.

    Args:
        value: ISO-8601 text, a whole number of hours before ``now``, or a datetime.
        now: the reference time for hours-ago values (default: the current time).

    Returns:
        An aware UTC datetime.

    Raises:
        TimeWindowError: the value is neither form.
    """
    if isinstance(value, datetime):
        return to_utc(value)
    if isinstance(value, int):
        return to_utc(now or utcnow()) - timedelta(hours=value)
    text = value.strip()
    if _HOURS_AGO.match(text):
        return to_utc(now or utcnow()) - timedelta(hours=int(text))
    m = _ISO.match(text)
    if not m:
        raise TimeWindowError(
            f"expected ISO-8601 (e.g. 2021-03-22T19:00:00Z) or a whole number of hours ago, "
            f"found {value!r}"
        )
    frac = (m.group("f") or "0")[:6].ljust(6, "0")
    try:
        dt = datetime(
            int(m.group("y")),
            int(m.group("mo") or 1),
            int(m.group("d") or 1),
            int(m.group("h") or 0),
            int(m.group("mi") or 0),
            int(m.group("s") or 0),
            int(frac),
        )
    except ValueError as e:
        raise TimeWindowError(f"invalid date-time {value!r}: {e}") from None
    z = m.group("z")
    if z and z != "Z":
        sign = 1 if z[0] == "+" else -1
        digits = z[1:].replace(":", "")
        offset = timedelta(hours=int(digits[:2]), minutes=int(digits[2:4] or 0))
        return (dt - sign * offset).replace(tzinfo=UTC)
    return dt.replace(tzinfo=UTC)


def floor_hour(dt: datetime) -> datetime:
    """The whole hour at or before ``dt`` (UTC)."""
    dt = to_utc(dt)
    return dt.replace(minute=0, second=0, microsecond=0)


def ceil_hour(dt: datetime) -> datetime:
    """The whole hour at or after ``dt`` (UTC); a whole hour is its own ceiling."""
    f = floor_hour(dt)
    return f if f == to_utc(dt) else f + timedelta(hours=1)


def hours_in_window(
    since: datetime, until: datetime, *, round_since: str = "ceil"
) -> list[datetime]:
    """Every whole hour ``h`` with ``round(since) <= h < floor(until)``.

    Args:
        since: start of the window.
        until: end of the window (exclusive after flooring).
        round_since: ``"ceil"`` (Refine FS mode, backfill) or ``"floor"`` (Refine DB mode).
    """
    start = ceil_hour(since) if round_since == "ceil" else floor_hour(since)
    end = floor_hour(until)
    out = []
    h = start
    while h < end:
        out.append(h)
        h += timedelta(hours=1)
    return out


_JODA_TOKEN = re.compile(r"'([^']*)'|(y+|M+|d+|H+|m+|s+)|([^'yMdHms]+)")


def compile_joda(pattern: str) -> Callable[[datetime], str]:
    """Compile a Joda-Time pattern (the subset used for hourly paths) into a formatter.

    Supported: ``yyyy``/``yy``, ``MM``/``M``, ``dd``/``d``, ``HH``/``H``, ``mm``, ``ss`` and
    quoted literals (``'year='``; ``''`` is a literal quote).

    Raises:
        TimeWindowError: an unsupported letter or an unterminated quote.
    """
    parts: list[Callable[[datetime], str]] = []
    pos = 0
    while pos < len(pattern):
        m = _JODA_TOKEN.match(pattern, pos)
        if not m:
            raise TimeWindowError(f"cannot parse datetime pattern {pattern!r} at position {pos}")
        lit, field, other = m.groups()
        if lit is not None:
            parts.append(_literal(lit if lit else "'"))
        elif field is not None:
            parts.append(_field_formatter(field))
        else:
            if re.search(r"[A-Za-z]", other or ""):
                raise TimeWindowError(
                    f"unsupported letters {other!r} in datetime pattern {pattern!r} "
                    "(quote literal text, e.g. 'year=')"
                )
            parts.append(_literal(other))
        pos = m.end()

    def fmt(dt: datetime) -> str:
        dt = to_utc(dt)
        return "".join(p(dt) for p in parts)

    return fmt


def _literal(text: str) -> Callable[[datetime], str]:
    return lambda _dt: text


def _field_formatter(token: str) -> Callable[[datetime], str]:
    letter, width = token[0], len(token)
    attr = {"y": "year", "M": "month", "d": "day", "H": "hour", "m": "minute", "s": "second"}[
        letter
    ]
    if letter == "y" and width == 2:
        return lambda dt: f"{dt.year % 100:02d}"
    return lambda dt: str(getattr(dt, attr)).zfill(width)


def format_hour(pattern: str, dt: datetime) -> str:
    """Print ``dt`` (UTC) with the Joda pattern ``pattern``."""
    return compile_joda(pattern)(dt)


def isoformat_z(dt: datetime) -> str:
    """``2024-01-05T03:00:00Z`` style for aware UTC datetimes."""
    return to_utc(dt).strftime("%Y-%m-%dT%H:%M:%SZ")
