"""Anatomy vocabulary: label ids, lobes, zones, sides, size bins and Lung-RADS.

Everything the pipeline says about anatomy is defined here once.

Conventions (stated once, used everywhere):

* Arrays are in RAS+ canonical orientation, axis order ``(x, y, z)``: x increases
  from the patient's left to right, y from posterior to anterior, z from inferior
  to superior (nibabel's convention). World coordinates are RAS millimetres.
* Percent positions increase along the RAS+ axes and are measured over the occupied
  voxel extent of the reference region (whole lung or one lobe):
  ``cc`` 0 = most inferior, 100 = most superior;
  ``ml`` 0 = patient's left-most, 100 = patient's right-most;
  ``ap`` 0 = most posterior, 100 = most anterior.
* Lung zones split the whole-lung cranio-caudal extent into thirds.
"""

from __future__ import annotations

import math
import re
from enum import StrEnum
from typing import Final

# ---------------------------------------------------------------------------
# MAISI / VISTA3D label dictionary (132 classes) + the body region (200).
# ---------------------------------------------------------------------------
_MAISI_NAMES: Final[tuple[str, ...]] = (
    "liver", "kidney", "spleen", "pancreas", "right kidney", "aorta",
    "inferior vena cava", "right adrenal gland", "left adrenal gland", "gallbladder",
    "esophagus", "stomach", "duodenum", "left kidney", "bladder", "prostate or uterus",
    "portal vein and splenic vein", "rectum", "small bowel", "lung", "bone", "brain",
    "lung tumor", "pancreatic tumor", "hepatic vessel", "hepatic tumor",
    "colon cancer primaries", "left lung upper lobe", "left lung lower lobe",
    "right lung upper lobe", "right lung middle lobe", "right lung lower lobe",
    "vertebrae L5", "vertebrae L4", "vertebrae L3", "vertebrae L2", "vertebrae L1",
    *(f"vertebrae T{i}" for i in range(12, 0, -1)),
    *(f"vertebrae C{i}" for i in range(7, 0, -1)),
    "trachea", "left iliac artery", "right iliac artery", "left iliac vena",
    "right iliac vena", "colon",
    *(f"left rib {i}" for i in range(1, 13)),
    *(f"right rib {i}" for i in range(1, 13)),
    "left humerus", "right humerus", "left scapula", "right scapula", "left clavicula",
    "right clavicula", "left femur", "right femur", "left hip", "right hip", "sacrum",
    "left gluteus maximus", "right gluteus maximus", "left gluteus medius",
    "right gluteus medius", "left gluteus minimus", "right gluteus minimus",
    "left autochthon", "right autochthon", "left iliopsoas", "right iliopsoas",
    "left atrial appendage", "brachiocephalic trunk", "left brachiocephalic vein",
    "right brachiocephalic vein", "left common carotid artery",
    "right common carotid artery", "costal cartilages", "heart", "left kidney cyst",
    "right kidney cyst", "prostate", "pulmonary vein", "skull", "spinal cord", "sternum",
    "left subclavian artery", "right subclavian artery", "superior vena cava",
    "thyroid gland", "vertebrae S1", "bone lesion", "kidney mass", "liver tumor",
    "vertebrae L6", "airway",
)

BACKGROUND: Final = 0
BODY: Final = 200
LABEL_NAMES: Final[dict[int, str]] = {
    0: "background",
    **{i + 1: name for i, name in enumerate(_MAISI_NAMES)},
    BODY: "body",
}
LABEL_IDS: Final[dict[str, int]] = {name: i for i, name in LABEL_NAMES.items()}

NODULE: Final = LABEL_IDS["lung tumor"]  # 23
LUNG: Final = LABEL_IDS["lung"]  # 20 (undivided lung, when lobes are absent)
AORTA: Final = LABEL_IDS["aorta"]
ESOPHAGUS: Final = LABEL_IDS["esophagus"]
TRACHEA: Final = LABEL_IDS["trachea"]
HEART: Final = LABEL_IDS["heart"]
PULMONARY_VEIN: Final = LABEL_IDS["pulmonary vein"]
SPINAL_CORD: Final = LABEL_IDS["spinal cord"]
STERNUM: Final = LABEL_IDS["sternum"]
SUPERIOR_VENA_CAVA: Final = LABEL_IDS["superior vena cava"]
AIRWAY: Final = LABEL_IDS["airway"]
VERTEBRAE: Final[tuple[int, ...]] = tuple(range(33, 57))
LEFT_RIBS: Final[tuple[int, ...]] = tuple(range(63, 75))
RIGHT_RIBS: Final[tuple[int, ...]] = tuple(range(75, 87))


# ---------------------------------------------------------------------------
# Lobes, sides, zones, positions
# ---------------------------------------------------------------------------
class Side(StrEnum):
    RIGHT = "right"
    LEFT = "left"


