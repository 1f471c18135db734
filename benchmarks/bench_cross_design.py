"""What the cross design (13) can separate: its simulated power at demo and paper size.

For each size's default block design (donors x hosts, hosts per donor, donors per host)
prints one JSON object per line: the design's shape, the size of the donor and host
F-tests under no effect, and how often a task driven by donor only / host only / both at
logit SD 1 is called donor- or host-driven (one binary answer per pair, 2,000 seeded
simulations). See ``lesiontrials.trials.cross_power`` for the model and the rule.
"""

from __future__ import annotations

import json
import time

from lesiontrials.trials.cross import block_pairs
from lesiontrials.trials.cross_power import design_power
from lesiontrials.trials.twins import CROSS_DEFAULTS


def main() -> None:
    for size, (donors, per_donor, per_host) in CROSS_DEFAULTS.items():
        design = block_pairs(donors, hosts_per_donor=per_donor, donors_per_host=per_host)
        start = time.perf_counter()
        power = design_power(design.donor, design.host, n_sims=2000, seed=11)
        print(json.dumps({
            "design": f"digital_twin_cross/{size}", "donors": donors, "hosts": design.n_hosts,
            "pairs": len(design.donor), "hosts_per_donor": per_donor,
            "donors_per_host_min": int(design.donors_per_host.min()),
            **{k: v for k, v in power.items() if k != "method"},
            "seconds": round(time.perf_counter() - start, 2)}, sort_keys=True))


if __name__ == "__main__":
    main()
