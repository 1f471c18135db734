"""Fixtures of the evaluation tests (the synthetic trial lives in :mod:`evalsynth`)."""

from __future__ import annotations

from pathlib import Path

import pytest
from evalsynth import TRIAL, SyntheticTrial, write_trial


@pytest.fixture(scope="session")
def built_trial(tmp_path_factory: pytest.TempPathFactory) -> SyntheticTrial:
    """The synthetic trial with its evaluation set built (read-only for tests)."""
    from lesiontrials.slicing.sets import build_eval_set

    trial = write_trial(tmp_path_factory.mktemp("evalws"))
    build_eval_set(trial=TRIAL, workspace=trial.workspace, show_progress=False)
    return trial


@pytest.fixture
def fresh_trial(tmp_path: Path) -> SyntheticTrial:
    """A writable copy: the synthetic trial with its set built, per test."""
    from lesiontrials.slicing.sets import build_eval_set

    trial = write_trial(tmp_path / "ws")
    build_eval_set(trial=TRIAL, workspace=trial.workspace, show_progress=False)
    return trial
