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

All read pixels back to HU from either profile and use ``Item.pixel_spacing_mm``.
"""

from __future__ import annotations

import hashlib
import json
import math
from collections.abc import Sequence
from dataclasses import asdict, dataclass, replace

import numpy as np
from scipy import ndimage

from lesiontrials.anatomy import task_size_bin
from lesiontrials.scoring.models.imaging import (
    Candidate,
    hu_estimate,
    lobe_at,
    lung_silhouette,
    threshold_candidates,
)
from lesiontrials.scoring.models.prior import (
    DEFAULT_PRIOR,
    MajorityPrior,
    params_hash,
)
from lesiontrials.scoring.models.scale_space import log_candidates
from lesiontrials.slicing.contract import Answer, Item, ModelCard
from lesiontrials.slicing.overlays import GREEN, RED, colour_mask, overlay_pixels

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


@dataclass(frozen=True)
class Analysis:
    """One image analysed: HU estimate, lung silhouette, ranked candidates."""

    hu: np.ndarray
    lung: np.ndarray
    candidates: tuple[Candidate, ...]
    found: int = -1  # candidates considered (-1: as many as listed)


#: 2: presence option scores are probabilities (:func:`presence_probability`)
DETECTOR_VERSION = "2"
#: the blob detector's own algorithm version: 3 computes the LoG scale space once (FFT for
#: large σ) with its own peak finding and pruning, and measures blobs only until the best
#: is certain (its answers' text counts LoG blobs)
BLOB_VERSION = "3"


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

    def context_hu(self, item: Item, shape: tuple[int, ...]) -> tuple[np.ndarray, ...]:
        """HU of the item's neighbour slices of ``shape`` (others are ignored), each
        estimated once: the same neighbours come with every condition and task of a
        slice."""
        out = []
        for image in item.context:
            if np.shape(image)[:2] != shape:
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
        digest = hashlib.sha1(usedforsecurity=False)
        for image in (item.image, *item.context):
            digest.update(np.ascontiguousarray(image).tobytes())
        key = f"{digest.hexdigest()}|{item.profile}|{_spacing(item)}|{len(item.context)}"
        if key not in self._cache:
            if len(self._cache) >= self.cache_size:
                self._cache.pop(next(iter(self._cache)))
            self._cache[key] = self._analyse(item)
        return self._cache[key]

    def _analyse(self, item: Item) -> Analysis:  # pragma: no cover - overridden
        raise NotImplementedError


def _digest(image: np.ndarray) -> str:
    digest = hashlib.sha1(usedforsecurity=False)
    digest.update(str(np.shape(image)).encode())
    digest.update(np.ascontiguousarray(image).tobytes())
    return digest.hexdigest()


def presence_probability(score: float, *, threshold: float) -> float:
    """A detector score (>= 0, unbounded for the LoG detector) as an option score in [0, 1):
    ``score / (score + threshold)``, monotone in the score and 0.5 exactly at the decision
    threshold, so the top-scored option is the answer given. Not calibrated: the report's
    Brier score and ECE say how far from a probability it is."""
    if not math.isfinite(score) or score < 0 or threshold <= 0:
        raise ValueError(f"detector score {score} / threshold {threshold} out of range")
    return score / (score + threshold) if score > 0 else 0.0


def answer_from_candidates(item: Item, candidates: Sequence[Candidate], lung: np.ndarray, *,
                           present_score: float, method: str, found: int = -1) -> Answer:
    """Turn ranked candidates into an answer for the item's task (``found``: how many
    candidates the detector considered, when it listed only the best)."""
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
    return Answer(option, raw_text=f"{option} ({method}: candidate at row {best.row:.0f}, col "
                  f"{best.col:.0f}, {best.diameter_mm:.1f} mm)")


class ThresholdDetector(_Baseline):
    """HU-threshold candidate detector (see the module docstring)."""

    name = "threshold"
    uses_context = True

    def _analyse(self, item: Item) -> Analysis:
        p = self.params
        spacing = _spacing(item)
        hu = hu_estimate(item.image, profile=item.profile)
        lung = lung_silhouette(hu, spacing_mm=spacing)
        context = self.context_hu(item, hu.shape)
        candidates = [c for c in threshold_candidates(
            hu, lung, spacing_mm=spacing, threshold_hu=p.threshold_hu,
            min_diameter_mm=p.min_diameter_mm, context_hu=context)
            if c.diameter_mm <= p.max_diameter_mm]
        return Analysis(hu, lung, tuple(candidates))

    def answer_one(self, item: Item) -> Answer:
        found = self.analyse(item)
        return answer_from_candidates(item, found.candidates, found.lung,
                                      present_score=self.params.present_score,
                                      method="threshold")


class BlobDetector(_Baseline):
    """Multi-scale LoG blob detector (see the module docstring)."""

    name = "blob"
    uses_context = True
    algorithm_version = BLOB_VERSION

    def _analyse(self, item: Item) -> Analysis:
        spacing = _spacing(item)
        hu = hu_estimate(item.image, profile=item.profile)
        lung = lung_silhouette(hu, spacing_mm=spacing)
        context = self.context_hu(item, hu.shape)
        p = self.params
        candidates, blobs = log_candidates(
            hu, lung, spacing_mm=spacing, min_diameter_mm=p.min_diameter_mm,
            max_diameter_mm=p.max_diameter_mm, num_sigma=p.num_sigma,
            threshold=p.log_threshold, context_hu=context, best_only=True)
        return Analysis(hu, lung, tuple(candidates), found=blobs)

    def answer_one(self, item: Item) -> Answer:
        found = self.analyse(item)
        return answer_from_candidates(item, found.candidates, found.lung,
                                      present_score=self.params.log_present_score,
                                      method="LoG", found=found.found)


def overlay_region(image: np.ndarray, hu: np.ndarray) -> tuple[np.ndarray, str] | None:
    """The nodule's pixels read from the overlay: inside the red contour, else the dense
    pixels (> −500 HU) inside the green box nearest its centre, else the box interior."""
    red, green = colour_mask(image, RED), colour_mask(image, GREEN)
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


class OverlayReader(_Baseline):
    """Reads the guidance overlay when there is one (see the module docstring)."""

    name = "overlay_reader"
    uses_context = True  # for the threshold detector it falls back on

    def __init__(self, params: DetectorParams | None = None) -> None:
        super().__init__(params)
        self._fallback = ThresholdDetector(self.params)

    def answer_one(self, item: Item) -> Answer:
        if np.ndim(item.image) != 3 or not overlay_pixels(item.image).any():
            answer = self._fallback.answer_one(item)
            return replace(answer, raw_text="no overlay; " + answer.raw_text)
        hu = hu_estimate(item.image, profile=item.profile)
        found = overlay_region(item.image, hu)
        assert found is not None
        region, source = found
        if item.task == "presence":
            return Answer("present", raw_text=f"present (a {source} marks a finding)",
                          scores={"present": 1.0, "absent": 0.0})
        spacing = _spacing(item)
        rows, cols = np.nonzero(region)
        if item.task == "lobe":
            lung = lung_silhouette(hu, spacing_mm=spacing)
            option = lobe_at(float(rows.mean()), float(cols.mean()), lung | region)
            return Answer(option, raw_text=f"{option} (position of the {source})")
        diameter = 2.0 * math.sqrt(rows.size / math.pi) * spacing
        option = task_size_bin(diameter)
        return Answer(option, raw_text=f"{option} ({source} region {diameter:.1f} mm)")
