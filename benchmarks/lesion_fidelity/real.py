"""The real CTs that ship with the world: loading, lung and vessel masks, and the edge
width of rendered nodules against the host's vessel edges."""

from __future__ import annotations

from typing import Any

import numpy as np
from scipy import ndimage

from lesiontrials.geometry import NoduleMask
from lesiontrials.lesion_text import LesionDescriptors
from lesiontrials.render import Acquisition, HostCTRenderer, LesionSpec
from lesiontrials.settings import load_settings
from lesiontrials.shape_field import shape_from_mask
from lesiontrials.testing import ellipsoid_mask
from lesiontrials.vessel_edges import edge_width_mm
from lesiontrials.vessel_edges import vessel_edge_width as shared_vessel_edge_width


def real_cases() -> list[tuple[str, np.ndarray, np.ndarray, np.ndarray,
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


def lung_of(labels: np.ndarray) -> np.ndarray:
    from lesiontrials.render.appearance.tissue import LUNG_LABELS

    return np.isin(labels, LUNG_LABELS)


def vessel_edge_width(ct: np.ndarray, labels: np.ndarray, lesion: np.ndarray,
                  spacing: tuple[float, float, float], *, along_z: bool = False
                  ) -> float | None:
    """Edge width of the host's vessels (lung voxels above −500 HU, 20 mm from the
    lesion); ``along_z``: only where the vessel mask continues through the slices above
    and below (vessels running within a few degrees of z, whose in-plane edge has no
    slope across the slice — the like of the rod)."""
    lung = lung_of(labels)
    if not along_z:  # the measure the renderer takes a host's blur from, on every slice
        measured = shared_vessel_edge_width(ct, lung, spacing, exclude=lesion)
        return None if measured is None else measured.width_mm
    far = ndimage.distance_transform_edt(~lesion, sampling=spacing) > 20.0
    vessels = lung & far & (ct > -500.0)
    vessels = ndimage.binary_opening(vessels, structure=np.ones((2, 2, 1), bool))
    vessels[:, :, 1:-1] &= vessels[:, :, :-2] & vessels[:, :, 2:]
    vessels[:, :, [0, -1]] = False
    parenchyma = lung & (ct < -700.0)
    measured = edge_width_mm(ct, vessels, parenchyma, spacing)
    return None if measured is None else measured.width_mm


def lung_spot(labels: np.ndarray, lesion: np.ndarray, spacing: tuple[float, float, float],
               radius_mm: float) -> tuple[float, float, float]:
    """A lung voxel at least ``radius + 8`` mm from the pleura and 30 mm from the lesion."""
    lung = lung_of(labels)
    inner = ndimage.distance_transform_edt(lung, sampling=spacing) > radius_mm + 8.0
    inner &= ndimage.distance_transform_edt(~lesion, sampling=spacing) > 30.0
    points = np.argwhere(inner)
    return tuple(float(v) for v in points[len(points) // 2])  # type: ignore[return-value]


def fine_sphere(radius_mm: float) -> Any:
    """The continuous shape of a sphere from a 0.25 mm donor mask."""
    return shape_from_mask(ellipsoid_mask((radius_mm,) * 3, (0.25,) * 3,
                                          centre_mm=(0.05, -0.08, 0.11)), (0.25,) * 3)


def edge_widths(cases: list[Any]) -> dict[str, Any]:
    from lesiontrials.testing import sphere_mask

    out: dict[str, Any] = {}
    for name, ct, labels, lesion, spacing in cases:
        vessel = vessel_edge_width(ct, labels, lesion, spacing)
        centre = lung_spot(labels, lesion, spacing, 5.0)
        nodule = sphere_mask(labels.shape, centre, 5.0, spacing)
        row: dict[str, Any] = {"vessel_width_mm": None if vessel is None else round(vessel, 2)}
        along_z = vessel_edge_width(ct, labels, lesion, spacing, along_z=True)
        row["vessel_along_z_width_mm"] = None if along_z is None else round(along_z, 2)
        nodule30 = sphere_mask(labels.shape, lung_spot(labels, lesion, spacing, 15.0), 15.0,
                               spacing)
        # the spheres' shapes come from 0.25 mm donors, as a trial's do from its donor
        # mask; "nodule_hostmask" is drawn from its own 5 mm-slice host mask (two or three
        # slices: the shape a 10 mm sphere's host mask holds), as this bench did before
        shapes = {"nodule": (nodule, fine_sphere(5.0)),
                  "nodule30": (nodule30, fine_sphere(15.0)),
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
            measured = edge_width_mm(rendered.astype(np.float32), obj, lung_of(labels) & ~obj,
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


def z_edges(cases: list[Any]) -> dict[str, Any]:
    """Each real host's z edge spread (:mod:`lesiontrials.z_edge`: its lung/tissue
    boundaries lying flat across slices) against what the host-CT renderer blurs a lesion
    by along z — the slice-thickness model (FWHM = the slice spacing), of which the layer's
    voxel averaging is ``spacing/√12`` and ``lesion_blur_mm`` the rest."""
    from lesiontrials.render.backends.scanner import FWHM_TO_SIGMA
    from lesiontrials.z_edge import z_edge_sigma_mm

    out: dict[str, Any] = {}
    for name, ct, labels, _lesion, spacing in cases:
        measured = z_edge_sigma_mm(ct, lung_of(labels), spacing)
        out[name] = {
            "slice_mm": spacing[2],
            "measured_sigma_z_mm": None if measured is None else round(measured.sigma_mm, 2),
            "columns": None if measured is None else measured.columns,
            "fit_rms_residual": None if measured is None else round(measured.rms_residual, 3),
            "renderer_sigma_z_mm": round(spacing[2] * FWHM_TO_SIGMA, 2),
            "voxel_box_sigma_z_mm": round(spacing[2] / np.sqrt(12.0), 2)}
    return out
