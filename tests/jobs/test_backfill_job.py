"""End to end: `python -m eljobs backfill` over generated hours built from real schemas, every
output line checked against what the generator put in, and the account.

One run covers: a SequenceFile hour and a gzip text hour (auto-detected), a missing hour, every
kind of invalid line, a plain text file with the TAB-preserving and the awk-collapsed version of
one line, a second file output with a blacklist, and the JSON account.
"""

from __future__ import annotations

import json
import uuid
from collections import Counter
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from eljobs.config import ConfigError, parse_config
from eljobs.jobs.backfill import Config, main
from eljobs.testing.sample import (
    INVALID_KINDS,
    SampleLine,
    generate_lines,
    load_sample_schemas,
    write_sample_schemas,
    write_sequence_hour,
    write_text_hour,
)

NAMES = ("navigationtiming", "editattemptstep", "searchsatisfaction", "painttiming")
H3 = datetime(2024, 1, 5, 3, tzinfo=UTC)
H5 = datetime(2024, 1, 5, 5, tzinfo=UTC)
UA_KEYS = {
    "browser_family",
    "browser_major",
    "browser_minor",
    "device_family",
    "os_family",
    "os_major",
    "os_minor",
    "wmf_app_version",
    "is_bot",
    "is_mediawiki",
}
CHROME = (
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/61.0.3163.100 Safari/537.36"
)


BASE = ["--input_path", "/in", "--since", "2024-01-05T03", "--until", "2024-01-05T05",
        "--schemas_path", "/s1,/s2"]  # fmt: skip


def test_config_outputs_with_broker_lists_and_bare_output_invalid() -> None:
    cfg = parse_config(
        Config,
        [*BASE, "--output", "kafka:///h1:9092,h2:9092?topic=eventlogging_{schema}",
         "--output", "file:///d", "--output_invalid"],
    )  # fmt: skip
    assert cfg.schemas_path == ("/s1", "/s2")
    writers = cfg.writers()
    assert [w.target for w in writers] == ["h1:9092,h2:9092", "file:///d"]
    assert cfg.invalid_writer(writers) is writers[0]
    cfg = parse_config(Config, [*BASE, "--output", "/d", "--output_invalid", "file:///e"])
    assert cfg.invalid_writer(cfg.writers()).target == "file:///e"  # type: ignore[union-attr]
    assert parse_config(Config, [*BASE, "--dry_run"]).invalid_writer([]) is None


def test_config_problems_are_reported_together() -> None:
    with pytest.raises(ConfigError) as e:
        parse_config(
            Config,
            ["--input_path", "/in", "--since", "2024-01-05T05", "--until", "2024-01-05T03",
             "--schemas_path", "/s", "--output_invalid", "zmq://x"],
        )  # fmt: skip
    text = str(e.value)
    assert "--output: at least one writer URI is required" in text
    assert "must be after --since" in text
    assert "--output_invalid: zmq://x: unknown writer scheme" in text


def _read_topics(out: Path) -> dict[str, list[str]]:
    topics: dict[str, list[str]] = {}
    for d in sorted(out.glob("topic=*")):
        for part in sorted(d.glob("part-*")):
            topics.setdefault(d.name.split("=", 1)[1], []).extend(part.read_text().splitlines())
    return topics


def _uuid(capsule: dict[str, Any]) -> str:
    text = f"event://{capsule['recvFrom']}/?seqId={capsule['seqId']}&dt={capsule['dt']}"
    return uuid.uuid5(uuid.NAMESPACE_URL, text).hex


def _awk_collapsed(line: str) -> str:
    # awk '{$1=""; print}' after `hdfs dfs -text`, without the leading blank: every run of
    # TABs/spaces becomes one space.
    return " ".join(line.split())


