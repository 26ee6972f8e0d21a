"""RefineMonitor: report targets that need or failed refinement.

Discovers targets exactly like Refine, keeps those for which ``should_refine`` with
``ignore_failure_flag=True`` holds, logs (and optionally emails) a report; ``ok`` only when
nothing was found. Nothing is read or written besides listing the file system and catalog.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from eljobs.io.email import send_email
from eljobs.io.fs import filesystem
from eljobs.refine.flags import should_refine
from eljobs.refine.report import monitor_report
from eljobs.refine.targets import RefineTarget, discover_targets
from eljobs.report import ReportTracker, format_table, tracking

if TYPE_CHECKING:
    from pyspark.sql import SparkSession

    from eljobs.io.fs import FileSystem
    from eljobs.refine.options import RefineConfig

log = logging.getLogger(__name__)


@dataclass
class MonitorResult:
    """``ok`` is true when no target needs or failed refinement."""

    ok: bool
    failed: list[str] = field(default_factory=list)
    needing: list[str] = field(default_factory=list)
    report: str | None = None
    report_path: str | None = None


def run_monitor(
    spark: SparkSession, cfg: RefineConfig, *, job_name: str = "refine_monitor"
) -> MonitorResult:
    """Find targets that need or failed refinement, log and report them (email when
    ``should_email_report``); ``ok`` only when there are none."""
    fs = filesystem(spark)
    with tracking(job_name, cfg, fs=fs) as tracker:
        return _run_monitor(spark, cfg, fs, tracker, job_name)


def _run_monitor(
    spark: SparkSession, cfg: RefineConfig, fs: FileSystem, tracker: ReportTracker, job_name: str
) -> MonitorResult:

    targets = discover_targets(spark, cfg)
    failed: list[RefineTarget] = []
    needing: list[RefineTarget] = []
    for t in targets:
        state = t.flag_state(fs)
        if not should_refine(state, t.input_mtime, ignore_failure_flag=True):
            continue
        (failed if state.failed else needing).append(t)
    source = cfg.input_path or f"database {cfg.input_database}"
    result = MonitorResult(
        ok=not failed and not needing,
        failed=[t.partition_path for t in failed],
        needing=[t.partition_path for t in needing],
    )
    report = tracker.report
    report.rows = [
        {"target": str(t), "partition_path": t.partition_path, "status": status}
        for status, group in (("failed", failed), ("needs_refinement", needing))
        for t in group
    ]
    if result.ok:
        log.info(
            "No targets need or have failed refinement in %s -> %s (%d targets checked)",
            source,
            cfg.output_database,
            len(targets),
        )
    else:
        text = monitor_report(cfg, failed, needing)
        result.report = text
        report.extra["problem_report"] = text
        log.warning("%s", text)
        print(
            format_table(
                ["table", "partition path", "status"],
                [
                    [r["target"].split(" -> ")[1].split(" ")[0], r["partition_path"], r["status"]]
                    for r in report.rows
                ],
                title=f"{job_name}: {len(failed)} failed, {len(needing)} need refinement, "
                f"{len(targets)} checked",
            )
        )
        if cfg.should_email_report:
            try:
                send_email(
                    smtp_uri=cfg.smtp_uri,
                    from_email=cfg.from_email,
                    to_emails=cfg.to_emails,
                    subject=f"RefineMonitor problem report for job {spark.sparkContext.appName}",
                    body=text,
                )
            except Exception as e:
                log.error("could not email the monitor report: %s", e)
    written = tracker.write(result.ok)
    if written:  # none for a dry run
        result.report_path = written[-1]
        print(f"{job_name} run report: {written[-1]}")
    return result
