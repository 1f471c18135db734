"""Placement: percent → voxel conventions, snapping, pleural distance, companions."""

from __future__ import annotations

import numpy as np
import pytest

from conftest import sphere_crop
from lesiontrials import anatomy
from lesiontrials.geometry import NoduleMask, bounding_box
from lesiontrials.insert.placement import (
    FitRule,
    choose_lobe,
    constraints_at,
    draw_free_percents,
    find_fit,
    level_percents,
    lobe_target,
    random_lobe_voxel,
)
from lesiontrials.insert.transplant import nearest_distance_mm, voxel_diagonal_mm
from lesiontrials.measurements.host import HostAnatomy
from lesiontrials.measurements.measure import pleural_distance
from lesiontrials.testing import box_thorax

RUL = anatomy.LOBE_LABEL_IDS[anatomy.Lobe.RUL]


@pytest.fixture(scope="module")
def thorax():
    return box_thorax()


def _wedge() -> tuple[np.ndarray, tuple[slice, slice, slice]]:
    """A lobe that narrows upwards: x 10..29 on slice 0, x 10..20 on slice 9."""
    labels = np.zeros((40, 30, 10), np.uint8)
    for z in range(10):
        labels[10:30 - z, 5 + z // 3:25, z] = RUL
    box = bounding_box(labels == RUL)
    assert box is not None
    return labels, box


def test_percent_axes_follow_ras():
    labels, box = _wedge()
    low = lobe_target(labels, box, RUL, cc_pct=0, ml_pct=0, ap_pct=0)
    high = lobe_target(labels, box, RUL, cc_pct=100, ml_pct=100, ap_pct=100)
    # cc 0 = most inferior slice, ml 0 = patient-left (low x), ap 0 = posterior (low y)
    assert low.tolist() == [10.0, 5.0, 0.0]
    # in-plane percents are over the lobe's extent on that slice (x 10..20, y 8..24 at z 9)
    assert high.tolist() == [20.0, 24.0, 9.0]
    middle = lobe_target(labels, box, RUL, cc_pct=50, ml_pct=50, ap_pct=50)
    assert middle.tolist() == pytest.approx([17.0, 15.0, 4.5])  # slice 5: x 10..24, y 6..24


def test_level_percents_invert_lobe_target():
    labels, box = _wedge()
    for cc, ml, ap in [(10.0, 20.0, 30.0), (80.0, 75.0, 5.0), (44.4, 50.0, 100.0)]:
        target = lobe_target(labels, box, RUL, cc_pct=cc, ml_pct=ml, ap_pct=ap)
        assert level_percents(labels, box, RUL, target) == pytest.approx((cc, ml, ap), abs=1e-6)


def test_box_thorax_lobe_targets(thorax):
    (_, x1), (y0, _), (z0, _) = thorax.boxes[RUL]
    host = HostAnatomy(thorax.volume.array, thorax.spacing_mm)
    target = lobe_target(host.labels, host.boxes[RUL], RUL, cc_pct=0, ml_pct=100, ap_pct=0)
    assert target.tolist() == [x1 - 1, y0, z0]


def test_free_percents_and_random_choices_are_seeded(thorax):
    a = draw_free_percents(np.nan, 30.0, np.nan, np.random.default_rng(1))
    b = draw_free_percents(np.nan, 30.0, np.nan, np.random.default_rng(1))
    assert a == b and a[1] == 30.0 and all(0 <= v <= 100 for v in a)
    labels = thorax.volume.array
    box = bounding_box(labels == RUL)
    voxel = random_lobe_voxel(labels, box, RUL, np.random.default_rng(2))
    assert labels[tuple(voxel.astype(int))] == RUL
    lobes = {choose_lobe([28, 29, 30, 31, 32], np.random.default_rng(s)) for s in range(40)}
    assert lobes == {28, 29, 30, 31, 32}


def _fit(thorax, radius, target, **rule):
    kernel = sphere_crop(radius, thorax.spacing_mm)
    kernel = kernel[bounding_box(kernel)]
    host = HostAnatomy(thorax.volume.array, thorax.spacing_mm)
    defaults = {"region_ids": (RUL,), "min_inside_fraction": 0.95, "min_lung_fraction": 1.0}
    fit_rule = FitRule(**{**defaults, **rule})
    return host, kernel, fit_rule


def test_a_target_that_fits_is_kept(thorax):
    host, kernel, rule = _fit(thorax, 5.0, None)
    target = np.array([70.0, 40.0, 60.0])
    fit = find_fit(host.labels, host.spacing_mm, kernel, target, rule, limit=host.boxes[RUL])
    assert fit is not None and fit.blocked == () and fit.shift_mm < 1.0


def test_a_target_at_the_lobe_corner_snaps_inside(thorax):
    host, kernel, rule = _fit(thorax, 5.0, None)
    (_, x1), (y0, _), (_, z1) = thorax.boxes[RUL]
    target = np.array([x1 - 1, y0, z1 - 1], float)
    fit = find_fit(host.labels, host.spacing_mm, kernel, target, rule, limit=host.boxes[RUL])
    assert fit is not None and "containment" in fit.blocked
    nodule = NoduleMask(kernel, fit.offset)
    assert np.all(host.labels[nodule.box][nodule.mask] == RUL)
    # the nearest fitting position: the sphere just touches the lobe's far corner faces
    assert fit.shift_mm == pytest.approx(np.linalg.norm(
        (nodule.centroid_voxel() - target) * np.asarray(host.spacing_mm)))
    assert nodule.box[0].stop == x1 and nodule.box[1].start == y0 and nodule.box[2].stop == z1


def test_the_found_position_is_the_nearest_valid_one(thorax):
    host, kernel, rule = _fit(thorax, 3.0, None, min_pleural_mm=3.0)
    (_, x1), (y0, _), (z0, _) = thorax.boxes[RUL]
    target = np.array([x1 - 2.3, y0 + 1.6, z0 + 3.2])
    fit = find_fit(host.labels, host.spacing_mm, kernel, target, rule, limit=host.boxes[RUL])
    assert fit is not None
    centroid = np.argwhere(kernel).mean(axis=0)
    best = np.inf
    for offset in np.ndindex(12, 12, 12):  # brute force around the target
        offset_arr = np.floor(target - centroid + 0.5).astype(int) - 6 + np.asarray(offset)
        if not constraints_at(host.labels, host.spacing_mm, kernel, offset_arr, rule):
            shift = np.linalg.norm((offset_arr + centroid - target) * host.spacing_mm)
            best = min(best, shift)
    assert fit.shift_mm == pytest.approx(best)


def test_minimum_pleural_distance_is_kept(thorax):
    host, kernel, rule = _fit(thorax, 4.0, None, min_pleural_mm=8.0)
    (_, x1), _, _ = thorax.boxes[RUL]
    target = np.array([x1 - 1, 40.0, 60.0])
    fit = find_fit(host.labels, host.spacing_mm, kernel, target, rule, limit=host.boxes[RUL])
    assert fit is not None and "pleura" in fit.blocked
    nodule = NoduleMask(kernel, fit.offset)
    assert pleural_distance(host, nodule) >= 8.0
    # and not further than needed (the next voxel inward would also satisfy it)
    assert pleural_distance(host, nodule) < 8.0 + host.spacing_mm[0] + 1e-6


def test_companions_keep_their_gap(thorax):
    host, kernel, rule = _fit(thorax, 4.0, None, gap_mm=3.0)
    target = np.array([70.0, 40.0, 60.0])
    placed: list[NoduleMask] = []
    for _ in range(3):
        fit = find_fit(host.labels, host.spacing_mm, kernel, target, rule,
                       limit=host.boxes[RUL], companions=placed)
        assert fit is not None
        nodule = NoduleMask(kernel, fit.offset)
        for other in placed:
            gap = nearest_distance_mm(nodule, other, host.spacing_mm)
            assert gap > max(3.0, voxel_diagonal_mm(host.spacing_mm))
        if placed:
            assert fit.blocked == ("companion",)
        placed.append(nodule)


def test_no_fit_for_a_nodule_larger_than_the_lobe_or_beyond_the_shift(thorax):
    host, kernel, rule = _fit(thorax, 40.0, None)
    target = np.array([70.0, 40.0, 60.0])
    assert find_fit(host.labels, host.spacing_mm, kernel, target, rule,
                    limit=host.boxes[RUL]) is None
    host, kernel, rule = _fit(thorax, 5.0, None)
    (_, x1), (y0, _), (_, z1) = thorax.boxes[RUL]
    corner = np.array([x1 - 1, y0, z1 - 1], float)
    assert find_fit(host.labels, host.spacing_mm, kernel, corner, rule, limit=host.boxes[RUL],
                    max_shift_mm=2.0) is None
