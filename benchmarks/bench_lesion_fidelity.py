"""Lesion rendering fidelity: grid independence, diameter, edge width, self-insertion.
Prints JSON. One module per measurement under ``benchmarks/lesion_fidelity/``.

1. ``grid_independence``: one ellipsoid (12×10×9 mm) stored as a donor mask at 0.5, 1 and
   3 mm (isotropic), 3×3×4 mm (phantom natives), 0.7×0.7×2.5 and ×5 mm (LIDC-like pixel
   masks) and 0.35×0.35×2.5 and ×5 mm (LIDC outlines rasterised at sub-pixel accuracy,
   ``world/lidc_subpixel.py``), and as phantom natives are built (that 0.35×0.35×2.5 mm
   shape sampled on a 3×3×4 or a 0.7×0.7×1.25 mm phantom grid), each at ``PHASES``
   sub-voxel positions, drawn at one place of a 0.7×0.7×1.25 mm and a 0.7×0.7×5 mm host
   (solid, 35 HU on −850 HU lung, the acquisition's PSF, no noise) and compared with the
   same ellipsoid stored at 0.5 mm: RMS and largest HU difference over the lesion's support,
   against the host noise SD (scanner model, 1.25 or 5 mm slices, 120 kVp, 50 mAs); each
   also against the exact partial volume of the planned ellipsoid at the same place
   (``vs_exact``), and the 0.5 mm donor's render against it (``renderer_vs_exact``: the
   renderer's own part, with no information lost in the mask).
2. ``diameter``: spheres of 3…30 mm (0.25 mm donors, ``PHASES`` positions) on both hosts:
   half-maximum equivalent diameter of the drawn opacity (voxels ≥ 0.5) and, for a sharp
   margin, the partial-volume one (Σ opacity); target: within half a voxel (cube root of
   the voxel volume) of the planned diameter. The same measures of the *exact* partial
   volume of a perfect sphere at the same place (``_ideal_opacity``) separate what the grid
   itself allows (``ideal_*``) from what the renderer adds (``render_vs_ideal_*``: the
   half-max diameter's difference and the largest opacity difference per voxel).
   Per axis, as a reader measures: the area-equivalent diameter of the largest axial
   section (tolerance half a pixel) and the z extent through the centroid column
   (tolerance half a slice), each for the render, the exact sphere (the floor) and
   render − exact (the renderer's part). The partial-volume equivalent diameter
   (Σ opacity × voxel volume: each voxel counted by the fraction of it inside the
   half-maximum surface rather than rounded to in or out) is split the same way
   (``partial_volume_*``): on 5 mm slices it is the reading of "half-maximum equivalent
   diameter" that the grid itself does not spoil (docs/lesions.md, "Session 8").
3. ``edge_width``: on the real CTs that ship with the world (pyradiomics ``lung1``,
   ``lung2``: 5 mm slices), the in-plane 10–90 % edge width
   (:mod:`lesiontrials.vessel_edges`) of a 10 mm solid nodule inserted by the host-CT
   renderer (margin 5 and 4; its shape from a 0.25 mm donor, as in a trial, and — row
   ``nodule_hostmask`` — from its own 5 mm-slice host mask, as this bench drew it before),
   of a 30 mm nodule and of a 4 mm rod along z (margin 5), and
   of the host's own vessels (lung voxels above −500 HU with a 1.5 mm core; all of them,
   and those running along z — the rod's like); target ±20 %. ``edge_table``: 4 / 8 /
   20 mm solid, part-solid and ground-glass nodules at margin 5 and their usual margin on
   both real CTs and a 0.75×0.75×1 mm phantom slab, ÷ the host's vessels; sub-solid ones
   also by their outer ground-glass boundary, and every cell also on the lesion alone
   (the render minus the same render without lesions, ``alone_*``: the edge the renderer
   drew, without the host's vessels crossing a faint boundary;
   ``lesion_fidelity/edge_table.py``).
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
5. ``z_edge``: each real host's own edge spread along z (:mod:`lesiontrials.z_edge`, fitted
   on its lung/tissue boundaries lying flat across slices) next to the z blur the host-CT
   renderer gives a lesion (the slice-thickness model).
6. ``z_profile`` (session 9): on every packaged real CT, the host's stored z spread and its
   verdict, and a sharp lesion's z edge read by the same instrument, drawn by the session-8
   renderer, by today's (the slice's own profile: the host's spread where trusted, else
   the model) and with the host's reading forced; beside them the partial-volume diameter
   and the in-plane edge, which the z profile must not move
   (``lesion_fidelity/z_profile.py``).
7. ``grid_volume`` (session 9): how much of a 3 mm / 3×3×4 mm donor's excess over the floor
   is the volume its voxel count gives — the reconstruction with the count and with the
   shape's true volume (an oracle), and the count's error (``lesion_fidelity/grid.py``).
8. ``native_source`` (session 9, fidvol): phantom natives (a library donor's shape sampled
   on the 3×3×4 mm or 0.7×0.7×1.25 mm phantom grid) drawn from their own coarse mask
   (before) and from their source's fine mask (now), against the 0.5 mm donor's render
   (``lesion_fidelity/native_source.py``).
"""


