"""Volume evaluation sets: whole CT volumes + realised truth per nodule → ``volumes/{set}/``.

A volume set is what a 3-D model is scored on:

- ``scans.parquet`` (:data:`SCAN_COLUMNS`): one row per scan, canonical ``scan_uid`` (the
  case uid; ``{dataset}/{ct_id}`` for real scans), the CT path (relative to the workspace
  for rendered cases and for a data root inside the workspace, absolute for a data root
  elsewhere) and its SHA-256, ``nodule_free``;
- ``truth.parquet`` (:data:`TRUTH_COLUMNS`): one row per nodule, centre in RAS world mm
  (the CT affine's frame), equivalent diameter, lobe, task size bin, label (1 malignant,
  0 benign, empty unknown), appearance (attenuation class: ``solid``, ``part_solid``,
  ``ground_glass``; from the rendered description, else the donor's LIDC texture score),
  the description itself, design and stratum;
- ``findings.parquet`` (:data:`FINDING_COLUMNS`): lesions of the host scan itself that a
  synthetic case keeps in its image (a real host's own nodule), centre in world mm and
  equivalent diameter. They are not part of the trial's truth (no label, no design
  stratum) but they are in the image: detection scoring neither rewards nor penalises a
  candidate on one (LUNA16's "irrelevant findings"), and such a scan is not nodule-free
  for a presence question;
- ``volumes.json``: the frozen split — sorted scan uids, their SHA-256
  (:func:`~lesiontrials.io.uid_hash`), counts and what was left out and why.

Models never see the truth or the label map (which marks the nodule); the runner hands them
the CT only (:mod:`lesiontrials.scoring.volume_runner`).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from lesiontrials import anatomy
from lesiontrials.errors import InputError
from lesiontrials.io import (
    read_json,
    read_parquet,
    read_rendered_case,
    sha256_file,
    uid_hash,
    write_json,
    write_parquet,
)
from lesiontrials.lesion_text.parse import parse_description
from lesiontrials.paths import CaseFiles, DataRoot, Workspace
from lesiontrials.records.insert import InsertedNodule, InsertRecord

VOLUMES_VERSION = 2  # 2: findings.parquet (host lesions kept in synthetic cases' images)
SCAN_COLUMNS = ("scan_uid", "source", "trial", "design", "ct_path", "ct_sha256",
                "nodule_free", "n_nodules", "host_dataset", "host_ct_id")
TRUTH_COLUMNS = ("scan_uid", "nodule_id", "x_mm", "y_mm", "z_mm", "diameter_mm", "lobe",
                 "size_bin", "label", "appearance", "description", "design", "stratum",
                 "donor_uid")
FINDING_COLUMNS = ("scan_uid", "finding_id", "x_mm", "y_mm", "z_mm", "diameter_mm")


@dataclass(frozen=True)
class VolumeSet:
    """A loaded volume set; ``ct_file(scan_uid)`` resolves a scan's CT path."""

    name: str
    root: Path
    scans: pd.DataFrame
    truth: pd.DataFrame
    sha256: str
    left_out: dict[str, str] = field(default_factory=dict)
    findings: pd.DataFrame = field(
        default_factory=lambda: pd.DataFrame(columns=list(FINDING_COLUMNS)))

    def ct_file(self, scan_uid: str) -> Path:
        row = self.scans.loc[self.scans["scan_uid"] == scan_uid]
        if row.empty:
            raise InputError(f"volume set {self.name!r} has no scan {scan_uid!r}")
        path = Path(str(row["ct_path"].iloc[0]))
        if not path.is_absolute() and ".." in path.parts:
            raise InputError(f"volume set {self.name!r}: scan {scan_uid!r} has a relative CT "
                             f"path that leaves the workspace ({path})", column="ct_path",
                             fix="rebuild the volume set (`lesiontrials run` rebuilds it)")
        return path if path.is_absolute() else self.root / path


