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
from eljobs.refine import hive_table
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
    assert not list(table_dir.rglob(f"{hive_table.STAGING_PREFIX}*"))


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
    assert sorted(p.name for p in out_hour.glob("data-*/*.parquet"))  # the old files, still there
    assert not list((tmp_path / "out" / "staged").rglob(f"{hive_table.STAGING_PREFIX}*"))


def test_catalog_columns_other_than_planned_are_conformed_again(
    spark: Any, tmp_path: Path, db: str, monkeypatch: pytest.MonkeyPatch, caplog: Any
):
    _write_hour(tmp_path, [_event(1), _event(2)])
    real = hive_table.HiveTableWriter.planned_schema

    def wrong_guess(self: Any, frame_schema: Any, existing: Any) -> Any:
        from pyspark.sql.types import StructType

        planned = real(self, frame_schema, existing)
        return StructType([f for f in planned.fields if f.name != "wiki"])

    monkeypatch.setattr(hive_table.HiveTableWriter, "planned_schema", wrong_guess)
    with caplog.at_level(logging.WARNING, logger="eljobs.refine.runner"):
        result = run_refine(spark, _cfg(tmp_path, db))
    assert [(t.status, t.written) for t in result.targets] == [("refined", 2)]
    assert "rewriting the staged partition" in caplog.text
    rows = spark.table(f"{db}.staged").select("n", "wiki").collect()
    # The guess lacked "wiki": the rewrite fills the catalog's column as NULL, never fails.
    assert sorted((r["n"], r["wiki"]) for r in rows) == [(1, None), (2, None)]
    assert not list((tmp_path / "out" / "staged").rglob(f"{hive_table.STAGING_PREFIX}*"))


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


def test_names_that_collide_fail_every_target_and_glob_characters_read_only_their_dir(
    spark: Any, tmp_path: Path, db: str
):
    # Bar'x and Bar;x both normalize to bar_x: neither is refined. The other names hold glob
    # characters that, unescaped, would read a neighbour's files (Q? also matches Qx, S[x]
    # matches Sx, A{b,c} matches Ab and Ac but not itself).
    counts = {"Bar'x": 13, "Bar;x": 14, "Q?": 1, "Qx": 2, "S[x]": 3, "Sx": 4, "A{b,c}": 5, "Ab": 6}
    for name, n in counts.items():
        d = tmp_path / "raw" / f"eventlogging_{name}" / HOUR
        d.mkdir(parents=True)
        lines = [json.dumps({"schema": name, "n": i}) for i in range(n)]
        (d / "part-00000.json").write_text("\n".join(lines) + "\n")
    result = run_refine(spark, _cfg(tmp_path, db))
    assert not result.ok
    by_table: dict[str, list[Any]] = {}
    for t in result.targets:
        by_table.setdefault(t.table, []).append(t)
    collided = by_table.pop(f"{db}.bar_x")
    assert [t.status for t in collided] == ["failed", "failed"]
    for t in collided:
        assert "TableNameCollisionError" in (t.error or "")
        assert "eventlogging_Bar'x" in (t.error or "") and "eventlogging_Bar;x" in (t.error or "")
    assert not spark.catalog.tableExists(f"{db}.bar_x")
    out_hour = tmp_path / "out" / "bar_x" / "year=2024/month=1/day=5/hour=3"
    assert (out_hour / "_REFINE_FAILED").is_file()
    assert "--table_include_regex=bar_x " in (result.failure_report or "")

    expected = {"q_": 1, "qx": 2, "s_x_": 3, "sx": 4, "a_b_c_": 5, "ab": 6}
    assert {t.split(".")[1]: r[0].status for t, r in by_table.items()} == dict.fromkeys(
        expected, "refined"
    )
    for table, n in expected.items():
        assert spark.table(f"{db}.{table}").count() == n, table
