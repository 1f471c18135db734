"""Resampling units by design: the array form gives what the column rules say, with
missing values, numbers and every kind of design mixed in one frame."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from lesiontrials.analysis.design_units import case_unit, is_crossed, units_for


def _frame() -> pd.DataFrame:
    return pd.DataFrame({
        "set": ["a", "a", "b", "b", "b", "c"],
        "design": ["size_detection_curve", "bootstrap_confidence", "bootstrap_confidence",
                   "digital_twin_isolation", "digital_twin_complete", None],
        "case_uid": ["c1", "c2", "c3", "c4", np.nan, 7],
        "source_case_uid": [None, "base1", "", "x", "y", "z"],
        "host_ct_id": ["h1", None, "h3", "P9", "", "h6"],
        "slice_uid": [f"s{i}" for i in range(6)],
    })


def test_units_follow_the_design_rules() -> None:
    frame = _frame()
    expected = ["a/c1",            # ordinary design: the case
                "a/base1",         # bootstrap replicate: its base case
                "b/c3",            # bootstrap without a base: its own case
                "b/patient:P9",    # twin: the patient
                "b/",              # twin without a host id, case missing: empty id
                "c/7"]             # no design: the case, a number read as text
    assert list(units_for(frame)["case"]) == expected
    assert list(case_unit(frame)) == expected and case_unit(frame).index.equals(frame.index)
    assert not is_crossed(frame).any()


def test_repeat_scans_of_one_screening_patient_are_one_unit() -> None:
    # rounds 0-2 of one patient (host H1) and one round of another (H2): the prior and its
    # repeat scans share host and donors, so they must be resampled together
    frame = pd.DataFrame({"set": ["s"] * 4, "design": ["screening_simulation"] * 4,
                          "case_uid": ["r0", "r1", "r2", "q0"],
                          "host_ct_id": ["H1", "H1", "H1", "H2"],
                          "slice_uid": ["a", "b", "c", "d"]})
    assert list(units_for(frame)["case"]) == ["s/patient:H1"] * 3 + ["s/patient:H2"]


def test_crossed_rows_give_donor_and_host_and_are_never_mixed() -> None:
    crossed = pd.DataFrame({"design": ["digital_twin_cross"] * 3,
                            "donor_uid": ["d1", None, ""], "case_uid": ["c1", "c2", "c3"],
                            "host_ct_id": ["h1", "h2", np.nan]})
    units = units_for(crossed)
    assert list(units["donor"]) == ["d1", "case:c2", "case:c3"]  # nodule-free: its case
    assert list(units["host"]) == ["h1", "h2", ""]
    with pytest.raises(ValueError, match="mix the crossed design"):
        units_for(pd.concat([crossed, _frame()], ignore_index=True))


def test_without_case_ids_every_slice_is_its_own_unit() -> None:
    frame = _frame().drop(columns="case_uid")
    assert list(units_for(frame)["case"]) == [f"slice:s{i}" for i in range(6)]
