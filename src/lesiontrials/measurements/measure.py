"""Per-nodule measurements on a host, all computed in crops around the nodule."""

from __future__ import annotations

import math

import edt
import numpy as np
from scipy import ndimage

from lesiontrials import anatomy
from lesiontrials.geometry import Box, NoduleMask, expand_box, margin_voxels, surface_voxels
from lesiontrials.measurements.host import HostAnatomy
from lesiontrials.measurements.schema import STRUCTURE_DISTANCES

NEARBY_MM = 10.0
_NOT_ORGANS = {anatomy.BACKGROUND, anatomy.BODY, anatomy.NODULE}
_AIRWAY_LABELS = (anatomy.AIRWAY, anatomy.TRACHEA)


def percent_position(coord: np.ndarray, extent: tuple[np.ndarray, np.ndarray]) -> np.ndarray:
    """Percent of ``extent`` along each RAS+ axis (0 at the low index), clipped to 0..100."""
    lo, hi = extent
    span = np.maximum(hi - lo, 1e-9)
    return np.clip(100.0 * (coord - lo) / span, 0.0, 100.0)


def size_measures(nodule: NoduleMask, spacing: tuple[float, float, float]) -> dict[str, float]:
    """Extent (w, h, d), volume, equivalent and max-axis diameters in mm."""
    count = nodule.voxel_count
    tight = nodule.tight().mask
    extent_mm = np.asarray(tight.shape) * np.asarray(spacing)
    volume = count * float(np.prod(spacing))
    return {
        "w": float(extent_mm[0]), "h": float(extent_mm[1]), "d": float(extent_mm[2]),
        "nodule_vol_mm3": volume,
        "nodule_mean_diam_mm": (6.0 * volume / math.pi) ** (1.0 / 3.0),
        "nodule_max_axis_mm": float(extent_mm.max()),
        "nodule_voxels": float(count),
    }


def labels_under(host: HostAnatomy, nodule: NoduleMask) -> np.ndarray:
    """Host labels of the nodule's voxels (the host map is nodule-free)."""
    return host.labels[nodule.box][nodule.mask]


def majority_label(values: np.ndarray) -> int:
    counts = np.bincount(values, minlength=256)
    return int(np.argmax(counts))  # ties resolve to the lower id: deterministic


def lobe_of(host: HostAnatomy, nodule: NoduleMask, under: np.ndarray) -> tuple[int | None, float]:
    """Majority lobe under the nodule (nearest lobe if none), and percent inside it."""
    counts = np.bincount(under, minlength=256)
    lobe_counts = {lab: int(counts[lab]) for lab in host.lobes_present}
    if lobe_counts and max(lobe_counts.values()) > 0:
        best = max(lobe_counts, key=lambda lab: (lobe_counts[lab], -lab))
        return best, 100.0 * lobe_counts[best] / max(len(under), 1)
    return _nearest_lobe(host, nodule), 0.0


def _nearest_lobe(host: HostAnatomy, nodule: NoduleMask) -> int | None:
    if not host.lobes_present:
        return None
    centre = np.round(nodule.centroid_voxel()).astype(int)
    margin = 8
    while True:
        point: Box = (slice(centre[0], centre[0] + 1), slice(centre[1], centre[1] + 1),
                      slice(centre[2], centre[2] + 1))
        box = expand_box(point, margin, host.labels.shape)
        crop = np.isin(host.labels[box], host.lobes_present)
        if crop.any():
            _, indices = ndimage.distance_transform_edt(
                ~crop, sampling=host.spacing_mm, return_indices=True)
            local = tuple(int(c - s.start) for c, s in zip(centre, box, strict=True))
            nearest = tuple(int(ix[local]) for ix in indices)
            return int(host.labels[box][nearest])
        if all(s.start == 0 and s.stop == n for s, n in zip(box, host.labels.shape, strict=True)):
            return None
        margin *= 2


def nearby_organs(host: HostAnatomy, nodule: NoduleMask, *, radius_mm: float = NEARBY_MM) -> str:
    """Comma-separated label names within ``radius_mm`` of the nodule, sorted."""
    box = expand_box(nodule.box, margin_voxels(radius_mm, host.spacing_mm), host.labels.shape)
    inside = np.zeros(tuple(s.stop - s.start for s in box), dtype=bool)
    local = tuple(slice(n.start - b.start, n.stop - b.start)
                  for n, b in zip(nodule.box, box, strict=True))
    inside[local] = nodule.mask
    dist = edt.edt(~inside, anisotropy=host.spacing_mm, black_border=False)
    found = set(np.unique(host.labels[box][dist <= radius_mm]).tolist()) - _NOT_ORGANS
    return ",".join(sorted(anatomy.LABEL_NAMES.get(lab, str(lab)) for lab in found))


