"""End to end: raw JSON hours of three real schemas → Refine → Hive tables (slow).

Covers both schema modes (``eventlogging`` capsule and an Event Platform repository), table
evolution from a newer schema version, flags (rerun does nothing, touching an input directory
re-refines exactly that hour), a corrupt line failing only its hour, and the monitor.
"""

from __future__ import annotations

import json
import shutil
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest
import yaml

from eljobs.config import ConfigError, parse_config
from eljobs.refine.flags import DONE_FLAG, FAILED_FLAG, decode_flag
from eljobs.refine.monitor import run_monitor
from eljobs.refine.options import RefineConfig
from eljobs.refine.runner import run_refine

if TYPE_CHECKING:
    from typing import Any as RawWriter

pytestmark = pytest.mark.slow

SCHEMAS = (("navigationtiming", "NavigationTiming"), ("savetiming", "SaveTiming"), ("test", "Test"))

H1 = datetime(2024, 1, 5, 3, tzinfo=UTC)
H2 = H1 + timedelta(hours=1)
H3 = H1 + timedelta(hours=2)
REGEX = r"/eventlogging_(.+)/year=(\d+)/month=(\d+)/day=(\d+)/hour=(\d+)"


def _cfg(tmp_path: Path, db: str, *extra: str, until: datetime = H3) -> RefineConfig:
    return parse_config(
        RefineConfig,
        [
            "--input_path",
            str(tmp_path / "raw"),
            "--input_path_regex",
            REGEX,
            "--input_path_regex_capture_groups",
            "table,year,month,day,hour",
            "--output_path",
            str(tmp_path / "out"),
            "--output_database",
            db,
            "--since",
            H1.isoformat(),
            "--until",
            until.isoformat(),
            "--parallelism",
            "2",
            "--report_path",
            str(tmp_path / "report.json"),
            *extra,
        ],
    )


def _statuses(result: Any) -> dict[str, str]:
    return _statuses_in(result, "/out/")


def _statuses_in(result: Any, marker: str) -> dict[str, str]:
    return {r.partition_path.split(marker)[1]: r.status for r in result.targets}


