"""Patient table from a nodule index: aggregation, outcomes, cohort and clear errors."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from lesiontrials.errors import InputError
from lesiontrials.survival.features import patient_table, select_cohort


def _index(**overrides: object) -> pd.DataFrame:
    frame = pd.DataFrame({
        "dataset": ["W", "W", "W", "W", "L"],
        "patient_id": ["a", "a", "b", "c", "d"],
        "nodule_uid": ["W/1", "W/2", "W/3", "W/4", "L/5"],
        "nodule_mean_diam_mm": [6.0, 12.0, 8.0, 20.0, 5.0],
        "nodule_vol_mm3": [100.0, 900.0, 250.0, 4000.0, 60.0],
        "pleural_distance_mm": [3.0, 10.0, 0.0, 7.5, np.nan],
        "age": [60.0, 60.0, 70.0, 55.0, np.nan],
        "sex": ["M", "M", "F", "M", ""],
        "pack_years": [30.0, 30.0, 10.0, 45.0, np.nan],
        "host_available": [True, True, True, True, False],
        "survival_time_days": [np.nan] * 5,
        "death_event": [""] * 5,
    })
    return frame.assign(**overrides)


def test_aggregates_to_patients_by_hand() -> None:
    cohort, excluded = select_cohort(_index())
    assert excluded == {"L": "nodules not profiled in host anatomy"}
    table = patient_table(cohort)
    frame = table.frame.set_index("patient_id")
    assert list(frame.index) == ["W/a", "W/b", "W/c"]
    assert frame.loc["W/a", "n_nodules"] == 2
    assert frame.loc["W/a", "log_max_diameter_mm"] == pytest.approx(np.log(12.0))
    assert frame.loc["W/a", "log_total_volume_mm3"] == pytest.approx(np.log1p(1000.0))
    assert frame.loc["W/a", "min_pleural_distance_mm"] == 3.0
    assert frame["sex_male"].tolist() == [1.0, 0.0, 1.0]
    assert table.clinical == ("age", "sex_male", "pack_years")
    assert not table.has_outcomes


def test_reads_observed_outcomes() -> None:
    index = _index(survival_time_days=[400.0, 400.0, 900.0, 50.0, 1.0],
                   death_event=["1", "1", "0", "1", "0"])
    table = patient_table(select_cohort(index)[0])
    frame = table.frame.set_index("patient_id")
    assert table.has_outcomes
    assert frame["time_days"].tolist() == [400.0, 900.0, 50.0]
    assert frame["event"].tolist() == [True, False, True]


@pytest.mark.parametrize(("overrides", "column"), [
    ({"death_event": ["1", "1", "maybe", "0", "0"],
      "survival_time_days": [1.0, 1.0, 2.0, 3.0, 4.0]}, "death_event"),
    ({"survival_time_days": [10.0, 10.0, np.nan, 3.0, 4.0]}, "survival_time_days"),
    ({"survival_time_days": [0.0, 0.0, 5.0, 3.0, 4.0],
      "death_event": ["1"] * 5}, "survival_time_days"),
    ({"pleural_distance_mm": [np.nan, np.nan, 1.0, 2.0, 3.0]}, "min_pleural_distance_mm"),
])
def test_bad_cells_are_errors_naming_the_column(overrides: dict, column: str) -> None:
    with pytest.raises(InputError) as err:
        patient_table(select_cohort(_index(**overrides))[0], source="idx.parquet")
    assert err.value.column == column
    assert "idx.parquet" in str(err.value)


def test_constant_or_missing_clinical_is_recorded_not_silent() -> None:
    index = _index(sex=["M"] * 5)
    table = patient_table(select_cohort(index)[0])
    assert "sex_male" not in table.clinical
    assert table.dropped_clinical["sex_male"] == "constant over the cohort"


def test_unknown_dataset_is_an_error() -> None:
    with pytest.raises(InputError, match="'X' is not in the index"):
        select_cohort(_index(), datasets=("X",))
