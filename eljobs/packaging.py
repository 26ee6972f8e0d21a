"""Build the packed Python environment shipped to YARN containers (``make pack``).

On a cluster, Spark runs eljobs' Python code in every executor (and, with
``ELJOBS_DEPLOY_MODE=cluster``, in the driver's container) with a Python that must have eljobs
and its dependencies. ``bin/<job>`` ships ``dist/eljobs-env.tar.gz`` with
``spark-submit --archives dist/eljobs-env.tar.gz#env`` and points
``spark.pyspark.python`` at ``./env/bin/python``; YARN unpacks the archive in each container.

This module builds that archive from the project's virtual environment with `venv-pack`_:

* only the distributions eljobs needs at run time are kept: the ``[project.dependencies]`` of
  ``pyproject.toml`` and what they require, plus pandas (PySpark's Arrow code paths import it on
  the executors). PySpark itself is left out (the cluster brings its own Spark and its Python
  library), and so are the test and development tools;
* the eljobs package is added from the source tree (the venv holds it as an editable install,
  which venv-pack cannot pack as such).

venv-pack does not copy the Python interpreter: the archive's ``bin/python`` links to the
interpreter the venv was made from. Every cluster node needs a Python of the same version at
``--python_prefix`` (default: the same path as here, e.g. ``/usr`` for the system Python).

Usage::

    python -m eljobs.packaging [--output dist/eljobs-env.tar.gz] [--prefix .venv]
                               [--python_prefix /usr] [--list]

.. _venv-pack: https://jcristharif.com/venv-pack/
"""

from __future__ import annotations

import argparse
import os
import re
import sys
import tomllib
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from importlib.metadata import PathDistribution
from pathlib import Path
from typing import Any

from eljobs.errors import EljobsError

#: The project root (the directory holding pyproject.toml and the eljobs package).
PROJECT_ROOT = Path(__file__).resolve().parent.parent

#: Distributions needed on the executors beyond eljobs' own dependencies.
EXECUTOR_EXTRAS: tuple[str, ...] = ("pandas",)

DEFAULT_OUTPUT = PROJECT_ROOT / "dist" / "eljobs-env.tar.gz"


class PackError(EljobsError):
    """The environment cannot be packed (missing venv, missing distribution, foreign editable
    install); the message says what was expected and what was found."""


