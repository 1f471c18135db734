"""Coverage and bias of the report's per-task synthetic-vs-real Spearman ρ (issue 14).
JSON out, one object per scenario.

Simulation (``lesiontrials.analysis.simulate_transfer``): model × condition cells whose
synthetic and real true logits share a model, condition and interaction part and differ
by a source-specific deviation of SD ``transfer_sd`` (0.2: ρ ≈ 0.9; 0.6: ρ ≈ 0.6); every
cell of a source answers the same clustered cases (case effect shared by all cells, case
× model effect, slice effect; 1 + Poisson(0.3) slices per case). The estimand is Spearman
ρ between the cells' true accuracies, for the cells as they are (re-drawn in every
simulated data set, so coverage is averaged over cell configurations). Scenarios: the
demo (4 models × 4 conditions, 90 synthetic and 13 real cases per cell), a mid-size
study (6 × 4, 300 / 60) and the paper's shape (3 × 4 per task, 900 / 300).

Keys: ``coverage_rho`` — the report's interval (``spearman_cells_interval``: cases and
cells resampled, basic bootstrap); ``coverage_rho_previous_models`` — the previous rule
(percentile bootstrap over whole models); ``coverage_rho_cells_only`` — percentile over
cells (the diagnostic's ``real_agreement``); ``bias_rho`` — mean ρ̂ − ρ; each with its
Monte-Carlo SE, plus the mean interval width.

Usage: ``python benchmarks/bench_spearman_cells.py [--sims N] [--replicates B] [--quick]``
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import math
import time

import numpy as np

from lesiontrials.analysis.significance import (
    spearman_cells_interval,
    spearman_interval,
    spearman_rho,
)
from lesiontrials.analysis.simulate_transfer import (
    TransferDesign,
    cell_logits,
    simulate_source,
    true_rho,
)

DESIGNS = (TransferDesign("demo", models=4, conditions=4, synthetic_cases=90, real_cases=13),
           TransferDesign("mid", models=6, conditions=4, synthetic_cases=300, real_cases=60),
           TransferDesign("paper", models=3, conditions=4, synthetic_cases=900,
                          real_cases=300))
TRANSFER_SDS = (0.2, 0.6)


def _rate(hits: list[bool]) -> tuple[float, float]:
    p = float(np.mean(hits))
    return round(p, 3), round(math.sqrt(max(p * (1 - p), 1e-12) / len(hits)), 3)


def coverage(design: TransferDesign, *, sims: int, replicates: int, seed: int
             ) -> dict[str, object]:
    """Coverage of the three intervals and the bias of ρ̂ on ``sims`` data sets."""
    rng = np.random.default_rng(seed)
    groups = np.repeat(np.arange(design.models), design.conditions)
    hits: dict[str, list[bool]] = {"rho": [], "rho_previous_models": [],
                                   "rho_cells_only": []}
    errors, widths, truths = [], [], []
    for _ in range(sims):
        synthetic_logits, real_logits = cell_logits(design, rng)
        truth = true_rho(design, synthetic_logits, real_logits)
        synthetic = simulate_source(design, synthetic_logits, design.synthetic_cases, rng)
        real = simulate_source(design, real_logits, design.real_cases, rng)
        rho, low, high = spearman_cells_interval(synthetic, real, rng=rng,
                                                 replicates=replicates)
        if not np.isfinite(rho):
            continue
        x, y = synthetic.accuracies(), real.accuracies()
        truths.append(truth)
        errors.append(spearman_rho(x, y) - truth)
        widths.append(high - low)
        hits["rho"].append(low <= truth <= high)
        for key, by in (("rho_previous_models", groups), ("rho_cells_only", None)):
            _, low, high = spearman_interval(x, y, rng=rng, replicates=replicates, groups=by)
            hits[key].append(bool(low <= truth <= high))
    out: dict[str, object] = {
        "bench": "spearman_cells", "design": design.name, "cells": design.cells,
        "models": design.models, "synthetic_cases": design.synthetic_cases,
        "real_cases": design.real_cases, "transfer_sd": design.transfer_sd,
        "sims": len(errors), "replicates": replicates,
        "mean_true_rho": round(float(np.mean(truths)), 3),
        "bias_rho": round(float(np.mean(errors)), 4),
        "bias_rho_mcse": round(float(np.std(errors, ddof=1) / math.sqrt(len(errors))), 4),
        "mean_width_rho": round(float(np.mean(widths)), 3)}
    for key, values in hits.items():
        out[f"coverage_{key}"], out[f"coverage_{key}_mcse"] = _rate(values)
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sims", type=int, default=400)
    parser.add_argument("--replicates", type=int, default=1000)
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--designs", nargs="*", default=[d.name for d in DESIGNS],
                        help="run only these designs (demo, mid, paper)")
    args = parser.parse_args()
    if args.quick:
        args.sims, args.replicates = 20, 200
    for index, base in enumerate(DESIGNS):
        if base.name not in args.designs:
            continue
        for offset, transfer_sd in enumerate(TRANSFER_SDS):
            design = dataclasses.replace(base, transfer_sd=transfer_sd)
            start, cpu = time.perf_counter(), time.process_time()
            record = coverage(design, sims=args.sims, replicates=args.replicates,
                              seed=100 * index + offset)
            record.update({"wall_s": round(time.perf_counter() - start, 1),
                           "cpu_s": round(time.process_time() - cpu, 1)})
            print(json.dumps(record), flush=True)


if __name__ == "__main__":
    main()