class Zone(StrEnum):
    UPPER = "upper_zone"
    MIDDLE = "middle_zone"
    LOWER = "lower_zone"


class Position(StrEnum):
    CENTRAL = "central"
    PERIPHERAL = "peripheral"


class Lobe(StrEnum):
    RUL = "right_lung_upper_lobe"
    RML = "right_lung_middle_lobe"
    RLL = "right_lung_lower_lobe"
    LUL = "left_lung_upper_lobe"
    LLL = "left_lung_lower_lobe"

    @property
    def label_id(self) -> int:
        return LOBE_LABEL_IDS[self]

    @property
    def side(self) -> Side:
        return Side.RIGHT if self.value.startswith("right") else Side.LEFT

    @property
    def abbreviation(self) -> str:
        return self.name


LOBE_LABEL_IDS: Final[dict[Lobe, int]] = {
    Lobe.LUL: 28, Lobe.LLL: 29, Lobe.RUL: 30, Lobe.RML: 31, Lobe.RLL: 32,
}
LOBE_BY_LABEL: Final[dict[int, Lobe]] = {v: k for k, v in LOBE_LABEL_IDS.items()}
LOBE_LABELS: Final[tuple[int, ...]] = tuple(sorted(LOBE_BY_LABEL))
#: Labels counted as the inside of the lung (the pleura is the boundary of this set).
LUNG_INTERIOR_LABELS: Final[tuple[int, ...]] = (*LOBE_LABELS, LUNG, NODULE, AIRWAY)

_SIDE_WORDS = {"r": "right", "rt": "right", "right": "right", "l": "left", "lt": "left",
               "left": "left"}
_LEVEL_WORDS = {"u": "upper", "upper": "upper", "sup": "upper", "superior": "upper",
                "m": "middle", "mid": "middle", "middle": "middle",
                "l": "lower", "lower": "lower", "inf": "lower", "inferior": "lower"}


def _build_lobe_aliases() -> dict[str, Lobe]:
    aliases: dict[str, Lobe] = {}
    for lobe in Lobe:
        side, _, level = lobe.value.split("_")[:3]
        aliases[lobe.value] = lobe
        aliases[lobe.name.lower()] = lobe
        aliases[f"{side} {level}"] = lobe
        aliases[f"{side} {level} lobe"] = lobe
        aliases[f"{side} lung {level} lobe"] = lobe
        aliases[f"{level} {side}"] = lobe
        aliases[LABEL_NAMES[LOBE_LABEL_IDS[lobe]]] = lobe
        aliases[str(LOBE_LABEL_IDS[lobe])] = lobe
    # "lingula" is part of the left upper lobe in every lobe-level label map.
    aliases["lingula"] = Lobe.LUL
    return aliases


LOBE_ALIASES: Final[dict[str, Lobe]] = _build_lobe_aliases()


def _normalise_words(text: str) -> str:
    return re.sub(r"[\s_\-./]+", " ", str(text).strip().lower()).strip()


def parse_lobe(value: str | int | Lobe) -> Lobe:
    """Return the canonical :class:`Lobe` for a name, alias, abbreviation or label id.

    Raises ``ValueError`` listing the accepted spellings when the value is unknown.

    >>> parse_lobe("RUL").value
    'right_lung_upper_lobe'
    >>> parse_lobe("left lower").value
    'left_lung_lower_lobe'
    """
    if isinstance(value, Lobe):
        return value
    key = _normalise_words(str(value))
    if key in LOBE_ALIASES:
        return LOBE_ALIASES[key]
    if key.replace(" ", "_") in LOBE_ALIASES:
        return LOBE_ALIASES[key.replace(" ", "_")]
    raise ValueError(
        f"unknown lobe {value!r}; use one of {[lobe.value for lobe in Lobe]} "
        "or an abbreviation (RUL, RML, RLL, LUL, LLL) or a label id 28-32"
    )


def parse_side(value: str | Side) -> Side:
    key = _normalise_words(str(value))
    if key in _SIDE_WORDS:
        return Side(_SIDE_WORDS[key])
    raise ValueError(f"unknown lung side {value!r}; use 'right' or 'left'")


def parse_zone(value: str | Zone) -> Zone:
    key = _normalise_words(str(value)).replace(" zone", "")
    if key in _LEVEL_WORDS:
        return Zone(f"{_LEVEL_WORDS[key]}_zone")
    raise ValueError(f"unknown lung zone {value!r}; use one of {[z.value for z in Zone]}")


def zone_from_cc_pct(cc_pct: float) -> Zone:
    """Zone from the whole-lung cranio-caudal percent (thirds; 0 = most inferior)."""
    if cc_pct >= 200.0 / 3.0:
        return Zone.UPPER
    if cc_pct >= 100.0 / 3.0:
        return Zone.MIDDLE
    return Zone.LOWER


