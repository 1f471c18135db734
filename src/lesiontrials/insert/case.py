"""One case end to end: read, place, measure, stamp, write — resumable and atomic.

Outputs in ``cases/{trial}/{case_uid}/``: ``labels.nii.gz`` (host grid and affine, or an
axial slab of it on hosts without a real CT (:mod:`lesiontrials.insert.slab`); every
inserted nodule as label 23), ``nodule_{k}.nii.gz`` (crop masks whose affine places them
in world mm) and ``insert.json`` (realised truth), written last: a case is finished
when its ``insert.json`` says ``done`` for the same ``inputs_sha256`` and its files exist.
"""

from __future__ import annotations

import dataclasses
import hashlib
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, cast

import numpy as np

from lesiontrials import anatomy
from lesiontrials.donors import crop_volume, nodule_component, nodule_volume
from lesiontrials.errors import InputError, LesionTrialsError
from lesiontrials.execution import CaseOutcome
from lesiontrials.geometry import Box, NoduleMask, bounding_box, mask_in_host_grid
from lesiontrials.insert.arrange import Placed, arrange_case
from lesiontrials.insert.config import InsertConfig, InsertionError
from lesiontrials.insert.fallback import donor_scan_percents
from lesiontrials.insert.slab import (
    Slab,
    cut_slab,
    decide_slab,
    lung_area_per_slice,
    slab_affine,
    slab_z_mm,
)
from lesiontrials.insert.spec import CaseSpec, NoduleSpec, Row, host_natives, parse_case
from lesiontrials.insert.transplant import stamp
from lesiontrials.insert.truth import diameter_error_mm, realised_truth, shift_truth_z
from lesiontrials.io import (
    Volume,
    VolumeKind,
    parse_record,
    read_json,
    read_volume,
    to_json_text,
    write_bytes_atomic,
    write_json,
    write_record,
    write_volume,
)
from lesiontrials.io.decoded import (
    DecodedCache,
    read_mask_crop_cached,
    read_volume_cached,
    source_sha256,
)
from lesiontrials.io.volumes import VOLUME_CODEC_VERSION, volume_bytes
from lesiontrials.measurements.host import HostAnatomy
from lesiontrials.paths import (
    INSERT_JSON,
    INSERT_TIMING_JSON,
    LABELS_FILE,
    CaseFiles,
    DataRoot,
    nodule_mask_file,
)
from lesiontrials.records.insert import INSERT_SCHEMA_VERSION, InsertRecord
from lesiontrials.seeding import rng_for

mask_file = nodule_mask_file  # the name insertion gives the k-th nodule's crop mask


@dataclass(frozen=True)
class InsertJob:
    """Everything a worker needs for one case (picklable)."""

    rows: tuple[Row, ...]
    data_root: Path
    case_dir: Path
    config: InsertConfig = field(default_factory=InsertConfig)
    export_dir: Path | None = None
    source: str = "manifest"
    decoded_cache: DecodedCache | None = None  # decode each shared input once (io.decoded)

    @property
    def case_uid(self) -> str:
        return str(self.rows[0]["case_uid"])


def input_paths(job: InsertJob) -> dict[str, Path]:
    """Input files of the case (host label map, donor masks) by manifest path."""
    rels = [str(job.rows[0]["host_seg_path"])]
    if not any(bool(r["nodule_free"]) for r in job.rows):
        rels += [str(r["donor_mask_path"]) for r in job.rows if r["donor_mask_path"]]
        rels += [str(n["mask_path"]) for n in host_natives(job.rows[0], job.source)]
        rels += [str(r["donor_seg_path"]) for r in job.rows
                 if r.get("target_pct_fallback") and r.get("donor_seg_path")]
    return {rel: job.data_root / rel for rel in dict.fromkeys(rels)}


