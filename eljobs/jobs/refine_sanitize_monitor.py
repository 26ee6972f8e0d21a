"""``python -m eljobs refine_sanitize_monitor``: RefineMonitor for a RefineSanitize job.

Loads and validates the allowlist (respecting ``--keep_all_enabled``), derives
``table_include_regex`` from its keys when not given, then runs the Refine monitor with that
config: targets that need or failed sanitization are reported; exit 1 when there are any.
Salts are not loaded.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

from eljobs.io.fs import filesystem
from eljobs.jobs.base import job_main
from eljobs.jobs.refine_sanitize import RefineSanitizeConfig, prepare
from eljobs.refine.monitor import MonitorResult, run_monitor
from eljobs.report import tracking

if TYPE_CHECKING:
    from pyspark.sql import SparkSession


#: The same options as refine_sanitize.
Config = RefineSanitizeConfig


def run(spark: SparkSession, cfg: RefineSanitizeConfig) -> MonitorResult:
    """Report the targets of the sanitize job that need or failed refinement."""
    # Opened before the allowlist is loaded, so that its failures are reported too.
    with tracking("refine_sanitize_monitor", cfg, fs=filesystem(spark)):
        cfg, _allowlist = prepare(cfg)
        return run_monitor(spark, cfg, job_name="refine_sanitize_monitor")


def main(argv: Sequence[str] | None = None) -> int:
    """Command-line entry; returns the exit code."""
    return job_main("refine_sanitize_monitor", RefineSanitizeConfig, run, argv)
