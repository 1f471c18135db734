"""``insert.json``: what insertion realised for one case (written by ``lesiontrials insert``).

Lengths in mm, positions in voxel indices (``*_voxel``, the case grid: that of the
case's ``labels.nii.gz`` and ``ct.nii.gz``, i.e. the host grid or its axial slab, see
``HostInfo.slab_z_voxels``) or RAS world mm (``*_mm``). Percent positions
(``cc``/``ml``/``ap``) are 0-100 along the cranio-caudal, medio-lateral and
antero-posterior extent of the lung or lobe.
"""

from __future__ import annotations

from typing import Any, ClassVar, Literal

from pydantic import Field

from lesiontrials.records.base import MaybeFloat, StageRecord, Strict

INSERT_SCHEMA_VERSION = 4
"""Version of the insertion outputs; bump when a change alters what is written.
Version 2 added repeat scans (``prior``, per nodule ``growth``); version 3 a case's axial
slab of its host (``slab_z_voxels``/``slab_z_mm``); version 4 puts a slab case's planned
and adjustment voxel positions on the slab's grid, as ``realised`` already was; older
files are refused (re-run ``lesiontrials insert``)."""

Triple = tuple[float, float, float]


class Percents(Strict):
    """A position as percents (0-100) of an extent: cranio-caudal, medio-lateral,
    antero-posterior."""

    cc: float
    ml: float
    ap: float


class RealisedTruth(Strict):
    """What was realised for one inserted nodule, measured on the clean host with the
    profiler's own definitions (so the values mean what the index columns mean).

    ``lobe`` is the majority lobe under the nodule (the nearest when none is under it;
    ``percent_in_lobe`` says how much lies inside); ``bbox_voxel`` is half-open per axis.
    """

    lobe: str | None
    lobe_label_id: int | None
    organ_label_id: int
    organ_label_name: str
    side: str
    zone: str
    central_peripheral: str | None
    centroid_voxel: Triple
    centroid_mm: Triple
    voxels: int
    volume_mm3: float
    equivalent_diameter_mm: float
    max_axis_diameter_mm: float
    extent_mm: Triple
    bbox_voxel: tuple[tuple[int, int], tuple[int, int], tuple[int, int]]
    pleural_distance_mm: MaybeFloat
    percent_in_lobe: float
    lobe_pct: Percents | None
    lobe_level_pct: Percents | None
    lung_pct: Percents
    scale: float
    nearest_companion_mm: MaybeFloat


class PlannedNodule(Strict):
    """What the manifest and placement asked for (``None``: not given / not a number).

    The last group of fields exists only for the placement modes that use it (a drawn
    or profile-faithful target, or a native twin's own centre)."""

    placement: str
    diameter_mm: MaybeFloat
    scale: float
    donor_diameter_mm: MaybeFloat
    donor_mask_diameter_mm: MaybeFloat
    donor_spacing_mm: Triple
    donor_mask_path: str
    min_pleural_mm: MaybeFloat
    donor_mask_scope: str
    donor_point_mm: tuple[MaybeFloat, MaybeFloat, MaybeFloat]  # None: not known
    pct_fallback: list[str]
    pct_fallback_rule: str | None
    lobe: str | None
    lobe_source: str
    target_mm: Triple
    target_voxel: Triple
    lobe_pct: Percents | None = None
    min_gap_mm: MaybeFloat = None
    drawn: list[str] | None = None
    zones: list[str] | None = None
    position: str | None = None
    #: a world phantom's native nodule: the fine mask (relative to the data root) of the
    #: library donor it was sampled from, which the renderer shapes the lesion from ("":
    #: none, or an insert.json written before the field existed)
    donor_source_mask_path: str = ""


class Adjustment(Strict):
    """A change insertion made to the plan to fit the host (a shift, a resample)."""

    kind: str
    detail: dict[str, Any]


class Growth(Strict):
    """A nodule of a repeat scan (longitudinal screening, ``trials/longitudinal.py``).

    ``status`` "repeat": the prior scan's nodule, re-inserted at its realised centre and
    grown; "new": it was not in the prior scan (incidence). ``model``/``vdt_days`` (signed
    volume doubling time, negative = halving, ``None`` = stable) and ``planned_factor``
    (planned diameter ratio) are the plan; ``prior_*`` and ``diameter_change_mm``
    (current − prior equivalent diameter) / ``volume_ratio`` are *realised* — measured on
    the prior and the current masks — and are what growth questions are answered from."""

    status: Literal["repeat", "new"]
    model: str
    vdt_days: MaybeFloat
    planned_factor: MaybeFloat
    limited: bool
    prior_diameter_mm: MaybeFloat
    prior_volume_mm3: MaybeFloat
    diameter_change_mm: MaybeFloat
    volume_ratio: MaybeFloat


class PriorScan(Strict):
    """The previous screening round's scan of the same patient (same host)."""

    case_uid: str
    interval_days: float


class InsertedNodule(Strict):
    """One inserted nodule: its donor, the plan, the realised truth, its mask file."""

    nodule_index: int
    primary: bool
    donor_uid: str
    donor_dataset: str
    label: int | None
    donor_characteristics: dict[str, Any]
    appearance: str
    mask_file: str
    mask_sha256: str
    planned: PlannedNodule
    realised: RealisedTruth
    diameter_error_mm: MaybeFloat
    adjustments: list[Adjustment]
    growth: Growth | None = None


class HostInfo(Strict):
    """The host scan (paths relative to the data root; grid facts once it was read).

    ``shape``/``affine`` are the whole host's. When the case kept an axial slab,
    ``slab_z_voxels`` is its half-open slice range on the host grid and ``slab_z_mm`` the
    world z of its first and last slice centres: the case's volumes (labels, CT) are that
    slab, with the host affine moved by ``slab_z_voxels[0]`` slices."""

    dataset: str
    ct_id: str
    seg_path: str
    ct_path: str
    shape: tuple[int, int, int] | None = None
    spacing_mm: Triple | None = None
    affine: list[list[float]] | None = None
    slab_z_voxels: tuple[int, int] | None = None
    slab_z_mm: tuple[float, float] | None = None


class HostNative(Strict):
    """A nodule of the host scan itself, kept in the image (voxel count, centre)."""

    uid: str
    voxels: int
    centroid_voxel: Triple


class InsertRecord(StageRecord):
    """``cases/{trial}/{case}/insert.json``: the case's insertion and its realised truth.

    ``status`` "done" means every listed file was written for ``inputs_sha256``;
    "failed" records keep ``reason``/``reason_code`` and no nodules."""

    SCHEMA_VERSION: ClassVar[int] = INSERT_SCHEMA_VERSION
    READS: ClassVar[tuple[int, ...]] = (INSERT_SCHEMA_VERSION,)
    STAGE: ClassVar[str] = "insert"

    trial: str
    case_uid: str
    case_index: int
    seed: int
    status: Literal["done", "failed"]
    reason: str
    reason_code: str
    inputs_sha256: str
    nodule_free: bool
    labels_file: str | None
    host: HostInfo
    nodules: list[InsertedNodule]
    config: dict[str, Any]
    host_natives: list[HostNative] = Field(default_factory=list)
    labels_sha256: str | None = None
    prior: PriorScan | None = None

    @property
    def done(self) -> bool:
        return self.status == "done"
