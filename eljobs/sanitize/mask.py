"""The sanitization mask: an allowlist entry compiled against a table schema, merged with
``__defaults__``, and applied as native Spark expressions.

Compilation happens on the driver from the schema alone, so every invalid combination is raised
(as an :class:`~eljobs.sanitize.allowlist.AllowlistError` naming table and field path) before
any data is read. The mask is a tree of nodes:

* :data:`NULLIFY` – not allowlisted: NULL; a non-NULL map becomes an empty map; a
  non-nullable non-map field is an error ("Field '<name>' needs to be nullified but is not
  nullable.");
* :data:`KEEP` – the value as is (``keep``, or ``keep_all`` on a struct or map);
* :data:`HASH` – HMAC-SHA256 of a string with the partition's salt;
* :class:`StructMask` – struct field name → node (absent fields are nullified); a NULL struct
  stays NULL;
* :class:`MapMask` – lower-cased map key → node; entries whose lower-cased key is not listed
  are removed, listed ones keep their original key and get their value sanitized; a NULL map
  stays NULL.

Rules (field type × allowlist value), lookup by the field name lower-cased:

==========================  ================================  ==============================
field type                  value                             result
==========================  ================================  ==============================
any                         absent                            NULLIFY
struct / map                keep_all                          KEEP
struct                      mapping                           StructMask
map<string, V>              mapping                           MapMask (per-key rules below)
struct / map                keep / hash                       "Invalid allowlist value <v>
                                                              for nested field <DDL>"
string                      keep / hash                       KEEP / HASH (hash needs a salt:
                                                              "Salt must be defined ...")
other simple types, arrays  keep                              KEEP
non-string simple           hash                              "Invalid allowlist value hash
                                                              for field <DDL>"
simple                      keep_all / mapping                "Invalid allowlist value <v>
                                                              for field <DDL>"
==========================  ================================  ==============================

Map values V struct/map accept ``keep_all`` or a mapping per key ("Invalid allowlist value for
map key '<k>'. Value found '<v>'." otherwise); other V accept ``keep`` and, for strings with a
salt, ``hash`` ("Invalid salt or allowlist value for map key '<k>'. Value found '<v>'.").

Top-level partition columns (exact name match) are always kept. ``defaults.merge(table)``: a
NULLIFY table node takes the defaults node; two struct masks merge field by field; two map masks
take the union of keys (a key in both: two map masks merge, else the table's node wins);
otherwise the table node wins.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, TypeGuard

from eljobs.sanitize.allowlist import (
    HASH,
    KEEP,
    KEEP_ALL,
    Allowlist,
    AllowlistError,
    Node,
    render,
)

if TYPE_CHECKING:
    from pyspark.sql import Column, DataFrame
    from pyspark.sql.types import (
        ArrayType,
        DataType,
        MapType,
        StringType,
        StructField,
        StructType,
    )


class _Leaf:
    __slots__ = ("name",)

    def __init__(self, name: str) -> None:
        self.name = name

    def __repr__(self) -> str:
        return self.name


NULLIFY = _Leaf("NULLIFY")
KEEP_NODE = _Leaf("KEEP")
HASH_NODE = _Leaf("HASH")


@dataclass(frozen=True)
class StructMask:
    """Struct field name (as in the schema) → node; fields not listed are nullified."""

    fields: Mapping[str, MaskNode]


@dataclass(frozen=True)
class MapMask:
    """Lower-cased map key → node for the value; keys not listed are removed."""

    keys: Mapping[str, MaskNode]


MaskNode = _Leaf | StructMask | MapMask


@dataclass(frozen=True)
class TableMask:
    """The compiled mask of one table and partition.

    Attributes:
        kind: ``drop_rows`` (table absent: empty frame), ``keep_all`` (frame unchanged) or
            ``mask`` (apply ``root``).
        root: the top-level struct mask (partition columns included as KEEP).
        uses_hash: whether any node hashes (needs a salt).
    """

    kind: str
    root: StructMask | None = None
    uses_hash: bool = False


# --------------------------------------------------------------------------------------------
# DDL strings for messages (Spark's StructField.toDDL style)


def _type_ddl(dt: DataType) -> str:
    if _is_struct(dt):
        return "STRUCT<" + ", ".join(f"{_q(f.name)}: {_type_ddl(f.dataType)}" for f in dt) + ">"
    if _is_array(dt):
        return f"ARRAY<{_type_ddl(dt.elementType)}>"
    if _is_map(dt):
        return f"MAP<{_type_ddl(dt.keyType)}, {_type_ddl(dt.valueType)}>"
    return dt.simpleString().upper()


def _q(name: str) -> str:
    return "`" + name.replace("`", "``") + "`"


def field_ddl(f: StructField) -> str:
    """```name` TYPE`` (plus `` NOT NULL``) as in the reference's messages."""
    return f"{_q(f.name)} {_type_ddl(f.dataType)}" + ("" if f.nullable else " NOT NULL")


