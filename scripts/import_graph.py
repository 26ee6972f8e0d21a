#!/usr/bin/env python3
"""The package's import structure, read from its source (nothing is imported or run).

Prints, for ``eljobs``:

* the directed graph of top-level internal imports, one line per module
  (``module -> imported, ...``); imports under ``if TYPE_CHECKING:`` are annotations only
  and are left out, since they never run;
* the import cycles (strongly connected parts of that graph, where importing a module also
  runs its parent packages' ``__init__``), or ``none``;
* how many imports stand inside functions (``--where`` lists them as ``module:line``), and the
  ``importlib.import_module`` calls with a literal module name, which are imports too;
* the largest modules by lines.

``--diagram`` prints the layered text diagram that ``docs/architecture.md`` carries between its
``import-graph`` markers; ``--check-docs`` exits 1 when that block differs from a fresh one,
``--write-docs`` rewrites it.

Usage: ``python scripts/import_graph.py [--where] [--largest N] [--diagram | --check-docs |
--write-docs]``
"""

from __future__ import annotations

import argparse
import ast
import sys
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PACKAGE = "eljobs"
ARCHITECTURE_MD = ROOT / "docs" / "architecture.md"
BEGIN = "<!-- import-graph:begin (scripts/import_graph.py --write-docs) -->"
END = "<!-- import-graph:end -->"


@dataclass
class Module:
    """One module of the package as its source shows it."""

    name: str
    path: Path
    lines: int
    is_package: bool
    #: internal modules imported at the top level (not under TYPE_CHECKING), in source order.
    imports: list[str] = field(default_factory=list)
    #: ``(line, text)`` of every import statement inside a function body.
    function_imports: list[tuple[int, str]] = field(default_factory=list)
    #: ``(line, module)`` of ``importlib.import_module("eljobs....")`` calls.
    importlib_calls: list[tuple[int, str]] = field(default_factory=list)
    #: internal modules imported inside functions or through importlib (loaded on first use).
    deferred: list[str] = field(default_factory=list)
    #: lines of parameters named ``spark`` annotated ``Any`` (a session is a SparkSession).
    spark_any: list[int] = field(default_factory=list)


def module_name(path: Path, root: Path) -> tuple[str, bool]:
    """The dotted name of the file ``path`` under ``root`` and whether it is a package."""
    parts = list(path.relative_to(root).with_suffix("").parts)
    if parts[-1] == "__init__":
        return ".".join(parts[:-1]), True
    return ".".join(parts), False


def _annotation(node: ast.expr) -> str:
    """An annotation as written, a string annotation unquoted."""
    if isinstance(node, ast.Constant) and isinstance(node.value, str):
        return node.value
    return ast.unparse(node)


def _is_type_checking(test: ast.expr) -> bool:
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING"
    )


def _resolve_from(mod: Module, node: ast.ImportFrom) -> str:
    """The absolute module an ``from ... import`` names (relative ones resolved)."""
    if not node.level:
        return node.module or ""
    base = mod.name.split(".")
    if not mod.is_package:
        base = base[:-1]
    base = base[: len(base) - (node.level - 1)]
    return ".".join([*base, node.module] if node.module else base)


def _targets(mod: Module, node: ast.Import | ast.ImportFrom, known: set[str]) -> list[str]:
    """The internal modules one import statement loads (``from pkg import sub`` names the
    sub-module when ``sub`` is one, else the package)."""
    out: list[str] = []
    if isinstance(node, ast.Import):
        for alias in node.names:
            name = alias.name
            while name and name not in known:
                name = name.rpartition(".")[0]
            if name:
                out.append(name)
        return out
    base = _resolve_from(mod, node)
    for alias in node.names:
        sub = f"{base}.{alias.name}"
        if sub in known:
            out.append(sub)
        elif base in known:
            out.append(base)
    return out


def _walk(
    body: Sequence[ast.stmt], *, in_function: bool, type_checking: bool
) -> Iterator[tuple[ast.AST, bool, bool]]:
    """Every node below ``body`` with whether it stands in a function body and whether under
    ``if TYPE_CHECKING:``."""
    for stmt in body:
        yield from _walk_node(stmt, in_function=in_function, type_checking=type_checking)


