"""The plan audit: target versus achieved, per trial and per stratum."""

from __future__ import annotations

from typing import Any

import pandas as pd

from lesiontrials import anatomy
from lesiontrials.trials.spec import TrialSpec
from lesiontrials.trials.templates import get_template


def _shares(values: pd.Series, order: tuple[str, ...] | None = None) -> dict[str, float]:
    counts = values.value_counts(normalize=True)
    keys = order or tuple(sorted(counts.index.astype(str)))
    return {str(k): round(float(counts.get(k, 0.0)), 4) for k in keys}


def _prevalence(primary: pd.DataFrame) -> float | None:
    labels = primary.loc[~primary["nodule_free"], "label"].dropna()
    return round(float(labels.mean()), 4) if len(labels) else None


def _percent_fallbacks(manifest: pd.DataFrame) -> dict[str, int]:
    """Nodules whose out-of-range donor percents were replaced (insert/fallback.py), per donor
    dataset (see ``target_pct_fallback``)."""
    rows = manifest[manifest["target_pct_fallback"].astype(str) != ""]
    return {str(k): int(v) for k, v in rows["donor_dataset"].value_counts().sort_index().items()}


def audit_manifest(manifest: pd.DataFrame, spec: TrialSpec) -> dict[str, Any]:
    """Achieved prevalence, size/lobe/demographic distributions, reuse counts."""
    primary = manifest[manifest["primary"]]
    nodules = primary[~primary["nodule_free"]]
    labelled = nodules["label"].dropna()
    target = spec.prevalence
    if target is None and spec.template:
        target = get_template(spec.template).malignancy_rate
    diameters = nodules["planned_diameter_mm"].dropna()
    bins = pd.Series([anatomy.profile_size_bin(x) for x in diameters], dtype="string")
    return {
        "cases": int(primary["case_uid"].nunique()),
        "nodules": int((~manifest["nodule_free"]).sum()),
        "nodule_free_cases": int(primary["nodule_free"].sum()),
        "companions": int((~manifest["primary"]).sum()),
        "prevalence_target": target,
        "prevalence_achieved": round(float(labelled.mean()), 4) if len(labelled) else None,
        "unlabelled_nodules": int(nodules["label"].isna().sum()),
        "size_bins_planned": _shares(bins, anatomy.PROFILE_SIZE_BINS) if len(bins) else {},
        "size_bins_target": spec.size.bucket_weights or (
            get_template(spec.template).size_weight_map() if spec.template else None),
        "lobes_planned": _shares(nodules["target_lobe"]) if len(nodules) else {},
        "sex": _shares(primary["sex"].replace("", "unknown")),
        "age_mean": round(float(primary["age"].mean()), 2) if primary["age"].notna().any()
        else None,
        "donors_distinct": int(nodules["donor_uid"].nunique()),
        "donors_reused": int(nodules["donor_uid"].duplicated().sum()),
        "hosts_distinct": int(primary[["host_dataset", "host_ct_id"]].drop_duplicates()
                              .shape[0]),
        "percent_fallbacks": _percent_fallbacks(manifest),
        "scale_range": [float(nodules["scale"].min()), float(nodules["scale"].max())]
        if len(nodules) else None,
        "by_stratum": {
            str(name): {"cases": len(rows),
                        "prevalence_achieved": _prevalence(rows)}
            for name, rows in primary.groupby("stratum", sort=True)},
    }