def _stored_path(path: Path, workspace: Workspace) -> str:
    """A scan's CT path as ``scans.parquet`` stores it: relative to the workspace when the
    file is inside it (the demo's world is ``{workspace}/world``: the same bytes in any
    copy of the workspace), else absolute (a data root elsewhere: the set depends on it,
    and its SHA-256 beside the path says which file that was)."""
    resolved, root = path.resolve(), workspace.root.resolve()
    return str(resolved.relative_to(root)) if resolved.is_relative_to(root) else str(resolved)


def _typed(scans: list[dict[str, Any]], truth: list[dict[str, Any]]
           ) -> tuple[pd.DataFrame, pd.DataFrame]:
    scan_frame = pd.DataFrame(scans, columns=list(SCAN_COLUMNS)).sort_values(
        "scan_uid", kind="stable").reset_index(drop=True)
    truth_frame = pd.DataFrame(truth, columns=list(TRUTH_COLUMNS)).sort_values(
        ["scan_uid", "nodule_id"], kind="stable").reset_index(drop=True)
    for column in ("x_mm", "y_mm", "z_mm", "diameter_mm"):
        truth_frame[column] = truth_frame[column].astype("float64")
    truth_frame["label"] = pd.array(truth_frame["label"].where(truth_frame["label"].notna(),
                                                               None), dtype="Int8")
    for column in set(TRUTH_COLUMNS) - {"x_mm", "y_mm", "z_mm", "diameter_mm", "label"}:
        truth_frame[column] = truth_frame[column].astype("string").fillna("")
    scan_frame["nodule_free"] = scan_frame["nodule_free"].astype(bool)
    scan_frame["n_nodules"] = scan_frame["n_nodules"].astype("int64")
    return scan_frame, truth_frame


def _typed_findings(findings: list[dict[str, Any]]) -> pd.DataFrame:
    frame = pd.DataFrame(findings, columns=list(FINDING_COLUMNS)).sort_values(
        ["scan_uid", "finding_id"], kind="stable").reset_index(drop=True)
    for column in ("x_mm", "y_mm", "z_mm", "diameter_mm"):
        frame[column] = frame[column].astype("float64")
    for column in ("scan_uid", "finding_id"):
        frame[column] = frame[column].astype("string")
    return frame


def _write(name: str, workspace: Workspace, scans: list[dict[str, Any]],
           truth: list[dict[str, Any]], left_out: dict[str, str], source: str,
           findings: list[dict[str, Any]] | None = None) -> VolumeSet:
    if not scans:
        raise InputError(f"volume set {name!r}: no scan can be used ({len(left_out)} left "
                         f"out: {sorted(set(left_out.values()))[:3]})",
                         fix="insert and render the trial first (or check the data root)")
    scan_frame, truth_frame = _typed(scans, truth)
    directory = workspace.volume_set_dir(name)
    write_parquet(scan_frame, directory / "scans.parquet")
    write_parquet(truth_frame, directory / "truth.parquet")
    finding_frame = _typed_findings(findings or [])
    write_parquet(finding_frame, directory / "findings.parquet")
    uids = scan_frame["scan_uid"].tolist()
    digest = uid_hash(uids)
    write_json({"name": name, "version": VOLUMES_VERSION, "source": source, "n_scans": len(uids),
                "n_nodules": len(truth_frame), "n_findings": len(finding_frame),
                "n_nodule_free": int(scan_frame["nodule_free"].sum()), "sha256": digest,
                "uids": uids, "left_out": left_out}, directory / "volumes.json")
    return VolumeSet(name=name, root=workspace.root, scans=scan_frame, truth=truth_frame,
                     sha256=digest, left_out=left_out, findings=finding_frame)


