"""Run reports: plain-text tables for the console and JSON run reports on disk.

Every job prints an account of its input (read = written + rejected, per hour and per schema or
target) with :func:`format_table`, and writes a :class:`RunReport` as JSON at a path it prints.
Reports are built from counts and option values that went through
:func:`eljobs.config.effective_config`, so salts and other secrets never reach them; error
messages go through :func:`eljobs.secrets.redact` (:func:`error_text`).

A job writes its report whatever the outcome, through one path: :func:`tracking` opens the
report of a run (checking first that its path can be written, before any work starts), the job
records what it has done in it as it goes, and either writes it at the end
(:meth:`ReportTracker.write`, status ``succeeded`` or ``failed``) or, when an exception escapes,
the context writes it with status ``failed``, the redacted error and whatever the job had
recorded until then. :func:`eljobs.jobs.base.job_main` opens it for every job; the job's own
``run`` opens it again with the same name and gets the same tracker, so a run called from
Python (tests, notebooks) reports its failures too. Dry runs write no report.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from eljobs.config import ConfigError, effective_config
from eljobs.io.fs import FsError, filesystem, parent
from eljobs.secrets import redact
from eljobs.spark import work_dir

if TYPE_CHECKING:
    from eljobs.io.fs import FileSystem

log = logging.getLogger(__name__)

SUCCEEDED = "succeeded"
FAILED = "failed"


def format_table(
    headers: Sequence[str], rows: Iterable[Sequence[Any]], *, title: str | None = None
) -> str:
    """Render rows as an aligned text table (numbers right-aligned)."""
    srows = [["" if v is None else str(v) for v in r] for r in rows]
    widths = [len(h) for h in headers]
    for r in srows:
        for i, v in enumerate(r):
            widths[i] = max(widths[i], len(v))
    numeric = [
        all(_is_number(r[i]) for r in srows if r[i] != "") and any(r[i] != "" for r in srows)
        for i in range(len(headers))
    ]

    def line(cells: Sequence[str]) -> str:
        return "  ".join(
            c.rjust(widths[i]) if numeric[i] else c.ljust(widths[i]) for i, c in enumerate(cells)
        ).rstrip()

    out = []
    if title:
        out.append(title)
    out.append(line(list(headers)))
    out.append("  ".join("-" * w for w in widths))
    out.extend(line(r) for r in srows)
    return "\n".join(out)


def _is_number(s: str) -> bool:
    try:
        float(s.replace(",", ""))
    except ValueError:
        return False
    return True


@dataclass
class RunReport:
    """What a job did: its config, per-target or per-hour counts, failures and durations."""

    job: str
    config: Mapping[str, str]
    started: float = field(default_factory=time.time)
    finished: float | None = None
    ok: bool = True
    rows: list[dict[str, Any]] = field(default_factory=list)
    failures: list[dict[str, Any]] = field(default_factory=list)
    extra: dict[str, Any] = field(default_factory=dict)
    error: str | None = None
    """Why the run stopped early (an exception escaped the job), redacted; None otherwise."""

    def finish(self, ok: bool) -> RunReport:
        """Mark the run finished now with the given outcome."""
        self.finished = time.time()
        self.ok = ok
        return self

    def to_dict(self) -> dict[str, Any]:
        """A JSON-serializable view of the report."""
        return {
            "job": self.job,
            "ok": self.ok,
            "status": SUCCEEDED if self.ok else FAILED,
            "error": self.error,
            "started": _iso(self.started),
            "finished": _iso(self.finished) if self.finished else None,
            "duration_s": round((self.finished or time.time()) - self.started, 3),
            "config": dict(self.config),
            "rows": self.rows,
            "failures": self.failures,
            **self.extra,
        }

    def write(self, path: str | Path, *, fs: FileSystem | None = None) -> str:
        """Write the report as indented JSON (parents created, replaced atomically) through
        the file-system layer: a bare path is on Hadoop's default file system, ``hdfs://`` and
        ``file://`` are explicit, a :class:`~pathlib.Path` is local. Returns the qualified
        path written (``file:/...``, ``hdfs://nn/...``).

        Raises:
            FsError: the report cannot be written (an ``OSError`` naming the path).
        """
        fs = fs or filesystem()
        target = f"file:{path.absolute()}" if isinstance(path, Path) else path
        fs.write_text(target, self.to_json())
        return fs.qualify(target)

    def to_json(self) -> str:
        """The report as indented JSON text (what :meth:`write` writes)."""
        return json.dumps(self.to_dict(), indent=2, sort_keys=False, default=str) + "\n"


def _iso(ts: float) -> str:
    return datetime.fromtimestamp(ts, UTC).isoformat(timespec="seconds").replace("+00:00", "Z")


def default_report_path(job: str) -> str:
    """``file:<work>/reports/<job>-<UTC timestamp>.json``: on the local disk of the driver
    (explicitly, so that a cluster's default file system does not take it)."""
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    return f"file:{work_dir() / 'reports' / f'{job}-{stamp}.json'}"


# --------------------------------------------------------------------------------------------
# One way to write a run's report, on success and on failure


class ReportPathError(ConfigError):
    """The report path cannot be written (unknown scheme, no host, not writable, a directory);
    found before any work starts, so the job exits 2 like any other bad option."""


def error_text(e: BaseException) -> str:
    """An exception as one readable, redacted message: a Java exception reduced to its own
    message (no stack trace), the class name first, and every registered secret form (salts)
    and long binary literal hidden, since the text goes to logs, reports and emails."""
    java = getattr(e, "java_exception", None)
    if java is not None:
        try:
            text_of_java = str(java.toString())
        except Exception:  # the JVM may be gone
            pass
        else:
            return redact(text_of_java)
    text = str(e) or type(e).__name__
    first = text.split("\n\tat ", 1)[0]
    named = first if first.startswith(type(e).__name__) else f"{type(e).__name__}: {first}"
    return redact(named)


def check_report_path(path: str, fs: FileSystem) -> str:
    """The qualified form of ``path`` once it is known that a report can be written there: its
    scheme is one the file system layer knows, it is not a directory, and its directory can be
    created and written (a probe file is written and deleted).

    Raises:
        ReportPathError: ``--report_path: cannot write a report at <path>: <reason>``.
    """
    try:
        qualified = fs.qualify(path)
        found = fs.info(qualified)
        if found is not None and found.is_dir:
            raise FsError("expected a file path such as .../report.json, found a directory")
        fs.check_writable(parent(qualified))
    except Exception as e:
        # Whatever the layer raises (a py4j error for a scheme without a host included) is a
        # message here, never a traceback: the path is an option like any other.
        reason = str(e) if isinstance(e, OSError) else error_text(e)
        problem = f"--report_path: cannot write a report at {path}: {reason}"
        raise ReportPathError([problem]) from None
    return qualified


def report_target(job: str, cfg: Any) -> str | None:
    """Where the report of ``job`` run with ``cfg`` goes, None when there is none: a config
    without a ``report_path`` option, or a dry run. Otherwise ``--report_path``, else the
    config's own ``default_report(job)`` when it has one (extract: next to its output), else
    :func:`default_report_path`."""
    if not hasattr(cfg, "report_path") or getattr(cfg, "dry_run", False):
        return None
    if cfg.report_path:
        return str(cfg.report_path)
    own = getattr(cfg, "default_report", None)
    return str(own(job)) if callable(own) else default_report_path(job)


@dataclass
class ReportTracker:
    """The report of one run in progress and where it goes.

    The job records what it did in :attr:`report` as it goes (rows, counts, targets done), so
    that a failure report holds everything done before the failure.
    """

    job: str
    report: RunReport
    path: str | None
    """The qualified report path, checked writable; None: no report (dry run)."""
    fs: FileSystem | None = None
    written: str | None = None
    """The qualified path the report was last written to."""

    def write(self, ok: bool, *, copies: Sequence[str] = ()) -> list[str]:
        """Finish the report with outcome ``ok`` (status ``succeeded``/``failed``) and write it
        to each of ``copies`` and to :attr:`path`, one text for all. Returns the qualified paths
        written, the report path last; none for a dry run.

        Raises:
            FsError: a copy or the report cannot be written.
        """
        self.report.finish(ok)
        if self.path is None:
            return []
        fs = self._fs()
        text = self.report.to_json()
        out = []
        for target in (*copies, self.path):
            fs.write_text(target, text)
            out.append(fs.qualify(target))
        self.written = out[-1]
        return out

    def fail(self, error: BaseException | str) -> str | None:
        """Write the report of a run that stopped early: status ``failed``, the redacted
        ``error`` and whatever the job recorded until then. Returns the path written, None for
        a dry run or when the report itself cannot be written (logged: the job's own error is
        the one to report)."""
        text = error if isinstance(error, str) else error_text(error)
        self.report.error = redact(text)
        if self.path is None:
            self.report.finish(False)
            return None
        try:
            return self.write(False)[-1]
        except Exception as e:
            log.error("cannot write the failure report at %s: %s", self.path, e)
            return None

    def _fs(self) -> FileSystem:
        if self.fs is None:
            self.fs = filesystem()
        return self.fs


_ACTIVE: ContextVar[ReportTracker | None] = ContextVar("eljobs_report_tracker", default=None)


@contextmanager
def tracking(job: str, cfg: Any, *, fs: FileSystem | None = None) -> Iterator[ReportTracker]:
    """The report of a run of ``job`` with ``cfg``; on an escaping exception it is written as
    a failure report (then the exception goes on).

    Inside an open tracking of the same job (the job entry opens one around ``run``), the same
    tracker is given, its configuration updated to ``cfg`` (a job may derive options, as
    refine_sanitize derives ``table_include_regex``), and the outer one writes any failure.

    Raises:
        ReportPathError: on entry, the report path cannot be written (nothing was done yet).
    """
    active = _ACTIVE.get()
    if active is not None and active.job == job:
        active.report.config = effective_config(cfg)
        yield active
        return
    if fs is None:
        fs = filesystem()
    target = report_target(job, cfg)
    path = check_report_path(target, fs) if target is not None else None
    tracker = ReportTracker(job, RunReport(job=job, config=effective_config(cfg)), path, fs)
    token = _ACTIVE.set(tracker)
    try:
        yield tracker
    except BaseException as e:
        # KeyboardInterrupt included: an operator's Ctrl-C leaves an account of what was done.
        written = tracker.fail(e)
        if written is not None:
            log.error("%s failed; failure report written to %s", job, written)
            print(f"{job} failure report: {written}")
        raise
    finally:
        _ACTIVE.reset(token)
