"""The targeted loop on a rendered world (issue 23): targeted vs untargeted vs original,
per stratum, with paired cluster-bootstrap intervals and the wall time of each step. JSON out.

Runs :func:`lesiontrials.training.improve.improve` on a workspace where ``lesiontrials run
--size demo`` has built the evaluation sets (a copy: the loop adds trials, models and
results). Defaults are the demo world's set roles: ten design trials train, the
screening-simulation trial is probed for failures, three other trials judge the gain.
Real scans are not judged by default: on the demo world both real scans host cases of the
training trials, so the trained adapter refuses them (pass ``--real-set real`` on a world
where they do not).
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

from lesiontrials.paths import Workspace
from lesiontrials.training.improve import ImproveOptions, ImproveSets, improve
from lesiontrials.training.recipe import TrainRecipe

TRAIN = ("size_detection_curve", "location_sensitivity", "cross_dataset", "demographic_strat",
         "counterfactual", "multi_nodule", "digital_twin_cross", "digital_twin_isolation",
         "digital_twin_complete", "targeted")
PROBE = ("screening_simulation",)
EVALUATE = ("bootstrap_confidence", "controlled_prevalence", "algorithm_comparison")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--workspace", type=Path, required=True)
    parser.add_argument("--data-root", type=Path, required=True)
    parser.add_argument("--name", default="demo")
    parser.add_argument("--real-set", action="append", default=[])
    parser.add_argument("--n-cases", type=int, default=20)
    parser.add_argument("--max-targets", type=int, default=4)
    parser.add_argument("--image-size", type=int, default=128)
    parser.add_argument("--epochs", type=int, default=15)
    args = parser.parse_args()
    start = time.perf_counter()
    record = improve(workspace=Workspace(args.workspace), data_root=args.data_root,
                     sets=ImproveSets(TRAIN, PROBE, EVALUATE, tuple(args.real_set)),
                     recipe=TrainRecipe(epochs=args.epochs, image_size=args.image_size),
                     options=ImproveOptions(name=args.name, n_cases=args.n_cases,
                                            max_targets=args.max_targets))
    overall = {source: [r for r in rows if r["stratum"] in ("all", "truth_size")]
               for source, rows in record["gains"].items()}
    print(json.dumps({"benchmark": "improve", "wall_s_total": round(time.perf_counter()
                                                                     - start, 1),
                      "wall_s": record["wall_s"], "targets": record["targets"],
                      "extra_trials": {k: {"cases": v["cases"], "positives": v["positives"]}
                                       for k, v in record["extra_trials"].items()},
                      "gains_overall_and_by_size": overall}, indent=1, default=str))


if __name__ == "__main__":
    main()
