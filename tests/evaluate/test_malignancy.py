"""Malignancy scoring: AUROC against scikit-learn, operating points, Brier, scan bootstrap."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from sklearn.metrics import brier_score_loss, roc_auc_score

from lesiontrials.errors import InputError
from lesiontrials.scoring import malignancy as mal


def _frame(seed: int = 0, n: int = 120) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    label = rng.integers(0, 2, n)
    p = np.clip(0.3 * label + rng.uniform(0, 0.7, n), 0, 1).round(1)  # many ties
    return pd.DataFrame({"scan_uid": [f"s{i // 2}" for i in range(n)], "label": label,
                         "probability": p, "size_bin": np.where(rng.random(n) < .5, "a", "b")})


def test_auroc_matches_sklearn_with_ties() -> None:
    frame = _frame()
    expected = roc_auc_score(frame["label"], frame["probability"])
    assert mal.auroc(frame["probability"].to_numpy(), frame["label"].to_numpy()) == \
        pytest.approx(expected)
    table = mal.malignancy_table(frame, rng=np.random.default_rng(0), replicates=100)
    row = table.set_index("metric")
    assert row.loc["auroc", "estimate"] == pytest.approx(expected)
    assert row.loc["brier", "estimate"] == pytest.approx(
        brier_score_loss(frame["label"], frame["probability"]))
    assert row.loc["auroc", "ci_low"] < expected < row.loc["auroc", "ci_high"]


def test_weighted_auroc_equals_duplicated_rows() -> None:
    frame = _frame(1, 40)
    w = np.random.default_rng(2).integers(0, 4, len(frame)).astype(float)
    repeated = frame.loc[frame.index.repeat(w.astype(int))]
    expected = roc_auc_score(repeated["label"], repeated["probability"])
    got = mal._weighted_auroc(frame["probability"].to_numpy(), frame["label"].to_numpy(), w)
    assert got == pytest.approx(expected)


def test_operating_points_by_hand() -> None:
    frame = pd.DataFrame({"scan_uid": list("abcd"), "label": [1, 1, 0, 0],
                          "probability": [0.9, 0.3, 0.6, 0.1]})
    row = mal.malignancy_table(frame, rng=np.random.default_rng(0), replicates=10,
                               points=(0.5,)).set_index("metric")["estimate"]
    assert row["sensitivity@0.5"] == 0.5 and row["specificity@0.5"] == 0.5
    assert row["auroc"] == 0.75


def test_unlabelled_left_out_and_bad_values_refused() -> None:
    frame = _frame(0, 10)
    frame["label"] = frame["label"].astype("Int8")
    frame.loc[0, "label"] = pd.NA
    table = mal.malignancy_table(frame, rng=np.random.default_rng(0), replicates=10)
    assert int(table["n_unlabelled"].iloc[0]) == 1
    frame.loc[1, "probability"] = 1.2
    with pytest.raises(InputError, match="probability"):
        mal.malignancy_table(frame, rng=np.random.default_rng(0))


def test_breakdown_groups() -> None:
    table = mal.malignancy_breakdown(_frame(), "size_bin", rng=np.random.default_rng(0),
                                     replicates=20)
    assert set(table["group"]) == {"a", "b"}


def test_bootstrap_unit_can_be_the_host() -> None:
    """Scans on one host move together: with the host as the unit the replicates draw
    whole hosts; a missing unit id is an error naming the column."""
    from lesiontrials.errors import InputError
    from lesiontrials.scoring.malignancy import malignancy_table

    rng = np.random.default_rng(0)
    n = 60
    frame = pd.DataFrame({"scan_uid": [f"s{i // 2}" for i in range(n)],
                          "label": (np.arange(n) % 3 == 0).astype(int),
                          "probability": rng.uniform(0, 1, n)})
    frame["host"] = frame["scan_uid"].map(lambda s: f"h{int(s[1:]) // 5}")  # 6 hosts
    by_scan = malignancy_table(frame, rng=np.random.default_rng(1), replicates=400)
    by_host = malignancy_table(frame, rng=np.random.default_rng(1), replicates=400,
                               unit="host")
    assert by_scan.loc[0, "estimate"] == by_host.loc[0, "estimate"]
    assert (by_scan.loc[0, "ci_low"], by_scan.loc[0, "ci_high"]) != (
        by_host.loc[0, "ci_low"], by_host.loc[0, "ci_high"])
    with pytest.raises(InputError, match="host"):
        malignancy_table(frame.assign(host=None), rng=rng, replicates=5, unit="host")
