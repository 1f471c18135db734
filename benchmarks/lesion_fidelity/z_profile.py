"""A lesion's z edge on each real host against the host's own (issue 17, session 9).

For every packaged real CT: the host's z spread as the world build stores it
(:func:`lesiontrials.z_edge.z_spread_record`, with its verdict), and the z edge of a lesion
drawn on that host's grid, read by the *same* instrument (:func:`z_edge_sigma_mm`) so that
its floor on 5 mm spacing applies to both alike. The lesion: a 40 × 40 mm, 32 mm thick
slab with a sharp margin, tilted 0.2 mm/mm so that its top face crosses the slices at every
sub-slice phase (as the host's domes do), drawn alone into flat lung (−850 HU, no noise) and
read on the volume from the slab's middle up (the "lung" above its top face). Three ways
of drawing it:

- ``session8``: the renderer before session 9 — the opacity averaged over the voxel, then a
  Gaussian of the rest of the slice-thickness model sampled on the slice grid;
- ``now``: the renderer with the host's stored spread (the model where it is not trusted):
  the opacity averaged over the slice's own profile (:func:`slice_profile`);
- ``host_reading``: as ``now`` but drawing with the host's reading even where it is not
  trusted — what the lesion would look like along z if the reading were the host's blur.

Beside each: the partial-volume diameter of a 10 mm sphere (Σ opacity; unchanged by any
profile whose weights sum to 1) and the in-plane 10–90 % edge width on a 20 mm sphere's
central slice (``vessel_edges.edge_width_mm``), so the z change is seen not to move them.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from lesiontrials.geometry import NoduleMask
from lesiontrials.lesion_text import LesionDescriptors
from lesiontrials.render import Acquisition, ZSpread
from lesiontrials.render.appearance.lesion import (
    anti_alias_variance,
    lesion_layer,
    mask_in_box,
    sample_lesion_params,
)
from lesiontrials.render.backends.hostct import insert_layer, lesion_blur_mm, slice_profile
from lesiontrials.render.backends.scanner import psf_sigma_mm
from lesiontrials.shape_field import shape_from_mask
from lesiontrials.testing import sphere_mask
from lesiontrials.vessel_edges import edge_width_mm
from lesiontrials.z_edge import Z_SPREAD_VERSION, z_edge_sigma_mm, z_spread_record

LUNG_HU = -850.0
SLAB_MM = (40.0, 40.0, 32.0)
TILT = 0.2  # mm of height per mm along x
FINE_MM = 0.4
SHARP = LesionDescriptors(margin=5.0, lobulation=1.0, spiculation=1.0)


def all_real_hosts() -> list[tuple[str, np.ndarray, np.ndarray, tuple[float, float, float],
                                   float]]:
    """(name, CT, lung mask, spacing, slice thickness) of every packaged real CT."""
    from lesiontrials.anatomy import LOBE_LABELS, LUNG
    from lesiontrials.settings import load_settings
    from lesiontrials.world.realct import load_real_examples, segment_host

    hosts = []
    for example in load_real_examples(load_settings().cache_dir):
        lesion = None if example.lesion is None else example.lesion.array > 0
        labels = segment_host(example.ct, lesion_mask=lesion, params=example.params).labels
        hosts.append((example.name, example.ct.array, np.isin(labels.array, (*LOBE_LABELS, LUNG)),
                      example.ct.spacing_mm, example.slice_thickness_mm))
    return hosts


def _tilted_slab() -> np.ndarray:
    n = [round(s / FINE_MM) for s in SLAB_MM]
    x = (np.arange(n[0]) - n[0] / 2) * FINE_MM
    z = np.arange(round((SLAB_MM[2] + TILT * SLAB_MM[0]) / FINE_MM)) * FINE_MM
    bottom = TILT * (x - x.min())
    inside = (z[None, :] >= bottom[:, None]) & (z[None, :] < bottom[:, None] + SLAB_MM[2])
    return np.broadcast_to(inside[:, None, :], (n[0], n[1], len(z))).copy()


def _draw(field: Any, nodule: NoduleMask, shape: tuple[int, int, int],
          spacing: tuple[float, float, float], acquisition: Acquisition, way: str,
          z_spread: ZSpread | None, sigma_xy: float) -> np.ndarray:
    """The lesion alone (HU change over flat lung, no noise) drawn one of the three ways."""
    params = sample_lesion_params(SHARP, rng=np.random.default_rng(0))
    extra = anti_alias_variance(params)
    xy = lesion_blur_mm((sigma_xy, sigma_xy, 0.0), spacing)[0]
    xy = float(np.sqrt(max(xy**2 - extra, 0.0)))
    if way == "session8":
        z = lesion_blur_mm((0.0, 0.0, psf_sigma_mm(acquisition)[2]), spacing)[2]
        profile = None
        sigma = (xy, xy, float(np.sqrt(max(z**2 - extra, 0.0))))
    else:
        box, gauss, _ = slice_profile(acquisition, z_spread, spacing[2])
        profile = (box, float(np.sqrt(max(gauss**2 - extra, 0.0))))
        sigma = (xy, xy, 0.0)
    layer = lesion_layer(params, mask=nodule, spacing_mm=spacing, shape=shape, field=field,
                         z_profile_mm=profile)
    ct = np.full(shape, LUNG_HU, dtype=np.float32)
    insert_layer(ct, layer, mask_in_box(nodule, layer.box), spacing_mm=spacing,
                 sigma_mm=sigma, noise=np.zeros(layer.alpha.shape, np.float32))
    return ct


def _slab_z_reading(spacing: tuple[float, float, float], thick: float, way: str,
                    z_spread: ZSpread | None, sigma_xy: float) -> dict[str, Any]:
    fine = _tilted_slab()
    field = shape_from_mask(fine, (FINE_MM,) * 3)
    extent = np.asarray(fine.shape) * FINE_MM
    shape = tuple(int(np.ceil((e + 30.0) / s)) for e, s in zip(extent, spacing, strict=True))
    half = [int(np.ceil(e / 2 / s)) for e, s in zip(extent, spacing, strict=True)]
    start = tuple(n // 2 - h for n, h in zip(shape, half, strict=True))
    nodule = NoduleMask(np.ones(tuple(2 * h for h in half), bool), start)  # the slab's box
    centre = nodule.centroid_voxel()
    ct = _draw(field, nodule, shape, spacing, Acquisition(slice_thickness_mm=thick), way,  # type: ignore[arg-type]
               z_spread, sigma_xy)
    top = ct[:, :, int(centre[2]):]  # from the slab's middle up: lesion below, "lung" above
    reading = z_edge_sigma_mm(top, top < LUNG_HU + 0.5 * (float(top.max()) - LUNG_HU),
                              spacing)
    return {"sigma_z_mm": None if reading is None else round(reading.sigma_mm, 2),
            "columns": None if reading is None else reading.columns,
            "fit_rms_residual": None if reading is None else round(reading.rms_residual, 3)}


def _sphere_checks(spacing: tuple[float, float, float], thick: float, way: str,
                   z_spread: ZSpread | None, sigma_xy: float) -> dict[str, float | None]:
    """Partial-volume diameter of a 10 mm sphere and in-plane edge of a 20 mm one."""
    out: dict[str, float | None] = {}
    for diameter in (10.0, 20.0):
        fine = sphere_mask((round(diameter / 0.25) + 8,) * 3, (round(diameter / 0.25) / 2 + 4,) * 3,
                           diameter / 2, (0.25,) * 3).mask
        field = shape_from_mask(fine, (0.25,) * 3)
        shape = tuple(int(np.ceil((diameter + 34.0) / s)) for s in spacing)
        centre = tuple(n / 2 + 0.3 for n in shape)
        nodule = sphere_mask(shape, centre, diameter / 2, spacing)
        ct = _draw(field, nodule, shape, spacing, Acquisition(slice_thickness_mm=thick), way,  # type: ignore[arg-type]
                   z_spread, sigma_xy)
        params = sample_lesion_params(SHARP, rng=np.random.default_rng(0))
        step = float(params.solid_hu) - LUNG_HU
        if diameter == 10.0:
            alpha_sum = float((ct - LUNG_HU).sum(dtype=np.float64)) / step
            out["pv_diameter_10mm"] = round(
                (6 * alpha_sum * float(np.prod(spacing)) / np.pi) ** (1 / 3), 3)
        else:
            k = round(centre[2])
            obj = ct > LUNG_HU + 0.5 * step
            flat = np.zeros_like(obj)
            flat[:, :, k] = True
            width = edge_width_mm(ct, obj & flat, ~obj & flat, spacing)
            out["inplane_edge_20mm"] = None if width is None else round(width.width_mm, 3)
    return out


def lesion_z_profile(hosts: list[Any]) -> dict[str, Any]:
    """Per real host: its stored z spread and verdict, and the lesion's z reading, diameter
    and in-plane edge drawn the three ways (module docstring)."""
    from lesiontrials.vessel_edges import vessel_edge_sigma_mm

    out: dict[str, Any] = {}
    for name, ct, lung, spacing, thick in hosts:
        record = z_spread_record(ct, lung, spacing)
        stored = ZSpread.from_record(record)
        forced = ZSpread(sigma_mm=record["z_spread_sigma_mm"], trusted=True,  # type: ignore[arg-type]
                         version=Z_SPREAD_VERSION)
        sigma_xy = vessel_edge_sigma_mm(ct, lung, spacing) or 0.8
        row: dict[str, Any] = {"slice_mm": spacing[2], "host": record,
                               "sigma_xy_mm": round(sigma_xy, 3)}
        for way, spread in (("session8", None), ("now", stored), ("host_reading", forced)):
            box, gauss, source = slice_profile(Acquisition(slice_thickness_mm=thick),
                                               spread, spacing[2])
            row[way] = {"profile_box_mm": round(box, 3), "profile_gauss_mm": round(gauss, 3),
                        "source": source if way != "session8" else "session 8 renderer",
                        **_slab_z_reading(spacing, thick, way, spread, sigma_xy),
                        **_sphere_checks(spacing, thick, way, spread, sigma_xy)}
            lesion = row[way]["sigma_z_mm"]
            host = record["z_spread_sigma_mm"]
            row[way]["lesion_over_host"] = (None if lesion is None or np.isnan(float(host))
                                            else round(lesion / float(host), 2))
        out[name] = row
    return out
