"""3-D baselines: the LoG detector finds a nodule at the right RAS world mm on LPS and
anisotropic volumes, suppresses a vessel, and the Brock-like score grows with size."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import SimpleITK as sitk

from lesiontrials.io.volumes import Volume, read_volume
from lesiontrials.scoring import detection as det
from lesiontrials.scoring.models.volume_baselines import (
    BrockLikeMalignancy,
    LogBlobDetector,
    block_mean,
    brock_like_probability,
    lung_mask,
)


def _phantom_zyx(spacing_xyz: tuple[float, float, float], nodule_xyz_mm: tuple[float, ...],
                 diameter_mm: float) -> np.ndarray:
    """ITK-order (z, y, x) chest: body box of soft tissue, two lung boxes of air with
    noise, a vertical vessel in the left box and one spherical nodule."""
    rng = np.random.default_rng(0)
    shape_zyx = (int(120 / spacing_xyz[2]), int(160 / spacing_xyz[1]), int(200 / spacing_xyz[0]))
    z, y, x = np.meshgrid(*[(np.arange(n) + 0.5) * s for n, s in
                            zip(shape_zyx, spacing_xyz[::-1], strict=True)], indexing="ij")
    hu = np.full(shape_zyx, -1000.0)
    hu[(x > 10) & (x < 190) & (y > 10) & (y < 150)] = 40.0
    lung = (y > 25) & (y < 135) & (z > 10) & (z < 110) & (((x > 20) & (x < 95))
                                                          | ((x > 105) & (x < 180)))
    hu[lung] = -850.0
    vessel = ((x - 50) ** 2 + (y - 60) ** 2) < 2.5 ** 2
    hu[lung & vessel] = 30.0
    ball = ((x - nodule_xyz_mm[0]) ** 2 + (y - nodule_xyz_mm[1]) ** 2
            + (z - nodule_xyz_mm[2]) ** 2) < (diameter_mm / 2) ** 2
    hu[ball] = 20.0
    return (hu + rng.normal(0, 15, hu.shape)).astype(np.int16)


def test_detector_hits_nodule_in_ras_world_on_lps_anisotropic_nrrd(tmp_path) -> None:
    spacing = (0.9, 1.2, 2.5)
    zyx = _phantom_zyx(spacing, (140.0, 80.0, 60.0), 10.0)
    image = sitk.GetImageFromArray(zyx)
    image.SetSpacing(spacing)
    image.SetOrigin((-90.0, -60.0, -300.0))
    sitk.WriteImage(image, str(tmp_path / "ct.nrrd"))
    # truth: the ball centre's physical point in ITK (LPS) → RAS
    index = [c / s - 0.5 for c, s in zip((140.0, 80.0, 60.0), spacing, strict=True)]
    lps = np.array(image.TransformContinuousIndexToPhysicalPoint(index))
    centre_ras = det.lps_to_ras(lps)
    volume = read_volume(tmp_path / "ct.nrrd")
    candidates = LogBlobDetector().detect(volume)
    assert len(candidates) > 0
    best = candidates.iloc[0]
    distance = np.linalg.norm(best[["x_mm", "y_mm", "z_mm"]].to_numpy(float) - centre_ras)
    assert distance < 5.0  # inside the 10 mm nodule's radius: a LUNA16 hit
    truth = pd.DataFrame({"scan_uid": ["s"], "nodule_id": ["n"], "x_mm": [centre_ras[0]],
                          "y_mm": [centre_ras[1]], "z_mm": [centre_ras[2]],
                          "diameter_mm": [10.0]})
    matching = det.match(truth, candidates.assign(scan_uid="s"))
    assert matching.nodules["best_probability"].iloc[0] == candidates["probability"].max()


def test_vessel_is_suppressed_and_label_map_never_needed() -> None:
    spacing = (1.0, 1.0, 2.0)
    zyx = _phantom_zyx(spacing, (140.0, 80.0, 60.0), 12.0)
    volume = Volume(np.ascontiguousarray(zyx.transpose(2, 1, 0)),
                    np.diag([*spacing, 1.0]))  # RAS, (x, y, z)
    candidates = LogBlobDetector().detect(volume)
    on_vessel = np.hypot(candidates["x_mm"] - 50, candidates["y_mm"] - 60) < 4
    on_nodule = np.linalg.norm(candidates[["x_mm", "y_mm", "z_mm"]].to_numpy(float)
                               - [140, 80, 60], axis=1) < 6
    assert on_nodule.any()
    top_vessel = candidates.loc[on_vessel, "probability"].max() if on_vessel.any() else 0.0
    assert candidates.loc[on_nodule, "probability"].max() > 2 * top_vessel
    assert lung_mask(volume.array)[140, 80, 30]  # the nodule stays inside the HU lung mask


def test_brock_like_grows_with_size_and_measures_phantom() -> None:
    assert brock_like_probability(4, 1.0) < brock_like_probability(8, 1.0) \
        < brock_like_probability(20, 1.0)
    spacing = (1.0, 1.0, 1.0)
    small = Volume(np.ascontiguousarray(_phantom_zyx(spacing, (140., 80., 60.), 6.0)
                                        .transpose(2, 1, 0)), np.diag([*spacing, 1.0]))
    large = Volume(np.ascontiguousarray(_phantom_zyx(spacing, (140., 80., 60.), 16.0)
                                        .transpose(2, 1, 0)), np.diag([*spacing, 1.0]))
    model = BrockLikeMalignancy()
    p_small = model.malignancy(small, np.array([[140.0, 80.0, 60.0]]))
    p_large = model.malignancy(large, np.array([[140.0, 80.0, 60.0]]))
    assert p_small.shape == (1,) and 0 < p_small[0] < p_large[0] < 1


def test_block_mean_keeps_world_coordinates() -> None:
    affine = np.array([[0.7, 0, 0, -100.0], [0, 0.7, 0, 20.0], [0, 0, 1.0, -50.0],
                       [0, 0, 0, 1]])
    array = np.zeros((10, 10, 6), dtype=np.int16)
    array[4:6, 6:8, 3] = 100  # one 2×2×1 block
    coarse = block_mean(Volume(array, affine), working_spacing_mm=1.4)
    assert coarse.shape == (5, 5, 6) and coarse.spacing_mm == pytest.approx((1.4, 1.4, 1.0))
    ijk = np.argwhere(coarse.array == 100)[0]
    fine_centre = Volume(array, affine).voxel_to_world(np.array([4.5, 6.5, 3.0]))
    np.testing.assert_allclose(coarse.voxel_to_world(ijk), fine_centre)


@pytest.mark.parametrize(("shape", "spacing", "diameter_mm"), [
    ((40, 36, 30), (1.4, 1.4, 1.25), 4.0), ((40, 36, 30), (1.4, 1.4, 1.25), 28.0),
    ((21, 47, 9), (0.8, 1.5, 5.0), 9.0)])
def test_laplacian_shares_a_pass_and_keeps_the_bytes(
        shape: tuple[int, int, int], spacing: tuple[float, float, float],
        diameter_mm: float) -> None:
    """The detector's LoG reuses the x-smoothing pass of the y and z terms: the result is
    the same bytes as the sum of three ``gaussian_filter`` second derivatives (float32)."""
    from scipy import ndimage

    from lesiontrials.scoring.models.volume_baselines import _laplacian_mm

    image = np.random.default_rng(3).random(shape, dtype=np.float32)
    step = np.asarray(spacing)
    sigma = diameter_mm / (2 * np.sqrt(3)) / step
    expected = np.zeros(shape, dtype=np.float32)
    for axis in range(3):
        order = [0, 0, 0]
        order[axis] = 2
        expected += ndimage.gaussian_filter(image, sigma, order=order,
                                            output=np.float32) / step[axis] ** 2
    got = _laplacian_mm(image, sigma, step)
    assert got.dtype == np.float32 and got.tobytes() == expected.tobytes()