def load_volume_set(workspace: Workspace, name: str) -> VolumeSet:
    """Read a built volume set and check its frozen uid list against its hash."""
    directory = workspace.volume_set_dir(name)
    info_path = directory / "volumes.json"
    if not info_path.is_file():
        raise InputError(f"volume set {name!r} is not built", path=info_path,
                         fix=f"run `lesiontrials volumes build {name}`")
    info = read_json(info_path)
    if info.get("version") != VOLUMES_VERSION:
        raise InputError(f"volume set {name!r} was built by another version "
                         f"({info.get('version')}, this one reads {VOLUMES_VERSION})",
                         path=info_path, fix=f"rebuild with `lesiontrials volumes build {name}`")
    scans, truth = read_parquet(directory / "scans.parquet"), read_parquet(
        directory / "truth.parquet")
    if uid_hash(scans["scan_uid"].astype(str)) != info["sha256"] or \
            sorted(scans["scan_uid"].astype(str)) != list(info["uids"]):
        raise InputError("scans.parquet does not match the frozen uid list in volumes.json",
                         path=directory / "scans.parquet",
                         fix=f"rebuild with `lesiontrials volumes build {name}`")
    return VolumeSet(name=name, root=workspace.root, scans=scans, truth=truth,
                     sha256=str(info["sha256"]), left_out=dict(info.get("left_out", {})),
                     findings=read_parquet(directory / "findings.parquet"))


def list_volume_sets(workspace: Workspace) -> list[str]:
    root = workspace.root / "volumes"
    return sorted(p.parent.name for p in root.glob("*/volumes.json")) if root.is_dir() else []


# --------------------------------------------------------------------------- synthetic
def build_volume_set(*, trial: str, workspace: Workspace) -> VolumeSet:
    """The volume set of a rendered trial: every case whose insertion and rendering are done."""
    cases_dir = workspace.cases_dir(trial)
    if not cases_dir.is_dir():
        raise InputError(f"trial {trial!r} has no cases", path=cases_dir,
                         fix=f"run `lesiontrials insert {trial}` and render it first")
    strata, designs = _manifest_lookup(workspace, trial)
    scans, truth, findings, left_out = [], [], [], {}
    for case_dir in sorted(p for p in cases_dir.iterdir() if p.is_dir()):
        files = CaseFiles(case_dir)
        found = read_rendered_case(files)
        if isinstance(found, str):
            left_out[case_dir.name] = found
            continue
        record, render = found
        if render.ct_is_slab:
            left_out[case_dir.name] = ("its CT is an axial slab of its host: no nodule lies "
                                       "within the slab's margin of its ends, and false "
                                       "positives would be per slab, not per scan")
            continue
        uid = record.case_uid
        appearance = {e.nodule_index: e.description for e in render.lesions}
        nodules = record.nodules
        design = designs.get(uid, "")
        scans.append({"scan_uid": uid, "source": "synthetic", "trial": trial, "design": design,
                      "ct_path": str(files.ct.relative_to(workspace.root)),
                      "ct_sha256": sha256_file(files.ct),
                      "nodule_free": record.nodule_free or not nodules,
                      "n_nodules": len(nodules), "host_dataset": record.host.dataset,
                      "host_ct_id": record.host.ct_id})
        for entry in nodules:
            truth.append(_synthetic_truth(uid, entry, appearance, design,
                                          strata.get((uid, entry.nodule_index), "")))
        findings += _host_findings(uid, record)
    return _write(trial, workspace, scans, truth, left_out, "synthetic", findings)


def _host_findings(uid: str, record: InsertRecord) -> list[dict[str, Any]]:
    """The host's own lesions kept in the case's image, in world mm (the host affine; slab
    cases never reach here), with the diameter of a sphere of their voxel volume."""
    host = record.host
    if not record.host_natives:
        return []
    if host.affine is None or host.spacing_mm is None:
        raise InputError(f"case {uid}: insert.json keeps host lesions but not the host grid",
                         fix="re-run `lesiontrials insert` for the trial")
    affine = np.asarray(host.affine, dtype=float)
    voxel_ml = float(np.prod(host.spacing_mm))
    rows = []
    for native in record.host_natives:
        centre = affine[:3, :3] @ np.asarray(native.centroid_voxel, dtype=float) + affine[:3, 3]
        diameter = (6.0 * native.voxels * voxel_ml / math.pi) ** (1.0 / 3.0)
        rows.append({"scan_uid": uid, "finding_id": native.uid, "x_mm": float(centre[0]),
                     "y_mm": float(centre[1]), "z_mm": float(centre[2]),
                     "diameter_mm": float(diameter)})
    return rows


