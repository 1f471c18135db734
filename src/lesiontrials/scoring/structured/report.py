"""Ground-truth structured report of a case and its narrative rendering."""

from __future__ import annotations

from dataclasses import dataclass

from lesiontrials.scoring.questions.lungrads import (
    FOLLOW_UP,
    NOT_MODELLED,
    case_category,
    nodule_category,
)
from lesiontrials.scoring.questions.templates import LOBE_TEXT, TEXTURE_TEXT
from lesiontrials.scoring.questions.truth import CaseTruth

FIELDS = ("lobe", "attenuation", "calcified", "lung_rads")


@dataclass(frozen=True)
class NoduleReport:
    """One reported nodule; ``None`` = not stated (unknown in the truth, or not written)."""

    lobe: str | None
    size_mm: float | None
    attenuation: str | None
    calcified: bool | None
    lung_rads: str | None


@dataclass(frozen=True)
class CaseReport:
    """Nodules (largest first) and the case's Lung-RADS category (the impression)."""

    case_uid: str
    nodules: tuple[NoduleReport, ...]
    category: str | None


def report_from_truth(case: CaseTruth) -> CaseReport:
    """The ground-truth structured report (sizes: mean diameter rounded to 0.1 mm)."""
    ranked = sorted(case.nodules, key=lambda n: (-n.diameter_mm, n.index))
    nodules = tuple(NoduleReport(
        lobe=None if n.lobe is None else LOBE_TEXT[n.lobe],
        size_mm=round(n.diameter_mm, 1),
        attenuation=None if n.attenuation is None else TEXTURE_TEXT[n.attenuation],
        calcified=None if n.calcification is None else n.calcification.value != "none",
        lung_rads=_modelled(nodule_category(n))) for n in ranked)
    return CaseReport(case.case_uid, nodules, _modelled(case_category(case.nodules)))


def _modelled(category: str | None) -> str | None:
    """A category the rules do not model (a stable 4B on a repeat scan) is not stated."""
    return None if category == NOT_MODELLED else category


def _sentence(n: NoduleReport) -> str:
    words = [f"A {n.size_mm:.1f} mm" if n.size_mm is not None else "A",
             n.attenuation or "", "nodule"]
    text = " ".join(w for w in words if w)
    if n.lobe:
        text += f" in the {n.lobe}"
    if n.calcified is not None:
        text += ", calcified" if n.calcified else ", non-calcified"
    if n.lung_rads:
        text += f" (Lung-RADS {n.lung_rads})"
    return text + "."


def narrative(report: CaseReport) -> str:
    """Findings and impression as a radiologist would write them."""
    findings = " ".join(_sentence(n) for n in report.nodules) or "No pulmonary nodules."
    if report.category is None:
        impression = "Lung-RADS category cannot be determined."
    else:
        impression = (f"Lung-RADS {report.category}. Recommend "
                      f"{FOLLOW_UP[report.category]}.")
    return f"FINDINGS: {findings}\nIMPRESSION: {impression}"
