"""Logging set-up for jobs: one format, to stderr, level from ``$LOG_LEVEL`` (default INFO)."""

from __future__ import annotations

import logging
import os
import sys

FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"


def setup_logging(level: str | None = None) -> None:
    """Configure the root logger once (idempotent); py4j's chatter is kept at WARNING."""
    lvl = (level or os.environ.get("LOG_LEVEL", "INFO")).upper()
    root = logging.getLogger()
    if not any(getattr(h, "_eljobs", False) for h in root.handlers):
        h = logging.StreamHandler(sys.stderr)
        h.setFormatter(logging.Formatter(FORMAT, datefmt="%Y-%m-%dT%H:%M:%S"))
        h._eljobs = True  # type: ignore[attr-defined]
        root.addHandler(h)
    root.setLevel(lvl)
    logging.getLogger("py4j").setLevel(logging.WARNING)
