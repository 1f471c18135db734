"""Per-host work of the world build: draw, place natives, profile, write. One host at a time.

Each function writes the host's files atomically and, last, a record under ``.build/``;
a host whose record exists is not rebuilt.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from lesiontrials.donors import crop_volume
from lesiontrials.errors import InputError
from lesiontrials.geometry import NoduleMask, bounding_box
from lesiontrials.io import (
    Volume,
    VolumeKind,
    read_csv_table,
    read_volume,
    read_volume_header,
    write_bytes_atomic,
    write_csv,
    write_volume,
)
from lesiontrials.measurements import profile_nodules
from lesiontrials.paths import DataRoot
from lesiontrials.world.natives import DonorShape, place_native_nodules
from lesiontrials.world.phantom import generate_phantom
from lesiontrials.world.sources import REAL_SOURCE, HostPlan

if TYPE_CHECKING:
    from lesiontrials.world.realct import RealExample


def _record(root: Path, dataset: str, ct_id: str) -> Path:
    return root / ".build" / dataset / f"{ct_id}.csv"


def _empty_profiles() -> pd.DataFrame:
    from lesiontrials.measurements.schema import EXTRA_COLUMNS, PROFILE_COLUMNS

    return pd.DataFrame(columns=["nodule_id", *PROFILE_COLUMNS, *EXTRA_COLUMNS])


def build_phantom_host(plan: HostPlan, donors: list[DonorShape],
                       attributes: dict[str, dict[str, Any]], root_path: Path) -> pd.DataFrame:
    """Draw one phantom host, place its native nodules, write seg + masks + profiles."""
    record = _record(root_path, plan.dataset, plan.ct_id)
    root = DataRoot(root_path)
    if record.is_file():
        _check_finished_grid(root.refined_seg(plan.dataset, plan.ct_id), plan)
        return _read_record(record)
    volume = generate_phantom(plan.params, shape=plan.shape, spacing_mm=plan.spacing_mm)
    rng = np.random.default_rng([*plan.seed, 1])
    placed = place_native_nodules(volume.array, plan.spacing_mm, donors, rng)
    write_volume(root.refined_seg(plan.dataset, plan.ct_id), volume, kind=VolumeKind.LABELS)
    ids = [f"{plan.ct_id}_n{k + 1}" for k in range(len(placed))]
    for annotation_id, (_, _, nodule) in zip(ids, placed, strict=True):
        write_volume(root.nodule_seg(plan.dataset, annotation_id),
                     crop_volume(nodule, volume.affine), kind=VolumeKind.MASK)
    if placed:
        frame = profile_nodules(volume, [n for _, _, n in placed], nodule_ids=ids,
                                ct_path=f"{plan.dataset}/{plan.ct_id}.nii.gz",
                                source=str(root.refined_seg(plan.dataset, plan.ct_id)))
        extra = pd.DataFrame([attributes[d.donor_uid] for d, _, _ in placed])
        frame = pd.concat([frame, extra], axis=1)
    else:
        frame = _empty_profiles()
    frame.insert(0, "PatientID", plan.patient_id)
    frame.insert(1, "AnnotationID", ids)
    frame = frame.drop(columns=["nodule_id"])
    write_csv(frame, record)
    return _read_record(record)  # as a resumed build reads it: same types, same bytes


def _check_finished_grid(seg_path: Path, plan: HostPlan) -> None:
    """A finished host is never redrawn: one drawn on another grid (a folder begun by an
    older version, e.g. 1 mm SCREEN slices before 1.25 mm) is an error, not a silent mix."""
    shape, affine = read_volume_header(seg_path)
    spacing = np.linalg.norm(affine[:3, :3], axis=0)
    if shape != plan.shape or not np.allclose(spacing, plan.spacing_mm, atol=1e-4):
        raise InputError(
            f"this finished host is {shape} at {tuple(round(float(s), 4) for s in spacing)} "
            f"mm, but this version draws it {plan.shape} at {plan.spacing_mm} mm",
            path=seg_path, fix="build the world into a new folder, or remove this one")


def _read_record(record: Path) -> pd.DataFrame:
    """A host's ``.build`` record. Fresh and resumed builds both use this reading, so a
    value written as ``1`` comes back the same way in both (never ``1`` vs ``1.0``)."""
    return read_csv_table(record, dtype={"AnnotationID": "string", "PatientID": "string"})


@dataclass(frozen=True)
class RealHost:
    """One real host's rows of the REALCT tables (picklable: built on a worker)."""

    profiles: pd.DataFrame
    host: dict[str, Any]
    acquisition: dict[str, Any]


