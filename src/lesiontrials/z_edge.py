"""The blur a host CT shows along z, measured on its own image: the edge between the lung
and the soft tissue that closes it along z (the diaphragm under the lung base, the apex),
where that boundary lies nearly flat in the axial plane.

In such a column of voxels the image along z is the boundary's step blurred by everything
that widens an edge across slices — the slice sensitivity profile, the reconstruction's
z interpolation, breathing motion — and sampled at the slice centres. On 5 mm slices one
column gives only two or three samples on the ramp, but the boundary's height varies from
column to column across the dome, so the columns together sample the edge at every
sub-slice phase (as a slanted edge does in-plane). The fit: one Gaussian edge SD ``σ``
shared by every column, each column with its own boundary height (its own sub-slice
phase); levels from the plateau two and three slices either side. ``σ`` is the edge spread
the host's own anatomy shows along z — what a lesion edge in this scan has along z —
to set against the slice-thickness model (``FWHM = slice thickness``,
:func:`~lesiontrials.render.backends.scanner.psf_sigma_mm`).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.special import ndtr

#: Tissue side of the boundary: at least this HU (soft tissue, not lung with vessels).
TISSUE_FROM_HU = -100.0
#: Largest tilt of the boundary (mm of height per mm in-plane) a column may have: a tilt t
#: adds about ``t × in-plane blur`` to the z spread, ≤ 0.2 mm at t = 0.3.
MAX_TILT = 0.3
MIN_COLUMNS = 50
SIGMAS_MM = np.arange(0.3, 6.0001, 0.05)
COARSE_EVERY = 5  # the fit tries every 5th SD first, then the fine steps around the best
MAX_COLUMNS = 20_000  # columns the fit uses (evenly spaced through the qualifying ones)
PHASE_STEPS = 81  # boundary heights tried per column, over two slices
#: Version of the measurement stored with a host (``z_spread_version`` in the acquisition
#: table); a stored reading of another version is not used.
Z_SPREAD_VERSION = 1
#: The smallest SD the fit resolves, as a fraction of the slice spacing: with one sample on
#: the ramp per column, generated 1.25 mm slices kept every 5 mm (true 0.62 mm) read
#: 1.1 mm (tests/test_z_edge.py); a reading under ``0.24 × spacing`` is an upper bound.
RESOLVABLE_FRACTION = 0.24
#: The largest RMS residual (fraction of the step) of a reading the renderer uses: generated
#: domes fit to 0.02; the real hosts' uneven plateaus (diaphragm, fat, liver, the denser
#: lung base) leave 0.13–0.15 around an edge that fits; beyond 0.2 the edge model fails.
MAX_TRUSTED_RESIDUAL = 0.2


@dataclass(frozen=True)
class ZEdge:
    """The fitted z edge SD (mm), the columns it rests on and the fit's RMS residual
    (fraction of the step)."""

    sigma_mm: float
    columns: int
    rms_residual: float


PLATEAU_MM = 8.0  # the levels are read at least this far from the boundary


def _reach(slice_mm: float) -> int:
    """Slices from the boundary to the first level sample: ≥ 2, ≥ ``PLATEAU_MM``."""
    return max(2, int(np.ceil(PLATEAU_MM / slice_mm)))


def _boundary_columns(ct: np.ndarray, lung: np.ndarray, slice_mm: float,
                      pixel_mm: tuple[float, float]) -> np.ndarray:
    """Normalised z profiles (rows: columns; samples: slices z−k … z+k−1 around the
    boundary before the lung's first slice z, ``k`` = :func:`_reach`; levels from slice
    z−k−1 (tissue) and slices z+k, z+k+1 (lung)) where the lung starts at the low-z end of
    its column with tissue below and runs on for k + 2 slices, and the boundary's height
    varies by at most :data:`MAX_TILT` mm per mm to its in-plane neighbours."""
    k = _reach(slice_mm)
    nz = lung.shape[2]
    has = lung.any(axis=2)
    first = np.where(has, np.argmax(lung, axis=2), -1)
    x, y = np.nonzero((first >= k + 1) & (first <= nz - k - 2))
    z = first[x, y]
    zz = z[:, None] + np.arange(-k - 1, k + 2)[None, :]
    prof = ct[x[:, None], y[:, None], zz].astype(np.float64)  # slices z−k−1 … z+k+1
    inside = lung[x[:, None], y[:, None], zz]
    ok = inside[:, k + 1:].all(axis=1) & ~inside[:, :k + 1].any(axis=1)
    ok &= (prof[:, :2] >= TISSUE_FROM_HU).all(axis=1)
    height = np.full(has.shape, np.nan)
    height[x, y] = z * slice_mm
    gx, gy = np.gradient(height, pixel_mm[0], pixel_mm[1])
    tilt = np.hypot(gx, gy)[x, y]
    ok &= np.isfinite(tilt) & (tilt <= MAX_TILT)
    prof = prof[ok]
    high = prof[:, 0]  # tissue level
    low = prof[:, -2:].mean(axis=1)  # lung level
    step = high - low
    keep = step > 300.0
    return (prof[keep][:, 1:-2] - low[keep, None]) / step[keep, None]


def _fit(profiles: np.ndarray, slice_mm: float) -> tuple[float, float]:
    """Least-squares ``σ`` (mm) of ``Φ((e − z)/σ)`` over the profiles, each column's ``e``
    free from 1.5 slices before to half a slice after its lung's first slice (the
    boundary lies between that slice and the one before); and the RMS residual."""
    k = _reach(slice_mm)
    z = np.arange(-k, k, dtype=np.float64) * slice_mm  # samples z−k … z+k−1
    phases = np.linspace(-1.5, 0.5, PHASE_STEPS) * slice_mm  # e about z−1 … z

    def sse(index: int) -> float:
        model = ndtr((phases[:, None] - z[None, :]) / SIGMAS_MM[index])  # (phases, samples)
        return float(((profiles[:, None, :] - model[None, :, :]) ** 2)
                     .sum(axis=2).min(axis=1).sum())

    coarse = range(0, len(SIGMAS_MM), COARSE_EVERY)
    centre = min(coarse, key=sse)
    fine = range(max(0, centre - COARSE_EVERY + 1), min(len(SIGMAS_MM), centre + COARSE_EVERY))
    best = min(fine, key=sse)
    return float(SIGMAS_MM[best]), float(np.sqrt(sse(best) / profiles.size))


def z_edge_sigma_mm(ct: np.ndarray, lung: np.ndarray,
                    spacing_mm: tuple[float, float, float]) -> ZEdge | None:
    """The host's z edge spread (Gaussian SD, mm) from its lung/tissue boundaries lying
    nearly flat across slices, at both ends of the lung along z; ``None`` when fewer than
    :data:`MIN_COLUMNS` columns qualify (a scan that does not reach the diaphragm or the
    apex). ``ct``: HU (x, y, z); ``lung``: bool, the same shape."""
    ct = np.asarray(ct)
    lung = np.asarray(lung, dtype=bool)
    if ct.shape != lung.shape:
        raise ValueError(f"ct shape {ct.shape} != lung shape {lung.shape}")
    pixel = (spacing_mm[0], spacing_mm[1])
    both = [_boundary_columns(ct, lung, spacing_mm[2], pixel),
            _boundary_columns(ct[:, :, ::-1], lung[:, :, ::-1], spacing_mm[2], pixel)]
    profiles = np.concatenate(both, axis=0)
    if len(profiles) < MIN_COLUMNS:
        return None
    used = profiles[np.linspace(0, len(profiles) - 1, min(len(profiles), MAX_COLUMNS))
                    .round().astype(int)]
    sigma, residual = _fit(used, spacing_mm[2])
    return ZEdge(sigma_mm=sigma, columns=len(profiles), rms_residual=residual)


def untrusted_because(edge: ZEdge | None, slice_mm: float) -> str | None:
    """Why a reading may not stand for the host's z blur (``None``: it may): no boundary
    to read, a reading under what the fit resolves on this spacing, or an edge model that
    does not fit the profiles."""
    if edge is None:
        return "no flat lung/tissue boundary along z to read"
    floor = RESOLVABLE_FRACTION * slice_mm
    if edge.sigma_mm < floor:
        return (f"reading {edge.sigma_mm:.2f} mm is under the {floor:.2f} mm the fit resolves "
                f"on {slice_mm:g} mm slices (an upper bound, not a value)")
    if edge.rms_residual > MAX_TRUSTED_RESIDUAL:
        return (f"the edge model misses the profiles by {edge.rms_residual:.3f} of the step "
                f"(> {MAX_TRUSTED_RESIDUAL})")
    return None


def z_spread_record(ct: np.ndarray, lung: np.ndarray,
                    spacing_mm: tuple[float, float, float]) -> dict[str, float | int | str]:
    """The host's z spread as stored in its acquisition row (``meta/{DS}_acquisition.csv``,
    read by :class:`lesiontrials.render.ZSpread`): the reading (NaN without one), its
    columns and residual, the verdict (``trusted`` 1/0 and ``z_spread_note``: why not) and
    :data:`Z_SPREAD_VERSION`."""
    edge = z_edge_sigma_mm(ct, lung, spacing_mm)
    reason = untrusted_because(edge, spacing_mm[2])
    return {"z_spread_sigma_mm": float("nan") if edge is None else round(edge.sigma_mm, 3),
            "z_spread_columns": 0 if edge is None else edge.columns,
            "z_spread_residual": float("nan") if edge is None else round(edge.rms_residual, 3),
            "z_spread_trusted": int(reason is None), "z_spread_note": reason or "",
            "z_spread_version": Z_SPREAD_VERSION}
