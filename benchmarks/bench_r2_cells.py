"""Coverage of a cells-only percentile interval for the synthetic-vs-real R² (issue 14).
JSON out, one object per scenario.

Until session 8 the diagnostic's ``real_agreement`` reported R² (squared Pearson
correlation between synthetic and real cell accuracies) with a percentile bootstrap over
the model × condition cells, without a simulation behind it. This bench measures that
rule on the simulation of ``bench_spearman_cells.py``
(:mod:`lesiontrials.analysis.simulate_transfer`: cells whose synthetic and real true
logits share a model, condition and interaction part, every cell of a source answering
the same clustered cases). The estimand is R² between the cells' *true* accuracies for
the cells as they are. Each cell's accuracy is measured on a few clustered cases, which
attenuates R̂² towards 0 (measurement error in both coordinates); resampling cells cannot
see that error (nor the cells being fixed rather than drawn), so the interval is far too
narrow where R² is high and too wide where it is moderate; the diagnostic dropped it
(session 8) because of what this prints.

Keys: ``coverage_r2_cells_percentile`` (the former rule) with its Monte-Carlo SE,
``bias_r2`` (mean R̂² − R²), ``mean_true_r2``, ``mean_width_r2``.

Usage: ``python benchmarks/bench_r2_cells.py [--sims N] [--replicates B] [--quick]``
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import math
import time

import numpy as np

from lesiontrials.analysis.simulate_transfer import (
    TransferDesign,
    cell_logits,
    simulate_source,
    true_accuracy,
)

DESIGNS = (TransferDesign("demo", models=4, conditions=4, synthetic_cases=90, real_cases=13),
           TransferDesign("mid", models=6, conditions=4, synthetic_cases=300, real_cases=60),
           TransferDesign("paper", models=3, conditions=4, synthetic_cases=900,
                          real_cases=300))
TRANSFER_SDS = (0.2, 0.6)


def _r2(x: np.ndarray, y: np.ndarray) -> float:
    if np.ptp(x) <= 0 or np.ptp(y) <= 0:
        return float("nan")
    return float(np.corrcoef(x, y)[0, 1] ** 2)


def cells_percentile_r2(x: np.ndarray, y: np.ndarray, *, rng: np.random.Generator,
                        replicates: int) -> tuple[float, float]:
    """The former diagnostic rule: 2.5 / 97.5 % quantiles of R² over cell resamples."""
    draws = []
    for _ in range(replicates):
        pick = rng.integers(0, x.size, x.size)
        draws.append(_r2(x[pick], y[pick]))
    values = np.asarray(draws)
    values = values[np.isfinite(values)]
    low, high = np.quantile(values, [0.025, 0.975])
    return float(low), float(high)


def coverage(design: TransferDesign, *, sims: int, replicates: int, seed: int
             ) -> dict[str, object]:
    """Coverage of the cells-only percentile interval and the bias of R̂²."""
    rng = np.random.default_rng(seed)
    hits, errors, widths, truths = [], [], [], []
    for _ in range(sims):
        synthetic_logits, real_logits = cell_logits(design, rng)
        truth = _r2(true_accuracy(synthetic_logits, design.item_sd),
                    true_accuracy(real_logits, design.item_sd))
        x = simulate_source(design, synthetic_logits, design.synthetic_cases, rng).accuracies()
        y = simulate_source(design, real_logits, design.real_cases, rng).accuracies()
        estimate = _r2(x, y)
        if not (np.isfinite(estimate) and np.isfinite(truth)):
            continue
        low, high = cells_percentile_r2(x, y, rng=rng, replicates=replicates)
        truths.append(truth)
        errors.append(estimate - truth)
        widths.append(high - low)
        hits.append(low <= truth <= high)
    p = float(np.mean(hits))
    return {"bench": "r2_cells", "design": design.name, "cells": design.cells,
            "synthetic_cases": design.synthetic_cases, "real_cases": design.real_cases,
            "transfer_sd": design.transfer_sd, "sims": len(hits), "replicates": replicates,
            "mean_true_r2": round(float(np.mean(truths)), 3),
            "bias_r2": round(float(np.mean(errors)), 4),
            "bias_r2_mcse": round(float(np.std(errors, ddof=1) / math.sqrt(len(errors))), 4),
            "mean_width_r2": round(float(np.mean(widths)), 3),
            "coverage_r2_cells_percentile": round(p, 3),
            "coverage_r2_cells_percentile_mcse": round(math.sqrt(p * (1 - p) / len(hits)), 3)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sims", type=int, default=400)
    parser.add_argument("--replicates", type=int, default=1000)
    parser.add_argument("--quick", action="store_true")
    args = parser.parse_args()
    if args.quick:
        args.sims, args.replicates = 20, 200
    for index, base in enumerate(DESIGNS):
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
