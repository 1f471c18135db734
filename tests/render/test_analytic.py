"""Analytic renderer: tissue HU, lesion ordering, dose scaling, seeds, noise texture."""

from __future__ import annotations

import numpy as np
import pytest
from render_cases import SPACING, sphere
from scipy import ndimage

from lesiontrials import anatomy
from lesiontrials.io import Volume
from lesiontrials.lesion_text import Calcification, LesionDescriptors
from lesiontrials.render import (
    TISSUES,
    Acquisition,
    AnalyticRenderer,
    LesionSpec,
    estimate_noise,
    label_tissue,
    noise_sd_hu,
)
from lesiontrials.render.appearance.tissue import BONE_LABELS

ACQ = Acquisition(slice_thickness_mm=2.5, kvp=120.0, mas=100.0, kernel="standard")


def _render(labels: np.ndarray, lesions: list[LesionSpec], *, seed: int = 1,
            acquisition: Acquisition = ACQ, **flags: bool) -> np.ndarray:
    return AnalyticRenderer(**flags).render(labels=labels, spacing_mm=SPACING, lesions=lesions,
                                            acquisition=acquisition, seed=seed).hu


def test_label_tissue_table() -> None:
    assert label_tissue(anatomy.BACKGROUND) == "air"
    assert label_tissue(30) == "lung"
    assert label_tissue(anatomy.HEART) == "blood"
    assert label_tissue(anatomy.LABEL_IDS["liver"]) == "liver"
    assert label_tissue(anatomy.LABEL_IDS["bone"]) == "bone_marrow"  # real hosts' generic bone
    assert label_tissue(anatomy.AIRWAY) == "airway_lumen"
    assert set(BONE_LABELS) >= {*anatomy.VERTEBRAE, *anatomy.LEFT_RIBS, anatomy.STERNUM}


def test_tissue_hu_within_configured_range(thorax: Volume) -> None:
    hu = _render(thorax.array, []).astype(float)
    for label in np.unique(thorax.array):
        inner = ndimage.binary_erosion(thorax.array == label, iterations=2)
        if inner.sum() < 50:
            continue
        low, high = TISSUES[label_tissue(int(label))].range_hu
        mean = float(hu[inner].mean())
        assert low - 5 <= mean <= high + 5, (int(label), label_tissue(int(label)), mean)


def _lesion_mean(thorax: Volume, descriptors: LesionDescriptors) -> float:
    nodule = sphere(7.0)
    hu = _render(thorax.array, [LesionSpec(nodule, descriptors)], seed=3, noise=False)
    core = ndimage.binary_erosion(nodule.to_full(thorax.shape))
    return float(hu[core].mean())


def test_lesion_mean_follows_descriptor(thorax: Volume) -> None:
    ggo = _lesion_mean(thorax, LesionDescriptors(attenuation="ground_glass", solid_fraction=0.0))
    part = _lesion_mean(thorax, LesionDescriptors(attenuation="part_solid", solid_fraction=0.6))
    solid = _lesion_mean(thorax, LesionDescriptors())
    calcified = _lesion_mean(thorax, LesionDescriptors(calcification=Calcification.DIFFUSE))
    assert ggo < part < solid < calcified
    assert -750 < ggo < -400 and -10 < solid < 80 and calcified > 250


def _noise(thorax: Volume, mas: float) -> float:
    acquisition = Acquisition(slice_thickness_mm=2.5, mas=mas, kernel="standard")
    clean = _render(thorax.array, [], seed=5, noise=False, acquisition=acquisition)
    noisy = _render(thorax.array, [], seed=5, acquisition=acquisition)
    body = thorax.array != anatomy.BACKGROUND
    return float((noisy.astype(float) - clean)[body].std())


def test_noise_sd_scales_with_inverse_sqrt_dose(thorax: Volume) -> None:
    low, high = _noise(thorax, 25.0), _noise(thorax, 400.0)
    assert low / high == pytest.approx(4.0, rel=0.05)  # sqrt(400 / 25)


def test_noise_model_grows_with_size_and_sharp_kernel() -> None:
    base = noise_sd_hu(ACQ)
    assert noise_sd_hu(ACQ, water_diameter_mm=360.0) > 1.5 * base
    assert noise_sd_hu(Acquisition(kernel="B70f")) > noise_sd_hu(Acquisition(kernel="B30f"))
    assert noise_sd_hu(Acquisition(mas=400.0)) == pytest.approx(
        noise_sd_hu(Acquisition(mas=100.0)) / 2.0)


def test_same_seed_identical_different_seed_differs(thorax: Volume) -> None:
    spec = [LesionSpec(sphere(5.0), LesionDescriptors(spiculation=4.0, lobulation=3.0))]
    a = _render(thorax.array, spec, seed=11)
    b = _render(thorax.array, spec, seed=11)
    c = _render(thorax.array, spec, seed=12)
    assert a.dtype == np.int16 and a.shape == thorax.shape
    assert np.array_equal(a, b)
    assert not np.array_equal(a, c)


def test_noise_texture_peaks_where_the_kernel_says() -> None:
    flat = np.full((128, 128, 8), anatomy.HEART, dtype=np.uint8)
    for kernel, peak in (("soft", 0.22), ("sharp", 0.55)):
        acquisition = Acquisition(slice_thickness_mm=1.0, kernel=kernel)
        hu = AnalyticRenderer(texture=False).render(
            labels=flat, spacing_mm=(0.7, 0.7, 1.0), lesions=[], acquisition=acquisition,
            seed=2).hu
        estimate = estimate_noise(hu, np.ones(hu.shape, bool), (0.7, 0.7))
        assert estimate is not None
        assert estimate.peak_cyc_per_mm == pytest.approx(peak, abs=0.1)
