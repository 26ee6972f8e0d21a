"""eljobs.eventlogging.processor: valid capsules, EventError shapes, scid checks, draft-3
messages, encapsulation quirks, topics, the TAB-vs-awk difference and the Arrow batch function."""

from __future__ import annotations

import gc
import json
import pickle
import types
import uuid
from pathlib import Path
from typing import Any
from urllib.parse import quote

import pyarrow as pa
import pytest

from eljobs.eventlogging import (
    OUTPUT_SCHEMA_FIELDS,
    OUTPUT_SPARK_DDL,
    PRODUCTION_FORMAT,
    Outcome,
    Processor,
    SchemaRepository,
    event_platform_documents,
    process_batch,
    serialize,
)

UA = (
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/61.0.3163.100 Safari/537.36"
)
NOW = 1_700_000_000.4

GENERIC = {  # a draft-3 schema in the style of the reference's test fixtures
    "properties": {
        "value": {"type": "string", "required": True},
        "count": {"type": "integer"},
        "mode": {"type": "string", "enum": ["a", "b"]},
        "nested": {"type": "object", "properties": {"pi": {"type": "number"}}},
    }
}
UNTYPED = {"properties": {"x": {"type": "string"}}}  # no top-level "type"


@pytest.fixture(scope="module")
def repo(schemas_dir: Path) -> SchemaRepository:
    docs: dict[tuple[str, int], Any] = dict(event_platform_documents(schemas_dir))
    docs[("Generic", 13)] = GENERIC
    docs[("Untyped", 1)] = UNTYPED
    docs[("BadSchema", 1)] = {"properties": {"a": {"type": 5}}}
    return SchemaRepository.from_documents(docs, source="test-schemas")


@pytest.fixture
def proc(repo: SchemaRepository) -> Processor:
    return Processor(PRODUCTION_FORMAT, repo, hostname="proc.example.org", clock=lambda: NOW)


def q(obj: object) -> str:
    return "?" + quote(json.dumps(obj, separators=(",", ":"), ensure_ascii=False), safe="") + ";"


def capsule(event: object = None, **fields: object) -> dict[str, Any]:
    c: dict[str, Any] = {
        "event": {"value": "x"} if event is None else event,
        "revision": 13,
        "schema": "Generic",
        "webHost": "test.wikipedia.org",
        "wiki": "testwiki",
    }
    c.update(fields)
    return {k: v for k, v in c.items() if v is not _DROP}


_DROP = object()


def line(c: object, *, ua: str = UA, ip: str = "1.2.3.4", seq: int = 132073) -> str:
    return f'{q(c)}\tsrv0.example.org\t{seq}\t2013-01-19T23:16:38\t{ip}\t"{ua}"'


def error_event(o: Outcome) -> dict[str, Any]:
    assert o.value is not None
    err = json.loads(o.value)
    assert set(err) == {"schema", "revision", "wiki", "uuid", "recvFrom", "timestamp", "event"}
    assert (err["schema"], err["revision"], err["wiki"]) == ("EventError", 14035058, "")
    assert (err["recvFrom"], err["timestamp"]) == ("proc.example.org", 1_700_000_000)
    assert len(err["uuid"]) == 32 and int(err["uuid"], 16) >= 0
    assert set(err["event"]) == {"rawEvent", "message", "code", "schema", "revision"}
    assert o.topic == "eventlogging_EventError"
    assert o.message == err["event"]["message"] and o.kind == err["event"]["code"]
    return dict(err["event"])


# ------------------------------------------------------------------ valid


