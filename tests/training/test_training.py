"""Training: deterministic bytes, resume = uninterrupted, separation enforced, learns a
constructed signal and stays at chance on noise."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from scipy.stats import binomtest

from lesiontrials.errors import InputError
from lesiontrials.io import read_png
from lesiontrials.paths import Workspace
from lesiontrials.scoring.results import set_items
from lesiontrials.slicing.contract import TASK_OPTIONS, Item
from lesiontrials.testing_training import write_disk_set
from lesiontrials.training.adapter import TrainedSliceModel
from lesiontrials.training.loop import EpochRecord, train
from lesiontrials.training.recipe import TrainRecipe

SMALL = TrainRecipe(epochs=4, image_size=32, width=8, batch_size=16, lobe_weight=0.0)


def _workspace(root: Path, *, n_cases: int = 24, random_labels: bool = False) -> Workspace:
    ws = Workspace(root)
    write_disk_set(ws, "train_a", n_cases=n_cases, seed=1, image_size=32,
                   random_labels=random_labels)
    return ws


def _items(ws: Workspace, set_name: str, task: str = "presence") -> tuple[list[Item], list[str]]:
    rows = set_items(ws, set_name, "lung")
    base = ws.eval_dir(set_name, "lung")
    items = [Item(slice_uid=r.slice_uid, task=task, condition="plain", profile="lung",
                  question="?", options=TASK_OPTIONS[task], image=read_png(base / r.image_path),
                  case_uid=r.case_uid) for r in rows.itertuples()]
    return items, rows[f"truth_{task}"].tolist()


def test_same_seed_gives_identical_checkpoint_bytes(tmp_path: Path) -> None:
    paths = [train(workspace=_workspace(tmp_path / f"w{n}"), name="cnn", sets=["train_a"],
                   recipe=SMALL).path for n in range(2)]
    assert paths[0].read_bytes() == paths[1].read_bytes()
    other = train(workspace=_workspace(tmp_path / "w2"), name="cnn", sets=["train_a"],
                  recipe=SMALL.model_copy(update={"seed": 1})).path
    assert other.read_bytes() != paths[0].read_bytes()


def test_resume_after_interruption_equals_uninterrupted(tmp_path: Path) -> None:
    whole = train(workspace=_workspace(tmp_path / "whole"), name="cnn", sets=["train_a"],
                  recipe=SMALL)
    ws = _workspace(tmp_path / "cut")

    def crash(record: EpochRecord) -> None:
        if record.epoch == 1:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        train(workspace=ws, name="cnn", sets=["train_a"], recipe=SMALL, on_epoch=crash)
    resumed = train(workspace=ws, name="cnn", sets=["train_a"], recipe=SMALL)
    assert resumed.resumed_from_epoch == 2
    assert resumed.path.read_bytes() == whole.path.read_bytes()
    again = train(workspace=ws, name="cnn", sets=["train_a"], recipe=SMALL)
    assert again.already_complete


def test_other_recipe_on_existing_checkpoint_is_refused(tmp_path: Path) -> None:
    ws = _workspace(tmp_path)
    train(workspace=ws, name="cnn", sets=["train_a"], recipe=SMALL)
    changed = SMALL.model_copy(update={"learning_rate": 1e-3})
    with pytest.raises(InputError, match="another recipe"):
        train(workspace=ws, name="cnn", sets=["train_a"], recipe=changed)
    assert train(workspace=ws, name="cnn", sets=["train_a"], recipe=changed,
                 restart=True).identity["recipe_hash"] == changed.digest()


def test_scoring_refuses_training_cases_and_unlabelled_items(tmp_path: Path) -> None:
    ws = _workspace(tmp_path)
    write_disk_set(ws, "held_out", n_cases=4, seed=2, image_size=32)
    outcome = train(workspace=ws, name="cnn", sets=["train_a"], recipe=SMALL)
    model = TrainedSliceModel(model_path=str(outcome.path))
    seen, _ = _items(ws, "train_a")
    fresh, _ = _items(ws, "held_out")
    with pytest.raises(InputError, match="trained on"):
        model.answer(fresh[:2] + seen[:1])
    # validation cases were seen too (early stopping used them)
    val_case = outcome.identity["validation_case_uids"][0]
    with pytest.raises(InputError, match="trained on"):
        model.answer([i for i in seen if i.case_uid == val_case])
    # a real scan of a training host CT is refused as well
    host = outcome.identity["host_cts"][0]
    with pytest.raises(InputError, match="trained on"):
        model.answer([Item(**{**fresh[0].__dict__, "case_uid": host})])
    with pytest.raises(InputError, match="no case uid"):
        model.answer([Item(**{**fresh[0].__dict__, "case_uid": ""})])
    assert len(model.answer(fresh)) == len(fresh)


def test_runner_refuses_scoring_the_training_set(tmp_path: Path) -> None:
    from lesiontrials.scoring.models.config import ModelConfig, model_factory
    from lesiontrials.scoring.runner import score

    ws = _workspace(tmp_path)
    write_disk_set(ws, "held_out", n_cases=6, seed=2, image_size=32)
    path = train(workspace=ws, name="cnn", sets=["train_a"], recipe=SMALL).path
    config = ModelConfig(name="cnn", adapter="trained", path=str(path))
    kwargs = {"workspace": ws, "conditions": ("plain",), "tasks": ("presence",),
              "show_progress": False, "model_factory": model_factory(config)}
    summary = score(model="cnn", sets=["held_out"], **kwargs)
    assert summary.cells[0]["to_score"] == 12
    card = (ws.results_root / "cnn" / "model.json").read_text()
    assert "train_a" in card and outcome_hash(path) in card
    with pytest.raises(InputError, match="trained on"):
        score(model="cnn", sets=["train_a"], **kwargs)


def outcome_hash(path: Path) -> str:
    from lesiontrials.training.checkpoint import load_checkpoint

    return str(load_checkpoint(path)["identity"]["data_hash"])


def _held_out_accuracy(ws: Workspace, recipe: TrainRecipe, *, random_labels: bool
                       ) -> tuple[float, tuple[float, float]]:
    outcome = train(workspace=ws, name="cnn", sets=["train_a"], recipe=recipe)
    # one slice per case: items are independent, so a binomial interval is honest
    write_disk_set(ws, "held_out", n_cases=160, seed=7, image_size=32, slices_per_case=1,
                   random_labels=random_labels)
    items, truth = _items(ws, "held_out")
    answers = TrainedSliceModel(model_path=str(outcome.path)).answer(items)
    correct = np.array([a.option == t for a, t in zip(answers, truth, strict=True)])
    interval = binomtest(int(correct.sum()), len(correct)).proportion_ci(method="wilson")
    return float(correct.mean()), (float(interval.low), float(interval.high))


def test_learns_a_constructed_signal(tmp_path: Path) -> None:
    recipe = TrainRecipe(epochs=12, image_size=32, width=8, batch_size=16, lobe_weight=0.0)
    accuracy, (low, _) = _held_out_accuracy(_workspace(tmp_path, n_cases=100), recipe,
                                            random_labels=False)
    assert accuracy >= 0.9 and low > 0.8


def test_stays_at_chance_on_noise(tmp_path: Path) -> None:
    recipe = TrainRecipe(epochs=12, image_size=32, width=8, batch_size=16, lobe_weight=0.0)
    accuracy, (low, high) = _held_out_accuracy(
        _workspace(tmp_path, n_cases=100, random_labels=True), recipe, random_labels=True)
    assert low <= 0.5 <= high, accuracy