def _canon(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


@dataclass(frozen=True)
class Distribution:
    """One installed distribution of the venv: its name, requirements and installed files."""

    name: str
    requires: tuple[str, ...]
    files: tuple[str, ...]  # paths relative to site-packages, as in the RECORD file


def site_packages(prefix: Path) -> Path:
    """The ``lib/pythonX.Y/site-packages`` directory of the venv at ``prefix``."""
    found = sorted(prefix.glob("lib/python3*/site-packages"))
    if len(found) != 1:
        raise PackError(
            f"expected one lib/python3*/site-packages in the venv {prefix}, found {len(found)}; "
            "run `make setup` first"
        )
    return found[0]


def installed_distributions(site: Path) -> dict[str, Distribution]:
    """Every distribution installed in ``site``, by canonical name, read from its dist-info."""
    out: dict[str, Distribution] = {}
    for info in sorted(site.glob("*.dist-info")):
        dist = PathDistribution(info)
        name = dist.metadata["Name"] if dist.metadata else None
        if not name:
            continue
        # RECORD lists every installed file, relative to site-packages (scripts as ../../../bin).
        files = [str(f) for f in dist.files or ()]
        files.append(f"{info.name}/RECORD")
        out[_canon(name)] = Distribution(name, tuple(dist.requires or ()), tuple(files))
    return out


def runtime_requirements(pyproject: Path = PROJECT_ROOT / "pyproject.toml") -> list[str]:
    """eljobs' run-time requirements: ``[project.dependencies]`` plus :data:`EXECUTOR_EXTRAS`."""
    data = tomllib.loads(pyproject.read_text(encoding="utf-8"))
    return [*data["project"]["dependencies"], *EXECUTOR_EXTRAS]


def requirement_closure(roots: Iterable[str], dists: dict[str, Distribution]) -> set[str]:
    """Canonical names of the distributions ``roots`` need, transitively (markers evaluated for
    this interpreter; extras followed).

    Raises:
        PackError: a needed distribution is not installed.
    """
    # The PyPI 'packaging' library is no run-time dependency of eljobs: only `make pack` needs it.
    from packaging.requirements import Requirement

    keep: set[str] = set()
    seen: set[tuple[str, frozenset[str]]] = set()
    missing: list[str] = []
    todo = [Requirement(r) for r in roots]
    todo = [r for r in todo if r.marker is None or r.marker.evaluate({"extra": ""})]
    while todo:
        req = todo.pop()
        name = _canon(req.name)
        if (name, frozenset(req.extras)) in seen:
            continue
        seen.add((name, frozenset(req.extras)))
        dist = dists.get(name)
        if dist is None:
            missing.append(req.name)
            continue
        keep.add(name)
        # A sub-requirement applies without extras or under one of the extras asked for.
        environments = [{"extra": e} for e in ("", *sorted(req.extras))]
        for text in dist.requires:
            sub = Requirement(text)
            if sub.marker is None or any(sub.marker.evaluate(env) for env in environments):
                todo.append(sub)
    if missing:
        raise PackError(
            "the venv lacks distributions eljobs needs at run time: "
            f"{', '.join(sorted(set(missing)))}; run `make setup`"
        )
    return keep


def excluded_targets(
    prefix: Path, site: Path, dists: dict[str, Distribution], keep: set[str]
) -> set[str]:
    """Archive paths (relative to ``prefix``) of every file of a distribution not in ``keep``."""
    out: set[str] = set()
    for name, dist in dists.items():
        if name in keep:
            continue
        for rel in dist.files:
            target = os.path.normpath(os.path.relpath(site / rel, prefix))
            if not target.startswith(".."):
                out.add(target)
    return out


def _eljobs_files(site_rel: str) -> list[tuple[str, str]]:
    """(source, archive target) of every file of the eljobs package in the source tree."""
    pkg = PROJECT_ROOT / "eljobs"
    out = []
    for path in sorted(pkg.rglob("*")):
        if not path.is_file() or "__pycache__" in path.parts or path.suffix == ".pyc":
            continue
        out.append((str(path), f"{site_rel}/eljobs/{path.relative_to(pkg).as_posix()}"))
    return out


def _pth_paths(site: Path) -> list[tuple[Path, str]]:
    """(pth file, path line) for every directory a ``.pth`` file adds to ``sys.path``."""
    out = []
    for pth in sorted(site.glob("*.pth")):
        for line in pth.read_text(encoding="utf-8", errors="replace").splitlines():
            line = line.strip()
            if line and not line.startswith(("#", "import ", "import\t")):
                out.append((pth, line))
    return out


def plan(prefix: Path) -> Any:
    """The venv-pack ``Env`` of what the archive holds (not yet written).

    Raises:
        PackError: no venv at ``prefix``, a needed distribution is missing, or an editable
            install other than eljobs itself is present.
    """
    # venv-pack comes with the dev extra, the only one that runs `make pack`.
    import venv_pack.core

    prefix = prefix.resolve()
    if not (prefix / "pyvenv.cfg").is_file():
        raise PackError(f"expected a virtual environment at {prefix} (pyvenv.cfg); run make setup")
    site = site_packages(prefix)
    foreign = [
        (pth, line)
        for pth, line in _pth_paths(site)
        if not (site / line).resolve().is_relative_to(prefix)
        and (site / line).resolve() != PROJECT_ROOT
    ]
    if foreign:
        listed = "; ".join(f"{p.name}: {line}" for p, line in foreign)
        raise PackError(f"editable installs other than eljobs cannot be packed: {listed}")

    # venv-pack refuses editable installs outright; eljobs' own one is replaced below by the
    # package sources, and foreign ones were refused above, so its check is skipped here.
    original_check = venv_pack.core.check_no_editable_packages
    venv_pack.core.check_no_editable_packages = lambda context: None
    try:
        env = venv_pack.Env(str(prefix))
    finally:
        venv_pack.core.check_no_editable_packages = original_check

    dists = installed_distributions(site)
    keep = requirement_closure(runtime_requirements(), dists)
    drop = excluded_targets(prefix, site, dists, keep)
    site_rel = site.relative_to(prefix).as_posix()
    editable = {f"{site_rel}/{p.name}" for p, _ in _pth_paths(site)}
    files = [
        f
        for f in env.files
        if os.path.normpath(f.target) not in drop
        and f.target not in editable
        and not re.match(rf"{re.escape(site_rel)}/(__editable__|eljobs[-/])", f.target)
        and "/__pycache__/" not in f"/{f.target}"
    ]
    files += [venv_pack.File(src, target) for src, target in _eljobs_files(site_rel)]
    env.files = files
    return env


def pack(
    output: Path = DEFAULT_OUTPUT,
    *,
    prefix: Path = PROJECT_ROOT / ".venv",
    python_prefix: str | None = None,
) -> Path:
    """Write the packed environment to ``output`` (replacing it) and return its path."""
    env = plan(prefix)
    output.parent.mkdir(parents=True, exist_ok=True)
    env.pack(output=str(output), python_prefix=python_prefix, force=True, compress_level=4)
    output.chmod(0o644)  # venv-pack writes through a private temp file
    return output


def main(argv: Sequence[str] | None = None) -> int:
    """``python -m eljobs.packaging``: build the archive and say how to use it."""
    ap = argparse.ArgumentParser(
        prog="python -m eljobs.packaging",
        description="Pack eljobs and its run-time dependencies for spark-submit --archives.",
    )
    ap.add_argument("--output", default=str(DEFAULT_OUTPUT), help="archive path (.tar.gz)")
    ap.add_argument("--prefix", default=str(PROJECT_ROOT / ".venv"), help="the venv to pack")
    ap.add_argument(
        "--python_prefix",
        default=None,
        help="prefix of the Python on the cluster nodes (e.g. /usr); default: this venv's base",
    )
    ap.add_argument("--list", action="store_true", help="list the archive's files, write nothing")
    args = ap.parse_args(argv)
    try:
        if args.list:
            for f in plan(Path(args.prefix)).files:
                print(f.target)
            return 0
        out = pack(Path(args.output), prefix=Path(args.prefix), python_prefix=args.python_prefix)
    except PackError as e:
        print(f"eljobs pack: {e}", file=sys.stderr)
        return 1
    size = out.stat().st_size / 1e6
    print(f"eljobs pack: wrote {out} ({size:.0f} MB)")
    print("  bin/<job> ships it on YARN: ELJOBS_MASTER=yarn bin/refine --config_file ...")
    print(f"  (spark-submit --archives {out}#env --conf spark.pyspark.python=./env/bin/python)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
