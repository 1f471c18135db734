"""The overlay reader: a weight-free baseline that finds the guidance overlay (red
contour, else green box) and reads the nodule's region from it; without an overlay it
defers to the threshold detector. It shows what a model gains by reading the guidance
rather than the anatomy. The overlay is read at the image's own pixels (its colours are
exact there); the lung silhouette a lobe answer needs, on the working grid."""

from __future__ import annotations

import math
from dataclasses import dataclass, replace

import numpy as np
from scipy import ndimage

from lesiontrials.anatomy import task_size_bin
from lesiontrials.scoring.models.baselines import (
    DetectorParams,
    ThresholdDetector,
    _Baseline,
    _digest,
    _spacing,
)
from lesiontrials.scoring.models.imaging import (
    block_any,
    block_mean,
    hu_estimate,
    lobe_at,
    lung_silhouette,
    working_factor,
)
from lesiontrials.slicing.contract import Answer, Item
from lesiontrials.slicing.overlays import GREEN, RED, colour_mask

__all__ = ["OverlayReader", "overlay_region"]


def overlay_region(image: np.ndarray, hu: np.ndarray, *,
                   colours: tuple[np.ndarray, np.ndarray] | None = None
                   ) -> tuple[np.ndarray, str] | None:
    """The nodule's pixels read from the overlay: inside the red contour, else the dense
    pixels (> −500 HU) inside the green box nearest its centre, else the box interior.
    Worked in the overlay's bounding box grown by one pixel (the same pixels: what lies
    outside the box is background connected to the image border either way). ``colours``:
    the image's red and green pixels when already found."""
    red, green = colours or (colour_mask(image, RED), colour_mask(image, GREEN))
    painted = red | green
    if not painted.any():
        return None
    rows, cols = np.flatnonzero(painted.any(axis=1)), np.flatnonzero(painted.any(axis=0))
    box = (slice(rows[0], rows[-1] + 1), slice(cols[0], cols[-1] + 1))
    crop = (np.pad(red[box], 1), np.pad(green[box], 1), np.pad(hu[box], 1))
    found = _region_in_box(*crop)
    if found is None:
        return None
    region = np.zeros(red.shape, dtype=bool)
    region[box] = found[0][1:-1, 1:-1]
    return region, found[1]


def _region_in_box(red: np.ndarray, green: np.ndarray, hu: np.ndarray
                   ) -> tuple[np.ndarray, str] | None:
    """:func:`overlay_region` on the overlay's box padded by a pixel of background."""
    if red.any():
        filled = ndimage.binary_fill_holes(red)
        inside = filled & ~red
        return (inside if inside.any() else filled), "contour"
    if not green.any():
        return None
    interior = ndimage.binary_fill_holes(green) & ~green
    if not interior.any():  # box cut by the image edge: use its extent
        rows, cols = np.flatnonzero(green.any(axis=1)), np.flatnonzero(green.any(axis=0))
        interior = np.zeros_like(green)
        interior[rows[0]:rows[-1] + 1, cols[0]:cols[-1] + 1] = True
        interior &= ~green
    dense = interior & (hu > -500.0)
    labels, n = ndimage.label(dense)
    if n == 0:
        return interior, "box"
    centre = np.argwhere(interior).mean(axis=0)
    centres = np.asarray(ndimage.center_of_mass(dense, labels, range(1, n + 1)))
    nearest = int(np.argmin(np.linalg.norm(centres - centre, axis=1))) + 1
    return labels == nearest, "box"


@dataclass(frozen=True)
class _OverlayRead:
    """The overlay of one image read: the marked region (image pixels) and its source,
    the image's pixel spacing, and its HU on the working grid (block size ``factor``) for
    the lung silhouette a lobe answer needs."""

    region: np.ndarray
    source: str
    working_hu: np.ndarray
    factor: int
    spacing_mm: float


class OverlayReader(_Baseline):
    """Reads the guidance overlay when there is one (see the module docstring)."""

    name = "overlay_reader"
    uses_context = True  # for the threshold detector it falls back on

    def __init__(self, params: DetectorParams | None = None) -> None:
        super().__init__(params)
        self._fallback = ThresholdDetector(self.params)
        self._reads: dict[str, _OverlayRead | None] = {}
        self._lungs: dict[str, tuple[np.ndarray, int]] = {}

    def read(self, item: Item) -> tuple[str, _OverlayRead | None]:
        """The item image's overlay (``None`` without one), read once per image."""
        image = np.asarray(item.image)
        key = f"{_digest(image)}|{item.profile}|{_spacing(item)}"
        if key not in self._reads:
            if len(self._reads) >= self.cache_size:
                oldest = next(iter(self._reads))
                self._reads.pop(oldest)
                self._lungs.pop(oldest, None)
            read = None
            colours = (colour_mask(image, RED), colour_mask(image, GREEN))
            painted = colours[0] | colours[1]
            if painted.any():
                hu = hu_estimate(image, profile=item.profile, painted=painted)
                found = overlay_region(image, hu, colours=colours)
                assert found is not None  # overlay pixels are red or green
                factor = working_factor(_spacing(item), self.params.working_spacing_mm)
                read = _OverlayRead(found[0], found[1], block_mean(hu, factor), factor,
                                    _spacing(item))
            self._reads[key] = read
        return key, self._reads[key]

    def _lung(self, key: str, read: _OverlayRead) -> tuple[np.ndarray, int]:
        """The lung silhouette on the working grid and its block size, once per image."""
        if key not in self._lungs:
            self._lungs[key] = (lung_silhouette(read.working_hu,
                                                spacing_mm=read.spacing_mm * read.factor),
                                read.factor)
        return self._lungs[key]

    def answer_one(self, item: Item) -> Answer:
        key, read = self.read(item)
        if read is None:
            answer = self._fallback.answer_one(item)
            return replace(answer, raw_text="no overlay; " + answer.raw_text)
        region, source = read.region, read.source
        if item.task == "presence":
            return Answer("present", raw_text=f"present (a {source} marks a finding)",
                          scores={"present": 1.0, "absent": 0.0})
        rows, cols = np.nonzero(region)
        if item.task == "lobe":
            lung, factor = self._lung(key, read)
            option = lobe_at((float(rows.mean()) + 0.5) / factor - 0.5,
                             (float(cols.mean()) + 0.5) / factor - 0.5,
                             lung | block_any(region, factor))
            return Answer(option, raw_text=f"{option} (position of the {source})")
        diameter = 2.0 * math.sqrt(rows.size / math.pi) * read.spacing_mm
        option = task_size_bin(diameter)
        return Answer(option, raw_text=f"{option} ({source} region {diameter:.1f} mm)")
