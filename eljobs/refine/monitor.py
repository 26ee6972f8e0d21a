"""RefineMonitor (spec refine §3): report targets that need or failed refinement.

Discovers targets exactly like Refine, keeps those for which ``should_refine`` with
``ignore_failure_flag=True`` holds, logs (and optionally emails) a report; ``ok`` only when
nothing was found. Nothing is read or written besides listing the file system and catalog.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from eljobs.refine.options import RefineConfig
    from eljobs.refine.targets import RefineTarget


@dataclass
class MonitorResult:
    """``ok`` is true when no target needs or failed refinement."""

    ok: bool
    failed: list[str] = field(default_factory=list)
    needing: list[str] = field(default_factory=list)
    report: str | None = None
    report_path: str | None = None


def discover_targets(spark: Any, cfg: RefineConfig) -> list[RefineTarget]:
    """All targets of ``cfg`` (FS or DB mode), before the flag filter."""
    from eljobs.refine.targets import discover_targets as _discover

    return _discover(spark, cfg)


def run_monitor(
    spark: Any, cfg: RefineConfig, *, job_name: str = "refine_monitor"
) -> MonitorResult:
    """Find targets that need or failed refinement and report them."""
    raise NotImplementedError("run_monitor is being built (interface commit)")