def test_eventlogging_mode_on_backfill_output(
    spark: Any, tmp_path: Path, raw_writer: RawWriter, schemas_dir: Path, backfill_into_raw: Any
):
    db = "t_refine_e2e_el"
    spark.sql(f"CREATE DATABASE IF NOT EXISTS {db}")
    # Two hours of three real schemas through the real backfill job (file sink).
    el_schemas, counts = backfill_into_raw(
        spark, tmp_path, schemas_dir, tuple(n for n, _ in SCHEMAS), (H1, H2), 30
    )
    assert {t for t, _ in counts} == {n for n, _ in SCHEMAS}
    cfg = _cfg(
        tmp_path,
        db,
        "--schema_base_uris=eventlogging",
        f"--eventlogging_schemas_path={el_schemas}",
    )

    first = run_refine(spark, cfg)
    assert first.ok, first.failure_report
    assert sorted(_statuses(first)) == sorted(
        f"{n}/year=2024/month=1/day=5/hour={h}" for n, _ in SCHEMAS for h in (3, 4)
    )
    assert set(_statuses(first).values()) == {"refined"}
    for r in first.targets:
        table = r.table.split(".")[1]
        hour = int(r.partition_path.rsplit("hour=", 1)[1])
        assert r.read == r.written == counts[(table, hour)], r.target
    cols = spark.table(f"{db}.navigationtiming").columns
    assert cols == [
        "event", "wiki", "webhost", "schema", "revision", "topic", "recvfrom", "timestamp",
        "dt", "seqid", "uuid", "useragent", "ip", "year", "month", "day", "hour",
    ]  # fmt: skip
    nav = spark.table(f"{db}.navigationtiming")
    assert "isAnon" in nav.schema["event"].dataType.names
    assert nav.where("useragent.browser_family IS NOT NULL").count() == nav.count()
    for name, _ in SCHEMAS:
        assert spark.table(f"{db}.{name}").where("hour = 4").count() == counts[(name, 4)]
    report = json.loads((tmp_path / "report.json").read_text())
    assert report["ok"] and len(report["rows"]) == 6

    # The done flag holds the input directory's mtime, writeUTF-framed.
    save_el = next(
        p.name.removeprefix("eventlogging_")
        for p in (tmp_path / "raw").iterdir()
        if p.name.lower() == "eventlogging_savetiming"
    )
    hour_dir = raw_writer.hour_dir(save_el, H1)
    flag = tmp_path / "out/savetiming/year=2024/month=1/day=5/hour=3" / DONE_FLAG
    assert decode_flag(flag.read_bytes()) == int(hour_dir.stat().st_mtime * 1000)

    # Rerun without new input: nothing to do.
    assert run_refine(spark, cfg).targets == []

    # New input in one hour directory: exactly that hour is refined again.
    raw_writer.write(save_el, H1, [json.dumps({"schema": save_el, "event": {"saveTiming": 9}})],
                     name="part-00001.json")  # fmt: skip
    raw_writer.touch(hour_dir)
    again = run_refine(spark, cfg)
    assert _statuses(again) == {"savetiming/year=2024/month=1/day=5/hour=3": "refined"}
    assert again.targets[0].written == counts[("savetiming", 3)] + 1
    assert (
        spark.table(f"{db}.savetiming").where("hour = 3").count() == counts[("savetiming", 3)] + 1
    )

    # DB mode: the refined tables are the input; partitions [floor(since), floor(until)).
    out_db = "t_refine_e2e_db"
    spark.sql(f"CREATE DATABASE IF NOT EXISTS {out_db}")
    db_args = [
        f"--input_database={db}", f"--output_database={out_db}",
        f"--output_path={tmp_path / 'out_db'}", "--table_include_regex=test|savetiming",
        "--table_exclude_regex=save.*", f"--report_path={tmp_path / 'db.json'}",
    ]  # fmt: skip
    db_cfg = parse_config(
        RefineConfig, [*db_args, "--since=2024-01-05T03:59:00Z", f"--until={H3.isoformat()}"]
    )
    from_db = run_refine(spark, db_cfg)
    assert from_db.ok, from_db.failure_report
    assert sorted(_statuses_in(from_db, "/out_db/")) == [
        "test/year=2024/month=1/day=5/hour=3",
        "test/year=2024/month=1/day=5/hour=4",
    ]
    assert spark.table(f"{out_db}.test").schema == spark.table(f"{db}.test").schema
    assert spark.table(f"{out_db}.test").count() == counts[("test", 3)] + counts[("test", 4)]
    # An empty DB mode window is a bad option (exit 2), refused before any discovery.
    with pytest.raises(ConfigError, match="since equal to until"):
        parse_config(RefineConfig, [*db_args, "--since=2024-01-05T03:10:00Z",
                                    "--until=2024-01-05T03:50:00Z"])  # fmt: skip


def _schema_repo(tmp_path: Path, schemas_dir: Path) -> Path:
    repo = tmp_path / "schemas"
    for name, _ in SCHEMAS:
        shutil.copytree(schemas_dir / name, repo / name)
    return repo


