"""Done and failure flags of Refine targets and the re-refine decision.

A flag file (``_REFINED`` on success, ``_REFINE_FAILED`` on failure) sits inside the output
partition directory and holds the modification time of the target's input directory, as the
ISO-8601 text ``2021-03-22T19:05:12.345Z``, framed like Java's ``DataOutputStream.writeUTF``
(2-byte big-endian length, then modified UTF-8) so that flags written by the Scala job and by
eljobs are interchangeable. An empty or unreadable flag reads as "unknown", which never equals
an input time, so the target is refined again.

Everything here is pure; the file system side lives in :mod:`eljobs.refine.targets`.
"""

from __future__ import annotations

import re
import struct
from dataclasses import dataclass
from datetime import UTC, datetime

DONE_FLAG = "_REFINED"
FAILED_FLAG = "_REFINE_FAILED"


class FlagFormatError(ValueError):
    """Flag bytes are not a writeUTF-framed ISO-8601 instant."""


def encode_modified_utf8(text: str) -> bytes:
    """Java's modified UTF-8: NUL as ``C0 80`` and characters outside the BMP as two
    3-byte surrogates."""
    out = bytearray()
    for unit in _utf16_units(text):
        if 0x01 <= unit <= 0x7F:
            out.append(unit)
        elif unit <= 0x7FF:
            out += bytes((0xC0 | (unit >> 6), 0x80 | (unit & 0x3F)))
        else:
            out += bytes((0xE0 | (unit >> 12), 0x80 | ((unit >> 6) & 0x3F), 0x80 | (unit & 0x3F)))
    return bytes(out)


def _utf16_units(text: str) -> list[int]:
    raw = text.encode("utf-16-be", "surrogatepass")
    return [int.from_bytes(raw[i : i + 2], "big") for i in range(0, len(raw), 2)]


def decode_modified_utf8(data: bytes) -> str:
    """Inverse of :func:`encode_modified_utf8`.

    Raises:
        FlagFormatError: the bytes are not modified UTF-8.
    """
    units: list[int] = []
    i = 0
    while i < len(data):
        b = data[i]
        if b < 0x80:
            units.append(b)
            i += 1
        elif b & 0xE0 == 0xC0 and i + 1 < len(data):
            units.append(((b & 0x1F) << 6) | (data[i + 1] & 0x3F))
            i += 2
        elif b & 0xF0 == 0xE0 and i + 2 < len(data):
            units.append(((b & 0x0F) << 12) | ((data[i + 1] & 0x3F) << 6) | (data[i + 2] & 0x3F))
            i += 3
        else:
            raise FlagFormatError(f"invalid modified UTF-8 byte 0x{b:02x} at offset {i}")
    raw = b"".join(u.to_bytes(2, "big") for u in units)
    return raw.decode("utf-16-be", "surrogatepass")


def write_utf(text: str) -> bytes:
    """``DataOutputStream.writeUTF(text)``: 2-byte big-endian length + modified UTF-8."""
    body = encode_modified_utf8(text)
    if len(body) > 0xFFFF:
        raise FlagFormatError(f"writeUTF text too long: {len(body)} bytes (max 65535)")
    return struct.pack(">H", len(body)) + body


def read_utf(data: bytes) -> str:
    """``DataInputStream.readUTF``.

    Raises:
        FlagFormatError: fewer bytes than the length prefix announces, or bad encoding.
    """
    if len(data) < 2:
        raise FlagFormatError(f"expected a 2-byte length prefix, found {len(data)} bytes")
    (n,) = struct.unpack(">H", data[:2])
    if len(data) < 2 + n:
        raise FlagFormatError(f"flag announces {n} bytes but holds {len(data) - 2}")
    return decode_modified_utf8(data[2 : 2 + n])


def format_instant(mtime_ms: int) -> str:
    """Epoch milliseconds as Joda's ISO form in UTC: ``2021-03-22T19:05:12.345Z``."""
    dt = datetime.fromtimestamp(mtime_ms / 1000, UTC)
    return dt.strftime("%Y-%m-%dT%H:%M:%S.") + f"{mtime_ms % 1000:03d}Z"


_ISO_INSTANT = re.compile(
    r"^(\d{4})-(\d{2})-(\d{2})T(\d{2}):(\d{2}):(\d{2})(?:\.(\d{1,9}))?(Z|[+-]\d{2}:?\d{2})$"
)


def parse_instant(text: str) -> int:
    """ISO-8601 instant (``Z`` or an offset, optional fraction) → epoch milliseconds.

    Raises:
        FlagFormatError: the text is not such an instant.
    """
    m = _ISO_INSTANT.match(text.strip())
    if not m:
        raise FlagFormatError(
            f"expected an ISO-8601 instant like 2021-03-22T19:05:12.345Z, found {text!r}"
        )
    y, mo, d, h, mi, s = (int(g) for g in m.groups()[:6])
    frac = (m.group(7) or "0")[:3].ljust(3, "0")
    dt = datetime(y, mo, d, h, mi, s, tzinfo=UTC)
    ms = int(dt.timestamp()) * 1000 + int(frac)
    zone = m.group(8)
    if zone != "Z":
        sign = 1 if zone[0] == "+" else -1
        digits = zone[1:].replace(":", "")
        ms -= sign * (int(digits[:2]) * 3600 + int(digits[2:]) * 60) * 1000
    return ms


def encode_flag(mtime_ms: int) -> bytes:
    """The bytes of a flag file holding ``mtime_ms``."""
    return write_utf(format_instant(mtime_ms))


def decode_flag(data: bytes | None) -> int | None:
    """The instant held by flag bytes in epoch ms, or None when empty/truncated/garbled."""
    if not data:
        return None
    try:
        return parse_instant(read_utf(data))
    except FlagFormatError:
        return None


@dataclass(frozen=True)
class FlagState:
    """What the output partition directory holds, as read at decision time.

    Attributes:
        partition_exists: the output partition directory exists.
        done: the ``_REFINED`` file exists.
        done_mtime: the instant it holds (None: unknown).
        failed: the ``_REFINE_FAILED`` file exists.
        failed_mtime: the instant it holds (None: unknown).
    """

    partition_exists: bool
    done: bool = False
    done_mtime: int | None = None
    failed: bool = False
    failed_mtime: int | None = None


def should_refine(
    state: FlagState,
    input_mtime: int | None,
    *,
    ignore_failure_flag: bool = False,
    ignore_done_flag: bool = False,
) -> bool:
    """The re-refine decision table, checked in order (done flag before failure flag).

    An unknown flag instant or unknown input time never compares equal.
    """
    if not state.partition_exists:
        return True
    if state.done:
        return ignore_done_flag or not _same(input_mtime, state.done_mtime)
    if state.failed:
        return ignore_failure_flag or not _same(input_mtime, state.failed_mtime)
    return True


def _same(a: int | None, b: int | None) -> bool:
    return a is not None and b is not None and a == b
