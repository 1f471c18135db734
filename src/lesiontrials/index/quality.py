"""Dataset quality flags: per dataset and column, what the index found and how it is used.

Three flags, counted per dataset and column in ``index.json`` (``quality``), listed per
row in the index column ``quality_flags`` (``column:flag`` items, comma-separated) and
shown by ``lesiontrials index stats``:

- ``out_of_range``: a percent position outside [0, 100] (the release's DLCS24
  ``lobe_ml_pct``/``lobe_ap_pct`` mostly are). The value is kept as read — never clamped —
  and every consumer treats it as unknown: placement falls back (``trials/rows.py``:
  the axis is re-measured on the donor's own scan, else drawn inside the host lobe —
  ``insert/fallback.py`` — and counted in the plan), range-building designs
  (``targeted``) and the donor matcher skip it.
- ``missing``: an empty cell. Counted only (placement already treats a missing percent as
  free; a missing lobe makes the nodule location-less).
- ``derived``: a column the index computed instead of reading (IMDCT annotation ids, labels
  thresholded from reader scores or set per dataset, per-scan mask files). The entry says
  how it was derived.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from lesiontrials.measurements.schema import PERCENT_COLUMNS as _LOCATION_PERCENTS
from lesiontrials.measurements.schema import REINSERTION_COLUMNS

#: Every percent-position column of a profile row (location and reinsertion).
PERCENT_COLUMNS = (*_LOCATION_PERCENTS, *(c for c in REINSERTION_COLUMNS if c.endswith("_pct")))

PERCENT_RANGE = (0.0, 100.0)
OUT_OF_RANGE = "out_of_range"
MISSING = "missing"
DERIVED = "derived"


def percent_valid(values: np.ndarray | pd.Series) -> np.ndarray:
    """True where a percent position is usable: finite and inside [0, 100]."""
    array = np.asarray(values, dtype=float)
    low, high = PERCENT_RANGE
    return np.isfinite(array) & (array >= low) & (array <= high)


def out_of_range(values: np.ndarray | pd.Series) -> np.ndarray:
    """True where a percent position is present but outside [0, 100]."""
    array = np.asarray(values, dtype=float)
    return np.isfinite(array) & ~percent_valid(array)


def row_flags(frame: pd.DataFrame) -> pd.Series:
    """Each row's out-of-range percent columns as ``column:out_of_range`` items."""
    parts = [np.where(out_of_range(frame[c]), f"{c}:{OUT_OF_RANGE}", "")
             for c in PERCENT_COLUMNS if c in frame.columns]
    if not parts:
        return pd.Series("", index=frame.index, dtype="string")
    joined = [",".join(p for p in items if p) for items in zip(*parts, strict=True)]
    return pd.Series(joined, index=frame.index, dtype="string")


def dataset_quality(frame: pd.DataFrame, *, derived: dict[str, str]) -> dict[str, Any]:
    """One dataset's flags: ``{column: {"out_of_range": n, "missing": n, "derived": how}}``
    with zero counts left out, columns in table order."""
    out: dict[str, dict[str, Any]] = {}
    for column in frame.columns:
        entry: dict[str, Any] = {}
        values = frame[column]
        if column in PERCENT_COLUMNS:
            n_out = int(out_of_range(values).sum())
            if n_out:
                entry[OUT_OF_RANGE] = n_out
        n_missing = int((values.isna() | (values.astype("string") == "")).sum())
        if n_missing:
            entry[MISSING] = n_missing
        if entry:
            out[str(column)] = entry
    for column, how in derived.items():
        out.setdefault(column, {})[DERIVED] = how
    return out


def flagged_columns(quality: dict[str, dict[str, Any]], flag: str) -> dict[str, int]:
    """``{column: count}`` of one flag over one dataset's quality record."""
    return {c: int(v[flag]) for c, v in quality.items() if flag in v and flag != DERIVED}
