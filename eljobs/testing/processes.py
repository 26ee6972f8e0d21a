"""Processes of our own that outlive the Python process that started them (the CLIs of
:mod:`eljobs.testing.broker` and :mod:`eljobs.testing.hadoop`): is one alive, stop one by pid."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import time


def alive(pid: int) -> bool:
    """Whether a process ``pid`` exists (one of another user counts as alive)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def stop_pid(pid: int, grace_s: float) -> None:
    """SIGTERM ``pid``, wait up to ``grace_s`` for it to end, then SIGKILL. Idempotent."""
    if not alive(pid):
        return
    os.kill(pid, signal.SIGTERM)
    deadline = time.monotonic() + grace_s
    while alive(pid) and time.monotonic() < deadline:
        # Reap it if it is our child (with the CLIs it is not; harmless otherwise).
        with contextlib.suppress(ChildProcessError):
            os.waitpid(pid, os.WNOHANG)
        time.sleep(0.05)
    if alive(pid):
        os.kill(pid, signal.SIGKILL)


def stop_child(proc: subprocess.Popen[bytes] | None, timeout_s: float) -> None:
    """Stop a child we started: SIGTERM, then SIGKILL after ``timeout_s``. Idempotent."""
    if proc is None or proc.poll() is not None:
        return
    proc.terminate()
    try:
        proc.wait(timeout_s)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait(timeout_s)
