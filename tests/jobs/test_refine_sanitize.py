"""refine_sanitize and its monitor: options, allowlist gate and derived include regex (fast;
the whole-job runs are in test_refine_sanitize_e2e.py)."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest

from eljobs.config import ConfigError, parse_config
from eljobs.jobs import refine_sanitize, refine_sanitize_monitor
from eljobs.jobs.refine_sanitize import RefineSanitizeConfig, prepare
from eljobs.sanitize import AllowlistError


def _argv(allowlist: Path, *extra: str) -> list[str]:
    return ["--input_database", "event", "--output_database", "event_sanitized",
            "--output_path", "/tmp/unused", "--allowlist_path", str(allowlist), *extra]  # fmt: skip


def test_allowlist_path_is_required() -> None:
    with pytest.raises(ConfigError, match="--allowlist_path: required option is missing"):
        parse_config(RefineSanitizeConfig, ["--input_database", "e", "--output_database", "o",
                                            "--output_path", "/x"])  # fmt: skip


def test_include_regex_derived_from_allowlist_keys(shared_data: Path) -> None:
    path = shared_data / "allowlists/event_sanitized_analytics_allowlist.yaml"
    cfg, allowlist = prepare(parse_config(RefineSanitizeConfig, _argv(path)))
    assert cfg.table_include_regex is not None
    rx = cfg.table_include_regex.pattern
    assert rx.startswith("^(__defaults__|centralnoticebannerhistory|") and rx.endswith(")$")
    assert cfg.table_include_regex.fullmatch("navigationtiming")
    assert not cfg.table_include_regex.fullmatch("navigationtimingx")
    assert len(allowlist.tables) == 51
    assert cfg.salts_path is None and cfg.keep_all_enabled is False
    # A given regex is kept.
    given = parse_config(RefineSanitizeConfig, _argv(path, "--table_include_regex", "savetiming"))
    assert prepare(given)[0].table_include_regex == re.compile("savetiming")


def test_keep_all_gate(shared_data: Path) -> None:
    path = shared_data / "allowlists/event_sanitized_main_allowlist.yaml"
    with pytest.raises(AllowlistError, match="'keep_all' tag is not permitted"):
        prepare(parse_config(RefineSanitizeConfig, _argv(path)))
    cfg, allowlist = prepare(
        parse_config(RefineSanitizeConfig, _argv(path, "--keep_all_enabled=true"))
    )
    assert set(allowlist.tables.values()) == {"keep_all"}
    assert cfg.table_include_regex is not None
    assert cfg.table_include_regex.fullmatch("mediawiki_page_create")


def test_jobs_fail_cleanly_on_an_invalid_allowlist_and_report_it(
    spark: Any, shared_data: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = shared_data / "allowlists/event_sanitized_main_allowlist.yaml"
    for job in (refine_sanitize, refine_sanitize_monitor):
        report = tmp_path / f"{job.__name__}.json"
        assert job.main(_argv(path, "--report_path", str(report))) == 1
        # The allowlist is loaded inside the run: its failure leaves a failed report.
        got = json.loads(report.read_text())
        assert (got["status"], got["rows"]) == ("failed", [])
        assert "'keep_all' tag is not permitted in sanitization allowlist." in got["error"]
    err = capsys.readouterr().err
    assert "'keep_all' tag is not permitted in sanitization allowlist." in err


def test_help_lists_the_sanitize_options(capsys: pytest.CaptureFixture[str]) -> None:
    assert refine_sanitize.main(["--help"]) == 0
    out = capsys.readouterr().out
    for opt in ("--allowlist_path", "--salts_path", "--keep_all_enabled", "--input_database"):
        assert opt in out
