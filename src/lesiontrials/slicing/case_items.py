"""One case (or real scan) → its evaluation items: PNGs for every profile × condition and
one Parquet part with their rows. Runs in a worker; resumes by input digest.

A job lists its input files; the digest covers their bytes, the slice parameters and the
per-item metadata, so a changed input or parameter rebuilds the case and nothing else.
The CT is read and each needed axial slice encoded once per profile.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from lesiontrials import anatomy
from lesiontrials.donors import nodule_component
from lesiontrials.errors import InputError
from lesiontrials.execution import CaseOutcome
from lesiontrials.geometry import NoduleMask, mask_in_host_grid
from lesiontrials.io import (
    read_parquet,
    read_volume_header,
    sha256_file,
    spacing_from_affine,
    write_parquet,
    write_png,
)
from lesiontrials.io.decoded import DecodedCache, read_mask_crop_cached, read_volume_cached
from lesiontrials.seeding import rng_for
from lesiontrials.slicing.contract import CONDITIONS
from lesiontrials.slicing.overlays import decoy_region
from lesiontrials.slicing.slices import (
    SliceParams,
    centre_z,
    choose_spread,
    context_zs,
    encode_slices,
    hu_lung_mask,
    label_z_ranges,
    labels_in,
    lung_area_mm2,
    negative_candidates,
    plane_mask,
    render_item,
    slice_uid,
    z_range,
)
from lesiontrials.slicing.windowing import axial_display

SLICES_VERSION = 3  # 2: guided negatives carry a decoy overlay; 3: negatives keep ≥ edge_mm off
# the ends of every case volume (an axial slab or a whole scan)
PARTS_DIR = "parts"
#: decoy diameters (mm) when a set has no positive to copy sizes from: the task size bins'
#: range, spread evenly (recorded in every item's digest like any parameter)
DEFAULT_DECOY_DIAMETERS_MM: tuple[float, ...] = (4.0, 6.0, 8.0, 10.0, 14.0, 20.0, 28.0)
#: further candidate slices tried when a chosen negative slice has no room for its decoy
DECOY_SLICE_TRIES = 20


@dataclass(frozen=True)
class NoduleSource:
    """One nodule to slice through: its mask file, uid target id and item metadata.

    ``world_point_mm`` (RAS mm) is set when one mask file holds several nodules: the
    nodule is then :func:`lesiontrials.donors.nodule_component` of it; ``centroid_z``
    (voxel) is the realised centroid when known.
    """

    mask_path: Path
    target: str
    meta: dict[str, Any]
    centroid_z: float | None = None
    world_point_mm: tuple[float, float, float] | None = None


@dataclass(frozen=True)
class CaseItemsJob:
    """Everything one worker needs to build the items of one case or real scan."""

    set_name: str
    source: str  # 'synthetic' | 'real'
    case_key: str  # case_uid, or '{dataset}/{ct_id}' for real scans
    ct_path: Path
    set_dir: Path
    profiles: tuple[str, ...]
    params: SliceParams
    nodules: tuple[NoduleSource, ...] = ()
    lung_labels_path: Path | None = None  # label map with lobes (None: estimate from HU)
    #: nodules in the CT that are not targets (a real host's own): negatives keep away
    #: from them and positives list them in ``nodules_on_slice``
    natives: tuple[NoduleSource, ...] = ()
    n_negatives: int = 1
    base_meta: dict[str, Any] = field(default_factory=dict)
    #: decoded inputs shared with insert, render and the apps (io.decoded); not an input
    #: of the items (the same with or without it), so not part of the job's digest
    decoded_cache: DecodedCache | None = None
    extra_inputs: tuple[Path, ...] = ()  # hashed for resume (insert.json, render.json)
    seed: int = 0
    #: the set's positive diameters (mm), sorted: decoy sizes are drawn from them
    decoy_diameters_mm: tuple[float, ...] = ()

    @property
    def part_path(self) -> Path:
        return self.set_dir / PARTS_DIR / (self.case_key.replace("/", "__") + ".parquet")


@dataclass(frozen=True)
class _Target:
    uid: str
    kind: str
    z: int
    plane: np.ndarray | None  # the region the guidance marks (nodule, or a negative's decoy)
    meta: dict[str, Any]


def job_digest(job: CaseItemsJob) -> str:
    """SHA-256 over the input files' bytes, parameters, profiles and item metadata."""
    files = [job.ct_path, *(n.mask_path for n in job.nodules), *(n.mask_path for n in job.natives),
             *job.extra_inputs, *([job.lung_labels_path] if job.lung_labels_path else [])]
    payload = {
        "version": SLICES_VERSION, "params": job.params.to_dict(), "profiles": job.profiles,
        "seed": job.seed, "n_negatives": job.n_negatives, "base": job.base_meta,
        "decoys": list(job.decoy_diameters_mm),
        "nodules": [[n.target, n.meta, n.centroid_z, n.world_point_mm] for n in job.nodules],
        "natives": [[n.target, n.meta, n.world_point_mm] for n in job.natives],
        # by role order, not by path: the same inputs in another workspace give the same key
        "files": [sha256_file(p) if Path(p).is_file() else None for p in files],
    }
    text = json.dumps(payload, sort_keys=True, default=str)
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def build_case(job: CaseItemsJob) -> CaseOutcome:
    """Build (or reuse) one case's items; the result is its row count."""
    digest = job_digest(job)
    done = _finished_rows(job, digest)
    if done is not None:
        return CaseOutcome(job.case_key, "skipped", result=done)
    # a case's CT is read by this job alone: used from the cache, not added to it
    ct = read_volume_cached(job.ct_path, job.decoded_cache, store=job.source == "real")
    nodules = [_host_mask(src, ct.affine, ct.shape, job.decoded_cache) for src in job.nodules]
    lung, label_ranges = _lung_and_nodule_labels(job, ct.array, ct.affine, ct.shape)
    natives = [_host_mask(src, ct.affine, ct.shape, job.decoded_cache) for src in job.natives]
    excluded = [r for n in [*nodules, *natives] if (r := z_range(n)) is not None] + label_ranges
    present = _present(job, nodules, natives)
    targets = _positives(job, nodules, ct.shape, present) + _negatives(job, excluded, lung,
                                                                       ct.spacing_mm)
    rows = _render(job, ct.array, targets, ct.spacing_mm, digest)
    write_parquet(pd.DataFrame(rows), job.part_path)
    return CaseOutcome(job.case_key, "done", result=len(rows))


