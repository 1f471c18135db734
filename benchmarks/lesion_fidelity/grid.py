"""Grid independence: one ellipsoid stored as donor masks on many grids, drawn on two
hosts and compared with its 0.5 mm donor's render (host-noise SD); and the floor a coarse
mask allows."""

from __future__ import annotations

from typing import Any

import numpy as np
from scipy import ndimage

from lesion_fidelity.common import (
    HOSTS,
    LUNG_HU,
    NATIVE_SOURCE,
    NATIVES,
    PHASES,
    RADII,
    SOLID_HU,
    SOURCES,
    acquisition,
    ideal_opacity,
    opacity,
    phase,
    place,
)
from lesiontrials.geometry import NoduleMask
from lesiontrials.insert.transplant import resample_donor
from lesiontrials.render.appearance.lesion import MIN_EDGE_MM
from lesiontrials.render.backends.scanner import noise_sd_hu, psf_sigma_mm
from lesiontrials.shape_field import shape_from_mask
from lesiontrials.testing import ellipsoid_mask
from lesiontrials.world.natives import DonorShape, native_mask


def grid_independence() -> dict[str, Any]:
    out: dict[str, Any] = {}
    for host_name, host in HOSTS.items():
        shape = tuple(int(np.ceil(26.0 / s)) for s in host)
        acq = acquisition(host)
        sigma = np.asarray(psf_sigma_mm(acq)) / np.asarray(host)
        reference_mask = ellipsoid_mask(RADII, SOURCES["0.5mm"], centre_mm=phase(99))
        nodule = place(resample_donor(reference_mask, SOURCES["0.5mm"], host), shape)  # type: ignore[arg-type]

        def render(field: Any, where: NoduleMask = nodule, grid: Any = (host, shape, sigma)
                   ) -> np.ndarray:
            spacing, size, blur = grid
            alpha = ndimage.gaussian_filter(opacity(field, where, spacing, size), blur)
            return LUNG_HU + (SOLID_HU - LUNG_HU) * alpha

        reference = render(shape_from_mask(reference_mask, SOURCES["0.5mm"]))
        support = reference > LUNG_HU + 10.0
        noise = noise_sd_hu(acq)
        # the exact partial volume of the planned ellipsoid at the renderer's centre: what
        # the renderer draws with no information lost (the 0.5 mm row's own error against
        # it is the renderer's part; a coarse row's excess over it, the mask's)
        exact_alpha = ideal_opacity(2 * RADII[0], nodule.tight().centroid_voxel(), host,
                                    shape, MIN_EDGE_MM, radii=RADII)  # type: ignore[arg-type]
        exact = LUNG_HU + (SOLID_HU - LUNG_HU) * ndimage.gaussian_filter(
            exact_alpha.astype(np.float32), sigma)
        rows = {}
        for source_name, source in {**SOURCES, **NATIVES}.items():
            rms, peak, versus_exact = [], [], []
            for k in range(PHASES):
                donor = ellipsoid_mask(RADII, source, centre_mm=phase(k))
                if source_name in NATIVES:
                    donor = native_mask(DonorShape("d", ellipsoid_mask(
                        RADII, NATIVE_SOURCE, centre_mm=phase(k)), NATIVE_SOURCE), source)
                drawn = render(shape_from_mask(donor, source))
                diff = drawn - reference
                rms.append(float(np.sqrt(np.mean(diff[support] ** 2))))
                versus_exact.append(float(np.sqrt(np.mean((drawn - exact)[support] ** 2))))
                peak.append(float(np.abs(diff).max()))
            rows[source_name] = {"rms_hu": round(float(np.mean(rms)), 1),
                                 "rms_over_noise_sd": round(float(np.mean(rms)) / noise, 2),
                                 "max_abs_hu": round(float(np.max(peak)), 1),
                                 "vs_exact_rms_over_noise_sd": round(
                                     float(np.mean(versus_exact)) / noise, 2)}
        renderer_part = float(np.sqrt(np.mean((reference - exact)[support] ** 2))) / noise
        out[host_name] = {"noise_sd_hu": round(noise, 1), "by_source": rows,
                          "renderer_vs_exact_rms_over_noise_sd": round(renderer_part, 2)}
    return out


