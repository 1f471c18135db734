"""Fixtures for the render tests."""

from __future__ import annotations

import pytest
from render_cases import SHAPE, SPACING

from lesiontrials.io import Volume
from lesiontrials.testing import box_thorax


@pytest.fixture(scope="session")
def thorax() -> Volume:
    return box_thorax(SHAPE, SPACING).volume
