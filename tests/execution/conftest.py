"""Fixtures for the executor tests: one real local Ray cluster for the session, the import
path for worker processes, and the small insertion world."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from insert_world import write_world
from model_probe import MAISI_FILES

HERE = Path(__file__).parent


def worker_pythonpath() -> str:
    """``PYTHONPATH`` for worker processes, so they can import this test folder."""
    return os.pathsep.join(p for p in (str(HERE), os.environ.get("PYTHONPATH", "")) if p)


@pytest.fixture(scope="session")
def maisi_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Where the tiny MAISI checkpoints go; Ray workers find them through the env."""
    return tmp_path_factory.mktemp("maisi")


@pytest.fixture(scope="session")
def ray_cluster(maisi_dir: Path) -> Iterator[Any]:
    """A real two-CPU Ray cluster on loopback, shared by the session.

    Workers import this folder and see ``LESIONTRIALS_MAISI_*`` pointing at
    :func:`maisi_dir` (CPU device), which only the MAISI test fills.
    """
    ray = pytest.importorskip("ray")
    env = {"PYTHONPATH": worker_pythonpath(), "LESIONTRIALS_MAISI_DEVICE": "cpu",
           "LESIONTRIALS_MAISI_CONFIG": str(maisi_dir / "config.json")}
    env |= {f"LESIONTRIALS_MAISI_{k.upper()}": str(maisi_dir / f"{k}.pt") for k in MAISI_FILES}
    ray.init(num_cpus=2, include_dashboard=False, _node_ip_address="127.0.0.1",
             log_to_driver=False, runtime_env={"env_vars": env})
    yield ray
    ray.shutdown()


@pytest.fixture
def on_path(monkeypatch: pytest.MonkeyPatch) -> None:
    """Let submitit's local subprocesses import this test folder."""
    monkeypatch.setenv("PYTHONPATH", worker_pythonpath())


@pytest.fixture(scope="session")
def data_root(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, float]]:
    """The insertion world's data root and its donor diameters (mm)."""
    root = tmp_path_factory.mktemp("dataroot")
    return root, write_world(root)
