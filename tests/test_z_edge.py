"""The host's z edge spread, fitted on the lung/tissue boundary lying flat across slices."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import ndimage

from lesiontrials.z_edge import z_edge_sigma_mm


def _dome(sigma_mm: float, slice_mm: float, *, n: int = 48, pixel: float = 0.7,
          fine_mm: float = 0.25) -> tuple[np.ndarray, np.ndarray]:
    """Soft tissue (40 HU) under a dome-shaped lung base (−850 HU), blurred along z by a
    Gaussian of ``sigma_mm`` and averaged over ``slice_mm`` slabs (a slice profile), plus
    15 HU of noise; the lung mask by threshold."""
    nz = int(100 / slice_mm)
    z = np.arange(int(nz * slice_mm / fine_mm)) * fine_mm
    axis = (np.arange(n) - n / 2) * pixel
    x, y = np.meshgrid(axis, axis, indexing="ij")
    height = 35.0 + 0.004 * (x**2 + y**2)
    fine = np.where(z[None, None, :] < height[:, :, None], 40.0, -850.0)
    fine = ndimage.gaussian_filter1d(fine, sigma_mm / fine_mm, axis=2)
    ct = fine.reshape(n, n, nz, int(slice_mm / fine_mm)).mean(axis=3)
    ct += np.random.default_rng(0).normal(0.0, 15.0, ct.shape)
    return ct, ct < -400.0


@pytest.mark.parametrize(("sigma_mm", "slice_mm"), [(1.56, 5.0), (0.6, 1.25), (2.5, 1.25)])
def test_recovers_the_edge_spread_of_a_known_slice_profile(sigma_mm: float,
                                                           slice_mm: float) -> None:
    """The fitted SD is the total of the blur and the slab (variance slice²/12)."""
    ct, lung = _dome(sigma_mm, slice_mm)
    measured = z_edge_sigma_mm(ct, lung, (0.7, 0.7, slice_mm))
    assert measured is not None and measured.columns > 500
    expected = float(np.sqrt(sigma_mm**2 + slice_mm**2 / 12.0))
    assert measured.sigma_mm == pytest.approx(expected, rel=0.08)


def test_thin_slices_at_5mm_spacing_read_sharper_than_the_spacing_suggests() -> None:
    """1.25 mm slices kept every 5 mm (a thin reconstruction sampled sparsely) read under
    the 5 mm slab's own spread (1.44 mm), 5 mm-thick slices over it: the measure sees the
    profile, not the spacing. (Below about 1.1 mm it cannot resolve the spread on 5 mm
    spacing — each column has one sample on the ramp — and reads about that: the thin
    slices' true 0.62 mm reads 1.1.)"""
    ct, lung = _dome(0.5, 1.25)
    sparse = (0.7, 0.7, 5.0)
    thin = z_edge_sigma_mm(ct[:, :, ::4], lung[:, :, ::4], sparse)
    thick_ct, thick_lung = _dome(0.5, 5.0)
    thick = z_edge_sigma_mm(thick_ct, thick_lung, sparse)
    assert thin is not None and thick is not None
    assert thin.sigma_mm < 1.2 < 1.3 < thick.sigma_mm


def test_no_boundary_is_none_and_a_shape_mismatch_is_an_error() -> None:
    lung = np.ones((30, 30, 20), dtype=bool)
    assert z_edge_sigma_mm(np.full(lung.shape, -850.0), lung, (0.7, 0.7, 5.0)) is None
    with pytest.raises(ValueError, match="shape"):
        z_edge_sigma_mm(np.zeros((30, 30, 21)), lung, (0.7, 0.7, 5.0))