# --------------------------------------------------------------------------------------------
# Compilation


@dataclass(frozen=True)
class _Ctx:
    table: str
    source: str
    has_salt: bool
    no_salt_reason: str | None = None
    """Why there is no salt when salts were loaded but none covers the partition."""

    def error(self, message: str, path: str) -> AllowlistError:
        return AllowlistError(message, table=self.table, path=path, source=self.source)


# Types are told by Spark's type names (StructType, MapType, StringType, ArrayType have no
# subclasses, so this is isinstance): compiling a mask needs no pyspark import (see below).


def _is_struct(dt: DataType) -> TypeGuard[StructType]:
    return dt.typeName() == "struct"


def _is_map(dt: DataType) -> TypeGuard[MapType]:
    return dt.typeName() == "map"


def _is_array(dt: DataType) -> TypeGuard[ArrayType]:
    return dt.typeName() == "array"


def _is_string(dt: DataType) -> TypeGuard[StringType]:
    return dt.typeName() == "string"


def _compile_struct(
    schema: StructType,
    entry: Mapping[str, Node],
    path: str,
    ctx: _Ctx,
    keep: Sequence[str] = (),
) -> StructMask:
    out: dict[str, MaskNode] = {}
    for f in schema.fields:
        if f.name in keep:
            # Top-level partition columns: kept whatever the allowlist says (not even checked).
            out[f.name] = KEEP_NODE
            continue
        value = entry.get(f.name.lower())
        child_path = f"{path}.{f.name}" if path else f.name
        out[f.name] = _compile_field(f, value, child_path, ctx)
    return StructMask(out)


def _compile_field(f: StructField, value: Node | None, path: str, ctx: _Ctx) -> MaskNode:
    dt = f.dataType
    if value is None:
        return NULLIFY
    if _is_struct(dt) or _is_map(dt):
        if value == KEEP_ALL:
            return KEEP_NODE
        if isinstance(value, Mapping):
            if _is_struct(dt):
                return _compile_struct(dt, value, path, ctx)
            return _compile_map(dt, value, path, ctx)
        raise ctx.error(
            f"Invalid allowlist value {render(value)} for nested field {field_ddl(f)}", path
        )
    if value == KEEP:
        return KEEP_NODE
    if value == HASH:
        if not _is_string(dt):
            raise ctx.error(f"Invalid allowlist value hash for field {field_ddl(f)}", path)
        if not ctx.has_salt:
            if ctx.no_salt_reason:
                # Salts exist but cover other periods: say so, "must be defined" would send
                # the operator looking for a missing salts_path.
                raise ctx.error(
                    f"{ctx.no_salt_reason}; cannot use allowlist value hash for field "
                    f"{field_ddl(f)}",
                    path,
                )
            raise ctx.error(
                f"Salt must be defined in order to use allowlist value hash for field "
                f"{field_ddl(f)}",
                path,
            )
        return HASH_NODE
    raise ctx.error(f"Invalid allowlist value {render(value)} for field {field_ddl(f)}", path)


