"""The report states each trained model's training sets and its training/evaluation
separation (from the card in results/{model}/model.json); other models get no such note."""

from __future__ import annotations

import json
from pathlib import Path

from lesiontrials.analysis.workspace import trained_model_notes
from lesiontrials.io import write_json
from lesiontrials.paths import Workspace


def test_a_note_per_trained_model_naming_its_training_sets(tmp_path: Path) -> None:
    ws = Workspace(tmp_path)
    write_json({"card": {"kind": "trained", "extra": {
        "training_sets": json.dumps(["size_detection_curve", "cross_dataset"]),
        "training_cases": "50", "separation": "items of training cases are refused"}}},
        ws.results_root / "cnn" / "model.json")
    write_json({"card": {"kind": "baseline"}}, ws.results_root / "majority" / "model.json")
    notes = trained_model_notes(ws, ["cnn", "majority", "unscored"])
    assert len(notes) == 1
    assert notes[0].startswith("cnn is a trained model")
    assert "size_detection_curve, cross_dataset (50 cases)" in notes[0]
    assert "items of training cases are refused" in notes[0]
