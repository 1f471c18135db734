"""Detection scoring: LUNA16 matching, FROC/CPM by hand and against the LUNA16 recipe."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from sklearn.metrics import roc_curve

from lesiontrials.errors import InputError
from lesiontrials.scoring import detection as det


def _truth() -> pd.DataFrame:
    return pd.DataFrame({
        "scan_uid": ["A", "A", "B"], "nodule_id": ["A1", "A2", "B1"],
        "x_mm": [0.0, 50.0, 0.0], "y_mm": [0.0, 0.0, 0.0], "z_mm": [0.0, 0.0, 0.0],
        "diameter_mm": [10.0, 6.0, 8.0], "size_bin": ["large", "small", "large"]})


def _candidates() -> pd.DataFrame:
    rows = [("A", 1, 1, 1, 0.9),       # hits A1
            ("A", 0, 0, 3, 0.5),       # duplicate on A1: counts once, never an FP
            ("A", 100, 100, 100, 0.8),  # far outside the lung: an FP
            ("B", 0, 0, 3.9, 0.6),     # inside B1's radius (4 mm)
            ("B", 0, 0, 4.0, 0.95),    # on the radius: not inside → FP
            ("C", 10, 10, 10, 0.3)]    # nodule-free scan: FP
    return pd.DataFrame(rows, columns=["scan_uid", "x_mm", "y_mm", "z_mm", "probability"])


def test_hand_computed_froc_and_cpm() -> None:
    matching = det.match(_truth(), _candidates(), scans=["A", "B", "C"])
    nodules = matching.nodules.set_index("nodule_id")
    assert nodules.loc["A1", "best_probability"] == 0.9 and nodules.loc["A1", "n_hits"] == 2
    assert np.isnan(nodules.loc["A2", "best_probability"])  # no candidate: missed
    assert sorted(matching.false_positives["probability"]) == [0.3, 0.8, 0.95]
    curve = det.froc(matching)
    third = 1 / 3
    np.testing.assert_allclose(curve.fps, [0, third, third, 2 * third, 2 * third, 1])
    np.testing.assert_allclose(curve.sensitivity, [0, 0, third, third, 2 * third, 2 * third])
    np.testing.assert_allclose(curve.at_rates, [0, 0, third, 2 * third, 2 * third,
                                                2 * third, 2 * third])
    assert curve.cpm == pytest.approx(3 / 7)


def test_candidates_on_an_excluded_finding_are_neither_hits_nor_false_positives() -> None:
    """A host lesion kept in a synthetic case's image is not in the truth: a candidate on it
    must not count as a false positive (it found a real lesion), nor as a hit."""
    findings = pd.DataFrame({"scan_uid": ["A", "C"], "finding_id": ["hA", "hC"],
                             "x_mm": [100.0, 10.0], "y_mm": [100.0, 10.0],
                             "z_mm": [100.0, 14.0], "diameter_mm": [6.0, 6.0]})
    plain = det.match(_truth(), _candidates(), scans=["A", "B", "C"])
    kept = det.match(_truth(), _candidates(), scans=["A", "B", "C"], excluded=findings)
    # (A, 100, 100, 100) lies on hA: dropped; (C, 10, 10, 10) is 4 mm from hC (radius 3): kept
    assert sorted(kept.false_positives["probability"]) == [0.3, 0.95]
    assert kept.nodules["best_probability"].equals(plain.nodules["best_probability"])
    assert det.froc(kept).fps[-1] == pytest.approx(2 / 3)
    with pytest.raises(InputError, match="excluded finding"):
        det.match(_truth(), _candidates(), excluded=findings.drop(columns=["diameter_mm"]))


def test_hit_table_operating_point() -> None:
    matching = det.match(_truth(), _candidates(), scans=["A", "B", "C"])
    table = det.hit_table(matching, rate=2 / 3).set_index("nodule_id")
    assert table["hit"].to_dict() == {"A1": True, "A2": False, "B1": True}
    strict = det.hit_table(matching, rate=0.34).set_index("nodule_id")
    assert strict["hit"].to_dict() == {"A1": True, "A2": False, "B1": False}


def _luna16_reference(matching: det.Matching) -> np.ndarray:
    """The LUNA16 evaluation recipe: roc_curve over hits + FPs, rescaled, np.interp."""
    detected = matching.nodules["best_probability"].dropna().to_numpy()
    missed = int(matching.nodules["best_probability"].isna().sum())
    fp = matching.false_positives["probability"].to_numpy()
    labels = np.r_[np.ones(detected.size), np.zeros(fp.size)]
    fpr, tpr, _ = roc_curve(labels, np.r_[detected, fp])
    fps = fpr * fp.size / len(matching.scans)
    sens = tpr * detected.size / (detected.size + missed)
    return np.interp(np.asarray(det.FP_RATES), fps, sens)


def test_matches_luna16_recipe_on_constructed_case() -> None:
    rng = np.random.default_rng(3)
    scans = [f"s{i}" for i in range(40)]
    truth_rows, cand_rows = [], []
    for scan in scans[:30]:
        for k in range(int(rng.integers(1, 3))):
            centre = rng.uniform(-100, 100, 3)
            d = float(rng.uniform(4, 25))
            truth_rows.append((scan, f"{scan}-{k}", *centre, d))
            for _ in range(int(rng.integers(0, 3))):  # 0 = no candidate; 2 = duplicates
                offset = rng.normal(0, d / 4, 3)
                cand_rows.append((scan, *(centre + offset), float(rng.uniform(0.2, 1))))
    for scan in scans:  # false positives everywhere, some far outside any lung
        for _ in range(int(rng.integers(0, 6))):
            cand_rows.append((scan, *rng.uniform(-400, 400, 3), float(rng.uniform(0, 0.9))))
    truth = pd.DataFrame(truth_rows, columns=list(det.TRUTH_COLUMNS))
    cands = pd.DataFrame(cand_rows, columns=list(det.CANDIDATE_COLUMNS))
    matching = det.match(truth, cands, scans=scans)
    assert (matching.nodules["best_probability"].isna()).any()
    assert (matching.nodules["n_hits"] >= 2).any()
    np.testing.assert_allclose(det.froc(matching).at_rates, _luna16_reference(matching),
                               atol=1e-12)


def test_bootstrap_resamples_scans_and_covers_estimate() -> None:
    matching = det.match(_truth(), _candidates(), scans=["A", "B", "C"])
    boot = det.bootstrap_froc(matching, rng=np.random.default_rng(0), replicates=200)
    assert boot.shape == (200, len(det.FP_RATES) + 1)
    # with three scans some replicates hold no nodule (only C): undefined, not zero
    assert np.isnan(boot).any() and np.isfinite(boot).any()
    table = det.froc_table(matching, rng=np.random.default_rng(0), replicates=200)
    row = table.set_index("fp_per_scan").loc["CPM"]
    assert row["ci_low"] <= row["sensitivity"] <= row["ci_high"]


def test_host_bootstrap_moves_scans_of_one_host_together() -> None:
    """Scans A and B share a host: every replicate draws them the same number of times, so
    with one host per cluster the replicates take fewer distinct values than the scan
    bootstrap's; the default (no clusters) is the scan bootstrap, draw for draw."""
    matching = det.match(_truth(), _candidates(), scans=["A", "B", "C"])
    scans = det.bootstrap_froc(matching, rng=np.random.default_rng(0), replicates=300)
    same = det.bootstrap_froc(matching, rng=np.random.default_rng(0), replicates=300,
                              clusters={"A": "A", "B": "B", "C": "C"})
    np.testing.assert_array_equal(scans, same)
    hosts = det.bootstrap_froc(matching, rng=np.random.default_rng(0), replicates=300,
                               clusters={"A": "h1", "B": "h1", "C": "h2"})
    def distinct(boot: np.ndarray) -> int:
        return len(np.unique(np.round(boot[:, -1][np.isfinite(boot[:, -1])], 9)))

    # two hosts: replicates are (h1, h1), (h1, h2) or (h2, h2) → at most 3 distinct CPMs
    # (C alone has no nodule: NaN); three independent scans give more
    assert distinct(hosts) <= 3 < distinct(scans)
    with pytest.raises(InputError, match="host"):
        det.bootstrap_froc(matching, rng=np.random.default_rng(0), replicates=5,
                           clusters={"A": "h1"})