def _compile_map(dt: Any, entry: Mapping[str, Node], path: str, ctx: _Ctx) -> MapMask:
    if not _is_string(dt.keyType):
        raise ctx.error(
            f"Invalid allowlist value {render(entry)} for map with {_type_ddl(dt.keyType)} keys "
            f"{_type_ddl(dt)}: only map<string, ...> keys can be allowlisted",
            path,
        )
    vt = dt.valueType
    out: dict[str, MaskNode] = {}
    for key, value in entry.items():
        key_path = f"{path}[{key}]"
        if _is_struct(vt) or _is_map(vt):
            if value == KEEP_ALL:
                out[key] = KEEP_NODE
            elif isinstance(value, Mapping):
                out[key] = (
                    _compile_struct(vt, value, key_path, ctx)
                    if _is_struct(vt)
                    else _compile_map(vt, value, key_path, ctx)
                )
            else:
                raise ctx.error(
                    f"Invalid allowlist value for map key '{key}'. Value found '{render(value)}'.",
                    key_path,
                )
        elif value == KEEP:
            out[key] = KEEP_NODE
        elif value == HASH and _is_string(vt) and ctx.has_salt:
            out[key] = HASH_NODE
        elif value == HASH and _is_string(vt) and ctx.no_salt_reason:
            raise ctx.error(
                f"{ctx.no_salt_reason}; cannot use allowlist value hash for map key '{key}'",
                key_path,
            )
        else:
            raise ctx.error(
                f"Invalid salt or allowlist value for map key '{key}'. "
                f"Value found '{render(value)}'.",
                key_path,
            )
    return MapMask(out)


def merge(defaults: MaskNode, table: MaskNode) -> MaskNode:
    """``defaults.merge(table)`` node by node."""
    if table is NULLIFY:
        return defaults
    if isinstance(defaults, StructMask) and isinstance(table, StructMask):
        names = list(table.fields) + [n for n in defaults.fields if n not in table.fields]
        return StructMask(
            {n: merge(defaults.fields.get(n, NULLIFY), table.fields.get(n, NULLIFY)) for n in names}
        )
    if isinstance(defaults, MapMask) and isinstance(table, MapMask):
        keys: dict[str, MaskNode] = dict(defaults.keys)
        for k, t in table.keys.items():
            d = keys.get(k)
            keys[k] = merge(d, t) if isinstance(d, MapMask) and isinstance(t, MapMask) else t
        return MapMask(keys)
    return table


def _uses_hash(node: MaskNode) -> bool:
    if node is HASH_NODE:
        return True
    if isinstance(node, StructMask):
        return any(_uses_hash(n) for n in node.fields.values())
    if isinstance(node, MapMask):
        return any(_uses_hash(n) for n in node.keys.values())
    return False


def compile_table_mask(
    allowlist: Allowlist,
    schema: StructType,
    *,
    table: str,
    partition_keys: Sequence[str],
    has_salt: bool,
    no_salt_reason: str | None = None,
) -> TableMask:
    """Compile the mask of ``table`` (already normalized) for a frame of ``schema``.

    ``no_salt_reason`` (without a salt) says why none applies when salts were loaded but
    cover other periods (:func:`~eljobs.sanitize.salts.missing_salt_reason`); a ``hash``
    field then fails with it instead of "Salt must be defined".

    Raises:
        AllowlistError: an entry does not fit the schema, ``hash`` without a salt, a table
            entry ``keep``/``hash`` (message names table and field path).
    """
    entry = allowlist.tables.get(table)
    ctx = _Ctx(
        table=table, source=allowlist.source, has_salt=has_salt, no_salt_reason=no_salt_reason
    )
    if entry is None:
        return TableMask("drop_rows")
    if entry == KEEP_ALL:
        return TableMask("keep_all")
    if not isinstance(entry, Mapping):
        raise AllowlistError(
            f"Invalid allowlist value for table `{table}`.", table=table, source=allowlist.source
        )
    keep = list(partition_keys)
    root: MaskNode = _compile_struct(schema, entry, "", ctx, keep)
    if allowlist.defaults is not None:
        defaults = _compile_struct(schema, allowlist.defaults, "", ctx, keep)
        root = merge(defaults, root)
    assert isinstance(root, StructMask)
    fields = dict(root.fields)
    # Keep the schema's column order (merge may reorder).
    ordered = StructMask({f.name: fields.get(f.name, NULLIFY) for f in schema.fields})
    _check_nullable(ordered, schema, "", ctx)
    return TableMask("mask", ordered, _uses_hash(ordered))