@pytest.mark.slow
def test_backfill_end_to_end(spark: Any, schemas_dir: Path, tmp_path: Path) -> None:
    schemas = load_sample_schemas(NAMES, source=schemas_dir)
    write_sample_schemas(tmp_path / "schemas", NAMES, source=schemas_dir)
    raw = tmp_path / "raw"
    kinds = tuple(INVALID_KINDS)
    h3 = generate_lines(schemas, 240, hour=H3, seed=11, invalid_fraction=0.2, invalid_kinds=kinds)
    h5 = generate_lines(schemas, 40, hour=H5, seed=12, first_seq=10_000)
    assert set(kinds) <= {s.kind for s in h3}
    write_sequence_hour(spark, raw / "2024/01/05/03", [s.line for s in h3])
    write_text_hour(raw / "2024/01/05/05", [s.line for s in h5], compress=True)

    # The same line with its TABs kept, and as the published awk clean-up left it
    base = next(s for s in h3 if s.kind == "valid")
    tab_line = base.line.rsplit("\t", 2)[0] + "\t1.2.3.4\t" + f'"{CHROME}"'
    tab_line = tab_line.replace(f"\t{base.seq_id}\t", "\t900001\t")
    awk_line = _awk_collapsed(tab_line.replace("\t900001\t", "\t900002\t"))
    assert "\t" not in awk_line
    (raw / "2024/01/05/03/extra.txt").write_text(f"1\t{tab_line}\n{awk_line}\n")

    out, out_bl = tmp_path / "out", tmp_path / "out_bl"
    report = tmp_path / "account.json"
    code = main(
        [
            "--input_path", str(raw),
            "--since", "2024-01-05T03:00:00Z",
            "--until", "2024-01-05T06:00:00Z",
            "--schemas_path", str(tmp_path / "schemas"),
            "--output", f"file://{out}",
            "--output", f"file://{out_bl}?blacklist=^Paint",
            "--output_invalid",
            "--report_path", str(report),
            "--hostname", "backfill-test",
        ]
    )  # fmt: skip
    assert code == 0

    expected: dict[int, SampleLine] = {s.seq_id: s for s in h3 + h5 if s.seq_id is not None}
    by_line = {s.line: s for s in h3 if s.kind in ("no_match", "empty")}
    seen: Counter[str] = Counter()
    topics = _read_topics(out)
    errors = topics.pop("eventlogging_EventError")
    tab_capsules = {}
    for topic, lines in topics.items():
        for text in lines:
            capsule = json.loads(text)
            # the reference's serialization: sorted keys, ", "/": ", ASCII only
            assert text == json.dumps(capsule, sort_keys=True)
            assert topic == f"eventlogging_{capsule['schema']}"
            if capsule["seqId"] in (900001, 900002):
                tab_capsules[capsule["seqId"]] = capsule
                continue
            exp = expected[capsule["seqId"]]
            assert exp.kind == "valid", (exp.kind, exp.line)
            assert capsule["event"] == exp.event
            assert (capsule["schema"], capsule["revision"]) == (exp.schema, exp.revision)
            assert (capsule["recvFrom"], capsule["ip"], capsule["dt"]) == (
                exp.recv_from,
                exp.ip,
                exp.dt,
            )
            assert capsule["wiki"] == exp.wiki and capsule["webHost"]
            assert capsule["uuid"] == _uuid(capsule)
            assert set(capsule["userAgent"]) == UA_KEYS
            seen[f"valid:{capsule['seqId']}"] += 1

    for text in errors:
        err = json.loads(text)
        assert text == json.dumps(err, sort_keys=True)
        assert (err["schema"], err["revision"], err["wiki"]) == ("EventError", 14035058, "")
        assert err["recvFrom"] == "backfill-test" and "dt" not in err
        ev = err["event"]
        raw_event = ev["rawEvent"]
        if ev["code"] == "validation":
            exp = expected[json.loads(raw_event)["seqId"]]
        elif raw_event in by_line:
            exp = by_line[raw_event]
        else:
            exp = expected[int(raw_event.split("\t")[2])]
            assert raw_event == exp.line
        assert ev["code"] == exp.code, (exp.kind, ev)
        assert (ev["schema"], ev["revision"]) == (exp.schema, exp.revision), exp.kind
        if exp.message is not None:
            assert ev["message"] == exp.message, exp.kind
        elif exp.kind in ("unknown_schema", "unknown_revision"):
            assert ev["message"].startswith(
                f"Schema {exp.schema} revision {exp.revision} not found in "
            )
        else:  # a line the format does not match: the message is the compiled pattern
            assert ev["message"].startswith("(?P<capsule>"), exp.kind
        seen[f"{exp.kind}:{exp.seq_id}"] += 1

    # every generated line came out exactly once, as what it should have become
    want = Counter(f"{s.kind}:{s.seq_id}" for s in h3 + h5)
    assert seen == want

    # On one line: with TABs ip and userAgent split where they should; collapsed, the
    # greedy %{ip}i takes all but the last blank-separated token of the user agent
    kept, collapsed = tab_capsules[900001], tab_capsules[900002]
    assert kept["ip"] == "1.2.3.4"
    assert kept["userAgent"]["browser_family"] == "Chrome"
    assert kept["userAgent"]["browser_major"] == "61"
    assert collapsed["ip"] == '1.2.3.4 "' + CHROME.rsplit(" ", 1)[0]
    assert collapsed["userAgent"]["browser_family"] != "Chrome"
    assert kept["event"] == collapsed["event"]

    # the blacklisted writer got the same minus PaintTiming
    bl_topics = _read_topics(out_bl)
    assert (
        "eventlogging_PaintTiming" not in bl_topics and "eventlogging_EventError" not in bl_topics
    )
    for t, lines in bl_topics.items():
        assert sorted(lines) == sorted(topics[t])

    # the account: per hour and schema, read = valid + validation + processor, as generated
    acc = json.loads(report.read_text())
    assert [(h["hour"], h["status"]) for h in acc["hours"]] == [
        ("2024-01-05T03:00Z", "ok"),
        ("2024-01-05T04:00Z", "missing"),
        ("2024-01-05T05:00Z", "ok"),
    ]
    want_rows: dict[tuple[str, str], Counter[str]] = {}
    for hour, lines in (("2024-01-05T03:00Z", h3), ("2024-01-05T05:00Z", h5)):
        for s in lines:
            want_rows.setdefault((hour, s.schema), Counter())[s.code or "valid"] += 1
    want_rows[("2024-01-05T03:00Z", base.schema)]["valid"] += 2
    got_rows = {(r["hour"], r["schema"]): r for r in acc["rows"]}
    assert set(got_rows) == set(want_rows)
    for key, c in want_rows.items():
        r = got_rows[key]
        assert r["read"] == r["valid"] + r["validation"] + r["processor"] == sum(c.values())
        assert (r["valid"], r["validation"], r["processor"]) == (
            c["valid"],
            c["validation"],
            c["processor"],
        ), key
    paint_valid = sum(c["valid"] for (_, s), c in want_rows.items() if s == "PaintTiming")
    assert acc["totals"]["blacklisted"] == paint_valid  # the second writer takes no errors
    assert acc["written"][f"file://{out}"] == {t: len(v) for t, v in _read_topics(out).items()}
    assert acc["failures"] == [] and acc["ok"] is True
    # the same account next to the file outputs
    assert len(list(out.glob("_backfill-account-*.json"))) == 1