def inputs_digest(job: InsertJob) -> str:
    """SHA-256 over the case's manifest rows, its input files' hashes and the settings."""
    files = {rel: source_sha256(path) if path.is_file() else "missing"
             for rel, path in input_paths(job).items()}
    payload = {"schema": INSERT_SCHEMA_VERSION, "volume_codec": VOLUME_CODEC_VERSION,
               "rows": list(job.rows), "files": files,
               "config": job.config.to_dict()}
    return hashlib.sha256(to_json_text(payload).encode("utf-8")).hexdigest()


def finished_record(case_dir: Path, digest: str) -> InsertRecord | None:
    """The case's ``insert.json`` when it is done for ``digest`` and its outputs exist
    (a record in another schema is not finished: the case is inserted again)."""
    path = CaseFiles(case_dir).insert_json
    if not path.is_file() or any(case_dir.glob(".*.tmp")):
        return None
    try:
        record = parse_record(read_json(path), InsertRecord, where=path)
    except InputError:
        return None
    if not record.done or record.inputs_sha256 != digest:
        return None
    needed = [LABELS_FILE, *(n.mask_file for n in record.nodules)]
    return record if all((case_dir / name).is_file() for name in needed) else None


def insert_case(job: InsertJob) -> CaseOutcome:
    """Insert one case (or skip it when already finished); never raises for bad input."""
    uid = job.case_uid
    digest = inputs_digest(job)
    record = finished_record(job.case_dir, digest)
    if record is not None:
        if job.export_dir is not None:
            _export_from_files(record, job.case_dir, job.export_dir)
        return CaseOutcome(uid, "skipped", result=case_brief(record))
    _remove_partial(job.case_dir)
    start = time.perf_counter()
    try:
        fields = _insert(job, parse_case(job.rows, source=job.source), digest, start)
    except Exception as exc:  # every failure becomes an audited, reasoned record
        _remove_outputs(job.case_dir)
        fields = _failed_record(job, digest, exc, start)
    timing = {"timing_s": fields.pop("timing_s"),
              "timing_breakdown_s": fields.pop("timing_breakdown_s")}
    record = InsertRecord.model_validate(fields)  # the writer is held to the schema too
    write_json(timing, job.case_dir / INSERT_TIMING_JSON)
    write_record(record, job.case_dir / INSERT_JSON)
    return CaseOutcome(uid, record.status, result=case_brief(record), reason=record.reason)


def _insert(job: InsertJob, spec: CaseSpec, digest: str, start: float) -> dict[str, Any]:
    host_path = job.data_root / spec.host_seg_path
    cache = job.decoded_cache
    volume = read_volume_cached(host_path, cache)
    host = _host_anatomy(volume, host_path)
    donors = [_read_donor(job.data_root / n.donor_mask_path, n, cache) for n in spec.nodules]
    spec = dataclasses.replace(spec, nodules=tuple(
        _fallback(job.data_root, n, d, cache) for n, d in zip(spec.nodules, donors, strict=True)))
    # a twin's native placed at its own site *is* that native; any other copy is new
    inserted = {n.donor_uid for n in spec.nodules if n.placement == "native"}
    natives = {str(n["uid"]): _native_on_host(job.data_root, n, volume, cache)
               for n in spec.host_natives if str(n["uid"]) not in inserted}
    t_read = time.perf_counter()
    rng = rng_for(spec.seed, spec.case_uid, "insert")
    placed = arrange_case(host, volume.affine, spec.nodules, donors, rng, job.config,
                          obstacles=list(natives.values()))
    t_place = time.perf_counter()
    truths = [realised_truth(host, volume.affine, p.nodule, scale=p.spec.scale,
                             companions=[q.nodule for q in placed if q is not p])
              for p in placed]
    t_truth = time.perf_counter()
    for p in placed:  # stamp only after every measurement: truth is on the clean host
        stamp(host.labels, p.nodule, anatomy.NODULE)
    slab = _case_slab(job, spec, host.labels, volume.spacing_mm, placed)
    labels, affine = host.labels, volume.affine
    if slab is not None:  # the case keeps this slab; voxel positions follow it
        labels, affine = cut_slab(host.labels, slab), slab_affine(volume.affine, slab)
        truths = [shift_truth_z(t, -slab.z0) for t in truths]
    shift = 0 if slab is None else slab.z0
    outputs = _write_outputs(job, Volume(labels, affine), volume.affine, placed)
    end = time.perf_counter()
    record = _base_record(job, digest, status="done")
    record.update({
        "host": _host_info(spec, volume, slab),
        "nodules": [_nodule_record(p, t, z_shift=shift)
                    for p, t in zip(placed, truths, strict=True)],
        "host_natives": [{"uid": uid, "voxels": n.voxel_count,
                          "centroid_voxel": [float(v) for v in
                                             n.centroid_voxel() - np.array([0, 0, shift])]}
                         for uid, n in natives.items()],
        "labels_sha256": outputs[LABELS_FILE],
        "timing_s": end - start,
        "timing_breakdown_s": {"read": t_read - start, "place": t_place - t_read,
                               "truth": t_truth - t_place, "write": end - t_truth},
    })
    for entry in record["nodules"]:
        entry["mask_sha256"] = outputs[entry["mask_file"]]
    return record