def overlay_diameters_mm(job: CaseItemsJob) -> list[float]:
    """Equivalent diameters (mm) of what the overlays mark on this job's positives: each
    nodule's in-plane mask on its centre slice, exactly as :func:`build_case` draws it.

    Reads only the CT header and the nodule masks."""
    shape, affine = read_volume_header(job.ct_path)
    spacing = spacing_from_affine(affine)
    out = []
    for src in job.nodules:
        nodule = _host_mask(src, affine, shape, job.decoded_cache)
        z = centre_z(nodule, centroid_z=src.centroid_z)
        area_mm2 = float(plane_mask(nodule, shape=shape, z=z).sum()) * spacing[0] * spacing[1]
        out.append(2.0 * float(np.sqrt(area_mm2 / np.pi)))
    return out


def _finished_rows(job: CaseItemsJob, digest: str) -> int | None:
    if not job.part_path.is_file():
        return None
    try:
        part = read_parquet(job.part_path)
    except InputError:
        return None
    if part.empty or set(part["inputs_sha256"]) != {digest}:
        return None
    for profile in job.profiles:
        rows = part[part["profile"] == profile]
        if rows.empty:
            return None
        paths = set(rows["image_path"]) | {p for v in rows["context_paths"]
                                           for p in json.loads(v)}
        if not all((job.set_dir / profile / p).is_file() for p in paths):
            return None
    return len(part)


def _host_mask(src: NoduleSource, affine: np.ndarray, shape: tuple[int, int, int],
               cache: DecodedCache | None) -> NoduleMask:
    """The nodule's mask on the CT grid, from the tight crop of its mask file (a mask on a
    whole CT grid is decoded and scanned once per workspace with the cache)."""
    crop = read_mask_crop_cached(src.mask_path, cache)
    mask, mask_affine = crop.mask, crop.crop_affine
    if mask.size == 0 and src.world_point_mm is None:
        raise InputError(f"nodule {src.target}: the mask is empty on the CT grid",
                         path=src.mask_path, fix="check the mask's affine against the CT")
    if src.world_point_mm is not None:  # a per-scan mask file: this nodule's component
        mask = nodule_component(mask, mask_affine, src.world_point_mm,
                                path=src.mask_path).mask
    nodule = mask_in_host_grid(mask, mask_affine, affine, shape)
    if nodule.voxel_count == 0:
        raise InputError(f"nodule {src.target}: the mask is empty on the CT grid",
                         path=src.mask_path, fix="check the mask's affine against the CT")
    return nodule


