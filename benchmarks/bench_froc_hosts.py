"""Coverage of the 3-D track's FROC intervals when scans share hosts (issue 14). JSON out.

Synthetic volume sets build several scans on one host CT: the scans share the host's
anatomy (vessels that look like nodules, image quality), so a host effect moves every
scan of that host together — their sensitivities and their false-positive counts. The
scan bootstrap (``scoring.detection.bootstrap_froc``) treats such scans as independent;
``clusters=`` resamples hosts instead. Simulation: ``hosts`` hosts with ``per_host``
scans each; each scan has 1–3 nodules, detected with probability 0.9 at a logistic score
with a host effect (logit SD ``host_sd``) plus a scan effect (SD 0.5) and noise (SD 1.2);
false positives per scan ~ Poisson(3 · exp(−0.5 · (host + scan effect))) (the same effects
make a scan hard and cluttered, as in ``bench_detection.py``). The truth is the statistic
on 40,000 simulated scans (8,000 hosts × 5). Prints one JSON object per design with the
bias and the 95 % coverage of the sensitivity at 1 FP/scan and of the CPM, for both
resampling units, each with its Monte-Carlo SE; then one per design for the malignancy
AUROC (``simulate_malignancy``: the same host and scan effects on the model's
probabilities; truth on 40,000 scans).

Usage: ``python benchmarks/bench_froc_hosts.py [--sims N] [--replicates B] [--quick]``
"""

from __future__ import annotations

import argparse
import json
import math
import time

import numpy as np
import pandas as pd

from lesiontrials.scoring import detection as det
from lesiontrials.scoring.malignancy import auroc, malignancy_table

DESIGNS = ((10, 3), (30, 5), (50, 3))  # (hosts, scans per host)


def simulate(hosts: int, per_host: int, rng: np.random.Generator, *, host_sd: float = 0.8
             ) -> tuple[pd.DataFrame, pd.DataFrame, list[str], dict[str, str]]:
    """Truth, candidates, scan uids and scan → host of ``hosts × per_host`` scans."""
    truth, cands, scans, host_of = [], [], [], {}
    for h in range(hosts):
        host_effect = rng.normal(0, host_sd)
        for j in range(per_host):
            scan = f"h{h:05d}s{j}"
            scans.append(scan)
            host_of[scan] = f"h{h:05d}"
            effect = host_effect + rng.normal(0, 0.5)
            for k in range(int(rng.integers(1, 4))):
                centre = rng.uniform(-150, 150, 3)
                diameter = float(rng.uniform(4, 30))
                truth.append((scan, f"{scan}/{k}", *centre, diameter))
                if rng.random() < 0.9:
                    score = 1 / (1 + math.exp(-(0.8 + effect + rng.normal(0, 1.2))))
                    cands.append((scan, *(centre + rng.normal(0, diameter / 8, 3)), score))
            for _ in range(int(rng.poisson(3.0 * math.exp(-0.5 * effect)))):
                cands.append((scan, *rng.uniform(-300, 300, 3),
                              1 / (1 + math.exp(-(-1.0 + rng.normal(0, 1.2))))))
    return (pd.DataFrame(truth, columns=list(det.TRUTH_COLUMNS)),
            pd.DataFrame(cands, columns=list(det.CANDIDATE_COLUMNS)), scans, host_of)


def simulate_malignancy(hosts: int, per_host: int, rng: np.random.Generator, *,
                        host_sd: float = 0.8) -> pd.DataFrame:
    """Nodules of ``hosts × per_host`` scans (1–3 each), malignant with probability 0.3,
    with a model probability expit(−1 + 2 · label + host + scan effect + noise): the host
    effect (logit SD ``host_sd``) shifts every probability on that host's scans."""
    rows = []
    for h in range(hosts):
        host_effect = rng.normal(0, host_sd)
        for j in range(per_host):
            effect = host_effect + rng.normal(0, 0.5)
            for _ in range(int(rng.integers(1, 4))):
                label = int(rng.random() < 0.3)
                logit = -1.0 + 2.0 * label + effect + rng.normal(0, 1.0)
                rows.append((f"h{h:05d}s{j}", f"h{h:05d}", label, 1 / (1 + math.exp(-logit))))
    return pd.DataFrame(rows, columns=["scan_uid", "host", "label", "probability"])


