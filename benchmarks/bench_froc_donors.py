"""Coverage of the 3-D track's FROC intervals when scans share hosts *and* donors (issue
14). JSON out, one object per scenario.

``bench_froc_hosts.py`` showed that scans built on one host must be resampled together.
Designs that place one donor into several hosts (the crossed design, small donor pools)
also make nodules of *different* hosts share a donor: a faint donor is missed wherever it
is placed. Simulation (``lesiontrials.scoring.simulate_froc``): ``hosts × per_host``
scans with 1–3 nodules each, every donor placed ``reuse`` times (on different hosts
where possible), detection score logit 0.8 + host (SD 0.8) + scan (SD 0.5) + donor (SD
``donor_sd``) + noise (SD 1.2); false positives per scan ~ Poisson(3 · exp(−0.5 · (host +
scan))). The truth is the statistic on 18,000 scans (6,000 hosts × 3) with donors not
reused (reuse changes the sampling, not the population). Keys: bias and 95 % coverage of
the sensitivity at 1 FP/scan and of the CPM for three resampling rules — scans, hosts (the
report's rule), and hosts × donors (pigeonhole, ``froc_table(..., donors=True)``) — each
with its Monte-Carlo SE.

Usage: ``python benchmarks/bench_froc_donors.py [--sims N] [--replicates B] [--quick]``
"""

from __future__ import annotations

import argparse
import json
import math
import time

import numpy as np

from lesiontrials.scoring import detection as det
from lesiontrials.scoring.simulate_froc import simulate_froc_study

#: (hosts, scans per host, donor reuse, donor SD)
SCENARIOS = ((30, 3, 1, 0.8), (30, 3, 3, 0.8), (30, 3, 6, 0.8), (30, 3, 6, 1.5),
             (10, 3, 3, 1.5), (50, 3, 10, 1.5))
RULES = ("scans", "hosts", "hosts_donors")


def _rate(hits: np.ndarray) -> tuple[float, float]:
    p = float(hits.mean())
    return round(p, 3), round(math.sqrt(max(p * (1 - p), 1e-12) / hits.size), 3)


def population(donor_sd: float, rng: np.random.Generator) -> tuple[float, float]:
    """(sensitivity at 1 FP/scan, CPM) on a very large volume set."""
    big = simulate_froc_study(6000, 3, rng, reuse=1, donor_sd=donor_sd)
    curve = det.froc(big.matching())
    return float(curve.at_rates[3]), float(curve.cpm)


def coverage(hosts: int, per_host: int, reuse: int, donor_sd: float, *, sims: int,
             replicates: int, truth: tuple[float, float], seed: int) -> dict[str, object]:
    rng = np.random.default_rng(seed)
    estimates = np.empty((sims, 2))
    covered = {rule: np.zeros((sims, 2), dtype=bool) for rule in RULES}
    for s in range(sims):
        study = simulate_froc_study(hosts, per_host, rng, reuse=reuse, donor_sd=donor_sd)
        matching = study.matching()
        for rule in RULES:
            table = det.froc_table(matching, rng=rng, replicates=replicates,
                                   clusters=None if rule == "scans" else study.host_of,
                                   donors=rule == "hosts_donors").set_index("fp_per_scan")
            for col, (name, true) in enumerate(zip(("1", "CPM"), truth, strict=True)):
                estimates[s, col] = table.loc[name, "sensitivity"]
                covered[rule][s, col] = (table.loc[name, "ci_low"] <= true
                                         <= table.loc[name, "ci_high"])
    out: dict[str, object] = {
        "bench": "froc_donors", "hosts": hosts, "scans_per_host": per_host,
        "donor_reuse": reuse, "donor_sd": donor_sd, "sims": sims, "replicates": replicates,
        "true_sens_at_1fp": round(truth[0], 4), "true_cpm": round(truth[1], 4),
        "bias_sens_at_1fp": round(float(estimates[:, 0].mean() - truth[0]), 4),
        "bias_cpm": round(float(estimates[:, 1].mean() - truth[1]), 4)}
    for rule, hits in covered.items():
        for col, name in enumerate(("sens_at_1fp", "cpm")):
            key = f"coverage_{name}_resample_{rule}"
            out[key], out[f"{key}_mcse"] = _rate(hits[:, col])
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sims", type=int, default=300)
    parser.add_argument("--replicates", type=int, default=400)
    parser.add_argument("--quick", action="store_true")
    args = parser.parse_args()
    if args.quick:
        args.sims, args.replicates = 10, 50
    truths: dict[float, tuple[float, float]] = {}
    for index, (hosts, per_host, reuse, donor_sd) in enumerate(SCENARIOS):
        if donor_sd not in truths:
            truths[donor_sd] = population(donor_sd, np.random.default_rng(123))
        start, cpu = time.perf_counter(), time.process_time()
        record = coverage(hosts, per_host, reuse, donor_sd, sims=args.sims,
                          replicates=args.replicates, truth=truths[donor_sd], seed=index)
        record.update({"wall_s": round(time.perf_counter() - start, 1),
                       "cpu_s": round(time.process_time() - cpu, 1)})
        print(json.dumps(record), flush=True)


if __name__ == "__main__":
    main()
