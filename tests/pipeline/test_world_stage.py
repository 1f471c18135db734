"""The world stage: a configured data root is used as it is."""

from __future__ import annotations

from pathlib import Path

import pytest

from lesiontrials.errors import ConfigError
from lesiontrials.pipeline.build import world
from lesiontrials.settings import load_settings


def test_a_grid_asked_of_a_configured_data_root_is_refused(tmp_path: Path) -> None:
    settings = load_settings(workspace=tmp_path / "ws", data_root=tmp_path / "root")
    assert world(settings).root == tmp_path / "root"  # used as it is
    with pytest.raises(ConfigError, match="unset the data root"):
        world(settings, grid="full")
