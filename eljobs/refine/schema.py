"""Schemas for reading Refine input: JSON Schema → Spark, and schema repositories.

Conversion rules (:func:`jsonschema_to_spark`), following eventutilities' converter:

* ``integer`` → ``bigint``; ``number`` → ``double``; ``boolean`` → ``boolean``; ``string``
  → ``string`` (``format: date-time`` stays ``string``: timestamps are kept as strings);
* ``object`` with ``properties`` → ``struct`` in property order; ``object`` with only a
  schema in ``additionalProperties`` → ``map<string, V>`` (values nullable); an ``object`` with
  neither → ``map<string, string>`` (eljobs choice: Parquet cannot store an empty struct);
* ``array`` → ``array<items>`` (``array<string>`` without ``items``);
* a ``type`` list such as ``["string", "null"]`` uses its non-null member; no type → string.
* every field is nullable.

Two loaders resolve the schema of a target from its **first event**:

* :class:`EventPlatformSchemaLoader` (``schema_base_uris`` = directories, as bare paths on
  the default file system, ``file://`` or ``hdfs://`` (see :mod:`eljobs.io.fs`), or
  ``http(s)://`` repositories laid out ``<name>/<version>.yaml``): the event's ``$schema``
  (e.g. ``/analytics/legacy/navigationtiming/1.7.0``) names the schema; the **latest**
  version of that name is loaded. A directory repository is searched at ``<base>/<full name>``
  then ``<base>/<last name segment>`` (the flat layout of event-schemas-secondary); an HTTP
  repository cannot be listed, so ``<base>/<name>/latest`` (then ``latest.yaml``, then the
  exact URI) is fetched, as Wikimedia's schema sites serve it.
* :class:`EventLoggingSchemaLoader` (``schema_base_uris=eventlogging``): the event's ``schema``
  field names an EventLogging schema, loaded (latest revision) from the directory
  ``eventlogging_schemas_path`` (eljobs has no meta.wikimedia.org) laid out
  ``<Name>/<revision>.(json|yaml|yml)`` (names compared case-insensitively), or from an Event
  Platform repository of migrated legacy schemas, whose ``properties.event`` is used; it is
  wrapped in the EventLogging capsule (:data:`CAPSULE_FIELDS`).
"""

from __future__ import annotations

import json
import logging
import re
import threading
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from pyspark.sql.types import (
    ArrayType,
    BooleanType,
    DataType,
    DoubleType,
    LongType,
    MapType,
    StringType,
    StructField,
    StructType,
)

from eljobs.eventlogging.schemas import (
    SchemaRepositoryError,
    legacy_event_schema,
    parse_schema_document,
)
from eljobs.io.fs import filesystem, join

if TYPE_CHECKING:
    from eljobs.io.fs import FileSystem

log = logging.getLogger(__name__)


class SchemaLoadError(ValueError):
    """A schema cannot be found, fetched or converted; the message names the URI or file."""


# --------------------------------------------------------------------------------------------
# JSON Schema → Spark


def jsonschema_to_spark(schema: Mapping[str, Any]) -> StructType:
    """Convert an ``object`` JSON Schema to a Spark struct (rules in the module docstring).

    Raises:
        SchemaLoadError: the top level is not an object with properties.
    """
    dt = _convert(schema, "")
    if not isinstance(dt, StructType):
        raise SchemaLoadError(
            f"expected a JSON Schema of type object with properties at the top level, found "
            f"{dt.simpleString()}"
        )
    return dt


def _type_of(node: Mapping[str, Any]) -> str | None:
    t = node.get("type")
    if isinstance(t, list):
        non_null = [x for x in t if x != "null"]
        return str(non_null[0]) if non_null else None
    if t is None and "properties" in node:
        return "object"
    return None if t is None else str(t)


