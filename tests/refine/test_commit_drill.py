"""Fault drill of Refine's partition commit: a process killed (SIGKILL) at each step of the
commit leaves the table showing the partition's old rows or its new ones, never none or a
mix, and the next run finishes the job.

Each step runs in its own Python process (``commit_drill_worker.py``) sharing one Derby
metastore: the process prepares its table's old partition, then refines new input with
``ELJOBS_FAILPOINT`` set and dies there; the next process first reads what the previous one
left; a last one reruns every table. Seven JVM starts, so this is marked slow.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent.parent
sys.path.insert(0, str(HERE))
from commit_drill_worker import NEW, OLD  # noqa: E402

#: (table, layout before the rerun, failpoint, what readers must see after the kill).
CASES = [
    ("rerun_renamed", "data", "commit_renamed", OLD),
    ("rerun_switched", "data", "commit_switched", NEW),
    ("rerun_cleaned", "data", "commit_cleaned", NEW),
    ("flat_renamed", "flat", "commit_renamed", OLD),
    ("flat_switched", "flat", "commit_switched", NEW),
    ("new_renamed", "new", "commit_renamed", []),
]


def _run(tmp_path: Path, plan: dict[str, Any], failpoint: str | None) -> tuple[int, list[Any]]:
    env = dict(os.environ)
    env["ELJOBS_WORK"] = str(tmp_path / "work")
    env["PYTHONPATH"] = os.pathsep.join([str(ROOT), env.get("PYTHONPATH", "")])
    env.pop("ELJOBS_FAILPOINT", None)
    if failpoint:
        env["ELJOBS_FAILPOINT"] = failpoint
    proc = subprocess.run(
        [sys.executable, str(HERE / "commit_drill_worker.py"), json.dumps(plan)],
        env=env,
        capture_output=True,
        text=True,
        timeout=900,
        cwd=tmp_path,
    )
    lines = [json.loads(ln) for ln in proc.stdout.splitlines() if ln.startswith("{")]
    if proc.returncode not in (0, -signal.SIGKILL):
        pytest.fail(f"drill worker exited {proc.returncode}:\n{proc.stderr[-4000:]}")
    return proc.returncode, lines


@pytest.mark.slow
@pytest.mark.timeout(2400)  # seven JVM starts: about 3 minutes on an idle 2-core machine
def test_a_commit_killed_at_any_step_shows_old_or_new_rows(tmp_path: Path):
    base = {"base": str(tmp_path)}
    previous: tuple[str, list[int]] | None = None
    for table, layout, failpoint, expected in CASES:
        check = [previous[0]] if previous else []
        code, out = _run(
            tmp_path,
            {**base, "check": check, "prepare": {"table": table, "layout": layout}},
            failpoint,
        )
        assert code == -signal.SIGKILL, f"{table}: not killed at {failpoint}: {out}"
        assert {"survived": table} not in out
        if previous:
            assert out[0]["rows"][previous[0]] == previous[1], previous[0]
        previous = (table, expected)

    tables = [c[0] for c in CASES]
    # What the last kill left, then a rerun of every table: the new rows, nothing else left.
    assert previous is not None
    code, out = _run(tmp_path, {**base, "check": [previous[0]], "recover": tables}, None)
    assert code == 0 and out[0]["rows"][previous[0]] == previous[1]
    for t in tables:
        assert out[1]["rows"][t] == NEW, t
        flag, data = out[1]["entries"][t]  # sorted: "_" before "d"
        assert (flag, data[:5]) == ("_REFINED", "data-"), out[1]["entries"][t]
