"""Lesion rendering fidelity: grid independence, diameter, edge width, self-insertion.
Prints JSON.

1. ``grid_independence``: one ellipsoid (12×10×9 mm) stored as a donor mask at 0.5, 1 and
   3 mm (isotropic), 3×3×4 mm (phantom natives), 0.7×0.7×2.5 and ×5 mm (LIDC-like pixel
   masks) and 0.35×0.35×2.5 and ×5 mm (LIDC outlines rasterised at sub-pixel accuracy,
   ``world/lidc_subpixel.py``), and as phantom natives are built (that 0.35×0.35×2.5 mm
   shape sampled on a 3×3×4 or a 0.7×0.7×1.25 mm phantom grid), each at ``PHASES``
   sub-voxel positions, drawn at one place of a 0.7×0.7×1.25 mm and a 0.7×0.7×5 mm host
   (solid, 35 HU on −850 HU lung, the acquisition's PSF, no noise) and compared with the
   same ellipsoid stored at 0.5 mm: RMS and largest HU difference over the lesion's support,
   against the host noise SD (scanner model, 1.25 or 5 mm slices, 120 kVp, 50 mAs).
2. ``diameter``: spheres of 3…30 mm (0.25 mm donors, ``PHASES`` positions) on both hosts:
   half-maximum equivalent diameter of the drawn opacity (voxels ≥ 0.5) and, for a sharp
   margin, the partial-volume one (Σ opacity); target: within half a voxel (cube root of
   the voxel volume) of the planned diameter. The same measures of the *exact* partial
   volume of a perfect sphere at the same place (``_ideal_opacity``) separate what the grid
   itself allows (``ideal_*``) from what the renderer adds (``render_vs_ideal_*``: the
   half-max diameter's difference and the largest opacity difference per voxel).
3. ``edge_width``: on the real CTs that ship with the world (pyradiomics ``lung1``,
   ``lung2``: 5 mm slices), the in-plane 10–90 % edge width
   (:mod:`lesiontrials.render.fidelity.edge_width`) of a 10 mm solid nodule inserted by the host-CT
   renderer (margin 5 and 4; its shape from a 0.25 mm donor, as in a trial, and — row
   ``nodule_hostmask`` — from its own 5 mm-slice host mask, as this bench drew it before),
   of a 30 mm nodule and of a 4 mm rod along z (margin 5), and
   of the host's own vessels (lung voxels above −500 HU with a 1.5 mm core; all of them,
   and those running along z — the rod's like); target ±20 %.
   ``edge_vs_exact_sphere``: the same 10–90 % width of a 10 and a 30 mm sphere drawn by
   the renderer and of the exact partial volume of a perfect sphere, both blurred by the
   same rest of the PSF on a clean 0.57×0.57×5 mm grid — the renderer's own share.
4. ``self_insertion``: each real lesion is removed (its in-plane 2 mm neighbourhood and the
   slice above and below, inside the lung, refilled with the median of the surrounding
   parenchyma plus noise with the scan's measured NPS) and drawn again from its own mask
   with its own texture SD, the solid HU that gives its rendered core the original core's
   mean, and the margin score whose 10–90 % edge width is closest to its own (every score is
   listed); compared with the original: mean |ΔHU| inside the lesion and in a 3 mm lung
   rim (two independent noise fields alone give 1.13·SD), edge widths, and MIRP/IBSI GLCM
   features (difference over the feature's SD under re-drawn noise of the scan's SD).
   ``texture``: the lesion's internal texture — first-order features of its core (HU
   mean, SD, 10th/90th percentile, skewness, kurtosis) and the GLCM features — redrawn
   with the texture's smoothing scale set to each of ``TEXTURE_SCALES_MM`` (the texture
   SD always fitted to the core's variance less the noise's), each feature's difference
   over its SD under re-drawn noise, and the scale that matches best.
"""

from __future__ import annotations

import argparse
import json
import time
from dataclasses import replace
from typing import Any

import numpy as np
from scipy import ndimage

from lesiontrials.geometry import NoduleMask
from lesiontrials.insert.transplant import resample_donor
from lesiontrials.lesion_text import LesionDescriptors
from lesiontrials.render import Acquisition, HostCTRenderer, LesionSpec
from lesiontrials.render.appearance.lesion import lesion_layer, mask_in_box, sample_lesion_params
from lesiontrials.render.backends.hostct import (
    estimate_inplane_sigma_mm,
    host_noise,
    insert_layer,
    lesion_blur_mm,
)
from lesiontrials.render.backends.scanner import noise_sd_hu, psf_sigma_mm
from lesiontrials.render.fidelity.edge_width import edge_width_mm
from lesiontrials.render.fidelity.noise_measure import noise_like
from lesiontrials.settings import load_settings
from lesiontrials.shape_field import shape_from_mask
from lesiontrials.testing import ellipsoid_mask
from lesiontrials.world.natives import DonorShape, native_mask

