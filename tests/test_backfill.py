"""Backfill transforms: process_raw_lines over a small DataFrame, the account transform, and the
pure account summary (writers, blacklist, unroutable)."""

from __future__ import annotations

import json
from typing import Any

from eljobs.backfill import (
    Writer,
    account,
    mark_disabled,
    process_raw_lines,
    render_template,
    summarize,
)
from eljobs.eventlogging.schemas import SchemaRepository
from eljobs.testing.sample import encode_query, varnishkafka_line

SCHEMA = {
    "properties": {
        "action": {"type": "string", "required": True, "enum": ["view", "click"]},
        "n": {"type": "integer"},
    }
}


def _line(capsule: Any, seq: int, ua: str = "Mozilla/5.0 (X11; Linux x86_64) Firefox/120.0") -> str:
    return varnishkafka_line(
        encode_query(capsule), "cp1", seq, "2024-01-05T03:00:00", "1.2.3.4", ua
    )


def test_render_template() -> None:
    value = json.dumps({"schema": "Foo", "wiki": "enwiki", "meta": {"topic": "t"}})
    assert render_template("eventlogging_{schema}", value) == "eventlogging_Foo"
    assert render_template("{meta[topic]}", value) == "t"
    assert render_template("{topic}", value) is None
    assert render_template("{schema}", None) is None
    assert render_template("{schema}", "[1]") is None


def test_process_raw_lines_and_account(spark: Any) -> None:
    repo = SchemaRepository.from_documents({("Demo", 1): SCHEMA}, source="test")
    good = {"event": {"action": "view", "n": 1}, "revision": 1, "schema": "Demo", "wiki": "enwiki"}
    bad = {"event": {"action": "jump"}, "revision": 1, "schema": "Demo", "wiki": "enwiki"}
    missing = {"event": {}, "revision": 7, "schema": "Demo", "wiki": "enwiki"}
    rows = [
        ("h1", _line(good, 1)),
        ("h1", _line(bad, 2)),
        ("h1", _line(missing, 3)),
        ("h1", "garbage"),
        ("h2", _line(good, 4)),
    ]
    df = spark.createDataFrame(rows, "hour string, raw string")
    out = process_raw_lines(
        df,
        schemas=repo,
        topic_template="eventlogging_{schema}",
        valid_templates={"wiki_topic": "{wiki}"},
        invalid_templates={"err_topic": "errors_{wiki}"},
        hostname="test-host",
    ).cache()
    got = sorted(
        (r.hour, r.kind, r.schema, r.revision, r.topic, r.wiki_topic, r.err_topic, r.message)
        for r in out.collect()
    )
    assert got == [
        (
            "h1",
            "processor",
            "Demo",
            7,
            "eventlogging_EventError",
            None,
            "errors_",
            ("Schema Demo revision 7 not found in test"),
        ),
        ("h1", "processor", "unknown", -1, "eventlogging_EventError", None, "errors_", got[1][7]),
        ("h1", "valid", "Demo", 1, "eventlogging_Demo", "enwiki", None, None),
        (
            "h1",
            "validation",
            "Demo",
            1,
            "eventlogging_EventError",
            None,
            "errors_",
            ("'jump' is not one of ['view', 'click']"),
        ),
        ("h2", "valid", "Demo", 1, "eventlogging_Demo", "enwiki", None, None),
    ]
    assert got[1][7].startswith("(?P<capsule>")  # the line did not match: the regex is the message
    valid = json.loads(next(r.value for r in out.collect() if r.kind == "valid"))
    assert valid["seqId"] in (1, 4) and valid["ip"] == "1.2.3.4" and valid["recvFrom"] == "cp1"
    err = json.loads(next(r.value for r in out.collect() if r.kind == "validation"))
    assert err["schema"] == "EventError" and err["recvFrom"] == "test-host"
    assert err["event"]["code"] == "validation"

    acc = [r.asDict() for r in account(out).collect()]
    assert acc == [
        {
            "hour": "h1",
            "schema": "Demo",
            "read": 3,
            "valid": 1,
            "validation": 1,
            "processor": 1,
            "disabled": 0,
            "unroutable": 0,
        },
        {
            "hour": "h1",
            "schema": "unknown",
            "read": 1,
            "valid": 0,
            "validation": 0,
            "processor": 1,
            "disabled": 0,
            "unroutable": 0,
        },
        {
            "hour": "h2",
            "schema": "Demo",
            "read": 1,
            "valid": 1,
            "validation": 0,
            "processor": 0,
            "disabled": 0,
            "unroutable": 0,
        },
    ]
    for r in acc:
        assert r["read"] == r["valid"] + r["validation"] + r["processor"]
    # A disabled schema: its valid events change kind, its EventErrors stay what they were.
    marked = {
        (r.hour, r.schema): (r.read, r.valid, r.disabled, r.validation, r.processor)
        for r in account(mark_disabled(out, schemas=["Demo"])).collect()
    }
    assert marked == {
        ("h1", "Demo"): (3, 0, 1, 1, 1),
        ("h1", "unknown"): (1, 0, 0, 0, 1),
        ("h2", "Demo"): (1, 0, 1, 0, 0),
    }
    assert mark_disabled(out, schemas=[]) is out
    out.unpersist()
    slim = process_raw_lines(df, schemas=repo, drop=("raw", "message"))
    assert slim.columns == ["hour", "kind", "schema", "revision", "topic", "value"]


