"""Simulation check of the survival head's intervals (lesiontrials/survival).

Known truth: patients' covariates as in a screening cohort (age, sex, pack-years, nodule
count, largest diameter, total volume, pleural distance); outcomes from the documented
Weibull proportional-hazards model (lesiontrials.survival.simulate). Two scenarios:

* ``signal``: the default generating model (diameter and nodule count carry hazard the
  clinical covariates do not);
* ``null``: CT features carry no hazard (only age and pack-years do), so the CT model can
  only add noise.

Checks: (1) coverage of the 95 % Wald CI of the hazard ratio per SD (unpenalised Cox);
(2) coverage of the refitting patient-bootstrap 95 % CIs of the cross-validated Harrell C
of each model and of ΔC. The estimand of a cross-validated score is the procedure's
expected score at this N, so its "truth" is the mean point estimate over ``truth_reps``
independent cohorts. Also reported: the coverage the same studies would have had with the
naive interval (scoring fixed out-of-fold predictions, no refit).

Usage: ``python benchmarks/bench_survival.py [--studies 30] [--boot 60] [--n 120]``;
prints JSON.
"""

from __future__ import annotations

import argparse
import json
import time

import numpy as np
import pandas as pd

from lesiontrials.survival.features import LESION_FEATURES
from lesiontrials.survival.metrics import harrell_c
from lesiontrials.survival.model import (
    bootstrap_scores,
    cross_validate,
    evaluation_times,
    fold_ids,
    hazard_ratios,
)
from lesiontrials.survival.simulate import DEFAULT_LOG_HR, WeibullModel, simulate_outcomes

CLINICAL = ("age", "sex_male", "pack_years")
FULL = (*CLINICAL, *LESION_FEATURES)
SETS = {"clinical": list(range(len(CLINICAL))), "clinical+ct": list(range(len(FULL)))}
SCENARIOS = {"signal": WeibullModel(),
             "null": WeibullModel(log_hr={"age": 0.30, "pack_years": 0.20})}


def cohort(n: int, rng: np.random.Generator) -> pd.DataFrame:
    count = rng.integers(1, 4, n).astype(float)
    diameter = rng.lognormal(np.log(9.0), 0.45, n)
    return pd.DataFrame({
        "age": rng.normal(64.0, 7.0, n), "sex_male": rng.integers(0, 2, n).astype(float),
        "pack_years": rng.gamma(4.0, 10.0, n), "n_nodules": count,
        "log_max_diameter_mm": np.log(diameter),
        "log_total_volume_mm3": np.log1p(count * np.pi / 6 * diameter ** 3
                                         * rng.uniform(0.4, 1.0, n)),
        "min_pleural_distance_mm": rng.uniform(0.0, 35.0, n),
    })


def _study(model: WeibullModel, n: int, rng: np.random.Generator) -> tuple[np.ndarray, ...]:
    frame = cohort(n, rng)
    out = simulate_outcomes(frame, model=model, rng=rng)
    frame = frame.assign(**out)
    return (frame, frame[list(FULL)].to_numpy(float), out["time_days"].to_numpy(float),
            out["event"].to_numpy(bool))


def _point_c(x: np.ndarray, t: np.ndarray, e: np.ndarray, rng: np.random.Generator
             ) -> tuple[list[float], list]:
    times = evaluation_times(t, e)
    fits = cross_validate(x, t, e, feature_sets=SETS, times=times, penalizer=0.1,
                          folds=fold_ids(np.arange(len(t)), folds=5, rng=rng))
    return [harrell_c(t, e, f.risk) for f in fits], fits


def _naive(t: np.ndarray, e: np.ndarray, fits: list, rng: np.random.Generator, n_boot: int
           ) -> np.ndarray:
    """Percentile CIs from scoring the fixed out-of-fold risks (no refit): (3, 2)."""
    draws = np.empty((n_boot, 3))
    for b in range(n_boot):
        pick = rng.integers(0, len(t), len(t))
        c = [harrell_c(t[pick], e[pick], f.risk[pick]) for f in fits]
        draws[b] = [c[0], c[1], c[1] - c[0]]
    return np.quantile(draws, [0.025, 0.975], axis=0).T


def scenario(name: str, *, n: int, studies: int, n_boot: int, truth_reps: int,
             seed: int) -> dict[str, object]:
    model = SCENARIOS[name]
    rng = np.random.default_rng(seed)
    truth = np.array([_point_c(*_study(model, n, rng)[1:], rng)[0] for _ in range(truth_reps)])
    truth_c = [truth[:, 0].mean(), truth[:, 1].mean(), (truth[:, 1] - truth[:, 0]).mean()]
    hits, naive_hits, hr_hits, widths = np.zeros(3), np.zeros(3), {}, np.zeros(3)
    for _ in range(studies):
        frame, x, t, e = _study(model, n, rng)
        times = evaluation_times(t, e)
        res = bootstrap_scores(x, t, e, feature_sets=SETS, n_folds=5, times=times,
                               penalizer=0.1, rng=rng, n_boot=n_boot)
        cis = [res.scores["clinical"]["harrell_c"], res.scores["clinical+ct"]["harrell_c"],
               res.delta["harrell_c"]]
        for k, ci in enumerate(cis):
            hits[k] += ci.low <= truth_c[k] <= ci.high
            widths[k] += ci.high - ci.low
        _, fits = _point_c(x, t, e, np.random.default_rng(rng.integers(1 << 31)))
        for k, (lo, hi) in enumerate(_naive(t, e, fits, rng, n_boot)):
            naive_hits[k] += lo <= truth_c[k] <= hi
        hr = hazard_ratios(frame, FULL).set_index("covariate")
        for cov in FULL:
            true_hr = float(np.exp(model.log_hr.get(cov, 0.0)))
            hr_hits[cov] = hr_hits.get(cov, 0) + int(
                hr.loc[cov, "ci_low"] <= true_hr <= hr.loc[cov, "ci_high"])
    labels = ("harrell_c_clinical", "harrell_c_clinical+ct", "delta_harrell_c")
    return {
        "n_patients": n, "studies": studies, "bootstrap": n_boot, "truth_reps": truth_reps,
        "truth": dict(zip(labels, map(float, truth_c), strict=True)),
        "coverage_refit_bootstrap": dict(zip(labels, (hits / studies).tolist(), strict=True)),
        "coverage_naive_fixed_predictions": dict(zip(labels, (naive_hits / studies).tolist(),
                                                     strict=True)),
        "mean_ci_width": dict(zip(labels, (widths / studies).tolist(), strict=True)),
        "hr_wald_coverage": {k: v / studies for k, v in hr_hits.items()},
    }


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--studies", type=int, default=30)
    parser.add_argument("--boot", type=int, default=60)
    parser.add_argument("--n", type=int, default=120)
    parser.add_argument("--truth-reps", type=int, default=200)
    args = parser.parse_args()
    start = time.perf_counter()
    out = {name: scenario(name, n=args.n, studies=args.studies, n_boot=args.boot,
                          truth_reps=args.truth_reps, seed=i)
           for i, name in enumerate(SCENARIOS)}
    out["default_log_hr"] = dict(DEFAULT_LOG_HR)
    out["seconds"] = round(time.perf_counter() - start, 1)
    print(json.dumps(out, indent=2))


if __name__ == "__main__":
    main()
