"""The 3-D track (issue 21): speed of detection scoring and of the baseline detector, and the
honesty of the scan-bootstrap intervals. JSON out.

* ``scoring``: volumes/s for matching + FROC + CPM (and the 1,000-replicate scan bootstrap)
  on a simulated 1,000-scan trial (1–3 nodules per scan, ~40 candidates per scan).
* ``detector``: seconds per volume for :class:`LogBlobDetector` on a 512×512×300 phantom
  (0.7 × 0.7 × 1.0 mm; elliptic body and lungs, vessels, 5 spherical nodules, noise) and on
  a demo-size 128×128×80 phantom (3 × 3 × 4 mm).
* ``coverage``: known truth, clustered scans (a per-scan random effect shifts every nodule's
  score and the scan's false-positive count), N = 30 and 150 scans: bias of the sensitivity
  at 1 FP/scan and of the CPM, and coverage of their 95 % scan-bootstrap intervals. The
  truth is the same statistic on 40,000 simulated scans.
"""

from __future__ import annotations

import argparse
import json
import math
import time

import numpy as np
import pandas as pd

from lesiontrials.io.volumes import Volume
from lesiontrials.scoring import detection as det
from lesiontrials.scoring.models.volume_baselines import LogBlobDetector


def simulate(n_scans: int, rng: np.random.Generator) -> tuple[pd.DataFrame, pd.DataFrame,
                                                              list[str]]:
    """Truth and candidates of ``n_scans`` clustered scans (world mm, 1–3 nodules each)."""
    scans = [f"s{i:06d}" for i in range(n_scans)]
    truth, cands = [], []
    for scan in scans:
        effect = rng.normal(0, 0.8)  # scan difficulty: shared by its nodules and its FPs
        for k in range(int(rng.integers(1, 4))):
            centre = rng.uniform(-150, 150, 3)
            diameter = float(rng.uniform(4, 30))
            truth.append((scan, f"{scan}/{k}", *centre, diameter))
            if rng.random() < 0.9:  # detected at some score
                score = 1 / (1 + math.exp(-(0.8 + effect + rng.normal(0, 1.2))))
                offset = rng.normal(0, diameter / 8, 3)
                cands.append((scan, *(centre + offset), score))
        for _ in range(int(rng.poisson(3.0 * math.exp(-0.5 * effect)))):
            cands.append((scan, *rng.uniform(-300, 300, 3),
                          1 / (1 + math.exp(-(-1.0 + rng.normal(0, 1.2))))))
    return (pd.DataFrame(truth, columns=list(det.TRUTH_COLUMNS)),
            pd.DataFrame(cands, columns=list(det.CANDIDATE_COLUMNS)), scans)


def bench_scoring(n_scans: int, replicates: int) -> dict[str, float]:
    truth, cands, scans = simulate(n_scans, np.random.default_rng(0))
    start = time.perf_counter()
    matching = det.match(truth, cands, scans=scans)
    curve = det.froc(matching)
    scoring = time.perf_counter() - start
    start = time.perf_counter()
    det.bootstrap_froc(matching, rng=np.random.default_rng(1), replicates=replicates)
    boot = time.perf_counter() - start
    return {"scans": n_scans, "candidates": len(cands), "nodules": len(truth),
            "match_froc_s": round(scoring, 3), "volumes_per_s": round(n_scans / scoring, 1),
            "bootstrap_replicates": replicates, "bootstrap_s": round(boot, 2),
            "cpm": round(curve.cpm, 4)}


