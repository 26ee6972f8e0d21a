"""The shared job entry: exit codes, and the report of every run, failed ones included, at a
path checked before the run starts (a job without Spark, so no session is needed)."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from eljobs.config import JobConfig, option
from eljobs.errors import OutputError
from eljobs.jobs.base import job_main
from eljobs.report import tracking


@dataclass(frozen=True, kw_only=True)
class Config(JobConfig):
    """A tiny job."""

    report_path: str | None = option(None, help="report")
    fail: bool = option(False, help="raise after the first step")


def run(spark: Any, cfg: Config) -> bool:
    calls.append(cfg)
    with tracking("tiny", cfg) as t:
        t.report.rows.append({"step": 1, "written": 10})
        if cfg.fail:
            raise OutputError("the sink refused step 2 (expected 10 acknowledgements, found 3)")
        t.report.rows.append({"step": 2, "written": 10})
        t.write(True)
    return True


calls: list[Config] = []


def test_success_and_failure_both_leave_a_report(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "r.json"
    assert job_main("tiny", Config, run, ["--report_path", str(path)], needs_spark=False) == 0
    assert json.loads(path.read_text())["status"] == "succeeded"

    argv = ["--report_path", str(path), "--fail"]
    assert job_main("tiny", Config, run, argv, needs_spark=False) == 1
    err = capsys.readouterr().err
    assert "eljobs tiny failed: the sink refused step 2" in err
    report = json.loads(path.read_text())
    assert (report["ok"], report["status"]) == (False, "failed")
    assert report["error"].startswith("OutputError: the sink refused step 2")
    assert report["rows"] == [{"step": 1, "written": 10}]  # what was done before the failure


def test_an_unwritable_report_path_exits_2_before_the_run(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    blocker = tmp_path / "a_file"
    blocker.write_text("x")
    calls.clear()
    path = str(blocker / "r.json")
    assert job_main("tiny", Config, run, ["--report_path", path], needs_spark=False) == 2
    err = capsys.readouterr().err
    assert f"--report_path: cannot write a report at {path}: " in err
    assert calls == []  # run never started
