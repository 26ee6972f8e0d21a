"""``python -m eljobs <job> [options]`` and the ``eljobs`` console script."""

from __future__ import annotations

import importlib
import sys
from collections.abc import Sequence

from eljobs.jobs import JOBS

USAGE = """usage: python -m eljobs <job> [--config_file FILE ...] [--option value ...]

jobs:
  backfill                 raw hourly partitions -> validated capsules -> Kafka or files
  extract                  all events of Kafka topics for a time window -> files
  refine                   raw JSON hourly partitions -> Hive tables (Refine)
  refine_monitor           report targets that need or failed refinement
  refine_sanitize          refine with the allowlist sanitizer appended (RefineSanitize)
  refine_sanitize_monitor  RefineMonitor for a sanitize job
  salts                    create and expire salt files (salts rotate ...)

`python -m eljobs <job> --help` lists every option of a job with its default."""


def main(argv: Sequence[str] | None = None) -> int:
    """Dispatch to the job named by the first argument; returns the exit code."""
    args = list(sys.argv[1:] if argv is None else argv)
    if not args or args[0] in ("-h", "--help", "help"):
        print(USAGE)
        return 0 if args else 2
    job, rest = args[0], args[1:]
    if job not in JOBS:
        print(f"eljobs: unknown job {job!r}; expected one of {', '.join(JOBS)}", file=sys.stderr)
        return 2
    module = importlib.import_module(JOBS[job])
    return int(module.main(rest))


if __name__ == "__main__":
    raise SystemExit(main())
