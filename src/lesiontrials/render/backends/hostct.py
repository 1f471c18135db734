"""Insert lesions into a real host CT, changing nothing but the lesion's neighbourhood.

For each lesion: draw its layer from its descriptors
(:mod:`~lesiontrials.render.appearance.lesion`), blur opacity and premultiplied HU with
the host's PSF (z: the slice's own sensitivity profile, :func:`slice_profile` — the host's
z spread measured on its own anatomy where the world build trusts the reading, else the
slice-thickness model, the QC saying which; in-plane the blur the host's own vessel edges
show, :func:`~lesiontrials.vessel_edges.vessel_edge_sigma_mm`, measured once by the world
build and stored with the host — so a lesion with the sharpest margin is exactly as sharp
as the host's vessels, and softer margins add their own width on top; where no vessel
edge is measurable, the lung/chest-wall edge, and the QC says which), composite over the host
(``host·(1 − α) + blur(α·hu)``) and restore the noise the lesion hides: noise with the
host's own SD and NPS (measured in soft tissue of the neighbouring slices,
:mod:`~lesiontrials.render.fidelity.noise_measure`) × ``sqrt(1 − (1 − α)²)``. Every change is
weighted to zero at ``margin_mm`` from the mask, so no voxel farther than that changes.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from typing import Any

import edt
import numpy as np
import scipy.fft
from scipy import ndimage

from lesiontrials import anatomy
from lesiontrials.geometry import Box
from lesiontrials.render.appearance.lesion import (
    LesionLayer,
    anti_alias_variance,
    lesion_layer,
    mask_in_box,
    sample_lesion_params,
)
from lesiontrials.render.appearance.tissue import LUNG_LABELS
from lesiontrials.render.backends.scanner import (
    noise_sd_hu,
    nps_filter,
    nps_peak_cyc_per_mm,
    psf_sigma_mm,
)
from lesiontrials.render.fidelity.noise_measure import NoiseEstimate, estimate_noise, noise_like
from lesiontrials.render.interface import Acquisition, LesionSpec, RenderResult, ZSpread
from lesiontrials.vessel_edges import vessel_edge_sigma_mm

HOST_MARGIN_MM = 15.0
_SLAB_MM = 20.0  # noise is measured in soft tissue within this distance along z


def nps_noise(shape: tuple[int, int, int], spacing_xy: tuple[float, float],
              peak_cyc_per_mm: float, rng: np.random.Generator) -> np.ndarray:
    """Unit-SD noise with the scanner model's in-plane NPS, independent between slices."""
    white = rng.standard_normal(shape, dtype=np.float32)
    spectrum = scipy.fft.rfft2(white, axes=(0, 1), norm="ortho")
    spectrum *= nps_filter(shape[:2], spacing_xy, peak_cyc_per_mm)[:, :, None]
    return scipy.fft.irfft2(spectrum, s=shape[:2], axes=(0, 1), norm="ortho").astype(np.float32)


def host_noise(ct: np.ndarray, labels: np.ndarray, box: Box,
               spacing_mm: tuple[float, float, float]) -> NoiseEstimate | None:
    """Host noise (SD and NPS) in homogeneous soft tissue of the slices around ``box``,
    falling back to the whole volume when the slab has too few patches."""
    half = int(np.ceil(_SLAB_MM / spacing_mm[2]))
    z = slice(max(0, box[2].start - half), min(ct.shape[2], box[2].stop + half))
    for zs in (z, slice(None)):
        image = ct[:, :, zs]
        region = (labels[:, :, zs] == anatomy.BODY) & (image > -150) & (image < 150)
        estimate = estimate_noise(image, region, spacing_mm[:2])
        if estimate is not None:
            return estimate
    return None


def estimate_inplane_sigma_mm(ct: np.ndarray, labels: np.ndarray,
                              spacing_mm: tuple[float, float, float]) -> float:
    """In-plane PSF SD (mm) from the lung/chest-wall edge: a Gaussian-blurred step of
    height H has maximal slope ``H/(σ·sqrt(2π))``. Clipped to 0.3…1.5 mm."""
    has_lung = np.flatnonzero(np.isin(labels[::8, ::8, :], LUNG_LABELS).any(axis=(0, 1)))
    if has_lung.size == 0:
        return 0.6
    picks = np.unique(has_lung[np.linspace(0, has_lung.size - 1, 8).round().astype(int)])
    ct, labels = ct[:, :, picks], labels[:, :, picks]
    lung = np.isin(labels, LUNG_LABELS)
    body = labels == anatomy.BODY
    edge = lung & ndimage.binary_dilation(body, structure=np.ones((3, 3, 1), bool))
    if edge.sum() < 50:
        return 0.6
    image = ndimage.gaussian_filter(ct.astype(np.float32), (0.5, 0.5, 0.0))
    gx, gy = np.gradient(image, spacing_mm[0], spacing_mm[1], axis=(0, 1))  # HU/mm
    slope = np.hypot(gx, gy)
    band = ndimage.binary_dilation(edge, structure=np.ones((5, 5, 1), bool))
    step = float(np.median(ct[body & band]) - np.median(ct[lung & ~band]))
    peak = float(np.percentile(slope[band], 97))
    if peak <= 0 or step <= 100:
        return 0.6
    sigma = step / (peak * np.sqrt(2 * np.pi))
    smoothing = 0.5 * spacing_mm[0]
    return float(np.clip(np.sqrt(max(sigma**2 - smoothing**2, 0.0)), 0.3, 1.5))