HOSTS = {"screening_0.7x0.7x1.25": (0.7, 0.7, 1.25), "thick_0.7x0.7x5": (0.7, 0.7, 5.0)}
SOURCES = {"0.5mm": (0.5, 0.5, 0.5), "1mm": (1.0, 1.0, 1.0), "3mm": (3.0, 3.0, 3.0),
           "phantom_3x3x4": (3.0, 3.0, 4.0), "lidc_like_0.7x0.7x2.5": (0.7, 0.7, 2.5),
           "lidc_like_0.7x0.7x5": (0.7, 0.7, 5.0),
           # LIDC outlines rasterised at sub-pixel accuracy (world/lidc_subpixel.py: 0.7 mm
           # pixels refined 2×): the contour itself, not the scan's pixel staircase
           "lidc_subpixel_0.35x0.35x2.5": (0.35, 0.35, 2.5),
           "lidc_subpixel_0.35x0.35x5": (0.35, 0.35, 5.0)}
# Phantom natives as the world builds them (world/natives.py): an LIDC donor's continuous
# shape (here the ellipsoid's sub-pixel outlines on 2.5 mm slices) sampled on the phantom
# grid; the render then draws from that native mask (a native reused as a donor).
NATIVES = {"native_3x3x4_from_lidc_subpixel": (3.0, 3.0, 4.0),
           "native_0.7x0.7x1.25_from_lidc_subpixel": (0.7, 0.7, 1.25)}
NATIVE_SOURCE = (0.35, 0.35, 2.5)
RADII = (6.0, 5.0, 4.5)
LUNG_HU, SOLID_HU = -850.0, 35.0
PHASES = 4


def _phase(k: int) -> tuple[float, float, float]:
    rng = np.random.default_rng(1000 + k)
    return tuple(float(v) for v in rng.uniform(-0.5, 0.5, 3))  # type: ignore[return-value]


def _place(kernel: np.ndarray, shape: tuple[int, int, int]) -> NoduleMask:
    centre = np.asarray(shape) // 2 - np.round(np.argwhere(kernel).mean(axis=0)).astype(int)
    return NoduleMask(kernel, tuple(int(v) for v in centre))  # type: ignore[arg-type]


def _opacity(field: Any, nodule: NoduleMask, host: tuple[float, float, float],
             shape: tuple[int, int, int], margin: float = 5.0) -> np.ndarray:
    params = sample_lesion_params(LesionDescriptors(margin=margin), rng=np.random.default_rng(1))
    layer = lesion_layer(params, mask=nodule, spacing_mm=host, shape=shape, field=field)
    out = np.zeros(shape, dtype=np.float32)
    out[layer.box] = layer.alpha
    return out


def _acquisition(host: tuple[float, float, float]) -> Acquisition:
    return Acquisition(slice_thickness_mm=host[2], mas=50.0)


def grid_independence() -> dict[str, Any]:
    out: dict[str, Any] = {}
    for host_name, host in HOSTS.items():
        shape = tuple(int(np.ceil(26.0 / s)) for s in host)
        acq = _acquisition(host)
        sigma = np.asarray(psf_sigma_mm(acq)) / np.asarray(host)
        reference_mask = ellipsoid_mask(RADII, SOURCES["0.5mm"], centre_mm=_phase(99))
        nodule = _place(resample_donor(reference_mask, SOURCES["0.5mm"], host), shape)  # type: ignore[arg-type]

        def render(field: Any, where: NoduleMask = nodule, grid: Any = (host, shape, sigma)
                   ) -> np.ndarray:
            spacing, size, blur = grid
            alpha = ndimage.gaussian_filter(_opacity(field, where, spacing, size), blur)
            return LUNG_HU + (SOLID_HU - LUNG_HU) * alpha

        reference = render(shape_from_mask(reference_mask, SOURCES["0.5mm"]))
        support = reference > LUNG_HU + 10.0
        noise = noise_sd_hu(acq)
        rows = {}
        for source_name, source in {**SOURCES, **NATIVES}.items():
            rms, peak = [], []
            for k in range(PHASES):
                donor = ellipsoid_mask(RADII, source, centre_mm=_phase(k))
                if source_name in NATIVES:
                    donor = native_mask(DonorShape("d", ellipsoid_mask(
                        RADII, NATIVE_SOURCE, centre_mm=_phase(k)), NATIVE_SOURCE), source)
                diff = render(shape_from_mask(donor, source)) - reference
                rms.append(float(np.sqrt(np.mean(diff[support] ** 2))))
                peak.append(float(np.abs(diff).max()))
            rows[source_name] = {"rms_hu": round(float(np.mean(rms)), 1),
                                 "rms_over_noise_sd": round(float(np.mean(rms)) / noise, 2),
                                 "max_abs_hu": round(float(np.max(peak)), 1)}
        out[host_name] = {"noise_sd_hu": round(noise, 1), "by_source": rows}
    return out


