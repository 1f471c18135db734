"""Render one inserted case: read, choose backend, render, measure, write — resumable.

Inputs (``cases/{trial}/{case_uid}/``, written by insertion): ``labels.nii.gz``,
``nodule_{k}.nii.gz``, ``insert.json``. Outputs: ``ct.nii.gz`` (int16 HU, the host's
affine), ``qc.png`` and ``render.json`` (backend, seed, acquisition, per-lesion descriptors
and description, fidelity numbers, timing), written last: a case is finished when its
``render.json`` holds the same ``inputs_sha256`` and its ``outputs`` (size and SHA-256 of
``ct.nii.gz`` and ``qc.png``) match the files on disk; a truncated or altered output is
rendered again, never trusted.
"""

from __future__ import annotations

import hashlib
import json
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from lesiontrials.errors import InputError
from lesiontrials.execution import CaseOutcome
from lesiontrials.geometry import mask_in_host_grid
from lesiontrials.io import (
    Volume,
    VolumeKind,
    matches_record,
    parse_record,
    read_json,
    read_record,
    read_volume,
    write_bytes_atomic,
    write_json,
    write_record,
)
from lesiontrials.io.decoded import DecodedCache
from lesiontrials.io.volumes import volume_bytes
from lesiontrials.lesion_text import (
    descriptors_from_lidc,
    lesion_sentence,
    parse_description,
    stated_diameter_mm,
)
from lesiontrials.lesion_text.descriptors import LesionDescriptors
from lesiontrials.paths import CT_FILE, INSERT_JSON, QC_FILE, RENDER_JSON, CaseFiles, DataRoot
from lesiontrials.records.insert import InsertedNodule, InsertRecord
from lesiontrials.records.render import RENDER_SCHEMA_VERSION, RenderRecord
from lesiontrials.render.appearance.shape_source import (
    DONOR_MASK,
    HOST_MASK,
    SOURCE_SHAPE,
    donor_mask_path,
    donor_shape,
    uses_source_shape,
)
from lesiontrials.render.appearance.texture_source import donor_texture
from lesiontrials.render.backends.registry import (
    host_acquisition,
    host_facts,
    host_z_spread,
    make_backend,
    read_host_ct,
    resolve_backend,
)
from lesiontrials.render.fidelity.case_fidelity import case_fidelity
from lesiontrials.render.interface import Acquisition, HostFacts, LesionSpec, ZSpread
from lesiontrials.render.qc import qc_png
from lesiontrials.seeding import int_seed

#: Bump when a backend's output for the same inputs changes (resume key).
#: 5: thick-slice donors joined by a cubic spline; 6: a case's CT may be an axial slab
#: (``ct_z_range_mm``); 7: donors on about isotropic voxels (phantom natives, 1 mm) shaped
#: from their mask's smoothed signed distance (shape_field.py); 8: a lesion's edge is the
#: host's own vessel-edge blur plus its margin's (margin 5 adds none), lesion texture
#: from its descriptor's HU distribution; 9: lesion texture (QC) from the in-house IBSI
#: 3-D GLCM (``render/fidelity/glcm.py``, MIRP's numbers) named ``lesiontrials.glcm``;
#: 10: a real host's lesion is blurred along z by the host's stored z spread where trusted
#: (its slice's own profile: the slice as a box and the rest as a Gaussian).
#: 11: a world phantom's native donor is shaped from its library source's fine mask
#: (``shape_source: source_shape``; render/appearance/shape_source.py).
RENDER_VERSION = 11


@dataclass(frozen=True)
class RenderJob:
    """One case to render (picklable). ``appearance`` overrides every lesion's look."""

    case_dir: Path
    data_root: Path
    backend: str = "auto"
    appearance: str = ""
    decoded_cache: DecodedCache | None = None  # the host CT decoded once (io.decoded)


def lesion_descriptors(nodule: InsertedNodule, *, appearance: str = "") -> LesionDescriptors:
    """Donor LIDC defaults, then the nodule's own text, then a trial-wide override."""
    descriptors = descriptors_from_lidc(nodule.donor_characteristics)
    for text in (nodule.appearance, appearance):
        if text.strip():
            descriptors = parse_description(text).overrides.apply(descriptors)
    return descriptors


