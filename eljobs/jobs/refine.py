"""``python -m eljobs refine``: raw hourly partitions → evolving Hive tables.

Takes the Scala ``Refine`` job's ``.properties`` files and options unchanged (see
:class:`eljobs.refine.options.RefineConfig` and ``--help``). Exit 0 when every target was
refined (or nothing needed it), 1 when a target failed, 2 for bad options.

Example::

    python -m eljobs refine --config_file conf/refine_eventlogging_legacy.properties --since 26
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

from eljobs.jobs.base import job_main
from eljobs.refine.options import RefineConfig
from eljobs.refine.runner import RefineResult, run_refine

if TYPE_CHECKING:
    from pyspark.sql import SparkSession

Config = RefineConfig


def run(spark: SparkSession, cfg: RefineConfig) -> RefineResult:
    """Refine every target of ``cfg`` that needs it; ``result.ok`` iff none failed."""
    return run_refine(spark, cfg, job_name="refine")


def main(argv: Sequence[str] | None = None) -> int:
    """Command-line entry; returns the exit code."""
    return job_main("refine", Config, run, argv)
