"""A rules-based reader (baseline): a structured report from the 3-D baseline detector.

It reads the rendered CT and the host's lobe map (the anatomy before insertion: lobe labels
only, every other label — native nodules included — read as background), never the case's
label map or truth. Steps: :class:`~lesiontrials.scoring.models.volume_baselines.LogBlobDetector`
candidates with probability ≥ ``min_probability``; each sized by the detected blob (the
detector's ``diameter_mm``, the LoG scale that responded most: a region grown from the
centre leaks into vessels and the chest wall at screening resolution) and kept when 3 to
30 mm; lobe from the lobe
map at the centre (else the most frequent lobe within ``lobe_search_mm``; dropped outside
the lungs); then non-maximum suppression (one finding per ``min_separation_mm``). The report
states lobe and size only: attenuation, calcification and Lung-RADS are left unstated,
because the reader has no rule for them that it could defend.

It answers the bank's ``presence``, ``count``, ``side``, ``lobe`` and ``mean_diameter``
from its own report (the largest finding is "the largest nodule"); nothing else.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from lesiontrials.anatomy import LOBE_LABEL_IDS, Lobe
from lesiontrials.io.volumes import Volume
from lesiontrials.scoring.models.volume_baselines import LogBlobDetector
from lesiontrials.scoring.questions.adapters import Asked
from lesiontrials.scoring.questions.templates import LOBE_TEXT, NO, YES
from lesiontrials.scoring.structured.report import CaseReport, NoduleReport
from lesiontrials.scoring.volume_contract import VolumeDetector, check_candidates

READER_TEMPLATES = frozenset({"presence", "count", "side", "lobe", "mean_diameter"})
_LOBE_BY_ID = {label: lobe for lobe, label in LOBE_LABEL_IDS.items()}


@dataclass(frozen=True)
class Finding:
    """One reported nodule: RAS world mm centre, equivalent diameter (mm), lobe."""

    centre_mm: tuple[float, float, float]
    diameter_mm: float | None
    lobe: Lobe
    probability: float


def lobe_map(labels: np.ndarray) -> np.ndarray:
    """The host segmentation reduced to lobe ids (every other label → 0)."""
    keep = np.isin(labels, list(_LOBE_BY_ID))
    return np.where(keep, labels, 0).astype(np.int16)


def lobe_at(lobes: Volume, centre_mm: np.ndarray, *, search_mm: float) -> Lobe | None:
    """Lobe at a world point, else the most frequent lobe within ±``search_mm``.

    ``lobes``: a lobe map (:func:`lobe_map`) or the host segmentation itself — labels other
    than the lobes' count as background either way, so the reader need not reduce a whole
    512×512×300 segmentation (≈ 2 s) to read a few voxels of it."""
    voxel = np.rint(lobes.world_to_voxel(centre_mm)).astype(int)
    shape = np.array(lobes.shape)
    if (voxel < 0).any() or (voxel >= shape).any():
        return None
    label = int(lobes.array[tuple(voxel)])
    if label in _LOBE_BY_ID:
        return _LOBE_BY_ID[label]
    half = np.ceil(search_mm / np.asarray(lobes.spacing_mm)).astype(int)
    lo, hi = np.maximum(voxel - half, 0), np.minimum(voxel + half + 1, shape)
    patch = lobes.array[lo[0]:hi[0], lo[1]:hi[1], lo[2]:hi[2]]
    ids, counts = np.unique(patch[np.isin(patch, list(_LOBE_BY_ID))], return_counts=True)
    return _LOBE_BY_ID[int(ids[np.argmax(counts)])] if ids.size else None


@dataclass(frozen=True)
class RulesReader:
    """The reader (module docstring) on the output of ``detector`` — the 3-D baseline by
    default, or any :class:`~lesiontrials.scoring.volume_contract.VolumeDetector` (a
    MONAI bundle, a user's callable or TorchScript file): 3-D models answer the
    recognition items through the same rules. A detector that returns no ``diameter_mm``
    gives findings of unknown size (not size-filtered; size questions: cannot answer).
    ``version`` names every rule parameter and the detector's version."""

    detector: VolumeDetector = field(default_factory=LogBlobDetector)
    min_probability: float = 0.5
    min_diameter_mm: float = 3.0
    max_diameter_mm: float = 30.0
    min_separation_mm: float = 10.0
    lobe_search_mm: float = 10.0
    kind: str = "baseline"

    @property
    def name(self) -> str:
        default = isinstance(self.detector, LogBlobDetector)
        return "rules_reader" if default else f"reader_{self.detector.name}"

    @property
    def version(self) -> str:
        return (f"reader-1+{self.detector.name}-{self.detector.version}"
                f"+p{self.min_probability}+d{self.min_diameter_mm}-{self.max_diameter_mm}"
                f"+s{self.min_separation_mm}+l{self.lobe_search_mm}")

    def findings(self, ct: Volume, lobes: Volume) -> list[Finding]:
        """Findings, largest first (unknown sizes last; see the module docstring)."""
        candidates = check_candidates(self.detector.detect(ct), model=self.detector.name,
                                      scan_uid="(reader)")
        candidates = candidates[candidates["probability"] >= self.min_probability]
        sized = "diameter_mm" in candidates.columns
        found: list[Finding] = []
        for row in candidates.sort_values("probability", ascending=False,
                                          kind="stable").itertuples():
            centre = np.array([row.x_mm, row.y_mm, row.z_mm], dtype=float)
            if any(np.linalg.norm(centre - np.array(f.centre_mm)) < self.min_separation_mm
                   for f in found):
                continue
            diameter = float(row.diameter_mm) if sized else None
            lobe = lobe_at(lobes, centre, search_mm=self.lobe_search_mm)
            if lobe is None or (diameter is not None and not
                                self.min_diameter_mm <= diameter <= self.max_diameter_mm):
                continue
            found.append(Finding((float(centre[0]), float(centre[1]), float(centre[2])),
                                 diameter, lobe, float(row.probability)))
        return sorted(found, key=lambda f: (f.diameter_mm is None, -(f.diameter_mm or 0.0),
                                            -f.probability))

    def report(self, case_uid: str, findings: list[Finding]) -> CaseReport:
        """The structured report: lobe and size per finding; category not stated."""
        return CaseReport(case_uid, tuple(
            NoduleReport(lobe=LOBE_TEXT[f.lobe.value],
                         size_mm=None if f.diameter_mm is None else round(f.diameter_mm, 1),
                         attenuation=None, calcified=None, lung_rads=None)
            for f in findings), None)

    def can_answer(self, template_id: str) -> bool:
        return template_id in READER_TEMPLATES

    def answer(self, asked: Asked, findings: list[Finding]) -> str | None:
        """The reply to one item from the findings (``None``: not a reader template)."""
        template = asked.template_id
        if template == "presence":
            return YES if findings else NO
        if template == "count":
            return str(len(findings))
        if template not in READER_TEMPLATES:
            return None
        if not findings:
            return "cannot be determined"  # asked about a nodule the reader did not find
        largest = findings[0]
        if template == "side":
            return largest.lobe.side.value
        if template == "lobe":
            return LOBE_TEXT[largest.lobe.value]
        if largest.diameter_mm is None:
            return None  # the detector gives no size
        return f"{largest.diameter_mm:.1f} mm"
