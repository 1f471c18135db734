"""Will it transfer? Donor/host diagnostic per cell and per task, stability, agreement.

A task whose correctness varies mostly with the lesion (donor-driven) is predicted to
keep its synthetic model/condition ranking on real CT; one that varies mostly with the
anatomy (host-driven) is not, because synthetic anatomy is where synthetic and real data
differ. The verdict uses no real label.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from lesiontrials.analysis.significance import spearman_interval
from lesiontrials.analysis.variance import (
    Decomposition,
    bootstrap_decomposition,
    crossed_frame,
    verdict,
)
from lesiontrials.seeding import rng_for

PREDICTION = {"donor-driven": "transfers", "host-driven": "does not transfer",
              "undetermined": "no prediction"}


def _record(dec: Decomposition) -> dict[str, Any]:
    donor, host, residual = dec.estimate.shares
    return {"n": dec.n, "donors": dec.donors, "hosts": dec.hosts,
            "donor_share": donor, "host_share": host, "residual_share": residual,
            "donor_share_ci": list(dec.donor_share_ci), "host_share_ci": list(dec.host_share_ci),
            "difference_ci": list(dec.difference_ci),
            "host_to_donor_ratio": dec.estimate.host_to_donor,
            "host_to_donor_ratio_ci": list(dec.ratio_ci), "verdict": verdict(dec)}


def cell_diagnostics(crossed: pd.DataFrame, *, value: str = "correct", seed: int = 0,
                     replicates: int = 500) -> pd.DataFrame:
    """Decomposition per model × task × condition of a crossed (donor × host) design."""
    rows = []
    data = crossed_frame(crossed, value=value)
    for (model, task, condition), group in data.groupby(["model", "task", "condition"]):
        if group["donor_uid"].nunique() < 2 or group["host_ct_id"].nunique() < 2:
            continue
        dec = bootstrap_decomposition(group[value].to_numpy(float), group["donor_uid"].to_numpy(),
                                      group["host_ct_id"].to_numpy(), replicates=replicates,
                                      rng=rng_for(seed, "cell", model, task, condition))
        rows.append({"model": model, "task": task, "condition": condition, "value": value,
                     **_record(dec)})
    return pd.DataFrame(rows)


def _pooled(group: pd.DataFrame, value: str, seed: int, key: str,
            replicates: int) -> Decomposition | None:
    """One decomposition per task over all its cells, each cell centred on its own mean."""
    if group["donor_uid"].nunique() < 2 or group["host_ct_id"].nunique() < 2:
        return None
    centred = group[value] - group.groupby(["model", "condition"])[value].transform("mean")
    return bootstrap_decomposition(centred.to_numpy(float), group["donor_uid"].to_numpy(),
                                   group["host_ct_id"].to_numpy(), replicates=replicates,
                                   rng=rng_for(seed, "task", key))


def task_verdicts(crossed: pd.DataFrame, *, value: str = "correct", seed: int = 0,
                  replicates: int = 500) -> dict[str, dict[str, Any]]:
    """Per task: pooled shares, verdict, transfer prediction, leave-one-source-out check."""
    data = crossed_frame(crossed, value=value)
    out: dict[str, dict[str, Any]] = {}
    for task, group in data.groupby("task"):
        dec = _pooled(group, value, seed, str(task), replicates)
        if dec is None:
            continue
        record = _record(dec)
        record["prediction"] = PREDICTION[record["verdict"]]
        record["leave_one_source_out"] = _stability(group, value, seed, str(task), replicates,
                                                    record["verdict"])
        out[str(task)] = record
    return out


def _stability(group: pd.DataFrame, value: str, seed: int, task: str, replicates: int,
               full: str) -> dict[str, Any]:
    checks = []
    for column in ("host_dataset", "donor_dataset"):
        if column not in group.columns or group[column].nunique() < 2:
            continue
        for source in sorted(group[column].astype(str).unique()):
            rest = group[group[column].astype(str) != source]
            dec = _pooled(rest, value, seed, f"{task}-without-{column}-{source}", replicates)
            if dec is not None:
                checks.append({"without": f"{column}={source}", "verdict": verdict(dec)})
    survives = all(c["verdict"] == full for c in checks) if checks else None
    return {"checks": checks, "verdict_survives": survives}


def real_agreement(cells: pd.DataFrame, *, seed: int = 0, replicates: int = 1000
                   ) -> dict[str, dict[str, Any]]:
    """Per task: Spearman ρ and R² between synthetic and real accuracy over model ×
    condition cells, with bootstrap CIs over cells."""
    wide = cells.pivot_table(index=["model", "condition", "task"], columns="source",
                             values="accuracy").reset_index()
    if not {"synthetic", "real"} <= set(wide.columns):
        return {}
    out = {}
    for task, rows in wide.dropna(subset=["synthetic", "real"]).groupby("task"):
        x, y = rows["synthetic"].to_numpy(), rows["real"].to_numpy()
        rho, rho_low, rho_high = spearman_interval(
            x, y, rng=rng_for(seed, "agreement", str(task)), replicates=replicates)
        r2 = float(np.corrcoef(x, y)[0, 1] ** 2) if len(x) >= 3 and np.ptp(x) and np.ptp(y) \
            else float("nan")
        rng = rng_for(seed, "agreement-r2", str(task))
        boots_r2 = []
        for _ in range(replicates if len(x) >= 3 else 0):
            pick = rng.integers(0, len(x), len(x))
            bx, by = x[pick], y[pick]
            boots_r2.append(np.corrcoef(bx, by)[0, 1] ** 2 if np.ptp(bx) and np.ptp(by)
                            else np.nan)
        out[str(task)] = {"cells": len(x), "spearman_rho": rho,
                          "spearman_rho_ci": [rho_low, rho_high], "r2": r2,
                          "r2_ci": _ci(boots_r2)}
    return out


def _ci(values: list[float]) -> list[float]:
    array = np.asarray(values, dtype=float)
    array = array[np.isfinite(array)]
    if array.size == 0:
        return [float("nan"), float("nan")]
    return [float(v) for v in np.quantile(array, [0.025, 0.975])]


def verdict_table(verdicts: dict[str, dict[str, Any]],
                  agreement: dict[str, dict[str, Any]]) -> pd.DataFrame:
    """The label-free verdict next to what real data showed."""
    rows = []
    for task, record in sorted(verdicts.items()):
        real = agreement.get(task, {})
        rows.append({"task": task, "donor_share": record["donor_share"],
                     "host_share": record["host_share"],
                     "host_to_donor": record["host_to_donor_ratio"],
                     "verdict": record["verdict"], "prediction": record["prediction"],
                     "survives_leave_one_out": record["leave_one_source_out"]["verdict_survives"],
                     "real_spearman_rho": real.get("spearman_rho"), "real_r2": real.get("r2"),
                     "real_cells": real.get("cells", 0)})
    return pd.DataFrame(rows)
