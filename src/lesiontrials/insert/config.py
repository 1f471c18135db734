"""Insertion settings and the reasoned failure of one case.

Every knob here changes what is written, so the whole :class:`InsertConfig` goes into a
case's ``inputs_sha256``: changing a tolerance re-does the cases it affects.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from typing import Any, Final

from lesiontrials.errors import LesionTrialsError
from lesiontrials.records.insert import INSERT_SCHEMA_VERSION

__all__ = ["CONTAINMENT_REGIONS", "DEFAULT_SLAB_MM", "INSERT_SCHEMA_VERSION", "SLAB_MIN_ROOM_MM",
           "InsertConfig", "InsertionError"]

CONTAINMENT_REGIONS: Final = ("lobe", "lung")
#: A slab is at least this much longer than its two margins (mm): room for a nodule up to
#: this extent to sit at a uniform random offset, so that every slab of small nodules and
#: every nodule-free slab has one length (slab cases feed the 2-D track only).
SLAB_MIN_ROOM_MM: Final = 12.0
#: The shortest slab with the default margins (``--slab-mm``; the screening-grid demo's
#: slab): 32 slices at 1.25 mm. Why this length: :mod:`lesiontrials.insert.slab`.
DEFAULT_SLAB_MM: Final = 40.0


@dataclass(frozen=True)
class InsertConfig:
    """Tolerances of the insertion stage (lengths in mm).

    Attributes:
        min_inside_fraction: share of a nodule's voxels that must lie inside the
            containment region (the target lobe, or the lung interior).
        containment: ``"lobe"`` (the target lobe) or ``"lung"`` (any lung-interior label).
            Native placements (digital twins) always use ``"lung"``.
        min_lung_fraction: share of a placed nodule's voxels that must lie inside the
            lung interior whatever ``containment`` says (1.0: nothing in the chest wall
            or mediastinum). Not applied to native placements.
        min_gap_mm: companions of one case keep more than this distance between voxel
            centres, and never touch (26-neighbours), whatever the value; the manifest's
            ``min_gap_mm`` wins where it is given.
        max_shift_mm: how far a nodule is searched for around a planned target first
            (``None``: anywhere in the target lobe); beyond it the whole planned lobe is
            searched and the move recorded as ``beyond_max_shift``. Drawn (random) targets
            may move anywhere in the lobe.
        search_start_mm: first search radius around the target; doubled until it
            reaches ``max_shift_mm`` or covers the lobe.
        scale_bounds: allowed range of the planned scale (inclusive); outside it the
            case fails instead of being clamped.
        min_voxels: fewest voxels an inserted nodule may have.
        diameter_tolerance: largest relative difference between the realised and the
            planned equivalent diameter (never below one voxel's largest side).
        slab_length_mm: a case on a host without a real CT keeps only an axial slab of
            the host's label map this long (longer only when its nodules and margins need
            it; ``None``, the default: the whole volume); see
            :mod:`lesiontrials.insert.slab`. A speed option for screening-grid worlds; at
            least ``2 * slab_margin_mm + SLAB_MIN_ROOM_MM`` so the nodules sit at a uniform
            random offset. Slab cases are left out of 3-D volume sets (a slab still says
            the nodule is not within the margin of its ends).
        slab_margin_mm: the slab reaches at least this far beyond the nodules' axial
            extent on both sides (a negative slice 10 mm away, its neighbours, z-blur).
    """

    min_inside_fraction: float = 0.95
    containment: str = "lobe"
    min_lung_fraction: float = 1.0
    min_gap_mm: float = 2.0
    max_shift_mm: float | None = 40.0
    search_start_mm: float = 6.0
    scale_bounds: tuple[float, float] = (0.25, 4.0)
    min_voxels: int = 1
    diameter_tolerance: float = 0.25
    slab_length_mm: float | None = None
    slab_margin_mm: float = 14.0

    def __post_init__(self) -> None:
        if not (0.0 < self.min_inside_fraction <= 1.0 and 0.0 <= self.min_lung_fraction <= 1.0):
            raise ValueError("min_inside_fraction must lie in (0, 1], min_lung_fraction in [0, 1]")
        if self.containment not in CONTAINMENT_REGIONS:
            raise ValueError(f"containment must be one of {CONTAINMENT_REGIONS}")
        if self.min_gap_mm < 0 or self.search_start_mm <= 0 or self.min_voxels < 1:
            raise ValueError("min_gap_mm >= 0, search_start_mm > 0 and min_voxels >= 1 required")
        if self.max_shift_mm is not None and self.max_shift_mm < 0:
            raise ValueError("max_shift_mm must be >= 0 (or None for the whole lobe)")
        low, high = self.scale_bounds
        if not 0.0 < low <= 1.0 <= high:
            raise ValueError("scale_bounds must satisfy 0 < low <= 1 <= high")
        if self.diameter_tolerance <= 0:
            raise ValueError("diameter_tolerance must be > 0")
        if not (math.isfinite(self.slab_margin_mm) and self.slab_margin_mm >= 0):
            raise ValueError("slab_margin_mm must be a finite number >= 0")
        shortest = 2 * self.slab_margin_mm + SLAB_MIN_ROOM_MM
        if self.slab_length_mm is not None and not math.isfinite(self.slab_length_mm):
            raise ValueError(f"slab_length_mm = {self.slab_length_mm} is not a length; give "
                             f"a finite number of mm (e.g. {DEFAULT_SLAB_MM:g}) or None for "
                             "whole volumes")
        if self.slab_length_mm is not None and self.slab_length_mm < shortest:
            raise ValueError(
                f"slab_length_mm = {self.slab_length_mm:g} leaves the nodules no room to sit "
                f"at a random offset; give at least {shortest:g} mm (2 × slab_margin_mm + "
                f"{SLAB_MIN_ROOM_MM:g}), e.g. {DEFAULT_SLAB_MM:g}, or None for whole volumes")

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


class InsertionError(LesionTrialsError):
    """A case that cannot be inserted as planned; ``code`` groups reasons in summaries.

    Codes: ``no_fit`` (no position inside the lobe fits), ``too_small`` (the nodule would
    vanish), ``size_mismatch`` (realised diameter far from plan), ``scale_bounds``,
    ``outside_lung`` (a native nodule outside the lung), ``companions_touch``,
    ``outside_volume``, ``no_lobe`` (the host lacks the target lobe).
    """

    def __init__(self, code: str, message: str) -> None:
        self.code = code
        super().__init__(message)