def test_event_platform_mode_evolution_corrupt_and_monitor(
    spark: Any, tmp_path: Path, raw_writer: RawWriter, schemas_dir: Path
):
    db = "t_refine_e2e_ep"
    spark.sql(f"CREATE DATABASE IF NOT EXISTS {db}")
    repo = _schema_repo(tmp_path, schemas_dir)
    for name, el in SCHEMAS:
        for h in (H1, H2):
            raw_writer.write_events(name, el, h, 3, capsule=False)
    # A canary event and a replayed duplicate, removed by the transform functions.
    events = raw_writer.events("test", "Test", H1, 4, capsule=False)
    events[3]["meta"]["domain"] = "canary"
    raw_writer.write("Test", H1, [json.dumps(e) for e in [*events, events[0]]])
    extra = (
        f"--schema_base_uris=file://{repo}",
        "--merge_with_hive_schema_before_read=true",
        "--transform_functions=org.wikimedia.analytics.refinery.job.refine.remove_canary_events,"
        "deduplicate_eventlogging",
    )
    cfg = _cfg(tmp_path, db, *extra)
    first = run_refine(spark, cfg)
    assert first.ok, first.failure_report
    assert len(first.targets) == 6
    test_h1 = next(
        r for r in first.targets if r.partition_path.endswith("test/year=2024/month=1/day=5/hour=3")
    )
    assert (test_h1.read, test_h1.corrupt, test_h1.written) == (5, 0, 3)
    test_cols = spark.table(f"{db}.test").columns
    assert test_cols[:4] == ["_schema", "client_dt", "dt", "event"]
    assert {"meta", "http", "useragent", "year", "hour"} <= set(test_cols)
    assert spark.table(f"{db}.test").count() == 6

    # A newer schema version adds a nested event field and a top-level field; events of the
    # third hour carry them: the table evolves (column appended, struct member added).
    doc = yaml.safe_load((repo / "test/1.3.0.yaml").read_text())
    doc["$id"] = "/analytics/legacy/test/1.4.0"
    doc["properties"]["event"]["properties"]["newField"] = {"type": "string"}
    doc["properties"]["added_top"] = {"type": "integer"}
    (repo / "test/1.4.0.yaml").write_text(yaml.safe_dump(doc, sort_keys=False))
    events = raw_writer.events("test", "Test", H3, 2, capsule=False, extra_event={"newField": "x"})
    for e in events:
        e["$schema"] = "/analytics/legacy/test/1.4.0"
        e["added_top"] = 7
    raw_writer.write("Test", H3, [json.dumps(e) for e in events])
    # A corrupt line fails only its own hour.
    good = raw_writer.events("savetiming", "SaveTiming", H3, 2, capsule=False)
    raw_writer.write("SaveTiming", H3, [json.dumps(good[0]), "{not json", json.dumps(good[1])])

    cfg3 = _cfg(tmp_path, db, *extra, until=H3 + timedelta(hours=1))
    third = run_refine(spark, cfg3)
    assert _statuses(third) == {
        "test/year=2024/month=1/day=5/hour=5": "refined",
        "savetiming/year=2024/month=1/day=5/hour=5": "failed",
    }
    failed = next(r for r in third.targets if r.status == "failed")
    assert failed.error is not None
    assert failed.error.startswith("Failed refinement of ")
    assert "Encountered 1 corrupt records out of 3 total input records (33.33%)" in failed.error
    assert "corruptRecordFailureThreshold 1. First corrupt record: {not json" in failed.error
    assert not third.ok and third.failure_report is not None
    assert "--ignore_failure_flag=true" in third.failure_report
    assert "--table_include_regex=savetiming" in third.failure_report
    assert (tmp_path / "out/savetiming/year=2024/month=1/day=5/hour=5" / FAILED_FLAG).exists()

    table = spark.table(f"{db}.test")
    assert table.columns[-5:] == ["added_top", "year", "month", "day", "hour"]
    assert "newField" in table.schema["event"].dataType.names
    picked = table.selectExpr("hour", "event.newField AS new_field", "added_top").collect()
    rows = {r["hour"]: (r["new_field"], r["added_top"]) for r in picked}
    assert rows == {3: (None, None), 4: (None, None), 5: ("x", 7)}
    assert table.count() == 8

    # The monitor finds the failed hour and an hour that arrived after the run.
    raw_writer.write_events("navigationtiming", "NavigationTiming", H3, 1, capsule=False)
    monitor = run_monitor(spark, cfg3)
    assert not monitor.ok
    assert [p.split("/out/")[1] for p in monitor.failed] == [
        "savetiming/year=2024/month=1/day=5/hour=5"
    ]
    assert [p.split("/out/")[1] for p in monitor.needing] == [
        "navigationtiming/year=2024/month=1/day=5/hour=5"
    ]
    assert monitor.report is not None and "Targets with failures" in monitor.report
