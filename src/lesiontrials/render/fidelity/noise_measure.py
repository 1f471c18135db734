"""Measure image noise: SD and the in-plane noise power spectrum from homogeneous patches.

Patches of ``patch × patch`` pixels (one slice) are taken on a grid inside a region (e.g.
the body's soft tissue) and kept when their low-pass image varies by less than
``max_trend_hu`` (no edges). Each kept patch is detrended (a fitted plane removed); the NPS
is the mean squared magnitude of their FFTs, scaled so it integrates to the variance
(HU²·mm²), radially averaged. The same radial NPS can shape synthetic noise
(:func:`noise_like`) so inserted noise has the host's texture.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import scipy.fft
from scipy import ndimage


@dataclass(frozen=True)
class NoiseEstimate:
    """Noise SD (HU), NPS peak (cycles/mm), radial NPS (HU²·mm²) at ``freqs_cyc_per_mm``."""

    sd_hu: float
    peak_cyc_per_mm: float
    freqs_cyc_per_mm: np.ndarray
    radial_nps: np.ndarray
    n_patches: int

    def summary(self) -> dict[str, float | int]:
        return {"noise_sd_hu": round(self.sd_hu, 2),
                "nps_peak_cyc_per_mm": round(self.peak_cyc_per_mm, 3),
                "noise_patches": self.n_patches}


def homogeneous_patches(image: np.ndarray, region: np.ndarray, *, patch: int = 32,
                        stride: int = 24, max_trend_hu: float = 60.0,
                        max_patches: int = 400, max_slices: int = 16) -> np.ndarray:
    """``(n, patch, patch)`` float32 patches lying wholly in ``region`` with no edges,
    from at most ``max_slices`` evenly spaced slices that hold any of the region."""
    nx, ny, _ = image.shape
    slices = np.flatnonzero(region.any(axis=(0, 1)))
    if slices.size > max_slices:
        slices = slices[np.linspace(0, slices.size - 1, max_slices).round().astype(int)]
    out: list[np.ndarray] = []
    xs, ys = np.arange(0, nx - patch + 1, stride), np.arange(0, ny - patch + 1, stride)
    if xs.size == 0 or ys.size == 0:
        return np.zeros((0, patch, patch), np.float32)
    for z in slices:
        inside = _wholly_inside(region[:, :, z], patch, stride)
        if not inside.any():
            continue
        low = ndimage.uniform_filter(image[:, :, z].astype(np.float32), size=5)
        inner = np.lib.stride_tricks.sliding_window_view(low, (patch - 6, patch - 6))
        trend = inner[xs[:, None] + 3, ys[None, :] + 3]  # (windows x, windows y, h, w)
        flat = (trend.max(axis=(2, 3)) - trend.min(axis=(2, 3))).astype(np.float64)
        for i, j in np.argwhere(inside & (flat <= max_trend_hu)):  # x-major, as scanned
            x, y = int(xs[i]), int(ys[j])
            out.append(image[x:x + patch, y:y + patch, z].astype(np.float32))
    if len(out) > max_patches:
        keep = np.linspace(0, len(out) - 1, max_patches).round().astype(int)
        out = [out[i] for i in keep]
    return np.stack(out) if out else np.zeros((0, patch, patch), np.float32)


def _wholly_inside(region: np.ndarray, patch: int, stride: int) -> np.ndarray:
    """``[i, j]``: whether the ``patch × patch`` window at ``(i·stride, j·stride)`` lies
    wholly in the 2-D ``region``. Windows start and end on multiples of
    ``g = gcd(patch, stride)``, so ``g × g`` blocks that are wholly in the region decide it."""
    g = math.gcd(patch, stride)
    nx, ny = (region.shape[0] // g) * g, (region.shape[1] // g) * g
    blocks = region[:nx, :ny].reshape(nx // g, g, ny // g, g).all(axis=(1, 3))
    k = patch // g
    windows = np.asarray(np.lib.stride_tricks.sliding_window_view(blocks, (k, k)).all(
        axis=(2, 3)))
    step = stride // g
    return windows[::step, ::step]


def _detrend(patches: np.ndarray) -> np.ndarray:
    n = patches.shape[1]
    u, v = np.meshgrid(np.arange(n) - (n - 1) / 2, np.arange(n) - (n - 1) / 2, indexing="ij")
    design = np.stack([np.ones(n * n), u.ravel(), v.ravel()], axis=1)
    flat = patches.reshape(len(patches), -1).T
    coef, *_ = np.linalg.lstsq(design, flat, rcond=None)
    return (flat - design @ coef).T.reshape(patches.shape)


def estimate_noise(image: np.ndarray, region: np.ndarray,
                   spacing_xy: tuple[float, float], *, patch: int = 32,
                   min_patches: int = 4) -> NoiseEstimate | None:
    """Noise SD and NPS of ``image`` inside ``region`` (``None`` when too few patches)."""
    patches = homogeneous_patches(image, region, patch=patch)
    if len(patches) < min_patches:
        return None
    resid = _detrend(patches)
    spectrum = np.abs(scipy.fft.fft2(resid, axes=(1, 2))) ** 2
    nps2d = spectrum.mean(axis=0) * spacing_xy[0] * spacing_xy[1] / (patch * patch)
    fx = np.fft.fftfreq(patch, d=spacing_xy[0])[:, None]
    fy = np.fft.fftfreq(patch, d=spacing_xy[1])[None, :]
    radius = np.sqrt(fx**2 + fy**2)
    step = 1.0 / (patch * max(spacing_xy))
    bins = np.minimum((radius / step).round().astype(int), patch // 2)
    counts = np.bincount(bins.ravel())
    radial = np.bincount(bins.ravel(), weights=nps2d.ravel()) / np.maximum(counts, 1)
    freqs = np.arange(len(radial)) * step
    smooth = np.convolve(radial, np.ones(3) / 3.0, mode="same")
    peak = float(freqs[1 + int(np.argmax(smooth[1:]))])
    return NoiseEstimate(sd_hu=float(resid.std()), peak_cyc_per_mm=peak,
                         freqs_cyc_per_mm=freqs, radial_nps=radial, n_patches=len(patches))


def noise_like(estimate: NoiseEstimate, shape: tuple[int, int, int],
               spacing_xy: tuple[float, float], rng: np.random.Generator) -> np.ndarray:
    """Noise with ``estimate``'s radial NPS shape and unit SD (slices independent)."""
    fx = np.fft.fftfreq(shape[0], d=spacing_xy[0])[:, None]
    fy_half = np.fft.rfftfreq(shape[1], d=spacing_xy[1])[None, :]
    fy_full = np.fft.fftfreq(shape[1], d=spacing_xy[1])[None, :]
    radial = np.clip(estimate.radial_nps, 0.0, None)

    def nps(fy: np.ndarray) -> np.ndarray:
        return np.interp(np.sqrt(fx**2 + fy**2), estimate.freqs_cyc_per_mm, radial)

    norm = float(np.mean(nps(fy_full))) or 1.0
    amplitude = np.sqrt(nps(fy_half) / norm).astype(np.float32)[:, :, None]
    white = rng.standard_normal(shape, dtype=np.float32)
    spectrum = scipy.fft.rfft2(white, axes=(0, 1), norm="ortho") * amplitude
    return scipy.fft.irfft2(spectrum, s=shape[:2], axes=(0, 1), norm="ortho").astype(np.float32)
