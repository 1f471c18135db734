"""The run's trained model: trained on design trials, scored only on held-out ones; a real
scan whose CT hosted a training case is left out with the reason."""

from __future__ import annotations

from pathlib import Path

from lesiontrials.io import read_parquet, write_parquet
from lesiontrials.paths import Workspace
from lesiontrials.testing_training import write_disk_set
from lesiontrials.training.demo import (
    HELD_OUT_TRIALS,
    evaluable_sets,
    real_set_names,
    split_sets,
)
from lesiontrials.training.loop import train
from lesiontrials.training.recipe import TrainRecipe


def test_held_out_trials_never_train_and_real_sets_are_apart():
    train_sets, held_out = split_sets(["size_detection_curve", "controlled_prevalence",
                                       "real", "location_sensitivity"], real_sets=["real"])
    assert train_sets == ["location_sensitivity", "size_detection_curve"]
    assert held_out == ["controlled_prevalence"]
    assert set(HELD_OUT_TRIALS).isdisjoint(train_sets)


def test_only_sets_the_model_did_not_see_are_evaluable(tmp_path: Path) -> None:
    ws = Workspace(tmp_path)
    write_disk_set(ws, "size_detection_curve", n_cases=6, seed=1, image_size=32)
    write_disk_set(ws, "controlled_prevalence", n_cases=4, seed=2, image_size=32)
    write_disk_set(ws, "real", n_cases=2, seed=3, image_size=32, case_prefix="scan")
    items_path = ws.eval_dir("real", "lung") / "cases.parquet"
    real = read_parquet(items_path)
    real["source"] = "real"
    outcome = train(workspace=ws, name="cnn", sets=["size_detection_curve"],
                    recipe=TrainRecipe(epochs=1, image_size=32, width=4))
    real["host_dataset"], real["host_ct_id"] = outcome.identity["host_cts"][0].split("/")
    write_parquet(real, items_path)
    assert real_set_names(ws, ["controlled_prevalence", "real"]) == ["real"]
    ok, skipped = evaluable_sets(ws, outcome.identity,
                                 ["controlled_prevalence", "real", "size_detection_curve"])
    assert ok == ["controlled_prevalence"]
    assert "hosted training cases" in skipped["real"]
    assert "were in training" in skipped["size_detection_curve"]
