"""Coverage of accuracy intervals on the screening design's repeat scans (issue 14). JSON.

The screening design scans each patient ``rounds`` (3) times on the same host CT with the
same donor nodules, so a patient's scans are not independent; the report resamples the
patient (``design_units``: the host CT of a screening row). Simulation
(``lesiontrials.analysis.simulate_repeats``): the top option is right with probability
expit(0.8 + patient + scan + slice + 0.3 · round), patient SD ``patient_sd``, scan SD 0.4,
slice SD 0.6, 3 slices per scan; the truth is the population accuracy (mean probability
over 200,000 patients). Scenarios: the screening design's demo size (5 patients), 20, 100
and its paper size (500 patients × 3 rounds), each at patient SD 1.0 and 0.3. Keys per
scenario: ``coverage_accuracy_resample_patients`` (the report's
``accuracy_interval`` with the patient as unit), ``coverage_accuracy_resample_scans`` (the
scan as unit: what a case-level rule would do), ``bias_accuracy``, each coverage with its
Monte-Carlo SE.

Usage: ``python benchmarks/bench_repeat_scans.py [--sims N] [--replicates B] [--quick]``
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import math
import time

import numpy as np

from lesiontrials.analysis.bootstrap import accuracy_interval
from lesiontrials.analysis.simulate_repeats import RepeatDesign, simulate_repeats

PATIENTS = (5, 20, 100, 500)
PATIENT_SDS = (1.0, 0.3)


def _rate(hits: list[bool]) -> tuple[float, float]:
    p = float(np.mean(hits))
    return round(p, 3), round(math.sqrt(max(p * (1 - p), 1e-12) / len(hits)), 3)


def population_accuracy(design: RepeatDesign, rng: np.random.Generator) -> float:
    """The estimand: mean probability of a right answer over a very large population."""
    return float(simulate_repeats(design, rng, patients=200_000).q.mean())


def coverage(design: RepeatDesign, *, sims: int, replicates: int, seed: int
             ) -> dict[str, object]:
    rng = np.random.default_rng(seed)
    truth = population_accuracy(design, rng)
    hits: dict[str, list[bool]] = {"patients": [], "scans": []}
    errors = []
    for _ in range(sims):
        answers = simulate_repeats(design, rng)
        correct = answers.correct.astype(float)
        errors.append(float(correct.mean()) - truth)
        for unit, ids in (("patients", answers.patient), ("scans", answers.scan)):
            interval = accuracy_interval(correct, units={"case": ids}, rng=rng,
                                         replicates=replicates)
            hits[unit].append(interval.low <= truth <= interval.high)
    out: dict[str, object] = {
        "bench": "repeat_scans", "patients": design.patients, "rounds": design.rounds,
        "slices_per_scan": design.slices, "patient_sd": design.patient_sd, "sims": sims,
        "replicates": replicates, "true_accuracy": round(truth, 4),
        "bias_accuracy": round(float(np.mean(errors)), 4)}
    for unit, values in hits.items():
        key = f"coverage_accuracy_resample_{unit}"
        out[key], out[f"{key}_mcse"] = _rate(values)
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sims", type=int, default=400)
    parser.add_argument("--replicates", type=int, default=1000)
    parser.add_argument("--quick", action="store_true")
    args = parser.parse_args()
    if args.quick:
        args.sims, args.replicates = 20, 200
    for i, patients in enumerate(PATIENTS):
        for j, patient_sd in enumerate(PATIENT_SDS):
            design = dataclasses.replace(RepeatDesign("screening", patients=patients),
                                         patient_sd=patient_sd)
            start, cpu = time.perf_counter(), time.process_time()
            record = coverage(design, sims=args.sims, replicates=args.replicates,
                              seed=10 * i + j)
            record.update({"wall_s": round(time.perf_counter() - start, 1),
                           "cpu_s": round(time.process_time() - cpu, 1)})
            print(json.dumps(record), flush=True)


if __name__ == "__main__":
    main()
