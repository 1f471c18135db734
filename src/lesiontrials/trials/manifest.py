"""The trial manifest: the contract between planning (decide) and insertion (do).

One row per planned nodule; a nodule-free case has one row with ``nodule_free`` true and
empty donor fields. Rows of one case share ``case_uid``; ``nodule_index`` 0 is the
primary nodule, companions follow. Paths are relative to the data root.
Written as ``trials/{trial}/manifest.parquet`` (+ ``manifest.csv``).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final

import pandas as pd

from lesiontrials.anatomy import LIDC_CHARACTERISTICS
from lesiontrials.errors import InputError


@dataclass(frozen=True)
class Column:
    name: str
    dtype: str  # pandas dtype
    description: str


MANIFEST_COLUMNS: Final[tuple[Column, ...]] = (
    Column("trial", "string", "trial name"),
    Column("design", "string", "design name (controlled_prevalence, …, targeted)"),
    Column("case_uid", "string", "stable case id: '{trial}-{case_index:05d}'"),
    Column("case_index", "int64", "0-based case number within the trial"),
    Column("nodule_index", "int64", "0 = primary nodule, 1.. = companions; 0 for nodule-free"),
    Column("primary", "bool", "the case's primary nodule (the one the truth is about)"),
    Column("nodule_free", "bool", "case without an inserted nodule (presence negatives)"),
    Column("seed", "int64", "per-case seed derived from (trial seed, case_uid)"),
    # host
    Column("host_dataset", "string", "dataset of the host scan"),
    Column("host_ct_id", "string", "host scan id"),
    Column("host_patient_id", "string", "host patient id"),
    Column("host_seg_path", "string", "host label map, relative to the data root"),
    Column("host_ct_path", "string", "host raw CT relative to the data root ('' if none)"),
    Column("host_natives", "string", "JSON list of the host scan's own nodules (uid, mask_path, "
           "mask_scope, point_mm) shown by its raw CT: inserted nodules keep clear of them"),
    # donor
    Column("donor_uid", "string", "nodule_uid of the donor in the index ('' if nodule-free)"),
    Column("donor_dataset", "string", "donor dataset"),
    Column("donor_patient_id", "string", "donor patient id"),
    Column("donor_mask_path", "string", "donor mask, relative to the data root"),
    Column("donor_diameter_mm", "float64", "donor's mean (equivalent) diameter"),
    Column("donor_mask_scope", "string", "nodule: the mask file is this nodule's; scan: it holds "
           "every nodule of the donor scan and the component nearest donor_x/y/z_mm is used"),
    Column("donor_source_mask_path", "string", "a world phantom's native nodule: the fine mask "
           "of the library donor it was sampled from (index source_donor_uid), which the "
           "renderer draws its shape from ('' = none: the donor mask itself)"),
    Column("donor_seg_path", "string", "the donor scan's label map ('' = none): out-of-range "
           "percents are measured there (insert/fallback.py)"),
    Column("donor_x_mm", "float64", "donor's centre in its own scan (profile coordX), RAS mm"),
    Column("donor_y_mm", "float64", "donor's centre in its own scan (profile coordY), RAS mm"),
    Column("donor_z_mm", "float64", "donor's centre in its own scan (profile coordZ), RAS mm"),
    Column("label", "Int8", "the donor's real label: 1 malignant, 0 benign, <NA> unknown"),
    *(Column(f"donor_{name}", "float64", f"donor's LIDC {name} score (NaN unknown)")
      for name in LIDC_CHARACTERISTICS),
    Column("appearance", "string", "free-text lesion appearance override ('' = from donor)"),
    # placement
    Column("placement", "string", "native | profile_faithful | prescribed | random"),
    Column("target_lobe", "string", "canonical lobe name ('' = any lobe, random mode)"),
    Column("target_lobe_cc_pct", "float64", "target percent position in the lobe (NaN = free)"),
    Column("target_lobe_ml_pct", "float64", "see anatomy: 0 patient-left … 100 patient-right"),
    Column("target_lobe_ap_pct", "float64", "0 posterior … 100 anterior"),
    Column("target_pct_fallback", "string", "profile_faithful: the donor's lobe percents "
           "outside [0, 100] (index flag out_of_range), set by insert/fallback.py instead, e.g. "
           "'ml,ap' ('' = none)"),
    Column("target_zones", "string", "zones (comma-separated, any of) the centroid must "
           "realise ('' = any); placement draws inside them and verifies"),
    Column("target_position", "string", "central | peripheral the centroid must realise "
           "('' = either)"),
    Column("target_x_mm", "float64", "native placement: donor centroid, RAS world mm"),
    Column("target_y_mm", "float64", "native placement: donor centroid, RAS world mm"),
    Column("target_z_mm", "float64", "native placement: donor centroid, RAS world mm"),
    Column("min_pleural_mm", "float64", "minimum pleural distance of the placed nodule"),
    Column("min_gap_mm", "float64", "minimum gap between the nodules of one case (mm)"),
    Column("planned_diameter_mm", "float64", "diameter after scaling"),
    Column("scale", "float64", "planned_diameter_mm / donor_diameter_mm (1.0 = unscaled)"),
    # host demographics
    Column("age", "float64", "host age (years)"),
    Column("sex", "string", "host sex M/F ('' unknown)"),
    Column("smoking_status", "string", "host smoking status"),
    Column("pack_years", "float64", "host pack-years"),
    # design metadata
    Column("stratum", "string", "design stratum (size bin, lobe, sex×age band, dataset, …)"),
    Column("replicate", "int64", "bootstrap replicate (-1 when not a bootstrap)"),
    Column("source_case_uid", "string", "bootstrap: the resampled case of the base cohort"),
    Column("round", "int64", "screening round (-1 when not a screening simulation)"),
    Column("sweep_value", "float64", "counterfactual: value of the swept field"),
    Column("pairing", "string", "twin-cross pairing: one_to_one | one_to_many | whole_patient"),
    # longitudinal screening (trials/longitudinal.py); absent in a manifest planned before
    # they existed, which had no repeat scans: the defaults below say exactly that
    Column("prior_case_uid", "string", "repeat scan: the previous round's case of the same "
           "patient ('' = no prior scan)"),
    Column("interval_days", "float64", "repeat scan: days since the prior scan (NaN = none)"),
    Column("growth_model", "string", "the nodule's growth model ('' none, 'new' incident "
           "nodule, e.g. malignant_solid, benign_stable)"),
    Column("vdt_days", "float64", "volume doubling time in days (negative: halving; NaN: "
           "stable or not a repeat)"),
    Column("growth_factor", "float64", "planned diameter / the prior scan's planned diameter "
           "(NaN when not a repeat nodule)"),
    Column("growth_limited", "bool", "the grown diameter was held at the 3-30 mm limits"),
)
#: defaults of the columns a manifest planned before longitudinal screening lacks
LONGITUDINAL_DEFAULTS: Final = {"prior_case_uid": "", "interval_days": float("nan"),
                                "growth_model": "", "vdt_days": float("nan"),
                                "growth_factor": float("nan"), "growth_limited": False}
#: Columns added after manifests were first written, read as "none" when absent (a trial
#: planned before the column existed).
LATER_DEFAULTS: Final = {"donor_source_mask_path": ""}
MANIFEST_COLUMN_NAMES: Final = tuple(c.name for c in MANIFEST_COLUMNS)
#: Columns of the release-compatible manifest CSV, in order.
RELEASE_CSV_COLUMNS: Final = (
    "case_uid", "host_dataset", "host_ct_id", "donor_dataset", "donor_uid", "label",
    "target_lobe", "planned_diameter_mm", "scale", "nodule_index", "design",
)


def empty_manifest() -> pd.DataFrame:
    return pd.DataFrame({c.name: pd.Series(dtype=c.dtype) for c in MANIFEST_COLUMNS})


def validate_manifest(frame: pd.DataFrame, *, source: str = "manifest") -> pd.DataFrame:
    """Check columns and invariants; return the frame with the contract's dtypes."""
    frame = frame.assign(**{k: v for k, v in {**LONGITUDINAL_DEFAULTS, **LATER_DEFAULTS}.items()
                            if k not in frame.columns})
    missing = [c.name for c in MANIFEST_COLUMNS if c.name not in frame.columns]
    if missing:
        raise InputError(f"manifest is missing columns {missing}", path=source,
                         fix="re-plan the trial with `lesiontrials plan`")
    out = frame.loc[:, list(MANIFEST_COLUMN_NAMES)].copy()
    for column in MANIFEST_COLUMNS:
        if column.dtype == "string":
            out[column.name] = out[column.name].astype("string").fillna("")
        else:
            out[column.name] = out[column.name].astype(column.dtype)
    keys = out["case_uid"] + "#" + out["nodule_index"].astype(str)
    if keys.duplicated().any():
        raise InputError(f"duplicate (case_uid, nodule_index) {keys[keys.duplicated()].iloc[0]}",
                         path=source, fix="re-plan the trial")
    primaries = out.groupby("case_uid")["primary"].sum()
    if (primaries != 1).any():
        raise InputError(f"case {primaries[primaries != 1].index[0]} must have exactly one "
                         "primary row", path=source, fix="re-plan the trial")
    bad_scale = ~out["nodule_free"] & ~(out["scale"] > 0)
    if bad_scale.any():
        raise InputError("scale must be > 0 for every nodule", path=source,
                         row=int(bad_scale.to_numpy().nonzero()[0][0]) + 1, column="scale",
                         fix="re-plan the trial")
    return out
