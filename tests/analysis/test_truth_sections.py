"""Report sections of the question bank and the survival head."""

from __future__ import annotations

from pathlib import Path

from lesiontrials.analysis.truth_sections import truth_sections
from lesiontrials.io import write_json
from lesiontrials.paths import Workspace


def _interval(e: float) -> dict[str, float]:
    return {"estimate": e, "low": e - 0.05, "high": e + 0.05}


def test_sections_label_simulated_outcomes_and_count_items(tmp_path: Path) -> None:
    ws = Workspace(tmp_path)
    assert truth_sections(ws) == []
    metrics = ("harrell_c", "uno_c", "auc", "ibs")
    write_json({"outcomes": "simulated", "n_patients": 40, "n_events": 25, "folds": 5,
                "n_boot": 200, "datasets": ["W"], "dropped_clinical": {"pack_years": "x"},
                "generating_model": {"true_hr_per_sd": {"age": 1.35}},
                "scores": {m: {k: _interval(0.6) for k in metrics}
                           for m in ("clinical", "clinical+ct")},
                "delta": {k: _interval(0.02) for k in metrics}},
               ws.survival_dir / "survival.json")
    write_json({"trial": "t", "items": [
        {"uid": "c/lung_rads/p0", "case_uid": "c", "category": "medical_reasoning",
         "template_id": "lung_rads", "answer": "cannot be determined"},
        {"uid": "c/lobe/p0", "case_uid": "c", "category": "recognition",
         "template_id": "lobe", "answer": "left upper lobe"}]}, ws.questions_file("t"))
    (bank_title, bank_text, bank_tables), (title, text, tables) = truth_sections(ws)
    assert bank_title == "Question bank" and "2 items on 1 cases" in bank_text
    counts = bank_tables["question_bank_counts"].set_index("template_id")
    assert counts.loc["lung_rads", "cannot_be_determined"] == 1
    assert title == "Survival head (SIMULATED outcomes)"
    assert "Outcomes are SIMULATED (" in text and "age 1.35" in text
    assert "+0.020 [-0.030, +0.070]" in text
    assert "pack_years (x)" in text
    assert tables["survival_scores"]["metric"].tolist() == ["Harrell C", "Uno C", "mean td-AUC",
                                                      "integrated Brier (lower better)"]
