"""DataFrame transforms of the backfill: raw lines → processed events, and their account.

* :func:`process_raw_lines` runs the eventlogging-processor semantics
  (:mod:`eljobs.eventlogging`) over a DataFrame of raw lines with ``mapInArrow``: the schema
  repository is broadcast once, and each Python worker builds one
  :class:`~eljobs.eventlogging.Processor` per call (validators compiled once per worker per
  schema, user agents cached per worker), so nothing per row goes through the driver. It is
  the Python API for notebooks too.
* :func:`count_outcomes` and :func:`account` count what became of the lines, per hour and
  schema; :func:`summarize` (pure Python) turns the counts and the writers' results into the
  account rows the job prints: read = valid + validation + processor + disabled, always.
* :func:`mark_disabled` turns the valid events of disabled schemas into kind ``disabled``:
  counted, never written (the production processor's ``eventlogging_schemas_disabled_filter``).
"""

from __future__ import annotations

import json
import threading
import uuid
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import pyarrow as pa
from pyspark import TaskContext
from pyspark.sql import functions as F
from pyspark.sql.types import LongType, StringType, StructField, StructType

from eljobs.eventlogging import OUTPUT_SCHEMA_FIELDS, PRODUCTION_FORMAT, Processor, process_batch
from eljobs.eventlogging.schemas import SchemaRepository

if TYPE_CHECKING:
    from pyspark.broadcast import Broadcast
    from pyspark.sql import DataFrame

KINDS: tuple[str, ...] = ("valid", "validation", "processor", "disabled")
#: The kinds of EventError (written by an invalid-events writer).
INVALID_KINDS: tuple[str, ...] = ("validation", "processor")

# Processors of this Python worker, by the token of the process_raw_lines call that made them.
_PROCESSORS: dict[str, Processor] = {}
_LOCK = threading.Lock()


def _processor_for(
    token: str, repository: Broadcast[SchemaRepository], settings: tuple[Any, ...]
) -> Processor:
    # A module-level function is pickled by reference, so this cache is the worker's own and
    # survives from task to task (spark.python.worker.reuse).
    with _LOCK:
        proc = _PROCESSORS.get(token)
        if proc is None:
            if len(_PROCESSORS) >= 4:
                _PROCESSORS.pop(next(iter(_PROCESSORS)))
            log_format, topic_template, invalid_topic_template, hostname = settings
            proc = Processor(
                log_format,
                repository.value,
                topic_template=topic_template,
                invalid_topic_template=invalid_topic_template,
                hostname=hostname,
            )
            _PROCESSORS[token] = proc
        return proc


def render_template(template: str, value: str | None) -> str | None:
    """``template.format(**capsule)`` over a serialized capsule; None when a key is missing or
    the value is not a JSON object (the reference skipped such events)."""
    if value is None:
        return None
    try:
        capsule = json.loads(value)
        return template.format(**capsule) if isinstance(capsule, dict) else None
    except (KeyError, IndexError, AttributeError, TypeError, ValueError):
        return None


def _add_template_columns(
    batch: pa.RecordBatch,
    valid_templates: Mapping[str, str],
    invalid_templates: Mapping[str, str],
    names: Sequence[str],
) -> pa.RecordBatch:
    kinds = batch.column("kind").to_pylist()
    values = batch.column("value").to_pylist()
    arrays = list(batch.columns)
    out_names = list(batch.schema.names)
    for name in names:
        vt, it = valid_templates.get(name), invalid_templates.get(name)
        col = []
        for kind, value in zip(kinds, values, strict=True):
            tmpl = vt if kind == "valid" else it
            col.append(render_template(tmpl, value) if tmpl is not None else None)
        arrays.append(pa.array(col, type=pa.string()))
        out_names.append(name)
    return pa.RecordBatch.from_arrays(arrays, names=out_names)


