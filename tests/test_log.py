"""The jobs' log handler (pure logic, no Spark)."""

from __future__ import annotations

import io
import logging
import sys

import pytest

from eljobs.log import setup_logging


def test_records_go_to_the_stderr_of_the_moment_not_the_one_at_set_up(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    root = logging.getLogger()
    # Start from no handler of ours, as a fresh process does (others may have set one up).
    for h in [h for h in root.handlers if getattr(h, "_eljobs", False)]:
        monkeypatch.setattr(root, "handlers", [x for x in root.handlers if x is not h])
    first = io.StringIO()
    monkeypatch.setattr(sys, "stderr", first)
    setup_logging("INFO")
    log = logging.getLogger("eljobs.test_log")
    log.info("to the first")
    # What a notebook cell or a captured test does: a new stderr, the old one closed.
    second = io.StringIO()
    monkeypatch.setattr(sys, "stderr", second)
    first.close()
    log.info("to the second")
    out = second.getvalue()
    assert "INFO eljobs.test_log: to the second" in out
    assert "Logging error" not in out


def test_set_up_twice_adds_one_handler() -> None:
    setup_logging("INFO")
    setup_logging("DEBUG")
    ours = [h for h in logging.getLogger().handlers if getattr(h, "_eljobs", False)]
    assert len(ours) == 1
    assert logging.getLogger().level == logging.DEBUG
    logging.getLogger().setLevel(logging.INFO)
