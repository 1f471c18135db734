"""Classical baselines that need no weights, each a different strategy:

* :class:`ThresholdDetector` — HU threshold inside the lung silhouette → connected
  candidates scored by size, roundness and density; presence from the best score, size
  from its area, lobe from its place in the silhouette.
* :class:`BlobDetector` — multi-scale Laplacian-of-Gaussian blob detection
  (:mod:`~lesiontrials.scoring.models.scale_space`) on the lung-masked image, scored by
  response, size, density and isolation.
* :class:`OverlayReader` — finds the guidance overlay (red contour, else green box) and
  reads the nodule's region from it; without an overlay it defers to the threshold
  detector. It shows what a model gains by reading the guidance rather than the anatomy.
* :class:`~lesiontrials.scoring.models.prior.MajorityPrior` — always the most frequent
  option (fitted on the scored set's truth when the runner offers it), the floor every
  model must beat.

All read pixels back to HU from either profile and use ``Item.pixel_spacing_mm``. The
intensity analysis runs on a declared working grid (:attr:`DetectorParams.working_spacing_mm`):
an image with pixels of half that size or less is block-averaged in HU by the largest
integer factor that keeps its pixels no coarser than that (0.57–0.75 mm → ×2), so a
baseline's cost follows the slice's extent in mm, not its pixel count, and a 512² slice
costs about what a 256² one does. The overlay is read at the image's own pixels (its
colours are exact there).
"""

from __future__ import annotations

import hashlib
import json
import math
import weakref
from collections.abc import Sequence
from dataclasses import asdict, dataclass, replace

import numpy as np
from scipy import ndimage

from lesiontrials.anatomy import task_size_bin
from lesiontrials.scoring.models.imaging import (
    Candidate,
    block_any,
    block_mean,
    hu_estimate,
    lobe_at,
    lung_silhouette,
    threshold_candidates,
    working_factor,
)
from lesiontrials.scoring.models.prior import (
    DEFAULT_PRIOR,
    MajorityPrior,
    params_hash,
)
from lesiontrials.scoring.models.scale_space import log_candidates
from lesiontrials.slicing.contract import Answer, Item, ModelCard
from lesiontrials.slicing.overlays import GREEN, RED, colour_mask

__all__ = ["BlobDetector", "DetectorParams", "MajorityPrior", "OverlayReader",
           "ThresholdDetector", "answer_from_candidates", "overlay_region"]

DEFAULT_SPACING_MM = 0.7  # used when an item carries no pixel spacing


def _spacing(item: Item) -> float:
    value = float(item.pixel_spacing_mm)
    return value if math.isfinite(value) and value > 0 else DEFAULT_SPACING_MM


@dataclass(frozen=True)
class DetectorParams:
    """Thresholds of the intensity detectors (HU, mm, score 0..1)."""

    threshold_hu: float = -300.0
    min_diameter_mm: float = 3.0
    max_diameter_mm: float = 40.0
    present_score: float = 0.5
    log_threshold: float = 0.2
    num_sigma: int = 6
    log_present_score: float = 0.3  # LoG scores peak near 0.6 for a full-contrast disk
    #: LoG blobs measured (the strongest responses; a nodule scoring "present" ranked within
    #: the first 17 of ~150 on 0.75-mm slices at the working grid)
    log_max_measured: int = 12
    #: working grid (mm): images with pixels of half this or less are block-averaged by
    #: the largest integer factor that keeps pixels no coarser than this
    working_spacing_mm: float = 1.5


@dataclass(frozen=True)
class Analysis:
    """One image analysed on the working grid: HU, lung silhouette, ranked candidates
    (positions in working-grid pixels) and the block size ``factor`` (image pixels per
    working pixel, per side)."""

    hu: np.ndarray
    lung: np.ndarray
    candidates: tuple[Candidate, ...]
    found: int = -1  # candidates considered (-1: as many as listed)
    factor: int = 1


#: 2: presence option scores are probabilities (:func:`presence_probability`); 3: the
#: analysis runs on the working grid (``working_spacing_mm``)
DETECTOR_VERSION = "3"
#: the blob detector's own algorithm version: 3 computes the LoG scale space once (FFT for
#: large σ) with its own peak finding and pruning, and measures blobs only until the best
#: is certain (its answers' text counts LoG blobs); 4: on the working grid, measuring at
#: most ``log_max_measured`` blobs
BLOB_VERSION = "4"


