"""Real-host insertion: nothing beyond the margin changes; noise and blur follow the host."""

from __future__ import annotations

import edt
import numpy as np
import pytest
from render_cases import SPACING, sphere

from lesiontrials.io import Volume
from lesiontrials.lesion_text import LesionDescriptors
from lesiontrials.render import Acquisition, AnalyticRenderer, HostCTRenderer, LesionSpec
from lesiontrials.render.backends.hostct import HOST_MARGIN_MM

ACQ = Acquisition(slice_thickness_mm=2.5, mas=80.0)


@pytest.fixture(scope="module")
def host_ct(thorax: Volume) -> np.ndarray:
    """A stand-in 'real' CT of the thorax (rendered once)."""
    return AnalyticRenderer().render(labels=thorax.array, spacing_mm=SPACING, lesions=[],
                                     acquisition=ACQ, seed=99).hu


def _insert(host_ct: np.ndarray, labels: np.ndarray, specs: list[LesionSpec],
            seed: int = 4) -> np.ndarray:
    return HostCTRenderer(ct=host_ct).render(labels=labels, spacing_mm=SPACING, lesions=specs,
                                             acquisition=ACQ, seed=seed).hu


def test_nothing_changes_beyond_the_margin(thorax: Volume, host_ct: np.ndarray) -> None:
    nodule = sphere(5.0)
    spec = LesionSpec(nodule, LesionDescriptors(spiculation=5.0, margin=1.0))
    host = host_ct.copy()
    host[:4] = -2048  # outside the scanner's field of view: must survive untouched
    out = _insert(host, thorax.array, [spec])
    changed = out != host
    assert changed.sum() > nodule.voxel_count  # the lesion is there
    distance = edt.edt((~nodule.to_full(thorax.shape)).view(np.uint8), anisotropy=SPACING)
    assert distance[changed].max() <= HOST_MARGIN_MM
    assert out.dtype == np.int16


def test_inserted_lesion_hu_and_determinism(thorax: Volume, host_ct: np.ndarray) -> None:
    nodule = sphere(7.0)
    solid = _insert(host_ct, thorax.array, [LesionSpec(nodule)])
    ggo = _insert(host_ct, thorax.array,
                  [LesionSpec(nodule, LesionDescriptors(attenuation="ground_glass",
                                                        solid_fraction=0.0))])
    core = nodule.to_full(thorax.shape)
    assert float(ggo[core].mean()) < -350 < float(solid[core].mean())
    assert np.array_equal(solid, _insert(host_ct, thorax.array, [LesionSpec(nodule)]))
    assert not np.array_equal(solid, _insert(host_ct, thorax.array, [LesionSpec(nodule)], 5))


