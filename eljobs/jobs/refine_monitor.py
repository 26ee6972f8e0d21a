"""``python -m eljobs refine_monitor``: report Refine targets that need or failed refinement. Same
options as ``refine``; exit 1 when any target is found, 0 otherwise.

Example::

    python -m eljobs refine_monitor --config_file conf/refine_eventlogging_legacy.properties \\
        --since 48 --until 4
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

from eljobs.jobs.base import job_main
from eljobs.refine.monitor import MonitorResult, run_monitor
from eljobs.refine.options import RefineConfig

if TYPE_CHECKING:
    from pyspark.sql import SparkSession

Config = RefineConfig


def run(spark: SparkSession, cfg: RefineConfig) -> MonitorResult:
    """Find targets needing or failed refinement; ``result.ok`` when there are none."""
    return run_monitor(spark, cfg, job_name="refine_monitor")


def main(argv: Sequence[str] | None = None) -> int:
    """Command-line entry; returns the exit code."""
    return job_main("refine_monitor", Config, run, argv)
