"""Tissue HU distributions and the label → tissue table.

Each tissue has a mean HU, the SD of its smooth internal texture, and a configured range
for its mean (a per-case jitter stays inside it; tests check rendered tissue means against
it). Values are non-contrast chest CT at 120 kVp; lung and body figures were checked
against the two packaged real chest CTs (docs/world.md): lung median −829 / −863 HU at
5 mm, pure subcutaneous fat −112…−120 HU (the mode; partial volume lifts the mean),
muscle +40…+50 HU, bone 120…700 HU (5th–95th percentile).

``lung`` is the parenchyma's level (its median without vessels; a host's measured lung
density replaces it, :class:`~lesiontrials.render.interface.HostFacts`). The body region
(label 200) is a fat/lean mixture by depth (:mod:`~lesiontrials.render.appearance.body`); bones are
trabecular bone (``bone_marrow``) under a partial-volume cortex (``bone_cortex``,
:mod:`~lesiontrials.render.appearance.bone`).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final

import numpy as np

from lesiontrials import anatomy


@dataclass(frozen=True)
class Tissue:
    """HU model of one tissue: mean, texture SD and the allowed range of the mean (HU)."""

    name: str
    mean_hu: float
    texture_sd_hu: float
    range_hu: tuple[float, float]


TISSUES: Final[dict[str, Tissue]] = {t.name: t for t in (
    Tissue("air", -1000.0, 2.0, (-1010.0, -990.0)),
    Tissue("lung", -860.0, 30.0, (-900.0, -800.0)),  # parenchyma level (median)
    Tissue("airway_lumen", -990.0, 4.0, (-1005.0, -960.0)),
    Tissue("airway_wall", -80.0, 15.0, (-200.0, 40.0)),
    Tissue("fat", -116.0, 8.0, (-128.0, -102.0)),
    Tissue("muscle", 45.0, 10.0, (30.0, 60.0)),
    Tissue("soft_tissue", 15.0, 25.0, (-10.0, 50.0)),
    Tissue("blood", 40.0, 4.0, (30.0, 55.0)),
    Tissue("liver", 55.0, 6.0, (45.0, 70.0)),  # non-contrast; real hosts' sub-diaphragm
    Tissue("cord", 30.0, 4.0, (15.0, 45.0)),
    Tissue("cartilage", 120.0, 20.0, (80.0, 200.0)),
    Tissue("bone_cortex", 1000.0, 60.0, (800.0, 1300.0)),
    Tissue("bone_marrow", 175.0, 50.0, (110.0, 260.0)),  # trabecular bone
    Tissue("body", -20.0, 8.0, (-110.0, 60.0)),  # the body region as a whole (fat + muscle)
)}

_BLOOD = (anatomy.AORTA, anatomy.HEART, anatomy.PULMONARY_VEIN, anatomy.SUPERIOR_VENA_CAVA,
          anatomy.LABEL_IDS["inferior vena cava"], anatomy.LABEL_IDS["brachiocephalic trunk"],
          anatomy.LABEL_IDS["left brachiocephalic vein"],
          anatomy.LABEL_IDS["right brachiocephalic vein"],
          anatomy.LABEL_IDS["left common carotid artery"],
          anatomy.LABEL_IDS["right common carotid artery"],
          anatomy.LABEL_IDS["left subclavian artery"],
          anatomy.LABEL_IDS["right subclavian artery"],
          anatomy.LABEL_IDS["left atrial appendage"])
_BONE_NAMES = ("vertebrae", "rib", "sternum", "humerus", "scapula", "clavicula", "femur", "hip",
               "sacrum", "skull", "bone")
BONE_LABELS: Final[tuple[int, ...]] = tuple(sorted(
    i for i, n in anatomy.LABEL_NAMES.items()
    if any(n.startswith(b) or f" {b}" in n for b in _BONE_NAMES) and "lesion" not in n
    and "marrow" not in n))
LUNG_LABELS: Final[tuple[int, ...]] = (*anatomy.LOBE_LABELS, anatomy.LUNG)
AIRWAY_LABELS: Final[tuple[int, ...]] = (anatomy.AIRWAY, anatomy.TRACHEA)
MUSCLE_LABELS: Final[tuple[int, ...]] = tuple(
    i for i, n in anatomy.LABEL_NAMES.items()
    if any(m in n for m in ("gluteus", "autochthon", "iliopsoas")))


def label_tissue(label: int) -> str:
    """The tissue drawn for a label id (unknown organs are soft tissue)."""
    if label == anatomy.BACKGROUND:
        return "air"
    if label in LUNG_LABELS or label == anatomy.NODULE:
        return "lung"  # a stamped nodule's background; the lesion is drawn over it
    if label in AIRWAY_LABELS:
        return "airway_lumen"
    if label == anatomy.BODY:
        return "body"
    if label in _BLOOD:
        return "blood"
    if label == anatomy.LABEL_IDS["liver"]:
        return "liver"
    if label in BONE_LABELS:
        return "bone_marrow"
    if label in MUSCLE_LABELS:
        return "muscle"
    if label == anatomy.SPINAL_CORD:
        return "cord"
    if label == anatomy.LABEL_IDS["costal cartilages"]:
        return "cartilage"
    return "soft_tissue"


def sample_tissue_means(rng: np.random.Generator, *, jitter: float = 0.25) -> dict[str, float]:
    """Per-case tissue means: each drawn uniformly within ``jitter`` × its range width
    around the nominal mean, clipped to the range (HU)."""
    means = {}
    for name, tissue in TISSUES.items():
        low, high = tissue.range_hu
        half = jitter * (high - low) / 2.0
        means[name] = float(np.clip(tissue.mean_hu + rng.uniform(-half, half), low, high))
    return means


def mean_lut(means: dict[str, float], extra: dict[int, str] | None = None) -> np.ndarray:
    """A 256-entry float32 table: label id → tissue mean HU (``extra``: code → tissue)."""
    names = {i: label_tissue(i) for i in range(256)} | dict(extra or {})
    return np.array([means[names[i]] for i in range(256)], dtype=np.float32)