def test_real_host_insertion_keeps_host_noise() -> None:
    from lesiontrials.render.fidelity.noise_measure import estimate_noise
    from lesiontrials.settings import load_settings
    from lesiontrials.testing import sphere_mask
    from lesiontrials.world.packaged import PackagedDataError
    from lesiontrials.world.realct import load_real_examples, segment_host

    try:
        example = load_real_examples(load_settings().cache_dir, allow_download=False)[0]
    except PackagedDataError as exc:
        pytest.skip(f"packaged real CTs not available: {exc}")
    assert example.lesion is not None  # lung1, annotated
    labels = segment_host(example.ct, lesion_mask=example.lesion.array).labels.array
    ct, spacing = example.ct.array, example.ct.spacing_mm
    lung = np.argwhere(np.isin(labels, (29, 32)))
    nodule = sphere_mask(ct.shape, tuple(lung[len(lung) // 2]), 6.0, spacing)
    out = HostCTRenderer(ct=ct).render(labels=labels, spacing_mm=spacing,
                                       lesions=[LesionSpec(nodule)],
                                       acquisition=Acquisition(slice_thickness_mm=5.0), seed=1)
    inside = nodule.to_full(ct.shape)
    centre = round(float(nodule.centroid_voxel()[2]))
    core = inside[:, :, centre] & (np.hypot(*np.meshgrid(
        *[np.arange(n) - c for n, c in zip(ct.shape[:2], nodule.centroid_voxel()[:2],
                                           strict=True)], indexing="ij")) < 4)
    assert -40 < float(out.hu[:, :, centre][core].mean()) < 100
    body = (labels == 200) & (ct > -150) & (ct < 150)
    before = estimate_noise(ct, body, spacing[:2])
    after = estimate_noise(out.hu, body, spacing[:2])
    assert before is not None and after is not None
    assert after.sd_hu == pytest.approx(before.sd_hu, rel=0.05)
    assert out.qc["lesions"][0]["local_noise_sd_hu"] == pytest.approx(before.sd_hu, rel=0.25)


def test_inplane_psf_is_measured_from_a_blurred_wall() -> None:
    """A lung/chest-wall step blurred in-plane by σ is read back as σ (the gradient is in
    HU/mm: a 3-D Sobel would overstate it fourfold and clip every host to 0.3 mm)."""
    from scipy import ndimage

    from lesiontrials import anatomy
    from lesiontrials.render.appearance.tissue import LUNG_LABELS
    from lesiontrials.render.backends.hostct import estimate_inplane_sigma_mm

    spacing = (0.6, 0.6, 5.0)
    x = np.arange(160)[:, None, None] * np.ones((1, 160, 12))
    labels = np.where(x < 80, LUNG_LABELS[0], anatomy.BODY).astype(np.uint8)
    for sigma in (0.5, 0.7):  # wider blurs are underestimated: the step is read 1.2 mm out
        step = np.where(x < 80, -850.0, 40.0).astype(np.float32)
        ct = ndimage.gaussian_filter(step, (sigma / 0.6, sigma / 0.6, 0.0))
        assert estimate_inplane_sigma_mm(ct, labels, spacing) == pytest.approx(sigma, rel=0.2)


def test_lesion_blur_leaves_out_the_voxel_average() -> None:
    from lesiontrials.render.backends.hostct import lesion_blur_mm

    blur = lesion_blur_mm((0.5, 0.5, 2.12), (0.7, 0.7, 5.0))
    assert blur[2] == pytest.approx(np.sqrt(2.12**2 - 25 / 12))
    assert blur[0] == pytest.approx(np.sqrt(0.25 - 0.49 / 12))
    assert lesion_blur_mm((0.1, 0.1, 0.1), (1.0, 1.0, 1.0)) == (0.0, 0.0, 0.0)


def _vessel_host() -> tuple[np.ndarray, np.ndarray, tuple[float, float, float]]:
    """A small 'real' host (0.6×0.6×1 mm): lung (−850 HU) in a body wall (40 HU), crossed
    along z by 4–5 mm vessels blurred in-plane by 0.8 mm — more than the chest wall's
    0.35 mm, as on the packaged 5 mm scans — and 12 HU noise."""
    from scipy import ndimage

    from lesiontrials import anatomy
    from lesiontrials.render.appearance.tissue import LUNG_LABELS

    spacing = (0.6, 0.6, 1.0)
    n, depth = 120, 24
    axis = np.arange(n) * spacing[0]
    x, y = np.meshgrid(axis, axis, indexing="ij")
    labels2d = np.full((n, n), LUNG_LABELS[0], np.uint8)
    labels2d[:10], labels2d[-10:], labels2d[:, :10], labels2d[:, -10:] = (anatomy.BODY,) * 4
    vessels = np.full((n, n), -850.0, np.float32)
    for cx, cy, r in ((18, 18, 2.5), (18, 54, 2.0), (54, 18, 2.5)):
        vessels[np.hypot(x - cx, y - cy) <= r] = 40.0
    wall = ndimage.gaussian_filter((labels2d == anatomy.BODY).astype(np.float32),
                                   0.35 / spacing[0])  # a sharper chest wall than vessels
    image = ndimage.gaussian_filter(vessels, 0.8 / spacing[0])
    image += wall * (40.0 - image)
    ct = np.repeat(image[:, :, None], depth, axis=2)
    ct += np.random.default_rng(3).normal(0.0, 12.0, ct.shape).astype(np.float32)
    return np.rint(ct).astype(np.int16), np.repeat(labels2d[:, :, None], depth, axis=2), spacing


def test_a_sharp_lesion_is_as_sharp_as_the_hosts_vessels() -> None:
    """Margin 5 adds nothing to the blur the host's own vessels show: its edge is within
    ±20 % of theirs; a poorly defined margin (3) is clearly wider; the QC says where the
    PSF came from (measured here, or stored with the host by the world build)."""
    from lesiontrials.render.appearance.tissue import LUNG_LABELS
    from lesiontrials.testing import sphere_mask
    from lesiontrials.vessel_edges import edge_width_mm, vessel_edge_width

    ct, labels, spacing = _vessel_host()
    lung = np.isin(labels, LUNG_LABELS)
    nodule = sphere_mask(labels.shape, (72, 72, 12), 5.0, spacing)
    obj = nodule.to_full(labels.shape)
    vessels = vessel_edge_width(ct.astype(np.float32), lung, spacing, exclude=obj,
                                exclude_mm=8.0)
    assert vessels is not None
    widths = {}
    for margin in (5.0, 3.0):
        result = HostCTRenderer(ct=ct).render(
            labels=labels, spacing_mm=spacing, lesions=[LesionSpec(
                nodule, LesionDescriptors(margin=margin, heterogeneity=1.0))],
            acquisition=Acquisition(slice_thickness_mm=1.0), seed=2)
        assert result.qc["psf_source"] == "host vessels (measured at render)"
        measured = edge_width_mm(result.hu.astype(np.float32), obj, lung & ~obj, spacing)
        assert measured is not None
        widths[margin] = measured.width_mm / vessels.width_mm
    assert 0.85 <= widths[5.0] <= 1.15, widths  # the old chest-wall PSF with a 0.25 mm edge: 0.79
    assert widths[3.0] > 1.25
    stored = HostCTRenderer(ct=ct, psf_sigma_xy_mm=0.8).render(
        labels=labels, spacing_mm=spacing, lesions=[LesionSpec(nodule)],
        acquisition=Acquisition(slice_thickness_mm=1.0), seed=2)
    assert stored.qc["psf_source"] == "host vessels (stored with the host)"
    assert stored.qc["host_psf_sigma_xy_mm"] == 0.8