def phantom(shape: tuple[int, int, int], spacing: tuple[float, float, float],
            rng: np.random.Generator) -> tuple[Volume, np.ndarray]:
    """Elliptic thorax with lungs, z-running vessels and 5 spherical nodules (centres mm)."""
    x, y = np.meshgrid(*[(np.arange(n) + 0.5) * s for n, s in
                         zip(shape[:2], spacing[:2], strict=True)], indexing="ij")
    cx, cy = shape[0] * spacing[0] / 2, shape[1] * spacing[1] / 2
    body = ((x - cx) / (0.45 * 2 * cx)) ** 2 + ((y - cy) / (0.35 * 2 * cy)) ** 2 <= 1
    lungs = np.zeros_like(body)
    for sign in (1, -1):
        lungs |= (((x - cx - sign * 0.2 * 2 * cx) / (0.15 * 2 * cx)) ** 2
                  + ((y - cy) / (0.25 * 2 * cy)) ** 2) <= 1
    plane = np.where(body, 40.0, -1000.0).astype(np.float32)
    plane[lungs] = -850.0
    for _ in range(30):  # vessels: thin soft-tissue tubes along z
        vx, vy = rng.uniform(0.15, 0.85) * 2 * cx, rng.uniform(0.3, 0.7) * 2 * cy
        plane[lungs & (((x - vx) ** 2 + (y - vy) ** 2) < 1.5 ** 2)] = 30.0
    hu = np.repeat(plane[:, :, None], shape[2], axis=2)
    hu[:, :, :10] = np.where(body, 40.0, -1000.0)[:, :, None]
    hu[:, :, -10:] = np.where(body, 40.0, -1000.0)[:, :, None]
    z = (np.arange(shape[2]) + 0.5) * spacing[2]
    lung_xy = np.argwhere(lungs)
    centres = []
    for d in (5.0, 8.0, 12.0, 18.0, 25.0):
        i, j = lung_xy[rng.integers(len(lung_xy))]
        centre = np.array([x[i, j], y[i, j], rng.uniform(0.3, 0.7) * shape[2] * spacing[2]])
        ball = (((x - centre[0]) ** 2 + (y - centre[1]) ** 2)[:, :, None]
                + ((z - centre[2]) ** 2)[None, None, :]) < (d / 2) ** 2
        hu[ball & lungs[:, :, None]] = 20.0
        centres.append(centre)
    hu += rng.normal(0, 20, hu.shape).astype(np.float32)
    affine = np.diag([*spacing, 1.0])
    return Volume(np.rint(hu).astype(np.int16), affine), np.asarray(centres)


def bench_detector(shape: tuple[int, int, int], spacing: tuple[float, float, float],
                   repeats: int) -> dict[str, object]:
    volume, centres = phantom(shape, spacing, np.random.default_rng(0))
    times, cpu, found = [], [], None
    for _ in range(repeats):
        start, start_cpu = time.perf_counter(), time.process_time()
        found = LogBlobDetector().detect(volume)
        times.append(time.perf_counter() - start)
        cpu.append(time.process_time() - start_cpu)
    assert found is not None
    xyz = found[["x_mm", "y_mm", "z_mm"]].to_numpy(float)
    hits = [bool((np.linalg.norm(xyz - c, axis=1) < d / 2).any())
            for c, d in zip(centres, (5.0, 8.0, 12.0, 18.0, 25.0), strict=True)]
    return {"shape": list(shape), "spacing_mm": list(spacing), "best_s": round(min(times), 2),
            "cpu_s": round(min(cpu), 2),
            "volumes_per_s": round(1 / min(times), 3), "candidates": len(found),
            "nodules_hit": int(sum(hits)), "nodules": len(hits)}


def coverage(n_scans: int, sims: int, replicates: int) -> dict[str, float]:
    truth, cands, scans = simulate(40_000, np.random.default_rng(123))
    population = det.froc(det.match(truth, cands, scans=scans))
    true_sens1, true_cpm = float(population.at_rates[3]), population.cpm
    rng = np.random.default_rng(7)
    est, covered = np.empty((sims, 2)), np.zeros((sims, 2), dtype=bool)
    for s in range(sims):
        t, c, sc = simulate(n_scans, rng)
        matching = det.match(t, c, scans=sc)
        table = det.froc_table(matching, rng=rng, replicates=replicates).set_index(
            "fp_per_scan")
        for col, (name, true) in enumerate((("1", true_sens1), ("CPM", true_cpm))):
            est[s, col] = table.loc[name, "sensitivity"]
            covered[s, col] = table.loc[name, "ci_low"] <= true <= table.loc[name, "ci_high"]
    return {"scans": n_scans, "simulations": sims, "replicates": replicates,
            "true_sens_at_1fp": round(true_sens1, 4), "true_cpm": round(true_cpm, 4),
            "bias_sens_at_1fp": round(float(est[:, 0].mean() - true_sens1), 4),
            "bias_cpm": round(float(est[:, 1].mean() - true_cpm), 4),
            "coverage_sens_at_1fp": round(float(covered[:, 0].mean()), 3),
            "coverage_cpm": round(float(covered[:, 1].mean()), 3)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--quick", action="store_true", help="small sizes (smoke run)")
    args = parser.parse_args()
    quick = args.quick
    out = {"scoring": bench_scoring(200 if quick else 1000, 200 if quick else 1000),
           "detector_demo": bench_detector((128, 128, 80), (3.0, 3.0, 4.0), 3)}
    if not quick:
        out["detector_512x512x300"] = bench_detector((512, 512, 300), (0.7, 0.7, 1.0), 1)
    out["coverage"] = [coverage(n, 20 if quick else 200, 100 if quick else 400)
                       for n in ((30,) if quick else (30, 150))]
    print(json.dumps(out, indent=2))


if __name__ == "__main__":
    main()
