"""Scanner model: resolution (PSF) and noise (level and NPS) from the acquisition.

Noise SD (HU) follows the usual quantum-noise scaling::

    sd = SD_REF · sqrt(MAS_REF / mAs) · sqrt(THICKNESS_REF / thickness) · (KVP_REF / kVp)^1.25
         · kernel factor · exp(MU_WATER · (D_w − D_REF) / 2)

with ``D_w`` the water-equivalent diameter of the patient (AAPM report 220) in mm, so the
SD is ∝ 1/√dose and grows with patient size. ``SD_REF`` was set so that the two packaged
real chest CTs (5 mm, standard kernel) fall in their measured range (about 10–14 HU in
homogeneous soft tissue).

The noise power spectrum of filtered back-projection is a ramp times the kernel's
apodisation: ``NPS(f) ∝ f · exp(−(f/f0)²)`` in-plane, peaking at ``f0/√2`` (cycles/mm);
``f0`` grows with kernel sharpness. The PSF is Gaussian in-plane (kernel FWHM) and along z
(slice sensitivity profile, FWHM = slice thickness).
"""

from __future__ import annotations

import math
from typing import Final

import numpy as np

from lesiontrials.render.interface import Acquisition

SD_REF_HU: Final = 11.0
MAS_REF: Final = 100.0
THICKNESS_REF_MM: Final = 5.0
KVP_REF: Final = 120.0
D_REF_MM: Final = 280.0
MU_WATER_PER_MM: Final = 0.018  # effective linear attenuation of water at 120 kVp
KERNEL_NOISE_FACTOR: Final[dict[str, float]] = {"soft": 0.75, "standard": 1.0, "sharp": 2.0}
NPS_PEAK_CYC_PER_MM: Final[dict[str, float]] = {"soft": 0.22, "standard": 0.32, "sharp": 0.55}
KERNEL_FWHM_MM: Final[dict[str, float]] = {"soft": 1.1, "standard": 0.85, "sharp": 0.6}
FWHM_TO_SIGMA: Final = 1.0 / (2.0 * math.sqrt(2.0 * math.log(2.0)))


def noise_sd_hu(acquisition: Acquisition, *, water_diameter_mm: float = D_REF_MM) -> float:
    """Expected image-noise SD (HU) for an acquisition and a patient size."""
    a = acquisition
    return float(SD_REF_HU * math.sqrt(MAS_REF / a.mas)
                 * math.sqrt(THICKNESS_REF_MM / a.slice_thickness_mm)
                 * (KVP_REF / a.kvp) ** 1.25 * KERNEL_NOISE_FACTOR[a.kernel_class]
                 * math.exp(MU_WATER_PER_MM * (water_diameter_mm - D_REF_MM) / 2.0))


def nps_peak_cyc_per_mm(acquisition: Acquisition) -> float:
    """Frequency (cycles/mm) of the in-plane NPS peak for the acquisition's kernel."""
    return NPS_PEAK_CYC_PER_MM[acquisition.kernel_class]


def psf_sigma_mm(acquisition: Acquisition) -> tuple[float, float, float]:
    """Gaussian PSF SDs (mm) along x, y (kernel) and z (slice sensitivity profile)."""
    in_plane = KERNEL_FWHM_MM[acquisition.kernel_class] * FWHM_TO_SIGMA
    return (in_plane, in_plane, acquisition.slice_thickness_mm * FWHM_TO_SIGMA)


def water_diameter_mm(hu: np.ndarray, body: np.ndarray, spacing_mm: tuple[float, float,
                                                                           float]) -> float:
    """Water-equivalent diameter (mm): ``2·sqrt(Σ(HU/1000 + 1)·pixel area / π)`` per slice,
    averaged over the slices that hold any body."""
    area = spacing_mm[0] * spacing_mm[1]
    weight = np.where(body, np.clip(hu / 1000.0 + 1.0, 0.0, None), 0.0)
    per_slice = weight.sum(axis=(0, 1)) * area
    per_slice = per_slice[per_slice > 0]
    if per_slice.size == 0:
        return D_REF_MM
    return float(np.mean(2.0 * np.sqrt(per_slice / math.pi)))


def nps_filter(shape_xy: tuple[int, int], spacing_xy: tuple[float, float],
               peak_cyc_per_mm: float) -> np.ndarray:
    """Amplitude filter ``sqrt(NPS)`` on the ``rfft2`` grid, normalised so that filtered
    unit white noise (orthonormal FFT) has unit variance."""
    fx = np.fft.fftfreq(shape_xy[0], d=spacing_xy[0])[:, None]
    fy_half = np.fft.rfftfreq(shape_xy[1], d=spacing_xy[1])[None, :]
    fy_full = np.fft.fftfreq(shape_xy[1], d=spacing_xy[1])[None, :]
    f0 = peak_cyc_per_mm * math.sqrt(2.0)

    def nps(fy: np.ndarray) -> np.ndarray:
        f = np.sqrt(fx**2 + fy**2)
        return f * np.exp(-((f / f0) ** 2))

    norm = float(np.mean(nps(fy_full)))
    return np.sqrt(nps(fy_half) / max(norm, 1e-12)).astype(np.float32)


def gaussian_mtf(shape_xy: tuple[int, int], spacing_xy: tuple[float, float],
                 sigma_mm: tuple[float, float]) -> np.ndarray:
    """Transfer function of a Gaussian PSF on the ``rfft2`` grid."""
    fx = np.fft.fftfreq(shape_xy[0], d=spacing_xy[0])[:, None]
    fy = np.fft.rfftfreq(shape_xy[1], d=spacing_xy[1])[None, :]
    two_pi2 = 2.0 * math.pi**2
    return np.exp(-two_pi2 * ((sigma_mm[0] * fx) ** 2 + (sigma_mm[1] * fy) ** 2)).astype(
        np.float32)
