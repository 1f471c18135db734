"""A base install runs the core pipeline: ``examples/library.py`` (tiny world → index →
plan → insert → render → slices → score → report) in a subprocess where every module that
is not the standard library, lesiontrials or a base dependency (with what those need) is
refused at import, as if it were not installed (torch, monai, scikit-learn, fastapi, …).

The allowed set comes from pyproject.toml's ``[project] dependencies`` and their own
requirements, read from the installed distributions' metadata. The same run is the test
that the example works, and that the library prints nothing of its own (only the
example's lines come out).
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
import tomllib
from importlib import metadata
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
EXAMPLE = REPO / "examples" / "library.py"

BLOCKER = '''
import importlib.abc, sys
ALLOWED = set({allowed!r})
class Block(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path=None, target=None):
        top = name.partition(".")[0]
        if top in ALLOWED or top in sys.stdlib_module_names or top.startswith("_"):
            return None
        raise ModuleNotFoundError(f"blocked (not a base dependency): {{name}}", name=name)
sys.meta_path.insert(0, Block())
sys.argv = [{example!r}, *sys.argv[1:]]
exec(compile(open({example!r}).read(), {example!r}, "exec"), {{"__name__": "__main__"}})
'''


def _requirement_name(requirement: str) -> str:
    return re.split(r"[\s;<>=!~\[(]", requirement, maxsplit=1)[0].lower().replace("_", "-")


def base_distributions() -> set[str]:
    """pyproject's base dependencies and, transitively, what they require (extras and
    environment-marked requirements that do not apply here are left out)."""
    project = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]
    todo = [_requirement_name(r) for r in project["dependencies"]]
    seen: set[str] = set()
    while todo:
        name = todo.pop()
        if name in seen:
            continue
        seen.add(name)
        try:
            requires = metadata.requires(name) or []
        except metadata.PackageNotFoundError:
            continue
        for requirement in requires:
            marker = requirement.partition(";")[2]
            if "extra ==" in marker:
                continue
            if marker and not _marker_applies(marker):
                continue
            todo.append(_requirement_name(requirement))
    return seen


def _marker_applies(marker: str) -> bool:
    from packaging.markers import Marker

    return Marker(marker.strip()).evaluate()


def allowed_modules() -> set[str]:
    """Top-level import names of the base distributions, plus lesiontrials itself."""
    wanted = base_distributions()
    allowed = {"lesiontrials"}
    for module, dists in metadata.packages_distributions().items():
        if any(d.lower().replace("_", "-") in wanted for d in dists):
            allowed.add(module)
    return allowed


def test_the_allowed_set_is_the_base_install_and_blocks_the_extras():
    allowed = allowed_modules()
    assert {"numpy", "pandas", "skimage", "PIL", "matplotlib", "rich", "typer"} <= allowed
    assert not {"torch", "monai", "sklearn", "fastapi", "transformers", "ray"} & allowed


@pytest.mark.slow
def test_base_install_runs_the_library_example_from_world_to_report(tmp_path):
    script = tmp_path / "blocked.py"
    script.write_text(BLOCKER.format(allowed=sorted(allowed_modules()), example=str(EXAMPLE)))
    env = {**os.environ, "PYTHONPATH": str(REPO / "src"), "COLUMNS": "80"}
    env = {k: v for k, v in env.items() if not k.startswith("LESIONTRIALS_")}
    done = subprocess.run([sys.executable, str(script), str(tmp_path / "ws")], env=env,
                          capture_output=True, text=True, timeout=3000, check=False)
    assert done.returncode == 0, done.stderr[-3000:]
    lines = done.stdout.splitlines()
    assert len(lines) == 6, done.stdout  # the example's own prints only: no progress output
    assert lines[0].endswith(f"donor nodules in {tmp_path / 'ws' / 'world'}")
    assert [line.split()[1] for line in lines[2:4]] == ["threshold", "majority"]
    report = tmp_path / "ws" / "reports" / "tiny" / "report.html"
    assert lines[-1] == f"report: {report}" and report.stat().st_size > 10_000
    assert "blocked" not in done.stderr