def _ideal_opacity(diameter: float, centre: np.ndarray, host: tuple[float, float, float],
                   shape: tuple[int, int, int], edge_mm: float) -> np.ndarray:
    """The exact partial volume of a perfect sphere (centre in host voxels) with the
    renderer's soft edge: the mean of ``soft_edge(r − |x − c|)`` over a 5×5×20-point
    lattice in every voxel (0.14×0.14×0.25 mm on a 0.7×0.7×5 mm grid) — what any renderer
    that draws the true shape should produce, whatever the donor."""
    from lesiontrials.render.appearance.lesion_shape import soft_edge

    axes = np.meshgrid(*[(np.arange(n) - c) * s for n, c, s in zip(shape, centre, host,
                                                                   strict=True)],
                       indexing="ij")
    lattice = [((np.arange(k) + 0.5) / k - 0.5) * s for k, s in zip((5, 5, 20), host,
                                                                   strict=True)]
    total = np.zeros(shape, dtype=np.float64)
    for dx in lattice[0]:
        for dy in lattice[1]:
            planar = (axes[0] + dx) ** 2 + (axes[1] + dy) ** 2
            for dz in lattice[2]:
                distance = np.sqrt(planar + (axes[2] + dz) ** 2)
                total += soft_edge(diameter / 2 - distance, edge_mm)
    return total / (len(lattice[0]) * len(lattice[1]) * len(lattice[2]))


def _half_max_diameter(alpha: np.ndarray, voxel_mm3: float) -> float:
    return float((6 * float((alpha >= 0.5).sum()) * voxel_mm3 / np.pi) ** (1 / 3))


def diameters() -> dict[str, Any]:
    sizes = (3.0, 4.0, 5.0, 6.0, 8.0, 10.0, 12.0, 15.0, 20.0, 25.0, 30.0)
    out: dict[str, Any] = {}
    for host_name, host in HOSTS.items():
        voxel = float(np.prod(host))
        tolerance = 0.5 * voxel ** (1 / 3)
        rows = []
        for diameter in sizes:
            shape = tuple(int(np.ceil((diameter + 14.0) / s)) for s in host)
            half_max, covered, half_max_soft = [], [], []
            ideal: dict[float, list[float]] = {5.0: [], 3.0: []}
            versus_ideal: dict[float, list[float]] = {5.0: [], 3.0: []}
            opacity_gap: list[float] = []
            peak: list[float] = []
            for k in range(PHASES):
                donor = ellipsoid_mask((diameter / 2,) * 3, (0.25,) * 3, centre_mm=_phase(k))
                field = shape_from_mask(donor, (0.25,) * 3)
                nodule = _place(resample_donor(donor, (0.25,) * 3, host), shape)  # type: ignore[arg-type]
                centre = nodule.tight().centroid_voxel()
                for margin, sink in ((5.0, half_max), (3.0, half_max_soft)):
                    alpha = _opacity(field, nodule, host, shape, margin)  # type: ignore[arg-type]
                    sink.append(_half_max_diameter(alpha, voxel))
                    edge = 0.25 + 0.45 * (5.0 - margin)  # sample_lesion_params' edge
                    reference = _ideal_opacity(diameter, centre, host, shape, edge)  # type: ignore[arg-type]
                    exact = _half_max_diameter(reference, voxel)
                    opacity_gap.append(float(np.abs(alpha - reference).max()))
                    peak.append(float(reference.max()))
                    ideal[margin].append(exact)
                    versus_ideal[margin].append(sink[-1] - exact)
                    if margin == 5.0:
                        covered.append((6 * float(alpha.sum()) * voxel / np.pi) ** (1 / 3))
            rows.append({"planned_mm": diameter,
                         "half_max_mm": round(float(np.mean(half_max)), 2),
                         "half_max_worst_error_mm": round(float(np.max(np.abs(
                             np.asarray(half_max) - diameter))), 2),
                         "half_max_margin3_worst_error_mm": round(float(np.max(np.abs(
                             np.asarray(half_max_soft) - diameter))), 2),
                         "partial_volume_worst_error_mm": round(float(np.max(np.abs(
                             np.asarray(covered) - diameter))), 2),
                         "ideal_half_max_worst_error_mm": round(float(max(
                             np.max(np.abs(np.asarray(v) - diameter))
                             for v in ideal.values())), 2),
                         "render_vs_ideal_half_max_worst_mm": round(float(max(
                             np.max(np.abs(v)) for v in versus_ideal.values())), 2),
                         "render_vs_ideal_max_abs_opacity": round(max(opacity_gap), 3),
                         "ideal_lowest_peak_opacity": round(min(peak), 3)})
        worst = max(max(r["half_max_worst_error_mm"], r["half_max_margin3_worst_error_mm"])
                    for r in rows)
        worst_ideal = max(r["ideal_half_max_worst_error_mm"] for r in rows)
        worst_versus = max(r["render_vs_ideal_half_max_worst_mm"] for r in rows)
        out[host_name] = {"tolerance_mm": round(tolerance, 2), "rows": rows,
                          "worst_half_max_error_mm": worst, "within": worst <= tolerance,
                          "ideal_worst_half_max_error_mm": worst_ideal,
                          "ideal_within": worst_ideal <= tolerance,
                          "worst_render_vs_ideal_mm": worst_versus,
                          "render_vs_ideal_within": worst_versus <= tolerance}
    return out