class _Baseline:
    """Shared plumbing: identity, version from parameters, per-item answers, and a cache
    of image analyses (the same picture is asked several tasks)."""

    name = "baseline"
    profile = "lung"
    uses_context = False
    cache_size = 2048
    algorithm_version = DETECTOR_VERSION

    def __init__(self, params: DetectorParams | None = None) -> None:
        self.params = params or DetectorParams()
        self._cache: dict[str, Analysis] = {}
        self._context_hu: dict[str, np.ndarray] = {}

    def working(self, item: Item) -> tuple[np.ndarray, float, int]:
        """The item's image as HU ``(h, w)`` float32 on the working grid, that grid's pixel
        spacing (mm) and the block size ``factor`` it was averaged by."""
        spacing = _spacing(item)
        factor = working_factor(spacing, self.params.working_spacing_mm)
        hu = block_mean(hu_estimate(item.image, profile=item.profile), factor)
        return hu, spacing * factor, factor

    def context_hu(self, item: Item, *, factor: int) -> tuple[np.ndarray, ...]:
        """HU of the item's neighbour slices on the working grid (``factor`` as for the
        image; neighbours of another shape than the image are ignored), each estimated once:
        the same neighbours come with every condition and task of a slice."""
        out = []
        for image in item.context:
            if np.shape(image)[:2] != np.shape(item.image)[:2]:
                continue
            key = f"{_digest(image)}|{item.profile}|{factor}"
            if key not in self._context_hu:
                if len(self._context_hu) >= 64:
                    self._context_hu.pop(next(iter(self._context_hu)))
                self._context_hu[key] = block_mean(hu_estimate(image, profile=item.profile),
                                                   factor)
            out.append(self._context_hu[key])
        return tuple(out)

    @property
    def version(self) -> str:
        return f"{self.algorithm_version}+{params_hash(self.params)}"

    @property
    def card(self) -> ModelCard:
        return ModelCard(name=self.name, version=self.version, kind="baseline",
                         extra={"params": json.dumps(asdict(self.params), sort_keys=True)})

    def answer(self, items: list[Item]) -> list[Answer]:
        return [self.answer_one(item) for item in items]

    def answer_one(self, item: Item) -> Answer:  # pragma: no cover - overridden
        raise NotImplementedError

    def analyse(self, item: Item) -> Analysis:
        """The cached analysis of the item's image (keyed by its pixels and spacing)."""
        pictures = "|".join(_digest(image) for image in (item.image, *item.context))
        key = f"{pictures}|{item.profile}|{_spacing(item)}|{len(item.context)}"
        if key not in self._cache:
            if len(self._cache) >= self.cache_size:
                self._cache.pop(next(iter(self._cache)))
            self._cache[key] = self._analyse(item)
        return self._cache[key]

    def _analyse(self, item: Item) -> Analysis:  # pragma: no cover - overridden
        raise NotImplementedError


#: digests of read-only arrays by object id, with a weak reference that tells whether the
#: id still names the same array: the same image object comes with every task of a slice
_DIGESTS: dict[int, tuple[weakref.ref[np.ndarray], str]] = {}
_DIGESTS_MAX = 256


def _digest(image: np.ndarray) -> str:
    """SHA-1 of an image's shape and pixels; remembered for arrays that cannot change
    (read-only, like the scorer's :class:`~lesiontrials.io.PngCache` arrays, down to the
    buffer they view), hashed anew otherwise."""
    array = np.asarray(image)
    frozen = _immutable(array)
    if frozen:
        entry = _DIGESTS.get(id(array))
        if entry is not None and entry[0]() is array:
            return entry[1]
    digest = hashlib.sha1(usedforsecurity=False)
    digest.update(str(array.shape).encode())
    digest.update(str(array.dtype).encode())
    digest.update(np.ascontiguousarray(array).data)
    text = digest.hexdigest()
    if frozen:
        if len(_DIGESTS) >= _DIGESTS_MAX:
            _DIGESTS.clear()  # (not one by one: safe if threads share the memo)
        _DIGESTS[id(array)] = (weakref.ref(array), text)
    return text