def _lung_and_nodule_labels(job: CaseItemsJob, hu: np.ndarray, affine: np.ndarray,
                            shape: tuple[int, int, int]
                            ) -> tuple[np.ndarray, list[tuple[int, int]]]:
    if job.lung_labels_path is None:
        return hu_lung_mask(hu), []
    labels = read_volume_cached(job.lung_labels_path, job.decoded_cache,
                                store=job.source == "real")
    if labels.shape != shape or not np.allclose(labels.affine, affine, atol=1e-3):
        raise InputError("the label map is not on the CT grid", path=job.lung_labels_path,
                         fix="write labels and CT on the same (host) grid")
    lung = labels_in(labels.array, anatomy.LUNG_INTERIOR_LABELS)
    return lung, label_z_ranges(labels.array, anatomy.NODULE)


def _present(job: CaseItemsJob, nodules: list[NoduleMask], natives: list[NoduleMask]
             ) -> list[tuple[dict[str, Any], NoduleMask]]:
    """Every nodule in the CT with what the truth says of it: uid, kind, lobe, size."""
    kind = "inserted" if job.source == "synthetic" else "native"
    out = []
    for sources, masks, what in ((job.nodules, nodules, kind), (job.natives, natives, "native")):
        for src, mask in zip(sources, masks, strict=True):
            out.append(({"uid": str(src.meta.get("donor_uid") or src.target), "kind": what,
                         "lobe": str(src.meta.get("truth_lobe") or ""),
                         "size": str(src.meta.get("truth_size") or "")}, mask))
    return out


def _positives(job: CaseItemsJob, nodules: list[NoduleMask], shape: tuple[int, int, int],
               present: list[tuple[dict[str, Any], NoduleMask]]) -> list[_Target]:
    """One positive per target nodule, on its centre slice. Truth rule: the slice lists
    every nodule on it (``nodules_on_slice``); when they disagree on the lobe (or the size
    bin), ``truth_lobe`` (``truth_size``) is '' — the question has no single answer there,
    so that task skips the slice (presence still applies)."""
    targets = []
    for src, nodule in zip(job.nodules, nodules, strict=True):
        z = centre_z(nodule, centroid_z=src.centroid_z)
        uid = slice_uid(source=job.source, case=job.case_key, target=src.target, z=z)
        on_slice = [entry for entry, mask in present if _on_slice(mask, z)]
        meta = {**src.meta, "nodules_on_slice": json.dumps(on_slice, sort_keys=True)}
        if len({e["lobe"] for e in on_slice}) > 1:
            meta["truth_lobe"] = ""
        if len({e["size"] for e in on_slice}) > 1:
            meta["truth_size"] = ""
        targets.append(_Target(uid, "positive", z, plane_mask(nodule, shape=shape, z=z), meta))
    return targets


def _on_slice(mask: NoduleMask, z: int) -> bool:
    k = z - mask.offset[2]
    return 0 <= k < mask.mask.shape[2] and bool(mask.mask[:, :, k].any())