def _convert(node: Any, where: str) -> DataType:
    if not isinstance(node, Mapping):
        return StringType()
    t = _type_of(node)
    if t == "integer":
        return LongType()
    if t == "number":
        return DoubleType()
    if t == "boolean":
        return BooleanType()
    if t == "array":
        items = node.get("items")
        return ArrayType(_convert(items, f"{where}[]") if items else StringType(), True)
    if t == "object":
        props = node.get("properties")
        if isinstance(props, Mapping) and props:
            return StructType(
                [
                    StructField(str(k), _convert(v, f"{where}.{k}" if where else str(k)), True)
                    for k, v in props.items()
                ]
            )
        extra = node.get("additionalProperties")
        if isinstance(extra, Mapping):
            return MapType(StringType(), _convert(extra, f"{where}{{}}"), True)
        return MapType(StringType(), StringType(), True)
    return StringType()


def make_nullable(dt: DataType) -> DataType:
    """The same type with every field, array element and map value nullable."""
    if isinstance(dt, StructType):
        return StructType([StructField(f.name, make_nullable(f.dataType), True) for f in dt])
    if isinstance(dt, ArrayType):
        return ArrayType(make_nullable(dt.elementType), True)
    if isinstance(dt, MapType):
        return MapType(dt.keyType, make_nullable(dt.valueType), True)
    return dt


# --------------------------------------------------------------------------------------------
# Fetching documents


def _is_http(uri: str) -> bool:
    return uri.startswith(("http://", "https://"))


def _fs() -> FileSystem:
    # The loaders run on the driver (the first event of a target names its schema): the
    # active session's Hadoop file system, or plain Python for local paths without one.
    return filesystem()


def _parse_doc(text: str, where: str) -> dict[str, Any]:
    # The one schema parser of eljobs, with Refine's error class.
    try:
        return parse_schema_document(text, where)
    except SchemaRepositoryError as e:
        raise SchemaLoadError(str(e)) from e


def _http_get(url: str) -> str | None:
    try:
        with urllib.request.urlopen(url, timeout=30) as resp:
            return str(resp.read().decode("utf-8"))
    except urllib.error.HTTPError as e:
        if e.code == 404:
            return None
        raise SchemaLoadError(f"schema fetch from {url} failed: {e}") from e
    except (urllib.error.URLError, OSError) as e:
        raise SchemaLoadError(f"schema fetch from {url} failed: {e}") from e


_VERSION = re.compile(r"^\d+(?:\.\d+)*$")


def _version_key(stem: str) -> tuple[int, ...] | None:
    return tuple(int(x) for x in stem.split(".")) if _VERSION.match(stem) else None


def latest_file(fs: FileSystem, directory: str) -> str | None:
    """The schema file with the highest version/revision in ``directory`` (``1.10.0`` beats
    ``1.9.0``; ``123.json`` beats ``45.yaml``), None when there is none or no directory."""
    best: tuple[tuple[int, ...], str] | None = None
    for f in fs.list(directory, missing_ok=True) if fs.is_dir(directory) else []:
        if f.is_dir:
            continue
        stem = f.name
        for ext in (".yaml", ".yml", ".json"):
            if stem.endswith(ext):
                stem = stem[: -len(ext)]
                break
        key = _version_key(stem)
        if key is not None and (best is None or key > best[0]):
            best = (key, f.path)
    return best[1] if best else None


def split_schema_uri(uri: str) -> tuple[str, str | None]:
    """``/analytics/legacy/navigationtiming/1.7.0`` → (``analytics/legacy/navigationtiming``,
    ``1.7.0``); a URI without a version segment gives (path, None)."""
    path = urllib.parse.urlparse(uri).path if "://" in uri else uri
    parts = [p for p in path.strip("/").split("/") if p]
    if parts and (_version_key(parts[-1]) is not None or parts[-1] == "latest"):
        return "/".join(parts[:-1]), parts[-1]
    return "/".join(parts), None


