"""The notebooks in notebooks/ run headless, top to bottom, so they cannot rot.

Each one is executed with nbclient in a kernel running this interpreter (the project's venv,
registered as a throw-away kernelspec), from the notebooks folder, with a private work folder.
A cell that raises fails the test with the cell's error. The notebooks carry their own checks
(``assert`` cells on the numbers they show); the test also checks a few printed facts.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
NOTEBOOKS = ROOT / "notebooks"
KERNEL = "eljobs-tests-python"


@pytest.fixture(scope="module")
def kernel_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A Jupyter data dir with a kernelspec for ``sys.executable`` (the venv's Python)."""
    data = tmp_path_factory.mktemp("jupyter")
    spec = data / "kernels" / KERNEL
    spec.mkdir(parents=True)
    (spec / "kernel.json").write_text(
        json.dumps(
            {
                "argv": [sys.executable, "-m", "ipykernel_launcher", "-f", "{connection_file}"],
                "display_name": "eljobs tests",
                "language": "python",
            }
        )
    )
    return data


def execute(name: str, kernel_dir: Path, work: Path, monkeypatch: pytest.MonkeyPatch) -> str:
    """Run notebook ``name``; return the text of every stream and result output."""
    import nbformat
    from nbclient import NotebookClient

    monkeypatch.setenv("JUPYTER_PATH", str(kernel_dir))
    monkeypatch.setenv("ELJOBS_WORK", str(work))
    monkeypatch.setenv("PYTHONPATH", str(ROOT))
    nb = nbformat.read(NOTEBOOKS / name, as_version=4)
    client = NotebookClient(
        nb,
        kernel_name=KERNEL,
        timeout=300,
        resources={"metadata": {"path": str(NOTEBOOKS)}},
    )
    client.execute()
    texts = []
    for cell in nb.cells:
        for out in cell.get("outputs", []):
            texts.append(out.get("text") or out.get("data", {}).get("text/plain", ""))
    return "\n".join(texts)


def test_notebooks_are_clean_and_listed() -> None:
    """Committed without outputs, and each one is exercised below."""
    import nbformat

    names = sorted(p.name for p in NOTEBOOKS.glob("*.ipynb"))
    assert names == [
        "backfill_one_hour.ipynb",
        "explore_allowlist.ipynb",
        "refine_sanitize_window.ipynb",
    ]
    for name in names:
        nb = nbformat.read(NOTEBOOKS / name, as_version=4)
        nbformat.validate(nb)
        assert nb.cells[0].cell_type == "markdown"
        for cell in nb.cells:
            if cell.cell_type == "code":
                assert cell.outputs == [] and cell.execution_count is None, name


@pytest.mark.slow
def test_explore_allowlist(
    kernel_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    text = execute("explore_allowlist.ipynb", kernel_dir, tmp_path, monkeypatch)
    assert "event.pageviewToken" in text
    lines = {line.split()[0]: line.split()[-1] for line in text.splitlines() if line.strip()}
    assert lines["event.pageviewToken"] == "hashed"
    assert lines["ip"] == "dropped"
    assert lines["geocoded_data"] == "filtered"
    assert lines["event.score"] == "kept"


@pytest.mark.slow
def test_backfill_one_hour(
    kernel_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    text = execute("backfill_one_hour.ipynb", kernel_dir, tmp_path, monkeypatch)
    assert "gap" in text.lower()


@pytest.mark.slow
def test_refine_sanitize_window(
    kernel_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    text = execute("refine_sanitize_window.ipynb", kernel_dir, tmp_path, monkeypatch)
    assert "event_sanitized" in text
