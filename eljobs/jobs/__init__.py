"""The jobs of eljobs, by command name. Each module has ``Config``, ``run(spark, cfg)`` and
``main(argv) -> int``; see :mod:`eljobs.jobs.base` for the shared entry logic."""

from __future__ import annotations

JOBS: dict[str, str] = {
    "backfill": "eljobs.jobs.backfill",
    "extract": "eljobs.jobs.extract",
    "refine": "eljobs.jobs.refine",
    "refine_dataset": "eljobs.jobs.refine_dataset",
    "refine_monitor": "eljobs.jobs.refine_monitor",
    "refine_sanitize": "eljobs.jobs.refine_sanitize",
    "refine_sanitize_monitor": "eljobs.jobs.refine_sanitize_monitor",
    "salts": "eljobs.jobs.salts",
}
