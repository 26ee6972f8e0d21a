"""``python -m eljobs refine_dataset``: the given input directories → the given Hive or Iceberg
table and partitions (the Scala ``RefineHiveDataset`` CLI's options, as an Airflow task passes
them; ``--table_format iceberg`` for the output of ``RefineIcebergDataset``).

Exit 0 when every partition was refined, 1 when one failed, 2 for bad options.

Example::

    python -m eljobs refine_dataset --config_file conf/refine_dataset_navigationtiming.properties \\
      --input_paths $RAW/eventlogging_NavigationTiming/year=2024/month=02/day=15/hour=00 \\
      --partition_paths year=2024/month=2/day=15/hour=0
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

from eljobs.jobs.base import job_main
from eljobs.refine.dataset import RefineDatasetConfig, run_refine_dataset

if TYPE_CHECKING:
    from pyspark.sql import SparkSession

    from eljobs.refine.runner import RefineResult

Config = RefineDatasetConfig


def run(spark: SparkSession, cfg: RefineDatasetConfig) -> RefineResult:
    """Refine every input of ``cfg``; ``result.ok`` iff none failed."""
    return run_refine_dataset(spark, cfg)


def main(argv: Sequence[str] | None = None) -> int:
    """Command-line entry; returns the exit code."""
    return job_main("refine_dataset", Config, run, argv)
