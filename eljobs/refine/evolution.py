"""Refine's schema algebra, with no Spark session: merging a frame's schema into a table's,
planning the evolution of an existing table, and predicting the table schema a target will
leave (see docs/differences.md, "Schema evolution").

Everything here is a pure function of :class:`~pyspark.sql.types.StructType` values, so it is
shared by every table format (the Hive writer in :mod:`eljobs.refine.hive_table` and any
other :class:`~eljobs.refine.table_writer.TableWriter`) and tested without a JVM.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

from pyspark.sql.types import ArrayType, DataType, MapType, StructField, StructType

from eljobs.refine.schema import make_nullable


@dataclass
class MergeResult:
    """A merged schema and the warnings about kept table types."""

    schema: StructType
    warnings: list[str] = field(default_factory=list)


def merge_schemas(table: StructType, frame: StructType) -> MergeResult:
    """Merge ``frame`` into ``table``: table fields first (their types kept on conflicts),
    then new fields in frame order. Top-level names compare case-insensitively; nested struct
    names case-sensitively. Struct/struct merge recursively; array/array merge elements;
    map/map merge keys and values; any other conflict keeps the table type with a warning."""
    warnings: list[str] = []
    return MergeResult(_merge_struct(table, frame, "", True, warnings), warnings)


def _merge_struct(
    a: StructType, b: StructType, where: str, top: bool, warnings: list[str]
) -> StructType:
    def key(n: str) -> str:
        return n.lower() if top else n

    b_by = {key(f.name): f for f in b.fields}
    out: list[StructField] = []
    seen = set()
    for fa in a.fields:
        k = key(fa.name)
        seen.add(k)
        fb = b_by.get(k)
        path = f"{where}.{fa.name}" if where else fa.name
        dt = fa.dataType if fb is None else _merge_type(fa.dataType, fb.dataType, path, warnings)
        out.append(StructField(fa.name, dt, True))
    for fb in b.fields:
        if key(fb.name) not in seen:
            seen.add(key(fb.name))
            out.append(StructField(fb.name, fb.dataType, True))
    return StructType(out)


def _merge_type(a: DataType, b: DataType, path: str, warnings: list[str]) -> DataType:
    if isinstance(a, StructType) and isinstance(b, StructType):
        return _merge_struct(a, b, path, False, warnings)
    if isinstance(a, ArrayType) and isinstance(b, ArrayType):
        return ArrayType(_merge_type(a.elementType, b.elementType, f"{path}[]", warnings), True)
    if isinstance(a, MapType) and isinstance(b, MapType):
        return MapType(
            _merge_type(a.keyType, b.keyType, f"{path}{{key}}", warnings),
            _merge_type(a.valueType, b.valueType, f"{path}{{}}", warnings),
            True,
        )
    if a != b:
        warnings.append(
            f"field {path}: table type {a.simpleString()} kept, data type "
            f"{b.simpleString()} will be cast to it"
        )
    return a


@dataclass
class EvolutionPlan:
    """What an existing table needs: new top-level columns and widened struct columns (each
    sorted by name), the resulting data schema, and merge warnings."""

    add_columns: list[StructField]
    changed_structs: list[StructField]
    new_data_schema: StructType
    warnings: list[str]

    @property
    def empty(self) -> bool:
        """True when the table needs no change."""
        return not self.add_columns and not self.changed_structs


def plan_evolution(table_data: StructType, frame_data: StructType) -> EvolutionPlan:
    """Compare the table's data columns with the frame's (both without partition columns)."""
    merged = merge_schemas(table_data, frame_data)
    existing = {f.name.lower(): f for f in table_data.fields}
    new_fields = [f for f in merged.schema.fields if f.name.lower() not in existing]
    changed = [
        f
        for f in merged.schema.fields
        if f.name.lower() in existing and f.dataType != existing[f.name.lower()].dataType
    ]
    # Columns are appended sorted by name (parity with the reference's DDL order).
    add_sorted = sorted(new_fields, key=lambda f: f.name)
    data_schema = StructType(
        [f for f in merged.schema.fields if f.name.lower() in existing] + add_sorted
    )
    return EvolutionPlan(
        add_sorted, sorted(changed, key=lambda f: f.name), data_schema, merged.warnings
    )


def data_fields(schema: StructType, keys: Sequence[str]) -> list[StructField]:
    """The fields of ``schema`` that are not partition keys (compared case-insensitively)."""
    lower_keys = {k.lower() for k in keys}
    return [f for f in schema.fields if f.name.lower() not in lower_keys]


def frame_partition_fields(frame_schema: StructType, keys: Sequence[str]) -> list[StructField]:
    """The partition columns a new table gets: ``keys`` in order, typed as in the frame."""
    by_lower = {f.name.lower(): f for f in frame_schema.fields}
    return [StructField(k, by_lower[k.lower()].dataType, True) for k in keys]


def planned_table_schema(
    keys: Sequence[str], frame_schema: StructType, existing: StructType | None
) -> StructType:
    """The table schema creating or evolving a table for ``frame_schema`` will leave, computed
    without a catalog: data columns (the table's, then new ones sorted by name, structs
    widened; or the frame's for a new table) then the partition columns ``keys``, every field
    nullable.

    Lets Refine conform and write a partition before any DDL, so a target that fails (corrupt
    records, a write error) changes no table. :func:`same_columns` checks the guess afterwards.
    """
    frame_data = data_fields(frame_schema, keys)
    if existing is None:
        parts = frame_partition_fields(frame_schema, keys)
        data = frame_data
    else:
        lower_keys = {k.lower() for k in keys}
        parts = [f for f in existing.fields if f.name.lower() in lower_keys]
        current = StructType(data_fields(existing, keys))
        data = plan_evolution(current, StructType(frame_data)).new_data_schema.fields
    planned = make_nullable(StructType([*data, *parts]))
    assert isinstance(planned, StructType)
    return planned


def same_columns(a: StructType, b: StructType) -> bool:
    """Same column names (top level compared case-insensitively, as Hive does) and types
    (nested names exactly), in the same order; nullability ignored."""

    def shape(s: StructType) -> list[tuple[str, str]]:
        return [(f.name.lower(), f.dataType.simpleString()) for f in s.fields]

    return shape(a) == shape(b)
