"""Scoring a trained model with two worker processes right after torch ran multi-threaded
in the same process (as the improve loop does: train, then score) must not hang.

Forked workers inherit the parent's OpenMP pool; a multi-threaded torch call in the child
deadlocks on it. The adapter keeps every torch call on one thread; without that this
script never finishes and the timeout fails the test."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.slow  # two interpreters, training and two workers: ~20-70 s

SCRIPT = """
import sys
from pathlib import Path

import pytest

import torch

from lesiontrials.scoring.models.config import ModelConfig, model_factory
from lesiontrials.scoring.results import read_results
from lesiontrials.scoring.runner import score
from lesiontrials.paths import Workspace
from lesiontrials.testing_training import write_disk_set
from lesiontrials.training.loop import train
from lesiontrials.training.recipe import TrainRecipe

def main():
    ws = Workspace(Path(sys.argv[1]))
    write_disk_set(ws, "seen", n_cases=8, seed=1, image_size=32)
    write_disk_set(ws, "held_out", n_cases=8, seed=2, image_size=32)
    out = train(workspace=ws, name="cnn", sets=["seen"],
                recipe=TrainRecipe(epochs=1, image_size=32, width=4))
    torch.set_num_threads(2)  # the parent's OpenMP pool is started with two threads
    x = torch.rand(1000, 1000)
    float((x @ x).sum())
    config = ModelConfig(name="cnn", adapter="trained", path=str(out.path))
    score(model="cnn", model_factory=model_factory(config), workspace=ws, sets=["held_out"],
          conditions=("plain",), tasks=("presence",), workers=2, shard_size=4,
          show_progress=False)
    rows = read_results(ws, model="cnn", set_name="held_out", condition="plain", task="presence")
    print("scored", len(rows))


if __name__ == "__main__":  # the pool starts workers from a fork server once torch is loaded
    main()
"""


def test_scoring_with_two_workers_after_multithreaded_torch_finishes(tmp_path: Path) -> None:
    script = tmp_path / "train_then_score.py"
    script.write_text(SCRIPT)
    src = str(Path(__file__).resolve().parents[2] / "src")
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(
        [src, *filter(None, [os.environ.get("PYTHONPATH")])])}
    done = subprocess.run([sys.executable, str(script), str(tmp_path / "ws")], env=env,
                          capture_output=True, text=True, timeout=120, check=False)
    assert done.returncode == 0, done.stderr[-2000:]
    assert "scored 16" in done.stdout  # every held-out slice answered