def process_raw_lines(
    df: DataFrame,
    *,
    schemas: SchemaRepository,
    log_format: str = PRODUCTION_FORMAT,
    topic_template: str = "eventlogging_{schema}",
    invalid_topic_template: str | None = None,
    valid_templates: Mapping[str, str] | None = None,
    invalid_templates: Mapping[str, str] | None = None,
    hostname: str | None = None,
    raw_column: str = "raw",
    drop: Sequence[str] = (),
) -> DataFrame:
    """Process every raw line of ``df[raw_column]`` as eventlogging-processor would.

    Keeps ``df``'s columns and appends ``kind`` (``valid``/``validation``/``processor``),
    ``schema``, ``revision`` (the scid; for errors the one the EventError names), ``topic``
    (``topic_template`` over a valid capsule, ``invalid_topic_template`` over an EventError;
    None when the template names a key the capsule lacks), ``value`` (the serialized capsule or
    EventError) and ``message``; then one string column per name in ``valid_templates`` /
    ``invalid_templates`` (more ``str.format`` templates, e.g. the topics and keys of further
    writers), rendered over valid capsules / EventErrors respectively.

    Args:
        df: a DataFrame with a string column ``raw_column`` (one raw line per row).
        schemas: the EventLogging schemas (broadcast once to the executors).
        log_format: the EventLogging format string (``--format``).
        topic_template: topic of valid events.
        invalid_topic_template: topic of EventErrors (default ``topic_template``, which gives
            ``eventlogging_EventError`` with ``eventlogging_{schema}``).
        valid_templates: extra columns rendered over valid capsules.
        invalid_templates: extra columns rendered over EventErrors.
        hostname: EventError ``recvFrom`` (default: each executor's FQDN).
        raw_column: the column of raw lines.
        drop: columns left out of the result inside the Python worker (e.g. ``raw`` and
            ``message`` when only the serialized events are needed), which spares sending
            them back to the JVM.
    """
    if raw_column not in df.columns:
        raise ValueError(f"expected a column {raw_column!r} of raw lines, found {df.columns}")
    valid_templates = dict(valid_templates or {})
    invalid_templates = dict(invalid_templates or {})
    extra = sorted(set(valid_templates) | set(invalid_templates))
    clash = [n for n in extra if n in df.columns or n in {f.name for f in OUTPUT_SCHEMA_FIELDS}]
    if clash:
        raise ValueError(f"template column names {clash} clash with existing columns")
    # Fail on the driver, not in every task, when the format or a template is bad.
    Processor(log_format, schemas, topic_template=topic_template, hostname="driver")

    spark = df.sparkSession
    repository = spark.sparkContext.broadcast(schemas)
    token = uuid.uuid4().hex
    settings = (log_format, topic_template, invalid_topic_template, hostname)
    fields = list(df.schema.fields)
    for f in OUTPUT_SCHEMA_FIELDS:
        fields.append(StructField(f.name, LongType() if str(f.type) == "int64" else StringType()))
    fields += [StructField(n, StringType()) for n in extra]
    unknown = [c for c in drop if c not in {f.name for f in fields}]
    if unknown:
        raise ValueError(f"cannot drop {unknown}: not among {[f.name for f in fields]}")
    fields = [f for f in fields if f.name not in drop]
    keep = [f.name for f in fields]
    out_schema = StructType(fields)

    def run(batches: Iterable[pa.RecordBatch]) -> Iterator[pa.RecordBatch]:
        proc = _processor_for(token, repository, settings)
        # EventError uuids from the line and its place: partition and row number within it
        # (the same for the same input and split settings, retried tasks included).
        ctx = TaskContext.get()
        origin = f"p{ctx.partitionId()}" if ctx is not None else "p"
        row = 0
        for batch in batches:
            out = process_batch(batch, proc, raw_column=raw_column, origin=origin, first_row=row)
            row += batch.num_rows
            if extra:
                out = _add_template_columns(out, valid_templates, invalid_templates, extra)
            if drop:
                out = out.select(keep)
            yield out

    return df.mapInArrow(run, out_schema)


def mark_disabled(df: DataFrame, *, schemas: Sequence[str]) -> DataFrame:
    """Set ``kind`` to ``disabled`` on the valid events whose ``schema`` is one of ``schemas``.

    As the production processor's output filter, only valid capsules are concerned: an invalid
    event of a disabled schema stays an EventError (whose capsule schema is ``EventError``).
    Names match exactly (case-sensitive), as the filter's ``in`` test did.
    """
    if not schemas:
        return df
    disabled = (F.col("kind") == "valid") & F.col("schema").isin(sorted(set(schemas)))
    return df.withColumn("kind", F.when(disabled, F.lit("disabled")).otherwise(F.col("kind")))


