"""EventLogging log-format strings, QSON decoding, time casters and the capsule uuid.

This is the reference processor's ``LogParser`` behaviour, written for speed: the format is
compiled once, percent-decoding of the usual
well-formed query string runs in C, and time conversions are memoized.

Compilation rules, as in the reference: every literal space becomes ``\\s+``; a specifier is
``%`` + optional ``{name}`` + one of ``d i j q s t D u o`` unless the ``%`` follows another
``%`` (``%%`` stays as is); all other text goes into the regular expression unescaped; each
specifier is a named group, so a repeated name is a construction error; the line is matched
at its start only.
"""

from __future__ import annotations

import binascii
import calendar
import datetime as _dt
import hashlib
import json
import re
import time
from collections.abc import Callable
from typing import Any
from urllib.parse import unquote

from eljobs.useragent import eventlogging_user_agent, shared_eventlogging_user_agent

__all__ = [
    "LogFormatError",
    "LogParseError",
    "LogParser",
    "capsule_uuid",
    "decode_qson",
    "iso8601_from_timestamp",
    "ncsa_to_unix",
]


class LogFormatError(ValueError):
    """The format string cannot be compiled (e.g. a name used twice, ``%s`` without a name)."""


class LogParseError(ValueError):
    """A line could not be parsed; ``args[0]`` is the reference processor's message."""


NOT_AN_OBJECT = "capsule was successfully parsed, but not as an object."
CAPSULE_NOT_MATCHED = "'capsule' was not matched in line, but it is required"

_NCSA_FORMAT = "%Y-%m-%dT%H:%M:%S"
_STRIP = "?;"
_WHITESPACE = re.compile(r"\s")


# --------------------------------------------------------------------------- QSON


def _decode_qson_slow(text: str) -> Any:
    # "+" becomes a space before percent-decoding; invalid UTF-8 raises UnicodeDecodeError
    # whose first argument is "utf-8", which is the reference's whole error message.
    return json.loads(unquote(text.strip(_STRIP).replace("+", " "), errors="strict"))


def decode_qson(text: str) -> Any:
    """Decode query-string-encoded JSON: strip ``?``/``;`` at both ends, ``+`` to
    space, lenient percent-decoding to bytes, strict UTF-8, then ``json.loads``."""
    if type(text) is not str or _WHITESPACE.search(text) is not None:
        return _decode_qson_slow(text)
    return _decode_qson_nospace(text)


def _decode_qson_nospace(text: str) -> Any:
    """:func:`decode_qson` for text without whitespace (what ``%q`` matches).

    Well-formed escapes are decoded by ``binascii.a2b_qp`` (quoted-printable uses ``=XX`` and,
    in header mode, ``_`` for a space): the text is re-spelled in that alphabet first. When every
    ``%`` starts a valid escape the result is exactly ``2 * count('%')`` bytes shorter than the
    input; otherwise (a lone ``%`` that must survive unchanged) the pure-Python route is taken.
    """
    body = text.strip(_STRIP).encode("utf-8", "surrogatepass")
    raw = body.replace(b"=", b"=3D").replace(b"_", b"=5F").replace(b"+", b"_").replace(b"%", b"=")
    decoded = binascii.a2b_qp(raw, header=True)
    if len(decoded) != len(body) - 2 * body.count(b"%"):
        return _decode_qson_slow(text)
    return json.loads(decoded.decode("utf-8"))


# --------------------------------------------------------------------------- time

_ISO_CACHE: dict[Any, str] = {}
_PLAIN_ISO = re.compile(r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}", re.ASCII)
_ISO_CACHE_MAX = 200_000


def _format_iso(moment: _dt.datetime) -> str:
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=_dt.UTC)
    text = moment.isoformat()
    return text[:-6] + "Z" if text.endswith("+00:00") else text


def _datetime_from_timestamp(t: Any) -> _dt.datetime:
    # Numbers are read in the process's local time zone, as the reference does (it ran in UTC).
    if isinstance(t, float):
        return _dt.datetime.fromtimestamp(t)
    if isinstance(t, int):
        try:
            return _dt.datetime.fromtimestamp(t)
        except ValueError:
            return _dt.datetime.fromtimestamp(t / 1000.0)  # too large for seconds: milliseconds
    if isinstance(t, str):
        # dateutil's parser (about 50 ms to load) only for string timestamps, which few formats
        # carry: the executors' Python workers start without it.
        import dateutil.parser

        return dateutil.parser.parse(t)
    raise RuntimeError(
        f"Could not parse datetime from timestamp {t!s}. "
        f"{type(t)!s} is not a datetime parseable type"
    )


