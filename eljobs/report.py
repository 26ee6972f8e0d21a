"""Run reports: plain-text tables for the console and JSON run reports on disk.

Every job prints an account of its input (read = written + rejected, per hour and per schema or
target) with :func:`format_table`, and writes a :class:`RunReport` as JSON at a path it prints.
Reports are built from counts and option values that went through
:func:`eljobs.config.effective_config`, so salts and other secrets never reach them.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from eljobs.io.fs import FileSystem


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
        from eljobs.io.fs import filesystem

        fs = fs or filesystem()
        target = f"file:{path.absolute()}" if isinstance(path, Path) else path
        text = json.dumps(self.to_dict(), indent=2, sort_keys=False, default=str) + "\n"
        fs.write_text(target, text)
        return fs.qualify(target)


def _iso(ts: float) -> str:
    return datetime.fromtimestamp(ts, UTC).isoformat(timespec="seconds").replace("+00:00", "Z")


def default_report_path(job: str) -> str:
    """``file:<work>/reports/<job>-<UTC timestamp>.json``: on the local disk of the driver
    (explicitly, so that a cluster's default file system does not take it)."""
    from eljobs.spark import work_dir

    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    return f"file:{work_dir() / 'reports' / f'{job}-{stamp}.json'}"
