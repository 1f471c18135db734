"""Keep every lobe one connected piece.

Tubes drawn through a thin part of a lobe, or a fissure meeting a curved lung edge, can
cut off small islands (a few voxels). Each island (6-connectivity) that is not its
lobe's largest component is relabelled to the label that surrounds it most.
"""

from __future__ import annotations

import cc3d
import numpy as np
from scipy import ndimage

from lesiontrials.anatomy import LOBE_LABELS

_MAX_PASSES = 3


def _islands(labels: np.ndarray, label: int, box: tuple[slice, ...]) -> list[np.ndarray]:
    """Voxel index arrays (into ``labels``) of every component of ``label`` but the largest."""
    components, n = cc3d.connected_components(labels[box] == label, connectivity=6,
                                              return_N=True)
    if n <= 1:
        return []
    sizes = np.bincount(components.ravel(), minlength=n + 1)
    sizes[0] = 0
    largest = int(np.argmax(sizes))
    objects = ndimage.find_objects(components)
    islands = []
    for cid, where in enumerate(objects, start=1):
        if cid == largest or where is None:
            continue
        local = np.nonzero(components[where] == cid)
        islands.append(np.stack([local[i] + where[i].start + box[i].start for i in range(3)]))
    return islands


def _absorb(labels: np.ndarray, voxels: np.ndarray) -> None:
    """Give an island the most common other label on its 6-connected rim."""
    lo = np.maximum(voxels.min(axis=1) - 1, 0)
    hi = np.minimum(voxels.max(axis=1) + 2, labels.shape)
    window = tuple(slice(int(a), int(b)) for a, b in zip(lo, hi, strict=True))
    region = np.zeros(tuple(hi - lo), dtype=bool)
    region[tuple(voxels - lo[:, None])] = True
    rim = ndimage.binary_dilation(region) & ~region
    view = labels[window]
    own = int(view[region][0])
    around = view[rim]
    counts = np.bincount(around[around != own], minlength=256)
    if counts[1:].any():
        counts[0] = 0
    view[region] = counts.argmax()


def _lung_box(labels: np.ndarray) -> tuple[slice, ...] | None:
    """Bounding box of all lobe voxels."""
    low, high = min(LOBE_LABELS), max(LOBE_LABELS)
    inside = (labels - np.uint8(low)) <= np.uint8(high - low)
    slices = []
    for axis in range(3):
        other = tuple(a for a in range(3) if a != axis)
        idx = np.nonzero(inside.any(axis=other))[0]
        if idx.size == 0:
            return None
        slices.append(slice(int(idx[0]), int(idx[-1]) + 1))
    return tuple(slices)


def keep_lobes_whole(labels: np.ndarray) -> int:
    """Relabel detached lobe islands in place; returns how many were relabelled."""
    if labels.dtype != np.uint8:
        raise TypeError(f"labels must be uint8, got {labels.dtype}")
    outer = _lung_box(labels)
    if outer is None:
        return 0
    sub = labels[outer]
    total = 0
    for _ in range(_MAX_PASSES):
        boxes = ndimage.find_objects(np.where(sub <= max(LOBE_LABELS), sub, 0))
        found = 0
        for label in LOBE_LABELS:
            box = boxes[label - 1] if label <= len(boxes) else None
            if box is None:
                continue
            for voxels in _islands(sub, label, box):
                _absorb(sub, voxels)
                found += 1
        total += found
        if not found:
            break
    return total
