"""The import graph of ``lesiontrials``: who imports whom, layers, wrong-way edges, cycles.

Run ``python tools/import_graph.py`` (from the repository root) to print the layer table,
every edge between units that points the wrong way and every import cycle; ``--edges``
prints the allowed unit-level edges; ``--doc`` prints the "Stages and dependencies" section
of ``docs/architecture.md`` (``--write-doc`` replaces it in place). ``tests/test_architecture.py``
asserts the same facts, so the layer table below is the single place that defines them.

A *unit* is a top-level module (``lesiontrials.errors``) or the first-level package a module
lives in (``lesiontrials.insert.case`` → ``insert``). Every import counts — module level,
inside functions and under ``TYPE_CHECKING`` — because a lazy import is still a dependency
a maintainer must respect; only the direction and the cycle structure matter here.
"""

from __future__ import annotations

import argparse
import ast
import sys
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

PACKAGE = "lesiontrials"
REPO = Path(__file__).resolve().parent.parent
SOURCE = REPO / "src" / PACKAGE

# The layer table: lowest first, one entry per layer as (name, kind, units).
#   kind "shared": may import any unit of a lower layer (foundation code, anatomy, …);
#   kind "stage":  may import shared layers and only the earlier stages named in
#                  STAGE_INPUTS (the stages whose outputs or types it reads) — never a
#                  later stage, never an unrelated one;
#   kind "entry":  may import anything below it (test fixtures, the web app, the CLI).
LAYERS: tuple[tuple[str, str, tuple[str, ...]], ...] = (
    ("errors", "shared", ("errors",)),
    ("seeding", "shared", ("seeding",)),
    ("geometry", "shared", ("geometry",)),
    ("settings", "shared", ("settings",)),
    ("paths", "shared", ("paths",)),
    ("anatomy", "shared", ("anatomy",)),
    ("records", "shared", ("records",)),  # the stage records' schemas (no I/O)
    ("io", "shared", ("io",)),  # file I/O, incl. reading records and the decoded cache
    ("shared", "shared", ("donors", "execution", "lesion_text", "measurements",
                          "shape_field", "vessel_edges", "z_edge")),
    ("world", "stage", ("world",)),
    ("index", "stage", ("index",)),
    ("trials", "stage", ("trials",)),
    ("insert", "stage", ("insert",)),
    ("render", "stage", ("render",)),
    ("embeddings", "stage", ("embeddings",)),
    ("slicing", "stage", ("slicing",)),
    ("scoring", "stage", ("scoring",)),
    ("analysis", "stage", ("analysis",)),
    ("survival", "stage", ("survival",)),
    ("training", "stage", ("training",)),
    ("testing", "entry", ("testing", "testing_release", "testing_training",
                          "testing_records")),
    ("pipeline", "entry", ("pipeline",)),  # the library pipeline: calls every stage
    ("apps", "entry", ("apps",)),
    ("cli", "entry", ("cli",)),
    ("public API", "entry", ("lesiontrials",)),  # lesiontrials/__init__.py
)

# The earlier stages each stage may import (what it reads from them, for the maintainer).
STAGE_INPUTS: dict[str, tuple[str, ...]] = {
    "world": (),
    "index": (),
    "trials": ("index",),  # donor and host pools from the nodule index
    "insert": ("trials",),  # the plan's manifest
    "render": (),
    "embeddings": ("index", "render"),  # crops of indexed nodules, rendered where no CT
    "slicing": ("index", "insert"),  # the index's rows, the insert record's file names
    "scoring": ("slicing", "insert"),  # items and their contract; the question bank reads
    # the realised truth insertion wrote
    "analysis": ("slicing", "scoring"),  # items, results, splits
    "survival": ("index", "embeddings"),
    "training": ("slicing", "scoring", "analysis",  # items; paired intervals
                 "index", "trials", "insert", "render"),  # the improve loop's extra trials
}

# Same-layer imports between shared units (importer, imported).
SAME_LAYER_EDGES: frozenset[tuple[str, str]] = frozenset(
    {("testing_release", "testing"), ("testing_training", "testing"),
     ("testing_records", "testing")}
)

# Import cycles another change removes (named here, nowhere else): none left.
KNOWN_CYCLES: tuple[tuple[str, ...], ...] = ()


def layer_of() -> dict[str, int]:
    """Unit name → layer rank (0 = lowest)."""
    return {unit: rank for rank, (_, _, units) in enumerate(LAYERS) for unit in units}


def kind_of() -> dict[str, str]:
    """Unit name → its layer's kind (``shared``, ``stage`` or ``entry``)."""
    return {unit: kind for _, kind, units in LAYERS for unit in units}


@dataclass(frozen=True)
class Import:
    """One import statement's target, resolved to a ``lesiontrials`` module path."""

    importer: str  # dotted module, e.g. "lesiontrials.render.case"
    imported: str  # dotted module (or package) it names
    line: int


