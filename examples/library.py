"""A tiny virtual lesion trial through the public API: ``python examples/library.py [WS [ROOT]]``.

Without a data root ROOT the tiny test world (two phantom hosts per source) is built first.
"""
import sys
from pathlib import Path

import lesiontrials as lt
from lesiontrials.testing import build_tiny_world

workspace = Path(sys.argv[1] if len(sys.argv) > 1 else "library-demo")
root = Path(sys.argv[2]) if len(sys.argv) > 2 else build_tiny_world(workspace / "world")
s = lt.load_settings(workspace=workspace, data_root=root, workers=2, seed=0)

index = lt.load_index(s)  # one row per donor nodule; diameters in mm
print(f"{len(index.table)} donor nodules in {root}")
spec = {"name": "tiny", "n_cases": 8, "nodule_free_fraction": 0.5}
trial = lt.plan(s, spec=spec).plans[0]  # 8 cases: 4 with a nodule, 4 without
lt.insert_nodules(s, trials=[trial.name])  # donor masks transplanted into host label maps
lt.render_ct(s, trials=[trial.name])  # CT in HU on each host's grid
sets = lt.build_slices(s, trials=[trial.name])  # 2-D evaluation set (PNG slices)
print(f"{sets.summaries[0].positives} positive, {sets.summaries[0].negatives} negative")
for summary in lt.score(s, models=["threshold", "majority"]):
    print(f"scored {summary.model} {summary.version}")
report = lt.analyze(s, name="tiny", replicates=200)  # accuracies with case-level CIs
print(f"report: {report}")
