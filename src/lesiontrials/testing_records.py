"""Complete stage records for test fixtures that write a case folder by hand.

A test that builds ``insert.json``/``render.json`` itself (to control the truth exactly)
writes them through these helpers, so its files have every field the typed records
(:mod:`lesiontrials.records`) require. Geometry that a test checks (centroid, bounding
box, volume, equivalent diameter) is computed from the mask; the rest holds plausible
fixed values.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from lesiontrials.geometry import NoduleMask
from lesiontrials.paths import LABELS_FILE, nodule_mask_file
from lesiontrials.records.insert import (
    INSERT_SCHEMA_VERSION,
    HostInfo,
    InsertedNodule,
    InsertRecord,
    Percents,
    PlannedNodule,
    RealisedTruth,
)
from lesiontrials.records.render import RENDER_SCHEMA_VERSION, RenderedLesion, RenderRecord
from lesiontrials.records.tables import EvalItem

_MIDDLE = Percents(cc=50.0, ml=50.0, ap=50.0)


def realised_truth(nodule: NoduleMask, affine: np.ndarray, *, lobe: str | None,
                   diameter_mm: float | None = None) -> RealisedTruth:
    """The realised truth of ``nodule`` on the grid of ``affine`` (4×4, voxel → RAS mm).

    ``diameter_mm`` overrides the equivalent diameter computed from the voxel count."""
    spacing = np.sqrt((np.asarray(affine, float)[:3, :3] ** 2).sum(axis=0))
    centroid = nodule.centroid_voxel()
    world = centroid @ np.asarray(affine, float)[:3, :3].T + np.asarray(affine, float)[:3, 3]
    volume = float(nodule.voxel_count * np.prod(spacing))
    diameter = (6.0 * volume / math.pi) ** (1 / 3) if diameter_mm is None else diameter_mm
    extent = [float((s.stop - s.start) * d) for s, d in zip(nodule.box, spacing, strict=True)]
    side = "left" if lobe is not None and lobe.startswith("left") else "right"
    return RealisedTruth(
        lobe=lobe, lobe_label_id=None, organ_label_id=0, organ_label_name="lung", side=side,
        zone="middle", central_peripheral="peripheral",
        centroid_voxel=(float(centroid[0]), float(centroid[1]), float(centroid[2])),
        centroid_mm=(float(world[0]), float(world[1]), float(world[2])),
        voxels=int(nodule.voxel_count), volume_mm3=volume, equivalent_diameter_mm=diameter,
        max_axis_diameter_mm=max(extent), extent_mm=(extent[0], extent[1], extent[2]),
        bbox_voxel=tuple((int(s.start), int(s.stop)) for s in nodule.box),
        pleural_distance_mm=5.0, percent_in_lobe=100.0, lobe_pct=_MIDDLE,
        lobe_level_pct=_MIDDLE, lung_pct=_MIDDLE, scale=1.0, nearest_companion_mm=None)


def planned_nodule(*, diameter_mm: float, lobe: str | None = None, donor_mask_path: str = "",
                   scale: float = 1.0, donor_mask_scope: str = "nodule",
                   donor_point_mm: Sequence[float] = (0.0, 0.0, 0.0),
                   placement: str = "random",
                   donor_source_mask_path: str = "") -> PlannedNodule:
    """What a manifest row asked for (a random placement in ``lobe`` by default)."""
    point = tuple(float(v) for v in donor_point_mm)
    source = {"donor_source_mask_path": donor_source_mask_path} if donor_source_mask_path else {}
    return PlannedNodule(**source,
        placement=placement, diameter_mm=diameter_mm, scale=scale,
        donor_diameter_mm=diameter_mm / scale, donor_mask_diameter_mm=diameter_mm / scale,
        donor_spacing_mm=(1.0, 1.0, 1.0), donor_mask_path=donor_mask_path,
        min_pleural_mm=0.0, donor_mask_scope=donor_mask_scope,
        donor_point_mm=point,
        pct_fallback=[], pct_fallback_rule=None, lobe=lobe, lobe_source="manifest",
        target_mm=(0.0, 0.0, 0.0), target_voxel=(0.0, 0.0, 0.0))


def inserted_nodule(index: int, nodule: NoduleMask, affine: np.ndarray, *, lobe: str | None,
                    donor_uid: str, donor_dataset: str = "D", label: int | None = None,
                    appearance: str = "", characteristics: Mapping[str, Any] | None = None,
                    diameter_mm: float | None = None,
                    planned: PlannedNodule | None = None) -> InsertedNodule:
    """One nodule entry of ``insert.json`` (its mask file ``nodule_{index}.nii.gz``)."""
    truth = realised_truth(nodule, affine, lobe=lobe, diameter_mm=diameter_mm)
    planned = planned or planned_nodule(diameter_mm=truth.equivalent_diameter_mm, lobe=lobe)
    return InsertedNodule(
        nodule_index=index, primary=index == 0, donor_uid=donor_uid,
        donor_dataset=donor_dataset, label=label,
        donor_characteristics=dict(characteristics or {}), appearance=appearance,
        mask_file=nodule_mask_file(index), mask_sha256="0" * 64, planned=planned,
        realised=truth, diameter_error_mm=0.0, adjustments=[])


def insert_record(*, trial: str, case_uid: str, seed: int, nodules: Sequence[InsertedNodule],
                  dataset: str = "PH", ct_id: str = "PH_0000", ct_path: str = "",
                  seg_path: str = "", case_index: int = 0) -> InsertRecord:
    """A finished case's ``insert.json`` (nodule-free when ``nodules`` is empty)."""
    return InsertRecord(
        schema_version=INSERT_SCHEMA_VERSION, trial=trial, case_uid=case_uid,
        case_index=case_index, seed=seed, status="done", reason="", reason_code="",
        inputs_sha256="0" * 64, nodule_free=not nodules, labels_file=LABELS_FILE,
        host=HostInfo(dataset=dataset, ct_id=ct_id, seg_path=seg_path, ct_path=ct_path),
        nodules=list(nodules), config={})


