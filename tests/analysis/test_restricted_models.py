"""A trained model is reported on the frozen split restricted to the sets it did not learn
from, with its own N; adding it changes neither the split's hash nor any other model's
numbers (issue 23, with issue 14's rule)."""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from lesiontrials.analysis.report import analyze
from lesiontrials.analysis.report_summary import headline_lines
from lesiontrials.analysis.workspace import load_scored
from lesiontrials.paths import Workspace
from lesiontrials.scoring.models.config import ModelConfig, model_factory
from lesiontrials.scoring.runner import score
from lesiontrials.scoring.splits import make_split
from lesiontrials.testing_training import write_disk_set
from lesiontrials.training.loop import train
from lesiontrials.training.recipe import TrainRecipe

ONLY = {"conditions": ("plain",), "tasks": ("presence",), "show_progress": False}


def _cells(ws: Workspace, split_name: str) -> tuple[pd.DataFrame, list[str], str]:
    split = make_split(workspace=ws, name=split_name, sets=["train_a", "held_b"],
                       conditions=["plain"], tasks=["presence"])
    analysis = analyze(load_scored(ws), split=split, replicates=200,
                       baselines=frozenset({"majority"}))
    return analysis.cells, analysis.notes + headline_lines(analysis), split.sha256


def test_trained_model_is_reported_on_held_out_sets_only(tmp_path: Path) -> None:
    ws = Workspace(tmp_path)
    write_disk_set(ws, "train_a", n_cases=12, seed=1, image_size=32)
    write_disk_set(ws, "held_b", n_cases=10, seed=2, image_size=32)
    for model in ("majority", "threshold"):
        score(model=model, workspace=ws, sets=["train_a", "held_b"], **ONLY)
    before, _, hash_before = _cells(ws, "before")

    outcome = train(workspace=ws, name="cnn", sets=["train_a"],
                    recipe=TrainRecipe(epochs=1, image_size=32, width=4, batch_size=8))
    config = ModelConfig(name="cnn", adapter="trained", path=str(outcome.path))
    score(model="cnn", model_factory=model_factory(config), workspace=ws, sets=["held_b"],
          **ONLY)
    after, notes, hash_after = _cells(ws, "after")

    assert hash_after == hash_before  # the trained model does not decide the split
    others = after[after["model"] != "cnn"].reset_index(drop=True)
    pd.testing.assert_frame_equal(others, before.reset_index(drop=True))
    cnn = after[after["model"] == "cnn"]
    assert len(cnn) == 1 and cnn["status"].iloc[0] == "scored"
    held_out_n = int(before.loc[before["model"] == "majority", "n"].iloc[0])
    assert 0 < int(cnn["n"].iloc[0]) < held_out_n  # its own N: held_b's slices only
    note = [n for n in notes if n.startswith("cnn: scored on held-out trials only")]
    assert note and f"({int(cnn['n'].iloc[0])} items" in note[0]
    # the headline never ranks it against models reported on the whole split
    headline = next(line for line in notes if line.startswith("- presence, synthetic"))
    assert "best model **threshold**" in headline
    assert "cnn (held-out trials only)" in headline
    provenance = make_split(workspace=ws, name="again", sets=["train_a", "held_b"],
                            conditions=["plain"], tasks=["presence"]).provenance
    assert provenance["models"] == ["majority", "threshold"]
    assert provenance["restricted"] == {"cnn": {"training_sets": ["train_a"],
                                                "sets": ["held_b"]}}


def test_a_trained_model_whose_sets_match_nothing_is_an_error_not_a_silent_drop() -> None:
    import pytest

    from lesiontrials.analysis.report import restricted_uids
    from lesiontrials.errors import InputError
    from lesiontrials.scoring.splits import Split

    results = pd.DataFrame({"model": ["a", "a", "cnn"], "set": ["t1", "t2", "t2"],
                            "slice_uid": ["s1", "s2", "s2"]})
    good = Split("main", ("s1", "s2"), "0" * 64, {"restricted": {"cnn": {"sets": ["t2"]}}})
    assert restricted_uids(results, good) == {"cnn": {"s2"}}
    renamed = Split("main", ("s1", "s2"), "0" * 64,
                    {"restricted": {"cnn": {"sets": ["t2-renamed"]}}})
    with pytest.raises(InputError, match="would vanish"):
        restricted_uids(results, renamed)
