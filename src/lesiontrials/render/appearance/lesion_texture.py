"""A lesion texture that keeps a real tumour's HU distribution: a Gaussian copula.

A Gaussian texture (``texture_sd_hu`` × a smooth unit field) has the right spread and
spatial correlation but no skewness and no heavy tails. Real tumours can be far from
Gaussian: the packaged pyradiomics ``lung2`` lesion's core HU has skewness −3.6 and excess
kurtosis 15.7 (air and necrosis pockets in a solid mass). The copula keeps both: the
spatial correlation comes from the same smooth Gaussian field ``g``, the distribution from
the lesion's own empirical quantile function ``Q``, and the texture is ``Q(Φ(g))`` — a
monotone map, so neighbouring voxels stay correlated while the values follow ``Q``.

Fitting from a scan: the observed core values are texture plus the scan's noise. The
centred quantiles are shrunk by ``sqrt((var − noise²) / var)`` so that the texture's
variance is the observed variance less the noise's (the renderer adds the host's noise
again). The shrink also scales the third and fourth cumulants by its cube and fourth
power, so after noise is added back skewness and kurtosis come out slightly lower than the
original's; where the texture SD is large against the noise (lung2: about 280 against
20 HU) this is negligible, and where it is small the texture hardly shows through the
noise anyway.
"""

from __future__ import annotations

from typing import Final

import numpy as np
from scipy import special

QUANTILE_COUNT: Final = 128  # probabilities (k + ½) / 128: 0.4 % … 99.6 %
MIN_VALUES: Final = 20  # fewer core voxels than this give no usable quantile function


def texture_probabilities(count: int = QUANTILE_COUNT) -> np.ndarray:
    """The probabilities ``(k + ½) / count`` at which the quantile function is stored."""
    return (np.arange(count, dtype=np.float64) + 0.5) / count


def fit_texture_quantiles(values_hu: np.ndarray, *, noise_sd_hu: float,
                          count: int = QUANTILE_COUNT) -> tuple[float, ...]:
    """The texture's quantile function (HU about the mean, ``count`` values, ascending)
    from a lesion's observed core values and the scan's noise SD (module docstring).
    Raises ``ValueError`` for fewer than ``MIN_VALUES`` values, non-finite values or a
    negative noise SD."""
    values = np.asarray(values_hu, dtype=np.float64).ravel()
    if values.size < MIN_VALUES:
        raise ValueError(f"{values.size} lesion values: a texture's quantile function "
                         f"needs at least {MIN_VALUES}")
    if not np.isfinite(values).all():
        raise ValueError("the lesion values hold NaN or infinite HU")
    if not noise_sd_hu >= 0:
        raise ValueError(f"noise SD must be ≥ 0 HU, got {noise_sd_hu}")
    centred = values - values.mean()
    variance = float(centred.var())
    shrink = np.sqrt(max(variance - noise_sd_hu**2, 0.0) / variance) if variance > 0 else 0.0
    quantiles = np.quantile(centred, texture_probabilities(count)) * shrink
    return tuple(float(q) for q in quantiles)


def copula_texture(field: np.ndarray, quantiles_hu: tuple[float, ...]) -> np.ndarray:
    """``Q(Φ(field))`` (float32, HU): a unit Gaussian ``field`` mapped through the
    quantile function ``quantiles_hu`` (at :func:`texture_probabilities`; linear between
    them, the end values beyond). Raises ``ValueError`` for fewer than two quantiles or
    ones that decrease."""
    q = np.asarray(quantiles_hu, dtype=np.float64)
    if q.size < 2 or bool(np.any(np.diff(q) < 0)):
        raise ValueError("a texture quantile function needs ≥ 2 ascending values")
    uniform = special.ndtr(np.asarray(field, dtype=np.float64))
    return np.interp(uniform, texture_probabilities(q.size), q).astype(np.float32)
