"""EventLogging schema repository, and conversion of Event Platform legacy schemas.

The reference processor fetched schemas over HTTP from meta.wikimedia.org; eljobs reads them
from ``--schemas_path`` instead: directories laid
out as ``<dir>/<Name>/<revision>.json|.yaml|.yml``, the layout the reference's
``eventlogging-consumer`` preloads. A :class:`SchemaRepository` holds plain documents, so it
pickles cheaply and is shipped to Spark executors once.

The real schemas available to us (``../shared/data/event-schemas-secondary``) are the Event
Platform migrations of the legacy schemas: :func:`eventlogging_schema_from_event_platform` turns
one back into the original draft-3 event schema, and :func:`revision_for_version` gives the
revision number used for it by eljobs' sample data (``1.7.0`` → ``1007000``).
"""

from __future__ import annotations

import copy
import json
import re
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import yaml

from eljobs.io.fs import escape_glob, filesystem, join

if TYPE_CHECKING:
    from eljobs.io.fs import FileSystem

__all__ = [
    "SchemaNotFound",
    "SchemaRepository",
    "SchemaRepositoryError",
    "event_platform_documents",
    "eventlogging_schema_from_event_platform",
    "eventlogging_schema_name",
    "legacy_event_schema",
    "parse_schema_document",
    "revision_for_version",
]

_FILE_RE = re.compile(r"^(\d+)\.(json|yaml|yml)$")
_VERSION_RE = re.compile(r"^(\d+)\.(\d+)\.(\d+)$")


class SchemaNotFound(LookupError):
    """No schema for a ``(name, revision)``; the message names both and where we looked."""


class SchemaRepositoryError(ValueError):
    """A schema path or file cannot be used (bad scheme, unreadable or non-object document)."""


def _yaml_load(text: str) -> Any:
    loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
    return yaml.load(text, Loader=loader)  # a safe loader


class SchemaRepository:
    """Schemas by ``(name, revision)``; read-only after construction and picklable."""

    def __init__(self, docs: Mapping[tuple[str, int], Mapping[str, Any]], source: str) -> None:
        self._docs: dict[tuple[str, int], Mapping[str, Any]] = dict(docs)
        self.source = source

    @classmethod
    def from_paths(
        cls, paths: Sequence[str] | str, *, fs: FileSystem | None = None
    ) -> SchemaRepository:
        """Load every ``<dir>/<Name>/<revision>.json|.yaml|.yml`` under each path.

        Paths follow :mod:`eljobs.io.fs` (a bare path is on Hadoop's default file system,
        ``file://`` and ``hdfs://`` are explicit); they are read on the driver. The name is the
        file's directory relative to the path (``/``-separated when nested). When two paths
        hold the same ``(name, revision)`` the first path wins; two files for it in one path
        are an error. Other files are ignored.

        Args:
            paths: the directories, or one comma-separated string of them.
            fs: the file-system layer; by default the active Spark session's (plain Python for
                local paths when there is none).
        """
        fs = fs or filesystem()
        if isinstance(paths, str):
            paths = [p for p in paths.split(",") if p]
        docs: dict[tuple[str, int], Mapping[str, Any]] = {}
        for path in paths:
            found: dict[tuple[str, int], str] = {}
            for scid, file in _schema_files(fs, path):
                if scid in found:
                    raise SchemaRepositoryError(
                        f"schema {scid[0]} revision {scid[1]} is defined twice under {path}: "
                        f"{found[scid]} and {file}"
                    )
                found[scid] = file
                if scid not in docs:
                    docs[scid] = _read_document(fs, file)
        return cls(docs, source=", ".join(paths))

    @classmethod
    def from_documents(
        cls, docs: Mapping[tuple[str, int], Mapping[str, Any]], *, source: str = "<documents>"
    ) -> SchemaRepository:
        """A repository of already-loaded schemas; ``source`` names them in error messages."""
        for key, doc in docs.items():
            if not (isinstance(key, tuple) and len(key) == 2 and isinstance(key[0], str)):
                raise SchemaRepositoryError(f"schema key must be (name, revision), found {key!r}")
            if not isinstance(doc, Mapping):
                raise SchemaRepositoryError(
                    f"schema {key[0]} revision {key[1]} in {source} must be an object, "
                    f"found {type(doc).__name__}"
                )
        return cls(docs, source=source)

    def get(self, name: str, revision: int) -> Mapping[str, Any]:
        """The schema document (do not modify it).

        :raises SchemaNotFound: ``Schema NavigationTiming revision 123 not found in <paths>``.
        """
        try:
            return self._docs[(name, revision)]
        except KeyError:
            raise SchemaNotFound(
                f"Schema {name} revision {revision} not found in {self.source}"
            ) from None

    def __contains__(self, scid: object) -> bool:
        return scid in self._docs

    def __len__(self) -> int:
        return len(self._docs)

    def scids(self) -> list[tuple[str, int]]:
        """Every ``(name, revision)`` held, sorted."""
        return sorted(self._docs)

    def __repr__(self) -> str:
        return f"SchemaRepository({len(self._docs)} schemas from {self.source})"


