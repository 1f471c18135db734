"""One nodule out of a per-scan mask file: the shared donor extraction."""

from __future__ import annotations

import numpy as np
import pytest

from lesiontrials.donors import nodule_component, nodule_volume
from lesiontrials.errors import InputError
from lesiontrials.io import Volume


def _two_nodules() -> tuple[np.ndarray, np.ndarray]:
    """Two cubes on a 1 mm grid whose origin is (-10, -10, 0) mm (RAS)."""
    mask = np.zeros((20, 20, 20), bool)
    mask[2:5, 2:5, 2:5] = True  # centre voxel (3, 3, 3) → (-7, -7, 3) mm
    mask[12:16, 12:16, 12:16] = True  # centre (13.5, 13.5, 13.5) → (3.5, 3.5, 13.5) mm
    affine = np.eye(4)
    affine[:3, 3] = (-10.0, -10.0, 0.0)
    return mask, affine


def test_picks_the_component_at_the_profile_centre():
    mask, affine = _two_nodules()
    picked = nodule_component(mask, affine, (3.5, 3.5, 13.5))
    assert picked.mask[13, 13, 13] and not picked.mask[3, 3, 3]
    assert picked.mask.sum() == 64 and picked.n_components == 2
    assert picked.distance_mm == pytest.approx(np.sqrt(3 * 0.25))  # nearest voxel centre
    other = nodule_component(mask, affine, (-7.0, -7.0, 3.0))
    assert other.mask.sum() == 27 and other.mask[3, 3, 3]


def test_a_centre_off_the_nodule_within_tolerance_still_matches():
    mask, affine = _two_nodules()
    picked = nodule_component(mask, affine, (3.5, 3.5, 13.5 + 4.0), tolerance_mm=5.0)
    assert picked.mask[13, 13, 13] and picked.distance_mm == pytest.approx(
        np.sqrt(0.5**2 + 0.5**2 + 2.5**2))


def test_refuses_when_no_component_is_near_the_centre():
    mask, affine = _two_nodules()
    with pytest.raises(InputError, match=r"no nodule of the mask file lies within 5 mm.*"
                       r"2 component") as err:
        nodule_component(mask, affine, (60.0, 60.0, 60.0), path="masks/IMDCT/x_seg.nii.gz")
    assert "x_seg.nii.gz" in str(err.value) and "Fix:" in str(err.value)


def test_refusal_recognises_lps_coordinates():
    mask, affine = _two_nodules()
    with pytest.raises(InputError, match="ITK/LPS"):
        nodule_component(mask, affine, (-3.5, -3.5, 13.5))  # x, y negated


def test_empty_mask_and_non_finite_centre_are_refused():
    mask, affine = _two_nodules()
    with pytest.raises(InputError, match="no nodule voxels"):
        nodule_component(np.zeros_like(mask), affine, (0.0, 0.0, 0.0))
    with pytest.raises(InputError, match="not a finite"):
        nodule_component(mask, affine, (np.nan, 0.0, 0.0))


def test_nodule_volume_keeps_a_per_nodule_file_whole():
    mask, affine = _two_nodules()
    volume = Volume(mask.astype(np.uint8), affine)
    assert nodule_volume(volume, scope="nodule", point_mm=(0, 0, 0)) is volume
    one = nodule_volume(volume, scope="scan", point_mm=(-7.0, -7.0, 3.0))
    assert int(one.array.sum()) == 27 and np.array_equal(one.affine, affine)
    with pytest.raises(ValueError, match="unknown mask scope"):
        nodule_volume(volume, scope="study", point_mm=(0, 0, 0))
