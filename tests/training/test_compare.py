"""Per-stratum paired gain of a trained model over another on the same held-out slices."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest
from typer.testing import CliRunner

from lesiontrials.cli.main import app
from lesiontrials.errors import InputError
from lesiontrials.io import read_json
from lesiontrials.paths import Workspace
from lesiontrials.testing_training import write_disk_set
from lesiontrials.training.compare import paired_items, per_stratum_gain

runner = CliRunner()


def _train_and_score(root: Path, name: str, epochs: int, *, sets: list[str]) -> None:
    env = {"COLUMNS": "200"}
    trained = runner.invoke(app, ["train", name, "-w", str(root), "-s", "train_a",
                                  "--epochs", str(epochs), "--image-size", "32",
                                  "--batch-size", "16"], env=env)
    assert trained.exit_code == 0, trained.output
    score = ["score", "-w", str(root), "--models", str(root / f"{name}.yaml"), "-c", "plain",
             "-t", "presence", *[a for s in sets for a in ("-s", s)]]
    (root / f"{name}.yaml").write_text(
        f"models:\n  - name: {name}\n    adapter: trained\n    path: "
        f"{root / 'models' / name / 'checkpoint.pt'}\n")
    scored = runner.invoke(app, score, env=env)
    assert scored.exit_code == 0, scored.output


def test_gain_of_a_learned_model_over_an_untrained_one(tmp_path: Path) -> None:
    ws = Workspace(tmp_path)
    write_disk_set(ws, "train_a", n_cases=80, seed=1, image_size=32)
    write_disk_set(ws, "held_out", n_cases=60, seed=5, image_size=32)
    _train_and_score(tmp_path, "good", 10, sets=["held_out"])
    _train_and_score(tmp_path, "weak", 1, sets=["held_out"])
    paired = paired_items(ws, model_a="good", model_b="weak", sets=["held_out"],
                          task="presence", condition="plain")
    assert len(paired) == 120
    gains = per_stratum_gain(paired, by="truth_size")
    overall = gains.iloc[0]
    assert overall["stratum"] == "all" and overall["n_cases"] == 60
    assert overall["gain"] == pytest.approx(overall["accuracy_a"] - overall["accuracy_b"])
    assert overall["accuracy_a"] > 0.9 and overall["gain_ci_low"] > 0
    # strata partition the items; the same model against itself gains exactly nothing
    assert gains.iloc[1:]["n_items"].sum() == 120
    self_gain = per_stratum_gain(paired.assign(correct_b=paired["correct_a"]), by="kind")
    assert (self_gain["gain"] == 0).all()
    out = tmp_path / "gain.json"
    shown = runner.invoke(app, ["compare", "good", "weak", "-w", str(tmp_path), "-s",
                                "held_out", "--by", "kind", "--out", str(out)],
                          env={"COLUMNS": "200"})
    assert shown.exit_code == 0, shown.output
    assert pd.DataFrame(read_json(out)["rows"])["value"].tolist() == [
        "all", "negative", "positive"]


def test_unpaired_results_are_refused(tmp_path: Path) -> None:
    ws = Workspace(tmp_path)
    write_disk_set(ws, "train_a", n_cases=12, seed=1, image_size=32)
    write_disk_set(ws, "held_out", n_cases=4, seed=5, image_size=32)
    _train_and_score(tmp_path, "good", 1, sets=["held_out"])
    with pytest.raises(InputError, match="no presence/plain results"):
        paired_items(ws, model_a="good", model_b="weak", sets=["held_out"],
                     task="presence", condition="plain")
    with pytest.raises(InputError, match="cannot stratify"):
        per_stratum_gain(pd.DataFrame(), by="diameter_mm")
