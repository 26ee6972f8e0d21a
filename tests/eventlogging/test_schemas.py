"""eljobs.eventlogging.schemas: local repository, Event Platform conversion, revisions."""

from __future__ import annotations

import json
import pickle
from pathlib import Path
from typing import Any

import pytest
import yaml
from jsonschema import Draft3Validator

from eljobs.eventlogging.schemas import (
    SchemaNotFound,
    SchemaRepository,
    SchemaRepositoryError,
    event_platform_documents,
    eventlogging_schema_from_event_platform,
    eventlogging_schema_name,
    revision_for_version,
)
from eljobs.io.fs import JvmFileSystem, LocalFileSystem


def write(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    return path


def test_from_paths_reads_json_yaml_yml(tmp_path: Path) -> None:
    write(tmp_path / "a" / "Echo" / "7731316.json", json.dumps({"properties": {"x": {}}}))
    write(tmp_path / "a" / "EditMetaTest" / "1.yaml", "properties:\n  y: {type: string}\n")
    write(tmp_path / "a" / "Other" / "2.yml", "properties: {}\n")
    write(tmp_path / "a" / "Other" / "README.md", "not a schema")
    repo = SchemaRepository.from_paths([f"file://{tmp_path / 'a'}"])
    assert repo.scids() == [("Echo", 7731316), ("EditMetaTest", 1), ("Other", 2)]
    assert repo.get("EditMetaTest", 1) == {"properties": {"y": {"type": "string"}}}
    assert ("Echo", 7731316) in repo and len(repo) == 3


def test_from_paths_through_hadoop(spark: Any, tmp_path: Path) -> None:
    # the JVM layer, as on a cluster for an HDFS schemas directory
    write(tmp_path / "a" / "Nested" / "Name" / "3.json", json.dumps({"properties": {}}))
    write(tmp_path / "a" / "Other" / "2.yml", "properties: {}\n")
    write(tmp_path / "a" / "top.json", "{}")  # no schema name: ignored
    repo = SchemaRepository.from_paths([f"file://{tmp_path / 'a'}"], fs=JvmFileSystem(spark))
    assert repo.scids() == [("Nested/Name", 3), ("Other", 2)]


def test_first_path_wins_and_duplicates_in_one_path_fail(tmp_path: Path) -> None:
    write(tmp_path / "a" / "S" / "1.json", '{"title": "a"}')
    write(tmp_path / "b" / "S" / "1.json", '{"title": "b"}')
    repo = SchemaRepository.from_paths(f"{tmp_path / 'a'},{tmp_path / 'b'}")
    assert repo.get("S", 1) == {"title": "a"}
    write(tmp_path / "b" / "S" / "1.yaml", "title: c")
    with pytest.raises(SchemaRepositoryError, match="defined twice"):
        SchemaRepository.from_paths([str(tmp_path / "b")])


def test_bad_files_and_paths_are_named(tmp_path: Path) -> None:
    bad = write(tmp_path / "a" / "S" / "1.json", "[1, 2]")
    with pytest.raises(SchemaRepositoryError, match=str(bad)):
        SchemaRepository.from_paths([str(tmp_path / "a")])
    write(bad, "{not json")
    with pytest.raises(SchemaRepositoryError, match="cannot read schema file"):
        SchemaRepository.from_paths([str(tmp_path / "a")])
    with pytest.raises(SchemaRepositoryError, match="needs a Spark session"):
        SchemaRepository.from_paths(["hdfs:///schemas"], fs=LocalFileSystem("file:///"))
    with pytest.raises(SchemaRepositoryError, match="is not a directory"):
        SchemaRepository.from_paths([str(tmp_path / "missing")])


def test_schema_not_found_names_schema_revision_and_source() -> None:
    repo = SchemaRepository.from_documents({("A", 1): {}}, source="/schemas")
    with pytest.raises(SchemaNotFound) as err:
        repo.get("NavigationTiming", 123)
    assert str(err.value) == "Schema NavigationTiming revision 123 not found in /schemas"
    with pytest.raises(SchemaRepositoryError, match="must be an object"):
        SchemaRepository.from_documents({("A", 1): [1]})  # type: ignore[dict-item]


def test_repository_pickles() -> None:
    repo = SchemaRepository.from_documents({("A", 1): {"properties": {}}}, source="x")
    back = pickle.loads(pickle.dumps(repo))
    assert back.get("A", 1) == {"properties": {}} and back.source == "x"


def test_revision_for_version() -> None:
    assert revision_for_version("1.7.0") == 1007000
    assert revision_for_version("2.1.0") == 2001000
    assert revision_for_version("0.0.1") == 1
    for bad in ("1.7", "1.1000.0", "v1.0.0", "0.0.0"):
        with pytest.raises(ValueError):
            revision_for_version(bad)


def _walk(node: Any) -> list[dict[str, Any]]:
    out = []
    if isinstance(node, dict):
        out.append(node)
        for v in node.values():
            out.extend(_walk(v))
    elif isinstance(node, list):
        for v in node:
            out.extend(_walk(v))
    return out


def test_conversion_of_required_lists_at_every_level(schemas_dir: Path) -> None:
    doc = yaml.safe_load((schemas_dir / "inukapageview" / "1.1.0.yaml").read_text())
    ev = eventlogging_schema_from_event_platform(doc)
    original = doc["properties"]["event"]
    for name in original["required"]:
        assert ev["properties"][name]["required"] is True
    tests_items = ev["properties"]["tests"]["items"]  # objects inside an array
    assert all(tests_items["properties"][n]["required"] is True for n in ("name", "group"))
    assert not [n for n in _walk(ev) if isinstance(n.get("required"), list)]
    assert doc["properties"]["event"] is original and isinstance(original["required"], list)


def test_conversion_drops_later_draft_keywords(schemas_dir: Path) -> None:
    doc = yaml.safe_load((schemas_dir / "universallanguageselector" / "1.6.0.yaml").read_text())
    assert "$schema" in doc["properties"]["event"]
    ev = eventlogging_schema_from_event_platform(doc)
    assert not {"$schema", "$id", "examples"} & set(ev)
    assert ev["properties"]["web_session_id"]["pattern"] == "^[0-9a-z]{20}$"


def test_conversion_of_numeric_exclusive_bounds() -> None:
    event = {"properties": {"n": {"type": "number", "exclusiveMinimum": 0}}}
    doc = {"properties": {"$schema": {"type": "string"}, "event": event}}
    n = eventlogging_schema_from_event_platform(doc)["properties"]["n"]
    assert n == {"type": "number", "minimum": 0, "exclusiveMinimum": True}
    with pytest.raises(SchemaRepositoryError, match=r"properties\.event"):
        eventlogging_schema_from_event_platform({"properties": {}})


def test_all_real_schemas_convert_to_valid_draft3(schemas_dir: Path) -> None:
    docs = event_platform_documents(schemas_dir)
    assert len(docs) == 55
    assert ("NavigationTiming", 1007000) in docs and ("EditAttemptStep", 2001000) in docs
    for scid, schema in docs.items():
        Draft3Validator.check_schema(schema)
        assert not [n for n in _walk(schema) if isinstance(n.get("required"), list)], scid


def test_schema_name(schemas_dir: Path) -> None:
    doc = yaml.safe_load((schemas_dir / "navigationtiming" / "1.7.0.yaml").read_text())
    assert eventlogging_schema_name(doc) == "NavigationTiming"
    assert eventlogging_schema_name({"title": "analytics/legacy/foo"}) == "foo"


def test_only_a_legacy_schema_is_unwrapped() -> None:
    from eljobs.eventlogging.schemas import legacy_event_schema

    event = {"properties": {"action": {"type": "string"}}}
    assert legacy_event_schema({"properties": {"meta": {}, "event": event}}) is event
    # An EventLogging schema with a field named `event` is a schema, not a wrapper.
    assert legacy_event_schema({"properties": {"event": event}}) is None
    assert legacy_event_schema({"type": "object"}) is None