# ---------------------------------------------------------------------------
# Size bins (half-open [low, high) in mm, one definition each)
# ---------------------------------------------------------------------------
#: The six profile/template size buckets: <5, 5-10, 10-15, 15-20, 20-30, >=30 mm.
PROFILE_SIZE_EDGES_MM: Final[tuple[float, ...]] = (0.0, 5.0, 10.0, 15.0, 20.0, 30.0, math.inf)
PROFILE_SIZE_BINS: Final[tuple[str, ...]] = ("<5", "5-10", "10-15", "15-20", "20-30", ">=30")
#: The four evaluation-task size classes: <5, [5,10), [10,20), >=20 mm.
TASK_SIZE_EDGES_MM: Final[tuple[float, ...]] = (0.0, 5.0, 10.0, 20.0, math.inf)
TASK_SIZE_BINS: Final[tuple[str, ...]] = ("<5", "5-10", "10-20", ">=20")


def _bin(value_mm: float, edges: tuple[float, ...], names: tuple[str, ...]) -> str:
    if not math.isfinite(value_mm) or value_mm < 0:
        raise ValueError(f"diameter must be a finite non-negative number of mm, got {value_mm}")
    for low, high, name in zip(edges[:-1], edges[1:], names, strict=True):
        if low <= value_mm < high:
            return name
    raise AssertionError("unreachable: bins cover [0, inf)")


def profile_size_bin(diameter_mm: float) -> str:
    """One of :data:`PROFILE_SIZE_BINS` (half-open intervals)."""
    return _bin(diameter_mm, PROFILE_SIZE_EDGES_MM, PROFILE_SIZE_BINS)


def task_size_bin(diameter_mm: float) -> str:
    """One of :data:`TASK_SIZE_BINS` (half-open intervals)."""
    return _bin(diameter_mm, TASK_SIZE_EDGES_MM, TASK_SIZE_BINS)


# ---------------------------------------------------------------------------
# Lung-RADS (baseline screening; mean diameter)
# ---------------------------------------------------------------------------
#: The nine LIDC-IDRI reader characteristics (their scales: docs/profiles.md), in database order.
LIDC_CHARACTERISTICS: Final[tuple[str, ...]] = (
    "subtlety", "internal_structure", "calcification", "sphericity", "margin",
    "lobulation", "spiculation", "texture", "malignancy",
)


class Texture(StrEnum):
    SOLID = "solid"
    PART_SOLID = "part_solid"
    GROUND_GLASS = "ground_glass"


LUNG_RADS_MALIGNANCY: Final[dict[str, str]] = {
    "1": "<1%", "2": "<1%", "3": "1-2%", "4A": "5-15%", "4B": ">15%",
}


def lung_rads(
    diameter_mm: float | None,
    *,
    texture: Texture | str = Texture.SOLID,
    solid_component_mm: float | None = None,
    benign_calcification: bool = False,
) -> str:
    """Lung-RADS baseline category from a nodule's mean diameter and texture.

    Solid: 2 (<6 mm), 3 (6 to <8), 4A (8 to <15), 4B (>=15).
    Ground-glass: 2 below 30 mm, 3 at or above.
    Part-solid: 2 below 6 mm overall; otherwise by the solid component
    (<6 mm → 3, 6 to <8 → 4A, >=8 → 4B).
    ``None`` diameter (no nodule) or benign calcification gives category 1.
    """
    if diameter_mm is None or benign_calcification:
        return "1"
    texture = Texture(texture)
    d = float(diameter_mm)
    if texture is Texture.GROUND_GLASS:
        return "2" if d < 30.0 else "3"
    if texture is Texture.PART_SOLID:
        if d < 6.0:
            return "2"
        solid = d if solid_component_mm is None else float(solid_component_mm)
        if solid < 6.0:
            return "3"
        return "4A" if solid < 8.0 else "4B"
    if d < 6.0:
        return "2"
    if d < 8.0:
        return "3"
    return "4A" if d < 15.0 else "4B"


def texture_from_lidc(texture_score: float) -> Texture:
    """LIDC texture score (1 non-solid … 3 part-solid … 5 solid) → :class:`Texture`."""
    if texture_score <= 2:
        return Texture.GROUND_GLASS
    if texture_score < 4.5:
        return Texture.PART_SOLID
    return Texture.SOLID


#: Lobe frequencies of lung nodules (upper lobes dominate; the RML is rare).
NODULE_LOBE_FREQUENCY: dict[Lobe, float] = {
    Lobe.RUL: 0.30, Lobe.RML: 0.09, Lobe.RLL: 0.23,
    Lobe.LUL: 0.22, Lobe.LLL: 0.16,
}
