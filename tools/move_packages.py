"""Issue 18's package moves, as one idempotent script (run from the repository root).

* ``evaluate/`` splits into ``slicing/`` (what the slice builder writes: evaluation sets,
  slices, overlays, windowing, case items, volume sets, the item contract and tasks) and
  ``scoring/`` (what scoring writes or reads back: runner, results, parsing, calibration,
  splits, detection and malignancy scoring, model adapters, question bank, structured reports);
* ``render/``'s flat modules group into ``render/backends/``, ``render/appearance/`` and
  ``render/fidelity/`` (the stage drivers ``case``, ``trial``, ``interface``, ``qc`` stay);
* ``describe/`` becomes ``lesion_text/`` and ``profiles/`` becomes ``measurements/``;
* overloaded names: ``insert``'s ``CaseJob`` → ``InsertJob``, the slice builder's
  ``CaseJob`` → ``CaseItemsJob``, ``lesion_text``'s ``describe()`` → ``lesion_sentence()``.

Files move with ``git mv``; every ``lesiontrials.<old module>`` (imports, strings, docs) and
every ``<old package>/<file>.py`` path in src/, tests/, benchmarks/, examples/, docs/, tools/,
README.md, Makefile and pyproject.toml is rewritten by the module map. A module the map does
not place (someone added ``evaluate/new.py``) stops the script before anything moves, listing
it: add it to ``FILE_MOVES``. Running it again on a moved tree changes nothing. Afterwards run
``ruff check --fix src tests benchmarks`` (import order) and the checks in the report.
"""

from __future__ import annotations

import argparse
import ast
import re
import shutil
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
PKG = REPO / "src" / "lesiontrials"

# Whole directories (every file below them) by prefix, relative to src/lesiontrials.
DIR_MOVES: dict[str, str] = {
    "describe": "lesion_text",
    "profiles": "measurements",
    "evaluate/models": "scoring/models",
    "evaluate/questions": "scoring/questions",
    "evaluate/structured": "scoring/structured",
}

_SLICING = ("sets", "slices", "overlays", "windowing", "case_items", "volumes", "contract",
            "tasks")
_SCORING = ("runner", "volume_runner", "volume_contract", "results", "parsing", "paraphrases",
            "calibration", "splits", "detection", "malignancy")
_BACKENDS = ("analytic", "physics", "hostct", "maisi", "maisi_geometry", "scanner")
_APPEARANCE = ("lesion", "lesion_shape", "shape_field", "shape_source", "texture", "tissue",
               "body", "bone", "fields", "partial_volume")
_FIDELITY = ("fidelity", "case_fidelity", "real_fidelity", "feature_distance", "encoder",
             "noise_measure", "radiomics", "edge_width")
_RENDER_STAYS = ("__init__", "case", "trial", "interface", "qc")

# Single files, relative to src/lesiontrials (the split package's __init__ is generated).
FILE_MOVES: dict[str, str] = {
    **{f"evaluate/{m}.py": f"slicing/{m}.py" for m in _SLICING},
    **{f"evaluate/{m}.py": f"scoring/{m}.py" for m in _SCORING},
    **{f"render/{m}.py": f"render/backends/{m}.py" for m in _BACKENDS},
    "render/backends.py": "render/backends/registry.py",
    **{f"render/{m}.py": f"render/appearance/{m}.py" for m in _APPEARANCE},
    **{f"render/{m}.py": f"render/fidelity/{m}.py" for m in _FIDELITY},
}

# Packages whose flat modules must all be placed by FILE_MOVES (or stay, for render).
CHECKED = {"evaluate": (), "render": _RENDER_STAYS}

