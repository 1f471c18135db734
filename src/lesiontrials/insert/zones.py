"""Zone and central/peripheral requirements realised by placement, then verified.

A spec's ``zones`` and ``position`` reach insertion as ``target_zones`` /
``target_position`` (manifest). Definitions are the profiler's (``measurements/measure.py``),
so what placement aims for is what the realised truth reports:

- zone: thirds of the whole-lung cranio-caudal extent of the centroid
  (:func:`lesiontrials.anatomy.zone_from_cc_pct`);
- position: ``central`` when the centroid lies in the medial third of its lung's
  left-right extent on its slice, else ``peripheral``.

:func:`allowed_region` is the set of lobe voxels whose centre satisfies both;
placement draws its target there and :func:`unmet` checks the fitted centroid.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from lesiontrials import anatomy
from lesiontrials.geometry import Box, NoduleMask
from lesiontrials.insert.config import InsertConfig, InsertionError
from lesiontrials.insert.placement import Fit, FitRule, find_fit
from lesiontrials.insert.spec import NoduleSpec
from lesiontrials.measurements.host import HostAnatomy
from lesiontrials.measurements.measure import central_or_peripheral, percent_position


def allowed_region(host: HostAnatomy, lobe_id: int, box: Box, *, zones: Sequence[str],
                   position: str) -> np.ndarray:
    """Boolean mask over ``box`` of the lobe's voxels inside ``zones`` (any of them; empty
    = any zone) and at ``position`` ('' = either)."""
    region = host.labels[box] == lobe_id
    if zones:
        lo, hi = host.lung_extent
        slices = np.arange(box[2].start, box[2].stop, dtype=float)
        cc = 100.0 * (slices - lo[2]) / max(float(hi[2] - lo[2]), 1e-9)
        ok = np.array([anatomy.zone_from_cc_pct(float(v)).value in zones for v in cc])
        region &= ok[None, None, :]
    if position:
        side = anatomy.LOBE_BY_LABEL[lobe_id].side
        ids = [lab for lab in host.lobes_present if anatomy.LOBE_BY_LABEL[lab].side == side]
        xs = np.arange(box[0].start, box[0].stop, dtype=float)
        for k, z in enumerate(range(box[2].start, box[2].stop)):
            if region[:, :, k].any():
                region[:, :, k] &= (_positions(host, ids, side, z, xs) == position)[:, None]
    return region


def unmet(host: HostAnatomy, centroid: np.ndarray, lobe_id: int, *, zones: Sequence[str],
          position: str) -> list[str]:
    """The requirements the centroid (voxel ``(x, y, z)``) misses, e.g. ``["zone"]``."""
    missed = []
    if zones:
        cc = float(percent_position(centroid, host.lung_extent)[2])
        if anatomy.zone_from_cc_pct(cc).value not in zones:
            missed.append("zone")
    if position:
        side = anatomy.LOBE_BY_LABEL[lobe_id].side.value
        if central_or_peripheral(host, centroid, side) != position:
            missed.append("position")
    return missed


ZONE_TRIES = 8


def fit_in_zone(host: HostAnatomy, spec: NoduleSpec, lobe_id: int, kernel: np.ndarray,
                 target: np.ndarray, rule: FitRule, rng: np.random.Generator,
                 companions: list[NoduleMask], config: InsertConfig, drawn: list[str]
                 ) -> tuple[Fit, np.ndarray, list[str]]:
    """A fit whose centroid realises the nodule's zone/position requirement.

    The planned target is kept when it lies in the lobe's allowed region; otherwise (and
    after a fit that drifted out of it) a target is drawn uniformly in the region, up to
    :data:`ZONE_TRIES` times. Raises ``zone_unmet`` naming what could not be met."""
    box = host.boxes[lobe_id]
    want = {"zones": spec.target_zones, "position": spec.target_position}
    region = allowed_region(host, lobe_id, box, zones=spec.target_zones,
                            position=spec.target_position)
    lobe = anatomy.LOBE_BY_LABEL[lobe_id].value
    if not region.any():
        raise InsertionError("zone_unmet", f"nodule {spec.nodule_index}: the {lobe} of "
                             f"{host.path} has no voxel in {want}")
    lo = np.array([s.start for s in box])
    voxels = np.argwhere(region)
    inside = np.floor(target + 0.5).astype(int) - lo
    if not (np.all(inside >= 0) and np.all(inside < region.shape) and region[tuple(inside)]):
        target, drawn = (voxels[int(rng.integers(len(voxels)))] + lo).astype(float), [
            *drawn, "zone_target"]
    for _ in range(ZONE_TRIES):
        fit = find_fit(host.labels, host.spacing_mm, kernel, target, rule, limit=box,
                       companions=companions, search_start_mm=config.search_start_mm,
                       max_shift_mm=config.max_shift_mm)
        if fit is not None:
            centroid = np.argwhere(kernel).mean(axis=0) + np.asarray(fit.offset)
            if not unmet(host, centroid, lobe_id, zones=spec.target_zones,
                         position=spec.target_position):
                return fit, target, drawn
        target = (voxels[int(rng.integers(len(voxels)))] + lo).astype(float)
        drawn = [*drawn, "zone_target"] if "zone_target" not in drawn else drawn
    raise InsertionError("zone_unmet", f"nodule {spec.nodule_index}: no fitting position in "
                         f"the {lobe} of {host.path} realises {want} after {ZONE_TRIES} "
                         "targets drawn inside it")


def _positions(host: HostAnatomy, ids: list[int], side: anatomy.Side, z: int,
               xs: np.ndarray) -> np.ndarray:
    """``central``/``peripheral`` for columns ``xs`` of slice ``z`` (the rule of
    :func:`~lesiontrials.measurements.measure.central_or_peripheral`, vectorised over x)."""
    columns = np.flatnonzero(np.isin(host.labels[:, :, z], ids or [anatomy.LUNG]).any(axis=1))
    if columns.size == 0:
        return np.full(xs.shape, "", dtype=object)
    lo, hi = float(columns.min()), float(columns.max())
    span = max(hi - lo, 1e-9)
    lateral = (xs - lo) / span if side == anatomy.Side.RIGHT else (hi - xs) / span
    return np.where(lateral < 1.0 / 3.0, anatomy.Position.CENTRAL.value,
                    anatomy.Position.PERIPHERAL.value).astype(object)
