"""refine_dataset: the same raw hour refined by ``refine`` (discovery) and by
``refine_dataset`` (explicit input, table and partition) gives equal tables; its options are
checked as the Scala RefineHiveDataset checks them."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from eljobs.jobs import refine, refine_dataset
from eljobs.refine.iceberg_table import describe_table

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


# --------------------------------------------------------------------------------------------
# --table_format iceberg (the test session's Hadoop catalog "iceberg", eljobs.spark)

ICE_PARTITION = "year=2024/month=1/day=5/hour=3"


def _ice_hour(tmp_path: Path, name: str, events: list[dict[str, Any]], bad: str = "") -> Path:
    d = tmp_path / name
    d.mkdir()
    text = "".join(json.dumps(e) + "\n" for e in events) + (bad + "\n" if bad else "")
    (d / "part-00000.json").write_text(text)
    return d


def _ice_events(n: int, **extra: Any) -> list[dict[str, Any]]:
    return [
        {"schema": "Test", "event": {"n": i, "Msg": f"m{i}", **extra}, "webHost": "x.org"}
        for i in range(n)
    ]


def _ice_run(spark: Any, tmp_path: Path, db: str, src: Path, report: str, *more: str) -> int:
    warehouse = spark.conf.get("spark.sql.catalog.iceberg.warehouse")
    return refine_dataset.main(
        [
            f"--input_paths={src}",
            f"--partition_paths={ICE_PARTITION}",
            f"--table={db}.test",
            "--table_format=iceberg",
            "--iceberg_catalog=iceberg",
            # A Hadoop catalog keeps table <db>.<t> at <warehouse>/<db>/<t>.
            f"--output_path={warehouse}/{db}",
            f"--report_path={tmp_path / report}",
            *more,
        ]
    )


def _ice_snapshots(spark: Any, db: str) -> list[tuple[int, str]]:
    rows = spark.sql(
        f"SELECT snapshot_id, operation FROM iceberg.{db}.test.snapshots ORDER BY committed_at"
    ).collect()
    return [(r.snapshot_id, r.operation) for r in rows]


def test_iceberg_bad_options_exit_2(capsys: pytest.CaptureFixture[str]) -> None:
    code = refine_dataset.main(
        [
            "--input_paths=/a",
            "--partition_paths=year=2024",
            "--table=db.t",
            "--table_format=delta",
        ]
    )
    assert code == 2
    assert "Invalid table_format delta. Must be one of hive,iceberg." in capsys.readouterr().err
    code = refine_dataset.main(
        [
            "--input_paths=/a",
            "--partition_paths=year=2024",
            "--table=db.t",
            "--table_format=iceberg",
            "--iceberg_catalog=no.such",
            "--allow_table_recreate=true",
        ]
    )
    err = capsys.readouterr().err
    assert code == 2
    assert "Invalid iceberg_catalog 'no.such'" in err
    assert "allow_table_recreate applies to Hive tables only" in err


def test_iceberg_catalog_not_configured_fails_the_run_with_its_report(
    spark: Any, tmp_path: Path
) -> None:
    src = _ice_hour(tmp_path, "in", _ice_events(1))
    code = refine_dataset.main(
        [
            f"--input_paths={src}",
            f"--partition_paths={ICE_PARTITION}",
            "--table=ice_nocat.test",
            "--table_format=iceberg",
            "--iceberg_catalog=nosuch",
            f"--output_path={tmp_path / 'out'}",
            f"--report_path={tmp_path / 'r.json'}",
        ]
    )
    assert code == 1
    error = json.loads((tmp_path / "r.json").read_text())["failures"][0]["error"]
    assert "IcebergCatalogError" in error
    assert "expected spark.sql.catalog.nosuch to be one of" in error
    assert not (tmp_path / "out").exists()


def test_iceberg_new_table_in_a_hadoop_catalog_goes_where_the_catalog_puts_it(
    spark: Any, tmp_path: Path
) -> None:
    src = _ice_hour(tmp_path, "in", _ice_events(1))
    code = refine_dataset.main(
        [
            f"--input_paths={src}",
            f"--partition_paths={ICE_PARTITION}",
            "--table=ice_where.test",
            "--table_format=iceberg",
            "--iceberg_catalog=iceberg",
            f"--output_path={tmp_path / 'elsewhere'}",
            f"--report_path={tmp_path / 'r.json'}",
        ]
    )
    assert code == 1
    error = json.loads((tmp_path / "r.json").read_text())["failures"][0]["error"]
    warehouse = spark.conf.get("spark.sql.catalog.iceberg.warehouse")
    assert f"creates table ice_where.test at {warehouse}/ice_where/test" in error
    assert f"expected --output_path {warehouse}/ice_where or none" in error
    assert not spark.catalog.tableExists("iceberg.ice_where.test")


@pytest.mark.timeout(900)
def test_iceberg_create_evolve_rerun_and_read_back(spark: Any, tmp_path: Path) -> None:
    db = "ice_accept"
    spark.sql(f"DROP TABLE IF EXISTS iceberg.{db}.test")
    # Create: a new Iceberg table, identity-partitioned by the partition keys.
    first = _ice_hour(tmp_path, "h1", _ice_events(7))
    assert _ice_run(spark, tmp_path, db, first, "r1.json") == 0
    info = describe_table(spark, f"iceberg.{db}.test")
    assert info.provider == "iceberg"
    assert info.partitioning == ("year", "month", "day", "hour")
    table = spark.table(f"iceberg.{db}.test")
    assert table.count() == 7
    assert sorted(r.event.n for r in table.collect()) == list(range(7))
    report = json.loads((tmp_path / "r1.json").read_text())
    assert [(r["status"], r["read"], r["written"]) for r in report["rows"]] == [("refined", 7, 7)]
    # The flag sits in the partition directory, as for Hive tables; no staging is left.
    part = Path(f"{spark.conf.get('spark.sql.catalog.iceberg.warehouse')}/{db}/test") / (
        ICE_PARTITION
    )
    assert sorted(p.name for p in part.iterdir()) == ["_REFINED"]

    # Evolve: the same hour again with a new nested field and a new top-level one; the rows
    # replace the hour's (5, not 7 + 5) in one overwrite snapshot.
    events = [{**e, "extra": "x"} for e in _ice_events(5, added=1.5)]
    second = _ice_hour(tmp_path, "h2", events)
    assert _ice_run(spark, tmp_path, db, second, "r2.json") == 0
    table = spark.table(f"iceberg.{db}.test")
    assert table.schema["event"].dataType.fieldNames() == ["Msg", "n", "added"]
    assert table.schema.fieldNames()[-1] == "extra"
    rows = table.collect()
    assert len(rows) == 5
    assert {(r.event.added, r.extra) for r in rows} == {(1.5, "x")}
    assert _ice_snapshots(spark, db)[-1][1] == "overwrite"

    # Rerun the same input: the same rows, no duplicates.
    before = sorted(spark.table(f"iceberg.{db}.test").collect())
    assert _ice_run(spark, tmp_path, db, second, "r3.json") == 0
    after = sorted(spark.table(f"iceberg.{db}.test").collect())
    assert after == before
    assert spark.table(f"iceberg.{db}.test").select("event.n").distinct().count() == 5

    # An older event shape into another hour: the table keeps its columns, NULLs fill in.
    older = _ice_hour(tmp_path, "h3", _ice_events(2))
    code = refine_dataset.main(
        [
            f"--input_paths={older}",
            "--partition_paths=year=2024/month=1/day=5/hour=4",
            f"--table={db}.test",
            "--table_format=iceberg",
            "--iceberg_catalog=iceberg",
            f"--report_path={tmp_path / 'r4.json'}",
        ]
    )
    assert code == 0
    by_hour = {
        r.hour: r.c
        for r in spark.table(f"iceberg.{db}.test")
        .groupBy("hour")
        .count()
        .toDF("hour", "c")
        .collect()
    }
    assert by_hour == {3: 5, 4: 2}
    assert (
        spark.sql(
            f"SELECT count(*) FROM iceberg.{db}.test WHERE hour = 4 AND extra IS NULL"
        ).first()[0]
        == 2
    )


@pytest.mark.timeout(900)
def test_iceberg_failing_dataset_leaves_table_and_partition_as_they_were(
    spark: Any, tmp_path: Path
) -> None:
    db = "ice_fail"
    spark.sql(f"DROP TABLE IF EXISTS iceberg.{db}.test")
    # A first run that fails (a malformed line, FAILFAST) creates no table.
    broken = _ice_hour(tmp_path, "broken", _ice_events(3, later=1), bad="{not json")
    assert _ice_run(spark, tmp_path, db, broken, "r0.json") == 1
    assert not spark.catalog.tableExists(f"iceberg.{db}.test")

    good = _ice_hour(tmp_path, "good", _ice_events(4))
    assert _ice_run(spark, tmp_path, db, good, "r1.json") == 0
    schema = spark.table(f"iceberg.{db}.test").schema
    rows = sorted(spark.table(f"iceberg.{db}.test").collect())
    snapshots = _ice_snapshots(spark, db)

    # The same hour with a new field and a malformed line, read PERMISSIVE: the rows are
    # staged, then the corrupt-record account fails the target before any DDL or commit; no
    # column is added and the partition keeps its rows.
    assert (
        _ice_run(
            spark, tmp_path, db, broken, "r2.json", "--dataframe_reader_options=mode:PERMISSIVE"
        )
        == 1
    )
    report = json.loads((tmp_path / "r2.json").read_text())
    assert [(r["status"], r["read"], r["corrupt"]) for r in report["rows"]] == [("failed", 4, 1)]
    assert "Failed refinement of" in report["failures"][0]["error"]
    spark.sql(f"REFRESH TABLE iceberg.{db}.test")
    assert spark.table(f"iceberg.{db}.test").schema == schema
    assert sorted(spark.table(f"iceberg.{db}.test").collect()) == rows
    assert _ice_snapshots(spark, db) == snapshots
    part = Path(f"{spark.conf.get('spark.sql.catalog.iceberg.warehouse')}/{db}/test") / (
        ICE_PARTITION
    )
    # The failure flag beside the last success's, as for a Hive partition (refine_monitor
    # compares their times); no staging is left.
    assert sorted(p.name for p in part.iterdir()) == ["_REFINED", "_REFINE_FAILED"]
    # A good rerun replaces both flags with its own.
    assert _ice_run(spark, tmp_path, db, good, "r3.json") == 0
    assert sorted(p.name for p in part.iterdir()) == ["_REFINED"]
    assert sorted(spark.table(f"iceberg.{db}.test").collect()) == rows