# The package split in two: its __init__'s exports go to the package each name now lives in.
SPLIT_PACKAGE = ("evaluate", ("slicing", "scoring"))
SPLIT_DOCS = {
    "slicing": '"""Slicing: 2-D evaluation sets (slices, overlays, display windows) and volume\n'
               'sets, with the item contract."""',
    "scoring": '"""Scoring: model adapters, the runner, answer parsing, calibration folds,\n'
               'frozen splits, detection and malignancy scoring."""',
}
NEW_PACKAGE_DOCS = {
    "render/backends": '"""Renderer backends (analytic, physics, host CT, MAISI), their\n'
                       'registry and the scanner model."""',
    "render/appearance": '"""Lesion and tissue appearance: shapes, textures, tissue HU,\n'
                         'body and bone composition."""',
    "render/fidelity": '"""Fidelity of rendered CT: histograms, noise, texture, edge width,\n'
                       'deep-feature distance (and its encoder)."""',
}

# Moves already made on the branch by hand: only imports elsewhere are rewritten.
ALREADY_MOVED: dict[str, str] = {"lesiontrials.index.embeddings": "lesiontrials.embeddings"}

# (defining module after the moves, old name, new name).
RENAMES: tuple[tuple[str, str, str], ...] = (
    ("lesiontrials.insert.case", "CaseJob", "InsertJob"),
    ("lesiontrials.slicing.case_items", "CaseJob", "CaseItemsJob"),
    ("lesiontrials.lesion_text.sentence", "describe", "lesion_sentence"),
)

TEXT_ROOTS = ("src", "tests", "benchmarks", "examples", "docs", "tools")
TEXT_FILES = ("README.md", "Makefile", "pyproject.toml")
TEXT_SUFFIXES = {".py", ".md", ".toml", ".txt", ".yaml", ".yml", ".js", ".html", ".cfg", ""}
TEST_DIR_MOVES = {"tests/describe": "tests/lesion_text", "tests/profiles": "tests/measurements"}


def dotted(rel: str) -> str:
    """``evaluate/runner.py`` → ``lesiontrials.evaluate.runner`` (``__init__`` → package)."""
    parts = rel.removesuffix(".py").split("/")
    if parts[-1] == "__init__":
        parts = parts[:-1]
    return ".".join(["lesiontrials", *parts])


def plan_moves() -> dict[str, str]:
    """Every file still to move (old → new, relative to src/lesiontrials); fails listing the
    files of a checked package that no rule places."""
    moves: dict[str, str] = {}
    for old_dir, new_dir in DIR_MOVES.items():
        for path in sorted((PKG / old_dir).rglob("*")) if (PKG / old_dir).is_dir() else []:
            if path.is_file() and "__pycache__" not in path.parts:
                rel = path.relative_to(PKG).as_posix()
                moves[rel] = new_dir + rel[len(old_dir):]
    for old, new in FILE_MOVES.items():
        if (PKG / old).is_file():
            moves[old] = new
    unplaced = []
    for package, stays in CHECKED.items():
        for path in sorted((PKG / package).glob("*.py")) if (PKG / package).is_dir() else []:
            rel = path.relative_to(PKG).as_posix()
            split_init = f"{SPLIT_PACKAGE[0]}/__init__.py"
            if rel not in moves and path.stem not in stays and rel != split_init:
                unplaced.append(rel)
        for sub in sorted((PKG / package).iterdir()) if (PKG / package).is_dir() else []:
            rel = sub.relative_to(PKG).as_posix()
            if sub.is_dir() and sub.name != "__pycache__" and rel not in DIR_MOVES and \
                    rel not in NEW_PACKAGE_DOCS:
                unplaced.append(rel + "/")
    if unplaced:
        raise SystemExit("no rule places these (add them to FILE_MOVES or DIR_MOVES in "
                         "tools/move_packages.py):\n  " + "\n  ".join(unplaced))
    return moves