def lesion_blur_mm(psf_sigma: tuple[float, float, float],
                   spacing_mm: tuple[float, float, float]) -> tuple[float, float, float]:
    """The blur still to apply to a lesion layer whose opacity is already averaged over
    each voxel (a box of the voxel's size, variance ``s²/12``): the PSF's variance minus the
    box's, per axis (so a 5 mm slice's profile is not applied twice)."""
    return tuple(float(np.sqrt(max(p**2 - s**2 / 12.0, 0.0)))  # type: ignore[return-value]
                 for p, s in zip(psf_sigma, spacing_mm, strict=True))


def slice_profile(acquisition: Acquisition, z_spread: ZSpread | None, slice_mm: float
                  ) -> tuple[float, float, str]:
    """The slice's sensitivity profile along z as a box (its width, mm) convolved with a
    Gaussian (its SD, mm), and where it comes from: ``(box_mm, gauss_sigma_mm, source)``.

    The lesion's opacity on a slice is the continuous shape averaged over the box
    (sub-sampled, :func:`~lesiontrials.render.appearance.lesion.lesion_layer`), then blurred
    by the Gaussian. With a usable host reading (total SD ``σ``, :class:`ZSpread`), the box
    is the nominal slice thickness ``t`` and the Gaussian the rest, ``sqrt(σ² − t²/12)``;
    a reading under the box's own ``t/√12`` means slices thinner than ``t``: the box is
    then ``√12·σ`` wide and the Gaussian 0. Without one, the slice-thickness model
    (:func:`~lesiontrials.render.backends.scanner.psf_sigma_mm`, FWHM = ``t``) on a box of
    the slice spacing: the variance the box holds is taken out of the model's (so the
    profile is not applied twice)."""
    reason = "no z spread given" if z_spread is None else z_spread.unusable_because()
    if reason is None and z_spread is not None and z_spread.sigma_mm is not None:
        sigma, thick = z_spread.sigma_mm, acquisition.slice_thickness_mm
        if sigma**2 >= thick**2 / 12.0:
            return thick, float(np.sqrt(sigma**2 - thick**2 / 12.0)), "host z spread (stored)"
        return float(np.sqrt(12.0) * sigma), 0.0, "host z spread (slices thinner than nominal)"
    model = psf_sigma_mm(acquisition)[2]
    rest = float(np.sqrt(max(model**2 - slice_mm**2 / 12.0, 0.0)))
    return slice_mm, rest, f"slice-thickness model ({reason})"


def _margin_weight(mask_crop: np.ndarray, spacing_mm: tuple[float, float, float],
                   margin_mm: float) -> np.ndarray:
    """1 near the mask, falling linearly to 0 over the last 3 mm before ``margin_mm``."""
    outside = edt.edt((~mask_crop).view(np.uint8), anisotropy=spacing_mm)
    return np.clip((margin_mm - outside) / 3.0, 0.0, 1.0).astype(np.float32)


def insert_layer(ct: np.ndarray, layer: LesionLayer, mask_crop: np.ndarray, *,
                 spacing_mm: tuple[float, float, float], sigma_mm: tuple[float, float, float],
                 noise: np.ndarray, margin_mm: float = HOST_MARGIN_MM) -> None:
    """Composite one lesion layer into float32 ``ct`` in place; ``noise`` (HU, the crop's
    shape) replaces the host noise the lesion hides (see the module docstring)."""
    sigma_vox = tuple(s / d for s, d in zip(sigma_mm, spacing_mm, strict=True))
    alpha = ndimage.gaussian_filter(layer.alpha, sigma_vox, mode="constant")
    premultiplied = ndimage.gaussian_filter(layer.alpha * layer.hu, sigma_vox, mode="constant")
    weight = _margin_weight(mask_crop, spacing_mm, margin_mm)
    alpha *= weight
    premultiplied *= weight
    host = ct[layer.box]
    lesion_hu = premultiplied / np.maximum(alpha, 1e-6)
    if layer.lighten:  # sub-solid: only raise density; denser host structures stay
        alpha = alpha * (lesion_hu > host)
    restored = np.sqrt(np.clip(1.0 - (1.0 - alpha) ** 2, 0.0, 1.0))
    host[...] = host + alpha * (lesion_hu - host) + noise * restored