def build_real_hosts(root: DataRoot, *, cache_dir: Path) -> list[pd.DataFrame]:
    """The packaged real chest CTs: raw CT, derived host labels, lesion masks, profiles.

    A scan without a lesion annotation is a host with no native nodule (no profile row)."""
    from lesiontrials.world.realct import REAL_EXAMPLE_NAMES

    hosts = [build_real_host(name, root.root, cache_dir) for name in REAL_EXAMPLE_NAMES]
    write_real_tables(root, hosts)
    return [h.profiles for h in hosts]


def build_real_host(name: str, root_path: Path, cache_dir: Path) -> RealHost:
    """One packaged real chest CT (``name`` of ``REAL_EXAMPLE_NAMES``): raw CT, derived
    host labels, lesion mask, profile and QC picture (skipped when its record exists);
    returns its table rows. One host at a time, so the world build runs them on its pool."""
    from lesiontrials.world.realct import (
        host_facts,
        host_qc_png,
        host_z_spread,
        load_real_example,
        segment_host,
    )

    root = DataRoot(root_path)
    example = load_real_example(name, cache_dir)
    ct_id = f"{REAL_SOURCE}_{example.name}"
    record = _record(root.root, REAL_SOURCE, ct_id)
    lesion = None if example.lesion is None else example.lesion.array > 0
    if record.is_file():
        labels = read_volume(root.refined_seg(REAL_SOURCE, ct_id)).array
    else:
        host = segment_host(example.ct, lesion_mask=lesion, params=example.params)
        labels = host.labels.array
        write_volume(root.raw_ct(REAL_SOURCE, ct_id), example.ct, kind=VolumeKind.CT)
        write_volume(root.refined_seg(REAL_SOURCE, ct_id), host.labels, kind=VolumeKind.LABELS)
        frame = (_empty_profiles().drop(columns=["nodule_id"]) if lesion is None
                 else _real_lesion_profile(root, example, host.labels, lesion, ct_id))
        png = host_qc_png(example.ct, host, lesion_mask=lesion, title=ct_id)
        write_bytes_atomic(root.root / "qc" / f"{ct_id}.png", png)
        write_csv(frame, record)
    spacing = example.ct.spacing_mm
    row = {"ct_id": ct_id, "PatientID": f"{REAL_SOURCE}-{example.name}",
           "seg_path": root.relative(root.refined_seg(REAL_SOURCE, ct_id)),
           "shape": "x".join(map(str, example.ct.shape)),
           "spacing_mm": "x".join(f"{s:.4g}" for s in spacing),
           "n_native_nodules": 0 if lesion is None else 1, "source": example.source,
           "license": example.license, **host_facts(example.ct, labels, lesion=lesion)}
    acquisition = {"ct_id": ct_id, "slice_thickness_mm": example.slice_thickness_mm,
                   "pixel_spacing_mm": float(str(row["spacing_mm"]).split("x")[0]),
                   "kvp": None, "mas": None, "kernel": "unknown", "scanner": example.scanner,
                   **host_z_spread(example.ct, labels)}
    # Read back in both cases, so a resumed build writes the same bytes as a fresh one.
    return RealHost(_read_record(record), row, acquisition)


def write_real_tables(root: DataRoot, hosts: list[RealHost]) -> None:
    """The REALCT profiles, hosts and acquisition tables, hosts in the given order."""
    write_csv(pd.concat([h.profiles for h in hosts if len(h.profiles)], ignore_index=True),
              root.profiles_csv(REAL_SOURCE))
    write_csv(pd.DataFrame([h.host for h in hosts]), root.meta_csv(REAL_SOURCE, "hosts"))
    write_csv(pd.DataFrame([h.acquisition for h in hosts]),
              root.meta_csv(REAL_SOURCE, "acquisition"))


def _real_lesion_profile(root: DataRoot, example: RealExample, labels: Volume, lesion: np.ndarray,
                         ct_id: str) -> pd.DataFrame:
    """Write a real scan's annotated lesion as its native nodule ``{ct_id}_n1``; its profile."""
    box = bounding_box(lesion)
    if box is None:
        raise ValueError(f"{example.name}: the packaged lesion mask is empty")
    nodule = NoduleMask(lesion[box], (box[0].start, box[1].start, box[2].start))
    annotation_id = f"{ct_id}_n1"
    write_volume(root.nodule_seg(REAL_SOURCE, annotation_id),
                 crop_volume(nodule, example.ct.affine), kind=VolumeKind.MASK)
    frame = profile_nodules(labels, [nodule], nodule_ids=[annotation_id],
                            ct_path=f"{REAL_SOURCE}/{ct_id}.nii.gz", ct=example.ct)
    frame = frame.drop(columns=["nodule_id"])
    frame.insert(0, "PatientID", f"{REAL_SOURCE}-{example.name}")
    frame.insert(1, "AnnotationID", annotation_id)
    frame["label"] = ""  # malignancy is not stated for these examples
    return frame