def iso8601_from_timestamp(t: Any) -> str:
    """The ``%D`` caster: a date-time string (anything ``dateutil`` reads) or a
    Unix time, printed in ISO-8601; naive values are taken as UTC and UTC is written ``Z``."""
    if type(t) is str:
        hit = _ISO_CACHE.get(t)
        if hit is not None:
            return hit
        moment = None
        # Fast path for the line's own "YYYY-MM-DDTHH:MM:SS"; anything unusual (or out of
        # range) goes to dateutil, which also words the error.
        if _PLAIN_ISO.fullmatch(t) is not None:
            try:
                moment = _dt.datetime(
                    int(t[0:4]), int(t[5:7]), int(t[8:10]), int(t[11:13]), int(t[14:16]),
                    int(t[17:19]),
                )  # fmt: skip
            except ValueError:
                moment = None
        if moment is None:
            moment = _datetime_from_timestamp(t)
        out = _format_iso(moment)
        if len(_ISO_CACHE) >= _ISO_CACHE_MAX:
            _ISO_CACHE.clear()
        _ISO_CACHE[t] = out
        return out
    return _format_iso(_datetime_from_timestamp(t))


def ncsa_to_unix(text: Any) -> int:
    """The ``%t`` caster: ``YYYY-MM-DDTHH:MM:SS`` read as UTC, to integer Unix seconds."""
    return calendar.timegm(time.strptime(text, _NCSA_FORMAT))


# --------------------------------------------------------------------------- uuid

_NAMESPACE_URL = bytes.fromhex("6ba7b8119dad11d180b400c04fd430c8")
_URL_SHA1 = hashlib.sha1(_NAMESPACE_URL)
# The variant nibble (hex digit 16) keeps its two low bits under the bits 10.
_VARIANT = {f"{n:x}": f"{(n & 0x3) | 0x8:x}" for n in range(16)}


def uuid5_hex(name: str) -> str:
    """UUID version 5 in the URL namespace, as 32 lowercase hex digits."""
    h = _URL_SHA1.copy()  # the namespace's 16 bytes are hashed once
    h.update(name.encode("utf-8"))
    hx = h.hexdigest()
    return f"{hx[:12]}5{hx[13:16]}{_VARIANT[hx[16]]}{hx[17:32]}"


def capsule_uuid(capsule: dict[str, Any], *, clock: Callable[[], float] = time.time) -> str:
    """The capsule uuid from ``event://{recvFrom}/?seqId={seqId}&dt={dt}``.

    Like the reference, the fallback for a missing ``dt`` (the ISO form of ``timestamp``, or of
    ``clock()``) is computed even when ``dt`` is present, so a bad client ``timestamp`` fails.
    """
    if "timestamp" in capsule:
        fallback = iso8601_from_timestamp(capsule["timestamp"])
        dt = capsule.get("dt", fallback)
    elif "dt" in capsule:
        dt = capsule["dt"]
    else:
        dt = iso8601_from_timestamp(clock())
    name = f"event://{capsule.get('recvFrom')!s}/?seqId={capsule.get('seqId')!s}&dt={dt!s}"
    return uuid5_hex(name)


# --------------------------------------------------------------------------- the parser


def _parse_ua_field(text: Any) -> Any:
    if type(text) is str and len(text) <= 800:
        return shared_eventlogging_user_agent(text)
    return eventlogging_user_agent(text)


# letter -> (regex with %s for the name where one is taken, fixed group name, caster)
_SPECIFIERS: dict[str, tuple[str, str | None, Callable[[Any], Any] | None]] = {
    "d": (r"(?P<%s>\d+)", None, int),
    "i": (r"(?P<%s>[^\t]+)", None, str),
    "j": (r"(?P<capsule>\S+)", "capsule", json.loads),
    "q": (r"(?P<capsule>\?\S+)", "capsule", decode_qson),
    "s": (r"(?P<%s>\S+)", None, str),
    "t": (r"(?P<timestamp>\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2})", "timestamp", ncsa_to_unix),
    "D": (r"(?P<dt>\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2})", "dt", iso8601_from_timestamp),
    "u": (r"(?P<userAgent>[^\t]+)", "userAgent", _parse_ua_field),
    "o": (r"(?P<omit>\S+)", "omit", None),
}
_SPECIFIER_RE = re.compile(r"(?<!%)%({(\w+)})?([" + "".join(_SPECIFIERS) + "])")


