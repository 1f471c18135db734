"""The synthetic calibration fold: by unit, stable, never real, disjoint from the split."""

from __future__ import annotations

import pandas as pd

from lesiontrials.scoring.calibration import (
    calibration_fold,
    held_out,
    in_calibration,
    partition_unit,
)


def _items(n_donors: int = 40, hosts: int = 3) -> pd.DataFrame:
    rows = []
    for d in range(n_donors):
        for h in range(hosts):
            case = f"c{d}-{h}"
            rows.append({"slice_uid": f"{case}-pos", "source": "synthetic",
                         "donor_uid": f"d{d}", "case_uid": case})
            rows.append({"slice_uid": f"{case}-neg", "source": "synthetic", "donor_uid": "",
                         "case_uid": case})
    rows += [{"slice_uid": f"real-{i}", "source": "real", "donor_uid": "", "case_uid": f"r{i}"}
             for i in range(10)]
    return pd.DataFrame(rows)


def test_fold_keeps_each_donor_on_one_side_and_never_takes_real_slices():
    items = _items()
    fold = calibration_fold(items, seed=0)
    chosen = set(fold.uids)
    positives = items[items["slice_uid"].str.endswith("-pos")]
    for _, rows in positives.groupby("donor_uid"):
        assert len({u in chosen for u in rows["slice_uid"]}) == 1  # a donor is in one fold
    assert not any(u.startswith("real") for u in chosen)
    # roughly half the units, and a different seed gives a different fold
    assert 0.3 < fold.units / fold.units_total < 0.7
    assert set(calibration_fold(items, seed=1).uids) != chosen
    rest = held_out(items["slice_uid"], fold)
    assert not chosen & set(rest) and len(rest) + len(chosen) == items["slice_uid"].nunique()


def test_a_units_fold_does_not_depend_on_the_other_units():
    items = _items()
    small = calibration_fold(items[items["donor_uid"].isin(["d1", "d2", "d3"])], seed=0)
    full = set(calibration_fold(items, seed=0).uids)
    assert set(small.uids) <= full
    assert partition_unit("d1", "c1-0") == "donor:d1" and partition_unit("", "c1-0") == "case:c1-0"
    assert in_calibration("donor:d1", seed=0) == ("c1-0-pos" in full)


def test_lesions_rendered_into_real_scans_stay_out_of_the_fold():
    items = _items(n_donors=40)
    items.loc[items["source"] == "synthetic", "host_dataset"] = "PHANTOM"
    items.loc[items["source"] == "real", "host_dataset"] = "REALCT"
    in_real = items["slice_uid"].str.startswith("c1")  # lesions placed into the real scans
    items.loc[in_real, "host_dataset"] = "REALCT"
    chosen = set(calibration_fold(items, seed=0).uids)
    assert chosen and not chosen & set(items.loc[in_real, "slice_uid"])
    without_real = calibration_fold(items[items["source"] == "synthetic"], seed=0)
    assert set(without_real.uids) > chosen  # the real set is what tells them apart
