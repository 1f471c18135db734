"""A phantom's native nodule records the library donor it was sampled from, and its stored
mask is exactly that donor's shape sampled on the phantom grid — the premise on which a
trial draws it from the donor's fine mask (render/appearance/shape_source.py)."""

from __future__ import annotations

import dataclasses

import numpy as np

from lesiontrials.io import read_volume
from lesiontrials.paths import DataRoot
from lesiontrials.testing import ellipsoid_mask
from lesiontrials.world.hosts import build_phantom_host
from lesiontrials.world.natives import DonorShape, native_mask
from lesiontrials.world.sources import PHANTOM_SOURCES, plan_hosts

SOURCE_SPACING = (0.35, 0.35, 2.5)


def test_a_native_names_its_source_and_is_its_source_sampled(tmp_path) -> None:
    plan = plan_hosts(PHANTOM_SOURCES[0], source_index=0, n_hosts=1, grid="coarse", seed=0,
                      donor_uids=[f"D{k}" for k in range(6)],
                      donor_diameters=np.linspace(5.0, 15.0, 6),
                      donor_labels=np.zeros(6, dtype=int))[0]
    plan = dataclasses.replace(plan, donor_uids=("src",))
    source = ellipsoid_mask((5.5, 4.5, 4.0), SOURCE_SPACING, centre_mm=(0.2, -0.1, 0.7))
    donor = DonorShape("src", source, SOURCE_SPACING)
    attributes = {"src": {"label": 0, "source_donor_uid": "LIDC/src"}}
    rows = build_phantom_host(plan, [donor], attributes, tmp_path)
    assert len(rows) == 1 and rows.loc[0, "source_donor_uid"] == "LIDC/src"
    stored = read_volume(DataRoot(tmp_path).nodule_seg(plan.dataset, rows.loc[0, "AnnotationID"]))
    kept = stored.array.astype(bool)
    expected = native_mask(donor, plan.spacing_mm)
    assert kept.shape == expected.shape and np.array_equal(kept, expected)
    assert np.allclose(np.linalg.norm(stored.affine[:3, :3], axis=0), plan.spacing_mm)
    again = build_phantom_host(plan, [donor], attributes, tmp_path)  # resumed: same record
    assert again.equals(rows)
