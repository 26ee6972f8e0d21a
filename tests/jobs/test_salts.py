"""``python -m eljobs salts rotate`` end to end (no Spark): options, output, exit codes."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from eljobs.jobs.salts import main

ROOT = Path(__file__).resolve().parents[2]


def test_rotate_creates_and_expires(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    d = tmp_path / "salts"
    argv = ["rotate", "--salts_path", str(d), "--period", "3 months", "--retention", "50 days"]
    assert main([*argv, "--now", "2024-02-10T05:00"]) == 0
    assert os.listdir(d) == ["2024010100_2024040100_2024052100"]
    value = (d / "2024010100_2024040100_2024052100").read_text()
    assert main([*argv, "--now", "2024-05-21T00:00:00Z"]) == 0
    assert os.listdir(d) == ["2024040100_2024070100_2024082000"]
    out = capsys.readouterr()
    assert "2024010100_2024040100_2024052100  deleted" in out.out
    assert "2024040100_2024070100_2024082000  created" in out.out
    assert value not in out.out + out.err


def test_bad_options_exit_2(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["rotate", "--salts_path", str(tmp_path), "--period", "3 fortnights"]) == 2
    assert "--period: expected '<N> <unit>'" in capsys.readouterr().err
    assert main(["shred", "--salts_path", str(tmp_path)]) == 2
    assert main(["rotate"]) == 2  # salts_path is required


def test_foreign_file_exit_1(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (tmp_path / "README").write_text("x")
    assert main(["rotate", "--salts_path", str(tmp_path), "--now", "2024-01-01"]) == 1
    assert "README" in capsys.readouterr().err


def test_module_entry_point(tmp_path: Path) -> None:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    cmd = [sys.executable, "-m", "eljobs", "salts", "rotate", "--salts_path", str(tmp_path),
           "--period", "1 days", "--retention", "1 days", "--now", "2024-01-05T12"]  # fmt: skip
    p = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=60)
    assert p.returncode == 0, p.stderr
    assert os.listdir(tmp_path) == ["2024010500_2024010600_2024010700"]


def test_initial_and_one_off_modes(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    d = tmp_path / "salts"
    argv = ["rotate", "--salts_path", str(d), "--now", "2024-02-10T05:00"]
    assert main([*argv, "--initial"]) == 0
    assert os.listdir(d) == ["1970010100_2024040100_2024052100"]
    assert main([*argv, "--initial"]) == 1  # not a new directory any more
    assert "--initial creates the first salt of a new directory" in capsys.readouterr().err
    fixed = tmp_path / "fixed"
    one_off = ["rotate", "--salts_path", str(fixed), "--period", "none", "--retention", "none"]
    assert main([*one_off, "--now", "2024-02-10T05:00"]) == 0
    assert main([*one_off, "--now", "2030-01-01"]) == 0
    assert os.listdir(fixed) == ["2024021005__"]
