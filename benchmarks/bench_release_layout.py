"""Out-of-range DLCS24 percents: the lobe-interior fallback versus the old clamp.

Builds the release-layout fixture (``lesiontrials.testing_release``), plans a
profile-faithful trial with donors from DLCS24 (every ``reinsertion_lobe_ml_pct`` out of
range, half the ``ap``), IMDCT, LUNA25 and LNDbv4, inserts it, then inserts the same
manifest with the DLCS24 percents clamped to [0, 100] (what ``insert/placement.py`` did
before). Prints JSON: realised pleural distances (mm) per group and insertion failures.

    python benchmarks/bench_release_layout.py [--cases 60]
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd

from lesiontrials.index import NoduleIndex, build_index, write_index
from lesiontrials.insert.trial import insert_trial
from lesiontrials.io import read_json, write_parquet
from lesiontrials.paths import Workspace
from lesiontrials.testing_release import write_release_root
from lesiontrials.trials import PlanContext, TrialSpec, load_host_catalogue, plan_spec, write_plan


def _pleural(ws: Workspace, trial: str) -> dict[str, list[float]]:
    out: dict[str, list[float]] = {"DLCS24": [], "other": [], "failed": []}
    for path in sorted(ws.cases_dir(trial).glob("*/insert.json")):
        record = read_json(path)
        if record["status"] != "done":
            out["failed"].append(1.0)
            continue
        nodule = record["nodules"][0]
        key = "DLCS24" if nodule["donor_dataset"] == "DLCS24" else "other"
        out[key].append(float(nodule["realised"]["pleural_distance_mm"]))
    return out


def _summary(values: list[float]) -> dict[str, float | int]:
    array = np.asarray(values, dtype=float)
    if array.size == 0:
        return {"n": 0}
    return {"n": int(array.size), "median_mm": round(float(np.median(array)), 2),
            "p10_mm": round(float(np.percentile(array, 10)), 2),
            "within_3mm": round(float(np.mean(array <= 3.0)), 3)}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--cases", type=int, default=60)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="bench-release-") as tmp:
        release = write_release_root(Path(tmp) / "root")
        ws = Workspace(Path(tmp) / "ws")
        write_index(build_index(release.root), ws)
        index = NoduleIndex.load(ws.index_table)
        ctx = PlanContext(index, load_host_catalogue(release.root, index))
        spec = TrialSpec.model_validate({
            "name": "fallback", "n_cases": args.cases, "seed": 4, "allow_same_patient": True,
            "donors": {"include": ["DLCS24", "IMDCT", "LUNA25", "LNDbv4"]},
            "placement": {"mode": "profile_faithful"}})
        plan = plan_spec(ctx, spec)
        write_plan(plan, ws)
        start = time.perf_counter()
        insert_trial("fallback", workspace=ws, data_root=release.root.root, show_progress=False)
        seconds = time.perf_counter() - start
        clamped = _clamped(plan.manifest, index.table)
        write_parquet(clamped, ws.trial_dir("clamped") / "manifest.parquet")
        insert_trial("clamped", workspace=ws, data_root=release.root.root, show_progress=False)
        fallback, clamp = _pleural(ws, "fallback"), _pleural(ws, "clamped")
    json.dump({
        "cases": args.cases, "insert_s": round(seconds, 2),
        "pleural_distance": {"DLCS24 fallback (now)": _summary(fallback["DLCS24"]),
                             "DLCS24 clamped (before)": _summary(clamp["DLCS24"]),
                             "other datasets": _summary(fallback["other"])},
        "failed": {"fallback": len(fallback["failed"]), "clamped": len(clamp["failed"])},
    }, sys.stdout, indent=2)
    print()


def _clamped(manifest: pd.DataFrame, table: pd.DataFrame) -> pd.DataFrame:
    """The same manifest with the donors' own percents clamped to [0, 100]."""
    out = manifest.copy()
    out["trial"] = "clamped"
    out["case_uid"] = out["case_uid"].str.replace("fallback-", "clamped-", regex=False)
    rows = table.set_index("nodule_uid")
    fell = out["target_pct_fallback"] != ""
    for axis in ("ml", "ap"):
        own = rows.loc[out.loc[fell, "donor_uid"], f"reinsertion_lobe_{axis}_pct"].to_numpy()
        out.loc[fell, f"target_lobe_{axis}_pct"] = np.clip(own, 0.0, 100.0)
    out["target_pct_fallback"] = ""
    return out


if __name__ == "__main__":
    main()