def _manifest_lookup(workspace: Workspace, trial: str
                     ) -> tuple[dict[tuple[str, int], str], dict[str, str]]:
    path = workspace.trial_dir(trial) / "manifest.parquet"
    if not path.is_file():
        return {}, {}
    manifest = read_parquet(path)
    strata = {}
    if {"nodule_index", "stratum"} <= set(manifest.columns):
        strata = {(str(u), int(k)): str(s) for u, k, s in
                  zip(manifest["case_uid"], manifest["nodule_index"],
                      manifest["stratum"].astype("string").fillna(""), strict=True)}
    designs = dict(zip(manifest["case_uid"].astype(str), manifest["design"].astype(str),
                       strict=True))
    return strata, designs


def _synthetic_truth(uid: str, entry: InsertedNodule, appearance: dict[int, str], design: str,
                     stratum: str) -> dict[str, Any]:
    """One nodule's truth row (RAS world mm: the realised centroid, which insertion
    computed through the host affine that the CT shares)."""
    realised = entry.realised
    k = entry.nodule_index
    x, y, z = realised.centroid_mm
    diameter = realised.equivalent_diameter_mm
    description = appearance.get(k) or entry.appearance
    return {"scan_uid": uid, "nodule_id": f"{uid}/n{k}", "x_mm": x, "y_mm": y, "z_mm": z,
            "diameter_mm": diameter, "lobe": realised.lobe or "",
            "size_bin": anatomy.task_size_bin(diameter), "label": entry.label,
            "appearance": _attenuation(description, entry.donor_characteristics),
            "description": description, "design": design, "stratum": stratum,
            "donor_uid": entry.donor_uid}


def _attenuation(description: str, characteristics: dict[str, Any] | None) -> str:
    """Attenuation class of the rendered nodule: what its description states, else the
    donor's LIDC texture score, else ""."""
    if description:
        stated = parse_description(description).overrides.attenuation
        if stated is not None:
            return str(stated)
    texture = (characteristics or {}).get("texture")
    if texture is not None and math.isfinite(float(texture)):
        return str(anatomy.texture_from_lidc(float(texture)))
    return ""


# --------------------------------------------------------------------------- real
def build_real_volume_set(*, data_root: DataRoot, workspace: Workspace, name: str = "real",
                          datasets: list[str] | None = None) -> VolumeSet:
    """The volume set of a data root: every scan with a raw CT, truth from the profiles
    (centre ``coordX/Y/Z`` in RAS world mm, ``nodule_mean_diam_mm``, ``lobe_name``)."""
    from lesiontrials.index import build_index

    table = build_index(data_root, datasets=datasets).table
    scans, truth, left_out = [], [], {}
    for (dataset, ct_id), rows in table.groupby(["dataset", "ct_id"], sort=True):
        uid = f"{dataset}/{ct_id}"
        ct_path = data_root.raw_ct_from_profile(str(rows["ct_path"].iloc[0]))
        if not ct_path.is_file():
            left_out[uid] = "no raw CT"
            continue
        scans.append({"scan_uid": uid, "source": "real", "trial": "", "design": "",
                      "ct_path": _stored_path(ct_path, workspace),
                      "ct_sha256": sha256_file(ct_path),
                      "nodule_free": False, "n_nodules": len(rows),
                      "host_dataset": str(dataset), "host_ct_id": str(ct_id)})
        for row in rows.sort_values("annotation_id", kind="stable").itertuples(index=False):
            diameter = float(row.nodule_mean_diam_mm)
            truth.append({"scan_uid": uid, "nodule_id": f"{uid}/{row.annotation_id}",
                          "x_mm": float(row.coordX), "y_mm": float(row.coordY),
                          "z_mm": float(row.coordZ), "diameter_mm": diameter,
                          "lobe": "" if pd.isna(row.lobe_name) else str(row.lobe_name),
                          "size_bin": anatomy.task_size_bin(diameter)
                          if math.isfinite(diameter) else "",
                          "label": None if pd.isna(row.label) else int(row.label),
                          "appearance": "", "description": "", "design": "",
                          "stratum": "",
                          "donor_uid": str(row.nodule_uid)})
    return _write(name, workspace, scans, truth, left_out, "real")
