"""Simulated detector output on volume sets that reuse hosts *and* donors, with known
truth: the calibration of the 3-D track's FROC intervals (bench and tests).

A volume set builds several scans on one host CT (the host's anatomy makes every scan on
it easy or hard, cluttered or clean) and, in designs that place one donor nodule into
several hosts (the crossed design, small donor pools), reuses a donor across scans: a
faint donor is missed wherever it is placed. Scans: ``hosts × per_host``, each with 1–3
nodules; the nodules' donors come from a pool in which every donor is placed ``reuse``
times, on scans of different hosts where possible. A nodule is detected with probability
0.9 at a logistic score ``0.8 + host + scan + donor + noise`` (host SD ``host_sd``, scan
SD 0.5, donor SD ``donor_sd``, noise SD 1.2); false positives per scan ~ Poisson(3 ·
exp(−0.5 · (host + scan))) at scores expit(−1 + N(0, 1.2)).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import pandas as pd

from lesiontrials.scoring import detection as det


@dataclass(frozen=True)
class FrocStudy:
    """One simulated volume set: nodules (with ``donor_uid``), candidates, scans, and
    scan → host."""

    truth: pd.DataFrame
    candidates: pd.DataFrame
    scans: list[str]
    host_of: dict[str, str]

    def matching(self) -> det.Matching:
        return det.match(self.truth, self.candidates, scans=self.scans)


def _donor_pool(nodule_hosts: np.ndarray, reuse: int, rng: np.random.Generator
                ) -> np.ndarray:
    """Donor index per nodule: ``reuse`` nodules per donor (the last donor may have
    fewer), the nodules of one donor on different hosts where the order allows."""
    n = nodule_hosts.size
    order = np.lexsort((rng.random(n), nodule_hosts))  # grouped by host, random within
    groups = -(-n // reuse)
    donor = np.empty(n, dtype=np.int64)
    # deal host-sorted nodules round-robin: consecutive nodules (same host) go to
    # different donors, so a donor's nodules spread over hosts
    donor[order] = np.arange(n) % groups
    return donor


def simulate_froc_study(hosts: int, per_host: int, rng: np.random.Generator, *,
                        reuse: int = 1, host_sd: float = 0.8, donor_sd: float = 0.8
                        ) -> FrocStudy:
    """One volume set of ``hosts × per_host`` scans whose donors repeat ``reuse`` times."""
    scan_effect, scans, host_of = {}, [], {}
    for h in range(hosts):
        host_effect = rng.normal(0, host_sd)
        for j in range(per_host):
            scan = f"h{h:05d}s{j}"
            scans.append(scan)
            host_of[scan] = f"h{h:05d}"
            scan_effect[scan] = host_effect + rng.normal(0, 0.5)
    counts = rng.integers(1, 4, len(scans))
    nodule_scan = np.repeat(np.arange(len(scans)), counts)
    nodule_host = nodule_scan // per_host
    donor = _donor_pool(nodule_host, max(reuse, 1), rng)
    donor_effect = rng.normal(0, donor_sd, int(donor.max()) + 1)
    truth, cands = [], []
    for k, (s, d) in enumerate(zip(nodule_scan, donor, strict=True)):
        scan = scans[s]
        centre = rng.uniform(-150, 150, 3)
        diameter = float(rng.uniform(4, 30))
        truth.append((scan, f"{scan}/{k}", *centre, diameter, f"d{d:05d}"))
        if rng.random() < 0.9:
            logit = 0.8 + scan_effect[scan] + donor_effect[d] + rng.normal(0, 1.2)
            cands.append((scan, *(centre + rng.normal(0, diameter / 8, 3)),
                          1 / (1 + math.exp(-logit))))
    for scan in scans:
        for _ in range(int(rng.poisson(3.0 * math.exp(-0.5 * scan_effect[scan])))):
            cands.append((scan, *rng.uniform(-300, 300, 3),
                          1 / (1 + math.exp(-(-1.0 + rng.normal(0, 1.2))))))
    return FrocStudy(pd.DataFrame(truth, columns=[*det.TRUTH_COLUMNS, "donor_uid"]),
                     pd.DataFrame(cands, columns=list(det.CANDIDATE_COLUMNS)), scans,
                     host_of)
