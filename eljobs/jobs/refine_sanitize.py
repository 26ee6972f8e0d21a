"""``python -m eljobs refine_sanitize``: Refine with the allowlist sanitizer appended
(RefineSanitize).

Flow: load and validate the allowlist (``keep_all`` only with ``--keep_all_enabled=true``),
load the salts of ``--salts_path`` (none without it), build the sanitizer, derive
``table_include_regex`` as ``^(<key1>|<key2>|...)$`` from the allowlist's top-level keys when it
is not given, then run Refine with the sanitizer applied after ``transform_functions``.
Everything else (targets, flags, overwrite, Hive evolution, reporting) is Refine's.

Production (DB mode): ``--input_database event --output_database event_sanitized
--output_path /wmf/data/event_sanitized --salts_path .../salts/event_sanitized``, immediate runs
with the default window and delayed runs with ``--since 1104 --until 1080``.

Salts are never logged: only the salt file names and their spans are.
"""

from __future__ import annotations

import dataclasses
import logging
import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

from eljobs.config import option
from eljobs.io.fs import filesystem
from eljobs.jobs.base import job_main
from eljobs.refine.options import RefineConfig
from eljobs.refine.runner import RefineResult, run_refine
from eljobs.report import tracking
from eljobs.sanitize import Allowlist, Salt, load_allowlist, load_salts, make_sanitizer

if TYPE_CHECKING:
    from pyspark.sql import SparkSession


log = logging.getLogger(__name__)


@dataclass(frozen=True, kw_only=True)
class RefineSanitizeConfig(RefineConfig):
    """Refine an input (usually a Hive database, DB mode) into sanitized Hive tables: only
    allowlisted fields are kept, 'hash' fields become HMAC-SHA256 with the salt of the
    partition's time window, every other field is NULL (maps: empty); tables not in the
    allowlist get empty partitions.

    Example:
      python -m eljobs refine_sanitize --input_database event \\
        --output_database event_sanitized --output_path /wmf/data/event_sanitized \\
        --allowlist_path conf/sanitize/event_sanitized_analytics_allowlist.yaml \\
        --salts_path /srv/salts/event_sanitized --since 1104 --until 1080
    """

    allowlist_path: str = option(
        help="The sanitization allowlist YAML (plain path, file:// or hdfs://)."
    )
    salts_path: str | None = option(
        None,
        help="Directory of salt files <start>_<end>_<deletion> (see 'salts rotate'); without "
        "it no salts are loaded and any 'hash' field fails its table.",
    )
    keep_all_enabled: bool = option(False, help="Allow the keep_all tag anywhere in the allowlist.")


#: The name ``job_main`` and ``--help`` use.
Config = RefineSanitizeConfig


def prepare(cfg: RefineSanitizeConfig) -> tuple[RefineSanitizeConfig, Allowlist]:
    """Load and validate the allowlist; derive ``table_include_regex`` when it is not given.

    Raises:
        AllowlistError: the allowlist is invalid (names table and field path).
        OSError: it cannot be read.
    """
    allowlist = load_allowlist(cfg.allowlist_path, keep_all_enabled=cfg.keep_all_enabled)
    if cfg.table_include_regex is None:
        cfg = dataclasses.replace(cfg, table_include_regex=re.compile(allowlist.include_regex()))
    log.info(
        "allowlist %s: %d tables%s; table_include_regex %s",
        cfg.allowlist_path,
        len(allowlist.tables),
        " and __defaults__" if allowlist.defaults is not None else "",
        cfg.table_include_regex.pattern if cfg.table_include_regex else None,
    )
    return cfg, allowlist


def load_job_salts(cfg: RefineSanitizeConfig) -> list[Salt]:
    """The salts of ``cfg.salts_path`` (none without it); logs file names and spans only."""
    if not cfg.salts_path:
        log.info("no salts_path: no salts loaded; 'hash' fields will fail their tables")
        return []
    salts = load_salts(cfg.salts_path)
    log.info(
        "loaded %d salts from %s: %s",
        len(salts),
        cfg.salts_path,
        ", ".join(s.name or f"{s.start.isoformat()}..{s.end.isoformat()}" for s in salts),
    )
    return salts


def run(spark: SparkSession, cfg: RefineSanitizeConfig) -> RefineResult:
    """Run RefineSanitize; returns Refine's result (``ok`` iff no target failed)."""
    # Opened before the allowlist and salts are loaded, so that their failures are reported too.
    with tracking("refine_sanitize", cfg, fs=filesystem(spark)):
        cfg, allowlist = prepare(cfg)
        sanitizer = make_sanitizer(allowlist, load_job_salts(cfg))
        return run_refine(spark, cfg, extra_transforms=[sanitizer], job_name="refine_sanitize")


def main(argv: Sequence[str] | None = None) -> int:
    """Command-line entry; returns the exit code."""
    return job_main("refine_sanitize", RefineSanitizeConfig, run, argv)
