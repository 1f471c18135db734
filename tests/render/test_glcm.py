"""The in-house IBSI 3-D GLCM: hand-counted matrices and agreement with MIRP."""

from __future__ import annotations

import numpy as np
import pytest

from lesiontrials.render.fidelity.glcm import (
    OFFSETS,
    cooccurrence_matrix,
    glcm_3d,
    grey_levels,
)


def test_thirteen_unique_directions() -> None:
    assert len(OFFSETS) == 13
    assert len({tuple(-v for v in o) for o in OFFSETS} | set(OFFSETS)) == 26


def test_two_touching_voxels_count_once_each_way() -> None:
    hu = np.full((3, 3, 3), 0.0)
    hu[1, 1, 1], hu[1, 1, 2] = -990.0, -960.0  # bins 1 and 2 at 25 HU from −1000
    mask = np.zeros(hu.shape, bool)
    mask[1, 1, 1:] = True
    levels, n = grey_levels(hu, mask, bin_width_hu=25.0)
    assert n == 2 and levels[1, 1, 1] == 1 and levels[1, 1, 2] == 2 and levels[0, 0, 0] == 0
    np.testing.assert_array_equal(cooccurrence_matrix(levels, n), [[0, 1], [1, 0]])
    features = glcm_3d(hu, mask)
    assert features["contrast"] == pytest.approx(1.0)
    assert features["energy"] == pytest.approx(0.5)
    assert features["entropy"] == pytest.approx(1.0)
    assert features["correlation"] == pytest.approx(-1.0)


def test_voxels_outside_the_hu_range_leave_the_roi() -> None:
    hu = np.full((4, 4, 4), 40.0)
    hu[0] = -1400.0  # below −1000 HU: re-segmented out, so no 25 HU step to air
    mask = np.ones(hu.shape, bool)
    features = glcm_3d(hu, mask)
    assert features["contrast"] == 0.0 and features["energy"] == 1.0
    assert features["correlation"] == 1.0  # one grey level: IBSI/MIRP convention


def test_shape_mismatch_is_an_error() -> None:
    with pytest.raises(ValueError, match="differ in shape"):
        glcm_3d(np.zeros((3, 3, 3)), np.ones((3, 3, 2), bool))


def _lesion(seed: int, shape: tuple[int, int, int]) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    x, y, z = np.indices(shape)
    centre = (np.array(shape) - 1) / 2
    radius = ((x - centre[0]) / (shape[0] / 2.4)) ** 2 + ((y - centre[1]) / (shape[1] / 2.4)) ** 2 \
        + ((z - centre[2]) / (shape[2] / 2.4)) ** 2
    mask = radius < 1.0
    hu = (rng.normal(-300.0 + 60.0 * seed, 150.0, shape) - 200.0 * radius).astype(np.float32)
    hu[mask & (rng.random(shape) < 0.02)] = -1300.0  # a few voxels outside the HU range
    return hu, mask


@pytest.mark.parametrize(("seed", "shape"), [(0, (17, 21, 9)), (1, (30, 26, 12)),
                                             (2, (12, 12, 24)), (3, (40, 40, 16))])
def test_agrees_with_mirp(seed: int, shape: tuple[int, int, int]) -> None:
    pytest.importorskip("mirp", reason="the radiomics extra (mirp) is not installed")
    from lesiontrials.render.fidelity.radiomics import mirp_glcm

    hu, mask = _lesion(seed, shape)
    ours = glcm_3d(hu, mask, bin_width_hu=25.0)
    theirs = mirp_glcm(hu, mask, spacing_mm=(0.7, 0.7, 1.25), bin_width_hu=25.0)
    assert set(ours) == set(theirs) and len(ours) == 6
    for name, value in theirs.items():
        assert ours[name] == pytest.approx(value, rel=1e-9, abs=1e-12), name