#: Label bounding boxes of the host maps this process has read, by file SHA-256: one
#: ``find_objects`` pass over a 512×512×320 map costs ~0.2–0.5 s, and every case on a host
#: needs the same boxes (a pure function of the file's bytes). Bounded: hosts are few.
_HOST_BOXES: dict[str, dict[int, Box]] = {}
_HOST_BOXES_MAX = 32


def _host_anatomy(volume: Volume, path: Path) -> HostAnatomy:
    """The host's anatomy, given the label boxes computed earlier for the same file
    (remembered here when new; computed before any nodule is stamped into the map)."""
    digest = source_sha256(path)
    host = HostAnatomy(volume.array, volume.spacing_mm, path=str(path),
                       known_boxes=_HOST_BOXES.get(digest))
    if digest not in _HOST_BOXES:
        if len(_HOST_BOXES) >= _HOST_BOXES_MAX:
            _HOST_BOXES.pop(next(iter(_HOST_BOXES)))
        _HOST_BOXES[digest] = dict(host.boxes)
    return host


def remember_host_boxes(jobs: list[InsertJob]) -> int:
    """Compute here the label boxes of every host that the unfinished ``jobs`` read and this
    process has not met; returns how many. Pool workers forked from this process then
    start with them remembered: one ``find_objects`` pass per host and run instead of one
    per host, trial and worker (each trial's insertion starts fresh workers). A host that
    cannot be read is left to its cases, which fail with the reason."""
    done = 0
    for job in jobs:
        path = job.data_root / str(job.rows[0]["host_seg_path"])
        try:
            if (source_sha256(path) in _HOST_BOXES
                    or finished_record(job.case_dir, inputs_digest(job)) is not None):
                continue
            _host_anatomy(read_volume_cached(path, job.decoded_cache), path)
        except (LesionTrialsError, OSError, ValueError):
            continue
        done += 1
    return done


def _read_donor(path: Path, nodule: NoduleSpec, cache: DecodedCache | None = None) -> Volume:
    """A donor mask cropped to its nodule (the affine follows), so later work is local.

    Only the file's nonzero crop is read back (cached once decoded: a donor mask stored on
    a whole CT grid is decoded and scanned once per workspace). A per-scan mask file
    (``donor_mask_scope`` "scan", e.g. IMDCT) gives only the component at the donor's
    centre (:func:`lesiontrials.donors.nodule_component`), or refuses."""
    crop = read_mask_crop_cached(path, cache)
    mask = crop.mask
    if nodule.donor_mask_scope == "scan":
        mask = nodule_component(mask, crop.crop_affine, nodule.donor_point_mm, path=path).mask
    box = bounding_box(mask)
    if box is None:
        raise InputError("the donor mask is empty", path=path,
                         fix="use a donor whose mask file has nodule voxels")
    offset = tuple(int(o) + b.start for o, b in zip(crop.offset, box, strict=True))
    return crop_volume(NoduleMask(mask[box], offset), crop.affine)


