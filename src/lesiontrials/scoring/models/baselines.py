"""Classical baselines that need no weights, each a different strategy:

* :class:`ThresholdDetector` — HU threshold inside the lung silhouette → connected
  candidates scored by size, roundness and density; presence from the best score, size
  from its area, lobe from its place in the silhouette.
* :class:`BlobDetector` — multi-scale Laplacian-of-Gaussian blob detection
  (:mod:`~lesiontrials.scoring.models.scale_space`) on the lung-masked image, scored by
  response, size, density and isolation.
* :class:`~lesiontrials.scoring.models.overlay_reader.OverlayReader` — finds the
  guidance overlay (red contour, else green box) and reads the nodule's region from it;
  without an overlay it defers to the threshold detector. It shows what a model gains by
  reading the guidance rather than the anatomy.
* :class:`~lesiontrials.scoring.models.prior.MajorityPrior` — always the most frequent
  option (fitted on the scored set's truth when the runner offers it), the floor every
  model must beat.

All read pixels back to HU from either profile and use ``Item.pixel_spacing_mm``. The
intensity analysis runs on a declared working grid (:attr:`DetectorParams.working_spacing_mm`):
an image with pixels of half that size or less is block-averaged in HU by the largest
integer factor that keeps its pixels no coarser than that (0.57–0.75 mm → ×2), so a
baseline's cost follows the slice's extent in mm, not its pixel count, and a 512² slice
costs about what a 256² one does. Candidates are *found* there and *measured* at the
image's own pixels in a window around each (:mod:`~lesiontrials.scoring.models.native`):
block means shrink small nodules, so size, density and the minimum-size rule are decided
on the pixels the image has. The overlay is read at the image's own pixels (its colours
are exact there).
"""

from __future__ import annotations

import hashlib
import json
import math
import weakref
from collections.abc import Sequence
from dataclasses import asdict, dataclass

import numpy as np

from lesiontrials.anatomy import task_size_bin
from lesiontrials.scoring.models.imaging import (
    Candidate,
    block_mean,
    hu_estimate,
    lobe_at,
    lung_silhouette,
    threshold_candidates,
    working_factor,
)
from lesiontrials.scoring.models.native import threshold_candidates_native
from lesiontrials.scoring.models.prior import (
    DEFAULT_PRIOR,
    MajorityPrior,
    params_hash,
)
from lesiontrials.scoring.models.scale_space import log_candidates
from lesiontrials.slicing.contract import Answer, Item, ModelCard

__all__ = ["BlobDetector", "DetectorParams", "MajorityPrior", "ThresholdDetector",
           "answer_from_candidates"]

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
    """One image analysed: HU and lung silhouette on the working grid, ranked candidates
    (found there, measured at the image's own pixels; positions in image pixels) and the
    block size ``factor`` (image pixels per working pixel, per side)."""

    hu: np.ndarray
    lung: np.ndarray
    candidates: tuple[Candidate, ...]
    found: int = -1  # candidates considered (-1: as many as listed)
    factor: int = 1


#: 2: presence option scores are probabilities (:func:`presence_probability`); 3: the
#: analysis runs on the working grid (``working_spacing_mm``); 4: candidates found there
#: are measured at the image's own pixels
DETECTOR_VERSION = "4"
#: the blob detector's own algorithm version: 3 computes the LoG scale space once (FFT for
#: large σ) with its own peak finding and pruning, and measures blobs only until the best
#: is certain (its answers' text counts LoG blobs); 4: on the working grid, measuring at
#: most ``log_max_measured`` blobs; 5: blobs measured at the image's own pixels
BLOB_VERSION = "5"


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

    def working(self, item: Item) -> tuple[np.ndarray, np.ndarray, float, int]:
        """The item's image as HU ``(h, w)`` float32 on the working grid, its HU at the
        image's own pixels ``(H, W)``, the working grid's pixel spacing (mm) and the block
        size ``factor`` it was averaged by."""
        spacing = _spacing(item)
        # an item without a pixel spacing is analysed at its own pixels: the default
        # spacing serves millimetre sizes only and must not decide a block average
        known = math.isfinite(float(item.pixel_spacing_mm)) and item.pixel_spacing_mm > 0
        factor = working_factor(spacing, self.params.working_spacing_mm) if known else 1
        native = hu_estimate(item.image, profile=item.profile)
        return block_mean(native, factor), native, spacing * factor, factor

    def context_hu(self, item: Item) -> tuple[np.ndarray, ...]:
        """HU of the item's neighbour slices at the image's own pixels (neighbours of
        another shape than the image are ignored), each estimated once: the same
        neighbours come with every condition and task of a slice."""
        out = []
        for image in item.context:
            if np.shape(image)[:2] != np.shape(item.image)[:2]:
                continue
            key = f"{_digest(image)}|{item.profile}"
            if key not in self._context_hu:
                if len(self._context_hu) >= 64:
                    self._context_hu.pop(next(iter(self._context_hu)))
                self._context_hu[key] = hu_estimate(image, profile=item.profile)
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
    """Turn ranked candidates (positions in image pixels) into an answer for the item's
    task (``found``: how many candidates the detector considered, when it listed only the
    best; ``factor``: image pixels per pixel of ``lung``, the working-grid silhouette the
    lobe is read from)."""
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
        option = lobe_at((best.row + 0.5) / factor - 0.5, (best.col + 0.5) / factor - 0.5,
                         lung)
    else:
        option = task_size_bin(best.diameter_mm)
    return Answer(option, raw_text=f"{option} ({method}: candidate at row {best.row:.0f}, "
                  f"col {best.col:.0f}, {best.diameter_mm:.1f} mm)")


class ThresholdDetector(_Baseline):
    """HU-threshold candidate detector (see the module docstring)."""

    name = "threshold"
    uses_context = True

    def _analyse(self, item: Item) -> Analysis:
        p = self.params
        hu, native, spacing, factor = self.working(item)
        lung = lung_silhouette(hu, spacing_mm=spacing)
        context = self.context_hu(item)
        if factor == 1:
            found = threshold_candidates(hu, lung, spacing_mm=spacing,
                                         threshold_hu=p.threshold_hu,
                                         min_diameter_mm=p.min_diameter_mm, context_hu=context)
        else:
            found = threshold_candidates_native(
                hu, lung, hu=native, factor=factor, spacing_mm=spacing / factor,
                threshold_hu=p.threshold_hu, min_diameter_mm=p.min_diameter_mm,
                context_hu=context)
        candidates = [c for c in found if c.diameter_mm <= p.max_diameter_mm]
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
        hu, native, spacing, factor = self.working(item)
        lung = lung_silhouette(hu, spacing_mm=spacing)
        context = self.context_hu(item)
        p = self.params
        candidates, blobs = log_candidates(
            hu, lung, spacing_mm=spacing, min_diameter_mm=p.min_diameter_mm,
            max_diameter_mm=p.max_diameter_mm, num_sigma=p.num_sigma,
            threshold=p.log_threshold, context_hu=context, best_only=True,
            max_measured=p.log_max_measured,
            measure_on=None if factor == 1 else (native, factor))
        return Analysis(hu, lung, tuple(candidates), found=blobs, factor=factor)

    def answer_one(self, item: Item) -> Answer:
        found = self.analyse(item)
        return answer_from_candidates(item, found.candidates, found.lung,
                                      present_score=self.params.log_present_score,
                                      method="LoG", found=found.found, factor=found.factor)