def test_valid_capsule_serialization(proc: Processor) -> None:
    o = proc.process(line(capsule({"value": "☆ 彡", "nested": {"pi": 3.14}})))
    assert (o.kind, o.schema, o.revision, o.message) == ("valid", "Generic", 13, None)
    assert o.topic == "eventlogging_Generic"
    assert o.value is not None and o.value.isascii()
    assert o.value.startswith(
        '{"dt": "2013-01-19T23:16:38Z", "event": {"nested": {"pi": 3.14}, '
        '"value": "\\u2606 \\u5f61"}, "ip": "1.2.3.4", "recvFrom": "srv0.example.org", '
        '"revision": 13, "schema": "Generic", "seqId": 132073, "userAgent": {"browser_family": '
        '"Chrome", "browser_major": "61", "browser_minor": "0", "device_family": "Other", '
        '"is_bot": false, "is_mediawiki": false, "os_family": "Windows", "os_major": "10", '
        '"os_minor": null, "wmf_app_version": "-"}, '
        '"uuid": "749684341abf513186c71f74c6a09502", '
    )
    assert o.value == serialize(json.loads(o.value))


def test_serialization_is_the_standard_librarys_byte_for_byte(proc: Processor) -> None:
    # The fast encoder against json.dumps(sort_keys=True) itself, on capsules whose values take
    # each of its fallbacks (tests/eventlogging/test_jsoncodec.py covers the encoder alone).
    awkward = {
        "value": 'q"uote \\ back\x7fdel \u2028 \U0001f600 \ud800',
        "nested": {"pi": 1.5e-07, "big": 2**70, "nan": float("nan"), "inf": float("-inf")},
    }
    for event in ({"value": "x"}, awkward, {"value": "é", "count": 10**16}):
        parsed = proc.parser.parse(line(capsule()))
        parsed["event"] = event  # set after parsing: a lone surrogate cannot be percent-encoded
        assert serialize(parsed) == json.dumps(parsed, sort_keys=True)


def test_client_validated_and_is_truncated_are_dropped(proc: Processor) -> None:
    o = proc.process(line(capsule(clientValidated=True, isTruncated=False)))
    assert o.kind == "valid"
    assert o.value is not None
    assert "clientValidated" not in json.loads(o.value)
    assert "isTruncated" not in json.loads(o.value)


def test_real_schema_event(proc: Processor) -> None:
    c = capsule({"isAnon": True, "action": "view"}, schema="NavigationTiming", revision=1007000)
    assert proc.process(line(c)).kind == "valid"
    c["event"]["isAnon"] = "yes"
    o = proc.process(line(c))
    assert (o.kind, o.message) == ("validation", "'yes' is not of type 'boolean'")
    c["event"] = []  # this event schema has a top-level type: a list is not an object
    assert proc.process(line(c)).message == "[] is not of type 'object'"


# ------------------------------------------------------------------ scid


@pytest.mark.parametrize(
    ("fields", "message", "schema", "revision"),
    [
        ({"schema": _DROP}, "scid could not be extracted from event.", "unknown", -1),
        ({"revision": _DROP}, "scid could not be extracted from event.", "unknown", -1),
        ({"revision": 13.0}, "Invalid revision ID type: <class 'float'>", "Generic", 13.0),
        ({"revision": "13"}, "Invalid revision ID type: <class 'str'>", "Generic", "13"),
        ({"revision": 0}, "Invalid revision ID 0", "Generic", 0),
        ({"schema": "Foo%"}, "Invalid schema name: Foo%", "Foo%", 13),
        ({"schema": 5}, "Invalid schema name: 5", 5, 13),
    ],
)
def test_scid_checks_are_validation_errors(
    proc: Processor, fields: dict[str, Any], message: str, schema: object, revision: object
) -> None:
    o = proc.process(line(capsule(**fields)))
    ev = error_event(o)
    assert (ev["code"], ev["message"]) == ("validation", message)
    assert (ev["schema"], ev["revision"]) == (schema, revision)
    assert o.schema == (schema if isinstance(schema, str) else "unknown")
    assert o.revision == (revision if type(revision) is int else -1)
    # rawEvent of a validation error: the parsed capsule (uuid included), serialized
    raw = json.loads(ev["rawEvent"])
    assert raw["uuid"] == "749684341abf513186c71f74c6a09502" and raw["seqId"] == 132073


