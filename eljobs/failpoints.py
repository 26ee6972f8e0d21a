"""Failpoints: named places where a fault drill may kill the process.

``ELJOBS_FAILPOINT=<name>`` makes the process send itself SIGKILL when it reaches the
failpoint of that name, the way an operator's ``kill -9`` or a lost container would stop it:
no ``finally`` block, no Python or JVM shutdown hook runs. Unset (always, outside drills) a
failpoint costs one environment lookup. The names are listed in docs/operations.md.
"""

from __future__ import annotations

import logging
import os
import signal

log = logging.getLogger(__name__)

#: The environment variable naming the failpoint to die at.
ENV = "ELJOBS_FAILPOINT"


def failpoint(name: str) -> None:
    """Die at once (SIGKILL) when ``ELJOBS_FAILPOINT`` equals ``name``; else do nothing."""
    if os.environ.get(ENV) == name:
        log.warning("failpoint %s reached: killing process %d", name, os.getpid())
        for handler in logging.getLogger().handlers:
            handler.flush()
        os.kill(os.getpid(), signal.SIGKILL)
