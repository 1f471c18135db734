"""The demo's training runs in its own process: result back, errors and deaths loud."""

from __future__ import annotations

import os
from concurrent.futures.process import BrokenProcessPool

import pytest

from lesiontrials.pipeline.evaluation import _apart


def test_a_function_run_apart_runs_in_another_process_and_returns_its_result():
    assert _apart(os.getpid) != os.getpid()
    assert _apart(divmod, 17, 5) == (3, 2)


def test_an_error_in_the_child_is_raised_here_and_a_dead_child_is_an_error_not_a_wait():
    with pytest.raises(ValueError, match="invalid literal"):
        _apart(int, "not a number")
    with pytest.raises(BrokenProcessPool):
        _apart(os._exit, 1)


def test_training_started_apart_comes_back_when_asked_and_its_errors_reach_run(tmp_path):
    """run() starts the demo's training in its own process and does the volume track
    meanwhile: the lines come back when asked for (its errors come back as _apart's do:
    the same future)."""
    from lesiontrials.pipeline.evaluation import start_train_demo
    from lesiontrials.settings import load_settings

    settings = load_settings(workspace=tmp_path / "ws", seed=0, workers=2)
    lines = start_train_demo(settings)  # an empty workspace: nothing to train on
    assert lines() == ["no model trained: training sets [], held-out sets [] (both are "
                       "needed)"]
