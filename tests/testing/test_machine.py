"""The machine facts benchmarks print (no Spark)."""

from __future__ import annotations

import re

import pytest

from eljobs.testing.machine import total_memory


def test_total_memory_reads_proc_meminfo() -> None:
    # Linux CI always has /proc/meminfo: the figure must be read, not the "?" fallback.
    assert re.fullmatch(r"\d+\.\d GiB", total_memory())


def test_total_memory_says_unknown_where_meminfo_is_unreadable(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from pathlib import Path

    def unreadable(self: Path, *a: object, **k: object) -> str:
        raise OSError("no such file")

    monkeypatch.setattr(Path, "read_text", unreadable)
    assert total_memory() == "?"
