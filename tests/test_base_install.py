"""A base install runs the core pipeline: ``examples/library.py`` (tiny world → index →
plan → insert → render → slices → score → report) in a Python that sees only the standard
library, lesiontrials and the base dependencies with what those need (a site-packages of
links to them, ``python -S``): torch, monai, transformers, fastapi, … are absent exactly as
when never installed. (This test found the report's AUROC needing scikit-learn, which no
install line declared: it is a base dependency now.)

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
import sysconfig
import tomllib
from importlib import metadata
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
EXAMPLE = REPO / "examples" / "library.py"

def base_site(target: Path, allowed: set[str], wanted: set[str]) -> Path:
    """A site-packages holding only the base install: links to the installed top-level
    modules in ``allowed``, their compiled-library folders (``*.libs``) and the
    ``*.dist-info`` of the ``wanted`` distributions. Python started with ``-S`` and this
    folder on its path finds nothing else: an extra is absent exactly as when it was never
    installed (``find_spec`` returns None, ``import`` raises ModuleNotFoundError)."""
    site = Path(sysconfig.get_paths()["purelib"])
    target.mkdir(parents=True)
    for entry in site.iterdir():
        name = entry.name
        top = name.split(".")[0]
        keep = (top in allowed or name.endswith(".libs")
                or (name.endswith(".dist-info") and _normal(name.split("-")[0]) in wanted))
        if keep and not name.endswith(".pth"):
            (target / name).symlink_to(entry)
    return target


def _normal(name: str) -> str:
    return name.lower().replace("_", "-")


def _requirement_name(requirement: str) -> str:
    return _normal(re.split(r"[\s;<>=!~\[(]", requirement, maxsplit=1)[0])


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
        if any(_normal(d) in wanted for d in dists):
            allowed.add(module)
    return allowed


def test_the_allowed_set_is_the_base_install_and_blocks_the_extras():
    allowed = allowed_modules()
    assert {"numpy", "pandas", "skimage", "PIL", "matplotlib", "sklearn", "typer"} <= allowed
    assert not {"torch", "monai", "fastapi", "transformers", "ray", "submitit"} & allowed


@pytest.mark.slow
def test_base_install_runs_the_library_example_from_world_to_report(tmp_path):
    site = base_site(tmp_path / "site", allowed_modules(), base_distributions())
    env = {k: v for k, v in os.environ.items() if not k.startswith("LESIONTRIALS_")}
    env.update(PYTHONPATH=os.pathsep.join([str(REPO / "src"), str(site)]), COLUMNS="80")
    probe = subprocess.run([sys.executable, "-S", "-c", PROBE], env=env, capture_output=True,
                           text=True, check=False)
    assert probe.stdout.split() == ["absent"] * 4 + ["present"] * 3, probe.stderr[-2000:]
    done = subprocess.run([sys.executable, "-S", str(EXAMPLE), str(tmp_path / "ws")], env=env,
                          capture_output=True, text=True, timeout=3000, check=False)
    assert done.returncode == 0, done.stderr[-3000:]
    lines = done.stdout.splitlines()
    assert len(lines) == 5, done.stdout  # the example's own prints only: no progress output
    assert lines[0].endswith(f"donor nodules in {tmp_path / 'ws' / 'world'}")
    assert [line.split()[1] for line in lines[2:4]] == ["threshold", "majority"]
    report = tmp_path / "ws" / "reports" / "tiny" / "report.html"
    assert lines[-1] == f"report: {report}" and report.stat().st_size > 10_000


PROBE = """
import importlib.util
for name in ("torch", "monai", "transformers", "fastapi", "skimage", "matplotlib", "PIL"):
    print("present" if importlib.util.find_spec(name) else "absent")
"""
