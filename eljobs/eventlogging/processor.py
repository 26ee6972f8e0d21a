"""The per-line EventLogging processor: raw line → valid capsule or EventError.

:class:`Processor` reproduces one iteration of the reference ``eventlogging-processor`` loop:
parse the line with the log format, drop ``clientValidated``/``isTruncated``, validate the
capsule against its encapsulated draft-3 schema, and produce either the capsule or an
EventError, serialized as the reference's writers do (sorted keys, ``", "``/``": "``
separators, ASCII-escaped) with the topic rendered by ``str.format`` over the capsule.

:func:`process_batch` is the Arrow batch function the backfill runs inside ``mapInArrow``.

Deliberate differences from the reference (see docs/differences.md):

* Lines come without their trailing newline (the backfill reads TAB-preserving lines, not
  stdin), so ``%u``/``%i`` values and ``rawEvent`` never end with ``\\n``.
* Schemas come from a local :class:`~eljobs.eventlogging.schemas.SchemaRepository`; an unknown
  ``(schema, revision)`` is a ``processor`` error naming both.
* An event whose topic template has a missing key gets ``topic=None`` (the caller counts it as
  unroutable) instead of being dropped with a log line.
* Several client fields failing their casters: the first in format order is reported.
"""

from __future__ import annotations

import copy
import json
import re
import socket
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Literal

import pyarrow as pa

from eljobs.eventlogging import jsoncodec
from eljobs.eventlogging.logformat import LogParser, capsule_uuid, uuid5_hex
from eljobs.eventlogging.schemas import SchemaRepository
from eljobs.eventlogging.validation import CompiledSchema

__all__ = [
    "ERROR_REVISION",
    "ERROR_SCHEMA",
    "OUTPUT_SCHEMA_FIELDS",
    "OUTPUT_SPARK_DDL",
    "PRODUCTION_FORMAT",
    "Outcome",
    "Processor",
    "error_uuid",
    "process_batch",
    "serialize",
]

PRODUCTION_FORMAT = "%q %{recvFrom}s %{seqId}d %D %{ip}i %u"
ERROR_SCHEMA = "EventError"
ERROR_REVISION = 14035058

SCID_MISSING = "scid could not be extracted from event."
_SCHEMA_NAME_RE = re.compile(r"^[./a-zA-Z0-9_-]{1,63}$")
_RAW_SCHEMA_RE = re.compile(r"%22schema%22%3A%22([./a-zA-Z0-9_-]{1,63})%22")
_RAW_REVISION_RE = re.compile(r"%22revision%22%3A(\d+)")
_SCHEMA_URI_RE = re.compile(r"([\w\-]+)/(\d+)(?:\.(?:json|yaml|yml))?$")

Kind = Literal["valid", "validation", "processor"]


@dataclass(frozen=True, slots=True)
class Outcome:
    """What became of one raw line.

    ``schema``/``revision``: the scid of the parsed capsule (for errors: the one the EventError
    names, recovered from the raw text for parse failures), ``"unknown"``/``-1`` when there is
    none (or it is not a string / integer). ``topic`` is None when the template has a key the
    capsule lacks (unroutable). ``value`` is the serialized capsule or EventError. ``message``
    is the error message for invalid lines.
    """

    kind: Kind
    schema: str
    revision: int
    topic: str | None
    value: str | None
    message: str | None


OUTPUT_SCHEMA_FIELDS: tuple[pa.Field, ...] = (
    pa.field("kind", pa.string()),
    pa.field("schema", pa.string()),
    pa.field("revision", pa.int64()),
    pa.field("topic", pa.string()),
    pa.field("value", pa.string()),
    pa.field("message", pa.string()),
)
"""Columns :func:`process_batch` appends to its input batch, in this order."""

OUTPUT_SPARK_DDL = ", ".join(
    f"{f.name} {'bigint' if f.type == pa.int64() else 'string'}" for f in OUTPUT_SCHEMA_FIELDS
)
"""The same columns as a Spark DDL fragment (``kind string, ..., revision bigint, ...``)."""


_ENCODE = jsoncodec.dumps


def serialize(obj: Any) -> str:
    """The reference writers' JSON: keys sorted recursively, ``", "``/``": "``, ASCII only
    (byte-identical to ``json.dumps(obj, sort_keys=True)``, see :mod:`.jsoncodec`)."""
    return _ENCODE(obj)


