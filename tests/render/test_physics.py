"""Physics backend on a tiny slab: projection, Poisson noise at a dose, FBP."""

from __future__ import annotations

import numpy as np
import pytest
from render_cases import SPACING, sphere

from lesiontrials import anatomy
from lesiontrials.io import Volume
from lesiontrials.render import Acquisition, LesionSpec, PhysicsRenderer, physics_slab


def _disc(n: int = 96) -> np.ndarray:
    yy, xx = np.mgrid[:n, :n] - (n - 1) / 2.0
    slab = np.full((n, n, 2), -1000.0, dtype=np.float32)
    slab[xx**2 + yy**2 < (0.4 * n) ** 2] = 0.0  # a water cylinder
    return slab


def _sd(mas: float) -> tuple[float, float]:
    slab = _disc()
    acq = Acquisition(slice_thickness_mm=2.5, mas=mas, kernel="standard")
    out = physics_slab(slab, pixel_mm=3.0, acquisition=acq, seed=3, n_angles=120)
    centre = out[30:66, 30:66]
    return float(centre.mean()), float(centre.std())


def test_water_reconstructs_to_zero_and_noise_follows_dose() -> None:
    mean_low, sd_low = _sd(25.0)
    mean_high, sd_high = _sd(400.0)
    assert abs(mean_high) < 15.0 and abs(mean_low) < 25.0
    assert sd_low / sd_high == pytest.approx(4.0, rel=0.2)


def test_noise_free_projection_round_trip() -> None:
    out = physics_slab(_disc(), pixel_mm=3.0, acquisition=Acquisition(), seed=0, n_angles=120,
                       dose=False)
    assert abs(float(out[30:66, 30:66].mean())) < 10.0


def test_physics_renderer_on_a_slab(thorax: Volume) -> None:
    labels = thorax.array[:, :, 20:36].copy()
    nodule = sphere(6.0, (69.0, 40.0, 10.0))
    renderer = PhysicsRenderer(slab_slices=3, n_angles=90)
    result = renderer.render(labels=labels, spacing_mm=SPACING, lesions=[LesionSpec(nodule)],
                             acquisition=Acquisition(slice_thickness_mm=2.5), seed=1)
    z0, z1 = result.qc["slab_z"]
    assert z1 - z0 == 3 and z0 <= 10 < z1
    lung = np.isin(labels[:, :, z0:z1], anatomy.LOBE_LABELS)
    assert -950 < float(result.hu[:, :, z0:z1][lung].mean()) < -650
    assert result.hu.dtype == np.int16