def _crop_noise(estimate: NoiseEstimate | None, shape: tuple[int, int, int],
                spacing_mm: tuple[float, float, float], acquisition: Acquisition,
                rng: np.random.Generator) -> tuple[np.ndarray, float]:
    if estimate is not None:
        return noise_like(estimate, shape, spacing_mm[:2], rng) * estimate.sd_hu, estimate.sd_hu
    sd = noise_sd_hu(acquisition)
    return nps_noise(shape, spacing_mm[:2], nps_peak_cyc_per_mm(acquisition), rng) * sd, sd


class HostCTRenderer:
    """Insert lesions into a real host CT (int16 HU on the label grid)."""

    name = "host-ct"

    def __init__(self, *, ct: np.ndarray, margin_mm: float = HOST_MARGIN_MM,
                 psf_sigma_xy_mm: float | None = None,
                 z_spread: ZSpread | None = None) -> None:
        """``psf_sigma_xy_mm``: the host's in-plane blur as stored by the world build
        (:class:`~lesiontrials.render.HostFacts`); ``None``: measured here on ``ct``.
        ``z_spread``: the host's z spread as stored by the world build (``None`` or not
        usable: the slice-thickness model, :func:`slice_profile`)."""
        self.ct = ct
        self.margin_mm = margin_mm
        self.psf_sigma_xy_mm = psf_sigma_xy_mm
        self.z_spread = z_spread

    def in_plane_psf(self, labels: np.ndarray, spacing_mm: tuple[float, float, float]
                     ) -> tuple[float, str]:
        """The in-plane PSF SD (mm) and where it comes from."""
        if self.psf_sigma_xy_mm is not None:
            return self.psf_sigma_xy_mm, "host vessels (stored with the host)"
        sigma = vessel_edge_sigma_mm(self.ct, np.isin(labels, LUNG_LABELS), spacing_mm)
        if sigma is not None:
            return sigma, "host vessels (measured at render)"
        return (estimate_inplane_sigma_mm(self.ct, labels, spacing_mm),
                "lung/chest-wall edge (no measurable vessel edge)")

    def render(self, *, labels: np.ndarray, spacing_mm: tuple[float, float, float],
               lesions: Sequence[LesionSpec], acquisition: Acquisition,
               seed: int) -> RenderResult:
        if self.ct.shape != labels.shape:
            raise ValueError(f"host CT shape {self.ct.shape} != label shape {labels.shape}")
        start = time.perf_counter()
        rng = np.random.default_rng(seed)
        params = [sample_lesion_params(spec.descriptors, rng=rng,
                                       texture_quantiles_hu=spec.texture_quantiles_hu)
                  for spec in lesions]
        in_plane, psf_source = self.in_plane_psf(labels, spacing_mm)
        box_z, sigma_z, z_source = slice_profile(acquisition, self.z_spread, spacing_mm[2])
        blur_xy = lesion_blur_mm((in_plane, in_plane, 0.0), spacing_mm)
        sigma = (blur_xy[0], blur_xy[1], sigma_z)  # z: sampled in the layer, not blurred
        out = self.ct.astype(np.float32)
        records: list[dict[str, Any]] = []
        for spec, p in zip(lesions, params, strict=True):
            extra = anti_alias_variance(p)  # already drawn into the layer's edge
            own_z = float(np.sqrt(max(sigma_z**2 - extra, 0.0)))
            layer = lesion_layer(p, mask=spec.mask, spacing_mm=spacing_mm, shape=labels.shape,
                                 field=spec.shape_field, z_profile_mm=(box_z, own_z))
            mask_crop = mask_in_box(spec.mask, layer.box)
            estimate = host_noise(self.ct, labels, layer.box, spacing_mm)
            noise, sd = _crop_noise(estimate, layer.alpha.shape, spacing_mm,
                                    acquisition, rng)
            own = (*(float(np.sqrt(max(s**2 - extra, 0.0))) for s in sigma[:2]), 0.0)
            insert_layer(out, layer, mask_crop, spacing_mm=spacing_mm,
                         sigma_mm=own,  # type: ignore[arg-type]
                         noise=noise, margin_mm=self.margin_mm)
            peak = estimate.peak_cyc_per_mm if estimate else nps_peak_cyc_per_mm(acquisition)
            records.append({"index": spec.index, "local_noise_sd_hu": round(sd, 2),
                            "local_nps_peak_cyc_per_mm": round(peak, 3),
                            "target_mean_hu": round(layer.target_mean_hu, 1), **p.summary()})
        qc = {"psf_sigma_mm": [round(s, 3) for s in sigma], "psf_source": psf_source,
              "host_psf_sigma_xy_mm": round(in_plane, 3), "margin_mm": self.margin_mm,
              "slice_profile": {"box_mm": round(box_z, 3), "gauss_sigma_mm": round(sigma_z, 3),
                                "source": z_source,
                                "host_z_spread": None if self.z_spread is None
                                else self.z_spread.to_dict()},
              "lesions": records, "seconds": round(time.perf_counter() - start, 3)}
        np.rint(out, out=out)  # keep the host's own range (e.g. −2048 outside the FOV)
        return RenderResult(hu=np.clip(out, -32768, 32767).astype(np.int16), qc=qc)