def module_map(moves: dict[str, str]) -> dict[str, str]:
    """Old dotted module → new dotted module, for files and packages, plus ALREADY_MOVED."""
    mapping = dict(ALREADY_MOVED)
    for old, new in {**FILE_MOVES, **moves}.items():
        if old not in moves and (PKG / old.removesuffix(".py")).is_dir():
            continue  # moved on an earlier run, and its old name is now a package
        mapping[dotted(old)] = dotted(new)
    for old_dir, new_dir in DIR_MOVES.items():
        mapping[dotted(old_dir)] = dotted(new_dir)
    for old_dir, new_dir in DIR_MOVES.items():  # files already moved on an earlier run
        base = PKG / new_dir
        for path in sorted(base.rglob("*.py")) if base.is_dir() else []:
            rel = path.relative_to(PKG).as_posix()
            mapping.setdefault(dotted(old_dir + rel[len(new_dir):]), dotted(rel))
    return mapping


def git(*args: str) -> None:
    subprocess.run(["git", *args], cwd=REPO, check=True)


def split_init_exports() -> dict[str, str]:
    """Name exported by the split package's ``__init__`` → the new package exporting it."""
    old, _ = SPLIT_PACKAGE
    init = PKG / old / "__init__.py"
    exports: dict[str, str] = {}
    if not init.is_file():
        for new in SPLIT_PACKAGE[1]:
            path = PKG / new / "__init__.py"
            if path.is_file():
                for node in ast.parse(path.read_text()).body:
                    if isinstance(node, ast.ImportFrom):
                        exports.update({a.asname or a.name: new for a in node.names})
        return exports
    mapping = module_map(plan_moves())
    for node in ast.parse(init.read_text()).body:
        if isinstance(node, ast.ImportFrom) and node.module:
            target = mapping.get(node.module, node.module)
            exports.update({a.asname or a.name: target.split(".")[1] for a in node.names})
    return exports


def write_split_inits(mapping: dict[str, str]) -> None:
    """Generate ``slicing/__init__.py`` and ``scoring/__init__.py`` from ``evaluate``'s."""
    old, news = SPLIT_PACKAGE
    init = PKG / old / "__init__.py"
    if not init.is_file():
        return
    groups: dict[str, list[str]] = {new: [] for new in news}
    names: dict[str, list[str]] = {new: [] for new in news}
    for node in ast.parse(init.read_text()).body:
        if isinstance(node, ast.ImportFrom) and node.module:
            target = mapping.get(node.module, node.module)
            package = target.split(".")[1]
            listed = "".join(f"    {a.name if not a.asname else f'{a.name} as {a.asname}'},\n"
                             for a in node.names)
            groups[package].append(f"from {target} import (\n{listed})")
            names[package] += [a.asname or a.name for a in node.names]
    for new in news:
        body = [SPLIT_DOCS[new], "", *sorted(groups[new]), ""]
        body.append("__all__ = [\n" + "".join(f'    "{n}",\n' for n in sorted(names[new])) + "]")
        (PKG / new / "__init__.py").write_text("\n".join(body) + "\n")
        git("add", str(PKG / new / "__init__.py"))
    git("rm", "-q", str(init))


def move_files(moves: dict[str, str]) -> None:
    for old, new in sorted(moves.items()):
        (PKG / new).parent.mkdir(parents=True, exist_ok=True)
        git("mv", str(PKG / old), str(PKG / new))
    for rel, doc in NEW_PACKAGE_DOCS.items():
        init = PKG / rel / "__init__.py"
        if (PKG / rel).is_dir() and not init.exists():
            init.write_text(doc + "\n")
            git("add", str(init))
    for old, new in TEST_DIR_MOVES.items():
        if (REPO / old).is_dir():
            git("mv", old, new)
    for old_dir in [*DIR_MOVES, SPLIT_PACKAGE[0], *TEST_DIR_MOVES]:
        base = PKG / old_dir if not old_dir.startswith("tests/") else REPO / old_dir
        if base.is_dir() and not [p for p in base.rglob("*") if p.is_file()
                                  and "__pycache__" not in p.parts]:
            shutil.rmtree(base)


