"""A planning context built in memory from release-schema profile tables (no files read
after the build), with every scan usable as a host and every mask available."""

from __future__ import annotations

import pytest

from lesiontrials.index import NoduleIndex, build_index
from lesiontrials.paths import DataRoot
from lesiontrials.testing import write_release_profiles
from lesiontrials.trials import PlanContext, hosts_from_index

COUNTS = {"LUNA25": 240, "DLCS24": 160, "LUNA16": 60, "NSCLCR": 30}


@pytest.fixture(scope="session")
def plan_ctx(tmp_path_factory) -> PlanContext:
    root = write_release_profiles(tmp_path_factory.mktemp("release"), COUNTS, seed=3)
    table = build_index(DataRoot(root)).table
    table["mask_available"] = True
    table["host_available"] = True
    index = NoduleIndex(table)
    return PlanContext(index, hosts_from_index(index))
