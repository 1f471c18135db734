"""Ground-truth report, narrative, parser round trip and field scores by hand."""

from __future__ import annotations

import math

import pytest
from sklearn.metrics import cohen_kappa_score

from lesiontrials.scoring.questions.truth import case_from_insert
from lesiontrials.scoring.structured.parse import parse_report
from lesiontrials.scoring.structured.report import (
    CaseReport,
    NoduleReport,
    narrative,
    report_from_truth,
)
from lesiontrials.scoring.structured.score import field_scores, match_nodules


def _case() -> CaseReport:
    def nodule(k: int, lobe: str, d: float, texture: float, calc: float) -> dict:
        return {"nodule_index": k, "donor_characteristics": {"texture": texture,
                                                             "calcification": calc},
                "realised": {"lobe": lobe, "side": lobe.split("_")[0], "zone": "upper_zone",
                             "equivalent_diameter_mm": d, "max_axis_diameter_mm": d,
                             "volume_mm3": 1.0, "pleural_distance_mm": 4.0,
                             "centroid_mm": [0, 0, 0]}}
    return report_from_truth(case_from_insert({"case_uid": "c", "status": "done", "nodules": [
        nodule(0, "left_lung_lower_lobe", 6.5, 5.0, 6.0),
        nodule(1, "right_lung_upper_lobe", 16.04, 5.0, 1.0)]}))


def test_truth_report_and_narrative_by_hand() -> None:
    report = _case()
    big, small = report.nodules
    assert big == NoduleReport("right upper lobe", 16.0, "solid", True, "1")  # popcorn
    assert small == NoduleReport("left lower lobe", 6.5, "solid", False, "3")
    assert report.category == "3"
    assert narrative(report) == (
        "FINDINGS: A 16.0 mm solid nodule in the right upper lobe, calcified (Lung-RADS 1). "
        "A 6.5 mm solid nodule in the left lower lobe, non-calcified (Lung-RADS 3).\n"
        "IMPRESSION: Lung-RADS 3. Recommend 6-month LDCT.")


def test_parser_round_trips_the_narrative() -> None:
    report = _case()
    assert parse_report(narrative(report), case_uid="c") == report


def test_parser_on_free_text() -> None:
    parsed = parse_report("Findings: 1.2 cm part-solid nodule in the LUL. No other "
                          "nodules. Impression: Lung-RADS category 4A.")
    assert parsed.nodules == (NoduleReport("left upper lobe", 12.0, "part-solid", None,
                                           None),)
    assert parsed.category == "4A"
    assert parse_report("FINDINGS: No pulmonary nodules. IMPRESSION: Lung-RADS 1.") == \
        CaseReport("", (), "1")


def test_field_scores_by_hand() -> None:
    truth = _case()
    # prediction: finds the RUL nodule with the wrong attenuation and 2 mm off, misses the
    # LLL nodule, invents one in the RML; category 4B instead of 3
    pred = CaseReport("c", (
        NoduleReport("right upper lobe", 18.0, "part-solid", True, "1"),
        NoduleReport("right middle lobe", 5.0, "solid", None, None)), "4B")
    assert match_nodules(truth.nodules, pred.nodules) == [(0, 0)]
    scores, size_error, kappa = field_scores([truth], [pred])
    by = {s.field: s for s in scores}
    assert (by["lobe"].precision, by["lobe"].recall) == (0.5, 0.5)  # 1 of 2 each side
    assert by["attenuation"].precision == 0.0 and by["attenuation"].f1 == 0.0
    assert (by["calcified"].precision, by["calcified"].recall) == (1.0, 0.5)
    assert by["lung_rads"].f1 == pytest.approx(2 * 1.0 * 0.5 / 1.5)
    assert size_error == pytest.approx(2.0)
    assert math.isnan(kappa) or kappa <= 0  # one case: no agreement information


def test_case_kappa_is_sklearns_linear_weighted() -> None:
    truths = [CaseReport(str(i), (), c) for i, c in enumerate(["1", "2", "3", "4A", "4B", "2"])]
    preds = [CaseReport(str(i), (), c) for i, c in enumerate(["1", "3", "3", "4B", "4B", "2"])]
    _, _, kappa = field_scores(truths, preds)
    expected = cohen_kappa_score([0, 1, 2, 3, 4, 1], [0, 2, 2, 4, 4, 1], weights="linear",
                                 labels=[0, 1, 2, 3, 4])
    assert kappa == pytest.approx(expected)
    assert 0.5 < kappa < 1.0
    _, _, perfect = field_scores(truths, truths)
    assert perfect == pytest.approx(1.0)
