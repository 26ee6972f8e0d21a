"""Shared entry logic of every job: parse options, log the effective config, get a session,
``run``, map the outcome to an exit code.

Exit codes (contracts): 0 the job ran (invalid events are data), 1 a target or the job failed
(monitors: 1 when they found something), 2 bad options.

The run is wrapped in :func:`eljobs.report.tracking`: the report path is checked (scheme known,
writable) once the session exists and before ``run`` starts (exit 2 when it cannot be written),
and a run that raises still leaves its JSON report, with status ``failed``, the redacted error
and what the job had recorded until then.
"""

from __future__ import annotations

import json
import logging
import os
import sys
from collections.abc import Callable, Sequence
from typing import Any, TypeVar

from eljobs.config import ConfigError, HelpRequested, effective_config, parse_config
from eljobs.errors import EljobsError
from eljobs.io.fs import filesystem
from eljobs.log import setup_logging
from eljobs.report import ReportPathError, tracking
from eljobs.secrets import redact
from eljobs.spark import get_session

log = logging.getLogger(__name__)

C = TypeVar("C")


def outcome_ok(result: Any) -> bool:
    """A job's ``run`` returns a bool or an object with an ``ok`` attribute."""
    if isinstance(result, bool):
        return result
    return bool(getattr(result, "ok", result))


def job_main(
    name: str,
    config_cls: type[C],
    run: Callable[[Any, C], Any],
    argv: Sequence[str] | None = None,
    *,
    needs_spark: bool | Callable[[C], bool] = True,
    spark_profile: str | None = None,
) -> int:
    """Run job ``name`` from command-line arguments; returns the process exit code.

    ``needs_spark`` may be a function of the parsed config (``salts rotate`` needs a session
    only when its directory is not on the local disk).
    """
    argv = list(sys.argv[1:] if argv is None else argv)
    try:
        cfg = parse_config(config_cls, argv, prog=f"python -m eljobs {name}")
    except HelpRequested as h:
        print(h.text)
        return 0
    except ConfigError as e:
        print(f"eljobs {name}: invalid options:", file=sys.stderr)
        for p in e.problems:
            print(f"  {p}", file=sys.stderr)
        return 2
    setup_logging()
    log.info(
        "eljobs %s effective configuration:\n%s", name, json.dumps(effective_config(cfg), indent=2)
    )
    spark = None
    if needs_spark(cfg) if callable(needs_spark) else needs_spark:
        profile = spark_profile or _default_profile()
        spark = get_session(profile, app_name=f"eljobs-{name}")
    try:
        with tracking(name, cfg, fs=filesystem(spark)):
            result = run(spark, cfg)
    except ReportPathError as e:
        # Found on entry, before any work: a bad option like the others.
        print(f"eljobs {name}: invalid options:", file=sys.stderr)
        for p in e.problems:
            print(f"  {p}", file=sys.stderr)
        return 2
    except (EljobsError, ValueError, OSError) as e:
        message = redact(str(e))
        log.error("eljobs %s failed: %s", name, message)
        print(f"eljobs {name} failed: {message}", file=sys.stderr)
        return 1
    return 0 if outcome_ok(result) else 1


def _default_profile() -> str:
    return os.environ.get("ELJOBS_SPARK_PROFILE", "local")