def _negatives(job: CaseItemsJob, excluded: list[tuple[int, int]], lung: np.ndarray,
               spacing: tuple[float, float, float]) -> list[_Target]:
    """Nodule-free slices, each with a decoy region for the guided conditions.

    Slices are chosen as before (spread over the eligible range); a chosen slice whose lung
    has no room for its decoy gives way to the next eligible slice (in a seeded order)."""
    area = lung_area_mm2(lung, spacing_mm=spacing)
    candidates = negative_candidates(
        depth=lung.shape[2], excluded=excluded, lung_area=area, spacing_z_mm=spacing[2],
        margin_mm=job.params.margin_mm, min_lung_area_mm2=job.params.min_lung_area_mm2,
        edge_mm=job.params.edge_mm)
    rng = rng_for(job.seed, job.case_key, "eval-negatives")
    chosen = choose_spread(candidates, job.n_negatives, rng)
    spare = [int(z) for z in rng.permutation(candidates) if int(z) not in chosen]
    meta = {"nodule_index": -1, "donor_uid": "", "donor_dataset": "", "truth_presence": "absent",
            "truth_lobe": "", "truth_size": "", "diameter_mm": float("nan"), "label": None,
            "appearance": "", "nodules_on_slice": "[]"}
    targets: list[_Target] = []
    for z in chosen:
        for attempt in [z, *spare[:DECOY_SLICE_TRIES]]:
            uid = slice_uid(source=job.source, case=job.case_key, target="negative", z=attempt)
            decoy = _decoy(job, uid, axial_display(lung[:, :, attempt]), spacing)
            if decoy is not None:
                spare = [s for s in spare if s != attempt]
                targets.append(_Target(uid, "negative", attempt, decoy, meta))
                break
        else:
            raise InputError(f"case {job.case_key}: no negative slice has room in the lung for "
                             "a decoy overlay", path=job.ct_path,
                             fix="check the lung labels of this case (or lower "
                                 "negatives_per_case)")
    return sorted(targets, key=lambda t: t.z)


def _decoy(job: CaseItemsJob, uid: str, lung_plane: np.ndarray,
           spacing: tuple[float, float, float]) -> np.ndarray | None:
    """The decoy region of one negative slice (display orientation), seeded by its uid.

    Its diameter is drawn from the set's positive diameters, so the size of what an overlay
    marks says nothing about the answer."""
    rng = rng_for(job.seed, uid, "decoy")
    sizes = job.decoy_diameters_mm or DEFAULT_DECOY_DIAMETERS_MM
    diameter = float(sizes[int(rng.integers(len(sizes)))])
    # display rows run along y, columns along x
    return decoy_region(lung_plane, diameter_px=(diameter / spacing[1], diameter / spacing[0]),
                        rng=rng)


def _render(job: CaseItemsJob, hu: np.ndarray, targets: list[_Target],
            spacing: tuple[float, float, float], digest: str) -> list[dict[str, Any]]:
    depth = hu.shape[2]
    needed = [z for t in targets for z in context_zs(t.z, depth)]
    rows = []
    for profile in job.profiles:
        encoded = encode_slices(hu, needed, profile=profile)
        base = job.set_dir / profile
        for target in targets:
            rows.extend(_render_target(job, target, encoded, base, profile, depth,
                                       spacing, digest))
    return rows


def _render_target(job: CaseItemsJob, target: _Target, encoded: dict[int, np.ndarray], base: Path,
                   profile: str, depth: int, spacing: tuple[float, float, float],
                   digest: str) -> list[dict[str, Any]]:
    zs = context_zs(target.z, depth)
    item = render_item(encoded, zs=zs, plane=target.plane, conditions=CONDITIONS,
                       style=job.params.style)
    level, codec = job.params.png_level, job.params.png_codec
    below, above = f"images/{target.uid}_zm1.png", f"images/{target.uid}_zp1.png"
    plain = f"images/{target.uid}_plain.png"
    write_png(base / below, item.context[0], level=level, codec=codec)
    write_png(base / above, item.context[1], level=level, codec=codec)
    rows = []
    for condition in CONDITIONS:
        image, box = item.conditions[condition]
        rel = plain
        if condition != "plain" and target.plane is not None:
            rel = f"images/{target.uid}_{condition}.png"
        if condition == "plain" or rel != plain:
            write_png(base / rel, image, level=level, codec=codec)
        r0, c0, r1, c1 = box if box is not None else (-1, -1, -1, -1)
        rows.append({
            **job.base_meta, **target.meta,
            "slice_uid": target.uid, "set": job.set_name, "source": job.source,
            "kind": target.kind, "profile": profile, "condition": condition,
            "image_path": rel, "context_paths": json.dumps([below, rel, above]),
            "z_index": target.z, "bbox_x0": c0, "bbox_y0": r0, "bbox_x1": c1, "bbox_y1": r1,
            "pixel_spacing_mm": float(spacing[0]),
            "mask_area_px": (int(target.plane.sum()) if target.plane is not None
                             and target.kind == "positive" else 0),
            # audit only, never shown to a model: the negative's overlay marks a decoy
            "overlay_decoy": target.kind == "negative" and condition != "plain",
            "inputs_sha256": digest,
        })
    return rows