def _walk_node(
    node: ast.AST, *, in_function: bool, type_checking: bool
) -> Iterator[tuple[ast.AST, bool, bool]]:
    yield node, in_function, type_checking
    if isinstance(node, ast.If) and _is_type_checking(node.test):
        yield from _walk(node.body, in_function=in_function, type_checking=True)
        yield from _walk(node.orelse, in_function=in_function, type_checking=type_checking)
        return
    inner = in_function or isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.Lambda)
    for child in ast.iter_child_nodes(node):
        yield from _walk_node(child, in_function=inner, type_checking=type_checking)


def read_package(root: Path = ROOT, package: str = PACKAGE) -> dict[str, Module]:
    """Every module of ``package`` under ``root`` with its imports."""
    mods: dict[str, Module] = {}
    trees: dict[str, ast.Module] = {}
    for path in sorted((root / package).rglob("*.py")):
        name, is_package = module_name(path, root)
        text = path.read_text()
        mods[name] = Module(name, path, len(text.splitlines()), is_package)
        trees[name] = ast.parse(text, filename=str(path))
    known = set(mods)
    for name, tree in trees.items():
        mod = mods[name]
        for node, in_function, type_checking in _walk(
            tree.body, in_function=False, type_checking=False
        ):
            if isinstance(node, ast.Import | ast.ImportFrom):
                if type_checking:
                    continue
                if in_function:
                    mod.function_imports.append((node.lineno, ast.unparse(node)))
                    mod.deferred += _targets(mod, node, known)
                else:
                    for target in _targets(mod, node, known):
                        if target != name and target not in mod.imports:
                            mod.imports.append(target)
            elif isinstance(node, ast.arg):
                note = node.annotation
                if node.arg == "spark" and note is not None and _annotation(note) == "Any":
                    mod.spark_any.append(node.lineno)
            elif (
                isinstance(node, ast.Call)
                and isinstance(node.func, ast.Attribute)
                and node.func.attr == "import_module"
                and node.args
                and isinstance(node.args[0], ast.Constant)
                and isinstance(node.args[0].value, str)
                and node.args[0].value.split(".")[0] == package
            ):
                mod.importlib_calls.append((node.lineno, node.args[0].value))
                if node.args[0].value in known:
                    mod.deferred.append(node.args[0].value)
    return mods


def _parents(name: str) -> list[str]:
    parts = name.split(".")
    return [".".join(parts[:i]) for i in range(1, len(parts))]


def runtime_edges(mods: dict[str, Module]) -> dict[str, set[str]]:
    """What importing each module runs first: its top-level imports and their parent packages
    (an ``__init__`` runs before its sub-module), leaving out the importer's own parents,
    which are already being imported."""
    edges: dict[str, set[str]] = {}
    for name, mod in mods.items():
        own = set(_parents(name))
        out: set[str] = set()
        for target in mod.imports:
            out.add(target)
            out.update(p for p in _parents(target) if p in mods and p not in own)
        out.discard(name)
        edges[name] = out
    return edges


def all_edges(mods: dict[str, Module]) -> dict[str, set[str]]:
    """:func:`runtime_edges` plus the imports in functions and through importlib."""
    edges = runtime_edges(mods)
    return {name: edges[name] | set(mod.deferred) - {name} for name, mod in mods.items()}


