"""Shared test configuration: the ``gpu`` marker skips cleanly without CUDA."""

from __future__ import annotations

import importlib.util

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
    """The demo world with two hosts per source (seed 5), built once per test session for
    the tests that run whole pipelines on it; skipped when the packaged data is unreachable."""
    from lesiontrials.settings import load_settings
    from lesiontrials.world.build import build_world

    out = tmp_path_factory.mktemp("tiny_world") / "root"
    try:
        build_world(out, size="demo", seed=5, workers=1, cache_dir=load_settings().cache_dir,
                    hosts_per_source=2, grid="coarse")
    except Exception as exc:  # packaged data unreachable (offline machine)
        if "could not download" in str(exc):
            pytest.skip(f"packaged data not available: {exc}")
        raise
    return out
