"""Render every inserted case of a trial (resumable) and write the trial's fidelity summary.

Writes ``cases/{trial}/render_summary.json``: counts by status and backend, and the
aggregated fidelity numbers (:func:`~lesiontrials.render.fidelity.fidelity.trial_fidelity`). With
``feature_distance=True`` it also embeds the rendered CTs and the data root's real CTs with
the packaged 3-D encoder (``encoder`` extra) and writes ``cases/{trial}/feature_distance.json``
(:mod:`~lesiontrials.render.fidelity.feature_distance`).
"""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

from lesiontrials.execution import (
    CaseOutcome,
    Executor,
    model_executor,
    run_cases,
    stage_executor,
)
from lesiontrials.io import read_record, write_content_json
from lesiontrials.io.decoded import DecodedCache
from lesiontrials.paths import INSERT_JSON, RENDER_JSON, Workspace
from lesiontrials.records.render import RenderRecord
from lesiontrials.render.case import RenderJob, render_case
from lesiontrials.render.fidelity.fidelity import trial_fidelity

SUMMARY_FILE = "render_summary.json"


def inserted_trials(workspace: Workspace) -> list[str]:
    """Trials that have at least one inserted case, sorted."""
    root = workspace.root / "cases"
    if not root.is_dir():
        return []
    return sorted(p.name for p in root.iterdir() if p.is_dir() and any(p.glob(f"*/{INSERT_JSON}")))


def render_jobs(workspace: Workspace, trial: str, *, data_root: Path, backend: str = "auto",
                appearance: str = "", decoded_cache: DecodedCache | None = None
                ) -> list[RenderJob]:
    cases = sorted(p.parent for p in workspace.cases_dir(trial).glob(f"*/{INSERT_JSON}"))
    return [RenderJob(case_dir=c, data_root=Path(data_root), backend=backend,
                      appearance=appearance, decoded_cache=decoded_cache) for c in cases]


def render_executor(backend: str, *, workers: int) -> Executor | None:
    """The executor for a model backend (MAISI: Ray actors loading the networks once each,
    GPUs from settings; a GPU SLURM array), or None: ``run_cases`` chooses as usual."""
    if backend != "maisi":
        return None
    return model_executor(workers=workers, setup=warm_maisi)


def warm_maisi() -> None:
    """Load the MAISI networks in this process (a Ray actor's setup): cases reuse them."""
    from lesiontrials.render.backends.maisi import renderer_from_env

    renderer_from_env()


def render_trials(trials: Sequence[str], *, workspace: Workspace, data_root: Path,
                  backend: str = "auto", workers: int = 1, appearance: str = "",
                  show_progress: bool = True, feature_distance: bool = False,
                  decoded_cache: DecodedCache | None = None) -> Iterator[dict[str, Any]]:
    """Render (or resume) each trial, yielding its summary; one stage executor serves them
    all, so model actors (MAISI) load their networks once for every trial
    (``decoded_cache``: host CTs decoded once per workspace, :mod:`lesiontrials.io.decoded`)."""
    with stage_executor(render_executor(backend, workers=workers)) as executor:
        for trial in trials:
            yield _render_trial(trial, workspace=workspace, data_root=data_root,
                                backend=backend, workers=workers, appearance=appearance,
                                show_progress=show_progress,
                                feature_distance=feature_distance, executor=executor,
                                decoded_cache=decoded_cache)


def render_trial(trial: str, *, workspace: Workspace, data_root: Path, backend: str = "auto",
                 workers: int = 1, appearance: str = "", show_progress: bool = True,
                 feature_distance: bool = False) -> dict[str, Any]:
    """Render (or resume) one trial; returns and writes its summary (``feature_distance``:
    add the deep-feature distance to the real CTs, cached per file)."""
    [summary] = render_trials([trial], workspace=workspace, data_root=data_root,
                              backend=backend, workers=workers, appearance=appearance,
                              show_progress=show_progress, feature_distance=feature_distance)
    return summary


def _render_trial(trial: str, *, workspace: Workspace, data_root: Path, backend: str,
                  workers: int, appearance: str, show_progress: bool, feature_distance: bool,
                  executor: Executor | None, decoded_cache: DecodedCache | None = None
                  ) -> dict[str, Any]:
    start = time.perf_counter()
    jobs = render_jobs(workspace, trial, data_root=data_root, backend=backend,
                       appearance=appearance, decoded_cache=decoded_cache)
    outcomes = run_cases(render_case, jobs, keys=[j.case_dir.name for j in jobs],
                         workers=workers, description=f"render {trial}",
                         show_progress=show_progress, executor=executor)
    summary = summarise(trial, jobs, outcomes)
    if feature_distance:
        from lesiontrials.render.fidelity.feature_distance import trial_feature_distance

        distance = trial_feature_distance(trial, cases_dir=workspace.cases_dir(trial),
                                          data_root=Path(data_root))
        summary["feature_distance"] = {k: distance[k] for k in (
            "n_real", "n_synthetic", "frechet", "mean_l2", "mean_cosine", "real_pairwise_l2")}
    summary["seconds"] = round(time.perf_counter() - start, 2)
    write_content_json(summary, workspace.cases_dir(trial) / SUMMARY_FILE)
    return summary


def summarise(trial: str, jobs: list[RenderJob], outcomes: list[CaseOutcome]) -> dict[str, Any]:
    """Counts and trial-level fidelity from every finished case's ``render.json``."""
    records = []
    for job in jobs:
        path = job.case_dir / RENDER_JSON
        if path.is_file():
            records.append(read_record(path, RenderRecord))
    fidelity_rows = [{**r.fidelity["summary"], "lesions": [
        {**x, "texture": x.get("texture", {})} for x in r.fidelity["lesions"]]}
        for r in records]
    failed = [{"case_uid": o.key, "reason": o.reason} for o in outcomes if o.status == "failed"]
    return {
        "trial": trial, "cases": len(jobs),
        "this_run": dict(sorted(Counter(o.status for o in outcomes).items())),
        "rendered": len(records),
        "backends": dict(sorted(Counter(r.backend for r in records).items())),
        "fidelity": trial_fidelity(fidelity_rows), "failed": failed,
    }