@pytest.mark.slow
def test_backfill_to_kafka_with_key_blacklist_and_separate_invalid_output(
    spark: Any, schemas_dir: Path, tmp_path: Path
) -> None:
    from eljobs.testing.broker import EmbeddedBroker, read_topic

    names = ("navigationtiming", "painttiming", "searchsatisfaction")
    schemas = load_sample_schemas(names, source=schemas_dir)
    write_sample_schemas(tmp_path / "schemas", names, source=schemas_dir)
    lines = generate_lines(schemas, 60, hour=H3, seed=21, invalid_fraction=11 / 60)
    write_text_hour(tmp_path / "raw/year=2024/month=1/day=5/hour=3", [s.line for s in lines])
    errors_dir = tmp_path / "errors"
    report = tmp_path / "account.json"
    with EmbeddedBroker() as broker:
        uri = (
            f"kafka:///{broker.bootstrap_servers}?topic=eventlogging_{{schema}}"
            "&key={wiki}&blacklist=^Paint&linger.ms=5"
        )
        code = main(
            [
                "--input_path", f"file://{tmp_path / 'raw'}",
                "--input_path_datetime_format", "'year='yyyy/'month='MM/'day='dd/'hour='HH",
                "--since", "2024-01-05T03:00:00Z",
                "--until", "2024-01-05T04:00:00Z",
                "--schemas_path", str(tmp_path / "schemas"),
                "--output", uri,
                "--output_invalid", f"file://{errors_dir}?topic=errors",
                "--create_topics",
                "--report_path", str(report),
            ]
        )  # fmt: skip
        assert code == 0
        acc = json.loads(report.read_text())
        valid = [s for s in lines if s.kind == "valid"]
        want = Counter(f"eventlogging_{s.schema}" for s in valid if s.schema != "PaintTiming")
        assert acc["written"][uri] == dict(want)
        assert acc["totals"]["blacklisted"] == sum(s.schema == "PaintTiming" for s in valid)
        msgs = read_topic(broker.bootstrap_servers, "eventlogging_NavigationTiming")
    assert len(msgs) == want["eventlogging_NavigationTiming"]
    by_seq = {s.seq_id: s for s in valid}
    for m in msgs:
        capsule = json.loads(bytes(m["value"]))  # type: ignore[arg-type]
        exp = by_seq[capsule["seqId"]]
        assert capsule["event"] == exp.event
        assert m["key"] == (exp.wiki or "").encode()
    errors = _read_topics(errors_dir)
    assert list(errors) == ["errors"]
    assert len(errors["errors"]) == sum(s.kind != "valid" for s in lines) == 11
    assert acc["written"][f"file://{errors_dir}?topic=errors"] == {"errors": 11}


