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
