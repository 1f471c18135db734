"""The evaluation commands, wired into a typer app the way ``cli/main.py`` registers them."""

from __future__ import annotations

import typer
from evalsynth import TRIAL, write_trial
from typer.testing import CliRunner

from lesiontrials.cli.eval_commands import score, slices, split_app

runner = CliRunner()
app = typer.Typer()
app.command("slices")(slices)
app.command("score")(score)
app.add_typer(split_app, name="split")
ENV = {"COLUMNS": "200"}


def test_slices_score_split(tmp_path):
    ws = str(write_trial(tmp_path / "ws").workspace.root)
    built = runner.invoke(app, ["slices", TRIAL, "-w", ws, "-j", "1"], env=ENV)
    assert built.exit_code == 0, built.output
    assert "evaluation sets" in built.output and TRIAL in built.output
    both = runner.invoke(app, ["slices", TRIAL, "--all", "-w", ws], env=ENV)
    assert both.exit_code != 0
    scored = runner.invoke(app, ["score", "-m", "majority", "-w", ws, "-c", "plain"], env=ENV)
    assert scored.exit_code == 0, scored.output
    assert "presence" in scored.output and "results" in scored.output
    made = runner.invoke(app, ["split", "make", "main", "-w", ws, "-c", "plain"], env=ENV)
    # 6 slices: those of the synthetic calibration fold are never reported
    assert made.exit_code == 0 and "N = 4" in made.output, made.output
    assert "2 slices in the synthetic calibration fold" in made.output
    checked = runner.invoke(app, ["split", "check", "main", "-w", ws], env=ENV)
    assert checked.exit_code == 0 and "reproducible yes" in checked.output, checked.output
