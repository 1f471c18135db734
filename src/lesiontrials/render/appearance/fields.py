"""Random fields and resampling helpers shared by the renderers (deterministic given a seed)."""

from __future__ import annotations

import numpy as np
from scipy import ndimage


def coarse_shape(shape: tuple[int, ...], spacing_mm: tuple[float, ...],
                 step_mm: float) -> tuple[int, ...]:
    """Grid shape with voxels of about ``step_mm`` (never finer than the original)."""
    return tuple(max(2, int(np.ceil(n * min(s / step_mm, 1.0))))
                 for n, s in zip(shape, spacing_mm, strict=True))


def smooth_field(seed: int, shape: tuple[int, ...], sigma_vox: float | tuple[float, ...],
                 ) -> np.ndarray:
    """Gaussian random field with unit variance: white noise smoothed by ``sigma_vox``."""
    rng = np.random.default_rng(seed)
    white = rng.standard_normal(shape, dtype=np.float32)
    field = ndimage.gaussian_filter(white, sigma_vox, mode="wrap")
    sd = float(field.std())
    return field / (sd if sd > 0 else 1.0)


def resize_linear(array: np.ndarray, shape: tuple[int, ...]) -> np.ndarray:
    """Separable linear interpolation of ``array`` onto ``shape`` (cell-centred grids)."""
    out = np.asarray(array, dtype=np.float32)
    for axis, n_out in enumerate(shape):
        n_in = out.shape[axis]
        if n_in == n_out:
            continue
        pos = (np.arange(n_out, dtype=np.float64) + 0.5) * n_in / n_out - 0.5
        pos = np.clip(pos, 0.0, n_in - 1.0)
        lo = np.floor(pos).astype(np.intp)
        hi = np.minimum(lo + 1, n_in - 1)
        w = (pos - lo).astype(np.float32)
        view = [1] * out.ndim
        view[axis] = n_out
        w = w.reshape(view)
        out = np.take(out, lo, axis=axis) * (1.0 - w) + np.take(out, hi, axis=axis) * w
    return out


def smooth_field_coarse(seed: int, shape: tuple[int, ...], sigma_vox: tuple[float, ...],
                        ) -> np.ndarray:
    """Like :func:`smooth_field` for wide kernels, at a fraction of the cost: drawn on a
    grid decimated by about ``sigma / 1.5`` per axis and interpolated linearly."""
    factors = tuple(max(1, int(s // 1.5)) for s in sigma_vox)
    small = tuple(max(2, -(-n // f)) for n, f in zip(shape, factors, strict=True))
    field = smooth_field(seed, small, tuple(s / f for s, f in zip(sigma_vox, factors,
                                                                  strict=True)))
    return resize_linear(field, shape)
