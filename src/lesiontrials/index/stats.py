"""Per-dataset summary statistics of the nodule index."""

from __future__ import annotations

from typing import Any

import pandas as pd

from lesiontrials import anatomy


def _scans(rows: pd.DataFrame) -> int:
    """Distinct scans: ``ct_id`` is unique within a dataset only, so count (dataset, ct_id)."""
    return int(rows[["dataset", "ct_id"]].drop_duplicates().shape[0])


def quality_table(info: dict[str, Any]) -> pd.DataFrame:
    """index.json's quality flags as one row per (dataset, column) that has a flag:
    ``out_of_range`` and ``missing`` counts, ``derived`` = how the index computed it."""
    records = []
    for dataset, source in sorted(info.get("datasets", {}).items()):
        for column, flags in source.get("quality", {}).items():
            records.append({"dataset": dataset, "column": column,
                            "out_of_range": int(flags.get("out_of_range", 0)),
                            "missing": int(flags.get("missing", 0)),
                            "derived": str(flags.get("derived", ""))})
    return pd.DataFrame.from_records(
        records, columns=["dataset", "column", "out_of_range", "missing", "derived"])


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
            "scans": _scans(rows),
            "hosts": _scans(rows[rows["host_available"]]),
            "out_of_range_rows": int((rows["quality_flags"].fillna("") != "").sum()),
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