from __future__ import annotations

import argparse
import json
import time
from typing import Any

from lesion_fidelity.diameter import diameters, edge_vs_exact
from lesion_fidelity.edge_table import edge_table
from lesion_fidelity.grid import grid_floor, grid_independence, grid_volume_share
from lesion_fidelity.real import edge_widths, real_cases, z_edges
from lesion_fidelity.selfinsert import self_insertion


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--skip-real", action="store_true",
                        help="only the synthetic parts (no packaged real CTs; edge_table "
                             "then measures the phantom slab alone)")
    parser.add_argument("--parts", default="grid,floor,diameter,edge_exact,edge,edge_table,self",
                        help="comma-separated parts to run: grid, floor, diameter, "
                             "edge_exact, edge, edge_table, self, z_edge, z_profile, "
                             "grid_volume, native_source")
    args = parser.parse_args()
    parts = set(args.parts.split(","))
    known = {"grid", "floor", "diameter", "edge_exact", "edge", "edge_table", "self", "z_edge",
             "z_profile", "grid_volume", "native_source"}
    if parts - known:
        parser.error(f"unknown --parts {sorted(parts - known)}: choose from {sorted(known)}")
    start, cpu = time.perf_counter(), time.process_time()
    report: dict[str, Any] = {}
    if "grid" in parts:
        report["grid_independence"] = grid_independence()
    if "floor" in parts:
        report["grid_floor"] = grid_floor()
    if "grid_volume" in parts:
        report["grid_volume_share"] = grid_volume_share()
    if "native_source" in parts:
        from lesion_fidelity.native_source import native_source

        report["native_source"] = native_source()
    if "diameter" in parts:
        report["diameter"] = diameters()
    if "edge_exact" in parts:
        report["edge_vs_exact_sphere"] = edge_vs_exact()
    if parts & {"edge", "edge_table", "self", "z_edge"}:
        cases = [] if args.skip_real else real_cases()  # edge_table: the phantom row only
        if "edge" in parts:
            report["edge_width"] = edge_widths(cases)
        if "edge_table" in parts:
            report["edge_vs_vessels_table"] = edge_table(cases)
        if "self" in parts:
            report["self_insertion"] = self_insertion(cases)
        if "z_edge" in parts:
            report["z_edge"] = z_edges(cases)
    if "z_profile" in parts and not args.skip_real:
        from lesion_fidelity.z_profile import all_real_hosts, lesion_z_profile

        report["z_profile"] = lesion_z_profile(all_real_hosts())
    report["seconds"] = round(time.perf_counter() - start, 1)
    report["cpu_seconds"] = round(time.process_time() - cpu, 1)
    print(json.dumps(report, indent=1))


if __name__ == "__main__":
    main()
