"""The docs cannot drift: the option reference is regenerated and compared, README links and
names resolve, and the README keeps its two commands."""

from __future__ import annotations

import re
from pathlib import Path

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
