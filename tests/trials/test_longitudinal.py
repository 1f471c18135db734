"""Longitudinal screening: rounds > 0 are repeat scans of the previous round's patients."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

from lesiontrials.trials import longitudinal as lg
from lesiontrials.trials.plan import plan_design

PARAMS = {"n_per_stratum": 40, "rounds": 3, "incidence": 0.3}


@pytest.fixture(scope="module")
def screening(plan_ctx) -> pd.DataFrame:
    return plan_design(plan_ctx, 9, size="demo", seed=4, params=PARAMS).manifest


def _by_case(frame: pd.DataFrame) -> dict[str, pd.DataFrame]:
    return {str(u): rows.sort_values("nodule_index") for u, rows in frame.groupby("case_uid")}


def test_each_repeat_case_is_its_prior_patient_with_the_same_nodules(screening):
    cases = _by_case(screening)
    repeats = [rows for rows in cases.values() if rows["round"].iloc[0] > 0]
    assert len(repeats) == 80 and len(cases) == 120
    new = grown = 0
    for rows in repeats:
        prior = cases[rows["prior_case_uid"].iloc[0]]
        assert prior["round"].iloc[0] == rows["round"].iloc[0] - 1
        for column in ("host_ct_id", "host_patient_id", "host_seg_path", "age", "sex"):
            assert rows[column].iloc[0] == prior[column].iloc[0]
        assert rows["interval_days"].iloc[0] == pytest.approx(365.25)
        if bool(prior["nodule_free"].iloc[0]):  # stays free, or a new nodule appears
            if not rows["nodule_free"].iloc[0]:
                new += 1
                assert (rows["growth_model"] == "new").all()
                assert (rows["placement"] != lg.REPEAT_PLACEMENT).all()
            continue
        grown += len(rows)
        assert list(rows["donor_uid"]) == list(prior["donor_uid"])
        assert (rows["placement"] == lg.REPEAT_PLACEMENT).all()
        assert rows[["target_x_mm", "target_y_mm", "target_z_mm"]].isna().all().all()
        ratio = rows["planned_diameter_mm"].to_numpy() / prior["planned_diameter_mm"].to_numpy()
        np.testing.assert_allclose(ratio, rows["growth_factor"].to_numpy())
        np.testing.assert_allclose(rows["scale"], rows["planned_diameter_mm"]
                                   / rows["donor_diameter_mm"])
        if prior["growth_model"].iloc[0] not in ("", "new"):  # drawn once, then kept
            assert list(rows["vdt_days"].fillna(0)) == list(prior["vdt_days"].fillna(0))
    assert new > 0 and grown > 0


def test_the_plan_is_deterministic_and_non_longitudinal_rounds_are_independent(plan_ctx,
                                                                              screening):
    again = plan_design(plan_ctx, 9, size="demo", seed=4, params=PARAMS).manifest
    pd.testing.assert_frame_equal(screening, again)
    independent = plan_design(plan_ctx, 9, size="demo", seed=4,
                              params={**PARAMS, "longitudinal": False}).manifest
    assert (independent["prior_case_uid"] == "").all()
    assert (independent["placement"] != lg.REPEAT_PLACEMENT).all()


def test_growth_model_factors_follow_the_volume_doubling_time():
    year = 365.25
    assert lg.Growth("malignant_solid", year / 3).diameter_factor(year) == pytest.approx(2.0)
    assert lg.Growth("benign_shrinking", -year).diameter_factor(3 * year) == pytest.approx(0.5)
    assert lg.Growth("benign_stable", math.nan).diameter_factor(year) == 1.0
    rng = np.random.default_rng(0)
    solid = [lg.draw_growth(1, 5.0, rng) for _ in range(2000)]
    vdts = np.array([g.vdt_days for g in solid if g.model == "malignant_solid"])
    assert 0.05 < 1 - len(vdts) / 2000 < 0.15  # ~10 % stable
    assert vdts.min() >= 100 and vdts.max() <= 400
    ggn = [lg.draw_growth(1, 1.0, rng).vdt_days for _ in range(500)]
    assert np.nanmin(ggn) >= 500
    benign = [lg.draw_growth(0, 5.0, rng).model for _ in range(2000)]
    assert benign.count("benign_stable") / 2000 == pytest.approx(0.70, abs=0.04)
    assert benign.count("benign_shrinking") / 2000 == pytest.approx(0.15, abs=0.03)


def test_grown_diameters_stay_within_the_nodule_limits():
    assert lg.grown_diameter(20.0, 2.0) == (30.0, True)
    assert lg.grown_diameter(4.0, 0.5) == (3.0, True)
    assert lg.grown_diameter(2.5, 0.5) == (2.5, True)
    assert lg.grown_diameter(8.0, 1.25) == (10.0, False)