def edge_vs_exact() -> dict[str, Any]:
    """In-plane 10–90 % edge width of a sharp (margin 5) 10 and 30 mm sphere drawn by the
    renderer (0.25 mm donor) against the exact partial volume of a perfect sphere at the
    same place, both blurred by the same rest of the PSF (``lesion_blur_mm``), on a clean
    0.57×0.57×5 mm grid, for the in-plane PSF σ of the two real hosts (0.33, 0.47 mm):
    whether the renderer itself widens edges (PSF applied twice, coarse supersampling)."""
    from lesiontrials.render.backends.scanner import FWHM_TO_SIGMA

    host = (0.57, 0.57, 5.0)
    out: dict[str, Any] = {}
    for diameter in (10.0, 30.0):
        shape = tuple(int(np.ceil((diameter + 14.0) / s)) for s in host)
        for in_plane in (0.33, 0.47):
            sigma = lesion_blur_mm((in_plane, in_plane, host[2] * FWHM_TO_SIGMA), host)
            sigma_vox = [s / h for s, h in zip(sigma, host, strict=True)]
            pairs = []
            for k in range(3):
                donor = ellipsoid_mask((diameter / 2,) * 3, (0.25,) * 3, centre_mm=_phase(k))
                nodule = _place(resample_donor(donor, (0.25,) * 3, host), shape)  # type: ignore[arg-type]
                drawn = _opacity(shape_from_mask(donor, (0.25,) * 3), nodule, host, shape)  # type: ignore[arg-type]
                exact = _ideal_opacity(diameter, nodule.tight().centroid_voxel(), host,
                                       shape, 0.25)  # type: ignore[arg-type]
                obj = nodule.to_full(shape)  # type: ignore[arg-type]
                widths = []
                for alpha in (drawn, exact):
                    image = ndimage.gaussian_filter(
                        LUNG_HU + (SOLID_HU - LUNG_HU) * alpha.astype(np.float32), sigma_vox)
                    measured = edge_width_mm(image, obj, ~obj, host)
                    widths.append(float("nan") if measured is None else measured.width_mm)
                pairs.append(widths)
            drawn_mm, exact_mm = np.asarray(pairs).T
            out[f"{int(diameter)}mm_sigma{in_plane}"] = {
                "rendered_mm": round(float(np.mean(drawn_mm)), 2),
                "exact_sphere_mm": round(float(np.mean(exact_mm)), 2),
                "largest_excess_mm": round(float(np.max(drawn_mm - exact_mm)), 3)}
    return out


def _real_cases() -> list[tuple[str, np.ndarray, np.ndarray, np.ndarray,
                                tuple[float, float, float]]]:
    from lesiontrials.world.realct import load_real_examples, segment_host

    cases = []
    for example in load_real_examples(load_settings().cache_dir):
        if example.lesion is None:
            continue  # a scan without a lesion (chest1) has nothing to self-insert
        labels = segment_host(example.ct, lesion_mask=example.lesion.array,
                              params=example.params).labels.array
        cases.append((example.name, example.ct.array.astype(np.float32), labels,
                      example.lesion.array > 0, example.ct.spacing_mm))
    return cases


def _lung(labels: np.ndarray) -> np.ndarray:
    from lesiontrials.render.appearance.tissue import LUNG_LABELS

    return np.isin(labels, LUNG_LABELS)