def _fallback(data_root: Path, nodule: NoduleSpec, donor: Volume,
              cache: DecodedCache | None = None) -> NoduleSpec:
    """Out-of-range percents: measured on the donor's own scan, else drawn (fallback.py)."""
    if not nodule.pct_fallback:
        return nodule
    measured = None
    if nodule.donor_seg_path:  # indexed as present: a missing file is an error, not a draw
        measured = donor_scan_percents(
            nodule, donor, read_volume_cached(data_root / nodule.donor_seg_path, cache))
    if measured is None:
        return dataclasses.replace(nodule, pct_fallback_rule="drawn")
    return dataclasses.replace(measured, pct_fallback_rule="donor_scan")


#: Host natives on their host grid, by (mask file SHA-256, scope, centre, host grid):
#: cases on one host place the same natives. Small (nodule crops), bounded, read-only.
_NATIVES: dict[tuple[Any, ...], NoduleMask] = {}
_NATIVES_MAX = 256


def _native_on_host(data_root: Path, native: dict[str, Any], host: Volume,
                    cache: DecodedCache | None = None) -> NoduleMask:
    """One of the host scan's own nodules on the host grid (its component when the mask
    file holds the whole scan's nodules).

    Read as the file's nonzero crop (its components and their world positions are those
    of the whole file), so a mask stored on the full CT grid is not labelled or resampled
    whole; remembered for the next case on the same host (``_NATIVES``)."""
    path = data_root / str(native["mask_path"])
    scope = str(native["mask_scope"])
    # (a point of the wrong length is refused by nodule_component, naming the file)
    point = cast(tuple[float, float, float], tuple(float(v) for v in native["point_mm"]))
    key = (source_sha256(path) if path.is_file() else str(path), scope, point,
           np.asarray(host.affine, dtype=float).tobytes(), host.shape)
    if key in _NATIVES:
        return _NATIVES[key]
    crop = read_mask_crop_cached(path, cache)
    volume = nodule_volume(Volume(crop.mask.view(np.uint8), crop.crop_affine), scope=scope,
                           point_mm=point, path=path)
    placed = mask_in_host_grid(volume.array > 0, volume.affine, host.affine, host.shape)
    placed.mask.flags.writeable = False
    if len(_NATIVES) >= _NATIVES_MAX:
        _NATIVES.pop(next(iter(_NATIVES)))
    _NATIVES[key] = placed
    return placed


def _write_outputs(job: InsertJob, labels: Volume, host_affine: np.ndarray,
                   placed: list[Placed]) -> dict[str, str]:
    """Write masks (placed on the host grid: ``host_affine``) and the case's labels (the
    host or its slab, with its own affine), atomically; return each file's SHA-256."""
    case_dir = job.case_dir
    volumes = {mask_file(p.spec.nodule_index): (crop_volume(p.nodule, host_affine),
                                                 VolumeKind.MASK)
               for p in placed}
    volumes[LABELS_FILE] = (labels, VolumeKind.LABELS)
    for stale in case_dir.glob("nodule_*.nii.gz"):
        if stale.name not in volumes:
            stale.unlink()
    hashes = {}
    uid, trial = job.case_uid, str(job.rows[0]["trial"])
    for name, (vol, kind) in volumes.items():
        data = volume_bytes(vol, kind=kind)  # encode once: hash, case file and export
        write_bytes_atomic(case_dir / name, data)
        hashes[name] = hashlib.sha256(data).hexdigest()
        if job.export_dir is not None:
            write_bytes_atomic(_export_path(job.export_dir, trial, uid, name), data)
    return hashes