def count_outcomes(df: DataFrame, *, route_columns: Sequence[str] = ("topic",)) -> DataFrame:
    """Rows per ``hour, schema, kind`` and routing columns (few rows: collect them)."""
    return df.groupBy("hour", "schema", "kind", *route_columns).count()


def account(df: DataFrame) -> DataFrame:
    """Per ``hour, schema``: ``read``, ``valid``, ``validation``, ``processor``, ``disabled``
    and ``unroutable`` (valid or invalid events whose topic is null) of a processed frame."""

    def n(cond: Any) -> Any:
        return F.sum(F.when(cond, 1).otherwise(0)).cast("long")

    return (
        df.groupBy("hour", "schema")
        .agg(
            F.count(F.lit(1)).alias("read"),
            *(n(F.col("kind") == k).alias(k) for k in KINDS),
            n(F.col("topic").isNull() & (F.col("kind") != "disabled")).alias("unroutable"),
        )
        .orderBy("hour", "schema")
    )


# ------------------------------------------------------------------------- account (pure)


@dataclass
class Writer:
    """What the account needs to know of one writer."""

    name: str
    """How the writer is shown (its URI)."""
    topic_column: str
    takes_valid: bool
    takes_invalid: bool
    blacklisted: frozenset[str] = frozenset()
    """Schema names (capsule ``schema``: ``EventError`` for invalid events) not written."""
    rejected_topics: frozenset[str] = frozenset()
    """Topics the writer may not write to (``--topics_regex``): their events are not written."""


@dataclass
class AccountRow:
    """One hour × schema of the account."""

    hour: str
    schema: str
    read: int = 0
    valid: int = 0
    validation: int = 0
    processor: int = 0
    disabled: int = 0
    """Valid events of a disabled schema (never written)."""
    unroutable: int = 0
    blacklisted: int = 0
    rejected: int = 0
    """Events routed to a topic their writer may not write to (never written)."""
    written: dict[str, int] = field(default_factory=dict)
    """Events written, by ``<writer> <topic>``."""

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready view."""
        return {
            "hour": self.hour,
            "schema": self.schema,
            "read": self.read,
            "valid": self.valid,
            "validation": self.validation,
            "processor": self.processor,
            "disabled": self.disabled,
            "unroutable": self.unroutable,
            "blacklisted": self.blacklisted,
            "rejected": self.rejected,
            "written": dict(sorted(self.written.items())),
        }


def summarize(
    counts: Sequence[Mapping[str, Any]], writers: Sequence[Writer]
) -> tuple[list[AccountRow], dict[tuple[str, str], int]]:
    """Account rows per hour × schema from :func:`count_outcomes` rows.

    Events of kind ``disabled`` are only counted: no writer takes them. For each writer, an
    event it takes (valid and/or invalid) is ``unroutable`` when its topic
    column is null, ``blacklisted`` when its capsule schema is in the writer's blacklist,
    ``rejected`` when its topic is one the writer may not write to, else expected to be
    written to its topic. Returns the rows (sorted) and the expected counts per
    ``(writer name, topic)``, to compare with what the writers report.
    """
    rows: dict[tuple[str, str], AccountRow] = {}
    expected: dict[tuple[str, str], int] = {}
    for c in counts:
        key = (c["hour"], c["schema"])
        row = rows.setdefault(key, AccountRow(hour=c["hour"], schema=c["schema"]))
        n = int(c["count"])
        kind = c["kind"]
        row.read += n
        if kind not in KINDS:
            raise ValueError(f"unexpected kind {kind!r}; expected one of {KINDS}")
        setattr(row, kind, getattr(row, kind) + n)
        if kind == "disabled":
            continue
        for w in writers:
            takes = w.takes_valid if kind == "valid" else w.takes_invalid
            if not takes:
                continue
            capsule_schema = c["schema"] if kind == "valid" else "EventError"
            topic = c[w.topic_column]
            if topic is None:
                row.unroutable += n
            elif capsule_schema in w.blacklisted:
                row.blacklisted += n
            elif topic in w.rejected_topics:
                row.rejected += n
            else:
                label = f"{w.name} {topic}"
                row.written[label] = row.written.get(label, 0) + n
                expected[(w.name, topic)] = expected.get((w.name, topic), 0) + n
    return [rows[k] for k in sorted(rows)], expected