_FROM = re.compile(r"^(?P<indent>[ \t]*)from (?P<module>lesiontrials(?:\.\w+)*) import "
                   r"(?P<names>\([^)]*\)|[^\n]*)", re.MULTILINE)


def _rewrite_from(match: re.Match[str], mapping: dict[str, str], exports: dict[str, str]
                  ) -> str:
    """``from X import a, b`` with X or X.a moved: one statement per destination."""
    indent, module, raw = match["indent"], match["module"], match["names"]
    comments = re.findall(r"#[^\n]*", raw)
    inner = re.sub(r"#[^\n]*", "", raw).strip().strip("()")
    items = [i.strip() for i in inner.replace("\n", " ").split(",") if i.strip()]
    targets: dict[str, list[str]] = {}
    split_old = f"lesiontrials.{SPLIT_PACKAGE[0]}"
    for item in items:
        name, _, alias = item.partition(" as ")
        name, alias = name.strip(), alias.strip()
        sub = mapping.get(f"{module}.{name}")
        if sub is not None:
            parent, leaf = sub.rsplit(".", 1)
            shown = leaf if leaf == (alias or name) else f"{leaf} as {alias or name}"
            targets.setdefault(parent, []).append(shown)
            continue
        if module == split_old:
            if name not in exports:
                raise SystemExit(f"{module} exports no {name!r}: place it in SPLIT_PACKAGE")
            target = f"lesiontrials.{exports[name]}"
        else:
            target = mapping.get(module, module)
        targets.setdefault(target, []).append(item)
    if list(targets) == [module]:
        return match.group(0)
    if len(targets) == 1 and all(any(s == i for i in items) for s in next(iter(targets.values()))):
        return match.group(0).replace(module, next(iter(targets)), 1)  # keeps the layout
    comment = f"  {comments[0]}" if comments else ""
    lines = []
    for target, shown in targets.items():
        joined = ", ".join(shown)
        if len(indent) + len(target) + len(joined) + 14 > 100:
            body = "".join(f"{indent}    {s},\n" for s in shown)
            lines.append(f"{indent}from {target} import ({comment}\n{body}{indent})")
        else:  # each split statement keeps the comment (e.g. a noqa)
            lines.append(f"{indent}from {target} import {joined}{comment}")
    return "\n".join(lines)


def path_map(mapping: dict[str, str]) -> dict[str, str]:
    """Old file or folder path (``evaluate/runner.py``, ``describe/``) → new one."""
    paths = {}
    for old, new in mapping.items():
        old_rel, new_rel = old.split(".", 1)[1].replace(".", "/"), new.split(".", 1)[1]
        new_rel = new_rel.replace(".", "/")
        if old_rel in DIR_MOVES and "/" in old_rel:  # a folder: "evaluate/models"
            paths[old_rel] = new_rel
        elif old_rel in DIR_MOVES:  # one word ("profiles/" is also a data-root folder):
            paths["lesiontrials/" + old_rel + "/"] = "lesiontrials/" + new_rel + "/"
        elif old_rel != new_rel:
            paths[old_rel + ".py"] = new_rel + ".py"
    paths.update({old + "/": new + "/" for old, new in TEST_DIR_MOVES.items()})
    return paths


def _children(mapping: dict[str, str], old: str) -> list[str]:
    """Leaves of new modules below ``old`` when ``old`` is itself a new package name."""
    return sorted({n[len(old) + 1:].split(".")[0] for n in mapping.values()
                   if n.startswith(old + ".")})