def render_topic(template: str | None, capsule: dict[str, Any]) -> str | None:
    """``template.format(**capsule)``; with no template, the capsule's own ``topic``
    (None when it has none). Raises what ``str.format`` raises for a missing key."""
    if not template:
        topic = capsule.get("topic")
        return topic if topic is None or isinstance(topic, str) else str(topic)
    return template.format_map(capsule)  # as format(**capsule), without copying the capsule


def _message(exc: BaseException) -> str:
    # The reference reports an exception's first argument (so "utf-8" for bad UTF-8, the
    # pattern for a line that does not match).
    if exc.args:
        first = exc.args[0]
        return first if isinstance(first, str) else str(first)
    return type(exc).__name__


def capsule_scid(capsule: dict[str, Any]) -> tuple[Any, Any] | None:
    """The reference's ``Event.scid()``: ``meta.schema_uri`` when ``meta`` is an object (that
    style of event always fails capsule validation), else ``(schema, revision)`` if both are
    present, else None."""
    meta = capsule.get("meta")
    if isinstance(meta, dict):
        if "schema_uri" not in meta:
            return None
        m = _SCHEMA_URI_RE.search(meta["schema_uri"])
        return (m.group(1), int(m.group(2))) if m else None
    if "schema" in capsule and "revision" in capsule:
        return capsule["schema"], capsule["revision"]
    return None


def _scid_problem(name: Any, revision: Any) -> str | None:
    if not isinstance(revision, int):
        return f"Invalid revision ID type: {type(revision)!s}"
    if revision < 1:
        return f"Invalid revision ID {revision!s}"
    if not isinstance(name, str) or not _SCHEMA_NAME_RE.match(name):
        return f"Invalid schema name: {name!s}"
    return None


def error_uuid(position: str, raw: str) -> str:
    """The ``uuid`` of the EventError of a raw line: UUID 5 (URL namespace) of
    ``eljobs:EventError/<position>/<raw line>``, as 32 hex digits.

    The reference used ``uuid1`` (time and host), so every run gave new uuids; derived from
    the line and where it was read, a re-run or a retried task gives the same ones
    (docs/differences.md). ``position`` is whatever places the line in its input; the backfill
    uses the Spark partition and the row's number in it, the same for the same input and
    split settings.
    """
    return uuid5_hex(f"eljobs:EventError/{position}/{raw}")


class _ValidationFailed(Exception):
    pass


# Compiled schemas by content, for the life of the process: Spark reuses its Python workers, so
# a schema is compiled once per worker even though each task unpickles a fresh Processor.
_SHARED_COMPILED: dict[str, CompiledSchema | Exception] = {}


def _compile_shared(doc: Any) -> CompiledSchema:
    # repr() for what JSON cannot hold (YAML reads unquoted dates as date objects)
    key = json.dumps(doc, sort_keys=True, default=repr)
    found = _SHARED_COMPILED.get(key)
    if found is None:
        try:
            found = CompiledSchema(doc)
        except Exception as exc:
            found = _fresh(exc)
        if len(_SHARED_COMPILED) > 10_000:
            _SHARED_COMPILED.clear()
        _SHARED_COMPILED[key] = found
    if isinstance(found, Exception):
        raise _fresh(found)
    return found


def _fresh(cached: Exception) -> Exception:
    """A copy of an error without its traceback and context: what a cache keeps, and what is
    raised in place of the cached instance.

    A cached error holding a traceback (of its first raise, or of its last) holds its frames,
    and through them (each keeps its caller's) the Arrow batch being processed then: one batch
    of lines and capsules kept alive per failing schema. On realistic input (many scids
    that fail) a Python worker grew by about 4 KB a line, 2.1 GB for 1,000,000 lines.
    """
    try:
        fresh = copy.copy(cached)
    except Exception:  # an exception class whose constructor does not take its own args
        fresh = RuntimeError(_message(cached))
    fresh.__traceback__ = fresh.__context__ = fresh.__cause__ = None
    return fresh