def json_pointer(doc: Any, pointer: str) -> Any:
    """Resolve a JSON pointer (``/$schema``, ``/meta/stream``) in ``doc``; None when absent."""
    if pointer in ("", "/"):
        return doc
    cur = doc
    for raw in pointer.lstrip("/").split("/"):
        key = raw.replace("~1", "/").replace("~0", "~")
        if isinstance(cur, Mapping) and key in cur:
            cur = cur[key]
        elif isinstance(cur, list) and key.isdigit() and int(key) < len(cur):
            cur = cur[int(key)]
        else:
            return None
    return cur


# --------------------------------------------------------------------------------------------
# Loaders


class EventPlatformSchemaLoader:
    """Latest-version JSON Schemas from Event Platform repositories (thread-safe cache)."""

    def __init__(self, base_uris: tuple[str, ...] | list[str], schema_field: str = "/$schema"):
        self.base_uris = [b.rstrip("/") for b in base_uris]
        self.schema_field = schema_field
        self._cache: dict[str, dict[str, Any]] = {}
        self._lock = threading.Lock()

    def load_latest(self, schema_uri: str) -> dict[str, Any]:
        """The latest version of the schema named by ``schema_uri``.

        Raises:
            SchemaLoadError: no repository has it (the message lists where it looked).
        """
        name, version = split_schema_uri(schema_uri)
        with self._lock:
            if name in self._cache:
                return self._cache[name]
        looked: list[str] = []
        for base in self.base_uris:
            doc = self._from_base(base, name, version, looked)
            if doc is not None:
                with self._lock:
                    self._cache[name] = doc
                return doc
        raise SchemaLoadError(
            f"schema {schema_uri!r} not found in schema_base_uris; looked in: {', '.join(looked)}"
        )

    def _from_base(
        self, base: str, name: str, version: str | None, looked: list[str]
    ) -> dict[str, Any] | None:
        if _is_http(base):
            urls = [f"{base}/{name}/latest", f"{base}/{name}/latest.yaml"]
            if version:
                urls += [f"{base}/{name}/{version}", f"{base}/{name}/{version}.yaml"]
            for url in urls:
                looked.append(url)
                text = _http_get(url)
                if text is not None:
                    return _parse_doc(text, url)
            return None
        fs = _fs()
        for d in (join(base, name), join(base, name.rsplit("/", 1)[-1])):
            looked.append(d)
            f = latest_file(fs, d)
            if f is not None:
                return _parse_doc(fs.read_text(f), f)
        return None

    def schema_for_event(self, event: Mapping[str, Any]) -> StructType:
        """The Spark schema for an event, from the URI at ``schema_field``.

        Raises:
            SchemaLoadError: the event has no schema URI, or it cannot be loaded.
        """
        uri = json_pointer(event, self.schema_field)
        if not isinstance(uri, str) or not uri:
            raise SchemaLoadError(
                f"expected a schema URI at {self.schema_field} of the first event, found {uri!r}"
            )
        return jsonschema_to_spark(self.load_latest(uri))


#: The EventLogging capsule around the event schema (eljobs' rendering of the eventutilities
#: capsule; types follow the processor's capsule).
USER_AGENT_STRUCT = StructType(
    [
        StructField("browser_family", StringType()),
        StructField("browser_major", StringType()),
        StructField("browser_minor", StringType()),
        StructField("device_family", StringType()),
        StructField("is_bot", BooleanType()),
        StructField("is_mediawiki", BooleanType()),
        StructField("os_family", StringType()),
        StructField("os_major", StringType()),
        StructField("os_minor", StringType()),
        StructField("wmf_app_version", StringType()),
    ]
)

CAPSULE_FIELDS: tuple[tuple[str, DataType], ...] = (
    ("wiki", StringType()),
    ("webHost", StringType()),
    ("schema", StringType()),
    ("revision", LongType()),
    ("topic", StringType()),
    ("recvFrom", StringType()),
    ("timestamp", DoubleType()),
    ("dt", StringType()),
    ("seqId", LongType()),
    ("uuid", StringType()),
    ("userAgent", USER_AGENT_STRUCT),
    ("ip", StringType()),
)


