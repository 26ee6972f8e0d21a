"""The machine facts benchmarks print (no Spark)."""

from __future__ import annotations

import re

from eljobs.testing.machine import total_memory


def test_total_memory_reads_proc_meminfo() -> None:
    assert re.fullmatch(r"\d+\.\d GiB|\?", total_memory())