def test_unknown_schema_is_a_processor_error_naming_both(proc: Processor) -> None:
    text = line(capsule(schema="NavigationTiming", revision=123))
    o = proc.process(text)
    ev = error_event(o)
    assert ev["code"] == "processor"
    assert ev["message"] == "Schema NavigationTiming revision 123 not found in test-schemas"
    assert ev["rawEvent"] == text  # processor errors carry the raw line
    assert (ev["schema"], ev["revision"]) == ("NavigationTiming", 123)


def test_cached_schema_errors_keep_no_batch_alive(repo: SchemaRepository) -> None:
    # A cached error that kept a traceback kept its frames, and through them the Arrow batch
    # being processed: a Python worker grew by about 4 KB a line on realistic input.
    fresh = Processor(PRODUCTION_FORMAT, repo, hostname="proc.example.org", clock=lambda: NOW)
    lines = [line(capsule(schema="NavigationTiming", revision=r)) for r in (123, 124)] * 3
    lines.append(line(capsule(schema="BadSchema", revision=1)))
    for first in range(0, 4 * len(lines), len(lines)):
        batch = pa.RecordBatch.from_arrays([pa.array(lines)], names=["raw"])
        out = process_batch(batch, fresh, origin="p0", first_row=first)
        assert set(out.column("kind").to_pylist()) == {"processor"}
    gc.collect()
    alive = [
        f
        for f in gc.get_objects()
        if isinstance(f, types.FrameType) and f.f_code.co_name in {"process_batch", "_process"}
    ]
    assert alive == []
    # ... and the cached errors still give each event the same message.
    again = fresh.process(lines[0])
    assert error_event(again)["message"].startswith("Schema NavigationTiming revision 123")


def test_invalid_schema_document_is_a_processor_error(proc: Processor) -> None:
    ev = error_event(proc.process(line(capsule(schema="BadSchema", revision=1))))
    assert ev["code"] == "processor"
    assert ev["message"] == "not a valid draft-3 JSON schema: 5 is not of type 'string', 'array'"


def test_meta_subobject_events_take_their_scid_from_schema_uri(proc: Processor) -> None:
    c = capsule(meta={"schema_uri": "Generic/13"}, schema="Other", revision=1)
    ev = error_event(proc.process(line(c)))
    assert (ev["code"], ev["schema"], ev["revision"]) == ("validation", "Generic", 13)
    assert ev["message"] == "Additional properties are not allowed ('meta' was unexpected)"
    ev = error_event(proc.process(line(capsule(meta={}))))
    assert ev["message"] == "scid could not be extracted from event."


# ------------------------------------------------------------------ draft-3 messages


@pytest.mark.parametrize(
    ("event", "message"),
    [
        ({}, "'value' is a required property"),
        ({"value": "x", "count": 1.5}, "1.5 is not of type 'integer'"),
        ({"value": "x", "count": 1.0}, "1.0 is not of type 'integer'"),
        ({"value": "x", "count": True}, "True is not of type 'integer'"),
        ({"value": "x", "mode": "c"}, "'c' is not one of ['a', 'b']"),
        ({"value": "x", "k": 1}, "Additional properties are not allowed ('k' was unexpected)"),
        (
            {"value": "x", "k": 1, "j": 2},
            "Additional properties are not allowed ('j', 'k' were unexpected)",
        ),
        ({"value": None}, "None is not of type 'string'"),
        ({"value": "x", "nested": {"pi": "3", "free": 1}}, "'3' is not of type 'number'"),
    ],
)
def test_draft3_messages(proc: Processor, event: object, message: str) -> None:
    o = proc.process(line(capsule(event)))
    assert (o.kind, o.message) == ("validation", message)


def test_nested_objects_stay_open(proc: Processor) -> None:
    assert proc.process(line(capsule({"value": "x", "nested": {"free": 1}}))).kind == "valid"


