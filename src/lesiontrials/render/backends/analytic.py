"""Analytic label → CT renderer (the default CPU backend).

Decide: :func:`sample_analytic_params` draws per-case tissue means, structure parameters,
lesion appearances and the noise seed from one generator. Do: :func:`render_analytic`
paints tissue HU per label (:mod:`~lesiontrials.render.appearance.tissue`), adds the structure the
labels lack (:mod:`~lesiontrials.render.appearance.texture`), composites the lesions
(:mod:`~lesiontrials.render.appearance.lesion`), then applies the scanner
(:mod:`~lesiontrials.render.backends.scanner`): slice-sensitivity blur along z, the kernel's
in-plane PSF and noise with a ramp-times-apodisation NPS, both in the Fourier domain, with
an SD that follows dose, kVp, kernel, slice thickness and the patient's water-equivalent
diameter. Partial volume comes from the blur of the hard label boundaries.

Lesion edges: the painted vessels are softer than the scanner's PSF alone makes them (they
are drawn on a coarse grid with a soft tube profile), so a lesion gets, before the scanner,
the in-plane blur those vessels show in the painted anatomy
(:func:`anatomy_edge_sigma_mm`, on at most :data:`EDGE_SLICES` lung slices) added to its
margin's — a sharp lesion is as sharp as this image's vessels, as on a real host.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import scipy.fft
from scipy import ndimage

from lesiontrials import anatomy
from lesiontrials.render.appearance.body import (
    CODE_COUNT,
    CODE_FIRST,
    BodyParams,
    code_hu,
    sample_body_params,
    split_body,
)
from lesiontrials.render.appearance.bone import BoneParams, paint_bones, sample_bone_params
from lesiontrials.render.appearance.lesion import (
    LesionParams,
    composite,
    lesion_layer,
    sample_lesion_params,
    with_host_edge,
)
from lesiontrials.render.appearance.partial_volume import through_plane_partial_volume
from lesiontrials.render.appearance.texture import (
    LungParams,
    match_lung_median,
    paint_airway_walls,
    paint_lungs,
    sample_lung_params,
)
from lesiontrials.render.appearance.tissue import (
    LUNG_LABELS,
    TISSUES,
    mean_lut,
    sample_tissue_means,
)
from lesiontrials.render.backends.scanner import (
    gaussian_mtf,
    noise_sd_hu,
    nps_filter,
    nps_peak_cyc_per_mm,
    psf_sigma_mm,
    water_diameter_mm,
)
from lesiontrials.render.interface import (
    Acquisition,
    HostFacts,
    LesionSpec,
    RenderResult,
    to_hu_int16,
)
from lesiontrials.vessel_edges import vessel_edge_sigma_mm

EDGE_SLICES = 6  # lung slices the painted vessels' edge is measured on


def anatomy_edge_sigma_mm(volume: np.ndarray, labels: np.ndarray,
                          spacing_mm: tuple[float, float, float]) -> float | None:
    """The in-plane blur (Gaussian SD, mm) the painted (pre-scanner) vessels show;
    ``None`` when no vessel edge is measurable (coarse grids: vessels under 3 mm wide)."""
    lung = np.isin(labels, LUNG_LABELS)
    sigma = vessel_edge_sigma_mm(volume, lung, spacing_mm, max_slices=EDGE_SLICES)
    return None if sigma is None else round(sigma, 3)  # as recorded in the QC


@dataclass(frozen=True)
class AnalyticParams:
    """Everything random about one analytic render."""

    tissue_means: dict[str, float]
    lungs: LungParams
    body: BodyParams
    bone: BoneParams
    lesions: tuple[LesionParams, ...]
    noise_seed: int
    facts: HostFacts = field(default_factory=HostFacts)


def sample_analytic_params(rng: np.random.Generator, lesions: Sequence[LesionSpec],
                           facts: HostFacts | None = None) -> AnalyticParams:
    """Decide a render: tissue means, structure, each lesion's appearance, noise seed; a
    host's measured ``facts`` replace the corresponding draws (the draws are still made,
    so the rest of the render does not depend on which facts are known)."""
    means = sample_tissue_means(rng)
    lungs, body, bone = sample_lung_params(rng), sample_body_params(rng), sample_bone_params(rng)
    lesion_params = tuple(sample_lesion_params(spec.descriptors, rng=rng,
                                               texture_quantiles_hu=spec.texture_quantiles_hu)
                          for spec in lesions)
    return AnalyticParams(means, lungs, body, bone, lesion_params,
                          int(rng.integers(0, 2**63 - 1)), facts or HostFacts())


def paint_anatomy(labels: np.ndarray, spacing_mm: tuple[float, float, float],
                  params: AnalyticParams, *, texture: bool = True,
                  slice_thickness_mm: float | None = None) -> np.ndarray:
    """Noise-free, unblurred HU (float32) of the anatomy; with ``slice_thickness_mm``, with
    the through-plane partial volume of thick slices
    (:mod:`~lesiontrials.render.appearance.partial_volume`)."""
    means = params.tissue_means
    if not texture:
        return mean_lut(means)[labels]
    code = labels.copy()
    split_body(code, spacing_mm, params.body, means, TISSUES["muscle"].texture_sd_hu)
    lut = mean_lut(means)
    lut[CODE_FIRST:CODE_FIRST + CODE_COUNT] = code_hu()
    volume = lut[code]
    del code
    boxes = ndimage.find_objects(labels)
    paint_lungs(volume, labels, spacing_mm, params.lungs, means["lung"], boxes)
    paint_airway_walls(volume, labels, spacing_mm, means, boxes)
    paint_bones(volume, labels, spacing_mm, params.bone, means, boxes)
    if slice_thickness_mm is not None:
        through_plane_partial_volume(volume, spacing_mm, slice_thickness_mm)
    if params.facts.lung_density_hu is not None:
        match_lung_median(volume, labels, params.facts.lung_density_hu)
    return volume


def apply_scanner(volume: np.ndarray, spacing_mm: tuple[float, float, float],
                  acquisition: Acquisition, *, noise_sd: float, seed: int,
                  blur: bool = True) -> np.ndarray:
    """Blur (z: slice profile; x-y: kernel PSF) and add NPS-shaped noise of SD ``noise_sd``.

    Works in place on a float32 ``volume``, slab by slab along z so memory stays bounded.
    """
    sigma = psf_sigma_mm(acquisition)
    if blur and sigma[2] / spacing_mm[2] > 0.25:
        ndimage.gaussian_filter1d(volume, sigma[2] / spacing_mm[2], axis=2, output=volume,
                                  mode="nearest", truncate=3.0)
    shape_xy = (volume.shape[0], volume.shape[1])
    mtf = gaussian_mtf(shape_xy, spacing_mm[:2], sigma[:2])[:, :, None] if blur else None
    nps = nps_filter(shape_xy, spacing_mm[:2], nps_peak_cyc_per_mm(acquisition))[:, :, None]
    scale = nps * np.float32(noise_sd / np.sqrt(2))
    rng = np.random.default_rng(seed)
    step = max(1, int(2**24 // (shape_xy[0] * shape_xy[1])))
    for z0 in range(0, volume.shape[2], step):
        chunk = np.ascontiguousarray(volume[:, :, z0:z0 + step], dtype=np.float32)
        spectrum = scipy.fft.rfft2(chunk, axes=(0, 1), norm="ortho", workers=1)
        if mtf is not None:
            spectrum *= mtf
        if noise_sd > 0:  # complex white noise (re, im) shaped by the NPS, added part by part
            white = rng.standard_normal((2, *spectrum.shape), dtype=np.float32)
            white *= scale
            spectrum.real += white[0]
            spectrum.imag += white[1]
        volume[:, :, z0:z0 + step] = scipy.fft.irfft2(spectrum, s=shape_xy, axes=(0, 1),
                                                      norm="ortho", workers=1)
    return volume


def render_analytic(labels: np.ndarray, spacing_mm: tuple[float, float, float],
                    lesions: Sequence[LesionSpec], acquisition: Acquisition,
                    params: AnalyticParams, *, noise: bool = True, blur: bool = True,
                    texture: bool = True) -> RenderResult:
    """Render a label map with decided ``params`` (deterministic)."""
    start = time.perf_counter()
    labels = np.asarray(labels, dtype=np.uint8)
    volume = paint_anatomy(labels, spacing_mm, params, texture=texture,
                           slice_thickness_mm=acquisition.slice_thickness_mm if blur else None)
    targets = []
    edge_sigma = anatomy_edge_sigma_mm(volume, labels, spacing_mm) if lesions else None
    for spec, lesion_params in zip(lesions, params.lesions, strict=True):
        layer = lesion_layer(with_host_edge(lesion_params, edge_sigma or 0.0), mask=spec.mask,
                             spacing_mm=spacing_mm, shape=labels.shape, field=spec.shape_field)
        composite(volume, layer)
        targets.append({"index": spec.index, "target_mean_hu": round(layer.target_mean_hu, 1),
                        **lesion_params.summary()})
    sub = (slice(None, None, 4), slice(None, None, 4), slice(None, None, 2))
    diameter = water_diameter_mm(volume[sub], labels[sub] != anatomy.BACKGROUND,
                                 (spacing_mm[0] * 4, spacing_mm[1] * 4, spacing_mm[2] * 2))
    sd = noise_sd_hu(acquisition, water_diameter_mm=diameter) if noise else 0.0
    apply_scanner(volume, spacing_mm, acquisition, noise_sd=sd, seed=params.noise_seed,
                  blur=blur)
    if params.facts.lung_density_hu is not None and texture:
        match_lung_median(volume, labels, params.facts.lung_density_hu, with_nodules=False)
    qc: dict[str, Any] = {
        "water_diameter_mm": round(diameter, 1), "expected_noise_sd_hu": round(sd, 2),
        "nps_peak_cyc_per_mm": nps_peak_cyc_per_mm(acquisition),
        "psf_sigma_mm": [round(s, 3) for s in psf_sigma_mm(acquisition)],
        # the painted vessels' own edge, added to every lesion's (None: not measurable)
        "anatomy_edge_sigma_mm": edge_sigma,
        "tissue_means_hu": {k: round(v, 1) for k, v in params.tissue_means.items()},
        "host_facts": params.facts.to_dict(),
        "lesions": targets, "seconds": round(time.perf_counter() - start, 3),
    }
    return RenderResult(hu=to_hu_int16(volume), qc=qc)


class AnalyticRenderer:
    """The default CPU backend. ``noise``/``blur``/``texture`` switch stages off for tests;
    ``facts``: the host's measured anatomy facts."""

    name = "analytic"

    def __init__(self, *, noise: bool = True, blur: bool = True, texture: bool = True,
                 facts: HostFacts | None = None) -> None:
        self.noise, self.blur, self.texture = noise, blur, texture
        self.facts = facts or HostFacts()

    def render(self, *, labels: np.ndarray, spacing_mm: tuple[float, float, float],
               lesions: Sequence[LesionSpec], acquisition: Acquisition,
               seed: int) -> RenderResult:
        params = sample_analytic_params(np.random.default_rng(seed), lesions, self.facts)
        return render_analytic(labels, spacing_mm, lesions, acquisition, params,
                               noise=self.noise, blur=self.blur, texture=self.texture)
