"""A tiny run of bench/backfill/profile_processor.py (the benchmark itself is not run here)."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest

SCRIPT = Path(__file__).resolve().parents[2] / "bench" / "backfill" / "profile_processor.py"


def test_profile_script_smoke(capsys: pytest.CaptureFixture[str]) -> None:
    spec = importlib.util.spec_from_file_location("profile_processor", SCRIPT)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    lines, repo = module.build_lines(300)
    assert len(lines) == 300 and len(repo) == 55
    assert all(line.count("\t") == 5 for line in lines)
    assert module.main(["300"]) == 0
    out = capsys.readouterr().out
    assert "Processor.process:" in out and "lines/s of CPU" in out and "cProfile" in out
    assert "'valid'" in out
