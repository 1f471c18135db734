"""Removing a real lesion and drawing it again from its own mask, with its own HU."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
from scipy import ndimage

from lesion_fidelity.real import lung_of
from lesiontrials.anatomy import LOBE_LABELS
from lesiontrials.geometry import NoduleMask
from lesiontrials.lesion_text import LesionDescriptors
from lesiontrials.render import Acquisition
from lesiontrials.render.appearance.lesion import (
    anti_alias_variance,
    lesion_layer,
    mask_in_box,
    sample_lesion_params,
)
from lesiontrials.render.appearance.lesion_texture import fit_texture_quantiles
from lesiontrials.render.backends.hostct import (
    estimate_inplane_sigma_mm,
    host_noise,
    insert_layer,
    lesion_blur_mm,
)
from lesiontrials.render.backends.scanner import psf_sigma_mm
from lesiontrials.render.fidelity.noise_measure import noise_like
from lesiontrials.shape_field import shape_from_mask
from lesiontrials.vessel_edges import vessel_edge_sigma_mm


def remove_lesion(ct: np.ndarray, labels: np.ndarray, lesion: np.ndarray,
                   spacing: tuple[float, float, float], rng: np.random.Generator
                   ) -> tuple[np.ndarray, float]:
    """The CT with the lesion replaced by surrounding parenchyma (+ the scan's noise)."""
    lung = lung_of(labels) | lesion
    reach = [max(1, round(2.0 / s)) for s in spacing[:2]]
    region = ndimage.binary_dilation(lesion, structure=np.ones(
        (2 * reach[0] + 1, 2 * reach[1] + 1, 3), bool)) & lung
    distance = ndimage.distance_transform_edt(~region, sampling=spacing)
    shell = lung & (distance > 0) & (distance < 10.0) & (ct < -600.0)
    box = ndimage.find_objects(region.view(np.uint8))[0]
    estimate = host_noise(ct, labels, box, spacing)
    assert estimate is not None
    filled = ct.copy()
    noise = noise_like(estimate, ct[box].shape, spacing[:2], rng) * estimate.sd_hu
    local = filled[box]
    local[region[box]] = float(np.median(ct[shell])) + noise[region[box]]
    return filled, estimate.sd_hu


def glcm_noise_sd(ct: np.ndarray, lesion: np.ndarray, spacing: tuple[float, float, float],
                   noise_sd: float, draws: int = 4) -> dict[str, float]:
    from lesiontrials.render.fidelity.radiomics import mirp_glcm

    box = ndimage.find_objects(lesion.view(np.uint8))[0]
    rng = np.random.default_rng(7)
    values: dict[str, list[float]] = {}
    for _ in range(draws):
        noisy = ct[box] + rng.normal(0.0, noise_sd, ct[box].shape).astype(np.float32)
        for k, v in mirp_glcm(noisy, lesion[box], spacing_mm=spacing).items():
            values.setdefault(k, []).append(v)
    return {k: float(np.std(v, ddof=1)) for k, v in values.items()}


def reinsert(removed: np.ndarray, labels: np.ndarray, lesion: np.ndarray,
              spacing: tuple[float, float, float], solid_hu: float, texture_sd: float,
              margin: float, texture_scale: float = 0.0,
              texture_quantiles: tuple[float, ...] = ()) -> np.ndarray:
    params = sample_lesion_params(LesionDescriptors(margin=margin), rng=np.random.default_rng(5))
    params = replace(params, solid_hu=solid_hu, texture_sd_hu=texture_sd,
                     texture_scale_mm=texture_scale, texture_quantiles_hu=texture_quantiles)
    box = ndimage.find_objects(lesion.view(np.uint8))[0]
    nodule = NoduleMask(lesion[box], tuple(s.start for s in box))  # type: ignore[arg-type]
    field = shape_from_mask(nodule.mask, spacing)
    layer = lesion_layer(params, mask=nodule, spacing_mm=spacing, shape=labels.shape,
                         field=field)
    estimate = host_noise(removed, labels, layer.box, spacing)
    assert estimate is not None
    # the host PSF as the world stores it (its vessels 20 mm or more from the lesion)
    in_plane = vessel_edge_sigma_mm(removed, np.isin(labels, LOBE_LABELS), spacing,
                                    exclude=lesion)
    if in_plane is None:
        in_plane = estimate_inplane_sigma_mm(removed, labels, spacing)
    sigma = lesion_blur_mm((in_plane, in_plane,
                            psf_sigma_mm(Acquisition(slice_thickness_mm=spacing[2]))[2]), spacing)
    extra = anti_alias_variance(params)  # drawn into the layer's edge already (as hostct)
    sigma = tuple(float(np.sqrt(max(v**2 - extra, 0.0))) for v in sigma)  # type: ignore[assignment]
    noise = noise_like(estimate, layer.alpha.shape, spacing[:2],
                       np.random.default_rng(11)) * estimate.sd_hu
    out = removed.copy()
    insert_layer(out, layer, mask_in_box(nodule, layer.box), spacing_mm=spacing,
                 sigma_mm=sigma, noise=noise)
    return out


DEEP_CORE_PIXELS = 3


def _deep_core(lesion: np.ndarray) -> np.ndarray:
    """The lesion eroded in-plane by ``DEEP_CORE_PIXELS`` (about 2 mm on 0.57–0.7 mm
    pixels; the lesion's one-pixel core when that leaves < 100 voxels): where the drawn
    opacity is 1, so the copula's HU distribution is fitted to tissue, not to the
    partial volume at the edge, which the renderer draws again by itself. Fitted from
    the one-pixel core the redrawn lung2 core had SD 74 HU (original 58), skewness −2.2
    (−3.6), kurtosis 5.2 (15.7); from this one 62 HU, −2.8, 8.4."""
    ring = np.ones((3, 3, 1), bool)
    deep = ndimage.binary_erosion(lesion, structure=ring, iterations=DEEP_CORE_PIXELS)
    return deep if deep.sum() >= 100 else ndimage.binary_erosion(lesion, structure=ring)


def fitted_reinsertion(removed: np.ndarray, labels: np.ndarray, lesion: np.ndarray,
                        spacing: tuple[float, float, float], original: np.ndarray,
                        margin: float, noise_sd: float, texture_scale: float = 0.0, *,
                        copula: bool = False) -> tuple[np.ndarray, float]:
    """Reinsert with the lesion's own texture SD — or, ``copula``, its own HU
    distribution (render/appearance/lesion_texture.py) — and the solid HU that makes the
    rendered core's mean the original core's (one linear correction: the core's opacity
    after blur is below 1)."""
    core = ndimage.binary_erosion(lesion, structure=np.ones((3, 3, 1), bool))
    core = core if core.sum() > 20 else lesion
    target = float(original[core].mean())
    texture = float(np.sqrt(max(float(original[core].var()) - noise_sd**2, 0.0)))
    quantiles = (fit_texture_quantiles(original[_deep_core(lesion)], noise_sd_hu=noise_sd)
                 if copula else ())
    background = float(removed[core].mean())
    first = reinsert(removed, labels, lesion, spacing, target, texture, margin, texture_scale,
                     quantiles)
    opacity = (float(first[core].mean()) - background) / (target - background)
    solid = background + (target - background) / max(opacity, 0.2)
    return reinsert(removed, labels, lesion, spacing, solid, texture, margin,
                    texture_scale, quantiles), solid
