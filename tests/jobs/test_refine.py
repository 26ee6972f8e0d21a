"""The refine and refine_monitor jobs from the command line: help, bad options, dry run, exit
codes and the emailed reports (local SMTP server)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from eljobs.jobs import refine, refine_monitor
from eljobs.testing.smtp import LocalSmtpServer


def _raw(tmp_path: Path) -> Path:
    raw = tmp_path / "raw"
    good = json.dumps({"schema": "Test", "event": {"OtherMessage": "hi"}, "wiki": "enwiki"})
    for hour, lines in (("03", [good, good]), ("04", [good, "{broken"])):
        d = raw / "eventlogging_Test" / f"year=2024/month=01/day=05/hour={hour}"
        d.mkdir(parents=True)
        (d / "part-00000.json").write_text("\n".join(lines) + "\n")
    return raw


def _args(tmp_path: Path, db: str) -> list[str]:
    return [
        "--input_path", str(tmp_path / "raw"),
        "--input_path_regex", r"eventlogging_(.+)/year=(\d+)/month=(\d+)/day=(\d+)/hour=(\d+)",
        "--input_path_regex_capture_groups", "table,year,month,day,hour",
        "--output_path", str(tmp_path / "out"),
        "--output_database", db,
        "--since", "2024-01-05T03:00:00Z",
        "--until", "2024-01-05T05:00:00Z",
        "--report_path", str(tmp_path / "report.json"),
    ]  # fmt: skip


def test_help_and_bad_options(capsys: pytest.CaptureFixture[str]):
    assert refine.main(["--help"]) == 0
    assert "--dataframereader_options <map>" in capsys.readouterr().out
    assert refine.main(["--input_path", "/x", "--input_database", "y"]) == 2
    err = capsys.readouterr().err
    assert "Only one of input_path or input_database is allowed." in err
    assert "output_database is required." in err
    assert refine_monitor.main(["--nope=1"]) == 2


def test_a_transform_outside_the_registry_stops_the_job_before_any_target(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
):
    _raw(tmp_path)
    argv = [*_args(tmp_path, "never_used"), "--transform_functions", "event_transforms,find_column"]
    assert refine.main(argv) == 2
    err = capsys.readouterr().err
    assert "--transform_functions: unknown transform function 'find_column'" in err
    assert "event_transforms" in err.split("expected one of", 1)[1]
    assert not (tmp_path / "out").exists() and not (tmp_path / "report.json").exists()


@pytest.mark.slow
def test_dry_run_prints_targets_and_writes_nothing(
    spark: Any, tmp_path: Path, capsys: pytest.CaptureFixture[str]
):
    _raw(tmp_path)
    assert refine.main([*_args(tmp_path, "t_refine_job"), "--dry_run=true"]) == 0
    out = capsys.readouterr().out
    for hour in ("03", "04"):
        line = (
            f"file:{tmp_path}/raw/eventlogging_Test/year=2024/month=01/day=05/hour={hour} -> "
            f"{tmp_path}/out/test/year=2024/month=1/day=5/hour={int(hour)}"
        )
        assert line in out
    assert not (tmp_path / "out").exists()
    assert not (tmp_path / "report.json").exists()
    assert refine.main([*_args(tmp_path, "t_refine_job"), "--dry_run=true", "--limit=1"]) == 0
    assert capsys.readouterr().out.count(" -> ") == 1


@pytest.mark.slow
def test_failed_hour_exits_1_and_emails_the_report_then_monitor_reports_it(
    spark: Any, tmp_path: Path, capsys: pytest.CaptureFixture[str]
):
    _raw(tmp_path)
    db = "t_refine_job"
    spark.sql(f"CREATE DATABASE IF NOT EXISTS {db}")
    with LocalSmtpServer() as smtp:
        email = ["--should_email_report=true", f"--smtp_uri={smtp.uri}", "--to_emails=a@x.org"]
        assert refine.main([*_args(tmp_path, db), *email]) == 1
        out = capsys.readouterr().out
        assert "refine: 2 targets, 1 failed" in out
        report = json.loads((tmp_path / "report.json").read_text())
        assert [r["status"] for r in report["rows"]] == ["refined", "failed"]
        assert report["rows"][0]["read"] == 2 and report["rows"][0]["written"] == 2
        assert "Encountered 1 corrupt records out of 2" in report["failures"][0]["error"]
        assert (report["rows"][1]["read"], report["rows"][1]["corrupt"]) == (2, 1)
        assert len(smtp.messages) == 1
        assert smtp.messages[0]["Subject"].startswith("Refine failures for job ")
        assert "--table_include_regex=test" in smtp.messages[0].get_payload(decode=True).decode()

        assert refine_monitor.main([*_args(tmp_path, db), *email]) == 1
        assert len(smtp.messages) == 2
        assert smtp.messages[1]["Subject"].startswith("RefineMonitor problem report for job ")
        assert "Targets with failures (1)" in smtp.messages[1].get_payload(decode=True).decode()

    # Nothing new: refine has nothing to do; the monitor still reports the failed hour.
    assert refine.main(_args(tmp_path, db)) == 0
    assert spark.table(f"{db}.test").count() == 2


@pytest.mark.slow
def test_a_missing_geocoding_database_fails_the_target_naming_it(
    spark: Any, tmp_path: Path, caplog: pytest.LogCaptureFixture
):
    hour = tmp_path / "raw" / "eventlogging_Test" / "year=2024/month=01/day=05/hour=03"
    hour.mkdir(parents=True)
    event = {"schema": "Test", "event": {"n": 1}, "wiki": "enwiki", "ip": "81.2.69.160"}
    (hour / "part-00000.json").write_text(json.dumps(event) + "\n")
    db = "t_refine_geo"
    spark.sql(f"CREATE DATABASE IF NOT EXISTS {db}")
    args = [*_args(tmp_path, db), "--transform_functions", "geocode_ip"]
    missing = tmp_path / "GeoIP2-City.mmdb"

    assert refine.main([*args, "--geocode_database", str(missing)]) == 1
    report = json.loads((tmp_path / "report.json").read_text())
    assert [r["status"] for r in report["rows"]] == ["failed"]
    assert f"expected a MaxMind City database file at '{missing}'" in report["rows"][0]["error"]

    # The demo/test database works, and the run says which file and build it used.
    with caplog.at_level("INFO"):
        assert refine.main([*args, "--geocode_database", "bundled", "--ignore_failure_flag"]) == 0
    assert "GeoLite2-City built 2018-07-03" in caplog.text
    assert "for the demo and tests only" in caplog.text
    row = spark.table(f"{db}.test").select("geocoded_data").first()
    assert row is not None and row.geocoded_data["country_code"] == "GB"


def test_since_after_until_is_a_bad_option_in_both_modes(capsys: pytest.CaptureFixture[str]):
    fs_mode = [*_args(Path("/tmp/never"), "never_used"), "--since", "2024-01-05T05:00:00Z",
               "--until", "2024-01-05T03:00:00Z"]  # fmt: skip
    assert refine.main(fs_mode) == 2
    err = capsys.readouterr().err
    assert (
        "since (2024-01-05T05:00:00+00:00) is after until (2024-01-05T03:00:00+00:00): "
        "expected since before until." in err
    )
    db_mode = ["--input_database", "event", "--output_database", "x", "--output_path", "/o"]
    assert refine.main([*db_mode, "--since", "2024-01-05T05", "--until", "2024-01-05T03"]) == 2
    assert "is after until" in capsys.readouterr().err
    # DB mode's window is [floor(since), floor(until)): an empty one is a bad option too.
    assert (
        refine.main([*db_mode, "--since", "2024-01-05T03:10", "--until", "2024-01-05T03:50"]) == 2
    )
    assert "since equal to until at hour granularity" in capsys.readouterr().err
    # FS mode rounds since up: since before until inside one hour is an empty window, not an
    # error (the Scala job's rule), so only an inverted window is refused there.
    assert refine_monitor.main(fs_mode) == 2


@pytest.mark.slow
def test_a_report_path_that_cannot_be_written_stops_refine_before_any_target(
    spark: Any, tmp_path: Path, capsys: pytest.CaptureFixture[str]
):
    _raw(tmp_path)
    for path in ("hdfs:///reports/refine.json", str(tmp_path / "raw")):
        argv = [*_args(tmp_path, "t_refine_never"), "--report_path", path]
        assert refine.main(argv) == 2
        err = capsys.readouterr().err
        assert f"--report_path: cannot write a report at {path}: " in err
        assert "\tat org.apache" not in err  # a message, not a stack trace
    assert not (tmp_path / "out").exists()


def _stop_at_hour_4(df: Any, *, context: Any = None) -> Any:
    # An operator stopping the run (or any error no target can catch) in the middle of it.
    if context is not None and context.partition.get("hour") in ("4", 4):
        raise SystemExit("stopped by the operator")
    return df


@pytest.mark.slow
def test_a_run_stopped_midway_reports_the_targets_done_so_far(spark: Any, tmp_path: Path):
    from eljobs.config import parse_config
    from eljobs.refine.options import RefineConfig
    from eljobs.refine.runner import run_refine

    _raw(tmp_path)
    db = "t_refine_stopped"
    spark.sql(f"CREATE DATABASE IF NOT EXISTS {db}")
    cfg = parse_config(RefineConfig, [*_args(tmp_path, db), "--parallelism", "1"])
    with pytest.raises(SystemExit):
        run_refine(spark, cfg, extra_transforms=[_stop_at_hour_4])
    report = json.loads((tmp_path / "report.json").read_text())
    assert (report["ok"], report["status"]) == (False, "failed")
    assert report["error"] == "SystemExit: stopped by the operator"
    # Hour 3 was refined before the stop; hour 4 never finished, so it is not in the rows.
    assert [(r["partition_path"].rsplit("/", 1)[1], r["status"]) for r in report["rows"]] == [
        ("hour=3", "refined")
    ]
    assert report["rows"][0]["written"] == 2