def test_capsule_level_errors(proc: Processor) -> None:
    o = proc.process(line(capsule(extra=1)))
    assert o.message == "Additional properties are not allowed ('extra' was unexpected)"
    assert proc.process(line(capsule(wiki=_DROP))).message == "'wiki' is a required property"
    o = proc.process(line(capsule(webHost=5)))
    assert o.message == "5 is not of type 'string'"


def test_first_error_event_before_wiki(proc: Processor) -> None:
    o = proc.process(line(capsule({"value": 1}, wiki=_DROP)))
    assert o.message == "1 is not of type 'string'"


def test_event_is_optional(proc: Processor) -> None:
    assert proc.process(line(capsule(event=_DROP))).kind == "valid"


@pytest.mark.parametrize("event", [[], "a string", 5])
def test_non_object_event_valid_without_top_level_type(proc: Processor, event: object) -> None:
    o = proc.process(line(capsule(event, schema="Untyped", revision=1)))
    assert o.kind == "valid", o.message


# ------------------------------------------------------------------ parse failures


def test_event_error_uuid_comes_from_the_line_and_its_position(proc: Processor) -> None:
    from eljobs.eventlogging import error_uuid

    bad = line(capsule({"value": 5}))
    uuids = {
        (raw, pos): json.loads(proc.process(raw, pos).value or "")["uuid"]
        for raw in (bad, "garbage")
        for pos in ("p0:1", "p0:2")
    }
    assert len(set(uuids.values())) == 4
    for (raw, pos), u in uuids.items():
        assert u == error_uuid(pos, raw) == json.loads(proc.process(raw, pos).value or "")["uuid"]
    name = f"eljobs:EventError/p0:1/{bad}"
    assert uuids[(bad, "p0:1")] == uuid.uuid5(uuid.NAMESPACE_URL, name).hex


def test_parse_failure_recovers_scid_from_raw_text(proc: Processor) -> None:
    text = line(capsule()).replace("2013-01-19T23:16:38", "yesterday")
    ev = error_event(proc.process(text))
    assert ev["code"] == "processor" and ev["rawEvent"] == text
    assert ev["message"] == proc.parser.pattern
    assert (ev["schema"], ev["revision"]) == ("Generic", 13)


def test_parse_failure_without_scid(proc: Processor) -> None:
    ev = error_event(proc.process('?%7Bbroken\tsrv\t1\t2013-01-19T23:16:38\t-\t"x"'))
    assert (
        ev["message"]
        == "Expecting property name enclosed in double quotes: line 1 column 2 (char 1)"
    )
    assert (ev["schema"], ev["revision"]) == ("unknown", -1)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("", None),  # an empty line: the pattern
        ('?%7B%22a%22:%22%C3%28%22%7D;\ts\t1\t2013-01-19T23:16:38\t-\t"x"', "utf-8"),
        (
            '?%5B1%5D\ts\t1\t2013-01-19T23:16:38\t-\t"x"',
            "capsule was successfully parsed, but not as an object.",
        ),
    ],
)
def test_parse_failure_messages(proc: Processor, text: str, message: str | None) -> None:
    ev = error_event(proc.process(text))
    assert ev["code"] == "processor"
    assert ev["message"] == (message or proc.parser.pattern)


def test_deeply_nested_json_is_a_processor_error(proc: Processor) -> None:
    deep = "?" + "%5B" * 100_000 + "%5D" * 100_000
    ev = error_event(proc.process(deep + '\ts\t1\t2013-01-19T23:16:38\t-\t"x"'))
    assert ev["code"] == "processor" and "recursion" in ev["message"]


def test_long_user_agent_and_app_quirk(proc: Processor) -> None:
    ev = error_event(proc.process(line(capsule(), ua="a" * 799)))
    assert ev["message"] == "User Agent string length (801) longer than the allowed 800 chars"
    assert (ev["schema"], ev["revision"]) == ("Generic", 13)
    ev = error_event(proc.process(line(capsule(), ua="Mozilla WikipediaApp/1.0")))
    assert ev["message"] == "list index out of range"


# ------------------------------------------------------------------ TAB vs awk