def render_record(*, trial: str, case_uid: str, backend: str = "analytic",
                  descriptions: Mapping[int, str] | None = None) -> RenderRecord:
    """A finished case's ``render.json`` with one lesion per ``descriptions`` entry."""
    lesions = [RenderedLesion(nodule_index=k, donor_uid=None, descriptors={}, description=text,
                              appearance_text="", shape_source="host_mask", fidelity={})
               for k, text in sorted((descriptions or {}).items())]
    return RenderRecord(
        schema_version=RENDER_SCHEMA_VERSION, case_uid=case_uid, trial=trial, status="done",
        inputs_sha256="0" * 64, backend=backend, seed=0, global_seed=0,
        appearance_override="", appearance_override_size_ignored_mm=None, host_facts={},
        acquisition={}, ct_file="ct.nii.gz", qc_file="qc.png", ct_z_range_mm=(0.0, 0.0),
        ct_is_slab=False, lesions=lesions,
        backend_qc={}, fidelity={}, brief={"backend": backend}, outputs={})


def eval_item_row(**fields: Any) -> dict[str, Any]:
    """One ``cases.parquet`` row with every :class:`EvalItem` column: a plain, lung-profile
    negative slice unless ``fields`` say otherwise (validated, so a misspelt column fails)."""
    row: dict[str, Any] = {
        "slice_uid": "s0", "set": "s", "source": "synthetic", "kind": "negative",
        "profile": "lung", "condition": "plain", "image_path": "images/s0_plain.png",
        "context_paths": "[]", "trial": "", "design": "", "case_uid": "", "nodule_index": -1,
        "host_dataset": "", "host_ct_id": "", "donor_uid": "", "donor_dataset": "",
        "z_index": 0, "truth_presence": "absent", "truth_lobe": "", "truth_size": "",
        "diameter_mm": None, "label": None, "appearance": "", "bbox_x0": -1, "bbox_y0": -1,
        "bbox_x1": -1, "bbox_y1": -1, "pixel_spacing_mm": 1.0, "mask_area_px": 0,
        "nodules_on_slice": "[]", "inputs_sha256": "", "overlay_decoy": False, **fields}
    return EvalItem.model_validate(row).model_dump()
