"""Donor resampling and the crop-local fit primitives, checked against brute force."""

from __future__ import annotations

import math

import numpy as np
import pytest

from conftest import ellipsoid_crop, sphere_crop
from lesiontrials import anatomy
from lesiontrials.geometry import NoduleMask, bounding_box
from lesiontrials.insert.transplant import (
    companion_zone,
    correlate_counts,
    equivalent_diameter_mm,
    grids_align,
    offset_for_centroid,
    pleura_violations,
    resample_donor,
)
from lesiontrials.testing import box_thorax

SPACINGS = [(0.7, 0.7, 1.25), (2.0, 2.0, 2.5), (3.0, 3.0, 4.0), (0.6, 0.6, 2.5)]


def test_unscaled_donor_on_the_host_spacing_is_copied_exactly():
    mask = ellipsoid_crop((5.0, 3.0, 4.0), (1.0, 1.0, 1.25))
    tight = mask[bounding_box(mask)]
    assert np.array_equal(resample_donor(mask, (1.0, 1.0, 1.25), (1.0, 1.0, 1.25)), tight)


@pytest.mark.parametrize("source", SPACINGS)
@pytest.mark.parametrize("target", SPACINGS)
@pytest.mark.parametrize("radius", [2.0, 4.0, 7.5])
def test_resampling_keeps_the_diameter_within_one_voxel(source, target, radius):
    donor = sphere_crop(radius, source)
    planned = equivalent_diameter_mm(int(donor.sum()), source)
    out = resample_donor(donor, source, target)
    realised = equivalent_diameter_mm(int(out.sum()), target)
    assert abs(realised - planned) <= max(target)
    # volume is kept to a few percent whenever the nodule spans several voxels
    if planned > 3 * max(target):
        volume = donor.sum() * np.prod(source)
        assert out.sum() * np.prod(target) == pytest.approx(
            volume, abs=max(0.05 * volume, np.prod(target)))


@pytest.mark.parametrize("scale", [0.5, 0.67, 1.5, 2.0])
def test_scale_multiplies_the_diameter(scale):
    source, target = (0.7, 0.7, 1.25), (1.0, 1.0, 1.5)
    donor = sphere_crop(6.0, source)
    base = equivalent_diameter_mm(int(donor.sum()), source)
    out = resample_donor(donor, source, target, scale=scale)
    assert equivalent_diameter_mm(int(out.sum()), target) == pytest.approx(base * scale,
                                                                            abs=max(target))


def test_anisotropic_donor_keeps_its_shape_in_mm():
    source, target = (0.6, 0.6, 2.5), (1.5, 1.5, 1.5)
    out = resample_donor(ellipsoid_crop((9.0, 4.5, 6.0), source), source, target)
    extent_mm = np.asarray(out.shape) * np.asarray(target)
    assert extent_mm == pytest.approx((18.0, 9.0, 12.0), abs=2 * 1.5)


def test_a_nodule_never_vanishes_and_empty_donors_are_refused():
    tiny = np.zeros((3, 3, 3), bool)
    tiny[1, 1, 1] = True
    assert resample_donor(tiny, (0.5, 0.5, 0.5), (3.0, 3.0, 4.0), scale=0.3).sum() == 1
    with pytest.raises(ValueError, match="empty"):
        resample_donor(np.zeros((3, 3, 3), bool), (1, 1, 1), (1, 1, 1))


def test_correlate_counts_equals_brute_force():
    rng = np.random.default_rng(0)
    field = rng.random((12, 10, 9)) < 0.4
    kernel = rng.random((4, 3, 5)) < 0.6
    counts = correlate_counts(field, kernel)
    assert counts.shape == (9, 8, 5)
    for index in np.ndindex(*counts.shape):
        box = tuple(slice(i, i + k) for i, k in zip(index, kernel.shape, strict=True))
        assert counts[index] == int((field[box] & kernel).sum())


def test_correlate_counts_is_empty_where_the_kernel_is_longer():
    counts = correlate_counts(np.ones((5, 5, 5), bool), np.ones((6, 2, 2), bool))
    assert counts.shape == (0, 4, 4)


def test_insertion_needs_no_scipy_signal():
    """Importing ``scipy.signal`` costs ~2 CPU-s in every fresh pool worker."""
    import subprocess
    import sys

    code = ("import sys, numpy as np; from lesiontrials.insert.transplant import "
            "correlate_counts; ones = np.ones((6, 6, 6), bool); "
            "correlate_counts(ones, ones[:2, :2, :2]); print('scipy.signal' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


def test_grid_alignment_and_centroid_offsets():
    host = np.diag([2.0, 2.0, 2.5, 1.0])
    crop = host.copy()
    crop[:3, 3] = host[:3, :3] @ np.array([5, 7, 9])
    assert grids_align(crop, host) == (5, 7, 9)
    crop[0, 3] += 0.5
    assert grids_align(crop, host) is None
    assert grids_align(np.diag([1.0, 1.0, 1.0, 1.0]), host) is None
    kernel = np.ones((3, 3, 3), bool)
    assert offset_for_centroid(kernel, np.array([10.0, 10.4, 10.6])).tolist() == [9, 9, 10]


def test_pleura_violations_match_the_distance_to_non_lung():
    thorax = box_thorax()
    labels, spacing = thorax.volume.array, thorax.spacing_mm
    (_, x1), _, _ = thorax.boxes[anatomy.LOBE_LABEL_IDS[anatomy.Lobe.RUL]]
    window = (slice(x1 - 8, x1 + 2), slice(30, 40), slice(60, 64))
    bad = pleura_violations(labels, anatomy.LUNG_INTERIOR_LABELS, window, spacing, 5.0)
    xs = np.arange(x1 - 8, x1 + 2)
    # along x the nearest non-lung voxel is x1 (the lung's right border), 2 mm per voxel
    expected = (x1 - xs) * spacing[0] < 5.0
    assert np.array_equal(bad[:, 5, 2], expected)


def test_companion_zone_forbids_touching_and_the_gap():
    spacing = (1.0, 1.0, 2.0)
    companion = NoduleMask(np.ones((2, 2, 2), bool), (10, 10, 10))
    window = (slice(0, 20), slice(0, 20), slice(0, 20))
    zone = companion_zone(window, [companion], spacing, 0.0, (30, 30, 30))
    assert zone is not None
    # 26-neighbours touch; with no gap asked, the reach is one voxel diagonal (2.45 mm)
    assert zone[12, 12, 12] and zone[9, 9, 9] and zone[13, 11, 11]
    assert not zone[14, 11, 11] and not zone[11, 11, 13]
    wide = companion_zone(window, [companion], spacing, 3.0, (30, 30, 30))
    assert wide is not None and wide[14, 11, 11] and not wide[15, 11, 11]
    far = NoduleMask(np.ones((1, 1, 1), bool), (28, 28, 28))
    assert companion_zone(window, [far], spacing, 0.0, (30, 30, 30)) is None


def test_equivalent_diameter():
    assert equivalent_diameter_mm(1, (1.0, 1.0, 1.0)) == pytest.approx((6 / math.pi) ** (1 / 3))