def _labels_name(record: InsertRecord) -> str:
    return record.labels_file or CaseFiles(Path()).labels.name


def _inputs_digest(job: RenderJob, record: InsertRecord, backend: str, *, seed: int,
                   acquisition: Acquisition, facts: HostFacts,
                   z_spread: ZSpread | None = None) -> str:
    """The resume key: input files, backend, appearance override, the derived render seed
    (so a change of how it is derived re-renders), the renderer version, and the host's
    acquisition and anatomy facts from the world's metadata (and, for a real host, its
    stored z spread)."""
    digest = hashlib.sha256()
    for name in (INSERT_JSON, _labels_name(record),
                 *[n.mask_file for n in record.nodules]):
        path = job.case_dir / name
        digest.update(name.encode() + (path.read_bytes() if path.is_file() else b""))
    for nodule in record.nodules:  # the donor masks the lesion shapes (and textures) come from
        for rel in dict.fromkeys((donor_mask_path(nodule), nodule.planned.donor_mask_path)):
            donor = job.data_root / rel if rel else None
            digest.update(donor.read_bytes() if donor is not None and donor.is_file() else b"-")
    settings = {"backend": backend, "appearance": job.appearance, "seed": seed,
                "render_version": RENDER_VERSION, "acquisition": acquisition.to_dict(),
                "host_facts": facts.to_dict()}
    if z_spread is not None:
        settings["z_spread"] = z_spread.to_dict()
    digest.update(json.dumps(settings, sort_keys=True).encode())
    return digest.hexdigest()


def _load_lesions(job: RenderJob, record: InsertRecord, labels: Volume) -> list[LesionSpec]:
    specs = []
    for nodule in record.nodules:
        path = job.case_dir / nodule.mask_file
        if not path.is_file():
            raise InputError("nodule mask listed in insert.json is missing", path=path,
                             fix="re-run `lesiontrials insert` for this trial")
        crop = read_volume(path)
        mask = mask_in_host_grid(crop.array, crop.affine, labels.affine, labels.shape)
        texture = donor_texture(job.data_root, nodule, job.decoded_cache)
        specs.append(LesionSpec(mask=mask, index=nodule.nodule_index,
                                descriptors=lesion_descriptors(nodule,
                                                               appearance=job.appearance),
                                shape_field=donor_shape(job.data_root, nodule,
                                                        job.decoded_cache),
                                shape_from_source=uses_source_shape(nodule),
                                texture_quantiles_hu=() if texture is None
                                else texture.quantiles_hu))
    return specs