def test_summarize_routes_blacklists_and_counts_unroutable() -> None:
    counts = [
        {"hour": "h", "schema": "A", "kind": "valid", "topic": "el_A", "topic_1": "x", "count": 5},
        {"hour": "h", "schema": "A", "kind": "valid", "topic": None, "topic_1": None, "count": 2},
        {"hour": "h", "schema": "B", "kind": "valid", "topic": "el_B", "topic_1": "x", "count": 3},
        {
            "hour": "h",
            "schema": "B",
            "kind": "validation",
            "topic": "el_EventError",
            "topic_1": None,
            "count": 4,
        },
        {
            "hour": "h",
            "schema": "unknown",
            "kind": "processor",
            "topic": "el_EventError",
            "topic_1": None,
            "count": 1,
        },
    ]
    writers = [
        Writer("file:///a", "topic", takes_valid=True, takes_invalid=True),
        Writer(
            "kafka:///b",
            "topic_1",
            takes_valid=True,
            takes_invalid=False,
            blacklisted=frozenset({"B"}),
        ),
    ]
    rows, expected = summarize(counts, writers)
    by = {r.schema: r for r in rows}
    assert [r.schema for r in rows] == ["A", "B", "unknown"]
    assert (by["A"].read, by["A"].valid, by["A"].unroutable) == (7, 7, 4)  # 2 per writer
    assert (by["B"].read, by["B"].valid, by["B"].validation, by["B"].blacklisted) == (7, 3, 4, 3)
    assert by["B"].written == {"file:///a el_B": 3, "file:///a el_EventError": 4}
    assert by["unknown"].processor == 1
    for r in rows:
        assert r.read == r.valid + r.validation + r.processor
    assert expected == {
        ("file:///a", "el_A"): 5,
        ("file:///a", "el_B"): 3,
        ("file:///a", "el_EventError"): 5,
        ("kafka:///b", "x"): 5,
    }


def test_summarize_counts_events_of_rejected_topics_and_expects_none() -> None:
    counts = [
        {"hour": "h", "schema": "A", "kind": "valid", "topic": "eventlogging_A", "count": 3},
        {"hour": "h", "schema": "A", "kind": "valid", "topic": "other_topic", "count": 2},
        {"hour": "h", "schema": "A", "kind": "valid", "topic": None, "count": 1},
    ]
    guarded = Writer(
        "kafka:///b", "topic", takes_valid=True, takes_invalid=False,
        rejected_topics=frozenset({"other_topic"}),
    )  # fmt: skip
    rows, expected = summarize(counts, [guarded])
    (row,) = rows
    assert (row.read, row.valid, row.unroutable, row.rejected) == (6, 6, 1, 2)
    assert row.written == {"kafka:///b eventlogging_A": 3}
    assert expected == {("kafka:///b", "eventlogging_A"): 3}
    assert row.to_dict()["rejected"] == 2


def test_summarize_counts_disabled_events_and_writes_none() -> None:
    counts = [
        {"hour": "h", "schema": "A", "kind": "disabled", "topic": "el_A", "count": 6},
        {"hour": "h", "schema": "A", "kind": "validation", "topic": "el_EventError", "count": 1},
    ]
    writers = [Writer("file:///a", "topic", takes_valid=True, takes_invalid=True)]
    rows, expected = summarize(counts, writers)
    assert [r.to_dict() for r in rows] == [
        {
            "hour": "h",
            "schema": "A",
            "read": 7,
            "valid": 0,
            "validation": 1,
            "processor": 0,
            "disabled": 6,
            "unroutable": 0,
            "blacklisted": 0,
            "rejected": 0,
            "written": {"file:///a el_EventError": 1},
        }
    ]
    assert expected == {("file:///a", "el_EventError"): 1}


def test_event_error_uuids_are_the_same_in_two_runs(spark: Any) -> None:
    repo = SchemaRepository.from_documents({("Demo", 1): SCHEMA}, source="test")
    bad = {"event": {"action": "jump"}, "revision": 1, "schema": "Demo", "wiki": "enwiki"}
    # identical invalid lines too: each keeps a uuid of its own (its row differs)
    raw = [_line(bad, 2), "garbage", "garbage", _line(bad, 2), ""] * 3
    df = spark.createDataFrame([(r,) for r in raw], "raw string").repartition(3)
    df = df.sortWithinPartitions("raw").cache()  # one fixed input: what a re-read gives

    def error_uuids() -> list[str]:
        out = process_raw_lines(df, schemas=repo, hostname="h")
        values = [r.value for r in out.where("kind != 'valid'").collect()]
        return sorted(json.loads(v)["uuid"] for v in values)

    first, second = error_uuids(), error_uuids()
    assert len(first) == len(raw)
    assert first == second
    assert len(set(first)) == len(first)