def module_name(path: Path, root: Path = SOURCE) -> str:
    """Dotted module name of a file under ``root`` (``__init__.py`` → its package)."""
    parts = list(path.relative_to(root.parent).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts = parts[:-1]
    return ".".join(parts)


def source_modules(root: Path = SOURCE) -> dict[str, Path]:
    """Every module of the package: dotted name → file."""
    return {module_name(p, root): p for p in sorted(root.rglob("*.py"))}


def _resolve_from(module: str, is_package: bool, node: ast.ImportFrom) -> str | None:
    if node.level == 0:
        return node.module
    base = module.split(".") if is_package else module.split(".")[:-1]
    base = base[: len(base) - (node.level - 1)]
    return ".".join([*base, node.module] if node.module else base)


def imports_of(module: str, path: Path, modules: Iterable[str]) -> Iterator[Import]:
    """The ``lesiontrials`` modules one file imports (``from pkg import sub`` → ``pkg.sub``)."""
    known = set(modules)
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    is_package = path.name == "__init__.py"
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                if alias.name.split(".")[0] == PACKAGE:
                    yield Import(module, alias.name, node.lineno)
        elif isinstance(node, ast.ImportFrom):
            target = _resolve_from(module, is_package, node)
            if target is None or target.split(".")[0] != PACKAGE:
                continue
            for alias in node.names:
                sub = f"{target}.{alias.name}"
                yield Import(module, sub if sub in known else target, node.lineno)


def all_imports(root: Path = SOURCE) -> list[Import]:
    """Every import between ``lesiontrials`` modules, sorted."""
    modules = source_modules(root)
    found = {i for name, path in modules.items() for i in imports_of(name, path, modules)}
    return sorted(found, key=lambda i: (i.importer, i.imported, i.line))


def unit_of(module: str) -> str:
    """``lesiontrials.insert.case`` → ``insert``; ``lesiontrials`` → ``lesiontrials``."""
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else parts[0]


def unit_edges(imports: Iterable[Import]) -> dict[tuple[str, str], list[Import]]:
    """Imports between different units, grouped by (importer unit, imported unit)."""
    edges: dict[tuple[str, str], list[Import]] = {}
    for imp in imports:
        a, b = unit_of(imp.importer), unit_of(imp.imported)
        if a != b and b != PACKAGE:  # `from lesiontrials import __version__` is no edge
            edges.setdefault((a, b), []).append(imp)
    return dict(sorted(edges.items()))


def edge_allowed(importer: str, imported: str) -> bool:
    """Whether the layer table lets unit ``importer`` import unit ``imported``."""
    rank, kind = layer_of(), kind_of()
    a, b = rank.get(importer), rank.get(imported)
    if a is None or b is None:
        return False
    if a == b:
        return (importer, imported) in SAME_LAYER_EDGES
    if b > a:
        return False
    if kind[importer] == "stage" and kind[imported] == "stage":
        return imported in STAGE_INPUTS.get(importer, ())
    return True


def unlayered_units(imports: Iterable[Import], root: Path = SOURCE) -> list[str]:
    """Units present in the tree that the layer table does not place."""
    rank = layer_of()
    units = {unit_of(m) for m in source_modules(root)} - {PACKAGE}
    return sorted(u for u in units if u not in rank)


def wrong_way(imports: Iterable[Import]) -> dict[tuple[str, str], list[Import]]:
    """Unit edges the layer table forbids (a later stage, or an unrelated one)."""
    return {e: imps for e, imps in unit_edges(imports).items() if not edge_allowed(*e)}


def cycles(nodes: Iterable[str], edges: Iterable[tuple[str, str]]) -> list[list[str]]:
    """Strongly connected components with more than one node (Tarjan), each sorted."""
    graph: dict[str, set[str]] = {n: set() for n in nodes}
    for a, b in edges:
        if a != b:
            graph.setdefault(a, set()).add(b)
            graph.setdefault(b, set())
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in sorted(graph[v]):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                component.append(w)
                if w == v:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    sys.setrecursionlimit(max(sys.getrecursionlimit(), 10_000))
    for v in sorted(graph):
        if v not in index:
            visit(v)
    return sorted(found)


def module_cycles(imports: Iterable[Import]) -> list[list[str]]:
    """Import cycles between modules.

    A package's ``__init__`` importing its own submodules (to re-export them) is not counted
    as an edge, because Python runs the package first anyway; any other loop is a cycle.
    """
    imports = list(imports)
    edges = [
        (i.importer, i.imported)
        for i in imports
        if not i.imported.startswith(i.importer + ".")
    ]
    return cycles({i.importer for i in imports}, edges)


def unit_cycles(imports: Iterable[Import]) -> list[list[str]]:
    """Import cycles between units (first-level packages and top-level modules)."""
    return cycles([], unit_edges(imports))


# ---------------------------------------------------------------- the architecture doc
DOC = REPO / "docs" / "architecture.md"
SECTION = "## Stages and dependencies"
BEGIN = "<!-- import-graph:begin (generated by tools/import_graph.py --write-doc) -->"
END = "<!-- import-graph:end -->"


def allowed_unit_edges(imports: Iterable[Import]) -> list[tuple[str, str]]:
    """Unit edges present in the code and allowed by the layers, sorted."""
    return [e for e in unit_edges(imports) if edge_allowed(*e)]


def _transitive_reduction(edges: list[tuple[str, str]]) -> list[tuple[str, str]]:
    graph: dict[str, set[str]] = {}
    for a, b in edges:
        graph.setdefault(a, set()).add(b)

    def reachable(start: str, skip: tuple[str, str]) -> set[str]:
        seen: set[str] = set()
        todo = [start]
        while todo:
            v = todo.pop()
            for w in graph.get(v, ()):
                if (v, w) != skip and w not in seen:
                    seen.add(w)
                    todo.append(w)
        return seen

    return [(a, b) for a, b in edges if b not in reachable(a, (a, b))]


def doc_block(imports: Iterable[Import]) -> str:
    """The generated part of the doc: layer table, mermaid drawing, full edge list."""
    imports = list(imports)
    edges = allowed_unit_edges(imports)
    present = {u for e in edges for u in e} | {
        unit_of(m) for m in source_modules()
    } - {PACKAGE}
    lines = [BEGIN, "", "| layer (lowest first) | kind | units |", "|---|---|---|"]
    for name, kind, units in LAYERS:
        here = [f"`{u}`" for u in units if u in present]
        if here:
            lines.append(f"| {name} | {kind} | {', '.join(here)} |")
    lines += [
        "",
        "The drawings show each dependency once (edges implied by a longer path are left out):",
        "first the stages and entry points, with every shared unit drawn as one `shared` box,",
        "then the shared units among themselves. The list below them is every unit-level",
        "import in the code.",
        "",
        "```mermaid",
        "flowchart BT",
    ]
    kind = kind_of()
    collapsed = sorted({(a, "shared" if kind.get(b) == "shared" else b) for a, b in edges
                        if kind.get(a) != "shared"})
    lines += [f"  {a} --> {b}" for a, b in _transitive_reduction(collapsed)]
    lines += ["```", "", "```mermaid", "flowchart BT"]
    inner = [(a, b) for a, b in edges if kind.get(a) == kind.get(b) == "shared"]
    lines += [f"  {a} --> {b}" for a, b in _transitive_reduction(inner)]
    lines += ["```", "", "<details><summary>Every unit-level import (importer → imported)"]
    lines += ["</summary>", "", "```text"]
    lines += [f"{a} -> {b}" for a, b in edges]
    lines += ["```", "", "</details>", "", END]
    return "\n".join(lines)


def doc_edges(text: str) -> list[tuple[str, str]]:
    """The ``a -> b`` edge list written in the doc's generated block."""
    block = text.split(BEGIN, 1)[1].split(END, 1)[0]
    listing = block.split("```text", 1)[1].split("```", 1)[0]
    pairs = [line.split(" -> ") for line in listing.strip().splitlines()]
    return [(a.strip(), b.strip()) for a, b in pairs]


def write_doc(imports: Iterable[Import], doc: Path = DOC) -> None:
    """Replace the generated block in ``doc`` (it must already hold the markers)."""
    text = doc.read_text(encoding="utf-8")
    if BEGIN not in text or END not in text:
        raise SystemExit(f"{doc}: no {BEGIN!r} … {END!r} block under {SECTION!r}; add it")
    head, rest = text.split(BEGIN, 1)
    tail = rest.split(END, 1)[1]
    doc.write_text(head + doc_block(imports) + tail, encoding="utf-8")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--edges", action="store_true", help="print allowed unit edges")
    parser.add_argument("--doc", action="store_true", help="print the doc's generated block")
    parser.add_argument("--write-doc", action="store_true", help="rewrite docs/architecture.md")
    args = parser.parse_args(argv)
    imports = all_imports()
    if args.doc:
        print(doc_block(imports))
        return 0
    if args.write_doc:
        write_doc(imports)
        return 0
    if args.edges:
        for a, b in allowed_unit_edges(imports):
            print(f"{a} -> {b}")
        return 0
    bad = 0
    for unit in unlayered_units(imports):
        print(f"unit not in LAYERS: {unit}")
        bad += 1
    for (a, b), imps in wrong_way(imports).items():
        where = ", ".join(f"{i.importer}:{i.line}→{i.imported}" for i in imps)
        print(f"wrong way {a} -> {b}: {where}")
        bad += 1
    for cycle in unit_cycles(imports):
        print(f"unit cycle: {' ↔ '.join(cycle)}")
        bad += 1
    for cycle in module_cycles(imports):
        if tuple(cycle) in KNOWN_CYCLES:
            print(f"known cycle (being removed elsewhere): {' ↔ '.join(cycle)}")
            continue
        print(f"module cycle: {' ↔ '.join(cycle)}")
        bad += 1
    print(f"{len(imports)} imports, {bad} problems")
    return 1 if bad else 0


if __name__ == "__main__":
    raise SystemExit(main())
