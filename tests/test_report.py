"""Run reports: the JSON form, the report path check, and the one way a run's report is written
on success and on failure (:func:`eljobs.report.tracking`)."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from eljobs.config import JobConfig, option
from eljobs.io.fs import LocalFileSystem, filesystem
from eljobs.report import (
    ReportPathError,
    RunReport,
    check_report_path,
    error_text,
    report_target,
    tracking,
)
from eljobs.secrets import register


@dataclass(frozen=True, kw_only=True)
class Job(JobConfig):
    """A job with a report."""

    report_path: str | None = option(None, help="report")
    dry_run: bool = option(False, help="write nothing")
    salt: str = option("", help="a secret option", secret=True)


@dataclass(frozen=True, kw_only=True)
class Reported(Job):
    """A job whose default report goes next to its output."""

    output: str = option(help="output")

    def default_report(self, job: str) -> str:
        return f"{self.output}/_{job}_report.json"


@dataclass(frozen=True, kw_only=True)
class NoReport(JobConfig):
    """A job without a report option."""

    dry_run: bool = option(False, help="write nothing")


def test_the_json_has_status_and_error() -> None:
    ok = RunReport("j", {}).finish(True).to_dict()
    assert (ok["ok"], ok["status"], ok["error"]) == (True, "succeeded", None)
    failed = RunReport("j", {}, error="E: boom").finish(False).to_dict()
    assert (failed["ok"], failed["status"], failed["error"]) == (False, "failed", "E: boom")


def test_report_target_defaults_and_dry_runs(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ELJOBS_WORK", "/tmp/eljobs-work-for-test")
    assert report_target("j", Job(report_path="file:///x/r.json")) == "file:///x/r.json"
    default = report_target("j", Job()) or ""
    assert default.startswith("file:/tmp/eljobs-work-for-test/reports/j-")
    assert report_target("e", Reported(output="hdfs://nn/o")) == "hdfs://nn/o/_e_report.json"
    assert report_target("j", Job(report_path="/x/r.json", dry_run=True)) is None
    assert report_target("j", NoReport()) is None


def test_error_text_is_one_redacted_line() -> None:
    register(["never-show-this-salt-form"])
    assert error_text(ValueError("bad value")) == "ValueError: bad value"
    assert error_text(RuntimeError("")) == "RuntimeError"
    text = error_text(RuntimeError("near never-show-this-salt-form\n\tat Foo.bar(Foo.java:1)"))
    assert text == "RuntimeError: near *****"


def test_check_report_path_on_the_local_disk(tmp_path: Path) -> None:
    fs = LocalFileSystem()
    target = tmp_path / "new" / "dir" / "r.json"
    assert check_report_path(str(target), fs) == f"file:{target}"
    assert target.parent.is_dir() and list(target.parent.iterdir()) == []  # probe removed
    blocker = tmp_path / "a_file"
    blocker.write_text("x")
    cases = {
        # the layer's own words ("Not a directory" locally, through Hadoop "not a directory")
        str(blocker / "r.json"): "directory",
        str(tmp_path): "found a directory",
        # plain Python reaches local paths only: said, not raised as a traceback
        "hdfs://nn:8020/reports/r.json": "needs a Spark session",
    }
    for path, reason in cases.items():
        with pytest.raises(ReportPathError) as e:
            check_report_path(path, fs)
        (problem,) = e.value.problems
        assert problem.startswith(f"--report_path: cannot write a report at {path}: "), problem
        assert reason in problem


@pytest.mark.slow
def test_check_report_path_through_hadoop(spark: Any, tmp_path: Path) -> None:
    fs = filesystem(spark)
    assert check_report_path(f"file://{tmp_path}/r.json", fs) == f"file:{tmp_path}/r.json"
    for path in ("hdfs:///reports/r.json", "nosuchscheme://host/reports/r.json"):
        with pytest.raises(ReportPathError) as e:
            check_report_path(path, fs)
        (problem,) = e.value.problems
        assert problem.startswith(f"--report_path: cannot write a report at {path}: "), problem
        assert "\n\tat " not in problem  # a message, not a Java stack trace


def test_a_failure_writes_the_report_with_the_redacted_error_and_the_work_done(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    register(["salt-value-of-this-test-0123"])
    path = tmp_path / "r.json"
    cfg = Job(report_path=str(path), salt="salt-value-of-this-test-0123")
    with pytest.raises(RuntimeError), tracking("j", cfg, fs=LocalFileSystem()) as t:
        t.report.rows.append({"target": "a", "status": "refined"})
        t.report.extra["hours"] = ["h1"]
        raise RuntimeError("hashing failed near salt-value-of-this-test-0123")
    report = json.loads(path.read_text())
    assert (report["ok"], report["status"]) == (False, "failed")
    assert report["error"] == "RuntimeError: hashing failed near *****"
    assert report["rows"] == [{"target": "a", "status": "refined"}]
    assert report["hours"] == ["h1"] and report["finished"] is not None
    assert report["config"]["salt"] == "*****"
    assert "salt-value-of-this-test-0123" not in path.read_text()
    assert f"j failure report: file:{path}" in capsys.readouterr().out


def test_success_is_written_by_the_job_and_nested_tracking_shares_one_report(
    tmp_path: Path,
) -> None:
    path = tmp_path / "r.json"
    copy = tmp_path / "copy.json"
    fs = LocalFileSystem()
    # the job's own run opens it again, with a derived config: the same tracker
    with (
        tracking("j", Job(report_path=str(path)), fs=fs) as outer,
        tracking("j", Job(report_path=str(path), salt="x"), fs=fs) as inner,
    ):
        assert inner is outer
        written = inner.write(True, copies=[str(copy)])
    assert written == [f"file:{copy}", f"file:{path}"]
    assert json.loads(path.read_text()) == json.loads(copy.read_text())
    assert json.loads(path.read_text())["status"] == "succeeded"
    # A failure inside the nested one is written once, by the outer one, as failed.
    with (
        pytest.raises(ValueError),
        tracking("j", Job(report_path=str(path)), fs=fs),
        tracking("j", Job(report_path=str(path)), fs=fs),
    ):
        raise ValueError("late")
    report = json.loads(path.read_text())
    assert (report["status"], report["error"]) == ("failed", "ValueError: late")


def test_a_dry_run_writes_no_report_even_on_failure(tmp_path: Path) -> None:
    path = tmp_path / "r.json"
    with tracking("j", Job(report_path=str(path), dry_run=True), fs=LocalFileSystem()) as t:
        assert t.write(True) == []
    with pytest.raises(KeyError), tracking("j", Job(report_path=str(path), dry_run=True)):
        raise KeyError("x")
    assert not path.exists()


def test_a_bad_report_path_is_refused_before_the_body_runs(tmp_path: Path) -> None:
    blocker = tmp_path / "a_file"
    blocker.write_text("x")
    ran = []
    with (
        pytest.raises(ReportPathError, match="cannot write a report at"),
        tracking("j", Job(report_path=str(blocker / "r.json")), fs=LocalFileSystem()),
    ):
        ran.append(True)
    assert ran == []
