"""``pipeline.plan(designs=...)`` (``lesiontrials run --design``): only the named designs
are planned, ``plan_all.json`` says which were asked for, and a bad list is refused."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from lesiontrials import pipeline
from lesiontrials.errors import InputError
from lesiontrials.settings import load_settings
from lesiontrials.trials import PlanContext


@pytest.fixture
def settings(plan_ctx: PlanContext, tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setattr("lesiontrials.pipeline.build.plan_context", lambda s: plan_ctx)
    return load_settings(workspace=tmp_path / "ws", seed=0, workers=1)


def test_only_the_named_designs_are_planned(settings) -> None:
    record = pipeline.plan(settings, designs=["algorithm_comparison", "1", 1])
    names = [p.name for p in record.plans]
    assert names == ["controlled_prevalence", "algorithm_comparison"]  # by number, once
    trials = settings.workspace / "trials"
    assert sorted(p.name for p in trials.iterdir() if p.is_dir()) == sorted(names)
    written = json.loads((trials / "plan_all.json").read_text())
    assert written["designs"] == [1, 8] and written["planned"] == names
    # the same plans as planning each design alone
    alone = pipeline.plan(settings, design=8)
    assert alone.plans[0].manifest.equals(record.plans[1].manifest)


@pytest.mark.parametrize(("kwargs", "message"), [
    ({"designs": []}, "empty list of designs"),
    ({"designs": ["1", "no_such_design"]}, "unknown design 'no_such_design'"),
    ({"designs": ["1"], "design": "2"}, "not several"),
])
def test_a_bad_list_of_designs_is_refused(settings, kwargs, message) -> None:
    with pytest.raises(InputError, match=message):
        pipeline.plan(settings, **kwargs)
    assert not (settings.workspace / "trials" / "plan_all.json").exists()


def test_run_refuses_an_unknown_design_before_any_stage(tmp_path: Path) -> None:
    from typer.testing import CliRunner

    from lesiontrials.cli.main import app

    workspace = tmp_path / "ws"
    result = CliRunner().invoke(app, ["run", "--design", "1", "--design", "moon", "-w",
                                      str(workspace)], env={"COLUMNS": "200"})
    assert isinstance(result.exception, InputError), result.output
    assert "unknown design 'moon'" in str(result.exception)
    assert not workspace.exists()  # nothing ran
