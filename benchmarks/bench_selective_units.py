"""Coverage of the confidence metrics' intervals on repeat scans (issue 14). JSON out.

The report's Brier, ECE and AURC intervals (``analysis/selective.py``,
``confidence_metrics``) resample the design's unit; on the screening design that is the
patient, whose repeat scans share host and donors. Simulation
(``lesiontrials.analysis.simulate_repeats``): 3 rounds × 3 slices per patient, the top
option right with probability q = expit(0.8 + patient (SD 1) + scan (SD 0.4) + slice (SD
0.6) + 0.3 · round); the model's confidence in it is q (``temperature`` 1: calibrated) or
expit(1.8 · logit q) (overconfident). Truth: each metric on the population's
probabilities (200,000 patients): Brier E[q·2(1−c)² + (1−q)·2c²], ECE with the report's
10 bins, AURC as the mean risk over coverage of the population ranked by confidence.

Keys per scenario: ``coverage_{brier,ece,aurc}_resample_{patients,scans}`` (the patient:
the report's unit; the scan: a case-level rule), ``bias_{brier,ece,aurc}``, each coverage
with its Monte-Carlo SE.

Usage: ``python benchmarks/bench_selective_units.py [--sims N] [--replicates B] [--quick]``
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import math
import time

import numpy as np

from lesiontrials.analysis.selective import ScoredAnswers, confidence_metrics
from lesiontrials.analysis.simulate_repeats import RepeatDesign, simulate_repeats

SCENARIOS = ((20, 1.0), (20, 1.8), (100, 1.0), (100, 1.8))  # (patients, temperature)
METRICS = ("brier", "ece", "aurc")


def population_truth(design: RepeatDesign, rng: np.random.Generator) -> dict[str, float]:
    """Each metric on the probabilities of 200,000 patients (not on 0/1 draws)."""
    big = simulate_repeats(design, rng, patients=200_000)
    q, c = big.q, big.confidence
    bins = np.clip(np.ceil(c * 10).astype(int) - 1, 0, 9)
    ece = sum(float((bins == b).mean()) * abs(float(q[bins == b].mean() - c[bins == b]
                                                    .mean())) for b in np.unique(bins))
    order = np.argsort(-c, kind="stable")
    risk = np.cumsum(1.0 - q[order]) / np.arange(1, q.size + 1)
    return {"brier": float(np.mean(q * 2 * (1 - c) ** 2 + (1 - q) * 2 * c**2)),
            "ece": float(ece), "aurc": float(risk.mean())}


def _rate(hits: list[bool]) -> tuple[float, float]:
    p = float(np.mean(hits))
    return round(p, 3), round(math.sqrt(max(p * (1 - p), 1e-12) / len(hits)), 3)


def coverage(design: RepeatDesign, *, sims: int, replicates: int, seed: int
             ) -> dict[str, object]:
    rng = np.random.default_rng(seed)
    truth = population_truth(design, rng)
    hits: dict[str, list[bool]] = {}
    errors: dict[str, list[float]] = {m: [] for m in METRICS}
    for _ in range(sims):
        answers = simulate_repeats(design, rng)
        for unit, ids in (("patients", answers.patient), ("scans", answers.scan)):
            scored = ScoredAnswers(("top", "other"), answers.probabilities(),
                                   answers.truth_index(), ids.astype(str).astype(object))
            record = confidence_metrics(scored, task="lobe", rng=rng, replicates=replicates)
            for metric in METRICS:
                hits.setdefault(f"{metric}_resample_{unit}", []).append(
                    record[f"{metric}_ci_low"] <= truth[metric] <= record[f"{metric}_ci_high"])
        for metric in METRICS:
            errors[metric].append(record[metric] - truth[metric])
    out: dict[str, object] = {
        "bench": "selective_units", "patients": design.patients, "rounds": design.rounds,
        "slices_per_scan": design.slices, "temperature": design.temperature, "sims": sims,
        "replicates": replicates}
    for metric in METRICS:
        out[f"true_{metric}"] = round(truth[metric], 4)
        out[f"bias_{metric}"] = round(float(np.mean(errors[metric])), 4)
    for key, values in hits.items():
        out[f"coverage_{key}"], out[f"coverage_{key}_mcse"] = _rate(values)
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sims", type=int, default=300)
    parser.add_argument("--replicates", type=int, default=300)
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--patients", type=int, nargs="*", default=None,
                        help="run only the scenarios with these numbers of patients")
    args = parser.parse_args()
    if args.quick:
        args.sims, args.replicates = 10, 100
    for index, (patients, temperature) in enumerate(SCENARIOS):
        if args.patients is not None and patients not in args.patients:
            continue
        design = dataclasses.replace(RepeatDesign("screening", patients=patients),
                                     temperature=temperature)
        start, cpu = time.perf_counter(), time.process_time()
        record = coverage(design, sims=args.sims, replicates=args.replicates, seed=index)
        record.update({"wall_s": round(time.perf_counter() - start, 1),
                       "cpu_s": round(time.process_time() - cpu, 1)})
        print(json.dumps(record), flush=True)


if __name__ == "__main__":
    main()
