"""The nodule index table: its columns, dtypes and validation on read and write."""

from __future__ import annotations

from typing import Final

import numpy as np
import pandas as pd

from lesiontrials import anatomy
from lesiontrials.errors import InputError, shown
from lesiontrials.measurements.schema import EXTRA_COLUMNS, PROFILE_COLUMNS

IDENTITY_COLUMNS: Final = (
    "nodule_uid", "dataset", "patient_id", "ct_id", "annotation_id", "label", "label_source",
    "n_readers", "mask_path", "seg_path", "host_available", "mask_available",
)
DEMOGRAPHIC_ALIASES: Final[dict[str, tuple[str, ...]]] = {
    "age": ("age", "patient_age", "age_years"),
    "sex": ("sex", "gender", "patient_sex"),
    "smoking_status": ("smoking_status", "smoking", "smoker", "smoking_history"),
    "pack_years": ("pack_years", "packyears", "pack-years"),
}
CHARACTERISTIC_ALIASES: Final[dict[str, tuple[str, ...]]] = {
    name: (name, name.replace("_", "")) for name in anatomy.LIDC_CHARACTERISTICS
}
OUTCOME_COLUMNS: Final = ("survival_time_days", "death_event", "overall_stage", "histology")
#: Optional numeric columns kept when a profile table has them (profiler extras, LIDC).
OPTIONAL_NUMERIC_COLUMNS: Final = (
    *EXTRA_COLUMNS, "reader_agreement", "database_diameter_mm", "slice_thickness_mm",
    "pixel_spacing_mm",
)
#: Optional text columns kept when present (e.g. which library donor a native copies).
OPTIONAL_TEXT_COLUMNS: Final = ("source_donor_uid",)
#: ``mask_scope``: "nodule" when ``mask_path`` holds this nodule alone, "scan" when it holds
#: every nodule of the scan (IMDCT) — then :func:`lesiontrials.donors.nodule_component`
#: picks the nodule by its centre. ``quality_flags``: the row's flagged columns
#: (comma-separated ``column:flag``; see :mod:`lesiontrials.index.quality`).
DERIVED_COLUMNS: Final = ("size_bin", "task_size_bin", "mask_scope", "quality_flags")
PROVENANCE_COLUMNS: Final = ("source_file", "source_sha256", "source_row")
INDEX_COLUMNS: Final = (
    *IDENTITY_COLUMNS, *PROFILE_COLUMNS, *OPTIONAL_NUMERIC_COLUMNS, *OPTIONAL_TEXT_COLUMNS,
    *DEMOGRAPHIC_ALIASES,
    *CHARACTERISTIC_ALIASES, *OUTCOME_COLUMNS, *DERIVED_COLUMNS, *PROVENANCE_COLUMNS,
)
_SEX = {"m": "M", "male": "M", "man": "M", "1": "M", "f": "F", "female": "F", "woman": "F",
        "2": "F"}


def _normalise_sex(values: pd.Series) -> pd.Series:
    text = values.astype("string").str.strip().str.lower()
    return text.map(_SEX).astype("string").fillna("")


def _size_bins(diameters: pd.Series, edges: tuple[float, ...], names: tuple[str, ...]) -> pd.Series:
    values = diameters.to_numpy(dtype=float)
    idx = np.searchsorted(np.asarray(edges[1:-1]), values, side="right")
    out = np.asarray(names, dtype=object)[np.clip(idx, 0, len(names) - 1)]
    out[~np.isfinite(values)] = ""
    return pd.Series(out, index=diameters.index, dtype="string")


def validate_index(table: pd.DataFrame, *, source: str = "nodule index") -> pd.DataFrame:
    """Check required columns and uniqueness; fix dtypes; add derived columns."""
    missing = [c for c in IDENTITY_COLUMNS + PROFILE_COLUMNS if c not in table.columns]
    if missing:
        raise InputError(f"index is missing columns {missing}", path=source,
                         fix="rebuild it with `lesiontrials index build`")
    table = table.reindex(columns=INDEX_COLUMNS).copy()
    dup = table["nodule_uid"].duplicated()
    if dup.any():
        raise InputError(f"duplicate nodule_uid {shown(table.loc[dup, 'nodule_uid'].iloc[0])}",
                         path=source, fix="give every nodule a unique annotation id")
    table["label"] = table["label"].astype("Int8")
    table["n_readers"] = pd.to_numeric(table["n_readers"], errors="coerce").fillna(1).astype(
        "Int16")
    for column in ("age", "pack_years", "survival_time_days", *CHARACTERISTIC_ALIASES):
        table[column] = pd.to_numeric(table[column], errors="coerce").astype(float)
    table["sex"] = _normalise_sex(table["sex"])
    for column in ("smoking_status", "overall_stage", "histology", "death_event"):
        table[column] = table[column].astype("string").fillna("")
    table["mask_scope"] = table["mask_scope"].astype("string").fillna("nodule")
    table["quality_flags"] = table["quality_flags"].astype("string").fillna("")
    for column in ("host_available", "mask_available"):
        table[column] = table[column].fillna(False).astype(bool)
    table["source_row"] = pd.to_numeric(table["source_row"]).astype("int64")
    for column in OPTIONAL_NUMERIC_COLUMNS:
        table[column] = pd.to_numeric(table[column], errors="coerce").astype(float)
    for column in OPTIONAL_TEXT_COLUMNS:
        table[column] = table[column].astype("string").fillna("")
    diameter = table["nodule_mean_diam_mm"]
    table["size_bin"] = _size_bins(diameter, anatomy.PROFILE_SIZE_EDGES_MM,
                                   anatomy.PROFILE_SIZE_BINS)
    table["task_size_bin"] = _size_bins(diameter, anatomy.TASK_SIZE_EDGES_MM,
                                        anatomy.TASK_SIZE_BINS)
    for column in ("nodule_uid", "dataset", "patient_id", "ct_id", "annotation_id",
                   "label_source", "mask_path", "seg_path", "source_file", "source_sha256"):
        table[column] = table[column].astype("string")
    return table