# five ellipsoids (semi-axes, mm): the bench's 12×10×9 mm one, round, z-elongated, flat-ish
# and small — what SMOOTH_VOXELS was chosen on (shape_field.py)
SHAPES = ((6.0, 5.0, 4.5), (4.0, 4.0, 4.0), (4.0, 4.0, 8.0), (8.0, 5.0, 5.0), (2.5, 2.5, 2.5))
COARSE = ("1mm", "3mm", "phantom_3x3x4", "lidc_like_0.7x0.7x5")
CHAIN_STEPS, CHAIN_DRAWS = 400, 20  # random-walk steps per kept draw, kept draws


class _Scene:
    """A 0.5 mm donor's ellipsoid drawn on ``host`` (the reference) and a function that
    draws any shape at the same place, blurred by the host's PSF, without noise."""

    def __init__(self, radii: tuple[float, float, float], host: tuple[float, float, float]):
        self.shape = tuple(int(np.ceil((2 * max(radii) + 10.0) / s)) for s in host)
        self.host = host
        acq = acquisition(host)
        self.blur = np.asarray(psf_sigma_mm(acq)) / np.asarray(host)
        fine = ellipsoid_mask(radii, SOURCES["0.5mm"], centre_mm=phase(99))
        self.nodule = place(resample_donor(fine, SOURCES["0.5mm"], host), self.shape)  # type: ignore[arg-type]
        self.reference = self.render(shape_from_mask(fine, SOURCES["0.5mm"]))
        self.support = self.reference > LUNG_HU + 10.0
        self.noise = noise_sd_hu(acq)

    def render(self, field: Any) -> np.ndarray:
        alpha = opacity(field, self.nodule, self.host, self.shape)  # type: ignore[arg-type]
        return LUNG_HU + (SOLID_HU - LUNG_HU) * ndimage.gaussian_filter(alpha, self.blur)

    def rms_over_noise(self, image: np.ndarray, against: np.ndarray | None = None) -> float:
        base = self.reference if against is None else against
        return float(np.sqrt(np.mean((image - base)[self.support] ** 2))) / self.noise


def _whole_voxel_phase(k: int, source: tuple[float, float, float]) -> tuple[float, ...]:
    rng = np.random.default_rng(50 + k)
    return tuple(float(v) for v in rng.uniform(-0.5, 0.5, 3) * np.asarray(source))


def _consistent_ellipsoids(radii: tuple[float, ...], centre: tuple[float, ...],
                           source: tuple[float, float, float], seed: int
                           ) -> tuple[list[np.ndarray], float]:
    """Axis-aligned ellipsoids whose mask on ``source`` is the given one's: a random walk
    (steps of 3 % of a voxel in every semi-axis and centre coordinate, a step kept only
    when the mask is unchanged — the uniform distribution over the consistent set), one
    draw every ``CHAIN_STEPS`` steps. Returns the draws (semi-axes + centre) and the
    share of steps kept."""
    target = ellipsoid_mask(radii, source, centre_mm=centre)  # type: ignore[arg-type]
    rng = np.random.default_rng(seed)
    x = np.asarray(list(radii) + list(centre), dtype=np.float64)
    scale = np.asarray(list(source) * 2) * 0.03
    draws, kept = [], 0
    for step in range(CHAIN_STEPS * CHAIN_DRAWS):
        y = x + rng.standard_normal(6) * scale
        if np.all(y[:3] > 0.3):
            try:
                mask = ellipsoid_mask(tuple(y[:3]), source, centre_mm=tuple(y[3:]))  # type: ignore[arg-type]
            except ValueError:  # covers no voxel centre: not consistent
                mask = None
            if mask is not None and mask.shape == target.shape and np.array_equal(mask, target):
                x, kept = y, kept + 1
        if step % CHAIN_STEPS == CHAIN_STEPS - 1:
            draws.append(x.copy())
    return draws, kept / (CHAIN_STEPS * CHAIN_DRAWS)


def _floor_draws(source: tuple[float, float, float]) -> list[list[Any]]:
    """Per sub-voxel position, the continuous shapes (0.5 mm donors) of the ellipsoids
    consistent with the bench ellipsoid's mask on ``source``; and the share of chain steps
    kept, last in each list."""
    out = []
    for k in range(PHASES):
        draws, share = _consistent_ellipsoids(RADII, _whole_voxel_phase(k, source), source,
                                              seed=k)
        fields: list[Any] = [shape_from_mask(ellipsoid_mask(
            tuple(d[:3]), SOURCES["0.5mm"], centre_mm=phase(98)),  # type: ignore[arg-type]
            SOURCES["0.5mm"]) for d in draws]
        out.append([*fields, share])
    return out


