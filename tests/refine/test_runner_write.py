"""How the runner writes a partition: staged, then moved in place only when the input's
account passes the corrupt-record threshold and the table DDL went through.

A failing hour leaves no table, no partition and no staging directory behind; a failing rerun
keeps the old partition; when the catalog's columns differ from the planned ones the staged rows
are conformed again to the catalog's schema.
"""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Any

import pytest

from eljobs.config import parse_config
from eljobs.refine import hive
from eljobs.refine.options import RefineConfig
from eljobs.refine.runner import run_refine

HOUR = "year=2024/month=01/day=05/hour=03"


def _write_hour(tmp_path: Path, lines: list[str]) -> Path:
    d = tmp_path / "raw" / "eventlogging_Staged" / HOUR
    d.mkdir(parents=True, exist_ok=True)
    (d / "part-00000.json").write_text("\n".join(lines) + "\n")
    return d


def _cfg(tmp_path: Path, db: str, *extra: str) -> RefineConfig:
    return parse_config(
        RefineConfig,
        [
            f"--input_path={tmp_path / 'raw'}",
            r"--input_path_regex=eventlogging_(.+)/year=(\d+)/month=(\d+)/day=(\d+)/hour=(\d+)",
            "--input_path_regex_capture_groups=table,year,month,day,hour",
            f"--output_path={tmp_path / 'out'}",
            f"--output_database={db}",
            "--since=2024-01-05T03:00:00Z",
            "--until=2024-01-05T04:00:00Z",
            f"--report_path={tmp_path / 'report.json'}",
            *extra,
        ],
    )


def _event(n: int) -> str:
    return json.dumps({"schema": "Staged", "n": n, "wiki": "enwiki"})


@pytest.fixture
def db(spark: Any) -> str:
    name = "t_refine_staged"
    spark.sql(f"DROP DATABASE IF EXISTS {name} CASCADE")
    spark.sql(f"CREATE DATABASE {name}")
    return name


def test_corrupt_first_hour_creates_no_table_and_leaves_nothing(
    spark: Any, tmp_path: Path, db: str
):
    _write_hour(tmp_path, [_event(1), "{broken"])
    result = run_refine(spark, _cfg(tmp_path, db))
    (t,) = result.targets
    assert (t.status, t.read, t.corrupt, t.written) == ("failed", 2, 1, None)
    assert "Encountered 1 corrupt records out of 2" in (t.error or "")
    assert not spark.catalog.tableExists(f"{db}.staged")
    table_dir = tmp_path / "out" / "staged"
    # Only the failure flag is there: no data, no staging directory.
    files = [p.name for p in table_dir.rglob("*") if p.is_file() and not p.name.endswith(".crc")]
    assert files == ["_REFINE_FAILED"]
    assert not (table_dir / hive.STAGING_DIR).exists()


def test_failing_rerun_keeps_the_old_partition(spark: Any, tmp_path: Path, db: str):
    hour_dir = _write_hour(tmp_path, [_event(1), _event(2)])
    first = run_refine(spark, _cfg(tmp_path, db))
    assert [(t.status, t.read, t.written) for t in first.targets] == [("refined", 2, 2)]
    (hour_dir / "part-00000.json").write_text("\n".join([_event(3), "{broken", "{also"]) + "\n")
    again = run_refine(spark, _cfg(tmp_path, db, "--ignore_done_flag=true"))
    assert [(t.status, t.read, t.corrupt) for t in again.targets] == [("failed", 3, 2)]
    rows = spark.table(f"{db}.staged").select("n").collect()
    assert sorted(r["n"] for r in rows) == [1, 2]
    out_hour = tmp_path / "out" / "staged" / "year=2024/month=1/day=5/hour=3"
    assert (out_hour / "_REFINE_FAILED").is_file()
    assert sorted(p.name for p in out_hour.glob("*.parquet"))  # the old files, still there
    assert not (tmp_path / "out" / "staged" / hive.STAGING_DIR).exists()


def test_catalog_columns_other_than_planned_are_conformed_again(
    spark: Any, tmp_path: Path, db: str, monkeypatch: pytest.MonkeyPatch, caplog: Any
):
    _write_hour(tmp_path, [_event(1), _event(2)])
    real = hive.planned_table_schema

    def wrong_guess(target: Any, frame_schema: Any, existing: Any) -> Any:
        from pyspark.sql.types import StructType

        planned = real(target, frame_schema, existing)
        return StructType([f for f in planned.fields if f.name != "wiki"])

    monkeypatch.setattr(hive, "planned_table_schema", wrong_guess)
    with caplog.at_level(logging.WARNING, logger="eljobs.refine.runner"):
        result = run_refine(spark, _cfg(tmp_path, db))
    assert [(t.status, t.written) for t in result.targets] == [("refined", 2)]
    assert "rewriting the staged partition" in caplog.text
    rows = spark.table(f"{db}.staged").select("n", "wiki").collect()
    # The guess lacked "wiki": the rewrite fills the catalog's column as NULL, never fails.
    assert sorted((r["n"], r["wiki"]) for r in rows) == [(1, None), (2, None)]
    assert not (tmp_path / "out" / "staged" / hive.STAGING_DIR).exists()


def test_corrupt_lines_under_the_threshold_are_accounted_not_lost(
    spark: Any, tmp_path: Path, db: str, caplog: Any
):
    _write_hour(tmp_path, [_event(1), "{broken", _event(2), _event(3), '{"n": [oops'])
    with caplog.at_level(logging.WARNING, logger="eljobs.refine.reader"):
        result = run_refine(spark, _cfg(tmp_path, db, "--corrupt_record_failure_threshold=3"))
    (t,) = result.targets
    assert (t.status, t.read, t.corrupt, t.written) == ("refined", 5, 2, 3)
    # Every input line is either written or counted as corrupt (no transform drops rows here).
    assert t.read == t.written + t.corrupt
    assert spark.table(f"{db}.staged").count() == t.written
    assert "Encountered 2 corrupt records out of 5" in caplog.text
    assert "First corrupt record: {broken" in caplog.text
    report = json.loads((tmp_path / "report.json").read_text())
    assert (report["rows"][0]["read"], report["rows"][0]["corrupt"]) == (5, 2)
    assert report["rows"][0]["written"] == 3
