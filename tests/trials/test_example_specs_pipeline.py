"""Every example spec runs the whole pipeline on a small world: plan, insert, render,
slices, score (a weight-free baseline), freeze a split and report, with the trial in the
report under its own name. Case counts are shrunk so the test stays minutes long; the
twin-cross example needs more patients with a native nodule than the small world has, so
there its plan must be refused with the reason (never planned on fewer)."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml
from typer.testing import CliRunner

from lesiontrials.cli.main import app

EXAMPLES = sorted((Path(__file__).resolve().parents[2] / "examples" / "specs").glob("*.yaml"))
runner = CliRunner()
pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def world(tiny_world: Path) -> Path:
    return tiny_world


def _ok(args: list[str]) -> str:
    result = runner.invoke(app, args, env={"COLUMNS": "200"})
    assert result.exit_code == 0, (args, result.output, result.exception)
    return result.output


@pytest.mark.parametrize("path", EXAMPLES, ids=lambda p: p.stem)
def test_every_example_runs_end_to_end(world, path, tmp_path):
    spec = yaml.safe_load(path.read_text())
    spec["n_cases"] = 2 if spec.get("params") else 4
    small = tmp_path / path.name
    small.write_text(yaml.safe_dump(spec))
    ws = ["--workspace", str(tmp_path / "ws")]
    where = [*ws, "--data-root", str(world)]
    _ok(["index", "build", *where])
    name = spec["name"]
    if name == "twin_cross":
        from lesiontrials.errors import InputError

        result = runner.invoke(app, ["plan", str(small), *where])
        assert isinstance(result.exception, InputError), result.output
        assert "native nodule" in str(result.exception)
        return
    _ok(["plan", str(small), *where])
    _ok(["insert", name, *where])
    _ok(["render", name, *where, "--backend", "analytic"])
    _ok(["slices", name, *where])
    _ok(["score", "--model", "majority", "--set", name, *ws])
    _ok(["split", "make", "main", "--set", name, *ws])
    _ok(["analyze", *ws, "--replicates", "50", "--trial", name])
    report = (tmp_path / "ws" / "reports" / "main" / "report.md").read_text()
    assert f"### Trial: {name}" in report and "## Summary" in report
