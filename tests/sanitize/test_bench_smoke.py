"""A tiny run of bench/sanitize/run.py (N = 300), so the benchmark code cannot rot."""

from __future__ import annotations

import importlib.util
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parents[2]


# Four small Parquet writes: cheap alone, but slow on a loaded 2-core machine.
@pytest.mark.slow
def test_bench_runs_and_checks_its_output(spark: Any, tmp_path: Path, capsys: Any) -> None:
    spec = importlib.util.spec_from_file_location("bench_sanitize", ROOT / "bench/sanitize/run.py")
    assert spec is not None and spec.loader is not None
    bench = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(bench)
    figures = bench.run(300, 1, tmp_path, partitions=1, spark=spark)
    out = capsys.readouterr().out
    assert "ratio sanitize/floor" in out and "output check: 20 sample rows" in out
    assert figures["n"] == 300 and figures["ratio"] > 0
