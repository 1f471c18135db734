"""Calibration, selective prediction and prompt-robustness metrics against hand examples."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from lesiontrials.analysis.selective import (
    aurc,
    auroc,
    brier_score,
    cluster_interval,
    confidence_table,
    expected_calibration_error,
    paraphrase_table,
    risk_coverage,
    scored_answers,
)


def test_brier_by_hand() -> None:
    # (0.8-1)^2 + 0.2^2 = 0.08 ; (0.4-1)^2 + 0.6^2 = 0.72 ; mean 0.40
    assert brier_score(np.array([[0.8, 0.2], [0.4, 0.6]]), np.array([0, 0])) == pytest.approx(0.4)


def test_ece_by_hand() -> None:
    # bin (0.9, 1.0]: conf 0.95, accuracy 0.5 ; bin (0.5, 0.6]: conf 0.55, accuracy 1
    ece = expected_calibration_error(np.array([0.95, 0.95, 0.55, 0.55]),
                                     np.array([1, 0, 1, 1]))
    assert ece == pytest.approx(0.5 * 0.45 + 0.5 * 0.45)
    assert expected_calibration_error(np.array([0.7] * 10), np.array([1] * 7 + [0] * 3)) == \
        pytest.approx(0.0)


def test_risk_coverage_and_aurc_by_hand() -> None:
    coverage, risk = risk_coverage(np.array([0.7, 0.9, 0.8]), np.array([1, 1, 0]))
    assert coverage == pytest.approx([1 / 3, 2 / 3, 1.0])
    assert risk == pytest.approx([0.0, 0.5, 1 / 3])
    assert aurc(np.array([0.7, 0.9, 0.8]), np.array([1, 1, 0])) == pytest.approx(
        (0 + 0.5 + 1 / 3) / 3)
    # ties: the order of tied rows does not matter (errors spread over the block)
    assert aurc(np.array([0.9, 0.9]), np.array([1, 0])) == pytest.approx(0.5)
    assert aurc(np.array([0.9, 0.9]), np.array([0, 1])) == pytest.approx(0.5)


def test_auroc_by_hand() -> None:
    # positives 0.9, 0.4 vs negatives 0.6, 0.1: 3 of 4 pairs ordered right
    assert auroc(np.array([0.9, 0.4, 0.6, 0.1]), np.array([1, 1, 0, 0])) == pytest.approx(0.75)
    assert np.isnan(auroc(np.array([0.1, 0.2]), np.array([1, 1])))


def test_auroc_equals_the_trapezoidal_roc_area_with_ties() -> None:
    """The rank form agrees with scikit-learn's ROC area on tied and untied scores (the
    bootstrap's fast path must not change any number), and refuses a NaN score."""
    from sklearn.metrics import roc_auc_score

    rng = np.random.default_rng(3)
    for n, levels in ((7, 3), (40, 5), (300, 1000)):
        scores = rng.integers(0, levels, n) / levels  # few levels: many ties
        positive = rng.random(n) < 0.4
        positive[:2] = (True, False)
        assert auroc(scores, positive) == pytest.approx(roc_auc_score(positive, scores),
                                                        abs=1e-12)
    with pytest.raises(ValueError, match="finite"):
        auroc(np.array([0.1, np.nan, 0.3]), np.array([1, 0, 1]))


def test_bootstrap_resamples_whole_cases() -> None:
    clusters = np.array(["a", "a", "a", "b", "c", "d", "e"])
    interval = cluster_interval(lambda ix: float(len(ix)), clusters,
                                rng=np.random.default_rng(0), replicates=400)
    assert interval.estimate == 7 and interval.low < 7 < interval.high
    # 5 clusters: each side stretched by √(5/4) · t(4)/z ≈ 1.58 around the percentiles
    plain = np.quantile([5 + 2 * k for k in np.random.default_rng(0).binomial(5, 0.2, 4000)],
                        [0.025, 0.975])
    assert 7 - interval.low == pytest.approx(1.58 * (7 - plain[0]), rel=0.02)
    # each draw of 5 cases holds case a (3 rows) k times: 5 + 2k rows, never an even count
    seen = set()
    cluster_interval(lambda ix: seen.add(len(ix)) or 0.0, clusters,
                     rng=np.random.default_rng(1), replicates=300)
    assert seen <= {5, 7, 9, 11, 13, 15} and len(seen) >= 3
    few = cluster_interval(lambda ix: 1.0, np.array(["a", "b", "c", "d"]),
                           rng=np.random.default_rng(0))
    assert few.estimate == 1.0 and np.isnan(few.low) and np.isnan(few.high)


def _answers() -> pd.DataFrame:
    rows = []
    for case in range(6):
        for pid, flip in (("p0", False), ("p1", True)):
            truth = "present" if case % 2 == 0 else "absent"
            p_present = 0.8 if truth == "present" else 0.3
            option = truth if not flip or case == 0 else (
                "absent" if truth == "present" else "present")
            rows.append({"model": "m", "condition": "plain", "task": "presence",
                         "slice_uid": f"s{case}", "case_uid": f"c{case}", "set": "t",
                         "paraphrase": pid, "truth": truth, "option": option,
                         "correct": option == truth,
                         "scores_json": json.dumps({"present": p_present,
                                                    "absent": 1 - p_present})})
    return pd.DataFrame(rows)


def test_paraphrase_and_confidence_tables() -> None:
    frame = _answers()
    table = paraphrase_table(frame, rng=np.random.default_rng(0), replicates=100)
    (row,) = table.to_dict("records")
    assert row["accuracy_p0"] == 1.0 and row["accuracy_p1"] == pytest.approx(1 / 6)
    assert row["spread"] == pytest.approx(5 / 6) and row["paraphrases"] == 2
    assert row["cases"] == 6
    assert row["mean_accuracy"] == pytest.approx(7 / 12)  # the mean over paraphrases
    assert row["mean_accuracy_ci_low"] <= 7 / 12 <= row["mean_accuracy_ci_high"]
    answers = scored_answers(frame, ("present", "absent"))
    assert answers.probabilities.shape == (12, 2) and answers.correct.all()
    (conf,) = confidence_table(frame, rng=np.random.default_rng(0), replicates=50).to_dict(
        "records")
    assert conf["auroc"] == 1.0 and conf["n_scored"] == 12 and conf["cases"] == 6
    assert conf["brier"] == pytest.approx(np.mean([2 * 0.2 ** 2, 2 * 0.3 ** 2]))
    assert conf["ece"] == pytest.approx(0.5 * 0.2 + 0.5 * 0.3)


