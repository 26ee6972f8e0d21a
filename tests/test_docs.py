"""The docs cannot drift: the option reference is regenerated and compared, README links and
names resolve, and the README keeps its two commands."""

from __future__ import annotations

import functools
import importlib.util
import re
import sys
from pathlib import Path
from types import ModuleType

import pytest

from eljobs import docs_gen
from eljobs.config import option_rows
from eljobs.jobs import JOBS

ROOT = Path(__file__).resolve().parent.parent
README = ROOT / "README.md"


def test_option_reference_is_up_to_date() -> None:
    assert docs_gen.main(["--check"]) == 0, "run `python -m eljobs.docs_gen`"


def test_check_detects_a_stale_reference(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    stale = tmp_path / "options.md"
    stale.write_text(docs_gen.render_options().replace("--since", "--from") + "\n")
    monkeypatch.setattr(docs_gen, "OPTIONS_MD", stale)
    assert docs_gen.main(["--check"]) == 1
    assert "is stale" in capsys.readouterr().err
    # Without --check it rewrites the file, after which the check passes.
    assert docs_gen.main([]) == 0
    assert docs_gen.main(["--check"]) == 0
    assert stale.read_text() == docs_gen.render_options() + "\n"


def test_readme_without_markers_is_an_error() -> None:
    with pytest.raises(docs_gen.DocsError, match="options:begin"):
        docs_gen.update_readme("# a README without the generated block\n")


def test_every_option_of_every_job_is_documented() -> None:
    text = (ROOT / "docs" / "options.md").read_text()
    for job in JOBS:
        assert f"## {job}" in text
        section = text.split(f"## {job}", 1)[1].split("\n## ", 1)[0]
        if "Options: the same as" in section:
            continue
        for name, _tp, _default, _help in option_rows(docs_gen.job_config(job)):
            assert f"`--{name}`" in section, f"{job}: --{name}"


def test_readme_keeps_the_two_commands() -> None:
    text = README.read_text()
    block = re.search(r"## Two commands\n+```bash\n(.*?)```", text, re.S)
    assert block, "README lacks the two-commands block"
    commands = [line.split("#")[0].strip() for line in block.group(1).strip().splitlines()]
    assert commands == ["make demo", "make test"]
    makefile = (ROOT / "Makefile").read_text()
    assert re.search(r"^demo:.*\n\t\$\(PY\) -m eljobs\.demo", makefile, re.M)


def test_readme_links_and_names_resolve() -> None:
    text = README.read_text()
    for link in re.findall(r"\]\(([^)#]+)(?:#[^)]*)?\)", text):
        if not link.startswith("http"):
            assert (ROOT / link).exists(), f"README links to missing {link}"
    # `bin/saltrotate` is the original tool, named where salts says what it replaces.
    for wrapper in set(re.findall(r"`bin/([\w.]+)", text)) - {"saltrotate"}:
        assert (ROOT / "bin" / wrapper).is_file(), f"bin/{wrapper}"
    for conf in set(re.findall(r"conf/([\w.-]+\.(?:properties|conf|yaml))", text)):
        assert (ROOT / "conf" / conf).is_file(), f"conf/{conf}"
    for nb in set(re.findall(r"(\w+\.ipynb)", text)):
        assert (ROOT / "notebooks" / nb).is_file(), nb
    for job in JOBS:
        assert f"`{job}`" in text


def test_differences_page_has_its_sections() -> None:
    text = (ROOT / "docs" / "differences.md").read_text()
    for heading in (
        "## Command line (every job)",
        "## backfill (eventlogging-processor and the manual procedure)",
        "## refine and refine_monitor",
        "## refine_sanitize, its monitor and salts",
    ):
        assert heading in text
    for fact in ("TAB", "ua-parser", "1.0.2", "202610", "meta.wikimedia.org"):
        assert fact in text


@functools.cache
def _import_graph() -> ModuleType:
    # scripts/ is no package: load the script by path (registered, as its dataclass needs).
    spec = importlib.util.spec_from_file_location(
        "import_graph", ROOT / "scripts" / "import_graph.py"
    )
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


def test_architecture_shows_the_current_import_graph() -> None:
    graph = _import_graph()
    assert graph.main(["--check-docs"]) == 0, "run `python scripts/import_graph.py --write-docs`"


def test_imports_point_one_way() -> None:
    graph = _import_graph()
    mods = graph.read_package()
    assert graph.cycles(graph.all_edges(mods)) == []
    assert graph.direction_problems(mods) == []


def test_import_graph_sees_an_inverted_import(tmp_path: Path) -> None:
    # A lazy import against the direction counts: options reaching the runner in a function.
    pkg = tmp_path / "eljobs" / "refine"
    pkg.mkdir(parents=True)
    for name in ("__init__", "targets", "reader", "transforms", "hive_table", "runner"):
        (pkg / f"{name}.py").write_text("from __future__ import annotations\n")
    (tmp_path / "eljobs" / "__init__.py").write_text("")
    (pkg / "options.py").write_text(
        "def check():\n    from eljobs.refine.runner import run\n\n    return run\n"
    )
    graph = _import_graph()
    mods = graph.read_package(tmp_path)
    assert graph.direction_problems(mods) == ["eljobs.refine.options imports eljobs.refine.runner"]
    lazy = [(m.name, line) for m in mods.values() for line, _text in m.function_imports]
    assert lazy == [("eljobs.refine.options", 2)]
