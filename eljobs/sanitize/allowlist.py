"""Sanitization allowlists: loading, key normalization and structural validation.

An allowlist is a YAML mapping ``table -> entry``; an entry is a tag (``keep``, ``hash``,
``keep_all``) or a nested mapping ``field -> entry``. The optional top-level ``__defaults__``
mapping is merged into every table given as a mapping (see :mod:`eljobs.sanitize.mask`).

Loading rules, checked here once for the whole file:

* YAML 1.1 (PyYAML, like SnakeYAML). The root must be a mapping.
* Every key at every level is normalized (:func:`eljobs.naming.normalize_name`). Two keys of one
  mapping that normalize to the same name are rejected (the reference keeps an undefined one).
  Non-string keys (YAML 1.1 reads ``on:``/``yes:`` as booleans, ``123:`` as a number) are
  rejected too.
* A leaf must be ``keep``, ``hash`` or ``keep_all``; ``keep_all`` only when ``keep_all_enabled``.
  A null leaf (``field:`` with nothing) and any other scalar or a list is an error.
* ``__defaults__`` must be a mapping (eljobs decision: the reference would fail on a tag there
  later with a cast error).

Type checks (a ``hash`` on a number, ``keep`` on a struct...) need the table schema and happen
per table when the mask is compiled, so one bad entry fails only that table.

Every error is an :class:`AllowlistError` (a ``ValueError``) whose message carries the
reference wording, the table and the full field path, and the allowlist source.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from eljobs.io.fs import filesystem
from eljobs.naming import normalize_name

KEEP = "keep"
HASH = "hash"
KEEP_ALL = "keep_all"
TAGS = (KEEP, HASH, KEEP_ALL)
DEFAULTS_KEY = "__defaults__"

#: A normalized allowlist node: a tag or a mapping of normalized keys to nodes.
Node = str | Mapping[str, "Node"]


class AllowlistError(ValueError):
    """The allowlist (or one table's entry checked against its schema) is invalid.

    Attributes:
        table: the normalized table name, when known.
        path: the dotted field path inside the table, when known.
        source: where the allowlist came from (a path, or ``<mapping>``).
    """

    def __init__(
        self,
        message: str,
        *,
        table: str | None = None,
        path: str | None = None,
        source: str | None = None,
    ) -> None:
        self.table = table
        self.path = path
        self.source = source
        where = []
        if table is not None:
            where.append(f"table `{table}`")
        if path:
            where.append(f"field `{path}`")
        if source:
            where.append(f"allowlist {source}")
        super().__init__(message + (f" [{', '.join(where)}]" if where else ""))


@dataclass(frozen=True)
class Allowlist:
    """A loaded, normalized allowlist.

    Attributes:
        tables: normalized table name -> entry (a tag or a mapping); ``__defaults__`` excluded.
        defaults: the ``__defaults__`` mapping, or None.
        keep_all_enabled: whether ``keep_all`` was allowed when loading.
        source: where it came from, for messages.
    """

    tables: Mapping[str, Node]
    defaults: Mapping[str, Node] | None = None
    keep_all_enabled: bool = False
    source: str = "<mapping>"
    _keys: tuple[str, ...] = field(default=(), repr=False)

    def keys(self) -> tuple[str, ...]:
        """Normalized top-level keys in file order, ``__defaults__`` included when present."""
        return self._keys

    def include_regex(self) -> str:
        """``^(k1|k2|...)$`` from the top-level keys (``__defaults__`` included)."""
        return "^(" + "|".join(self._keys) + ")$"

    def entry(self, table: str) -> Node | None:
        """The entry of ``table`` (normalized before lookup), or None when absent."""
        return self.tables.get(normalize_name(table))

    def __iter__(self) -> Iterator[str]:
        return iter(self.tables)


def load_allowlist(
    source: str | Path | Mapping[str, Any] | Allowlist, *, keep_all_enabled: bool = False
) -> Allowlist:
    """Load and validate an allowlist.

    Args:
        source: a path (:mod:`eljobs.io.fs` rules: a bare path is on Hadoop's default file
            system, as the Scala sanitizer reads ``allowlist_path``; ``file://`` and
            ``hdfs://`` are explicit), a mapping
            already parsed (e.g. from YAML in a notebook), or an :class:`Allowlist` (returned
            re-validated against ``keep_all_enabled``).
        keep_all_enabled: allow the ``keep_all`` tag anywhere.

    Returns:
        The normalized :class:`Allowlist`.

    Raises:
        AllowlistError: invalid YAML, root not a mapping, a null or unknown tag, ``keep_all``
            while disabled, colliding or non-string keys. The message names the table, the full
            field path and the source.
        OSError: the file cannot be read.
    """
    if isinstance(source, Allowlist):
        raw: Any = _denormalized(source)
        name = source.source
    elif isinstance(source, Mapping):
        raw, name = source, "<mapping>"
    else:
        # a pathlib.Path is a local file whatever the default file system is
        name = f"file:{source.absolute()}" if isinstance(source, Path) else str(source)
        text = filesystem().read_text(name)
        try:
            raw = yaml.safe_load(text)
        except yaml.YAMLError as e:
            raise AllowlistError(f"Allowlist is not valid YAML: {e}", source=name) from None
    return _build(raw, keep_all_enabled=keep_all_enabled, source=name)


def _denormalized(a: Allowlist) -> dict[str, Any]:
    out: dict[str, Any] = dict(a.tables)
    if a.defaults is not None:
        out[DEFAULTS_KEY] = a.defaults
    return out


def _build(raw: Any, *, keep_all_enabled: bool, source: str) -> Allowlist:
    if not isinstance(raw, Mapping):
        raise AllowlistError(
            "Allowlist object can not be cast to Map[String, Any]. "
            f"Expected a mapping of table names at the root, found {_describe(raw)}.",
            source=source,
        )
    tables: dict[str, Node] = {}
    defaults: Mapping[str, Node] | None = None
    keys: list[str] = []
    originals: dict[str, str] = {}
    for key, value in raw.items():
        norm = _norm_key(key, table=None, parent="", source=source)
        if norm in originals:
            raise AllowlistError(
                f"Allowlist keys {originals[norm]!r} and {key!r} both normalize to {norm!r}; "
                "keep only one of them.",
                table=norm,
                source=source,
            )
        originals[norm] = str(key)
        keys.append(norm)
        if norm == DEFAULTS_KEY:
            if not isinstance(value, Mapping):
                raise AllowlistError(
                    "Allowlist object can not be cast to Map[String, Any]. "
                    f"__defaults__ must be a mapping of fields, found {_describe(value)}.",
                    table=DEFAULTS_KEY,
                    source=source,
                )
            node = _node(
                value, table=DEFAULTS_KEY, path="", key=str(key), ctx=(keep_all_enabled, source)
            )
            assert isinstance(node, Mapping)
            defaults = node
        else:
            tables[norm] = _node(
                value, table=norm, path="", key=str(key), ctx=(keep_all_enabled, source)
            )
    return Allowlist(
        tables=tables,
        defaults=defaults,
        keep_all_enabled=keep_all_enabled,
        source=source,
        _keys=tuple(keys),
    )


def _norm_key(key: Any, *, table: str | None, parent: str, source: str) -> str:
    if not isinstance(key, str):
        raise AllowlistError(
            f"Allowlist keys must be strings, found {_describe(key)} (YAML 1.1 reads on/off/"
            "yes/no as booleans and digits as numbers: quote such keys).",
            table=table,
            path=parent or None,
            source=source,
        )
    return normalize_name(key)


def _node(value: Any, *, table: str, path: str, key: str, ctx: tuple[bool, str]) -> Node:
    keep_all_enabled, source = ctx
    where = path or None
    if value is None:
        raise AllowlistError(
            f"'null' tag is not a sanitization tag. ({key}: null)",
            table=table,
            path=where,
            source=source,
        )
    if isinstance(value, str) and value in TAGS:
        if value == KEEP_ALL and not keep_all_enabled:
            raise AllowlistError(
                f"'keep_all' tag is not permitted in sanitization allowlist. ({key}: keep_all)",
                table=table,
                path=where,
                source=source,
            )
        return value
    if not isinstance(value, Mapping):
        raise AllowlistError(
            "Allowlist object can not be cast to Map[String, Any]. "
            f"Expected one of keep, hash, keep_all or a nested mapping for {key!r}, "
            f"found {_describe(value)}.",
            table=table,
            path=where,
            source=source,
        )
    out: dict[str, Node] = {}
    originals: dict[str, str] = {}
    for k, v in value.items():
        norm = _norm_key(k, table=table, parent=path, source=source)
        child_path = f"{path}.{k}" if path else str(k)
        if norm in originals:
            raise AllowlistError(
                f"Allowlist keys {originals[norm]!r} and {k!r} both normalize to {norm!r}; "
                "keep only one of them.",
                table=table,
                path=child_path,
                source=source,
            )
        originals[norm] = str(k)
        out[norm] = _node(v, table=table, path=child_path, key=str(k), ctx=ctx)
    return out


def _describe(value: Any) -> str:
    if isinstance(value, Mapping):
        return "a mapping"
    if isinstance(value, list):
        return "a list"
    text = repr(value)
    if len(text) > 60:
        text = text[:57] + "..."
    return f"{type(value).__name__} {text}"


def render(node: Node | None) -> str:
    """A short text form of an allowlist node for messages (``keep``, ``{a: keep}``)."""
    if node is None:
        return "null"
    if isinstance(node, str):
        return node
    return "{" + ", ".join(f"{k}: {render(v)}" for k, v in node.items()) + "}"
