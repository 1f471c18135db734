"""Dataset adapters: one per release dataset, mapping its profile CSV to the index.

Each adapter states where a dataset keeps its patient id, annotation id and label,
and how the native label maps to the unified one (1 malignant, 0 benign, missing).
Datasets without a registered adapter (the embedded world's, users' own) use the
generic one: ``PatientID``, ``AnnotationID`` and an optional 0/1 ``label``.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from lesiontrials.errors import InputError, shown

LabelRule = Callable[[pd.DataFrame, str], pd.Series]

_POSITIVE = {"1", "1.0", "malignant", "cancer", "true", "yes", "m"}
_NEGATIVE = {"0", "0.0", "benign", "false", "no", "b"}


def first_row(bad: pd.Series) -> int:
    """1-based data row (header excluded) of the first ``True`` in ``bad``."""
    return int(np.flatnonzero(bad.to_numpy())[0]) + 1


def binary_label(column: str) -> LabelRule:
    """Native 0/1 (or malignant/benign, cancer/benign) column → unified label."""

    def rule(frame: pd.DataFrame, source: str) -> pd.Series:
        raw = frame[column]
        text = raw.astype("string").str.strip().str.lower()
        out = pd.Series(pd.NA, index=frame.index, dtype="Int8")
        out[text.isin(_POSITIVE).fillna(False)] = 1
        out[text.isin(_NEGATIVE).fillna(False)] = 0
        bad = raw.notna() & out.isna()
        if bad.any():
            row = first_row(bad)
            raise InputError(
                f"unknown label value {shown(raw.iloc[row - 1])}", path=source, row=row,
                column=column,
                fix="use 1/0, malignant/benign or cancer/benign (empty = unlabelled)",
            )
        return out

    return rule


def threshold_label(column: str, *, malignant_at_or_above: float) -> LabelRule:
    """Numeric score column → 1 when ≥ threshold, else 0 (missing stays missing)."""

    def rule(frame: pd.DataFrame, source: str) -> pd.Series:
        values = pd.to_numeric(frame[column], errors="coerce")
        bad = frame[column].notna() & values.isna()
        if bad.any():
            row = first_row(bad)
            raise InputError(f"non-numeric score {shown(frame[column].iloc[row - 1])}", path=source,
                             row=row, column=column, fix="use a number (1-5)")
        out = (values >= malignant_at_or_above).astype("Int8")
        out[values.isna()] = pd.NA
        return out

    return rule


def constant_label(value: int | None) -> LabelRule:
    def rule(frame: pd.DataFrame, source: str) -> pd.Series:
        return pd.Series(pd.NA if value is None else value, index=frame.index, dtype="Int8")

    return rule


@dataclass(frozen=True)
class DatasetAdapter:
    """How one dataset's profile CSV maps onto the unified index."""

    name: str
    patient_column: str
    annotation_column: str | None
    label_rule: LabelRule
    label_source: str
    multi_reader: bool = False
    #: index column → native column (kept when present)
    extra_columns: dict[str, str] = field(default_factory=dict)
    mask_by_ct: bool = False  # IMDCT: one mask file per scan, {ct_id}_seg.nii.gz
    #: multi-reader datasets: the per-reader score averaged before thresholding
    score_column: str | None = None
    malignant_at_or_above: float | None = None

    @property
    def required_columns(self) -> tuple[str, ...]:
        columns = [self.patient_column]
        if self.annotation_column:
            columns.append(self.annotation_column)
        return tuple(columns)


RELEASE_ADAPTERS: dict[str, DatasetAdapter] = {
    a.name: a for a in (
        DatasetAdapter("DLCS24", "patient-id", "AnnotationID", binary_label("label"), "label"),
        DatasetAdapter("LUNA25", "PatientID", "AnnotationID", binary_label("label"), "label"),
        DatasetAdapter("LUNA16", "seriesuid", "AnnotationID", constant_label(None), "none"),
        DatasetAdapter("LUNGx", "PatientID", "AnnotationID", binary_label("CADx_label"),
                       "CADx_label"),
        DatasetAdapter("LNDbv4", "PatientID", "AnnotationID",
                       threshold_label("Malignancy", malignant_at_or_above=3.0),
                       "Malignancy>=3 (reader mean)", multi_reader=True,
                       score_column="Malignancy", malignant_at_or_above=3.0),
        DatasetAdapter("NSCLCR", "PatientID", "AnnotationID", constant_label(1), "all cancers",
                       extra_columns={"survival_time_days": "survival.time",
                                      "death_event": "deadstatus.event",
                                      "overall_stage": "overall.stage",
                                      "histology": "histology"}),
        DatasetAdapter("IMDCT", "PatientID", None, binary_label("CADx_label"), "CADx_label",
                       mask_by_ct=True),
    )
}


def generic_adapter(name: str, columns: pd.Index) -> DatasetAdapter:
    """Adapter for datasets we do not know by name (the embedded world, users' data)."""
    rule = binary_label("label") if "label" in columns else constant_label(None)
    return DatasetAdapter(name, "PatientID", "AnnotationID", rule,
                          "label" if "label" in columns else "none")


def adapter_for(name: str, columns: pd.Index) -> DatasetAdapter:
    return RELEASE_ADAPTERS.get(name) or generic_adapter(name, columns)


def derived_annotation_ids(frame: pd.DataFrame) -> pd.Series:
    """Stable ids for datasets without one: scan id + a hash of the rounded centre and size.

    Independent of row order; two rows describing the same place give the same id.
    """
    keys = (
        frame["ct_id"].astype(str) + "|"
        + frame["coordX"].round(1).astype(str) + "|" + frame["coordY"].round(1).astype(str)
        + "|" + frame["coordZ"].round(1).astype(str) + "|"
        + frame["nodule_mean_diam_mm"].round(1).astype(str)
    )
    digests = [hashlib.sha256(k.encode()).hexdigest()[:10] for k in keys]
    return frame["ct_id"].astype(str) + "_" + pd.Series(digests, index=frame.index)


def group_reader_rows(frame: pd.DataFrame, *, tolerance_mm: float = 5.0) -> np.ndarray:
    """Group rows of one dataset that describe the same nodule (multi-reader rows).

    Rows of the same scan join a group when their centres lie within
    ``max(tolerance_mm, half the larger diameter)``; returns a group number per row.
    Uses ``FindingID`` when the table has it.
    """
    if "FindingID" in frame.columns:
        keys = frame["ct_id"].astype(str) + "|" + frame["FindingID"].astype(str)
        return pd.factorize(keys, sort=True)[0]
    group = np.arange(len(frame))
    xyz = frame[["coordX", "coordY", "coordZ"]].to_numpy(dtype=float)
    diam = frame["nodule_mean_diam_mm"].to_numpy(dtype=float)
    for _, rows in frame.groupby("ct_id", sort=True).indices.items():
        rows = np.sort(rows)
        for a_pos, a in enumerate(rows):
            for b in rows[a_pos + 1:]:
                reach = max(tolerance_mm, 0.5 * np.nanmax([diam[a], diam[b], 0.0]))
                if np.linalg.norm(xyz[a] - xyz[b]) <= reach:
                    old, new = max(group[a], group[b]), min(group[a], group[b])
                    group[group == old] = new
    return pd.factorize(group, sort=True)[0]
