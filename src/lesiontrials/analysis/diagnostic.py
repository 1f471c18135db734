"""Will it transfer? Donor/host diagnostic per cell and per task, stability, agreement.

A task whose correctness varies mostly with the lesion (donor-driven) is predicted to
keep its synthetic model/condition ranking on real CT; one that varies mostly with the
anatomy (host-driven) is not, because synthetic anatomy is where synthetic and real data
differ. The verdict uses no real label.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np
import pandas as pd

from lesiontrials.analysis.share_bootstrap import share_bias
from lesiontrials.analysis.significance import spearman_interval
from lesiontrials.analysis.variance import (
    Decomposition,
    crossed_frame,
    decomposition_intervals,
    verdict,
)
from lesiontrials.seeding import rng_for

PREDICTION = {"donor-driven": "transfers", "host-driven": "does not transfer",
              "undetermined": "no prediction"}


def _record(dec: Decomposition) -> dict[str, Any]:
    donor, host, residual = dec.estimate.shares
    result = verdict(dec)
    reason = ("no variation to split (e.g. a constant-answer model)"
              if not np.isfinite(donor) else
              "intervals separate the shares" if result != "undetermined" else
              "intervals do not separate the shares")
    return {"n": dec.n, "donors": dec.donors, "hosts": dec.hosts,
            "answering_units": dec.units,
            "donor_share": donor, "host_share": host, "residual_share": residual,
            "donor_share_ci": list(dec.donor_share_ci), "host_share_ci": list(dec.host_share_ci),
            "donor_share_bias": dec.share_bias[0], "host_share_bias": dec.share_bias[1],
            "donor_share_excludes_zero": dec.excludes_zero[0],
            "host_share_excludes_zero": dec.excludes_zero[1],
            "difference_ci": list(dec.difference_ci),
            "donor_share_se": dec.standard_errors[0], "host_share_se": dec.standard_errors[1],
            "host_to_donor_ratio": dec.estimate.host_to_donor,
            "host_to_donor_ratio_ci": list(dec.ratio_ci), "verdict": result,
            "verdict_reason": reason}


def _crossed_enough(group: pd.DataFrame) -> bool:
    return bool(group["donor_uid"].nunique() >= 2 and group["host_ct_id"].nunique() >= 2)


def _decomposition(group: pd.DataFrame, value: str, units: np.ndarray | None, *,
                   rng: np.random.Generator | None) -> Decomposition:
    """Jackknife intervals, boundary test on the bias-corrected share estimate (``rng``:
    the parametric bootstrap's stream; ``None`` skips the correction, for verdict-only
    use)."""
    data = (group[value].to_numpy(float), group["donor_uid"].to_numpy(),
            group["host_ct_id"].to_numpy())
    bias = (0.0, 0.0) if rng is None else share_bias(*data, rng=rng, units=units)
    return decomposition_intervals(*data, units=units, share_bias=bias)


def cell_diagnostics(crossed: pd.DataFrame, *, value: str = "correct", seed: int = 0
                     ) -> pd.DataFrame:
    """Decomposition per model × task × condition of a crossed (donor × host) design.

    Intervals: the multiway jackknife (see :func:`.variance.decomposition_intervals`);
    the boundary test at a zero share reads the estimate less its parametric-bootstrap
    bias (:func:`.share_bootstrap.share_bias`, drawn from ``rng_for(seed, "share-bias",
    …)`` of the cell's labels, so the bytes do not depend on order or workers).
    """
    rows = []
    data = crossed_frame(crossed, value=value)
    for (model, task, condition), group in data.groupby(["model", "task", "condition"]):
        if not _crossed_enough(group):
            continue
        dec = _decomposition(group, value, None, rng=rng_for(
            seed, "share-bias", value, str(model), str(task), str(condition)))
        rows.append({"model": model, "task": task, "condition": condition, "value": value,
                     **_record(dec)})
    return pd.DataFrame(rows)


def _pooled(group: pd.DataFrame, value: str, *, rng: np.random.Generator | None = None
            ) -> Decomposition | None:
    """One decomposition per task over all its model × condition cells (answering units):
    each unit centred on its own mean, pairs only within a unit, units weighted by their
    number of informative pairs. ``rng``: see :func:`_decomposition`."""
    if not _crossed_enough(group):
        return None
    units = group["model"].astype(str) + "|" + group["condition"].astype(str)
    return _decomposition(group, value, units.to_numpy(), rng=rng)


def task_verdicts(crossed: pd.DataFrame, *, value: str = "correct", seed: int = 0
                  ) -> dict[str, dict[str, Any]]:
    """Per task: pooled shares, verdict, transfer prediction and, for a determined verdict
    only, whether it survives leaving out each donor and host source in turn (the verdict
    reads the jackknife SEs of the uncorrected estimate; only the zero-share boundary test
    reads the bias-corrected one, see :func:`cell_diagnostics`)."""
    data = crossed_frame(crossed, value=value)
    out: dict[str, dict[str, Any]] = {}
    for task, group in data.groupby("task"):
        dec = _pooled(group, value, rng=rng_for(seed, "share-bias", value, str(task)))
        if dec is None:
            continue
        record = _record(dec)
        record["prediction"] = PREDICTION[record["verdict"]]
        record["leave_one_source_out"] = _stability(group, value, record["verdict"])
        out[str(task)] = record
    return out


def _stability(group: pd.DataFrame, value: str, full: str) -> dict[str, Any]:
    """Leave-one-source-out checks; only a determined verdict can survive or not."""
    if full == "undetermined":
        return {"checks": [], "verdict_survives": None,
                "note": "not checked: the verdict is undetermined"}
    checks = []
    for column in ("host_dataset", "donor_dataset"):
        if column not in group.columns or group[column].nunique() < 2:
            continue
        for source in sorted(group[column].astype(str).unique()):
            dec = _pooled(group[group[column].astype(str) != source], value)
            if dec is not None:
                checks.append({"without": f"{column}={source}", "verdict": verdict(dec)})
    survives = all(c["verdict"] == full for c in checks) if checks else None
    return {"checks": checks, "verdict_survives": survives}


def real_agreement(cells: pd.DataFrame, *, seed: int = 0, replicates: int = 1000,
                   transfer: Mapping[str, Mapping[str, Any]] | None = None
                   ) -> dict[str, dict[str, Any]]:
    """Per task: Spearman ρ (with a CI) and R² (without) between synthetic and real
    accuracy over model × condition cells.

    ``transfer``: the report's per-task ρ (``Analysis.transfer``, whose interval resamples
    the cases inside the cells as well as the cells and covers the true ρ; the percentile
    bootstrap over cells alone covered 0.54 at the demo's size,
    benchmarks/bench_spearman_cells.py): when given, its ρ and CI are used, so the
    diagnostic and the report state one ρ per task. R² (squared Pearson) is a description
    without an interval: the percentile bootstrap over cells it used to carry covered the
    true cells' R² in 0.20–1.00 of simulated data sets (benchmarks/bench_r2_cells.py),
    because each cell's accuracy is measured on a few clustered cases, which attenuates
    R̂² (by −0.32 at the demo's 13 real cases) where resampling cells cannot see it."""
    wide = cells.pivot_table(index=["model", "condition", "task"], columns="source",
                             values="accuracy").reset_index()
    if not {"synthetic", "real"} <= set(wide.columns):
        return {}
    out = {}
    for task, rows in wide.dropna(subset=["synthetic", "real"]).groupby("task"):
        x, y = rows["synthetic"].to_numpy(), rows["real"].to_numpy()
        reported = (transfer or {}).get(str(task))
        if reported is not None:
            rho, rho_low, rho_high = (float(reported[k]) for k in (
                "spearman_rho", "spearman_rho_ci_low", "spearman_rho_ci_high"))
            rule = "cases and cells (the report's; calibrated)"
        else:
            rho, rho_low, rho_high = spearman_interval(
                x, y, rng=rng_for(seed, "agreement", str(task)), replicates=replicates)
            rule = "cells only (not calibrated: covered 0.54 in simulation)"
        r2 = float(np.corrcoef(x, y)[0, 1] ** 2) if len(x) >= 3 and np.ptp(x) and np.ptp(y) \
            else float("nan")
        out[str(task)] = {"cells": len(x), "spearman_rho": rho,
                          "spearman_rho_ci": [rho_low, rho_high],
                          "spearman_rho_ci_rule": rule, "r2": r2,
                          "r2_note": R2_NOTE}
    return out


R2_NOTE = ("descriptive: no interval (a cells-only bootstrap does not see each cell's "
           "measurement error and covered 0.20-1.00 in simulation)")


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