def distance_to_labels(host: HostAnatomy, nodule: NoduleMask, label_ids: tuple[int, ...],
                       under: np.ndarray) -> float:
    """Shortest nodule-voxel to structure-voxel distance in mm (NaN when absent)."""
    if np.isin(under, label_ids).any():
        return 0.0
    tree = host.surface_tree(label_ids)
    if tree is None:
        return math.nan
    surface = np.argwhere(surface_voxels(nodule.mask)) + np.asarray(nodule.offset)
    distances, _ = tree.query(surface * np.asarray(host.spacing_mm), k=1)
    return float(np.min(distances))


def structure_distances(host: HostAnatomy, nodule: NoduleMask, under: np.ndarray
                        ) -> dict[str, float]:
    out = {}
    for column, names in STRUCTURE_DISTANCES.items():
        ids = tuple(anatomy.LABEL_IDS[name] for name in names)
        out[column] = distance_to_labels(host, nodule, ids, under)
    out["airway_distance_mm"] = distance_to_labels(host, nodule, _AIRWAY_LABELS, under)
    return out


def pleural_distance(host: HostAnatomy, nodule: NoduleMask) -> float:
    """Shortest distance (mm) from a nodule voxel to a voxel outside the lung interior.

    Exact and crop-local: the crop grows until the answer is closer than the crop
    border, because voxels beyond the border are treated as lung.
    """
    interior_ids = np.asarray(anatomy.LUNG_INTERIOR_LABELS)
    margin_mm = 20.0
    while True:
        box = expand_box(nodule.box, margin_voxels(margin_mm, host.spacing_mm),
                         host.labels.shape)
        interior = np.isin(host.labels[box], interior_ids)
        local = _local_box(nodule.box, box)
        interior[local] |= nodule.mask
        dist = edt.edt(interior, anisotropy=host.spacing_mm, black_border=False)
        best = float(dist[local][nodule.mask].min())
        touches_volume_edge = [(s.start == 0, s.stop == n)
                               for s, n in zip(box, host.labels.shape, strict=True)]
        reach = _distance_to_open_border(nodule.box, box, host.spacing_mm, touches_volume_edge)
        if best <= reach:
            return best
        margin_mm *= 2


def _local_box(inner: Box, outer: Box) -> Box:
    return tuple(slice(i.start - o.start, i.stop - o.start)  # type: ignore[return-value]
                 for i, o in zip(inner, outer, strict=True))


def _distance_to_open_border(inner: Box, outer: Box, spacing: tuple[float, float, float],
                             at_edge: list[tuple[bool, bool]]) -> float:
    """Distance from the nodule box to the nearest crop face that is not the volume edge."""
    reach = math.inf
    for axis, (i, o) in enumerate(zip(inner, outer, strict=True)):
        low_edge, high_edge = at_edge[axis]
        if not low_edge:
            reach = min(reach, (i.start - o.start) * spacing[axis])
        if not high_edge:
            reach = min(reach, (o.stop - i.stop) * spacing[axis])
    return reach


def central_or_peripheral(host: HostAnatomy, centroid: np.ndarray, side: str | None) -> str:
    """``central`` when the centroid is in the medial third of its lung on its slice."""
    if side is None:
        return ""
    side_lobes = [lab for lab in host.lobes_present if anatomy.LOBE_BY_LABEL[lab].side == side]
    ids = side_lobes or [anatomy.LUNG]
    z = int(np.clip(np.round(centroid[2]), 0, host.labels.shape[2] - 1))
    columns = np.flatnonzero(np.isin(host.labels[:, :, z], ids).any(axis=1))
    if columns.size == 0:
        extent = host.extent(tuple(ids))
        if extent is None:
            return ""
        lo, hi = float(extent[0][0]), float(extent[1][0])
    else:
        lo, hi = float(columns.min()), float(columns.max())
    span = max(hi - lo, 1e-9)
    # Patient right is +x: the right lung's medial edge is its low-x edge, the left's high-x.
    lateral = (centroid[0] - lo) / span if side == anatomy.Side.RIGHT else (hi - centroid[0]) / span
    position = anatomy.Position.CENTRAL if lateral < 1.0 / 3.0 else anatomy.Position.PERIPHERAL
    return position.value


def side_from_position(host: HostAnatomy, centroid: np.ndarray) -> str:
    """Lung side from the x position relative to the lungs' midline (no lobes present).

    A map without lung labels raises the lung-extent error naming the file."""
    lo, hi = host.lung_extent
    mid = 0.5 * (lo[0] + hi[0])
    return anatomy.Side.RIGHT.value if centroid[0] >= mid else anatomy.Side.LEFT.value