def _export_path(export_dir: Path, trial: str, uid: str, name: str) -> Path:
    """Release layout: ``masks/{trial}/refined_seg/{case}_seg.nii.gz`` (labels with the
    nodules) and ``masks/{trial}/nodule_seg/{case}_n{k}.nii.gz`` (crop masks)."""
    root = DataRoot(export_dir)
    if name == LABELS_FILE:
        return root.refined_seg(trial, uid)
    index = name.removeprefix("nodule_").removesuffix(".nii.gz")
    return root.nodule_seg(trial, f"{uid}_n{index}")


def _export_from_files(record: InsertRecord, case_dir: Path, export_dir: Path) -> None:
    """Bring a resumed case's export up to date (same bytes as a fresh write)."""
    names = [LABELS_FILE, *(n.mask_file for n in record.nodules)]
    for name in names:
        target = _export_path(export_dir, record.trial, record.case_uid, name)
        if not target.is_file():
            kind = VolumeKind.LABELS if name == LABELS_FILE else VolumeKind.MASK
            write_volume(target, read_volume(case_dir / name), kind=kind)


def _remove_partial(case_dir: Path) -> None:
    for temp in case_dir.glob(".*.tmp"):
        temp.unlink(missing_ok=True)


def _remove_outputs(case_dir: Path) -> None:
    for path in [case_dir / LABELS_FILE, *case_dir.glob("nodule_*.nii.gz")]:
        path.unlink(missing_ok=True)


def _base_record(job: InsertJob, digest: str, *, status: str) -> dict[str, Any]:
    first = job.rows[0]
    return {
        "schema_version": INSERT_SCHEMA_VERSION, "trial": str(first["trial"]),
        "case_uid": job.case_uid, "case_index": int(first["case_index"]),
        "seed": int(first["seed"]), "status": status, "reason": "", "reason_code": "",
        "inputs_sha256": digest,
        "nodule_free": any(bool(r["nodule_free"]) for r in job.rows),
        "labels_file": LABELS_FILE if status == "done" else None,
        "host": {"dataset": str(first["host_dataset"]), "ct_id": str(first["host_ct_id"]),
                 "seg_path": str(first["host_seg_path"]),
                 "ct_path": str(first["host_ct_path"] or "")},
        "nodules": [], "config": job.config.to_dict(),
        **({"prior": {"case_uid": str(first["prior_case_uid"]),
                      "interval_days": float(first["interval_days"])}}
           if first.get("prior_case_uid") else {}),
    }


def _host_info(spec: CaseSpec, volume: Volume, slab: Slab | None) -> dict[str, Any]:
    info = {"dataset": spec.host_dataset, "ct_id": spec.host_ct_id,
            "seg_path": spec.host_seg_path, "ct_path": spec.host_ct_path,
            "shape": list(volume.shape), "spacing_mm": list(volume.spacing_mm),
            "affine": np.asarray(volume.affine).tolist()}
    if slab is not None:
        info["slab_z_voxels"] = [slab.z0, slab.z1]
        info["slab_z_mm"] = list(slab_z_mm(volume.affine, slab))
    return info


def _case_slab(job: InsertJob, spec: CaseSpec, labels: np.ndarray,
               spacing_mm: tuple[float, float, float], placed: list[Placed]) -> Slab | None:
    """The axial slab the case keeps (:mod:`lesiontrials.insert.slab`): only on hosts
    without a real CT (a real CT is rendered on its own full grid), decided from the
    case's own seed."""
    length = job.config.slab_length_mm
    if length is None or spec.host_ct_path:
        return None
    ranges = [(p.nodule.offset[2], p.nodule.offset[2] + p.nodule.mask.shape[2] - 1)
              for p in placed]
    nodule_z = (min(r[0] for r in ranges), max(r[1] for r in ranges)) if ranges else None
    return decide_slab(depth=labels.shape[2], spacing_z_mm=float(spacing_mm[2]),
                       nodule_z=nodule_z,
                       lung_area=None if ranges else lung_area_per_slice(labels),
                       length_mm=length, margin_mm=job.config.slab_margin_mm,
                       rng=rng_for(spec.seed, spec.case_uid, "slab"))