def test_breakdown_keeps_all_false_positives() -> None:
    matching = det.match(_truth(), _candidates(), scans=["A", "B", "C"])
    table = det.breakdown(matching, "size_bin", rng=np.random.default_rng(0), replicates=50)
    small = table[(table["group"] == "small") & (table["fp_per_scan"] == "CPM")]
    large = table[(table["group"] == "large") & (table["fp_per_scan"] == "CPM")]
    assert float(small["sensitivity"].iloc[0]) == 0.0
    # large: A1 at 1/3 FP/scan, B1 at 2/3 → sens 0,0,.5,1,1,1,1
    assert float(large["sensitivity"].iloc[0]) == pytest.approx((0.5 + 4) / 7)
    assert int(large["n_scans"].iloc[0]) == 3


def test_iou_rule_for_boxes() -> None:
    truth = _truth().iloc[[0]]
    cands = pd.DataFrame({"scan_uid": ["A", "A"], "x_mm": [0.0, 6.0], "y_mm": [0.0, 0.0],
                          "z_mm": [0.0, 0.0], "probability": [0.7, 0.9],
                          "box_dx_mm": [10.0, 10.0], "box_dy_mm": [10.0, 10.0],
                          "box_dz_mm": [10.0, 10.0]})
    matching = det.match(truth, cands, rule="iou", iou_threshold=0.5)
    # the shifted box overlaps 4/16 of the union → IoU 0.25 < 0.5: a false positive
    assert matching.nodules["best_probability"].iloc[0] == 0.7
    assert matching.false_positives["probability"].tolist() == [0.9]


def test_bad_inputs_are_errors() -> None:
    cands = _candidates()
    cands.loc[0, "probability"] = 1.5
    with pytest.raises(InputError, match="probability"):
        det.match(_truth(), cands)
    cands = _candidates()
    cands.loc[2, "x_mm"] = np.nan
    with pytest.raises(InputError, match="x_mm"):
        det.match(_truth(), cands)
    with pytest.raises(InputError, match="not scored"):
        det.match(_truth(), _candidates(), scans=["A", "B"])


def test_lps_to_ras() -> None:
    np.testing.assert_array_equal(det.lps_to_ras(np.array([[1.0, -2.0, 3.0]])),
                                  [[-1.0, 2.0, 3.0]])
