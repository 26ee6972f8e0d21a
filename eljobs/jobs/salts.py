"""``python -m eljobs salts rotate``: create the current period's salt and delete expired ones
(the reference's ``bin/saltrotate -p '3 months' -b '50 days'``).

Prints (and logs) the names of the files created, kept and deleted; never a salt. A bare
``--salts_path`` is on Hadoop's default file system (HDFS when ``HADOOP_CONF_DIR`` says so), as
every path of eljobs (docs/operations.md, "How paths are resolved"). A local directory is
rotated in plain Python, without Spark; any other starts a Spark session for its Hadoop client.

Examples:
  # the HDFS directory the sanitizer reads, in place (bare path on the cluster)
  python -m eljobs salts rotate --salts_path /user/hdfs/salts/event_sanitized \\
    --period '3 months' --retention '50 days'
  # a local directory, as the reference's saltrotate kept it
  python -m eljobs salts rotate --salts_path file:///srv/salts/event_sanitized
  # a new directory: its first salt also covers everything before it
  python -m eljobs salts rotate --salts_path file:///srv/salts/new --initial
  # one salt that never expires and is never deleted
  python -m eljobs salts rotate --salts_path file:///srv/salts/fixed --period none \\
    --retention none
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Literal

from eljobs.config import JobConfig, option
from eljobs.io.fs import filesystem, is_local
from eljobs.jobs.base import job_main
from eljobs.report import format_table
from eljobs.sanitize.rotate import (
    DurationError,
    RotationResult,
    parse_optional_duration,
    rotate_salts,
)
from eljobs.timewindow import utcnow

if TYPE_CHECKING:
    from pyspark.sql import SparkSession

log = logging.getLogger(__name__)


@dataclass(frozen=True, kw_only=True)
class Config(JobConfig):
    """Create the salt of the current period (64 random lower-case hex characters, file named
    <start>_<end>_<deletion> in yyyyMMddHH UTC) and delete salts whose deletion time has come.
    Periods are counted from 1970-01-01T00Z in steps of --period."""

    action: Literal["rotate"] = option(
        "rotate", positional=True, help="What to do; only 'rotate' (the first argument)."
    )
    salts_path: str = option(
        help="Salt directory (created if missing); a bare path is on Hadoop's default file "
        "system, file:// is the local disk, hdfs:// explicit."
    )
    period: str = option(
        "3 months",
        help="How long one salt is used: '<N> <hours|days|weeks|months|years>', or 'none' for "
        "a one-off salt that never expires (named <start>__).",
    )
    retention: str = option(
        "50 days",
        help="How long after its end a salt is kept before it is deleted, or 'none' to never "
        "delete salts (their names then carry no deletion time).",
    )
    initial: bool = option(
        False,
        help="The directory is new: its first salt starts at 1970-01-01 instead of the "
        "period's start, so older data is covered too. Refused when it already holds salts.",
    )
    now: datetime | None = option(
        None, help="The current time (ISO-8601, zone-less is UTC); for tests and backfills."
    )
    dry_run: bool = option(False, help="Only print what would be created and deleted.")

    def validate(self) -> list[str]:
        """Every problem of the option set."""
        problems = super().validate()
        for name in ("period", "retention"):
            try:
                parse_optional_duration(getattr(self, name), option=name)
            except DurationError as e:
                problems.append(str(e))
        return problems


def needs_spark(cfg: Config) -> bool:
    """Whether the salt directory is off the local disk (only the JVM's Hadoop client reaches
    it); decided from ``fs.defaultFS`` of ``$HADOOP_CONF_DIR`` for a bare path."""
    return not is_local(cfg.salts_path)


def run(spark: SparkSession | None, cfg: Config) -> RotationResult:
    """Rotate the salts of ``cfg.salts_path``; ``spark`` is None for a local directory."""
    now = cfg.now or utcnow()
    result = rotate_salts(
        cfg.salts_path,
        period=cfg.period,
        retention=cfg.retention,
        now=now,
        dry_run=cfg.dry_run,
        initial=cfg.initial,
        fs=filesystem(spark),
    )
    rows = (
        [(n, "created") for n in result.created]
        + [(n, "kept") for n in result.kept]
        + [(n, "deleted") for n in result.deleted]
    )
    title = f"salts rotate {cfg.salts_path} at {now.isoformat()}" + (
        " (dry run)" if cfg.dry_run else ""
    )
    text = format_table(["salt file", "action"], rows, title=title)
    print(text)
    log.info("%s", text)
    return result


def main(argv: Sequence[str] | None = None) -> int:
    """Command-line entry; returns the exit code."""
    return job_main("salts", Config, run, argv, needs_spark=needs_spark)