def _immutable(array: np.ndarray) -> bool:
    """Whether no one can write the array's pixels without first making it writeable:
    it and every array it views are read-only, down to an owner or an immutable buffer."""
    current: object = array
    while isinstance(current, np.ndarray):
        if current.flags.writeable:
            return False
        current = current.base
    return current is None or isinstance(current, bytes)


def presence_probability(score: float, *, threshold: float) -> float:
    """A detector score (>= 0, unbounded for the LoG detector) as an option score in [0, 1):
    ``score / (score + threshold)``, monotone in the score and 0.5 exactly at the decision
    threshold, so the top-scored option is the answer given. Not calibrated: the report's
    Brier score and ECE say how far from a probability it is."""
    if not math.isfinite(score) or score < 0 or threshold <= 0:
        raise ValueError(f"detector score {score} / threshold {threshold} out of range")
    return score / (score + threshold) if score > 0 else 0.0


def answer_from_candidates(item: Item, candidates: Sequence[Candidate], lung: np.ndarray, *,
                           present_score: float, method: str, found: int = -1,
                           factor: int = 1) -> Answer:
    """Turn ranked candidates into an answer for the item's task (``found``: how many
    candidates the detector considered, when it listed only the best; ``factor``: image
    pixels per pixel of ``lung`` and the candidates' positions, so that the text names the
    position in the image's own pixels)."""
    best = candidates[0] if candidates else None
    score = best.score if best is not None else 0.0
    if item.task == "presence":
        option = "present" if score >= present_score else "absent"
        p_present = presence_probability(score, threshold=present_score)
        return Answer(option, raw_text=f"{option} ({method}: best candidate score "
                      f"{score:.2f} of {found if found >= 0 else len(candidates)})",
                      scores={"present": p_present, "absent": 1.0 - p_present})
    if best is None:
        return Answer(DEFAULT_PRIOR[item.task], raw_text=f"{method}: no candidate; prior answer")
    if item.task == "lobe":
        option = lobe_at(best.row, best.col, lung)
    else:
        option = task_size_bin(best.diameter_mm)
    row, col = ((best.row + 0.5) * factor - 0.5, (best.col + 0.5) * factor - 0.5)
    return Answer(option, raw_text=f"{option} ({method}: candidate at row {row:.0f}, col "
                  f"{col:.0f}, {best.diameter_mm:.1f} mm)")


class ThresholdDetector(_Baseline):
    """HU-threshold candidate detector (see the module docstring)."""

    name = "threshold"
    uses_context = True

    def _analyse(self, item: Item) -> Analysis:
        p = self.params
        hu, spacing, factor = self.working(item)
        lung = lung_silhouette(hu, spacing_mm=spacing)
        context = self.context_hu(item, factor=factor)
        candidates = [c for c in threshold_candidates(
            hu, lung, spacing_mm=spacing, threshold_hu=p.threshold_hu,
            min_diameter_mm=p.min_diameter_mm, context_hu=context)
            if c.diameter_mm <= p.max_diameter_mm]
        return Analysis(hu, lung, tuple(candidates), factor=factor)

    def answer_one(self, item: Item) -> Answer:
        found = self.analyse(item)
        return answer_from_candidates(item, found.candidates, found.lung,
                                      present_score=self.params.present_score,
                                      method="threshold", factor=found.factor)


class BlobDetector(_Baseline):
    """Multi-scale LoG blob detector (see the module docstring)."""

    name = "blob"
    uses_context = True
    algorithm_version = BLOB_VERSION

    def _analyse(self, item: Item) -> Analysis:
        hu, spacing, factor = self.working(item)
        lung = lung_silhouette(hu, spacing_mm=spacing)
        context = self.context_hu(item, factor=factor)
        p = self.params
        candidates, blobs = log_candidates(
            hu, lung, spacing_mm=spacing, min_diameter_mm=p.min_diameter_mm,
            max_diameter_mm=p.max_diameter_mm, num_sigma=p.num_sigma,
            threshold=p.log_threshold, context_hu=context, best_only=True,
            max_measured=p.log_max_measured)
        return Analysis(hu, lung, tuple(candidates), found=blobs, factor=factor)

    def answer_one(self, item: Item) -> Answer:
        found = self.analyse(item)
        return answer_from_candidates(item, found.candidates, found.lung,
                                      present_score=self.params.log_present_score,
                                      method="LoG", found=found.found, factor=found.factor)


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
