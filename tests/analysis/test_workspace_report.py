"""``analyze`` on a workspace: the frozen split is required, printed and reported on."""

from __future__ import annotations

import hashlib
import json
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

# the evaluation tests' synthetic trial (tests/evaluate/evalsynth.py) builds the workspace
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "evaluate"))
from evalsynth import TRIAL, write_trial

from lesiontrials.errors import InputError

runner = CliRunner()


@pytest.fixture(scope="module")
def workspace(tmp_path_factory: pytest.TempPathFactory):
    from lesiontrials.scoring.runner import score
    from lesiontrials.slicing.sets import build_eval_set

    trial = write_trial(tmp_path_factory.mktemp("analysisws"))
    build_eval_set(trial=TRIAL, workspace=trial.workspace, show_progress=False)
    for model in ("majority", "overlay_reader"):
        score(model=model, workspace=trial.workspace, sets=[TRIAL], show_progress=False)
    # the frozen split every report reads (each test stands alone, in any order)
    from lesiontrials.scoring.splits import make_split

    make_split(workspace=trial.workspace, name="main", sets=[TRIAL])
    return trial.workspace


def test_analysis_without_a_frozen_split_is_an_error_naming_the_fix(workspace):
    from lesiontrials.analysis.workspace import run_analysis

    with pytest.raises(InputError, match="split make main"):
        run_analysis(workspace, name="x", replicates=50, split_path=workspace.root / "no.json")


def test_analyze_prints_and_reports_the_split_hash(workspace):
    from lesiontrials.cli.main import app
    from lesiontrials.scoring.splits import make_split

    split = make_split(workspace=workspace, name="main", sets=[TRIAL])
    result = runner.invoke(app, ["analyze", "--workspace", str(workspace.root), "--name", "r",
                                 "--replicates", "100", "--split",
                                 str(workspace.split_file("main"))],
                           env={"COLUMNS": "300"})
    assert result.exit_code == 0, result.output
    assert split.sha256 in result.output.replace("\n", "")
    report = workspace.report_dir("r")
    text = (report / "report.md").read_text()
    assert f"SHA-256 {split.sha256}" in text
    assert "majority (baseline)" in text and "overlay_reader (baseline)" in text
    # every markdown table row naming a model marks it as a baseline
    for line in text.splitlines():
        cells = [c.strip() for c in line.strip("|").split("|")] if line.startswith("|") else []
        assert not {"majority", "overlay_reader"} & set(cells), line
    summary = json.loads((report / "summary.json").read_text())
    assert summary["split"]["sha256"] == split.sha256 and summary["split"]["frozen"]
    council = json.loads((report / "council.json").read_text())
    assert council["built"] and "verdicts" in council
    # every analysis output says which analysis made it, as other stages' outputs do
    from lesiontrials.analysis.report_data import ANALYSIS_VERSION

    transfer = json.loads((report / "transfer.json").read_text())
    assert summary["analysis_version"] == council["analysis_version"] == \
        transfer["analysis_version"] == ANALYSIS_VERSION


def test_report_reads_top_down_with_each_trial_by_its_own_name(workspace):
    from lesiontrials.analysis.workspace import run_analysis

    run_analysis(workspace, name="topdown", replicates=50)
    text = (workspace.report_dir("topdown") / "report.md").read_text()
    order = [text.index(h) for h in ("## Summary", "## Contents", "## Reported slices",
                                     f"### Trial: {TRIAL}", "### Model: majority (baseline)")]
    assert order == sorted(order), order
    summary = text[text.index("## Summary"):text.index("## Contents")]
    assert "**Trials** (1): t1" in summary and "[0." in summary  # headline with a CI
    assert "{" not in text.split("## Contents")[0]  # no raw dicts before the contents
    assert "Trial: handmade" not in text  # the trial's design never stands for its name


def test_analyze_selects_models_and_refuses_unknown_names(workspace):
    from lesiontrials.cli.main import app

    args = ["analyze", "--workspace", str(workspace.root), "--replicates", "50"]
    result = runner.invoke(app, [*args, "--name", "sel", "--model", "majority",
                                 "--trial", TRIAL], env={"COLUMNS": "300"})
    assert result.exit_code == 0, result.output
    text = (workspace.report_dir("sel") / "report.md").read_text()
    assert "### Model: majority (baseline)" in text and "overlay_reader" not in text
    assert "**Selection**: only trial t1; model majority" in text
    for option, value in (("--trial", "no_such_trial"), ("--model", "nope"), ("--set", "x")):
        bad = runner.invoke(app, [*args, "--name", "bad", option, value],
                            env={"COLUMNS": "300"})
        # the CLI's entry point prints an InputError as one line and exits 2
        assert isinstance(bad.exception, InputError), bad.output
        assert value in str(bad.exception) and option in str(bad.exception)
        assert not (workspace.report_dir("bad") / "report.md").exists()


def test_an_empty_split_is_refused_with_the_fix(workspace, tmp_path):
    from lesiontrials.analysis.workspace import run_analysis
    from lesiontrials.errors import InputError
    from lesiontrials.scoring.splits import make_split

    split = make_split(workspace=workspace, name="empty", sets=[TRIAL])
    path = tmp_path / "empty.json"
    data = json.loads(workspace.split_file(split.name).read_text())
    data["uids"] = []
    data["sha256"] = hashlib.sha256(b"").hexdigest()  # an honest hash of no uids
    path.write_text(json.dumps(data))
    with pytest.raises(InputError, match="has no slices"):
        run_analysis(workspace, name="x", replicates=50, split_path=path)
