"""Lesion descriptors: how a nodule looks, independent of its shape and place.

Scales follow the LIDC characteristics (LIDC-IDRI reader scales) so a donor's radiologist ratings
map straight onto them: ``margin`` 1 poorly defined … 5 sharp; ``spiculation`` and
``lobulation`` 1 none … 5 marked. Attenuation is solid, part-solid (with the solid core's
fraction of the nodule diameter) or ground-glass; calcification is one of LIDC's patterns;
``heterogeneity`` 0 (uniform) … 1 (markedly heterogeneous).
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, fields, replace
from enum import StrEnum
from typing import Any

from lesiontrials.anatomy import Texture, texture_from_lidc


class Calcification(StrEnum):
    """LIDC calcification patterns (scores 1…6) plus ``none`` for absent."""

    POPCORN = "popcorn"
    LAMINATED = "laminated"
    DIFFUSE = "diffuse"  # LIDC "solid": the whole nodule calcified
    ECCENTRIC = "eccentric"  # LIDC "non-central"
    CENTRAL = "central"
    NONE = "none"


class Internal(StrEnum):
    """LIDC internal structure: soft tissue, fluid, fat or air (cavitation)."""

    SOFT_TISSUE = "soft_tissue"
    FLUID = "fluid"
    FAT = "fat"
    AIR = "air"


_CALC_BY_LIDC = {1: Calcification.POPCORN, 2: Calcification.LAMINATED, 3: Calcification.DIFFUSE,
                 4: Calcification.ECCENTRIC, 5: Calcification.CENTRAL, 6: Calcification.NONE}
_INTERNAL_BY_LIDC = {1: Internal.SOFT_TISSUE, 2: Internal.FLUID, 3: Internal.FAT, 4: Internal.AIR}
#: Solid-core fraction of the diameter for LIDC texture scores 2…4 (part-solid range).
_CORE_BY_TEXTURE = {1: 0.0, 2: 0.25, 3: 0.45, 4: 0.7, 5: 1.0}


@dataclass(frozen=True)
class LesionDescriptors:
    """Appearance of one lesion. Scores are floats on the LIDC 1–5 scales."""

    attenuation: Texture = Texture.SOLID
    solid_fraction: float = 1.0  # solid-core diameter / nodule diameter (0 GGO … 1 solid)
    margin: float = 4.0  # 1 poorly defined … 5 sharp
    spiculation: float = 1.0  # 1 none … 5 marked
    lobulation: float = 1.0  # 1 none … 5 marked
    calcification: Calcification = Calcification.NONE
    internal: Internal = Internal.SOFT_TISSUE
    heterogeneity: float = 0.3  # 0 uniform … 1 markedly heterogeneous
    diameter_mm: float | None = None  # stated size: planning scales donors to it (trials)

    def __post_init__(self) -> None:
        object.__setattr__(self, "attenuation", Texture(self.attenuation))
        object.__setattr__(self, "calcification", Calcification(self.calcification))
        object.__setattr__(self, "internal", Internal(self.internal))
        for name in ("margin", "spiculation", "lobulation"):
            value = float(getattr(self, name))
            if not 1.0 <= value <= 5.0:
                raise ValueError(f"{name} must be on the 1-5 scale, got {value}")
            object.__setattr__(self, name, value)
        if not 0.0 <= self.solid_fraction <= 1.0:
            raise ValueError(f"solid_fraction must be in [0, 1], got {self.solid_fraction}")
        if not 0.0 <= self.heterogeneity <= 1.0:
            raise ValueError(f"heterogeneity must be in [0, 1], got {self.heterogeneity}")

    @property
    def calcified(self) -> bool:
        return self.calcification is not Calcification.NONE

    def to_dict(self) -> dict[str, Any]:
        return {f.name: (str(v) if isinstance(v := getattr(self, f.name), StrEnum) else v)
                for f in fields(self)}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> LesionDescriptors:
        known = {f.name for f in fields(cls)}
        return cls(**{k: v for k, v in data.items() if k in known and v is not None})


@dataclass(frozen=True)
class DescriptorOverrides:
    """A partial set of descriptors (``None`` = keep the base value), e.g. parsed from text."""

    attenuation: Texture | None = None
    solid_fraction: float | None = None
    margin: float | None = None
    spiculation: float | None = None
    lobulation: float | None = None
    calcification: Calcification | None = None
    internal: Internal | None = None
    heterogeneity: float | None = None
    diameter_mm: float | None = None

    def set_fields(self) -> dict[str, Any]:
        return {f.name: getattr(self, f.name) for f in fields(self)
                if getattr(self, f.name) is not None}

    def apply(self, base: LesionDescriptors) -> LesionDescriptors:
        """``base`` with every set field replaced; attenuation fixes a consistent core."""
        values = self.set_fields()
        attenuation = values.get("attenuation")
        if attenuation is not None and "solid_fraction" not in values:
            values["solid_fraction"] = _default_core(Texture(attenuation), base)
        return replace(base, **values)


def _default_core(attenuation: Texture, base: LesionDescriptors) -> float:
    if attenuation is Texture.SOLID:
        return 1.0
    if attenuation is Texture.GROUND_GLASS:
        return 0.0
    return base.solid_fraction if 0.0 < base.solid_fraction < 1.0 else 0.5


def _score(value: Any) -> float | None:
    if value is None:
        return None
    try:
        number = float(value)
    except (TypeError, ValueError):
        return None
    return None if math.isnan(number) else number


def descriptors_from_lidc(characteristics: Mapping[str, Any] | None) -> LesionDescriptors:
    """Default descriptors from LIDC characteristics (reader means allowed; nulls ignored).

    >>> descriptors_from_lidc({"texture": 1, "margin": 2}).attenuation.value
    'ground_glass'
    """
    c = dict(characteristics or {})
    texture = _score(c.get("texture"))
    values: dict[str, Any] = {}
    if texture is not None:
        attenuation = texture_from_lidc(texture)
        values["attenuation"] = attenuation
        core = _CORE_BY_TEXTURE[min(5, max(1, round(texture)))]
        if attenuation is Texture.PART_SOLID:
            core = min(max(core, 0.2), 0.8)
        values["solid_fraction"] = {Texture.SOLID: 1.0, Texture.GROUND_GLASS: 0.0}.get(
            attenuation, core)
    for name in ("margin", "spiculation", "lobulation"):
        score = _score(c.get(name))
        if score is not None:
            values[name] = min(5.0, max(1.0, score))
    calc = _score(c.get("calcification"))
    if calc is not None:
        values["calcification"] = _CALC_BY_LIDC[min(6, max(1, round(calc)))]
    internal = _score(c.get("internal_structure", c.get("internalStructure")))
    if internal is not None:
        values["internal"] = _INTERNAL_BY_LIDC[min(4, max(1, round(internal)))]
    malignancy = _score(c.get("malignancy"))
    if malignancy is not None:  # suspicious nodules tend to be less uniform
        values["heterogeneity"] = round(0.15 + 0.1 * (min(5.0, max(1.0, malignancy)) - 1.0), 3)
    return LesionDescriptors(**values)
