"""Cost of longitudinal screening (issue 22): the screening design planned with repeat
scans (rounds inserted in order, each anchored on its prior) against independent rounds,
on a release-layout data root, plus the growth questions it adds. Prints JSON.

Usage: ``python benchmarks/bench_longitudinal.py --data-root WORLD --index-from WS``
(``WS``: a workspace whose ``index/`` was built from ``WORLD``, e.g. a demo run's). Both
plans have the same number of cases (demo size: 3 rounds x 5); insertion runs with
``--workers`` workers, each mode twice (in both orders; the faster run is reported).
Reported: plan and insert wall seconds per mode, and the growth
items of the longitudinal trial's bank (built from the inserted truth: no render needed).
"""

from __future__ import annotations

import argparse
import json
import shutil
import tempfile
import time
from collections import Counter
from pathlib import Path

from lesiontrials.index import NoduleIndex
from lesiontrials.insert import insert_trial
from lesiontrials.paths import Workspace
from lesiontrials.scoring.questions.bank import build_bank
from lesiontrials.scoring.questions.templates import PAIR_TEMPLATES
from lesiontrials.scoring.questions.workspace import trial_cases
from lesiontrials.trials import PlanContext, hosts_from_index
from lesiontrials.trials.plan import plan_design, write_plan


def _run(ctx: PlanContext, root: Path, data_root: Path, *, longitudinal: bool,
         workers: int, n: int) -> dict[str, object]:
    ws = Workspace(root)
    start = time.perf_counter()
    plan = plan_design(ctx, 9, size="demo", seed=0,
                       params={"longitudinal": longitudinal, "n_per_stratum": n})
    write_plan(plan, ws)
    planned = time.perf_counter()
    summary = insert_trial(plan.name, workspace=ws, data_root=data_root, workers=workers,
                           show_progress=False)
    inserted = time.perf_counter()
    out: dict[str, object] = {
        "cases": int(plan.manifest["case_uid"].nunique()), "plan_s": round(planned - start, 2),
        "insert_s": round(inserted - planned, 2), "done": summary["status"]["done"],
        "failed": summary["status"]["failed"]}
    if longitudinal:
        cases, _ = trial_cases(ws, plan.name)
        bank = build_bank(cases, seed=0)
        growth = [i for i in bank if i.template_id in PAIR_TEMPLATES and i.paraphrase == 0]
        out["growth_items"] = dict(sorted(Counter(
            f"{i.template_id}={i.answer}" for i in growth
            if i.template_id in ("growth", "new_nodule")).items()))
        out["pair_template_items"] = len(growth)
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--data-root", type=Path, required=True)
    parser.add_argument("--index-from", type=Path, required=True)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--n-per-round", type=int, default=5)
    args = parser.parse_args()
    index = NoduleIndex.load(Workspace(args.index_from).index_table)
    ctx = PlanContext(index, hosts_from_index(index))
    result: dict[str, dict[str, object]] = {}
    with tempfile.TemporaryDirectory(prefix="bench-longit-") as tmp:
        for attempt, mode in enumerate((False, True, True, False)):  # both orders: warm-up
            key = "longitudinal" if mode else "independent"
            root = Path(tmp) / f"{key}-{attempt}"
            run = _run(ctx, root, args.data_root, longitudinal=mode, workers=args.workers,
                       n=args.n_per_round)
            shutil.rmtree(root, ignore_errors=True)
            best = result.get(key)
            if best is None or float(run["insert_s"]) < float(best["insert_s"]):  # type: ignore[arg-type]
                result[key] = run
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
