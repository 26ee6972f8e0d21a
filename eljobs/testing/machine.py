"""Facts about the machine a benchmark ran on (benchmarks state them next to their figures)."""

from __future__ import annotations

from pathlib import Path


def total_memory() -> str:
    """Total memory from ``/proc/meminfo`` as ``"23.5 GiB"``, or ``"?"`` where unreadable."""
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal:"):
                return f"{int(line.split()[1]) / 1024 / 1024:.1f} GiB"
    except (OSError, ValueError, IndexError):
        pass
    return "?"
