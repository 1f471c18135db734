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


def test_a_sharp_lesion_is_as_sharp_as_the_painted_vessels() -> None:
    """The phantom's vessels are painted softer than the scanner's PSF alone draws an edge;
    a margin-5 lesion gets that same blur (QC ``anatomy_edge_sigma_mm``), so on the
    rendered image its edge is within ±20 % of the vessels' (it was 0.72× with only the
    scanner PSF and a 0.25 mm edge)."""
    from lesiontrials.render.appearance.tissue import LUNG_LABELS
    from lesiontrials.testing import box_thorax, sphere_mask
    from lesiontrials.vessel_edges import edge_width_mm, vessel_edge_width

    spacing, shape = (0.75, 0.75, 1.0), (200, 160, 40)
    labels = box_thorax(shape, spacing).volume.array
    lung = np.isin(labels, LUNG_LABELS)
    nodule = sphere_mask(shape, (66.0, 98.0, 20.0), 5.0, spacing)
    result = AnalyticRenderer().render(
        labels=labels, spacing_mm=spacing, lesions=[LesionSpec(nodule, LesionDescriptors(
            margin=5.0))], acquisition=Acquisition(slice_thickness_mm=1.0, mas=50.0), seed=3)
    assert result.qc["anatomy_edge_sigma_mm"] > result.qc["psf_sigma_mm"][0]
    obj, hu = nodule.to_full(shape), result.hu.astype(np.float32)
    vessels = vessel_edge_width(hu, lung, spacing, exclude=obj)
    lesion = edge_width_mm(hu, obj, lung & ~obj, spacing)
    assert vessels is not None and lesion is not None
    assert 0.8 <= lesion.width_mm / vessels.width_mm <= 1.2
