"""The whole targeted loop on a rendered world: world → plan → insert → render → slices →
train → improve (probe failures → targeted and untargeted trials on new hosts → retrain →
per-stratum paired gains), through the CLI, as small as it goes (a few cases, one epoch).

The lobe task is used because a one-epoch model misses some positives on it (on presence
such a model answers "present" everywhere, and the loop rightly refuses: nothing to aim
at)."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest
import yaml
from typer.testing import CliRunner

from lesiontrials.cli.main import app
from lesiontrials.paths import Workspace
from lesiontrials.scoring.results import set_items

runner = CliRunner()
pytestmark = pytest.mark.slow

#: trial name → (host dataset, cases): train and probe on SCREEN hosts, evaluate on DIAG;
#: the extra trials must then draw new hosts (REALCT)
TRIALS = {"e2e_train": ("SCREEN", 4), "e2e_probe": ("SCREEN", 3), "e2e_eval": ("DIAG", 3)}


def _ok(args: list[str]) -> str:
    result = runner.invoke(app, args, env={"COLUMNS": "200"})
    assert result.exit_code == 0, (args, result.output, result.exception)
    return result.output


def _hosts(ws: Workspace, set_name: str) -> set[str]:
    items = set_items(ws, set_name, "lung")
    return {f"{d}/{c}" for d, c in zip(items["host_dataset"], items["host_ct_id"], strict=True)}


def test_improve_runs_end_to_end_on_a_rendered_world(tiny_world: Path, tmp_path: Path) -> None:
    ws_path = tmp_path / "ws"
    where = ["--workspace", str(ws_path), "--data-root", str(tiny_world)]
    _ok(["index", "build", *where])
    for name, (hosts, n_cases) in TRIALS.items():
        spec = tmp_path / f"{name}.yaml"
        spec.write_text(yaml.safe_dump({"name": name, "seed": 3, "n_cases": n_cases,
                                        "hosts": {"include": [hosts]},
                                        "size": {"diameter_mm": {"min": 8, "max": 20}}}))
        _ok(["plan", str(spec), *where])
        _ok(["insert", name, *where])
        _ok(["render", name, *where, "--backend", "analytic"])
        _ok(["slices", name, *where])
    output = _ok(["improve", "loop", "--task", "lobe", "--train-set", "e2e_train",
                  "--probe-set", "e2e_probe", "--eval-set", "e2e_eval", "--n-cases", "2",
                  "--max-targets", "1", "--epochs", "1", "--image-size", "32", *where])
    assert "accuracy gain on synthetic held-out sets" in output

    ws = Workspace(ws_path)
    record = json.loads((ws_path / "improve" / "loop" / "improve.json").read_text())
    roles = record["sets"]
    named = [s for group in roles.values() for s in group]
    assert len(named) == len(set(named))  # every set has one role
    assert record["targets"] and record["probe_failures"]
    extra = record["extra_trials"]
    assert set(extra) == {"targeted", "untargeted"}
    used = _hosts(ws, "e2e_probe") | _hosts(ws, "e2e_eval")
    for kind, trial in extra.items():
        assert trial["cases"] == 2 and ws.cases_dir(trial["trial"]).is_dir(), kind
        assert not _hosts(ws, trial["trial"]) & used  # new hosts only
    for model in record["models"].values():
        assert (ws_path / "models" / model / "checkpoint.pt").is_file()
        # scored on the evaluation set, never on what it trained on
        assert (ws_path / "results" / model / "e2e_eval").is_dir()
        assert not (ws_path / "results" / model / "e2e_train").exists()
    gains = pd.DataFrame(record["gains"]["synthetic"])
    assert set(gains["comparison"]) == {"targeted − original", "targeted − untargeted",
                                        "untargeted − original"}
    assert {"all", "truth_size", "truth_lobe", "host_dataset"} <= set(gains["stratum"])
    assert ((gains["gain_ci_low"] <= gains["gain"]) & (gains["gain"] <= gains["gain_ci_high"])
            ).all()
    n_eval = int(set_items(ws, "e2e_eval", "lung").query("kind == 'positive'")[
        "slice_uid"].nunique())
    overall = gains[gains["stratum"] == "all"]
    assert (overall["n_items"] == n_eval).all()
