"""Half-maximum equivalent diameter of rendered spheres against the planned diameter, and
the renderer's own share of the edge width against the exact partial volume."""

from __future__ import annotations

from typing import Any

import numpy as np
from scipy import ndimage

from lesion_fidelity.common import (
    HOSTS,
    LUNG_HU,
    PHASES,
    SOLID_HU,
    central_slice_diameter,
    half_max_diameter,
    ideal_opacity,
    opacity,
    partial_volume_diameter,
    phase,
    place,
    z_extent,
)
from lesiontrials.insert.transplant import resample_donor
from lesiontrials.render.appearance.lesion import MARGIN_EDGE_MM_PER_SCORE, MIN_EDGE_MM
from lesiontrials.render.backends.hostct import lesion_blur_mm
from lesiontrials.shape_field import shape_from_mask
from lesiontrials.testing import ellipsoid_mask
from lesiontrials.vessel_edges import edge_width_mm


def _worst(values: list[float], planned: float = 0.0) -> float:
    return round(float(np.max(np.abs(np.asarray(values) - planned))), 2)


def _per_axis(alpha: np.ndarray, reference: np.ndarray, host: tuple[float, float, float],
              sink: dict[str, list[float]]) -> None:
    """A reader's measures of the drawn and of the exact opacity (sharp margin)."""
    for name, image in (("render", alpha), ("exact", reference)):
        sink[f"{name}_in_plane"].append(central_slice_diameter(image, host[:2]))
        sink[f"{name}_z"].append(z_extent(image, host[2]))


def _axis_summary(axes: dict[str, list[float]], diameter: float) -> dict[str, float]:
    out = {}
    for axis in ("in_plane", "z"):
        render, exact = np.asarray(axes[f"render_{axis}"]), np.asarray(axes[f"exact_{axis}"])
        out[f"{axis}_worst_error_mm"] = _worst(list(render), diameter)
        out[f"{axis}_exact_worst_error_mm"] = _worst(list(exact), diameter)  # the floor
        out[f"{axis}_render_vs_exact_worst_mm"] = _worst(list(render - exact))
    return out


