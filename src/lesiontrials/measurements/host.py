"""What the profiler needs to know about a host label map, computed once per scan.

One pass (``scipy.ndimage.find_objects``) gives every label's bounding box; lung and
lobe extents come from those boxes, and structure surfaces are extracted inside each
structure's own box, lazily, so profiling a nodule never touches the full volume again.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import cached_property

import numpy as np
from scipy import ndimage
from scipy.spatial import cKDTree

from lesiontrials import anatomy
from lesiontrials.errors import InputError
from lesiontrials.geometry import Box, surface_voxels

#: Labels whose union defines the whole-lung extent for percent positions.
LUNG_EXTENT_LABELS = (*anatomy.LOBE_LABELS, anatomy.LUNG)


@dataclass
class HostAnatomy:
    """A host label map (RAS+ ``(x, y, z)``) with per-label boxes and lazy surfaces."""

    labels: np.ndarray
    spacing_mm: tuple[float, float, float]
    path: str = "<label map>"
    #: the label boxes when the caller already knows them (computed earlier from the same
    #: file's bytes: one ``find_objects`` pass over a 512×512×320 map costs ~0.2–0.5 s)
    known_boxes: dict[int, Box] | None = field(default=None, repr=False)
    _trees: dict[tuple[int, ...], cKDTree | None] = field(default_factory=dict, repr=False)

    def __post_init__(self) -> None:
        if self.labels.ndim != 3:
            raise InputError(f"label map must be 3-D, got shape {self.labels.shape}",
                             path=self.path, fix="provide a 3-D label map")
        if self.labels.dtype.kind not in "iu":
            rounded = np.rint(self.labels)
            if not np.array_equal(rounded, self.labels):
                raise InputError("label map holds non-integer values", path=self.path,
                                 fix="provide an integer label map (MAISI ids)")
            self.labels = rounded.astype(np.int32)
        if self.labels.min() < 0 or self.labels.max() > 255:
            raise InputError(
                f"label ids must lie in 0..255, found {self.labels.min()}..{self.labels.max()}",
                path=self.path, fix="use MAISI/VISTA3D label ids (body region = 200)",
            )
        # Keep the memory order: NIfTI volumes arrive Fortran-ordered, and a C copy of a
        # 512×512×300 map costs about a second.
        self.labels = np.asarray(self.labels, dtype=np.uint8)

    @cached_property
    def boxes(self) -> dict[int, Box]:
        """Bounding box of every label present (label id → box)."""
        if self.known_boxes is not None:
            return dict(self.known_boxes)
        labels = self.labels
        if labels.flags.f_contiguous and not labels.flags.c_contiguous:
            # find_objects walks memory in C order: scan the transposed (C-ordered) view.
            found = [None if b is None else b[::-1] for b in ndimage.find_objects(labels.T)]
        else:
            found = ndimage.find_objects(labels)
        return {i + 1: box for i, box in enumerate(found) if box is not None}

    @property
    def present(self) -> set[int]:
        return set(self.boxes)

    @cached_property
    def lobes_present(self) -> tuple[int, ...]:
        return tuple(lab for lab in anatomy.LOBE_LABELS if lab in self.boxes)

    def extent(self, label_ids: tuple[int, ...]) -> tuple[np.ndarray, np.ndarray] | None:
        """Inclusive min/max voxel index per axis of the union of ``label_ids``."""
        boxes = [self.boxes[i] for i in label_ids if i in self.boxes]
        if not boxes:
            return None
        lo = np.array([min(b[a].start for b in boxes) for a in range(3)], dtype=float)
        hi = np.array([max(b[a].stop for b in boxes) - 1 for a in range(3)], dtype=float)
        return lo, hi

    @cached_property
    def lung_extent(self) -> tuple[np.ndarray, np.ndarray]:
        extent = self.extent(LUNG_EXTENT_LABELS)
        if extent is None:
            raise InputError(
                "label map has no lung labels (lobes 28-32 or lung 20)", path=self.path,
                fix="use a host label map with lung lobes (MAISI ids 28-32)",
            )
        return extent

    def surface_tree(self, label_ids: tuple[int, ...]) -> cKDTree | None:
        """KD-tree over the surface voxels (in mm) of the union of ``label_ids``."""
        key = tuple(sorted(label_ids))
        if key not in self._trees:
            self._trees[key] = self._build_surface_tree(key)
        return self._trees[key]

    def _build_surface_tree(self, label_ids: tuple[int, ...]) -> cKDTree | None:
        points = []
        for label in label_ids:
            box = self.boxes.get(label)
            if box is None:
                continue
            crop = self.labels[box]
            structure = np.isin(crop, label_ids) if len(label_ids) > 1 else crop == label
            idx = np.argwhere(surface_voxels(structure))
            points.append(idx + np.array([s.start for s in box]))
        if not points:
            return None
        unique = np.unique(np.concatenate(points), axis=0)
        return cKDTree(unique * np.asarray(self.spacing_mm))
