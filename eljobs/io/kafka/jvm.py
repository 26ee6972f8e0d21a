"""Small helpers around the driver's JVM: the active session, readable JVM errors."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from pyspark.sql import SparkSession


def activate(spark: SparkSession) -> None:
    """Make ``spark`` the JVM's active session in this thread.

    Python data sources are looked up through the active session, which a thread other than
    the one that built the session (a notebook's background thread, a test) does not have.
    """
    jvm: Any = getattr(spark, "_jvm", None)
    jss: Any = getattr(spark, "_jsparkSession", None)
    if jvm is not None and jss is not None:
        jvm.org.apache.spark.sql.SparkSession.setActiveSession(jss)


def first_line(e: BaseException) -> str:
    """The first line of ``e``'s message; for a JVM error, its root cause's (Py4J's own first
    line only says which call failed)."""
    cause = _jvm_root_cause(e)
    if cause:
        return cause
    text = str(e).strip()
    return text.splitlines()[0] if text else type(e).__name__


def _jvm_root_cause(e: BaseException) -> str | None:
    jexc: Any = getattr(e, "java_exception", None)
    if jexc is None:
        return None
    try:
        seen = 0
        while jexc.getCause() is not None and seen < 20:
            jexc = jexc.getCause()
            seen += 1
        text = str(jexc.toString()).strip()
    except Exception:  # the JVM is gone or the object is not a Throwable
        return None
    return text.splitlines()[0] if text else None