class Processor:
    """Processes raw lines one at a time, caching compiled schemas per scid.

    Picklable (the caches are left behind and rebuilt where it is unpickled). ``hostname`` is
    the EventError ``recvFrom`` (default: this host's FQDN), ``clock`` the source of Unix time
    (EventError ``timestamp``; uuid of capsules without ``dt``). A ``topic_template`` of None
    routes by the capsule's own ``topic`` field (as the reference writers without ``topic=``).
    ``invalid_topic_template`` defaults to ``topic_template`` (the reference's bare
    ``--output-invalid``: ``eventlogging_{schema}`` gives ``eventlogging_EventError``).
    """

    def __init__(
        self,
        log_format: str,
        schemas: SchemaRepository,
        *,
        topic_template: str | None = "eventlogging_{schema}",
        invalid_topic_template: str | None = None,
        hostname: str | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.log_format = log_format
        self.parser = LogParser(log_format, clock=clock)
        self.schemas = schemas
        self.topic_template = topic_template
        self.invalid_topic_template = invalid_topic_template or topic_template
        self._hostname = hostname
        self.clock = clock
        self._compiled: dict[tuple[Any, Any], CompiledSchema | Exception] = {}
        self._checked: dict[tuple[str, int], CompiledSchema] = {}
        self.stats = {"fast_invalid_but_jsonschema_valid": 0}

    def __getstate__(self) -> dict[str, Any]:
        state = self.__dict__.copy()
        state["_compiled"] = {}  # compiled validators are rebuilt where the processor runs
        state["_checked"] = {}
        state["parser"] = None
        return state

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__dict__.update(state)
        self.parser = LogParser(self.log_format, clock=self.clock)

    @property
    def hostname(self) -> str:
        """``recvFrom`` of EventError events."""
        if self._hostname is None:
            self._hostname = socket.getfqdn()
        return self._hostname

    def compiled(self, name: Any, revision: Any) -> CompiledSchema:
        """The compiled encapsulated schema of a scid (cached, failures included).

        :raises SchemaNotFound: no such schema. :raises InvalidSchema: not valid draft 3.
        """
        key = (name, revision)
        found = self._compiled.get(key)
        if found is None:
            try:
                found = _compile_shared(self.schemas.get(name, revision))
            except Exception as exc:  # cached too: every event of the scid gets the same error
                found = _fresh(exc)
            self._compiled[key] = found
        if isinstance(found, Exception):
            raise _fresh(found)
        return found

    def process(self, raw: str, position: str = "") -> Outcome:
        """Process one raw line (without its trailing newline); ``position`` says where the
        line was read (see :func:`error_uuid`)."""
        return Outcome(*self.process_tuple(raw, position))

    def process_tuple(
        self, raw: str, position: str = ""
    ) -> tuple[Kind, str, int, str | None, str | None, str | None]:
        """:meth:`process` as a plain tuple (kind, schema, revision, topic, value, message)."""
        try:
            return self._process(raw, position)
        except Exception as exc:  # e.g. a capsule too deeply nested to serialize: never lost
            return self._error(raw, _message(exc), "processor", None, (position, raw))

    def _process(
        self, raw: str, position: str
    ) -> tuple[Kind, str, int, str | None, str | None, str | None]:
        try:
            capsule = self.parser.parse(raw)
        except Exception as exc:
            return self._error(raw, _message(exc), "processor", None, (position, raw))
        capsule.pop("clientValidated", None)
        capsule.pop("isTruncated", None)
        try:
            name = capsule.get("schema")
            revision = capsule.get("revision")
            # Fast path: a plain scid already checked and compiled (exact types, since 1.0 and
            # True hash like 1 but are not valid revisions of the same kind).
            compiled = (
                self._checked.get((name, revision))
                if type(name) is str and type(revision) is int and "meta" not in capsule
                else None
            )
            if compiled is None:
                scid = capsule_scid(capsule)
                if scid is None:
                    raise _ValidationFailed(SCID_MISSING)
                name, revision = scid
                problem = _scid_problem(name, revision)
                if problem is not None:
                    raise _ValidationFailed(problem)
                compiled = self.compiled(name, revision)
                if type(name) is str and type(revision) is int:
                    self._checked[(name, revision)] = compiled
            if not compiled.is_valid(capsule):
                message = compiled.first_error(capsule)
                if message is not None:
                    raise _ValidationFailed(message)
                self.stats["fast_invalid_but_jsonschema_valid"] += 1
        except _ValidationFailed as failed:
            origin = (position, raw)
            return self._error(serialize(capsule), failed.args[0], "validation", capsule, origin)
        except Exception as exc:
            return self._error(raw, _message(exc), "processor", capsule, (position, raw))
        if "dt" not in capsule and "timestamp" not in capsule:
            # The reference computes the uuid again here, from the then current time.
            capsule["uuid"] = capsule_uuid(capsule, clock=self.clock)
        value = _ENCODE(capsule)
        try:
            topic = render_topic(self.topic_template, capsule)
        except (KeyError, IndexError, AttributeError, TypeError, ValueError):
            topic = None
        return (
            "valid",
            name if isinstance(name, str) else "unknown",
            revision if type(revision) is int else -1,
            topic,
            value,
            None,
        )

    def event_error(
        self,
        raw_event: str,
        message: str,
        code: str,
        parsed: dict[str, Any] | None,
        origin: tuple[str, str] | None = None,
    ) -> dict[str, Any]:
        """The EventError capsule (``schema``/``revision`` from the parsed capsule,
        else recovered from the percent-encoded raw text, else ``unknown``/-1). ``origin`` is
        the ``(position, raw line)`` the uuid is derived from (:func:`error_uuid`; default:
        no position and ``raw_event``)."""
        schema: Any = "unknown"
        revision: Any = -1
        if parsed:
            try:
                scid = capsule_scid(parsed)
            except Exception:
                scid = None
            if scid:
                schema, revision = scid
        else:
            m = _RAW_SCHEMA_RE.search(raw_event)
            if m:
                schema = m.group(1)
            m = _RAW_REVISION_RE.search(raw_event)
            if m:
                revision = int(m.group(1))
        return {
            "schema": ERROR_SCHEMA,
            "revision": ERROR_REVISION,
            "wiki": "",
            "uuid": error_uuid(*(origin or ("", raw_event))),
            "recvFrom": self.hostname,
            "timestamp": round(self.clock()),
            "event": {
                "rawEvent": raw_event,
                "message": message,
                "code": code,
                "schema": schema,
                "revision": revision,
            },
        }

    def _error(
        self,
        raw_event: str,
        message: str,
        code: Kind,
        parsed: dict[str, Any] | None,
        origin: tuple[str, str] | None = None,
    ) -> tuple[Kind, str, int, str | None, str | None, str | None]:
        error = self.event_error(raw_event, message, code, parsed, origin)
        try:
            topic = render_topic(self.invalid_topic_template, error)
        except (KeyError, IndexError, AttributeError, TypeError, ValueError):
            topic = None
        schema = error["event"]["schema"]
        revision = error["event"]["revision"]
        return (
            code,
            schema if isinstance(schema, str) else "unknown",
            revision if type(revision) is int else -1,
            topic,
            serialize(error),
            message,
        )


def process_batch(
    batch: pa.RecordBatch,
    processor: Processor,
    *,
    raw_column: str = "raw",
    origin: str = "",
    first_row: int = 0,
) -> pa.RecordBatch:
    """Process every line of ``batch[raw_column]``; returns the input columns followed by
    :data:`OUTPUT_SCHEMA_FIELDS`. A null line is a ``processor`` error.

    Row ``i`` of the batch is at position ``f"{origin}:{first_row + i}"`` (see
    :func:`error_uuid`): give the batch's place in the input (e.g. the Spark partition and the
    number of rows before the batch) for EventError uuids that identify the line.
    """
    lines = batch.column(raw_column).to_pylist()
    process = processor.process_tuple
    prefix = f"{origin}:"
    results = [
        process(line, f"{prefix}{first_row + i}")
        if line is not None
        else processor._error(
            "", "raw line is null", "processor", None, (f"{prefix}{first_row + i}", "")
        )
        for i, line in enumerate(lines)
    ]
    columns = list(zip(*results, strict=True)) if results else [()] * len(OUTPUT_SCHEMA_FIELDS)
    arrays = list(batch.columns)
    names = list(batch.schema.names)
    for field, values in zip(OUTPUT_SCHEMA_FIELDS, columns, strict=True):
        arrays.append(pa.array(values, type=field.type))
        names.append(field.name)
    return pa.RecordBatch.from_arrays(arrays, names=names)