def capsule_schema(event_schema: StructType) -> StructType:
    """``event`` (the EventLogging event schema) followed by the capsule fields."""
    return StructType(
        [StructField("event", event_schema, True)]
        + [StructField(n, t, True) for n, t in CAPSULE_FIELDS]
    )


class EventLoggingSchemaLoader:
    """EventLogging schemas (latest revision) from a directory (any file system, see
    :mod:`eljobs.io.fs`), capsule-wrapped."""

    def __init__(self, path: str):
        self.root = path.rstrip("/") or "/"
        self._cache: dict[str, StructType] = {}
        self._lock = threading.Lock()

    def _dir_for(self, fs: FileSystem, name: str) -> str | None:
        exact = join(self.root, name)
        if fs.is_dir(exact):
            return exact
        low = name.lower()
        for d in fs.list(self.root, missing_ok=True) if fs.is_dir(self.root) else []:
            if d.is_dir and d.name.lower() == low:
                return d.path
        return None

    def load_event_schema(self, name: str) -> dict[str, Any]:
        """The EventLogging event schema ``name`` (latest revision) as a JSON Schema object.

        Raises:
            SchemaLoadError: no such schema under the directory.
        """
        fs = _fs()
        d = self._dir_for(fs, name)
        f = latest_file(fs, d) if d is not None else None
        if f is None:
            raise SchemaLoadError(
                f"EventLogging schema {name!r} not found in {self.root} (expected "
                f"{self.root}/{name}/<revision>.json|yaml)"
            )
        doc = _parse_doc(fs.read_text(f), f)
        # An Event Platform copy of a migrated legacy schema: the EventLogging schema is its
        # `event` property (the rest is the new capsule).
        event = legacy_event_schema(doc)
        return dict(event) if event is not None else doc

    def schema_for_name(self, name: str) -> StructType:
        """Capsule schema for EventLogging schema ``name``."""
        with self._lock:
            if name in self._cache:
                return self._cache[name]
        event = self.load_event_schema(name)
        event.setdefault("type", "object")
        dt = _convert(event, "event")
        if not isinstance(dt, StructType):
            dt = StructType([])
        out = capsule_schema(dt)
        with self._lock:
            self._cache[name] = out
        return out

    def schema_for_event(self, event: Mapping[str, Any]) -> StructType:
        """Capsule schema for an event, named by its ``schema`` field.

        Raises:
            SchemaLoadError: the event has no ``schema`` string or it cannot be loaded.
        """
        name = event.get("schema")
        if not isinstance(name, str) or not name:
            raise SchemaLoadError(
                f"expected an EventLogging 'schema' name in the first event, found {name!r}"
            )
        return self.schema_for_name(name)


SchemaLoader = EventPlatformSchemaLoader | EventLoggingSchemaLoader


def make_loader(
    schema_base_uris: tuple[str, ...],
    *,
    schema_field: str = "/$schema",
    eventlogging_schemas_path: str | None = None,
) -> SchemaLoader | None:
    """The loader for ``schema_base_uris`` (None when empty: Spark infers the schema)."""
    if not schema_base_uris:
        return None
    if tuple(schema_base_uris) == ("eventlogging",):
        if not eventlogging_schemas_path:
            raise SchemaLoadError("schema_base_uris=eventlogging needs eventlogging_schemas_path")
        return EventLoggingSchemaLoader(eventlogging_schemas_path)
    return EventPlatformSchemaLoader(schema_base_uris, schema_field)


def parse_first_event(line: str, where: str) -> dict[str, Any]:
    """Parse the first line of a target's data as a JSON object.

    Raises:
        SchemaLoadError: it is not a JSON object (the message names ``where``).
    """
    try:
        obj = json.loads(line)
    except json.JSONDecodeError as e:
        raise SchemaLoadError(f"cannot parse the first event of {where} as JSON: {e}") from e
    if not isinstance(obj, dict):
        raise SchemaLoadError(f"expected a JSON object as the first event of {where}")
    return obj
