"""Per-patient survival features from the nodule index (one row per patient).

Lesion descriptors are measured (profiler columns of the index); clinical covariates come
from the index's demographic columns; outcomes from its outcome columns when the dataset
has them (e.g. NSCLC-Radiomics ``survival.time`` / ``deadstatus.event``).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from lesiontrials.errors import InputError

#: Measured lesion descriptors per patient (the "CT" feature set).
LESION_FEATURES = ("n_nodules", "log_max_diameter_mm", "log_total_volume_mm3",
                   "min_pleural_distance_mm")
#: Clinical covariates the clinical-only model uses (when present for every patient).
CLINICAL_CANDIDATES = ("age", "sex_male", "pack_years")


@dataclass(frozen=True)
class PatientTable:
    """One row per patient: ``patient_id``, features, and outcomes when the data has them.

    ``clinical``: clinical covariates usable for every patient; ``dropped_clinical``:
    candidates left out with the reason (recorded in the output, never silent).
    """

    frame: pd.DataFrame
    lesion: tuple[str, ...]
    clinical: tuple[str, ...]
    dropped_clinical: dict[str, str]
    has_outcomes: bool


def _first(values: pd.Series) -> object:
    present = values.dropna()
    return present.iloc[0] if len(present) else np.nan


def patient_table(index: pd.DataFrame, *, source: str = "nodule index") -> PatientTable:
    """Aggregate the nodule index to patients (keyed ``dataset/patient_id``)."""
    if index.empty:
        raise InputError("the index has no nodules", path=source,
                         fix="build the index with `lesiontrials index build`")
    key = index["dataset"].astype(str) + "/" + index["patient_id"].astype(str)
    grouped = index.assign(_key=key).groupby("_key", sort=True)
    frame = pd.DataFrame({
        "n_nodules": grouped.size().astype(float),
        "log_max_diameter_mm": np.log(grouped["nodule_mean_diam_mm"].max()),
        "log_total_volume_mm3": np.log1p(grouped["nodule_vol_mm3"].sum(min_count=1)),
        "min_pleural_distance_mm": grouped["pleural_distance_mm"].min(),
        "age": grouped["age"].agg(_first),
        "sex_male": grouped["sex"].agg(_first).map({"M": 1.0, "F": 0.0}),
        "pack_years": grouped["pack_years"].agg(_first),
    })
    for column in LESION_FEATURES:
        bad = ~np.isfinite(frame[column].to_numpy(dtype=float))
        if bad.any():
            raise InputError(f"patient {frame.index[bad][0]!r} has no finite {column}",
                             path=source, column=column,
                             fix="re-profile the nodules (lesiontrials index build)")
    clinical, dropped = [], {}
    for column in CLINICAL_CANDIDATES:
        values = pd.to_numeric(frame[column], errors="coerce")
        frame[column] = values.astype(float)
        if values.isna().any():
            dropped[column] = f"missing for {int(values.isna().sum())} of {len(values)} patients"
        elif values.nunique() < 2:
            dropped[column] = "constant over the cohort"
        else:
            clinical.append(column)
    if not clinical:
        raise InputError("no clinical covariate is known for every patient", path=source,
                         column="age", fix="add age / sex / pack_years to the meta tables")
    has_outcomes = _attach_outcomes(frame, index, grouped, source=source)
    frame.index.name = "patient_id"
    return PatientTable(frame=frame.reset_index(), lesion=LESION_FEATURES,
                        clinical=tuple(clinical), dropped_clinical=dropped,
                        has_outcomes=has_outcomes)


def _attach_outcomes(frame: pd.DataFrame, index: pd.DataFrame, grouped: object, *,
                     source: str) -> bool:
    if "survival_time_days" not in index.columns:
        return False
    time = pd.to_numeric(index["survival_time_days"], errors="coerce")
    if time.isna().all():
        return False
    if time.isna().any():
        row = int(np.flatnonzero(time.isna().to_numpy())[0])
        raise InputError("some nodules have survival times and others not", path=source,
                         row=row, column="survival_time_days",
                         fix="give every patient an outcome or restrict the index to those")
    if (time <= 0).any():
        raise InputError("survival time must be > 0 days", path=source,
                         column="survival_time_days", fix="correct the meta table")
    event = index["death_event"].astype(str).str.strip().str.lower().map(
        {"1": True, "1.0": True, "true": True, "dead": True,
         "0": False, "0.0": False, "false": False, "alive": False})
    if event.isna().any():
        row = int(np.flatnonzero(event.isna().to_numpy())[0])
        raise InputError("death_event must be 0/1", path=source, row=row,
                         column="death_event", fix="code deaths as 1 and censored as 0")
    key = index["dataset"].astype(str) + "/" + index["patient_id"].astype(str)
    outcomes = pd.DataFrame({"time_days": time.to_numpy(), "event": event.to_numpy(dtype=bool),
                             "_key": key.to_numpy()}).groupby("_key").first()
    frame["time_days"] = outcomes["time_days"].reindex(frame.index).astype(float)
    frame["event"] = outcomes["event"].reindex(frame.index).astype(bool)
    return True


def select_cohort(index: pd.DataFrame, *, datasets: tuple[str, ...] | None = None,
                  source: str = "nodule index") -> tuple[pd.DataFrame, dict[str, str]]:
    """Nodules of the survival cohort and the datasets left out, with the reason.

    Default cohort: every dataset whose nodules were profiled in host anatomy
    (``host_available``, so lesion descriptors are measured) and whose patients have an
    age (the first clinical covariate). Naming ``datasets`` uses exactly those (an
    unknown name is an error).
    """
    known = sorted(index["dataset"].astype(str).unique())
    if datasets is not None:
        unknown = [d for d in datasets if d not in known]
        if unknown:
            raise InputError(f"dataset {unknown[0]!r} is not in the index (has {known})",
                             path=source, column="dataset", fix="name indexed datasets")
        keep = set(datasets)
        return (index[index["dataset"].astype(str).isin(keep)],
                {d: "not requested" for d in known if d not in keep})
    excluded: dict[str, str] = {}
    for name in known:
        rows = index[index["dataset"].astype(str) == name]
        if not rows["host_available"].all():
            excluded[name] = "nodules not profiled in host anatomy"
        elif rows["age"].isna().any():
            excluded[name] = "no age for some patients"
    chosen = index[~index["dataset"].astype(str).isin(excluded)]
    if chosen.empty:
        raise InputError("no dataset has host-profiled nodules with clinical data",
                         path=source, column="host_available",
                         fix="build the world/index with hosts, or name --dataset")
    return chosen, excluded