def cycles(edges: dict[str, set[str]]) -> list[list[str]]:
    """The strongly connected parts with more than one module (Tarjan), each sorted."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []
    counter = 0

    def visit(v: str) -> None:
        nonlocal counter
        index[v] = low[v] = counter
        counter += 1
        stack.append(v)
        on_stack.add(v)
        for w in sorted(edges.get(v, ())):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            part: list[str] = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                part.append(w)
                if w == v:
                    break
            if len(part) > 1:
                found.append(sorted(part))

    sys.setrecursionlimit(max(sys.getrecursionlimit(), 10 * len(edges) + 100))
    for v in sorted(edges):
        if v not in index:
            visit(v)
    return sorted(found)


def layers(names: Sequence[str], edges: dict[str, set[str]]) -> list[list[str]]:
    """``names`` in layers: a module's layer is one more than the highest layer among the
    modules of ``names`` it imports (0 when it imports none of them). Needs no cycle."""
    inside = set(names)
    depth: dict[str, int] = {}

    def level(v: str, seen: frozenset[str]) -> int:
        if v in depth:
            return depth[v]
        if v in seen:
            raise ValueError(f"import cycle through {v}")
        deps = [w for w in edges.get(v, ()) if w in inside and w != v]
        depth[v] = 1 + max((level(w, seen | {v}) for w in deps), default=-1)
        return depth[v]

    for v in names:
        level(v, frozenset())
    out: list[list[str]] = [[] for _ in range(max(depth.values(), default=-1) + 1)]
    for v in sorted(names):
        out[depth[v]].append(v)
    return out


def _short(name: str, prefix: str) -> str:
    return name[len(prefix) :] if name.startswith(prefix) else name


def part_of(name: str) -> str:
    """The part of the package a module belongs to in the diagram: its first-level package
    (``eljobs.refine``), or the module itself when it stands directly in ``eljobs``; the
    modules and sub-packages of ``eljobs.io`` are parts of their own (``eljobs.io.fs``,
    ``eljobs.io.kafka``), since the options layer uses the file system and the Kafka options
    use the option declarations."""
    parts = name.split(".")
    if len(parts) > 2 and parts[1] == "io":
        return ".".join(parts[:3])
    return ".".join(parts[:2]) if len(parts) > 1 else name


#: The direction of eljobs.refine: a module of this chain never imports (even through others)
#: one that stands after it; ``table writer`` is :mod:`eljobs.refine.hive_table`.
REFINE_DIRECTION: tuple[str, ...] = (
    "eljobs.refine.options",
    "eljobs.refine.targets",
    "eljobs.refine.reader",
    "eljobs.refine.transforms",
    "eljobs.refine.hive_table",
    "eljobs.refine.runner",
)


def _reach(start: str, edges: dict[str, set[str]]) -> set[str]:
    seen: set[str] = set()
    todo = [start]
    while todo:
        for w in edges.get(todo.pop(), ()):
            if w not in seen:
                seen.add(w)
                todo.append(w)
    return seen


def direction_problems(mods: dict[str, Module]) -> list[str]:
    """``a imports b`` for each pair of :data:`REFINE_DIRECTION` where ``a`` stands before
    ``b`` and reaches it, at import time or later (imports in functions and through importlib
    count: they are dependencies too)."""
    edges = all_edges(mods)
    problems = []
    for i, a in enumerate(REFINE_DIRECTION):
        reached = _reach(a, edges)
        problems += [f"{a} imports {b}" for b in REFINE_DIRECTION[i + 1 :] if b in reached]
    return problems


def _row(name: str, width: int, deps: Sequence[str]) -> list[str]:
    """``  name  -> a, b, ...`` wrapped at 100 characters."""
    head = f"  {name:<{width}}"
    if not deps:
        return [head.rstrip()]
    rows, line = [], head + " -> "
    for i, d in enumerate(deps):
        piece = d + (", " if i < len(deps) - 1 else "")
        if len(line) + len(piece.rstrip()) > 100 and line.strip():
            rows.append(line.rstrip())
            line = " " * (len(head) + 4)
        line += piece
    rows.append(line.rstrip())
    return rows


def diagram(mods: dict[str, Module]) -> str:
    """The text diagram of docs/architecture.md: the package's parts in layers (a part
    imports only parts of lower layers), then the modules of ``eljobs.refine`` in layers with
    what each imports, and whether :data:`REFINE_DIRECTION` holds."""
    edges = {n: set(m.imports) for n, m in mods.items()}
    io_folder = f"{PACKAGE}.io"
    parts: dict[str, set[str]] = {}
    for name, targets in edges.items():
        src = part_of(name)
        if src in (PACKAGE, io_folder):  # the package roots hold no code of their own
            continue
        parts.setdefault(src, set())
        for t in targets:
            dst = part_of(t)
            if dst not in (src, PACKAGE, io_folder):
                parts[src].add(dst)
    lines = [
        "Parts of eljobs, lowest layer first: a part imports only parts of lower layers.",
        "Arrows are the imports at the top of its modules; those under TYPE_CHECKING (for",
        "annotations) and inside functions are left out.",
        "",
    ]
    top = f"{PACKAGE}."
    for i, layer in enumerate(layers(sorted(parts), parts)):
        lines.append(f"layer {i}")
        for p in layer:
            lines += _row(_short(p, top), 16, [_short(d, top) for d in sorted(parts[p])])
    refine = sorted(n for n in mods if n.startswith(f"{PACKAGE}.refine."))
    prefix = f"{PACKAGE}.refine."
    lines += [
        "",
        "eljobs.refine, lowest layer first: a module imports only modules of lower layers",
        "(arrows name the modules of eljobs.refine only).",
        "",
    ]
    for i, layer in enumerate(layers(refine, edges)):
        lines.append(f"layer {i}")
        for m in layer:
            deps = [_short(d, prefix) for d in sorted(edges[m]) if d in refine]
            lines += _row(_short(m, prefix), 15, deps)
    chain = " -> ".join(_short(m, prefix) for m in REFINE_DIRECTION)
    problems = direction_problems(mods)
    lines += [
        "",
        f"Direction {chain}: "
        + ("no module imports one to its right." if not problems else "; ".join(problems)),
    ]
    return "\n".join(lines)


def docs_block(mods: dict[str, Module]) -> str:
    """The generated block of docs/architecture.md, markers included."""
    return f"{BEGIN}\n```text\n{diagram(mods)}\n```\n{END}"


def replace_block(text: str, block: str) -> str:
    """``text`` with its import-graph block replaced by ``block``."""
    if BEGIN not in text or END not in text:
        raise SystemExit(f"{ARCHITECTURE_MD}: the markers {BEGIN!r} and {END!r} are missing")
    head, rest = text.split(BEGIN, 1)
    return head + block + rest.split(END, 1)[1]


def report(mods: dict[str, Module], *, where: bool, largest: int) -> str:
    """The printed summary."""
    out = ["# top-level internal imports (module -> imported)"]
    for name in sorted(mods):
        targets = mods[name].imports
        out.append(f"{name} -> {', '.join(targets)}" if targets else name)
    found = cycles(runtime_edges(mods))
    out.append("")
    out.append(f"# cycles: {len(found) or 'none'}")
    out += [" <-> ".join(c) for c in found]
    deferred = cycles(all_edges(mods))
    out.append(f"# cycles counting imports in functions: {len(deferred) or 'none'}")
    out += [" <-> ".join(c) for c in deferred]
    wrong = direction_problems(mods)
    out.append(f"# refine direction ({' -> '.join(REFINE_DIRECTION)}): {len(wrong) or 'holds'}")
    out += wrong
    fn = [(n, line, text) for n, m in mods.items() for line, text in m.function_imports]
    lib = [(n, line, target) for n, m in mods.items() for line, target in m.importlib_calls]
    out.append("")
    out.append(f"# function-level imports: {len(fn)} (in {len({n for n, _, _ in fn})} modules)")
    if where:
        out += [f"{mods[n].path.relative_to(ROOT)}:{line}: {text}" for n, line, text in fn]
    out.append(f"# importlib.import_module of package modules: {len(lib)}")
    out += [f"{mods[n].path.relative_to(ROOT)}:{line}: {target}" for n, line, target in lib]
    any_spark = [(n, line) for n, m in mods.items() for line in m.spark_any]
    out.append(f"# `spark` parameters annotated Any: {len(any_spark)}")
    out += [f"{mods[n].path.relative_to(ROOT)}:{line}" for n, line in any_spark]
    out.append("")
    out.append(f"# largest modules (lines), of {len(mods)}")
    for mod in sorted(mods.values(), key=lambda m: (-m.lines, m.name))[:largest]:
        out.append(f"{mod.lines:6d}  {mod.path.relative_to(ROOT)}")
    return "\n".join(out)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    parser.add_argument("--where", action="store_true", help="list function-level imports")
    parser.add_argument("--largest", type=int, default=10, help="how many large modules")
    mode = parser.add_mutually_exclusive_group()
    mode.add_argument("--diagram", action="store_true", help="print the docs diagram")
    mode.add_argument("--check-docs", action="store_true", help="exit 1 if the docs are stale")
    mode.add_argument("--write-docs", action="store_true", help="rewrite the docs block")
    args = parser.parse_args(argv)
    mods = read_package()
    if args.diagram:
        print(diagram(mods))
        return 0
    if args.check_docs or args.write_docs:
        text = ARCHITECTURE_MD.read_text()
        fresh = replace_block(text, docs_block(mods))
        if args.write_docs:
            ARCHITECTURE_MD.write_text(fresh)
            return 0
        if fresh != text:
            print(
                f"{ARCHITECTURE_MD.relative_to(ROOT)}: the import graph is stale; run "
                "`python scripts/import_graph.py --write-docs`",
                file=sys.stderr,
            )
            return 1
        return 0
    print(report(mods, where=args.where, largest=args.largest))
    return 0


if __name__ == "__main__":
    sys.exit(main())