class LogParser:
    """A compiled EventLogging format string; :meth:`parse` turns one line into a capsule.

    ``clock`` gives the current Unix time where the reference uses it (uuid of a capsule
    without ``dt`` and ``timestamp``).
    """

    def __init__(self, fmt: str, *, clock: Callable[[], float] = time.time) -> None:
        self.format = fmt
        self.clock = clock
        casters: list[Callable[[Any], Any] | None] = []

        def expand(spec: re.Match[str]) -> str:
            _, name, letter = spec.groups()
            matcher, fixed, caster = _SPECIFIERS[letter]
            if name:
                if fixed is not None:
                    raise LogFormatError(
                        f"log format {fmt!r}: %{letter} has a fixed field name "
                        f"({fixed!r}) and takes no {{{name}}}"
                    )
                matcher = matcher % name
            casters.append(caster)
            return matcher

        spaced = fmt.replace(" ", r"\s+")
        try:
            pattern = _SPECIFIER_RE.sub(expand, spaced)
            self.re = re.compile(pattern)
        except re.error as exc:
            raise LogFormatError(
                f"log format {fmt!r} does not compile to a regular expression "
                f"({exc}); %s, %d and %i need a {{name}}, and each field name may be used once"
            ) from exc
        self.pattern = pattern
        # Group names in format order, with their casters ("omit" has none: never stored).
        names = list(self.re.groupindex)
        self._fields = list(zip(names, casters, strict=False))
        self._has_capsule = "capsule" in self.re.groupindex
        self._capsule_caster = dict(self._fields).get("capsule")
        if self._capsule_caster is decode_qson:
            self._capsule_caster = _decode_qson_nospace
        self._line_casters = [(n, c) for n, c in self._fields if c is not None and n != "capsule"]
        self._all_casters = {n: c for n, c in self._fields if c is not None}
        self.field_names = frozenset(n for n, _ in self._fields)
        # The reference pairs casters (format order) with group names sorted by match position.
        # They can differ only if the format's own text is regex syntax (optional or nested
        # groups); otherwise every group matches, in format order, and the check is skipped.
        literal = _SPECIFIER_RE.sub("", fmt)
        self._static_order = not any(ch in literal for ch in "()|?*+{}[]")

    def __repr__(self) -> str:
        return f"LogParser({self.format!r})"

    def parse(self, line: str) -> dict[str, Any]:
        """Parse one line into a capsule dict with ``uuid`` set.

        :raises Exception: what the reference raises; ``args[0]`` is the message the EventError
            carries (the pattern for a line that does not match, json's message, ``utf-8``...).
        """
        m = self.re.match(line)
        if m is None:
            raise LogParseError(self.pattern, line)
        if not self._has_capsule:
            raise LogParseError(CAPSULE_NOT_MATCHED, (self.pattern, line))
        groups = m.groupdict()
        fields = self._fields
        if not self._static_order:
            order = sorted(groups, key=m.start)
            if order != [n for n, _ in fields]:
                fields = list(zip(order, [c for _, c in self._fields], strict=False))
                casters = {n: c for n, c in fields if c is not None}
                return self._finish(groups, casters, [(n, c) for n, c in fields if c], None)
        return self._finish(groups, self._all_casters, self._line_casters, self._capsule_caster)

    def _finish(
        self,
        groups: dict[str, Any],
        casters: dict[str, Callable[[Any], Any]],
        line_casters: list[tuple[str, Callable[[Any], Any]]],
        capsule_caster: Callable[[Any], Any] | None,
    ) -> dict[str, Any]:
        if capsule_caster is None:
            capsule_caster = casters["capsule"]
        capsule = capsule_caster(groups["capsule"])
        if type(capsule) is not dict:
            raise LogParseError(NOT_AN_OBJECT, capsule)
        if casters is self._all_casters and capsule.keys().isdisjoint(casters):
            # The usual case: the client sent none of the format's fields.
            for name, caster in line_casters:
                capsule[name] = caster(groups[name])
            capsule["uuid"] = capsule_uuid(capsule, clock=self.clock)
            return capsule
        # Client-sent fields that are also format fields go through the same caster (in format
        # order; the reference iterates a set, so its choice among two failures is arbitrary).
        for name, caster in casters.items():
            if name in capsule:
                capsule[name] = caster(capsule[name])
        for name, caster in line_casters:
            if name != "capsule" and name not in capsule:
                capsule[name] = caster(groups[name])
        capsule["uuid"] = capsule_uuid(capsule, clock=self.clock)
        return capsule
