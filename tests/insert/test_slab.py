"""The axial slab a case keeps: which slices, where it sits, and its affine."""

from __future__ import annotations

import numpy as np
import pytest

from lesiontrials import anatomy
from lesiontrials.insert.slab import (
    Slab,
    cut_slab,
    decide_slab,
    lung_area_per_slice,
    slab_affine,
    slab_z_mm,
)

AFFINE = np.array([[0.75, 0, 0, -191.6], [0, 0.75, 0, -191.6], [0, 0, 1.25, -159.4],
                   [0, 0, 0, 1]])


def _slab(nodule_z, *, seed=0, depth=256, lung_area=None, length_mm=32.0, margin_mm=14.0):
    return decide_slab(depth=depth, spacing_z_mm=1.25, nodule_z=nodule_z, lung_area=lung_area,
                       length_mm=length_mm, margin_mm=margin_mm,
                       rng=np.random.default_rng(seed))


def test_the_slab_keeps_the_nodules_and_their_margin_at_a_random_offset():
    starts = set()
    for seed in range(40):
        slab = _slab((120, 127), seed=seed)
        assert slab is not None
        assert slab.z0 <= 120 - 12 and slab.z1 - 1 >= 127 + 12  # 14 mm = 12 slices
        assert slab.depth == max(26, 8 + 24)  # 32 mm = 26 slices; nodule + margins = 32
        starts.add(slab.z0)
    assert len(starts) == 1  # exactly as long as the nodules + margins: one position
    long = {_slab((120, 123), seed=s, length_mm=60.0).z0 for s in range(40)}
    assert len(long) > 5  # a longer slab than needed sits anywhere around the nodules


def test_the_slab_is_clipped_to_the_volume_and_dropped_when_not_shorter():
    near_top = _slab((250, 255))
    assert near_top is not None and near_top.z1 == 256
    assert _slab((0, 3)).z0 == 0
    assert _slab((10, 250)) is None  # the whole volume: no slab
    assert _slab((3, 4), depth=20) is None


def test_a_nodule_free_slab_is_centred_on_a_lung_slice():
    area = np.zeros(256)
    area[100:180] = 1000.0
    area[95:100] = 100.0  # below a quarter of the largest area: never a centre
    for seed in range(30):
        slab = _slab(None, seed=seed, lung_area=area)
        assert 100 <= (slab.z0 + slab.z1) // 2 < 180
    with pytest.raises(ValueError, match="lung area"):
        _slab(None)
    with pytest.raises(ValueError, match="no lung slice"):
        _slab(None, lung_area=np.zeros(256))


def test_the_slab_affine_puts_every_voxel_at_its_host_world_position():
    labels = np.zeros((6, 5, 40), dtype=np.uint8)
    labels[2, 3, 17] = anatomy.NODULE
    labels[1:5, 1:4, 10:30] = np.where(labels[1:5, 1:4, 10:30] == 0, 30, labels[1:5, 1:4, 10:30])
    slab = Slab(12, 25)
    cut, affine = cut_slab(labels, slab), slab_affine(AFFINE, slab)
    assert cut.shape == (6, 5, 13) and cut.flags.c_contiguous
    ijk = np.argwhere(cut == anatomy.NODULE)[0]
    world_slab = affine[:3, :3] @ ijk + affine[:3, 3]
    world_host = AFFINE[:3, :3] @ np.array([2, 3, 17]) + AFFINE[:3, 3]
    assert np.allclose(world_slab, world_host)
    assert slab_z_mm(AFFINE, slab) == pytest.approx((-159.4 + 12 * 1.25, -159.4 + 24 * 1.25))
    assert lung_area_per_slice(labels)[10:30].tolist() == [12] * 7 + [11] + [12] * 12
