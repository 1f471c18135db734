"""Physics renderer: per-slice projection, Poisson noise at a dose, filtered back-projection.

Slices are projected with scikit-image's ``radon`` (parallel beam, ``n_angles`` views over
180°), photon counts drawn as ``Poisson(I0·exp(−p))`` with ``I0 ∝ mAs · slice thickness``,
and reconstructed with ``iradon`` using the kernel's filter (soft → Hann, standard →
Shepp–Logan, sharp → ramp). HU ↔ attenuation: ``μ = μ_water·(1 + HU/1000)``. Only a slab
of slices around the lesions goes through the physics path (it is slow); the rest of the
volume comes from the analytic renderer, noise included. The noise-free input is the
analytic renderer's anatomy and lesions with the slice-profile blur along z only.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass

import numpy as np

from lesiontrials.render.appearance.lesion import composite, lesion_layer, with_host_edge
from lesiontrials.render.backends.analytic import (
    apply_scanner,
    paint_anatomy,
    render_analytic,
    sample_analytic_params,
)
from lesiontrials.render.interface import (
    Acquisition,
    HostFacts,
    LesionSpec,
    RenderResult,
    to_hu_int16,
)
from lesiontrials.seeding import int_seed

MU_WATER_PER_MM = 0.0192  # attenuation of water at ~70 keV effective energy
I0_PER_MAS_MM = 3500.0  # photons per ray per mAs per mm of slice (calibrated: ≈ scanner model)
FILTERS = {"soft": "hann", "standard": "shepp-logan", "sharp": "ramp"}


@dataclass(frozen=True)
class SliceJob:
    """One slice to project and reconstruct (picklable for worker processes)."""

    hu: np.ndarray  # 2-D (x, y) noise-free HU
    pixel_mm: float
    photons: float  # I0 per ray
    filter_name: str
    n_angles: int
    seed: int


def reconstruct_slice(job: SliceJob) -> np.ndarray:
    """Project, add Poisson noise, reconstruct one slice; returns float32 HU (x, y)."""
    from skimage.transform import iradon, radon

    n = min(job.hu.shape)
    image = job.hu[:n, :n].astype(np.float64)
    mu = np.clip(MU_WATER_PER_MM * (1.0 + image / 1000.0), 0.0, None) * job.pixel_mm
    yy, xx = np.mgrid[:n, :n] - n // 2
    mu[xx**2 + yy**2 > (n // 2) ** 2] = 0.0  # the scanner's circular field of view
    theta = np.linspace(0.0, 180.0, job.n_angles, endpoint=False)
    sinogram = radon(mu, theta=theta, circle=True)
    if np.isfinite(job.photons):
        rng = np.random.default_rng(job.seed)
        counts = rng.poisson(job.photons * np.exp(-sinogram))
        sinogram = -np.log(np.maximum(counts, 0.5) / job.photons)
    recon = iradon(sinogram, theta=theta, circle=True, filter_name=job.filter_name,
                   output_size=n)
    hu = (recon / job.pixel_mm / MU_WATER_PER_MM - 1.0) * 1000.0
    out = np.full(job.hu.shape, -1000.0, dtype=np.float32)
    out[:n, :n] = hu
    return out


def photons_per_ray(acquisition: Acquisition) -> float:
    """I0 for an acquisition: proportional to mAs and slice thickness."""
    return I0_PER_MAS_MM * acquisition.mas * acquisition.slice_thickness_mm


def physics_slab(hu: np.ndarray, *, pixel_mm: float, acquisition: Acquisition, seed: int,
                 n_angles: int = 360, workers: int = 1, dose: bool = True) -> np.ndarray:
    """Reconstruct every slice of a noise-free HU slab ``(x, y, z)``; float32 HU."""
    photons = photons_per_ray(acquisition) if dose else float("inf")
    jobs = [SliceJob(np.ascontiguousarray(hu[:, :, k]), pixel_mm, photons,
                     FILTERS[acquisition.kernel_class], n_angles, int_seed(seed, "slice", k))
            for k in range(hu.shape[2])]
    if workers > 1 and len(jobs) > 1:
        with ProcessPoolExecutor(max_workers=workers) as pool:
            slices = list(pool.map(reconstruct_slice, jobs))
    else:
        slices = [reconstruct_slice(job) for job in jobs]
    return np.stack(slices, axis=2)


def lesion_slab(lesions: Sequence[LesionSpec], depth: int, slab_slices: int) -> slice:
    """z-range of ``slab_slices`` slices centred on the lesions (the middle when none)."""
    if lesions:
        lo = min(spec.mask.box[2].start for spec in lesions)
        hi = max(spec.mask.box[2].stop for spec in lesions)
        centre = (lo + hi) // 2
    else:
        centre = depth // 2
    start = int(np.clip(centre - slab_slices // 2, 0, max(0, depth - slab_slices)))
    return slice(start, min(depth, start + slab_slices))


class PhysicsRenderer:
    """Physics path on a slab around the lesions; analytic elsewhere."""

    name = "physics"

    def __init__(self, *, slab_slices: int = 32, n_angles: int = 360, workers: int = 1,
                 facts: HostFacts | None = None) -> None:
        self.slab_slices, self.n_angles, self.workers = slab_slices, n_angles, workers
        self.facts = facts

    def render(self, *, labels: np.ndarray, spacing_mm: tuple[float, float, float],
               lesions: Sequence[LesionSpec], acquisition: Acquisition,
               seed: int) -> RenderResult:
        start = time.perf_counter()
        params = sample_analytic_params(np.random.default_rng(seed), lesions, self.facts)
        base = render_analytic(labels, spacing_mm, lesions, acquisition, params)
        slab = lesion_slab(lesions, labels.shape[2], self.slab_slices)
        clean = paint_anatomy(labels, spacing_mm, params,
                              slice_thickness_mm=acquisition.slice_thickness_mm)
        edge_sigma = base.qc.get("anatomy_edge_sigma_mm") or 0.0  # as the analytic base's
        for spec, lesion_params in zip(lesions, params.lesions, strict=True):
            composite(clean, lesion_layer(with_host_edge(lesion_params, edge_sigma),
                                          mask=spec.mask, spacing_mm=spacing_mm,
                                          shape=labels.shape, field=spec.shape_field))
        apply_scanner(clean, spacing_mm, acquisition, noise_sd=0.0, seed=0, blur=True)
        recon = physics_slab(clean[:, :, slab], pixel_mm=spacing_mm[0], acquisition=acquisition,
                             seed=seed, n_angles=self.n_angles, workers=self.workers)
        hu = base.hu.copy()
        hu[:, :, slab] = to_hu_int16(recon)
        qc = {**base.qc, "slab_z": [slab.start, slab.stop], "n_angles": self.n_angles,
              "photons_per_ray": photons_per_ray(acquisition),
              "seconds": round(time.perf_counter() - start, 3)}
        return RenderResult(hu=hu, qc=qc)
