"""Logging set-up for jobs: one format, to stderr, level from ``$LOG_LEVEL`` (default INFO)."""

from __future__ import annotations

import logging
import os
import sys
from typing import TextIO

FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"


class _CurrentStderr(logging.StreamHandler[TextIO]):
    """A stream handler that writes to whatever ``sys.stderr`` is when a record is emitted.

    A plain ``StreamHandler(sys.stderr)`` keeps the stream it was given: once Jupyter or
    pytest's capture swaps ``sys.stderr`` and closes the old one, every later record fails
    with "I/O operation on closed file" or goes where nobody reads it."""

    def __init__(self) -> None:
        super().__init__(sys.stderr)

    @property
    def stream(self) -> TextIO:
        return sys.stderr

    @stream.setter
    def stream(self, value: TextIO) -> None:
        # StreamHandler.__init__ and setStream assign the stream; the current one always wins.
        pass


def setup_logging(level: str | None = None) -> None:
    """Configure the root logger once (idempotent); py4j's chatter is kept at WARNING."""
    lvl = (level or os.environ.get("LOG_LEVEL", "INFO")).upper()
    root = logging.getLogger()
    if not any(getattr(h, "_eljobs", False) for h in root.handlers):
        h = _CurrentStderr()
        h.setFormatter(logging.Formatter(FORMAT, datefmt="%Y-%m-%dT%H:%M:%S"))
        h._eljobs = True  # type: ignore[attr-defined]
        root.addHandler(h)
    root.setLevel(lvl)
    logging.getLogger("py4j").setLevel(logging.WARNING)