def test_tabs_split_ip_and_user_agent_but_collapsed_spaces_do_not(proc: Processor) -> None:
    tabbed = line(capsule())
    collapsed = " ".join(tabbed.split())  # what the published awk clean-up produced
    assert "\t" not in collapsed
    good = json.loads(proc.process(tabbed).value or "")
    assert good["ip"] == "1.2.3.4"
    assert good["userAgent"]["browser_family"] == "Chrome"
    bad_outcome = proc.process(collapsed)
    assert bad_outcome.kind == "valid"  # still valid: ip is any string, silently wrong
    bad = json.loads(bad_outcome.value or "")
    assert bad["ip"] == '1.2.3.4 "' + UA.rsplit(" ", 1)[0]
    assert bad["ip"].endswith("Chrome/61.0.3163.100")
    assert bad["userAgent"]["browser_family"] == "Safari"  # parsed from 'Safari/537.36"' only
    assert bad["uuid"] == good["uuid"]


# ------------------------------------------------------------------ topics


def test_topic_templates(repo: SchemaRepository) -> None:
    p = Processor(
        PRODUCTION_FORMAT,
        repo,
        topic_template="el_{wiki}_{schema}",
        invalid_topic_template="errors_{event[code]}",
        hostname="h",
    )
    assert p.process(line(capsule())).topic == "el_testwiki_Generic"
    assert p.process(line(capsule({}))).topic == "errors_validation"
    missing = Processor(PRODUCTION_FORMAT, repo, topic_template="el_{topic}", hostname="h")
    o = missing.process(line(capsule()))
    assert (o.kind, o.topic) == ("valid", None)  # unroutable, counted by the caller
    assert missing.process(line(capsule(topic="t"))).topic == "el_t"
    assert missing.process("").topic is None  # the EventError has no "topic" either
    own = Processor(PRODUCTION_FORMAT, repo, topic_template=None, hostname="h")
    assert own.process(line(capsule(topic="client_topic"))).topic == "client_topic"
    assert own.process(line(capsule())).topic is None


# ------------------------------------------------------------------ batches, pickling


def test_process_batch_appends_columns(proc: Processor) -> None:
    lines = [line(capsule()), line(capsule({})), "", None]
    batch = pa.RecordBatch.from_arrays(
        [pa.array(lines, pa.string()), pa.array([1, 2, 3, 4], pa.int64())], names=["raw", "key"]
    )
    out = process_batch(batch, proc)
    assert out.schema.names == ["raw", "key", *(f.name for f in OUTPUT_SCHEMA_FIELDS)]
    assert out.schema.field("revision").type == pa.int64()
    assert out.column("kind").to_pylist() == ["valid", "validation", "processor", "processor"]
    assert out.column("key").to_pylist() == [1, 2, 3, 4]
    assert out.column("message").to_pylist()[3] == "raw line is null"
    empty = process_batch(batch.slice(0, 0), proc)
    assert empty.num_rows == 0 and empty.num_columns == 8
    assert OUTPUT_SPARK_DDL == (
        "kind string, schema string, revision bigint, topic string, value string, message string"
    )


def test_schema_with_yaml_date_values_compiles(tmp_path: Path) -> None:
    folder = tmp_path / "Dated"
    folder.mkdir()
    (folder / "1.yaml").write_text(
        "description: since 2020-01-01\nproperties:\n  d: {type: string, default: 2020-01-01}\n"
    )
    repo = SchemaRepository.from_paths([str(tmp_path)])
    p = Processor(PRODUCTION_FORMAT, repo, hostname="h")
    assert p.process(line(capsule({"d": "x"}, schema="Dated", revision=1))).kind == "valid"


def test_processor_pickles_and_compiles_again(repo: SchemaRepository) -> None:
    proc = Processor(PRODUCTION_FORMAT, repo, hostname="h")
    first = proc.process(line(capsule()))
    assert proc.compiled("Generic", 13).generated
    back = pickle.loads(pickle.dumps(proc))
    assert back.process(line(capsule())) == first
