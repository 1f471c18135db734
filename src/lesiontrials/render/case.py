"""Render one inserted case: read, choose backend, render, measure, write — resumable.

Inputs (``cases/{trial}/{case_uid}/``, written by insertion): ``labels.nii.gz``,
``nodule_{k}.nii.gz``, ``insert.json``. Outputs: ``ct.nii.gz`` (int16 HU, the host's
affine), ``qc.png`` and ``render.json`` (backend, seed, acquisition, per-lesion descriptors
and description, fidelity numbers, timing), written last: a case is finished when its
``render.json`` holds the same ``inputs_sha256`` and ``ct.nii.gz`` exists.
"""

from __future__ import annotations

import hashlib
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from lesiontrials.describe import describe, descriptors_from_lidc, parse_description
from lesiontrials.describe.descriptors import LesionDescriptors
from lesiontrials.errors import InputError
from lesiontrials.execution import CaseOutcome
from lesiontrials.geometry import mask_in_host_grid
from lesiontrials.io import (
    Volume,
    VolumeKind,
    read_json,
    read_volume,
    write_bytes_atomic,
    write_json,
    write_volume,
)
from lesiontrials.paths import DataRoot
from lesiontrials.render.backends import host_acquisition, make_backend, resolve_backend
from lesiontrials.render.case_fidelity import case_fidelity
from lesiontrials.render.interface import LesionSpec
from lesiontrials.render.qc import qc_png
from lesiontrials.seeding import int_seed

RENDER_VERSION = 1
RENDER_JSON, CT_FILE, QC_FILE, INSERT_JSON = "render.json", "ct.nii.gz", "qc.png", "insert.json"


@dataclass(frozen=True)
class RenderJob:
    """One case to render (picklable). ``appearance`` overrides every lesion's look."""

    case_dir: Path
    data_root: Path
    backend: str = "auto"
    appearance: str = ""


def lesion_descriptors(nodule: dict[str, Any], *, appearance: str = "") -> LesionDescriptors:
    """Donor LIDC defaults, then the nodule's own text, then a trial-wide override."""
    descriptors = descriptors_from_lidc(nodule.get("donor_characteristics"))
    for text in (nodule.get("appearance") or "", appearance):
        if text.strip():
            descriptors = parse_description(text).overrides.apply(descriptors)
    return descriptors


def _inputs_digest(job: RenderJob, record: dict[str, Any], backend: str) -> str:
    digest = hashlib.sha256()
    for name in (INSERT_JSON, record.get("labels_file") or "labels.nii.gz",
                 *[n["mask_file"] for n in record.get("nodules", [])]):
        path = job.case_dir / name
        digest.update(name.encode() + (path.read_bytes() if path.is_file() else b""))
    digest.update(f"{backend}|{job.appearance}|{RENDER_VERSION}".encode())
    return digest.hexdigest()


def _load_lesions(job: RenderJob, record: dict[str, Any], labels: Volume) -> list[LesionSpec]:
    specs = []
    for nodule in record.get("nodules", []):
        path = job.case_dir / nodule["mask_file"]
        if not path.is_file():
            raise InputError("nodule mask listed in insert.json is missing", path=path,
                             fix="re-run `lesiontrials insert` for this trial")
        crop = read_volume(path)
        mask = mask_in_host_grid(crop.array, crop.affine, labels.affine, labels.shape)
        specs.append(LesionSpec(mask=mask, index=int(nodule["nodule_index"]),
                                descriptors=lesion_descriptors(nodule,
                                                               appearance=job.appearance)))
    return specs


def render_case(job: RenderJob) -> CaseOutcome:
    """Render one case (skipped when finished for the same inputs)."""
    record = read_json(job.case_dir / INSERT_JSON)
    uid = str(record.get("case_uid", job.case_dir.name))
    if record.get("status") != "done":
        return CaseOutcome(uid, "skipped", reason=f"insertion status {record.get('status')!r}")
    root = DataRoot(job.data_root)
    backend_name = resolve_backend(job.backend, record["host"], root)
    digest = _inputs_digest(job, record, backend_name)
    previous = job.case_dir / RENDER_JSON
    if previous.is_file() and (job.case_dir / CT_FILE).is_file():
        old = read_json(previous)
        if old.get("inputs_sha256") == digest:
            return CaseOutcome(uid, "skipped", result=old.get("brief"))
    start = time.perf_counter()
    labels = read_volume(job.case_dir / (record.get("labels_file") or "labels.nii.gz"))
    lesions = _load_lesions(job, record, labels)
    acquisition = host_acquisition(root, record["host"])
    seed = int_seed(int(record["seed"]), uid, "render")
    backend = make_backend(backend_name, root=root, host=record["host"], labels=labels)
    result = backend.render(labels=labels.array, spacing_mm=labels.spacing_mm, lesions=lesions,
                            acquisition=acquisition, seed=seed)
    render_s = time.perf_counter() - start
    write_volume(job.case_dir / CT_FILE, Volume(result.hu, labels.affine), kind=VolumeKind.CT)
    fidelity = case_fidelity(result=result, labels=labels, lesions=lesions, root=root,
                             host=record["host"], acquisition=acquisition)
    lesion_rows = _lesion_rows(record, lesions, fidelity)
    title = f"{uid} · {backend_name} · " + (lesion_rows[0]["description"] if lesion_rows
                                           else "no lesion")
    write_bytes_atomic(job.case_dir / QC_FILE,
                       qc_png(result.hu, [s.mask for s in lesions], spacing_mm=labels.spacing_mm,
                              title=title))
    brief = {"case_uid": uid, "backend": backend_name, **fidelity["summary"]}
    write_json({
        "schema_version": RENDER_VERSION, "case_uid": uid, "trial": record.get("trial"),
        "status": "done", "inputs_sha256": digest, "backend": backend_name, "seed": seed,
        "global_seed": int(record["seed"]), "appearance_override": job.appearance,
        "acquisition": acquisition.to_dict(), "ct_file": CT_FILE, "qc_file": QC_FILE,
        "lesions": lesion_rows, "backend_qc": result.qc, "fidelity": fidelity,
        "brief": brief, "timing_s": {"render": round(render_s, 3),
                                     "total": round(time.perf_counter() - start, 3)},
    }, job.case_dir / RENDER_JSON)
    return CaseOutcome(uid, "done", result=brief)


def _lesion_rows(record: dict[str, Any], lesions: list[LesionSpec],
                 fidelity: dict[str, Any]) -> list[dict[str, Any]]:
    stats = {row["index"]: row for row in fidelity.get("lesions", [])}
    rows = []
    for nodule, spec in zip(record.get("nodules", []), lesions, strict=True):
        diameter = (nodule.get("realised") or {}).get("equivalent_diameter_mm")
        rows.append({"nodule_index": spec.index, "donor_uid": nodule.get("donor_uid"),
                     "descriptors": spec.descriptors.to_dict(),
                     "description": describe(spec.descriptors, diameter_mm=diameter),
                     "appearance_text": nodule.get("appearance") or "",
                     "fidelity": stats.get(spec.index, {})})
    return rows