def render_case(job: RenderJob) -> CaseOutcome:
    """Render one case (skipped when finished for the same inputs)."""
    record = read_record(job.case_dir / INSERT_JSON, InsertRecord)
    uid = record.case_uid
    if not record.done:
        return CaseOutcome(uid, "skipped", reason=f"insertion status {record.status!r}")
    root, host = DataRoot(job.data_root), record.host.model_dump(exclude_unset=True)
    backend_name = resolve_backend(job.backend, host, root)
    acquisition, facts = host_acquisition(root, host), host_facts(root, host)
    seed = int_seed(record.seed, uid, "render")
    z_spread = host_z_spread(root, host) if backend_name == "host-ct" else None
    digest = _inputs_digest(job, record, backend_name, seed=seed, acquisition=acquisition,
                            facts=facts, z_spread=z_spread)
    old = _previous_render(job.case_dir)
    if old is not None and old.inputs_sha256 == digest and _outputs_intact(job.case_dir, old):
        return CaseOutcome(uid, "skipped", result=old.brief)
    start = time.perf_counter()
    labels_path = job.case_dir / _labels_name(record)
    labels = read_volume(labels_path)
    lesions = _load_lesions(job, record, labels)
    host_ct = read_host_ct(root, host, labels, labels_path,  # read once per case
                           cache=job.decoded_cache)
    backend = make_backend(backend_name, root=root, host=host, labels=labels, host_ct=host_ct,
                           facts=facts)
    result = backend.render(labels=labels.array, spacing_mm=labels.spacing_mm, lesions=lesions,
                            acquisition=acquisition, seed=seed)
    render_s = time.perf_counter() - start
    outputs = {CT_FILE: volume_bytes(Volume(result.hu, labels.affine), kind=VolumeKind.CT)}
    fidelity = case_fidelity(result=result, labels=labels, lesions=lesions, host_ct=host_ct,
                             acquisition=acquisition)
    lesion_rows = _lesion_rows(record, lesions, fidelity)
    title = f"{uid} · {backend_name} · " + (lesion_rows[0]["description"] if lesion_rows
                                           else "no lesion")
    outputs[QC_FILE] = qc_png(result.hu, [s.mask for s in lesions],
                              spacing_mm=labels.spacing_mm, title=title)
    for name, data in outputs.items():  # encoded once: written and hashed from memory
        write_bytes_atomic(job.case_dir / name, data)
    brief = {"case_uid": uid, "backend": backend_name, **fidelity["summary"]}
    backend_qc = {k: v for k, v in result.qc.items() if k != "seconds"}
    write_json({"render_s": round(render_s, 3), "backend_s": result.qc.get("seconds"),
                "total_s": round(time.perf_counter() - start, 3)},
               CaseFiles(job.case_dir).render_timing)
    write_record(RenderRecord.model_validate({
        "schema_version": RENDER_SCHEMA_VERSION, "case_uid": uid, "trial": record.trial,
        "status": "done", "inputs_sha256": digest, "backend": backend_name, "seed": seed,
        "global_seed": record.seed, "appearance_override": job.appearance,
        "appearance_override_size_ignored_mm": stated_diameter_mm(job.appearance),
        "host_facts": facts.to_dict(),
        "acquisition": acquisition.to_dict(), "ct_file": CT_FILE, "qc_file": QC_FILE,
        "ct_z_range_mm": _z_range_mm(labels), "ct_is_slab": record.host.slab_z_voxels is not None,
        "lesions": lesion_rows, "backend_qc": backend_qc, "fidelity": fidelity,
        "brief": brief,
        "outputs": {name: {"bytes": len(data), "sha256": hashlib.sha256(data).hexdigest()}
                    for name, data in outputs.items()},
    }), job.case_dir / RENDER_JSON)
    return CaseOutcome(uid, "done", result=brief)


def _z_range_mm(volume: Volume) -> tuple[float, float]:
    """World z (mm) of the first and last axial slice centres of ``volume``."""
    first = volume.voxel_to_world(np.zeros(3))
    last = volume.voxel_to_world(np.array([0.0, 0.0, volume.shape[2] - 1.0]))
    return round(float(first[2]), 3), round(float(last[2]), 3)


def _previous_render(case_dir: Path) -> RenderRecord | None:
    """The case's earlier ``render.json`` when it and ``ct.nii.gz`` exist and it is in a
    schema this version reads (an older record is not trusted: the case is rendered again)."""
    files = CaseFiles(case_dir)
    if not files.render_json.is_file() or not files.ct.is_file():
        return None
    try:
        return parse_record(read_json(files.render_json), RenderRecord, where=files.render_json)
    except InputError:
        return None


def _outputs_intact(case_dir: Path, record: RenderRecord) -> bool:
    """Whether every output listed in ``render.json`` has its recorded size and hash."""
    outputs = record.outputs
    return {CT_FILE, QC_FILE} <= outputs.keys() and all(
        matches_record(case_dir / name, entry.model_dump()) for name, entry in outputs.items())


def _lesion_rows(record: InsertRecord, lesions: list[LesionSpec],
                 fidelity: dict[str, Any]) -> list[dict[str, Any]]:
    stats = {row["index"]: row for row in fidelity.get("lesions", [])}
    rows = []
    for nodule, spec in zip(record.nodules, lesions, strict=True):
        diameter = nodule.realised.equivalent_diameter_mm
        rows.append({"nodule_index": spec.index, "donor_uid": nodule.donor_uid,
                     "descriptors": spec.descriptors.to_dict(),
                     "description": lesion_sentence(spec.descriptors, diameter_mm=diameter),
                     "appearance_text": nodule.appearance,
                     "shape_source": SOURCE_SHAPE if spec.shape_from_source
                     else DONOR_MASK if spec.shape_field is not None else HOST_MASK,
                     "fidelity": stats.get(spec.index, {})})
    return rows