def grid_floor() -> dict[str, Any]:
    """What a coarse mask allows. For each coarse donor grid and host: (a) the shape_field
    reconstruction's RMS difference from the 0.5 mm donor's render over five ellipsoids
    (``SHAPES``) at four sub-voxel positions spanning the *whole* donor voxel (the
    ``grid_independence`` rows use ±0.5 mm); (b) the floor: for the bench's 12×10×9 mm
    ellipsoid at those four positions, the axis-aligned ellipsoids whose mask is exactly
    the given one (:func:`_consistent_ellipsoids`) are drawn, and the RMS spread of their
    renders about their mean (``floor``: the error of the best any reconstruction from
    the mask can do on average, even knowing the shape is such an ellipsoid — real lesions
    allow more shapes, so this is a lower bound) and the mean render's difference from
    the truth (``posterior_mean``) are reported in host-noise SD."""
    out: dict[str, Any] = {name: {} for name in HOSTS}
    for name in COARSE:
        source = SOURCES[name]
        draws = _floor_draws(source)
        for host_name, host in HOSTS.items():
            scenes = {radii: _Scene(radii, host) for radii in SHAPES}
            errors = [scene.rms_over_noise(scene.render(shape_from_mask(ellipsoid_mask(
                radii, source, centre_mm=_whole_voxel_phase(k, source)), source)))  # type: ignore[arg-type]
                for radii, scene in scenes.items() for k in range(PHASES)]
            scene = scenes[RADII]
            floors, means = [], []
            for fields in draws:
                renders = np.stack([scene.render(f) for f in fields[:-1]])
                mean = renders.mean(axis=0)
                floors.append(float(np.sqrt(np.mean(
                    (renders - mean)[:, scene.support] ** 2))) / scene.noise)
                means.append(scene.rms_over_noise(mean))
            out[host_name][name] = {
                "reconstruction_rms_over_noise_sd": round(float(np.mean(errors)), 2),
                "reconstruction_worst_over_noise_sd": round(float(np.max(errors)), 2),
                "floor_over_noise_sd": round(float(np.mean(floors)), 2),
                "posterior_mean_over_noise_sd": round(float(np.mean(means)), 2),
                "chain_steps_kept": round(float(np.mean([f[-1] for f in draws])), 2)}
    return out


def grid_volume_share() -> dict[str, Any]:
    """How much of a coarse donor's excess over the floor is its volume: the
    reconstruction's RMS (÷ host noise SD, against the 0.5 mm donor's render; five shapes ×
    four whole-voxel positions, as ``grid_floor``'s reconstruction row) with the volume
    taken from the mask's voxel count (what the renderer does) and with the shape's true
    volume (an oracle: ``shape_from_mask(volume_mm3=…)``), and the count's relative error."""
    out: dict[str, Any] = {name: {} for name in HOSTS}
    for name in ("3mm", "phantom_3x3x4"):
        source = SOURCES[name]
        for host_name, host in HOSTS.items():
            count, oracle, error = [], [], []
            for radii in SHAPES:
                scene = _Scene(radii, host)
                for k in range(PHASES):
                    mask = ellipsoid_mask(radii, source, centre_mm=_whole_voxel_phase(k, source))
                    true_volume = 4.0 / 3.0 * np.pi * float(np.prod(radii))
                    count.append(scene.rms_over_noise(scene.render(shape_from_mask(mask, source))))
                    oracle.append(scene.rms_over_noise(scene.render(
                        shape_from_mask(mask, source, volume_mm3=true_volume))))
                    error.append(float(mask.sum()) * float(np.prod(source)) / true_volume - 1)
            out[host_name][name] = {
                "count_volume_rms_over_noise_sd": round(float(np.mean(count)), 2),
                "true_volume_rms_over_noise_sd": round(float(np.mean(oracle)), 2),
                "count_volume_error_rms": round(float(np.sqrt(np.mean(np.square(error)))), 3),
                "count_volume_error_mean": round(float(np.mean(error)), 3)}
    return out
