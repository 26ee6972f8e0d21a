"""Refine's failure report and RefineMonitor's problem report.

Pure text builders: the runner and the monitor log them, put them in the JSON run report and
email them.
"""

from __future__ import annotations

import dataclasses
import re
import shlex
from collections.abc import Sequence
from datetime import datetime
from typing import TYPE_CHECKING, Any

from eljobs.config import SECRET_MASK, format_value
from eljobs.timewindow import ceil_hour, floor_hour, isoformat_z, to_utc

if TYPE_CHECKING:
    from eljobs.refine.options import RefineConfig
    from eljobs.refine.targets import RefineTarget

# Options the rerun command sets itself.
_RERUN_OVERRIDES = ("ignore_failure_flag", "table_include_regex", "since", "until")


@dataclasses.dataclass
class Failure:
    """One failed target and its error message."""

    target: RefineTarget
    error: str


def rerun_window(
    cfg_since: datetime, cfg_until: datetime, failed_hours: Sequence[datetime | None]
) -> tuple[datetime, datetime]:
    """The earlier of ``since`` and the earliest failed hour (floored), the later of ``until``
    and the latest failed hour (ceiled)."""
    hours = [to_utc(h) for h in failed_hours if h is not None]
    since, until = to_utc(cfg_since), to_utc(cfg_until)
    if hours:
        since = min(since, floor_hour(min(hours)))
        until = max(until, ceil_hour(max(hours)))
    return since, until


def rerun_command(job: str, cfg: RefineConfig, failures: Sequence[Failure]) -> str:
    """``python -m eljobs <job> <the run's non-default options> --ignore_failure_flag=true
    --table_include_regex='t1|t2' --since=... --until=...``."""
    since, until = rerun_window(cfg.since, cfg.until, [f.target.hour for f in failures])
    tables = "|".join(sorted({f.target.table for f in failures}))
    args = ["python", "-m", "eljobs", job]
    for f in dataclasses.fields(cfg):
        if f.name in _RERUN_OVERRIDES:
            continue
        value = getattr(cfg, f.name)
        default: Any = f.default
        if default is dataclasses.MISSING:
            factory: Any = f.default_factory
            default = factory() if factory is not dataclasses.MISSING else None
        if value == default or (isinstance(value, re.Pattern) and value is default):
            continue
        text = SECRET_MASK if f.metadata.get("secret") else format_value(value)
        args.append(f"--{f.name}={shlex.quote(text)}")
    args += [
        "--ignore_failure_flag=true",
        f"--table_include_regex={shlex.quote(tables)}",
        f"--since={isoformat_z(since)}",
        f"--until={isoformat_z(until)}",
    ]
    return " ".join(args)


def failure_report(
    job: str,
    cfg: RefineConfig,
    failures: Sequence[Failure],
    totals: dict[str, int],
    *,
    application_id: str | None = None,
) -> str:
    """The failure report: header, per-table failed partitions with their exceptions
    (tab-indented), the Spark application id and the suggested rerun command.

    Args:
        totals: number of targets per output table ``db.table`` in this run.
    """
    source = f"path {cfg.input_path}" if cfg.input_path else f"database {cfg.input_database}"
    lines = [
        f"Refine failures for {source} -> database {cfg.output_database} ({cfg.output_path})",
        "",
    ]
    by_table: dict[str, list[Failure]] = {}
    for f in failures:
        by_table.setdefault(f.target.qualified_table, []).append(f)
    for table, fs in by_table.items():
        db, _, t = table.partition(".")
        lines.append(
            f"The following {len(fs)} of {totals.get(table, len(fs))} dataset partitions for "
            f"output table `{db}`.`{t}` failed refinement:"
        )
        for f in fs:
            lines.append("\t" + f.error.replace("\n", "\n\t"))
        lines.append("")
    if application_id:
        lines.append(f"Spark application id: {application_id}")
    lines += ["", "To rerun the failed targets:", "  " + rerun_command(job, cfg, failures)]
    return "\n".join(lines)


def monitor_report(
    cfg: RefineConfig,
    failed: Sequence[RefineTarget],
    needing: Sequence[RefineTarget],
) -> str:
    """RefineMonitor's report: targets with failures, then targets needing refinement."""
    source = cfg.input_path or f"database {cfg.input_database}"
    lines = [
        f"RefineMonitor problem report for {source} -> database {cfg.output_database} "
        f"({cfg.output_path}), window {isoformat_z(cfg.since)} - {isoformat_z(cfg.until)}",
        "",
    ]
    if failed:
        lines.append(f"Targets with failures ({len(failed)}):")
        lines += [f"\t{t.partition_path}" for t in failed]
        lines.append("")
    if needing:
        lines.append(f"Targets needing refinement ({len(needing)}):")
        lines += [f"\t{t.partition_path}" for t in needing]
        lines.append("")
        lines.append(
            "Targets needing refinement either have no _REFINED flag, or its timestamp differs "
            "from the modification time of their input directory."
        )
    return "\n".join(lines)
