"""The report's side lane (confidence metrics, prompt robustness, truth sections, volume
track) in a second process gives the same report, byte for byte, and its errors reach the
caller."""

from __future__ import annotations

import sys
from pathlib import Path

import pandas as pd
import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "evaluate"))
from evalsynth import TRIAL, write_trial


@pytest.fixture(scope="module")
def workspace(tmp_path_factory: pytest.TempPathFactory):
    from lesiontrials.scoring.runner import score
    from lesiontrials.scoring.splits import make_split
    from lesiontrials.slicing.sets import build_eval_set

    trial = write_trial(tmp_path_factory.mktemp("sidews"))
    build_eval_set(trial=TRIAL, workspace=trial.workspace, show_progress=False)
    for model in ("majority", "overlay_reader"):
        score(model=model, workspace=trial.workspace, sets=[TRIAL], show_progress=False)
    make_split(workspace=trial.workspace, name="main", sets=[TRIAL])
    return trial.workspace


def _files(directory: Path) -> dict[str, bytes]:
    return {str(p.relative_to(directory)): p.read_bytes()
            for p in sorted(directory.rglob("*")) if p.is_file()}


def test_two_workers_write_the_same_report_as_one(workspace):
    from lesiontrials.analysis.workspace import run_analysis

    first = _files(run_analysis(workspace, name="same", replicates=100, workers=1).parent)
    second = _files(run_analysis(workspace, name="same", replicates=100, workers=2).parent)
    assert first.keys() == second.keys()
    assert any(k.startswith("tables/") for k in first)
    for name in first:
        assert first[name] == second[name], name
    markdown = first["report.md"].decode()
    assert "## Prompt robustness" in markdown  # a side-lane section, in its place
    assert markdown.index("## Council") < markdown.index("## Prompt robustness")


@pytest.mark.parametrize("workers", [1, 2])
def test_an_error_in_the_side_lane_reaches_the_caller(workspace, workers):
    from lesiontrials.analysis.side_parts import start_side_parts

    broken = pd.DataFrame({"slice_uid": ["a"], "model": ["m"]})  # no task, no truth
    result = start_side_parts(broken, workspace, seed=0, replicates=50, baselines=(),
                              workers=workers)
    with pytest.raises(KeyError):
        result()
