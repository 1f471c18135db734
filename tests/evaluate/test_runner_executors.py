"""Scoring runs through the executor interface: the same bytes in-process, on a local pool
and on an executor made active by the caller; a caller's executor is used, never one read
from the environment; the model is built per worker, with no module-global left behind."""

from __future__ import annotations

import shutil
from pathlib import Path

from evalsynth import TRIAL

from lesiontrials.execution import (
    InProcessExecutor,
    LocalPoolExecutor,
    record_summaries,
    use_executor,
)
from lesiontrials.paths import Workspace
from lesiontrials.scoring import runner
from lesiontrials.scoring.runner import score
from lesiontrials.testing import output_snapshot


def _results(ws: Workspace) -> dict[str, bytes]:
    return output_snapshot(ws.results_root, root=ws.results_root)


def test_scoring_gives_identical_bytes_on_every_local_executor(fresh_trial, tmp_path: Path,
                                                                monkeypatch):
    monkeypatch.setenv("LESIONTRIALS_EXECUTOR", "slurm")  # never read by the library
    copies = {}
    for name in ("in-process", "pool", "active"):
        root = tmp_path / name
        shutil.copytree(fresh_trial.workspace.root, root)
        copies[name] = Workspace(root)
    with record_summaries() as summaries:
        score(model="blob", workspace=copies["in-process"], sets=[TRIAL], shard_size=4,
              executor=InProcessExecutor())
        score(model="blob", workspace=copies["pool"], sets=[TRIAL], shard_size=4,
              executor=LocalPoolExecutor(workers=2))
        with use_executor(LocalPoolExecutor(workers=2)):
            score(model="blob", workspace=copies["active"], sets=[TRIAL], shard_size=4)
    assert [s.executor for s in summaries] == ["in-process", "local-pool", "local-pool"]
    assert all(s.failed == 0 and s.done > 0 for s in summaries)
    reference = _results(copies["in-process"])
    assert reference and any(name.endswith(".parquet") for name in reference)
    assert _results(copies["pool"]) == reference
    assert _results(copies["active"]) == reference
    assert not hasattr(runner, "_MODEL")  # no module-global model to leak between calls


def test_the_run_scores_apart_with_the_same_bytes(fresh_trial, tmp_path: Path) -> None:
    """``run``'s score stage on the local pool scores in a spawned process of its own (its
    workers then start small, not from the run's heap): the same result bytes as scoring
    in this process, and the summaries come back."""
    from lesiontrials.pipeline import score as pipeline_score
    from lesiontrials.pipeline import score_stage
    from lesiontrials.scoring.models.config import from_cli
    from lesiontrials.settings import load_settings

    copies = {}
    for name in ("here", "apart"):
        shutil.copytree(fresh_trial.workspace.root, tmp_path / name)
        copies[name] = load_settings(workspace=tmp_path / name, workers=1)
    models = from_cli(["majority", "threshold"], model_path=None, options={})
    here = pipeline_score(copies["here"], InProcessExecutor(), models=models)
    apart = score_stage(copies["apart"], LocalPoolExecutor(workers=1), models=models)
    assert [s.model for s in apart] == [s.model for s in here] == ["majority", "threshold"]
    assert _results(Workspace(tmp_path / "apart")) == _results(Workspace(tmp_path / "here"))