def rewrite_text(text: str, mapping: dict[str, str], exports: dict[str, str]) -> str:
    """Rewrite dotted modules, then from-imports that name a moved module or a split
    package's export (in this order: ``render.fidelity`` is both an old module and a new
    package), then file paths."""
    for old in sorted(mapping, key=len, reverse=True):
        children = _children(mapping, old)
        guard = rf"(?!\.(?:{'|'.join(children)})\b)" if children else ""
        text = re.sub(rf"(?<![\w.]){re.escape(old)}(?![\w]){guard}", mapping[old], text)
    text = _FROM.sub(lambda m: _rewrite_from(m, mapping, exports), text)
    for old, new in sorted(path_map(mapping).items(), key=lambda kv: -len(kv[0])):
        text = re.sub(rf"(?<![\w/.])((?:src/)?(?:lesiontrials/)?){re.escape(old)}(?![\w])",
                      lambda m, new=new: m.group(1) + new, text)
    return text


def text_files() -> list[Path]:
    files = [REPO / f for f in TEXT_FILES if (REPO / f).is_file()]
    for root in TEXT_ROOTS:
        for path in sorted((REPO / root).rglob("*")) if (REPO / root).is_dir() else []:
            if path.is_file() and path.suffix in TEXT_SUFFIXES and "__pycache__" not in \
                    path.parts and path.name != "move_packages.py":
                files.append(path)
    return files


def apply_renames(files: list[Path]) -> None:
    """Overloaded names: renamed in the defining module, its package ``__init__`` and in
    every import of it (an aliased import keeps the alias; an unaliased one renames uses)."""
    for module, old, new in RENAMES:
        defining = PKG / (module.split(".", 1)[1].replace(".", "/") + ".py")
        init = defining.parent / "__init__.py"
        package = module.rsplit(".", 1)[0]
        word = re.compile(rf"\b{old}\b")
        for path in files:
            if path.suffix != ".py":
                continue
            text = path.read_text(encoding="utf-8")
            if path in (defining, init):
                path.write_text(word.sub(new, text), encoding="utf-8")
                continue
            found = False

            def fix(match: re.Match[str], old: str = old, new: str = new,
                    sources: tuple[str, str] = (module, package)) -> str:
                nonlocal found
                if match["module"] not in sources:
                    return match.group(0)
                names = match["names"]
                if not re.search(rf"\b{old}\b(?!\s+as\b)", names) and \
                        not re.search(rf"\b{old}\s+as\b", names):
                    return match.group(0)
                found = found or bool(re.search(rf"\b{old}\b(?!\s+as\b)", names))
                return match.group(0).replace(match["names"], re.sub(rf"\b{old}\b", new, names))

            updated = _FROM.sub(fix, text)
            if found:
                updated = word.sub(new, updated)
            if updated != text:
                path.write_text(updated, encoding="utf-8")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dry-run", action="store_true", help="list the moves only")
    args = parser.parse_args(argv)
    moves = plan_moves()
    mapping = module_map(moves)
    if args.dry_run:
        for old, new in sorted(moves.items()):
            print(f"{old} -> {new}")
        return 0
    exports = split_init_exports()
    move_files(moves)
    write_split_inits(mapping)
    files = text_files()
    long_lines = []
    for path in files:
        text = path.read_text(encoding="utf-8")
        updated = rewrite_text(text, mapping, exports)
        if updated != text:
            path.write_text(updated, encoding="utf-8")
            before = set(text.splitlines())
            long_lines += [f"{path.relative_to(REPO)}:{n}" for n, line in
                           enumerate(updated.splitlines(), 1)
                           if len(line) > 100 and line not in before and path.suffix == ".py"]
    apply_renames(text_files())
    left = [f"{p.relative_to(REPO)}: {line.strip()}" for p in text_files()
            for line in p.read_text(encoding="utf-8").splitlines()
            if re.search(rf"lesiontrials\.{SPLIT_PACKAGE[0]}\b|lesiontrials\.describe\b|"
                         r"lesiontrials\.profiles\b", line)]
    for line in left:
        print(f"old path left (fix by hand or add a rule): {line}")
    for where in long_lines:
        print(f"now over 100 characters (rewrap by hand): {where}")
    print(f"moved {len(moves)} files; rewrote paths in {len(files)} text files")
    return 1 if left else 0


if __name__ == "__main__":
    sys.exit(main())
