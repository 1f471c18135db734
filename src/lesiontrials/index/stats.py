"""Per-dataset summary statistics of the nodule index."""

from __future__ import annotations

import pandas as pd

from lesiontrials import anatomy


def dataset_stats(table: pd.DataFrame) -> pd.DataFrame:
    """One row per dataset (plus ``ALL``): counts, label rate, size and lobe mix.

    Lobe shares are over the nodules that have a lobe (donor-only nodules have none).
    """
    groups = [(name, rows) for name, rows in table.groupby("dataset", sort=True)]
    groups.append(("ALL", table))
    records = []
    for name, rows in groups:
        labelled = rows["label"].notna()
        record = {
            "dataset": name,
            "nodules": len(rows),
            "patients": rows["patient_id"].nunique(),
            "scans": rows["ct_id"].nunique(),
            "hosts": int(rows.loc[rows["host_available"], "ct_id"].nunique()),
            "labelled": int(labelled.sum()),
            "malignant_rate": float(rows.loc[labelled, "label"].astype(float).mean())
            if labelled.any() else float("nan"),
            "median_diam_mm": float(rows["nodule_mean_diam_mm"].median()),
        }
        sizes = rows["size_bin"].value_counts(normalize=True)
        for size_bin in anatomy.PROFILE_SIZE_BINS:
            record[f"size {size_bin}"] = float(sizes.get(size_bin, 0.0))
        located = rows.loc[rows["lobe_name"] != "", "lobe_name"]  # donor-only rows have none
        lobes = located.value_counts(normalize=True)
        for lobe in anatomy.Lobe:
            record[f"lobe {lobe.name}"] = float(lobes.get(lobe.value, 0.0))
        records.append(record)
    return pd.DataFrame.from_records(records)
