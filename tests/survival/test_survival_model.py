"""The Cox head recovers a known hazard ratio and finds nothing in noise."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from lesiontrials.survival.features import LESION_FEATURES, PatientTable
from lesiontrials.survival.metrics import harrell_c
from lesiontrials.survival.model import hazard_ratios
from lesiontrials.survival.pipeline import analyse_survival, with_outcomes
from lesiontrials.survival.simulate import WeibullModel, simulate_outcomes

CLINICAL = ("age", "sex_male", "pack_years")


def _patients(n: int, seed: int) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    return pd.DataFrame({
        "patient_id": [f"W/p{i:04d}" for i in range(n)],
        "n_nodules": rng.integers(1, 4, n).astype(float),
        "log_max_diameter_mm": np.log(rng.uniform(4.0, 30.0, n)),
        "log_total_volume_mm3": rng.normal(6.0, 1.0, n),
        "min_pleural_distance_mm": rng.uniform(0.0, 30.0, n),
        "age": rng.normal(65.0, 8.0, n),
        "sex_male": rng.integers(0, 2, n).astype(float),
        "pack_years": rng.uniform(0.0, 60.0, n),
    })


def _table(frame: pd.DataFrame) -> PatientTable:
    return PatientTable(frame=frame, lesion=LESION_FEATURES, clinical=CLINICAL,
                        dropped_clinical={}, has_outcomes="time_days" in frame)


def test_known_hazard_ratio_lies_in_its_interval() -> None:
    model = WeibullModel(log_hr={"log_max_diameter_mm": np.log(2.0), "age": 0.0})
    frame = _patients(600, seed=3)
    outcomes = simulate_outcomes(frame, model=model, rng=np.random.default_rng(4))
    hr = hazard_ratios(frame.assign(**outcomes), ("age", "log_max_diameter_mm")).set_index(
        "covariate")
    diameter = hr.loc["log_max_diameter_mm"]
    assert diameter["ci_low"] < 2.0 < diameter["ci_high"]
    assert diameter["ci_high"] / diameter["ci_low"] < 1.6  # informative, not vacuous
    assert hr.loc["age", "ci_low"] < 1.0 < hr.loc["age", "ci_high"]


def test_pipeline_reports_true_hr_and_labels_simulated() -> None:
    record = analyse_survival(_table(_patients(300, seed=6)), seed=1, n_boot=60)
    assert record["outcomes"] == "simulated"
    truth = record["generating_model"]["true_hr_per_sd"]
    hrs = {r["covariate"]: r for r in record["hazard_ratios"]}
    assert hrs["log_max_diameter_mm"]["ci_low"] < truth["log_max_diameter_mm"] < hrs[
        "log_max_diameter_mm"]["ci_high"]
    delta = record["delta"]["harrell_c"]
    assert delta["low"] > 0.0  # diameter carries signal the clinical model lacks
    assert record["scores"]["clinical+ct"]["ibs"]["estimate"] < record["scores"][
        "clinical"]["ibs"]["estimate"]


@pytest.mark.slow
def test_noise_features_give_chance_concordance() -> None:
    frame = _patients(400, seed=11)
    rng = np.random.default_rng(12)
    frame = frame.assign(time_days=rng.exponential(900.0, len(frame)) + 1.0,
                         event=rng.uniform(size=len(frame)) < 0.7)
    record = analyse_survival(_table(frame), seed=2, n_boot=80)
    assert record["outcomes"] == "observed"
    for name in ("clinical", "clinical+ct"):
        c = record["scores"][name]["harrell_c"]
        assert abs(c["estimate"] - 0.5) < 0.06
        assert c["low"] < 0.5 < c["high"]
    d = record["delta"]["harrell_c"]
    assert d["low"] < 0.0 < d["high"]


def test_harrell_c_hand_example() -> None:
    # times 1..4 all deaths; risk ordering fully right → 1, reversed → 0, tie → 0.5
    time = np.array([1.0, 2.0, 3.0, 4.0])
    event = np.ones(4, dtype=bool)
    assert harrell_c(time, event, np.array([4.0, 3.0, 2.0, 1.0])) == pytest.approx(1.0)
    assert harrell_c(time, event, np.array([1.0, 2.0, 3.0, 4.0])) == pytest.approx(0.0)
    assert harrell_c(time, event, np.zeros(4)) == pytest.approx(0.5)


def test_simulated_outcomes_are_seeded() -> None:
    table = _table(_patients(50, seed=0))
    a, source = with_outcomes(table, seed=7)
    b, _ = with_outcomes(table, seed=7)
    c, _ = with_outcomes(table, seed=8)
    assert source == "simulated"
    pd.testing.assert_frame_equal(a, b)
    assert not np.allclose(a["time_days"], c["time_days"])
