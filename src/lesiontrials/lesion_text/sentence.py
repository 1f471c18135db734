"""Descriptors → one-line radiology-style description."""

from __future__ import annotations

from lesiontrials.anatomy import Texture
from lesiontrials.lesion_text.descriptors import Calcification, Internal, LesionDescriptors

_GRADE = {1: "", 2: "mildly ", 3: "moderately ", 4: "markedly ", 5: "markedly "}
_MARGIN = {1: "poorly defined", 2: "ill-defined", 3: "moderately defined", 4: "well-defined",
           5: "sharp"}
_CALC = {Calcification.POPCORN: "popcorn calcification",
         Calcification.LAMINATED: "laminated calcification",
         Calcification.DIFFUSE: "diffuse (solid) calcification",
         Calcification.ECCENTRIC: "eccentric calcification",
         Calcification.CENTRAL: "central calcification"}
_INTERNAL = {Internal.FLUID: "fluid-attenuation centre", Internal.FAT: "internal fat",
             Internal.AIR: "cavitation"}


def _attenuation_text(d: LesionDescriptors) -> str:
    if d.attenuation is Texture.GROUND_GLASS:
        return "pure ground-glass"
    if d.attenuation is Texture.PART_SOLID:
        return f"part-solid (solid core {round(100 * d.solid_fraction)}% of diameter)"
    return "solid"


def lesion_sentence(descriptors: LesionDescriptors, *, diameter_mm: float | None = None) -> str:
    """One line such as ``"8.0 mm part-solid (solid core 50% of diameter) nodule, …"``.

    ``diameter_mm`` (the realised size) wins over the descriptors' stated size.

    >>> lesion_sentence(LesionDescriptors(spiculation=4.0), diameter_mm=8)
    '8.0 mm solid nodule, well-defined margin, markedly spiculated, no calcification'
    """
    d = descriptors
    size = diameter_mm if diameter_mm is not None else d.diameter_mm
    head = f"{size:.1f} mm " if size is not None else ""
    parts = [f"{head}{_attenuation_text(d)} nodule", f"{_MARGIN[round(d.margin)]} margin"]
    if round(d.lobulation) > 1:
        parts.append(f"{_GRADE[round(d.lobulation)]}lobulated")
    if round(d.spiculation) > 1:
        parts.append(f"{_GRADE[round(d.spiculation)]}spiculated")
    if d.internal in _INTERNAL:
        parts.append(_INTERNAL[d.internal])
    if d.heterogeneity >= 0.6:
        parts.append("heterogeneous")
    parts.append(_CALC.get(d.calcification, "no calcification"))
    return ", ".join(parts)