def _vessel_edges(ct: np.ndarray, labels: np.ndarray, lesion: np.ndarray,
                  spacing: tuple[float, float, float], *, along_z: bool = False
                  ) -> float | None:
    """Edge width of the host's vessels (lung voxels above −500 HU, 20 mm from the
    lesion); ``along_z``: only where the vessel mask continues through the slices above
    and below (vessels running within a few degrees of z, whose in-plane edge has no
    slope across the slice — the like of the rod)."""
    lung = _lung(labels)
    far = ndimage.distance_transform_edt(~lesion, sampling=spacing) > 20.0
    vessels = lung & far & (ct > -500.0)
    vessels = ndimage.binary_opening(vessels, structure=np.ones((2, 2, 1), bool))
    if along_z:
        vessels[:, :, 1:-1] &= vessels[:, :, :-2] & vessels[:, :, 2:]
        vessels[:, :, [0, -1]] = False
    parenchyma = lung & (ct < -700.0)
    measured = edge_width_mm(ct, vessels, parenchyma, spacing)
    return None if measured is None else measured.width_mm


def _lung_spot(labels: np.ndarray, lesion: np.ndarray, spacing: tuple[float, float, float],
               radius_mm: float) -> tuple[float, float, float]:
    """A lung voxel at least ``radius + 8`` mm from the pleura and 30 mm from the lesion."""
    lung = _lung(labels)
    inner = ndimage.distance_transform_edt(lung, sampling=spacing) > radius_mm + 8.0
    inner &= ndimage.distance_transform_edt(~lesion, sampling=spacing) > 30.0
    points = np.argwhere(inner)
    return tuple(float(v) for v in points[len(points) // 2])  # type: ignore[return-value]


def _fine_sphere(radius_mm: float) -> Any:
    """The continuous shape of a sphere from a 0.25 mm donor mask."""
    return shape_from_mask(ellipsoid_mask((radius_mm,) * 3, (0.25,) * 3,
                                          centre_mm=(0.05, -0.08, 0.11)), (0.25,) * 3)


def edge_widths(cases: list[Any]) -> dict[str, Any]:
    from lesiontrials.testing import sphere_mask

    out: dict[str, Any] = {}
    for name, ct, labels, lesion, spacing in cases:
        vessel = _vessel_edges(ct, labels, lesion, spacing)
        centre = _lung_spot(labels, lesion, spacing, 5.0)
        nodule = sphere_mask(labels.shape, centre, 5.0, spacing)
        row: dict[str, Any] = {"vessel_width_mm": None if vessel is None else round(vessel, 2)}
        along_z = _vessel_edges(ct, labels, lesion, spacing, along_z=True)
        row["vessel_along_z_width_mm"] = None if along_z is None else round(along_z, 2)
        nodule30 = sphere_mask(labels.shape, _lung_spot(labels, lesion, spacing, 15.0), 15.0,
                               spacing)
        # the spheres' shapes come from 0.25 mm donors, as a trial's do from its donor
        # mask; "nodule_hostmask" is drawn from its own 5 mm-slice host mask (two or three
        # slices: the shape a 10 mm sphere's host mask holds), as this bench did before
        shapes = {"nodule": (nodule, _fine_sphere(5.0)),
                  "nodule30": (nodule30, _fine_sphere(15.0)),
                  "nodule_hostmask": (nodule, None),
                  "rod": (_rod(labels.shape, centre, spacing), None)}
        for (kind, (obj_mask, field)), margin in ((k, m) for k in shapes.items()
                                                  for m in (5.0, 4.0)):
            if kind != "nodule" and margin != 5.0:
                continue
            rendered = HostCTRenderer(ct=ct.astype(np.int16)).render(
                labels=labels, spacing_mm=spacing,
                lesions=[LesionSpec(obj_mask, LesionDescriptors(margin=margin),
                                    shape_field=field)],
                acquisition=Acquisition(slice_thickness_mm=spacing[2]), seed=3).hu
            obj = obj_mask.to_full(labels.shape)
            measured = edge_width_mm(rendered.astype(np.float32), obj, _lung(labels) & ~obj,
                                     spacing)
            width = None if measured is None else round(measured.width_mm, 2)
            row[f"{kind}_margin{int(margin)}_width_mm"] = width
            if width is not None and vessel is not None:
                row[f"{kind}_margin{int(margin)}_over_vessel"] = round(width / vessel, 2)
            if kind == "rod" and width is not None and along_z is not None:
                row["rod_margin5_over_vessel_along_z"] = round(width / along_z, 2)
        out[name] = row
    return out


def _rod(shape: tuple[int, int, int], centre: tuple[float, float, float],
         spacing: tuple[float, float, float]) -> NoduleMask:
    """A vessel-like object: a 4 mm-wide cylinder along z, 20 mm long, at ``centre``."""
    r = [int(np.ceil(2.0 / s)) + 1 for s in spacing[:2]]
    grid = np.ogrid[-r[0]:r[0] + 1, -r[1]:r[1] + 1]
    disc = (grid[0] * spacing[0]) ** 2 + (grid[1] * spacing[1]) ** 2 <= 4.0
    length = max(1, round(20.0 / spacing[2]))
    kernel = np.repeat(disc[:, :, None], length, axis=2)
    corner = [round(c) - k // 2 for c, k in zip(centre, kernel.shape, strict=True)]
    corner[2] = int(np.clip(corner[2], 0, shape[2] - length))
    return NoduleMask(kernel, tuple(corner))  # type: ignore[arg-type]


def _remove_lesion(ct: np.ndarray, labels: np.ndarray, lesion: np.ndarray,
                   spacing: tuple[float, float, float], rng: np.random.Generator
                   ) -> tuple[np.ndarray, float]:
    """The CT with the lesion replaced by surrounding parenchyma (+ the scan's noise)."""
    lung = _lung(labels) | lesion
    reach = [max(1, round(2.0 / s)) for s in spacing[:2]]
    region = ndimage.binary_dilation(lesion, structure=np.ones(
        (2 * reach[0] + 1, 2 * reach[1] + 1, 3), bool)) & lung
    distance = ndimage.distance_transform_edt(~region, sampling=spacing)
    shell = lung & (distance > 0) & (distance < 10.0) & (ct < -600.0)
    box = ndimage.find_objects(region.view(np.uint8))[0]
    estimate = host_noise(ct, labels, box, spacing)
    assert estimate is not None
    filled = ct.copy()
    noise = noise_like(estimate, ct[box].shape, spacing[:2], rng) * estimate.sd_hu
    local = filled[box]
    local[region[box]] = float(np.median(ct[shell])) + noise[region[box]]
    return filled, estimate.sd_hu


def _glcm_noise_sd(ct: np.ndarray, lesion: np.ndarray, spacing: tuple[float, float, float],
                   noise_sd: float, draws: int = 4) -> dict[str, float]:
    from lesiontrials.render.fidelity.radiomics import mirp_glcm

    box = ndimage.find_objects(lesion.view(np.uint8))[0]
    rng = np.random.default_rng(7)
    values: dict[str, list[float]] = {}
    for _ in range(draws):
        noisy = ct[box] + rng.normal(0.0, noise_sd, ct[box].shape).astype(np.float32)
        for k, v in mirp_glcm(noisy, lesion[box], spacing_mm=spacing).items():
            values.setdefault(k, []).append(v)
    return {k: float(np.std(v, ddof=1)) for k, v in values.items()}


def _reinsert(removed: np.ndarray, labels: np.ndarray, lesion: np.ndarray,
              spacing: tuple[float, float, float], solid_hu: float, texture_sd: float,
              margin: float, texture_scale: float = 0.0) -> np.ndarray:
    params = sample_lesion_params(LesionDescriptors(margin=margin), rng=np.random.default_rng(5))
    params = replace(params, solid_hu=solid_hu, texture_sd_hu=texture_sd,
                     texture_scale_mm=texture_scale)
    box = ndimage.find_objects(lesion.view(np.uint8))[0]
    nodule = NoduleMask(lesion[box], tuple(s.start for s in box))  # type: ignore[arg-type]
    field = shape_from_mask(nodule.mask, spacing)
    layer = lesion_layer(params, mask=nodule, spacing_mm=spacing, shape=labels.shape,
                         field=field)
    estimate = host_noise(removed, labels, layer.box, spacing)
    assert estimate is not None
    in_plane = estimate_inplane_sigma_mm(removed, labels, spacing)
    sigma = lesion_blur_mm((in_plane, in_plane,
                            psf_sigma_mm(Acquisition(slice_thickness_mm=spacing[2]))[2]), spacing)
    noise = noise_like(estimate, layer.alpha.shape, spacing[:2],
                       np.random.default_rng(11)) * estimate.sd_hu
    out = removed.copy()
    insert_layer(out, layer, mask_in_box(nodule, layer.box), spacing_mm=spacing,
                 sigma_mm=sigma, noise=noise)
    return out


def _fitted_reinsertion(removed: np.ndarray, labels: np.ndarray, lesion: np.ndarray,
                        spacing: tuple[float, float, float], original: np.ndarray,
                        margin: float, noise_sd: float, texture_scale: float = 0.0
                        ) -> tuple[np.ndarray, float]:
    """Reinsert with the lesion's own texture SD and the solid HU that makes the rendered
    core's mean the original core's (one linear correction: the core's opacity after blur
    is below 1)."""
    core = ndimage.binary_erosion(lesion, structure=np.ones((3, 3, 1), bool))
    core = core if core.sum() > 20 else lesion
    target = float(original[core].mean())
    texture = float(np.sqrt(max(float(original[core].var()) - noise_sd**2, 0.0)))
    background = float(removed[core].mean())
    first = _reinsert(removed, labels, lesion, spacing, target, texture, margin, texture_scale)
    opacity = (float(first[core].mean()) - background) / (target - background)
    solid = background + (target - background) / max(opacity, 0.2)
    return _reinsert(removed, labels, lesion, spacing, solid, texture, margin,
                     texture_scale), solid


TEXTURE_SCALES_MM = (0.0, 1.5, 3.0, 5.0)  # 0.0: the renderer's default (1 mm, ≥ 0.6 voxel)


def _first_order(hu: np.ndarray, lesion: np.ndarray) -> dict[str, float]:
    """First-order texture of the lesion's core (in-plane erosion by one voxel): HU mean,
    SD, 10th/90th percentiles, skewness and excess kurtosis."""
    from scipy import stats

    core = ndimage.binary_erosion(lesion, structure=np.ones((3, 3, 1), bool))
    values = hu[core if core.sum() > 20 else lesion].astype(np.float64)
    p10, p90 = np.percentile(values, [10, 90])
    return {"mean_hu": float(values.mean()), "sd_hu": float(values.std()),
            "p10_hu": float(p10), "p90_hu": float(p90),
            "skewness": float(stats.skew(values)), "kurtosis": float(stats.kurtosis(values))}


def _texture_features(hu: np.ndarray, lesion: np.ndarray,
                      spacing: tuple[float, float, float]) -> dict[str, float]:
    """First-order features and, when MIRP is installed, its six 3-D GLCM features."""
    from lesiontrials.render.fidelity.radiomics import mirp_available, mirp_glcm

    out = _first_order(hu, lesion)
    if mirp_available():
        box = ndimage.find_objects(lesion.view(np.uint8))[0]
        out.update({f"glcm_{k}": v for k, v in
                    mirp_glcm(hu[box], lesion[box], spacing_mm=spacing).items()})
    return out


def _feature_noise_sd(ct: np.ndarray, lesion: np.ndarray, spacing: tuple[float, float, float],
                      noise_sd: float, draws: int = 4) -> dict[str, float]:
    """Each feature's SD when the scan's noise SD is drawn again (the yardstick)."""
    rng = np.random.default_rng(7)
    values: dict[str, list[float]] = {}
    for _ in range(draws):
        noisy = ct + rng.normal(0.0, noise_sd, ct.shape).astype(np.float32)
        for k, v in _texture_features(noisy, lesion, spacing).items():
            values.setdefault(k, []).append(v)
    return {k: float(np.std(v, ddof=1)) for k, v in values.items()}


def _texture_fit(removed: np.ndarray, labels: np.ndarray, lesion: np.ndarray,
                 spacing: tuple[float, float, float], ct: np.ndarray, margin: float,
                 noise_sd: float) -> dict[str, Any]:
    """The redrawn lesion's texture against the original's, for each texture scale:
    every feature's |difference| over its SD under re-drawn noise, and the scale whose
    mean over features is smallest."""
    box = ndimage.find_objects(ndimage.binary_dilation(lesion, iterations=3).view(np.uint8))[0]
    original = _texture_features(ct[box], lesion[box], spacing)
    spread = _feature_noise_sd(ct[box], lesion[box], spacing, noise_sd)
    rows = []
    for scale in TEXTURE_SCALES_MM:
        again, _ = _fitted_reinsertion(removed, labels, lesion, spacing, ct, margin, noise_sd,
                                       scale)
        redrawn = _texture_features(again[box], lesion[box], spacing)
        ratios = {k: abs(redrawn[k] - original[k]) / max(spread.get(k, 0.0), 1e-9)
                  for k in original if k in redrawn}
        rows.append({"texture_scale_mm": scale,
                     "features": {k: {"original": round(original[k], 4),
                                      "redrawn": round(redrawn[k], 4),
                                      "difference_over_noise_sd": round(ratios[k], 1)}
                                  for k in ratios},
                     "mean_difference_over_noise_sd": round(float(np.mean(list(
                         ratios.values()))), 1),
                     "inside_mean_abs_hu": round(float(np.abs(again - ct)[lesion].mean()), 1)})
    best = min(rows, key=lambda r: r["mean_difference_over_noise_sd"])
    return {"by_scale": rows, "best_texture_scale_mm": best["texture_scale_mm"],
            "sd_hu_original": round(original["sd_hu"], 1), "noise_sd_hu": round(noise_sd, 1)}


def self_insertion(cases: list[Any]) -> dict[str, Any]:
    from lesiontrials.render.fidelity.radiomics import mirp_available, mirp_glcm

    out: dict[str, Any] = {}
    for name, ct, labels, lesion, spacing in cases:
        removed, noise_sd = _remove_lesion(ct, labels, lesion, spacing,
                                           np.random.default_rng(2))
        lung = _lung(labels)
        distance = ndimage.distance_transform_edt(~lesion, sampling=spacing)
        rim = lung & ~lesion & (distance <= 3.0)
        original_width = edge_width_mm(ct, lesion, lung & ~lesion, spacing)
        best: dict[str, Any] | None = None
        by_margin = []
        for margin in (5.0, 4.0, 3.0, 2.0):
            again, solid = _fitted_reinsertion(removed, labels, lesion, spacing, ct, margin,
                                               noise_sd)
            width = edge_width_mm(again, lesion, lung & ~lesion, spacing)
            row = {"margin_score": margin, "fitted_solid_hu": round(solid, 1),
                   "inside_mean_abs_hu": round(float(np.abs(again - ct)[lesion].mean()), 1),
                   "rim_mean_abs_hu": round(float(np.abs(again - ct)[rim].mean()), 1),
                   "inside_mean_hu": round(float(again[lesion].mean()), 1),
                   "edge_width_mm": None if width is None else round(width.width_mm, 2)}
            by_margin.append(row)
            score = (abs(width.width_mm - original_width.width_mm)  # the margin score whose
                     if width is not None and original_width is not None  # edge matches
                     else row["inside_mean_abs_hu"] + row["rim_mean_abs_hu"])
            if best is None or score < best["score"]:
                best = {"row": row, "image": again, "score": score}
        assert best is not None
        row, again = best["row"], best["image"]
        result: dict[str, Any] = {
            "by_margin": by_margin, "best_margin_score": row["margin_score"],
            "inside_mean_hu_original": round(float(ct[lesion].mean()), 1),
            "removed_inside_mean_abs_hu": round(float(np.abs(removed - ct)[lesion].mean()), 1),
            "rim_mean_abs_hu_removed": round(float(np.abs(removed - ct)[rim].mean()), 1)}
        result["noise_sd_hu"] = round(noise_sd, 1)
        result["noise_only_mean_abs_hu"] = round(2.0 / np.sqrt(np.pi) * noise_sd, 1)
        result["inside_over_noise_sd"] = round(row["inside_mean_abs_hu"] / noise_sd, 2)
        result["rim_over_noise_sd"] = round(row["rim_mean_abs_hu"] / noise_sd, 2)
        widths = [edge_width_mm(image, lesion, lung & ~lesion, spacing) for image in (ct, again)]
        result["edge_width_mm"] = {
            "original": None if widths[0] is None else round(widths[0].width_mm, 2),
            "reinserted_best": None if widths[1] is None else round(widths[1].width_mm, 2)}
        result["texture"] = _texture_fit(removed, labels, lesion, spacing, ct,
                                         row["margin_score"], noise_sd)
        if mirp_available():
            box = ndimage.find_objects(lesion.view(np.uint8))[0]
            first = mirp_glcm(ct[box], lesion[box], spacing_mm=spacing)
            second = mirp_glcm(again[box], lesion[box], spacing_mm=spacing)
            spread = _glcm_noise_sd(ct, lesion, spacing, noise_sd)
            result["glcm"] = {k: {"original": round(first[k], 4),
                                  "reinserted": round(second[k], 4),
                                  "difference_over_noise_sd": round(
                                      abs(second[k] - first[k]) / max(spread.get(k, 0.0),
                                                                       1e-9), 1)}
                              for k in first if k in second}
        out[name] = result
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--skip-real", action="store_true",
                        help="only the synthetic parts (no packaged real CTs)")
    parser.add_argument("--parts", default="grid,diameter,edge_exact,edge,self",
                        help="comma-separated parts to run: grid, diameter, edge_exact, "
                             "edge, self")
    args = parser.parse_args()
    parts = set(args.parts.split(","))
    start = time.perf_counter()
    report: dict[str, Any] = {}
    if "grid" in parts:
        report["grid_independence"] = grid_independence()
    if "diameter" in parts:
        report["diameter"] = diameters()
    if "edge_exact" in parts:
        report["edge_vs_exact_sphere"] = edge_vs_exact()
    if not args.skip_real and parts & {"edge", "self"}:
        cases = _real_cases()
        if "edge" in parts:
            report["edge_width"] = edge_widths(cases)
        if "self" in parts:
            report["self_insertion"] = self_insertion(cases)
    report["seconds"] = round(time.perf_counter() - start, 1)
    print(json.dumps(report, indent=1))


if __name__ == "__main__":
    main()