def diameters() -> dict[str, Any]:
    """Per host and planned diameter (module docstring of ``bench_lesion_fidelity``): the
    half-maximum equivalent diameter, and a reader's per-axis measures — the in-plane
    diameter on the nodule's largest axial section (tolerance half a pixel) and the
    extent along z (tolerance half a slice) — each split into the floor (the exact partial
    volume of the planned sphere on that grid, ``exact``/``ideal``) and the renderer's own
    part (render − exact at the same place)."""
    sizes = (3.0, 4.0, 5.0, 6.0, 8.0, 10.0, 12.0, 15.0, 20.0, 25.0, 30.0)
    out: dict[str, Any] = {}
    for host_name, host in HOSTS.items():
        voxel = float(np.prod(host))
        tolerance = 0.5 * voxel ** (1 / 3)
        rows = []
        for diameter in sizes:
            shape = tuple(int(np.ceil((diameter + 14.0) / s)) for s in host)
            half_max, covered, half_max_soft, covered_exact = [], [], [], []
            ideal: dict[float, list[float]] = {5.0: [], 3.0: []}
            versus_ideal: dict[float, list[float]] = {5.0: [], 3.0: []}
            opacity_gap: list[float] = []
            peak: list[float] = []
            axes: dict[str, list[float]] = {f"{a}_{b}": [] for a in ("render", "exact")
                                            for b in ("in_plane", "z")}
            for k in range(PHASES):
                donor = ellipsoid_mask((diameter / 2,) * 3, (0.25,) * 3, centre_mm=phase(k))
                field = shape_from_mask(donor, (0.25,) * 3)
                nodule = place(resample_donor(donor, (0.25,) * 3, host), shape)  # type: ignore[arg-type]
                centre = nodule.tight().centroid_voxel()
                for margin, sink in ((5.0, half_max), (3.0, half_max_soft)):
                    alpha = opacity(field, nodule, host, shape, margin)  # type: ignore[arg-type]
                    sink.append(half_max_diameter(alpha, voxel))
                    edge = max(MARGIN_EDGE_MM_PER_SCORE * (5.0 - margin),
                               MIN_EDGE_MM)  # as the renderer draws it
                    reference = ideal_opacity(diameter, centre, host, shape, edge)  # type: ignore[arg-type]
                    exact = half_max_diameter(reference, voxel)
                    opacity_gap.append(float(np.abs(alpha - reference).max()))
                    peak.append(float(reference.max()))
                    ideal[margin].append(exact)
                    versus_ideal[margin].append(sink[-1] - exact)
                    if margin == 5.0:
                        covered.append(partial_volume_diameter(alpha, voxel))
                        covered_exact.append(partial_volume_diameter(reference, voxel))
                        _per_axis(alpha, reference, host, axes)
            rows.append({"planned_mm": diameter,
                         "half_max_mm": round(float(np.mean(half_max)), 2),
                         "half_max_worst_error_mm": round(float(np.max(np.abs(
                             np.asarray(half_max) - diameter))), 2),
                         "half_max_margin3_worst_error_mm": round(float(np.max(np.abs(
                             np.asarray(half_max_soft) - diameter))), 2),
                         "partial_volume_worst_error_mm": _worst(covered, diameter),
                         "partial_volume_exact_worst_error_mm": _worst(covered_exact, diameter),
                         "partial_volume_render_vs_exact_worst_mm": _worst(
                             list(np.asarray(covered) - np.asarray(covered_exact))),
                         "ideal_half_max_worst_error_mm": round(float(max(
                             np.max(np.abs(np.asarray(v) - diameter))
                             for v in ideal.values())), 2),
                         "render_vs_ideal_half_max_worst_mm": round(float(max(
                             np.max(np.abs(v)) for v in versus_ideal.values())), 2),
                         "render_vs_ideal_max_abs_opacity": round(max(opacity_gap), 3),
                         "ideal_lowest_peak_opacity": round(min(peak), 3),
                         **_axis_summary(axes, diameter)})
        worst = max(max(r["half_max_worst_error_mm"], r["half_max_margin3_worst_error_mm"])
                    for r in rows)
        worst_ideal = max(r["ideal_half_max_worst_error_mm"] for r in rows)
        worst_versus = max(r["render_vs_ideal_half_max_worst_mm"] for r in rows)
        out[host_name] = {"tolerance_mm": round(tolerance, 2), "rows": rows,
                          "worst_half_max_error_mm": worst, "within": worst <= tolerance,
                          "ideal_worst_half_max_error_mm": worst_ideal,
                          "ideal_within": worst_ideal <= tolerance,
                          "worst_render_vs_ideal_mm": worst_versus,
                          "render_vs_ideal_within": worst_versus <= tolerance,
                          **_partial_volume_verdicts(rows, tolerance),
                          **_axis_verdicts(rows, host)}
    return out


def _partial_volume_verdicts(rows: list[dict[str, Any]], tolerance: float
                             ) -> dict[str, Any]:
    """Worst errors of the partial-volume equivalent diameter over all sizes (render,
    exact sphere = the floor, render − exact) against half a voxel (``tolerance``)."""
    out: dict[str, Any] = {}
    for part in ("partial_volume_worst_error_mm", "partial_volume_exact_worst_error_mm",
                 "partial_volume_render_vs_exact_worst_mm"):
        worst = max(r[part] for r in rows)
        out[f"worst_{part}"] = worst
        out[f"{part.replace('_mm', '')}_within"] = worst <= tolerance
    return out


def _axis_verdicts(rows: list[dict[str, Any]], host: tuple[float, float, float]
                   ) -> dict[str, Any]:
    """Worst per-axis errors over all sizes against half a pixel / half a slice."""
    out: dict[str, Any] = {}
    for axis, tolerance in (("in_plane", 0.5 * host[0]), ("z", 0.5 * host[2])):
        out[f"{axis}_tolerance_mm"] = round(tolerance, 2)
        for part in ("worst_error_mm", "exact_worst_error_mm", "render_vs_exact_worst_mm"):
            worst = max(r[f"{axis}_{part}"] for r in rows)
            out[f"{axis}_{part}"] = worst
            out[f"{axis}_{part.replace('_mm', '')}_within"] = worst <= tolerance
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
                donor = ellipsoid_mask((diameter / 2,) * 3, (0.25,) * 3, centre_mm=phase(k))
                nodule = place(resample_donor(donor, (0.25,) * 3, host), shape)  # type: ignore[arg-type]
                drawn = opacity(shape_from_mask(donor, (0.25,) * 3), nodule, host, shape)  # type: ignore[arg-type]
                exact = ideal_opacity(diameter, nodule.tight().centroid_voxel(), host,
                                       shape, MIN_EDGE_MM)  # type: ignore[arg-type]
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
