"""refine_dataset: the same raw hour refined by ``refine`` (discovery) and by
``refine_dataset`` (explicit input, table and partition) gives equal tables; its options are
checked as the Scala RefineHiveDataset checks them."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from eljobs.jobs import refine, refine_dataset

HOUR = "year=2024/month=01/day=05/hour=03"


def _raw_hour(tmp_path: Path) -> Path:
    d = tmp_path / "raw" / "eventlogging_Test" / HOUR
    d.mkdir(parents=True)
    lines = [
        json.dumps({"schema": "Test", "event": {"n": i, "Msg": f"m{i}"}, "webHost": "x.org"})
        for i in range(7)
    ]
    (d / "part-00000.json").write_text("\n".join(lines) + "\n")
    return d


def test_bad_options_exit_2_naming_each_problem(capsys: pytest.CaptureFixture[str]):
    code = refine_dataset.main(
        [
            "--input_paths=/a,/b",
            "--partition_paths=year=2024",
            "--table=notqualified",
            "--spark_job_scale=huge",
        ]
    )
    err = capsys.readouterr().err
    assert code == 2
    assert "input_paths and partition_paths must have the same number of elements" in err
    assert "found 2 and 1" in err
    assert "Invalid table 'notqualified'" in err
    assert "Invalid spark_job_scale huge" in err


@pytest.mark.slow
@pytest.mark.timeout(1800)  # two whole jobs; minutes on a loaded 2-core machine
def test_same_hour_by_refine_and_by_refine_dataset_gives_equal_tables(spark: Any, tmp_path: Path):
    hour_dir = _raw_hour(tmp_path)
    for db in ("t_by_refine", "t_by_dataset"):
        spark.sql(f"DROP DATABASE IF EXISTS {db} CASCADE")
        spark.sql(f"CREATE DATABASE {db}")
    transforms = "--transform_functions=add_is_wmf_domain,add_normalized_host"
    assert (
        refine.main(
            [
                f"--input_path={tmp_path / 'raw'}",
                r"--input_path_regex=eventlogging_(.+)/year=(\d+)/month=(\d+)/day=(\d+)/hour=(\d+)",
                "--input_path_regex_capture_groups=table,year,month,day,hour",
                f"--output_path={tmp_path / 'out1'}",
                "--output_database=t_by_refine",
                "--since=2024-01-05T03:00:00Z",
                "--until=2024-01-05T04:00:00Z",
                transforms,
                f"--report_path={tmp_path / 'r1.json'}",
            ]
        )
        == 0
    )
    assert (
        refine_dataset.main(
            [
                f"--input_paths={hour_dir}",
                "--partition_paths=year=2024/month=1/day=5/hour=3",
                "--table=t_by_dataset.test",
                f"--output_path={tmp_path / 'out2'}",
                transforms,
                f"--report_path={tmp_path / 'r2.json'}",
            ]
        )
        == 0
    )
    by_refine = spark.table("t_by_refine.test")
    by_dataset = spark.table("t_by_dataset.test")
    assert by_dataset.schema == by_refine.schema
    assert sorted(by_dataset.collect()) == sorted(by_refine.collect())
    assert by_dataset.count() == 7
    report = json.loads((tmp_path / "r2.json").read_text())
    assert [(r["status"], r["read"], r["written"]) for r in report["rows"]] == [("refined", 7, 7)]
    # spark_job_scale=small: one file in the partition's data directory.
    part = tmp_path / "out2" / "test" / "year=2024/month=1/day=5/hour=3"
    assert len(list(part.glob("data-*/*.parquet"))) == 1


@pytest.mark.slow
def test_a_dataset_that_cannot_start_writes_a_failed_report_and_a_bad_path_exits_2(
    spark: Any, tmp_path: Path, capsys: pytest.CaptureFixture[str]
):
    hour_dir = _raw_hour(tmp_path)
    spark.sql("CREATE DATABASE IF NOT EXISTS t_dataset_fails")
    argv = [
        f"--input_paths={hour_dir}",
        "--partition_paths=year=2024/month=1/day=5/hour=3",
        "--table=t_dataset_fails.nosuchtable",  # no table and no --output_path
    ]
    report = tmp_path / "r.json"
    assert refine_dataset.main([*argv, f"--report_path={report}"]) == 1
    got = json.loads(report.read_text())
    assert (got["ok"], got["status"]) == (False, "failed")
    assert got["error"].startswith("TableLocationError: table t_dataset_fails.nosuchtable")
    assert got["rows"] == []  # no partition was refined
    assert refine_dataset.main([*argv, f"--report_path={tmp_path}"]) == 2
    assert f"--report_path: cannot write a report at {tmp_path}: " in capsys.readouterr().err
