"""The registry of secret values and the redaction of messages and log records.

Any part of eljobs that handles a secret (today the sanitizer's salts and the padded HMAC keys
derived from them) registers every text form in which it could appear; anything that turns an
exception or a plan into text for a log, a report or an email passes it through :func:`redact`.
The module knows nothing about where the secrets come from, so the generic refine runner and
the sanitizer share it without depending on each other.

Registering a secret also installs a filter on the loggers PySpark uses to print failing query
plans, since those records are written before any caller could redact them.
"""

from __future__ import annotations

import logging
import re
import threading
from collections.abc import Iterable
from typing import Any

REDACTED = "*****"

# A form shorter than this would match ordinary text too often to be worth hiding.
MIN_FORM_LENGTH = 8

_lock = threading.Lock()
_forms: set[str] = set()
_pattern: re.Pattern[str] | None = None


def register(forms: Iterable[str]) -> None:
    """Remember the text ``forms`` of a secret so that :func:`redact` and the log filter hide them.

    Forms shorter than :data:`MIN_FORM_LENGTH` characters are ignored; registering the same
    form twice is harmless.
    """
    global _pattern
    new = {f for f in forms if len(f) >= MIN_FORM_LENGTH}
    with _lock:
        if new <= _forms:
            return
        _forms.update(new)
        # Longest first, so a form that contains another is replaced whole.
        ordered = sorted(_forms, key=len, reverse=True)
        _pattern = re.compile("|".join(re.escape(f) for f in ordered))
    _install_log_filter()


def redact(text: str) -> str:
    """``text`` with every registered secret form and every long binary literal replaced."""
    pat = _pattern
    if pat is not None:
        text = pat.sub(REDACTED, text)
    # Binary literals as Spark prints them (0x..., X'...'): never useful in a message here.
    text = re.sub(r"0x[0-9A-Fa-f]{16,}", "0x" + REDACTED, text)
    return re.sub(r"X'[0-9A-Fa-f]{16,}'", "X'" + REDACTED + "'", text)


class _RedactingFilter(logging.Filter):
    """Drops secrets from records of the loggers PySpark uses to log failing query plans."""

    def filter(self, record: logging.LogRecord) -> bool:
        try:
            text = record.getMessage()
        except Exception:
            text = str(record.msg)
        exc = ""
        if record.exc_info and record.exc_info[1] is not None:
            exc = str(record.exc_info[1])
        if redact(text + exc) != text + exc:
            record.msg = redact(text)
            record.args = ()
            record.exc_info = None
            record.exc_text = None
        return True


_filter = _RedactingFilter()
_QUERY_CONTEXT_LOGGERS = ("DataFrameQueryContextLogger", "SQLQueryContextLogger")


def _install_log_filter() -> None:
    # Imported here, not at the top: the module stays importable (and redact usable) without
    # PySpark. These loggers must be created as PySparkLogger (their callers pass extra keywords).
    from pyspark.logger import PySparkLogger

    for name in _QUERY_CONTEXT_LOGGERS:
        lg: Any = PySparkLogger.getLogger(name)
        if _filter not in lg.filters:
            lg.addFilter(_filter)
