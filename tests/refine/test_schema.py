"""JSON Schema → Spark conversion and the schema repositories (local, file://, http). No Spark
session needed: only Spark types are built."""

from __future__ import annotations

import http.server
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml
from pyspark.sql.types import (
    ArrayType,
    BooleanType,
    DoubleType,
    LongType,
    MapType,
    StringType,
    StructField,
    StructType,
)

from eljobs.refine.schema import (
    EventLoggingSchemaLoader,
    EventPlatformSchemaLoader,
    SchemaLoadError,
    json_pointer,
    jsonschema_to_spark,
    make_loader,
    split_schema_uri,
)


def test_conversion_rules():
    schema = {
        "type": "object",
        "properties": {
            "i": {"type": "integer"},
            "n": {"type": "number"},
            "b": {"type": "boolean"},
            "dt": {"type": "string", "format": "date-time"},
            "nullable": {"type": ["string", "null"]},
            "s": {
                "type": "object",
                "properties": {"z": {"type": "integer"}, "a": {"type": "string"}},
            },
            "m": {"type": "object", "additionalProperties": {"type": "string"}},
            "mi": {"type": "object", "additionalProperties": {"type": "integer"}},
            "arr": {
                "type": "array",
                "items": {"type": "object", "properties": {"x": {"type": "number"}}},
            },
        },
    }
    assert jsonschema_to_spark(schema) == StructType(
        [
            StructField("i", LongType()),
            StructField("n", DoubleType()),
            StructField("b", BooleanType()),
            StructField("dt", StringType()),
            StructField("nullable", StringType()),
            StructField(
                "s", StructType([StructField("z", LongType()), StructField("a", StringType())])
            ),
            StructField("m", MapType(StringType(), StringType(), True)),
            StructField("mi", MapType(StringType(), LongType(), True)),
            StructField("arr", ArrayType(StructType([StructField("x", DoubleType())]), True)),
        ]
    )


def test_non_object_top_level_is_rejected():
    with pytest.raises(SchemaLoadError, match="expected a JSON Schema of type object"):
        jsonschema_to_spark({"type": "string"})


def test_schema_uri_and_pointer():
    assert split_schema_uri("/analytics/legacy/test/1.3.0") == ("analytics/legacy/test", "1.3.0")
    assert split_schema_uri("https://schema.x/a/b/latest") == ("a/b", "latest")
    assert json_pointer({"meta": {"a/b": 1}}, "/meta/a~1b") == 1
    assert json_pointer({"$schema": "x"}, "/$schema") == "x"
    assert json_pointer({}, "/$schema") is None


def _repo(tmp_path: Path) -> Path:
    d = tmp_path / "repo" / "thing"
    d.mkdir(parents=True)
    for version, field in (("1.9.0", "old"), ("1.10.0", "new"), ("1.2.0", "older")):
        doc = {
            "$id": f"/x/thing/{version}",
            "type": "object",
            "properties": {field: {"type": "integer"}},
        }
        (d / f"{version}.yaml").write_text(yaml.safe_dump(doc))
    (d / "README.md").write_text("not a schema")
    return tmp_path / "repo"


def test_latest_version_wins_numerically(tmp_path: Path):
    repo = _repo(tmp_path)
    for base in (str(repo), f"file://{repo}"):
        loader = EventPlatformSchemaLoader([base])
        schema = loader.schema_for_event({"$schema": "/x/thing/1.2.0"})
        assert schema.names == ["new"]


def test_real_repository_layout(schemas_dir: Path):
    loader = make_loader((f"file://{schemas_dir}",))
    assert isinstance(loader, EventPlatformSchemaLoader)
    schema = loader.schema_for_event({"$schema": "/analytics/legacy/navigationtiming/1.7.0"})
    assert schema.names[:4] == ["$schema", "client_dt", "dt", "event"]
    event = schema["event"].dataType
    assert isinstance(event, StructType)
    assert event["isAnon"].dataType == BooleanType()
    assert event["connectEnd"].dataType == LongType()
    http = schema["http"].dataType
    assert isinstance(http, StructType)
    assert http["request_headers"].dataType == MapType(StringType(), StringType(), True)


def test_missing_schema_names_where_it_looked(tmp_path: Path):
    loader = EventPlatformSchemaLoader([str(tmp_path)])
    with pytest.raises(SchemaLoadError, match=r"schema '/a/nope/1.0.0' not found .*nope"):
        loader.schema_for_event({"$schema": "/a/nope/1.0.0"})
    with pytest.raises(SchemaLoadError, match=r"expected a schema URI at /\$schema"):
        loader.schema_for_event({"schema": "x"})


@pytest.fixture
def http_repo(tmp_path: Path) -> Iterator[str]:
    root = tmp_path / "site"
    (root / "x/thing").mkdir(parents=True)
    (root / "x/thing/latest").write_text(
        yaml.safe_dump({"type": "object", "properties": {"via_http": {"type": "boolean"}}})
    )

    class Handler(http.server.SimpleHTTPRequestHandler):
        def __init__(self, *a, **kw):
            super().__init__(*a, directory=str(root), **kw)

        def log_message(self, *args):  # keep test output quiet
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


def test_http_repository_serves_latest(http_repo: str):
    loader = EventPlatformSchemaLoader([http_repo])
    assert loader.schema_for_event({"$schema": "/x/thing/1.0.0"}).names == ["via_http"]


def test_eventlogging_capsule_from_event_platform_copy(schemas_dir: Path):
    loader = EventLoggingSchemaLoader(str(schemas_dir))
    schema = loader.schema_for_event({"schema": "SaveTiming", "revision": 1})
    assert schema.names == [
        "event",
        "wiki",
        "webHost",
        "schema",
        "revision",
        "topic",
        "recvFrom",
        "timestamp",
        "dt",
        "seqId",
        "uuid",
        "userAgent",
        "ip",
    ]
    event = schema["event"].dataType
    assert isinstance(event, StructType) and "saveTiming" in event.names


def test_eventlogging_layout_latest_revision(tmp_path: Path):
    d = tmp_path / "el" / "Edit"
    d.mkdir(parents=True)
    (d / "45.json").write_text('{"properties": {"old": {"type": "string"}}}')
    (d / "123.yaml").write_text("properties:\n  action: {type: string}\n  n: {type: integer}\n")
    schema = EventLoggingSchemaLoader(str(tmp_path / "el")).schema_for_name("edit")
    assert schema["event"].dataType == StructType(
        [StructField("action", StringType()), StructField("n", LongType())]
    )
    with pytest.raises(SchemaLoadError, match="EventLogging schema 'Nope' not found"):
        EventLoggingSchemaLoader(str(tmp_path / "el")).schema_for_name("Nope")