def _schema_files(fs: FileSystem, path: str) -> Iterator[tuple[tuple[str, int], str]]:
    """``((name, revision), qualified file path)`` of every schema file under ``path``."""
    try:
        root = fs.info(path)
        if root is None or not root.is_dir:
            raise SchemaRepositoryError(f"schemas path {path!r} is not a directory")
        files = fs.walk(path)
    except OSError as e:
        raise SchemaRepositoryError(f"schemas path {path!r} cannot be read: {e}") from None
    prefix = root.path.rstrip("/") + "/"
    for f in files:
        rel = f.path[len(prefix) :] if f.path.startswith(prefix) else f.name
        directory, _, filename = rel.rpartition("/")
        m = _FILE_RE.match(filename)
        if directory and m:
            yield (directory, int(m.group(1))), f.path


def _read_document(fs: FileSystem, file: str) -> Mapping[str, Any]:
    try:
        text = fs.read_text(file)
    except OSError as exc:
        raise SchemaRepositoryError(f"cannot read schema file {file}: {exc}") from exc
    return parse_schema_document(text, str(file))


def parse_schema_document(text: str, where: str) -> dict[str, Any]:
    """The schema document in ``text``: JSON when ``where`` (the file or URI it came from)
    ends in ``.json``, else YAML (safe loader). Every schema reader of eljobs parses with it.

    :raises SchemaRepositoryError: it does not parse, or is not an object (names ``where``).
    """
    try:
        doc = json.loads(text) if where.endswith(".json") else _yaml_load(text)
    except (ValueError, yaml.YAMLError) as exc:
        raise SchemaRepositoryError(f"cannot read schema file {where}: {exc}") from exc
    if not isinstance(doc, dict):
        raise SchemaRepositoryError(
            f"schema file {where} must hold an object, found {type(doc).__name__}"
        )
    return doc


# --------------------------------------------------------------------------- Event Platform

# Keywords of later drafts that draft 3 would misread or that only describe the document.
_DROP = frozenset({"$schema", "$id", "examples"})


def _to_draft3(node: Any) -> Any:
    if not isinstance(node, dict):
        return node
    out: dict[str, Any] = {}
    required: list[str] = []
    for key, value in node.items():
        if key in _DROP:
            continue
        if key == "required" and isinstance(value, list):
            required = [str(v) for v in value]
            continue
        if key in ("properties", "patternProperties") and isinstance(value, dict):
            out[key] = {k: _to_draft3(v) for k, v in value.items()}
        elif key in ("items", "additionalProperties", "additionalItems"):
            out[key] = (
                [_to_draft3(v) for v in value] if isinstance(value, list) else _to_draft3(value)
            )
        elif key in ("exclusiveMinimum", "exclusiveMaximum") and not isinstance(value, bool):
            # draft 6: a number; draft 3: a flag on minimum/maximum.
            bound = "minimum" if key == "exclusiveMinimum" else "maximum"
            out[bound] = value
            out[key] = True
        else:
            out[key] = value
    if required:
        props = out.setdefault("properties", {})
        for name in required:
            props.setdefault(name, {})
            props[name] = {**props[name], "required": True}
    return out