def _on_case_grid(detail: dict[str, Any], z_shift: int) -> dict[str, Any]:
    """``detail`` with every ``*_voxel`` position moved ``z_shift`` slices down: placement
    works on the whole host grid, the case's files (and ``realised``) on its slab."""
    if not z_shift:
        return dict(detail)
    return {key: ([value[0], value[1], float(value[2]) - z_shift]
                  if key.endswith("_voxel") and isinstance(value, list) and len(value) == 3
                  else value)
            for key, value in detail.items()}


def _nodule_record(item: Placed, realised: dict[str, Any], *, z_shift: int = 0
                   ) -> dict[str, Any]:
    """One nodule's entry; every voxel position on the case's grid (a slab starts
    ``z_shift`` slices into its host)."""
    spec = item.spec
    return {
        "nodule_index": spec.nodule_index, "primary": spec.primary,
        "donor_uid": spec.donor_uid, "donor_dataset": spec.donor_dataset,
        "label": spec.label, "donor_characteristics": dict(spec.characteristics),
        "appearance": spec.appearance, "mask_file": mask_file(spec.nodule_index),
        "planned": _on_case_grid(item.planned, z_shift), "realised": realised,
        "diameter_error_mm": diameter_error_mm(realised["equivalent_diameter_mm"],
                                               float(item.planned["diameter_mm"])),
        "adjustments": [{"kind": a.kind, "detail": _on_case_grid(a.detail, z_shift)}
                        for a in item.adjustments],
        **({"growth": _growth(spec, realised)} if spec.growth_model else {}),
    }


def _growth(spec: NoduleSpec, realised: dict[str, Any]) -> dict[str, Any]:
    """The growth entry of a repeat scan's nodule: plan and realised change."""
    new = spec.growth_model == "new"
    prior_d, prior_v = spec.prior_diameter_mm, spec.prior_volume_mm3
    return {
        "status": "new" if new else "repeat", "model": spec.growth_model,
        "vdt_days": spec.vdt_days, "planned_factor": spec.growth_factor,
        "limited": spec.growth_limited,
        "prior_diameter_mm": None if new else prior_d,
        "prior_volume_mm3": None if new else prior_v,
        "diameter_change_mm": None if new else realised["equivalent_diameter_mm"] - prior_d,
        "volume_ratio": None if new else realised["volume_mm3"] / prior_v,
    }


def _failed_record(job: InsertJob, digest: str, exc: Exception, start: float) -> dict[str, Any]:
    record = _base_record(job, digest, status="failed")
    if isinstance(exc, InsertionError):
        code = exc.code
    elif isinstance(exc, InputError):
        code = "input"
    elif isinstance(exc, LesionTrialsError):
        code = "error"
    else:
        code = "unexpected"
    reason = str(exc) if code != "unexpected" else f"unexpected error: {type(exc).__name__}: {exc}"
    record.update({"reason": reason, "reason_code": code,
                   "timing_s": time.perf_counter() - start, "timing_breakdown_s": {}})
    return record


def case_brief(record: InsertRecord) -> dict[str, Any]:
    """The few fields of a case's record the trial summary needs."""
    nodules = []
    for entry in record.nodules:
        realised, planned = entry.realised, entry.planned
        nodules.append({
            "nodule_index": entry.nodule_index, "primary": entry.primary,
            "donor_uid": entry.donor_uid, "label": entry.label,
            "placement": planned.placement,
            "planned_lobe": planned.lobe, "realised_lobe": realised.lobe,
            "planned_diameter_mm": planned.diameter_mm,
            "realised_diameter_mm": realised.equivalent_diameter_mm,
            "realised_voxels": realised.voxels,
            "percent_in_lobe": realised.percent_in_lobe,
            "pleural_distance_mm": realised.pleural_distance_mm,
            "adjustments": [a.kind for a in entry.adjustments],
        })
    return {"case_uid": record.case_uid, "status": record.status,
            "reason_code": record.reason_code, "reason": record.reason,
            "nodule_free": record.nodule_free, "nodules": nodules}
