"""Score intervals for proportions and paired differences, with a design effect.

Why score intervals: the Wilson interval never has zero width and stays inside [0, 1],
also at 12/12 or 0/12 where a percentile bootstrap or a Wald interval collapses to a
point. Why a design effect: when items share units (cases, donors, hosts) they carry less
information than independent items; the cluster bootstrap measures the variance of the
mean, and ``n_eff = n / deff`` with ``deff = Var_cluster / Var_iid`` turns it
into the equivalent number of independent items, as in Korn & Graubard (1998) for survey
proportions. Where the variance itself rests on a handful of units the normal quantile
is replaced by Student's t (for crossed donor × host designs on the Welch–Satterthwaite
df of the two-way variance, see ``bootstrap.crossed_df``, or for paired differences of
the method-of-moments variance, see ``crossed_moments``).

The formulas are written out (a few lines each) because library versions (statsmodels'
``proportion_confint``, scipy's ``binomtest``) take an integer count and a normal quantile,
not a fractional effective size and a t quantile.
"""

from __future__ import annotations

import numpy as np
from scipy import stats


def critical_value(level: float, clusters: float | None) -> float:
    """Two-sided quantile: Student t on ``clusters − 1`` df, normal when ``None``."""
    if not 0.0 < level < 1.0:
        raise ValueError(f"level must be in (0, 1), got {level}")
    upper = 0.5 + level / 2.0
    if clusters is None or not np.isfinite(clusters):
        return float(stats.norm.ppf(upper))
    return float(stats.t.ppf(upper, df=max(float(clusters) - 1.0, 1.0)))


def wilson(p: float, n_eff: float, z: float) -> tuple[float, float]:
    """Wilson score interval of a proportion ``p`` observed on ``n_eff`` items."""
    if n_eff <= 0:
        return 0.0, 1.0
    z2n = z * z / n_eff
    centre = (p + z2n / 2.0) / (1.0 + z2n)
    half = z * np.sqrt(p * (1.0 - p) / n_eff + z2n / (4.0 * n_eff)) / (1.0 + z2n)
    # the interval always contains p; min/max only absorb rounding at p = 0 or 1
    return float(min(max(centre - half, 0.0), p)), float(max(min(centre + half, 1.0), p))


def newcombe_paired(joint: np.ndarray, n_eff: float, z: float) -> tuple[float, float]:
    """Newcombe's hybrid score interval (method 10, 1998) for p_a − p_b on paired items.

    ``joint`` = (both right, only a right, only b right, both wrong) as fractions of the
    items (they may be weighted means when items have values in [0, 1]); ``n_eff`` the
    effective number of independent pairs. Built from the two marginal Wilson intervals
    and the correlation φ between the paired outcomes (0 when undefined), so it never
    collapses to a point, even when no pair is discordant.
    """
    both, only_a, only_b, neither = (float(v) for v in joint)
    if only_a + only_b <= 0.0:
        # No discordant pair: |p_a − p_b| is at most the discordant fraction, whose Wilson
        # upper bound at 0 observed is z²/(n + z²). Method 10 itself collapses to a point
        # here when both margins sit at 0.5 (φ = 1, symmetric Wilson intervals).
        _, bound = wilson(0.0, n_eff, z)
        return -bound, bound
    p_a, p_b = both + only_a, both + only_b
    low_a, high_a = wilson(p_a, n_eff, z)
    low_b, high_b = wilson(p_b, n_eff, z)
    denominator = (both + only_a) * (only_b + neither) * (both + only_b) * (only_a + neither)
    phi = (both * neither - only_a * only_b) / np.sqrt(denominator) if denominator > 0 else 0.0
    phi = float(np.clip(phi, -1.0, 1.0))
    diff = p_a - p_b
    down = np.sqrt(max((p_a - low_a) ** 2 - 2 * phi * (p_a - low_a) * (high_b - p_b)
                       + (high_b - p_b) ** 2, 0.0))
    up = np.sqrt(max((high_a - p_a) ** 2 - 2 * phi * (high_a - p_a) * (p_b - low_b)
                     + (p_b - low_b) ** 2, 0.0))
    return float(max(diff - down, -1.0)), float(min(diff + up, 1.0))
