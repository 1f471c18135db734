"""The donor × host block design of the cross design (13): who meets whom, and where.

To split a task's variation between lesion (donor) and anatomy (host), every donor must be
seen in several hosts and every host must carry several donors, with a host pool that grows
with the number of donors. :func:`block_pairs` builds a cyclic incomplete block design:
donor ``d`` starts at host ``s_d = ⌊d·H / D⌋`` and meets hosts ``s_d + o_j`` (mod ``H``)
for offsets ``o = 0, 1, 3, 6, 10, …`` (triangular numbers, so a donor's hosts are spread
and the design is connected: offsets 0 and 1 chain every host to the next). With
``H = ⌊D / ⌈r/k⌉⌋`` hosts (``H = D`` when ``r = k``) each donor has exactly ``k``
distinct hosts and each host at least ``r`` donors; the design is connected, so donor
and host effects are both estimable (rank ``D + H − 1``). Donors and hosts are drawn at
random, so the cyclic order carries no meaning.

Placement: were every donor placed at its own profile position, its lobe would be the same
in every host and a lobe answer that never looks at the image would look "donor-driven".
So part of each donor's pairs are *host-constrained*: the nodule goes into a lobe that
belongs to the host (:func:`host_lobes`, a shuffled cycle over the five lobes, so
neighbouring hosts in the cycle have different lobes and a donor meets several); the other
pairs are profile-faithful. Pure functions; the seeds come from the caller.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import pandas as pd

from lesiontrials import anatomy
from lesiontrials.errors import InputError

HOST_CONSTRAINED = "host_constrained"
PROFILE_FAITHFUL = "profile_faithful"


@dataclass(frozen=True)
class BlockDesign:
    """Pairs of the design: ``donor[i]`` meets ``host[i]`` (indices into the drawn donors
    and hosts); ``n_hosts`` hosts in all."""

    n_donors: int
    n_hosts: int
    donor: np.ndarray  # (P,) int
    host: np.ndarray  # (P,) int

    @property
    def hosts_per_donor(self) -> np.ndarray:
        return np.bincount(self.donor, minlength=self.n_donors)

    @property
    def donors_per_host(self) -> np.ndarray:
        return np.bincount(self.host, minlength=self.n_hosts)


def n_hosts_for(n_donors: int, *, hosts_per_donor: int, donors_per_host: int) -> int:
    """Host pool size ``⌊D / ⌈r/k⌉⌋`` (at least ``k``): grows with the number of donors."""
    return max(hosts_per_donor, n_donors // math.ceil(donors_per_host / hosts_per_donor))


def block_pairs(n_donors: int, *, hosts_per_donor: int, donors_per_host: int) -> BlockDesign:
    """The cyclic incomplete block design for ``D`` donors, ``k`` hosts per donor and at
    least ``r`` donors per host (see the module docstring)."""
    k, r = hosts_per_donor, donors_per_host
    if n_donors < 1 or k < 1 or r < 1:
        raise InputError(f"a cross design needs n_donors, hosts_per_donor and donors_per_host "
                         f">= 1 (got {n_donors}, {k}, {r})", column="params",
                         fix="raise n_donors / hosts_per_donor / donors_per_host")
    if r > n_donors:
        raise InputError(f"donors_per_host = {r} exceeds n_donors = {n_donors}",
                         column="params.donors_per_host",
                         fix=f"lower donors_per_host to at most {n_donors} or add donors")
    n_hosts = n_hosts_for(n_donors, hosts_per_donor=k, donors_per_host=r)
    offsets = np.array([j * (j + 1) // 2 for j in range(k)])
    if offsets[-1] >= n_hosts:  # too few hosts to spread: consecutive hosts
        offsets = np.arange(k)
    start = (np.arange(n_donors) * n_hosts) // n_donors
    donor = np.repeat(np.arange(n_donors), k)
    host = (start[donor] + np.tile(offsets, n_donors)) % n_hosts
    return BlockDesign(n_donors, n_hosts, donor, host)


def host_lobes(n_hosts: int, rng: np.random.Generator) -> np.ndarray:
    """The lobe each host contributes to host-constrained pairs: a shuffled cycle of the
    five lobes over the hosts (in cyclic order), so hosts close in the cycle differ."""
    cycle = rng.permutation(np.array([lobe.value for lobe in anatomy.Lobe], dtype=object))
    return cycle[np.arange(n_hosts) % len(cycle)]


def constrained_pairs(design: BlockDesign, fraction: float, lobes: np.ndarray,
                      rng: np.random.Generator) -> np.ndarray:
    """Which pairs are host-constrained: ``⌈k·fraction⌉`` of each donor's ``k`` pairs
    (``(P,)`` bool), chosen in a random order that takes hosts with a lobe not yet
    chosen first, so a donor's constrained pairs span as many lobes as they can."""
    if not 0.0 <= fraction <= 1.0:
        raise InputError(f"host_constrained_fraction = {fraction} is outside [0, 1]",
                         column="params.host_constrained_fraction",
                         fix="use a fraction in [0, 1] (0.5: half the pairs of each donor)")
    out = np.zeros(len(design.donor), dtype=bool)
    for d in range(design.n_donors):
        rows = rng.permutation(np.flatnonzero(design.donor == d))
        m = math.ceil(len(rows) * fraction - 1e-9)
        first_of_lobe = ~pd.Series(lobes[design.host[rows]]).duplicated().to_numpy()
        order = np.concatenate([rows[first_of_lobe], rows[~first_of_lobe]])
        out[order[:m]] = True
    return out