def _check_nullable(node: MaskNode, dt: DataType, path: str, ctx: _Ctx) -> None:
    # Runs after the merge: a field nullified by the merged mask must accept NULL (maps become
    # empty maps instead, so they are exempt).
    if isinstance(node, StructMask):
        for f in dt.fields:  # type: ignore[attr-defined]
            child = node.fields.get(f.name, NULLIFY)
            child_path = f"{path}.{f.name}" if path else f.name
            if child is NULLIFY and not f.nullable and not _is_map(f.dataType):
                raise ctx.error(
                    f"Field '{f.name}' needs to be nullified but is not nullable.", child_path
                )
            _check_nullable(child, f.dataType, child_path, ctx)
    elif isinstance(node, MapMask):
        for k, child in node.keys.items():
            _check_nullable(child, dt.valueType, f"{path}[{k}]", ctx)  # type: ignore[attr-defined]


# --------------------------------------------------------------------------------------------
# Application (native Spark expressions)
#
# pyspark and the hashing columns are imported inside these functions: eljobs.sanitize is also
# imported by ``salts rotate``, which runs on a local directory without Spark.


#: ``(K ⊕ ipad, K ⊕ opad)`` as binary columns.
Keys = tuple["Column", "Column"]


def _expr(node: MaskNode, col: Column, dt: DataType, nullable: bool, salt: Keys | None) -> Column:
    from pyspark.sql import functions as F

    from eljobs.sanitize.hashing import hmac_from_padded_keys

    if node is KEEP_NODE:
        return col
    if node is NULLIFY:
        if _is_map(dt):
            # NULL stays NULL, anything else becomes an empty map of the same type.
            return F.map_filter(col, lambda _k, _v: F.lit(False))
        return F.lit(None).cast(dt)
    if node is HASH_NODE:
        assert salt is not None
        return hmac_from_padded_keys(col, *salt)
    if isinstance(node, StructMask):
        if all(n is KEEP_NODE for n in node.fields.values()):
            return col
        parts = [
            _expr(
                node.fields.get(f.name, NULLIFY), col.getField(f.name), f.dataType, f.nullable, salt
            ).alias(f.name)
            for f in dt.fields  # type: ignore[attr-defined]
        ]
        rebuilt = F.struct(*parts)
        null = F.lit(None).cast(dt)
        return F.when(col.isNull(), null).otherwise(rebuilt) if nullable else rebuilt
    if isinstance(node, MapMask):
        keys = list(node.keys)
        kept = F.map_filter(col, lambda k, _v: F.lower(k).isin(keys))
        changed = [(k, n) for k, n in node.keys.items() if n is not KEEP_NODE]
        if not changed:
            return kept
        vt = dt.valueType  # type: ignore[attr-defined]
        vnull = dt.valueContainsNull  # type: ignore[attr-defined]

        def value(k: Column, v: Column) -> Column:
            out: Any = None
            for key, n in changed:
                branch = _expr(n, v, vt, vnull, salt)
                cond = F.lower(k) == F.lit(key)
                out = F.when(cond, branch) if out is None else out.when(cond, branch)
            return out.otherwise(v)

        return F.transform_values(kept, value)
    raise TypeError(f"unknown mask node {node!r}")


def apply_table_mask(df: DataFrame, mask: TableMask, *, salt: str | None) -> DataFrame:
    """Apply a compiled mask: every column present, in the same order, masked.

    Transform (DataFrame → DataFrame); builds expressions only, reads nothing. When the mask
    hashes, the padded keys come from a one-row frame cross-joined by broadcast
    (:func:`~eljobs.sanitize.hashing.key_frame`), so they never appear in a query plan.
    """
    from pyspark.sql import functions as F

    from eljobs.sanitize.hashing import key_frame

    if mask.kind == "keep_all":
        return df
    if mask.kind == "drop_rows":
        return df.where(F.lit(False))
    assert mask.root is not None
    keys: Keys | None = None
    base = df
    if mask.uses_hash:
        if salt is None:
            raise ValueError("the mask hashes fields but no salt was given")
        kdf, ipad, opad = key_frame(df.sparkSession, salt)
        base = df.crossJoin(F.broadcast(kdf))
        keys = (F.col(ipad), F.col(opad))
    cols = []
    for f in df.schema.fields:
        node = mask.root.fields.get(f.name, NULLIFY)
        c = F.col(_q(f.name))
        cols.append(_expr(node, c, f.dataType, f.nullable, keys).alias(f.name))
    return base.select(*cols)