def eventlogging_schema_from_event_platform(doc: Mapping[str, Any]) -> dict[str, Any]:
    """The original EventLogging (draft 3) event schema of an Event Platform legacy schema.

    Takes ``properties.event``; every ``required: [names]`` list, at every object level, becomes
    ``required: true`` on those properties (a list would be read by draft 3 as a truthy flag on
    the object itself); numeric ``exclusiveMinimum/Maximum`` become ``minimum/maximum`` with the
    draft-3 flag; ``$schema``, ``$id`` and ``examples`` are dropped.
    """
    event = legacy_event_schema(doc)
    if event is None:
        raise SchemaRepositoryError(
            "an Event Platform legacy schema must have properties.event beside "
            "properties.$schema or properties.meta; found top-level keys "
            f"{sorted(doc) if isinstance(doc, Mapping) else type(doc)}"
        )
    return _to_draft3(copy.deepcopy(event))


def legacy_event_schema(doc: Mapping[str, Any]) -> Mapping[str, Any] | None:
    """The EventLogging event schema inside an Event Platform legacy schema, as it is (not
    converted); None when ``doc`` is not one (then it is taken to be an EventLogging schema).

    A legacy schema wraps the original event schema in ``properties.event`` beside the new
    capsule, which always has ``properties.$schema`` or ``properties.meta``; requiring one of
    them keeps an EventLogging schema that happens to have an ``event`` field from being
    unwrapped. The one rule for both jobs (the backfill's converter, Refine's capsule loader).
    """
    props = doc.get("properties") if isinstance(doc, Mapping) else None
    if not isinstance(props, Mapping):
        return None
    event = props.get("event")
    if isinstance(event, Mapping) and ("$schema" in props or "meta" in props):
        return event
    return None


def eventlogging_schema_name(doc: Mapping[str, Any]) -> str:
    """The EventLogging name (``NavigationTiming``) of an Event Platform legacy schema, from its
    examples' ``schema`` field, else from its title's last part."""
    for example in doc.get("examples") or ():
        if isinstance(example, Mapping) and isinstance(example.get("schema"), str):
            return str(example["schema"])
    title = str(doc.get("title", ""))
    if not title:
        raise SchemaRepositoryError("Event Platform schema has neither examples nor title")
    return title.rsplit("/", 1)[-1]


def revision_for_version(version: str) -> int:
    """The revision eljobs uses for an Event Platform version: ``M.m.p`` → ``M*10**6+m*10**3+p``
    (``1.7.0`` → ``1007000``); minor and patch must be below 1000."""
    m = _VERSION_RE.match(version)
    if m is None:
        raise ValueError(f"schema version must look like 1.7.0, found {version!r}")
    major, minor, patch = (int(g) for g in m.groups())
    if minor >= 1000 or patch >= 1000:
        raise ValueError(f"schema version {version!r}: minor and patch must be below 1000")
    revision = major * 1_000_000 + minor * 1_000 + patch
    if revision < 1:
        raise ValueError(f"schema version {version!r} gives revision {revision}, must be >= 1")
    return revision


def event_platform_documents(
    path: str | Path, *, fs: FileSystem | None = None
) -> dict[tuple[str, int], dict[str, Any]]:
    """Every ``<dir>/<name>/<version>.yaml`` Event Platform legacy schema under ``path``,
    converted: ``{(EventLoggingName, revision_for_version(version)): draft-3 event schema}``.

    ``path`` follows :mod:`eljobs.io.fs` (a :class:`~pathlib.Path` is local); ``fs`` as for
    :meth:`SchemaRepository.from_paths`.
    """
    fs = fs or filesystem()
    root = f"file:{path.absolute()}" if isinstance(path, Path) else path
    out: dict[tuple[str, int], dict[str, Any]] = {}
    for entry in fs.glob(join(escape_glob(fs.qualify(root)), "*", "*.yaml")):
        try:
            doc = _yaml_load(fs.read_text(entry.path))
            version = entry.name[: -len(".yaml")]
            key = (eventlogging_schema_name(doc), revision_for_version(version))
            out[key] = eventlogging_schema_from_event_platform(doc)
        except (OSError, ValueError, yaml.YAMLError) as exc:
            raise SchemaRepositoryError(
                f"cannot convert Event Platform schema {entry.path}: {exc}"
            ) from exc
    return out