def auroc_coverage(hosts: int, per_host: int, *, sims: int, replicates: int, truth: float
                   ) -> dict[str, object]:
    """Coverage of the malignancy table's AUROC interval, scans vs hosts resampled."""
    rng = np.random.default_rng(7000 + 1000 * hosts + per_host)
    estimates = np.empty(sims)
    covered = {unit: np.zeros(sims, dtype=bool) for unit in ("scan_uid", "host")}
    for s in range(sims):
        frame = simulate_malignancy(hosts, per_host, rng)
        for unit in covered:
            row = malignancy_table(frame, rng=rng, replicates=replicates, unit=unit).iloc[0]
            estimates[s] = row["estimate"]
            covered[unit][s] = row["ci_low"] <= truth <= row["ci_high"]
    out: dict[str, object] = {"statistic": "malignancy_auroc", "hosts": hosts,
                              "scans_per_host": per_host, "sims": sims,
                              "replicates": replicates, "true_auroc": round(truth, 4),
                              "bias_auroc": round(float(np.nanmean(estimates) - truth), 4)}
    for unit, hits in covered.items():
        key = f"coverage_auroc_resample_{'scans' if unit == 'scan_uid' else 'hosts'}"
        out[key], out[f"{key}_mcse"] = _rate(hits)
    return out


def _rate(hits: np.ndarray) -> tuple[float, float]:
    p = float(hits.mean())
    return round(p, 3), round(math.sqrt(max(p * (1 - p), 1e-12) / hits.size), 3)


def coverage(hosts: int, per_host: int, *, sims: int, replicates: int,
             truth_values: tuple[float, float]) -> dict[str, object]:
    rng = np.random.default_rng(1000 * hosts + per_host)
    estimates = np.empty((sims, 2))
    covered = {unit: np.zeros((sims, 2), dtype=bool) for unit in ("scans", "hosts")}
    for s in range(sims):
        truth, cands, scans, host_of = simulate(hosts, per_host, rng)
        matching = det.match(truth, cands, scans=scans)
        for unit in covered:
            table = det.froc_table(matching, rng=rng, replicates=replicates,
                                   clusters=host_of if unit == "hosts" else None
                                   ).set_index("fp_per_scan")
            for col, (name, true) in enumerate(zip(("1", "CPM"), truth_values, strict=True)):
                estimates[s, col] = table.loc[name, "sensitivity"]
                covered[unit][s, col] = (table.loc[name, "ci_low"] <= true
                                         <= table.loc[name, "ci_high"])
    out: dict[str, object] = {"hosts": hosts, "scans_per_host": per_host, "sims": sims,
                              "replicates": replicates,
                              "bias_sens_at_1fp": round(float(estimates[:, 0].mean()
                                                              - truth_values[0]), 4),
                              "bias_cpm": round(float(estimates[:, 1].mean()
                                                      - truth_values[1]), 4)}
    for unit, hits in covered.items():
        for col, name in enumerate(("sens_at_1fp", "cpm")):
            key = f"coverage_{name}_resample_{unit}"
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
    truth, cands, scans, _ = simulate(8000, 5, np.random.default_rng(123))
    population = det.froc(det.match(truth, cands, scans=scans))
    truth_values = (float(population.at_rates[3]), float(population.cpm))
    for hosts, per_host in DESIGNS:
        start, cpu = time.perf_counter(), time.process_time()
        record = coverage(hosts, per_host, sims=args.sims, replicates=args.replicates,
                          truth_values=truth_values)
        record.update({"bench": "froc_hosts", "true_sens_at_1fp": round(truth_values[0], 4),
                       "true_cpm": round(truth_values[1], 4),
                       "seconds": round(time.perf_counter() - start, 1),
                       "cpu_seconds": round(time.process_time() - cpu, 1)})
        print(json.dumps(record, sort_keys=True), flush=True)
    population = simulate_malignancy(8000, 5, np.random.default_rng(321))
    true_auroc = auroc(population["probability"].to_numpy(), population["label"].to_numpy())
    for hosts, per_host in DESIGNS:
        start, cpu = time.perf_counter(), time.process_time()
        record = auroc_coverage(hosts, per_host, sims=args.sims, replicates=args.replicates,
                                truth=true_auroc)
        record.update({"bench": "froc_hosts", "seconds": round(time.perf_counter() - start, 1),
                       "cpu_seconds": round(time.process_time() - cpu, 1)})
        print(json.dumps(record, sort_keys=True), flush=True)


if __name__ == "__main__":
    main()