@pytest.mark.slow
def test_dry_run_counts_and_writes_nothing(
    spark: Any, schemas_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    schemas = load_sample_schemas(("painttiming",), source=schemas_dir)
    write_sample_schemas(tmp_path / "schemas", ("painttiming",), source=schemas_dir)
    lines = generate_lines(schemas, 9, hour=H3, seed=5, invalid_fraction=1 / 3)
    d = tmp_path / "raw/2024/01/05/03"
    d.mkdir(parents=True)
    (d / "raw.txt").write_text("".join(s.line + "\n" for s in lines))  # raw lines, no key
    report = tmp_path / "account.json"
    code = main(
        [*BASE[2:6], "--input_path", str(tmp_path / "raw"), "--schemas_path",
         str(tmp_path / "schemas"), "--dry_run", "--output", f"file://{tmp_path / 'out'}",
         "--report_path", str(report)],
    )  # fmt: skip
    assert code == 0
    assert not (tmp_path / "out").exists()
    # A dry run writes nothing, no report either: the account is on the console.
    assert not report.exists()
    out = capsys.readouterr().out
    valid = sum(s.kind == "valid" for s in lines)
    assert valid == 6
    assert f"total: read 9 = valid {valid} + validation " in out
    assert "missing" in out.split("Backfill account per hour", 1)[1]


@pytest.mark.slow
def test_a_report_path_that_cannot_be_written_stops_the_job_before_any_work(
    spark: Any, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "out"
    blocker = tmp_path / "a_file"
    blocker.write_text("not a directory\n")
    for path, reason in (
        # hdfs:// without a host, on a session whose default file system is the local disk
        ("hdfs:///reports/backfill.json", "hdfs"),
        ("nosuchscheme://host/reports/backfill.json", "nosuchscheme"),
        (str(blocker / "backfill.json"), "a_file"),
        (str(tmp_path), "found a directory"),
    ):
        code = main(
            [*BASE[2:6], "--input_path", str(tmp_path / "raw"), "--schemas_path",
             str(tmp_path / "schemas"), "--output", f"file://{out}", "--report_path", path],
        )  # fmt: skip
        err = capsys.readouterr().err
        assert code == 2, (path, err)
        assert f"--report_path: cannot write a report at {path}: " in err, err
        assert reason in err.split("cannot write a report at", 1)[1], err
        assert "\tat org.apache" not in err  # a message, not a stack trace
    # Nothing was read or written: the input and schema directories do not even exist.
    assert not out.exists()


def test_disabled_schemas_from_the_option_and_files(tmp_path: Path) -> None:
    names = tmp_path / "disabled.txt"
    names.write_text("# moved to EventGate\nPaintTiming\n\nSaveTiming  # removed\nEdit\n")
    cfg = parse_config(
        Config, [*BASE, "--dry_run", "--disabled_schemas", f"Edit,@{names},@file://{names}"]
    )
    assert cfg.disabled_schemas == ("Edit", "PaintTiming", "SaveTiming")
    with pytest.raises(ConfigError, match=r"--disabled_schemas: cannot read the names file '/no"):
        parse_config(Config, [*BASE, "--dry_run", "--disabled_schemas", "@/no/such/file"])
    with pytest.raises(ConfigError, match=r"--disabled_schemas: expected schema names .*'a b'"):
        parse_config(Config, [*BASE, "--dry_run", "--disabled_schemas", "a b"])


@pytest.mark.slow
def test_disabled_schemas_are_counted_never_written(
    spark: Any, schemas_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    names = ("navigationtiming", "painttiming")
    schemas = load_sample_schemas(names, source=schemas_dir)
    write_sample_schemas(tmp_path / "schemas", names, source=schemas_dir)
    lines = generate_lines(
        schemas,
        80,
        hour=H3,
        seed=21,
        invalid_fraction=0.25,
        invalid_kinds=("missing_required", "wrong_type", "bad_json"),
    )
    write_text_hour(tmp_path / "raw/2024/01/05/03", [s.line for s in lines], compress=False)
    paint = [s for s in lines if s.schema == "PaintTiming"]
    paint_valid = sum(s.kind == "valid" for s in paint)
    paint_validation = sum(s.code == "validation" for s in paint)
    assert paint_valid and paint_validation, "the sample must hold both for this test to mean much"

    def run(*extra: str) -> dict[str, Any] | None:
        report = tmp_path / f"account{len(extra)}.json"
        args = [
            "--input_path", str(tmp_path / "raw"),
            "--since", "2024-01-05T03", "--until", "2024-01-05T04",
            "--schemas_path", str(tmp_path / "schemas"),
            "--disabled_schemas", "PaintTiming",
            "--report_path", str(report),
            *extra,
        ]  # fmt: skip
        assert main(args) == 0
        return dict(json.loads(report.read_text())) if report.exists() else None

    # The dry run shows what would be dropped, on the console (it writes no report).
    assert run("--dry_run") is None
    printed = capsys.readouterr().out
    assert "disabled" in printed and f"+ disabled {paint_valid};" in printed

    out = tmp_path / "out"
    acc = run("--output", f"file://{out}", "--output_invalid")
    assert acc is not None and acc["disabled_schemas"] == ["PaintTiming"]
    topics = _read_topics(out)
    assert "eventlogging_PaintTiming" not in topics
    assert len(topics["eventlogging_NavigationTiming"]) == sum(
        s.kind == "valid" and s.schema == "NavigationTiming" for s in lines
    )
    # Invalid events of a disabled schema are still EventErrors, as in production.
    errors = [json.loads(t)["event"] for t in topics["eventlogging_EventError"]]
    assert sum(e["schema"] == "PaintTiming" and e["code"] == "validation" for e in errors) == (
        paint_validation
    )
    rows = {r["schema"]: r for r in acc["rows"]}
    p = rows["PaintTiming"]
    assert (p["valid"], p["disabled"], p["validation"]) == (0, paint_valid, paint_validation)
    for r in acc["rows"]:
        assert r["read"] == r["valid"] + r["validation"] + r["processor"] + r["disabled"]
        assert not any("PaintTiming" in label for label in r["written"])
    assert sum(r["read"] for r in acc["rows"]) == len(lines)
    assert acc["totals"]["disabled"] == paint_valid and acc["ok"] is True


@pytest.mark.slow
def test_a_failed_run_writes_its_report_with_what_it_had_done(
    spark: Any, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    d = tmp_path / "raw/2024/01/05/03"
    d.mkdir(parents=True)
    (d / "raw.txt").write_text("a raw line\n")
    report = tmp_path / "account.json"
    code = main(
        [*BASE[2:6], "--input_path", str(tmp_path / "raw"), "--schemas_path",
         str(tmp_path / "no_schemas_here"), "--output", f"file://{tmp_path / 'out'}",
         "--report_path", str(report)],
    )  # fmt: skip
    assert code == 1
    assert f"backfill failure report: file:{report}" in capsys.readouterr().out
    acc = json.loads(report.read_text())
    assert (acc["ok"], acc["status"]) == (False, "failed")
    assert "no_schemas_here" in acc["error"]
    # What was done before the failure: the hours were listed.
    assert [h["status"] for h in acc["hours"]] == ["ok", "missing"]
    assert acc["finished"] is not None and acc["config"]["schemas_path"].endswith("no_schemas_here")
    assert not (tmp_path / "out").exists()
