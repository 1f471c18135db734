"""Evaluation sets: rendered trial cases or a real data root → ``eval/{set}/{profile}/``.

``build_eval_set`` reads ``cases/{trial}/{case}/`` (``insert.json`` realised truth,
``ct.nii.gz``, ``labels.nii.gz``, ``nodule_{k}.nii.gz``, ``render.json``) and the trial
manifest (design, nodule-free cases); ``build_real_set`` reads any data root with
``raw_ct/`` + ``masks/{DS}/nodule_seg/`` + profiles (truth from the profile values). Both
run the same per-case builder (:mod:`lesiontrials.slicing.case_items`) and write, per
profile, ``cases.parquet`` (columns :data:`~lesiontrials.slicing.contract.ITEM_COLUMNS`,
sorted by slice uid and condition) and ``images/*.png``, plus ``eval/{set}/set.json``.
Finished cases are reused when their inputs' digest is unchanged.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field, replace
from pathlib import Path

import numpy as np
import pandas as pd

from lesiontrials import anatomy
from lesiontrials.errors import InputError
from lesiontrials.execution import CaseOutcome, run_cases
from lesiontrials.io import (
    RUN_COUNTERS,
    read_parquet,
    read_rendered_case,
    write_json,
    write_parquet,
)
from lesiontrials.io.decoded import DecodedCache
from lesiontrials.paths import CaseFiles, DataRoot, Workspace
from lesiontrials.records.insert import InsertedNodule
from lesiontrials.slicing.case_items import (
    SLICES_VERSION,
    CaseItemsJob,
    NoduleSource,
    build_case,
    overlay_diameters_mm,
)
from lesiontrials.slicing.contract import CONDITIONS, ITEM_COLUMNS, PROFILES
from lesiontrials.slicing.slices import SliceParams

_STRING = ("slice_uid", "set", "source", "kind", "profile", "condition", "image_path",
           "context_paths", "trial", "design", "case_uid", "host_dataset", "host_ct_id",
           "donor_uid", "donor_dataset", "truth_presence", "truth_lobe", "truth_size",
           "appearance", "inputs_sha256", "nodules_on_slice")
_INT = ("nodule_index", "z_index", "bbox_x0", "bbox_y0", "bbox_x1", "bbox_y1", "mask_area_px")


@dataclass(frozen=True)
class SetSummary:
    """What a set build did: items per kind, cases done/reused/failed/left out, where."""

    name: str
    source: str
    positives: int
    negatives: int
    cases_done: int
    cases_reused: int
    failed: dict[str, str] = field(default_factory=dict)
    left_out: dict[str, str] = field(default_factory=dict)
    paths: dict[str, str] = field(default_factory=dict)


def build_eval_set(*, trial: str, workspace: Workspace, profiles: tuple[str, ...] = PROFILES,
                   params: SliceParams | None = None, workers: int = 1, seed: int = 0,
                   data_root: DataRoot | None = None, show_progress: bool = True,
                   decoded_cache: DecodedCache | None = None) -> SetSummary:
    """Build the evaluation set named ``trial`` from its inserted and rendered cases.

    ``data_root`` (optional) lets negatives avoid the native nodules of real host CTs;
    without it, cases on a real host CT contribute no negatives (and say so).
    ``decoded_cache``: read inputs through the workspace's decoded cache (the same items).
    """
    params = params or SliceParams()
    jobs, left_out = trial_jobs(trial=trial, workspace=workspace, profiles=profiles,
                                params=params, seed=seed, data_root=data_root)
    jobs = [replace(j, decoded_cache=decoded_cache) for j in jobs]
    return _run(jobs, left_out, name=trial, source="synthetic", workspace=workspace,
                profiles=profiles, params=params, workers=workers, show_progress=show_progress)


def build_real_set(*, data_root: DataRoot, workspace: Workspace, name: str = "real",
                   profiles: tuple[str, ...] = PROFILES, params: SliceParams | None = None,
                   workers: int = 1, seed: int = 0, datasets: list[str] | None = None,
                   show_progress: bool = True,
                   decoded_cache: DecodedCache | None = None) -> SetSummary:
    """Build a real evaluation set from every scan of ``data_root`` that has a raw CT and
    nodule masks (lobe and size truth from the profile values); ``decoded_cache`` as in
    :func:`build_eval_set`."""
    params = params or SliceParams()
    jobs, left_out = real_jobs(data_root=data_root, workspace=workspace, name=name,
                               profiles=profiles, params=params, seed=seed, datasets=datasets)
    jobs = [replace(j, decoded_cache=decoded_cache) for j in jobs]
    return _run(jobs, left_out, name=name, source="real", workspace=workspace,
                profiles=profiles, params=params, workers=workers, show_progress=show_progress)


def _run(jobs: list[CaseItemsJob], left_out: dict[str, str], *, name: str, source: str,
         workspace: Workspace, profiles: tuple[str, ...], params: SliceParams, workers: int,
         show_progress: bool) -> SetSummary:
    if not jobs:
        raise InputError(f"set {name!r}: no case can be sliced ({len(left_out)} left out: "
                         f"{sorted(set(left_out.values()))[:3]})",
                         fix="insert and render the trial first (or check the data root)")
    jobs = with_decoy_sizes(jobs, name=name, workers=workers, show_progress=show_progress)
    outcomes = run_cases(build_case, jobs, keys=[j.case_key for j in jobs], workers=workers,
                         description=f"slices {name}", show_progress=show_progress)
    finished = [j for j, o in zip(jobs, outcomes, strict=True) if o.status != "failed"]
    frame = assemble(finished)
    paths = {}
    for profile in profiles:
        path = workspace.eval_dir(name, profile) / "cases.parquet"
        write_parquet(frame[frame["profile"] == profile].reset_index(drop=True), path)
        paths[profile] = str(path.relative_to(workspace.root))  # the same in any workspace
    summary = _summary(name, source, frame, outcomes, left_out, paths)
    write_json({"version": SLICES_VERSION, "params": params.to_dict(),
                "summary": {k: v for k, v in summary.__dict__.items() if k not in RUN_COUNTERS}},
               workspace.eval_set_dir(name) / "set.json")
    return summary


def with_decoy_sizes(jobs: list[CaseItemsJob], *, name: str, workers: int = 1,
                     show_progress: bool = False) -> list[CaseItemsJob]:
    """Give every job the set's positive overlay diameters (sorted), the pool decoys draw from.

    Decoys on negatives must match the sizes of what the overlays mark on positives across
    the whole set, so the pool is the set's, not the case's: a changed positive rebuilds
    every case. A case whose sizes cannot be measured fails in the build that follows."""
    outcomes = run_cases(overlay_diameters_mm, jobs, keys=[j.case_key for j in jobs],
                         workers=workers, description=f"overlay sizes {name}",
                         show_progress=show_progress)
    sizes = sorted(d for o in outcomes if o.status == "done" for d in o.result)
    return [replace(j, decoy_diameters_mm=tuple(sizes)) for j in jobs]


def assemble(jobs: list[CaseItemsJob]) -> pd.DataFrame:
    """Concatenate the jobs' parts into one typed frame, sorted by slice uid and condition."""
    parts = [read_parquet(j.part_path) for j in jobs if j.part_path.is_file()]
    frame = pd.concat(parts, ignore_index=True) if parts else pd.DataFrame(columns=ITEM_COLUMNS)
    frame = frame.reindex(columns=list(ITEM_COLUMNS))
    for column in _STRING:
        frame[column] = frame[column].astype("string").fillna("")
    for column in _INT:
        frame[column] = frame[column].astype("int64")
    frame["diameter_mm"] = frame["diameter_mm"].astype("float64")
    frame["pixel_spacing_mm"] = frame["pixel_spacing_mm"].astype("float64")
    frame["overlay_decoy"] = frame["overlay_decoy"].fillna(False).astype(bool)
    frame["label"] = pd.array(frame["label"].where(frame["label"].notna(), None),
                              dtype="Int8")
    order = frame["condition"].map({c: i for i, c in enumerate(CONDITIONS)})
    frame = frame.assign(_order=order).sort_values(["profile", "slice_uid", "_order"],
                                                   kind="stable")
    return frame.drop(columns="_order").reset_index(drop=True)


def _summary(name: str, source: str, frame: pd.DataFrame, outcomes: list[CaseOutcome],
             left_out: dict[str, str], paths: dict[str, str]) -> SetSummary:
    slices = frame.drop_duplicates("slice_uid")
    return SetSummary(
        name=name, source=source,
        positives=int((slices["kind"] == "positive").sum()),
        negatives=int((slices["kind"] == "negative").sum()),
        cases_done=sum(o.status == "done" for o in outcomes),
        cases_reused=sum(o.status == "skipped" for o in outcomes),
        failed={o.key: o.reason for o in outcomes if o.status == "failed"},
        left_out=left_out, paths=paths)


def list_sets(workspace: Workspace) -> list[str]:
    """Names of the evaluation sets in the workspace (those with a ``set.json``)."""
    root = workspace.root / "eval"
    return sorted(p.parent.name for p in root.glob("*/set.json")) if root.is_dir() else []


# --------------------------------------------------------------------------- synthetic
def trial_jobs(*, trial: str, workspace: Workspace, profiles: tuple[str, ...],
               params: SliceParams, seed: int = 0, data_root: DataRoot | None = None
               ) -> tuple[list[CaseItemsJob], dict[str, str]]:
    """One job per finished (inserted and rendered) case; the rest with a reason."""
    cases_dir = workspace.cases_dir(trial)
    if not cases_dir.is_dir():
        raise InputError(f"trial {trial!r} has no cases", path=cases_dir,
                         fix=f"run `lesiontrials insert {trial}` and render it first")
    designs = _designs(workspace, trial)
    natives = _NativeLookup(workspace, data_root)
    jobs, left_out = [], {}
    for case_dir in sorted(p for p in cases_dir.iterdir() if p.is_dir()):
        job, reason = _trial_job(case_dir, trial=trial, design=designs.get(case_dir.name, ""),
                                 set_dir=workspace.eval_set_dir(trial), profiles=profiles,
                                 params=params, seed=seed, natives=natives)
        if job is None:
            left_out[case_dir.name] = reason
        else:
            jobs.append(job)
    return jobs, left_out


def _designs(workspace: Workspace, trial: str) -> dict[str, str]:
    path = workspace.trial_dir(trial) / "manifest.parquet"
    if not path.is_file():
        return {}
    manifest = read_parquet(path)
    first = manifest.drop_duplicates("case_uid")
    return dict(zip(first["case_uid"].astype(str), first["design"].astype(str), strict=True))


def _trial_job(case_dir: Path, *, trial: str, design: str, set_dir: Path,
               profiles: tuple[str, ...], params: SliceParams, seed: int,
               natives: _NativeLookup) -> tuple[CaseItemsJob | None, str]:
    files = CaseFiles(case_dir)
    found = read_rendered_case(files)
    if isinstance(found, str):
        return None, found
    record, render = found
    descriptions = {e.nodule_index: e.description for e in render.lesions}
    host = record.host
    nodules = tuple(_synthetic_nodule(case_dir, entry, descriptions) for entry in record.nodules)
    free = record.nodule_free or not nodules
    n_negatives = params.negatives_per_free_case if free else params.negatives_per_case
    in_image: tuple[NoduleSource, ...] = ()
    if render.on_host_ct and host.ct_path:
        # rendered on the host's real CT: its native nodules are in the image
        inserted = {e.donor_uid for e in record.nodules if e.planned.placement == "native"}
        found_natives = natives.sources(host.dataset, host.ct_id)
        if found_natives is None:
            n_negatives = 0
        else:  # a twin's own native is the inserted nodule itself
            in_image = tuple(n for n in found_natives
                             if str(n.meta["donor_uid"]) not in inserted)
    base = {"trial": trial, "design": design, "case_uid": record.case_uid,
            "host_dataset": host.dataset, "host_ct_id": host.ct_id}
    job = CaseItemsJob(set_name=trial, source="synthetic", case_key=record.case_uid,
                  ct_path=files.ct, set_dir=set_dir, profiles=profiles, params=params,
                  nodules=nodules, lung_labels_path=files.labels,
                  natives=in_image, n_negatives=n_negatives, base_meta=base,
                  extra_inputs=(files.insert_json, files.render_json), seed=seed)
    return job, ""


def _synthetic_nodule(case_dir: Path, entry: InsertedNodule, descriptions: dict[int, str]
                      ) -> NoduleSource:
    realised = entry.realised
    k = entry.nodule_index
    diameter = realised.equivalent_diameter_mm
    meta = {"nodule_index": k, "donor_uid": entry.donor_uid,
            "donor_dataset": entry.donor_dataset,
            "truth_presence": "present", "truth_lobe": realised.lobe or "",
            "truth_size": anatomy.task_size_bin(diameter), "diameter_mm": diameter,
            "label": entry.label, "appearance": descriptions.get(k) or entry.appearance}
    return NoduleSource(mask_path=case_dir / entry.mask_file, target=f"n{k}",
                        meta=meta, centroid_z=realised.centroid_voxel[2])


class _NativeLookup:
    """Native nodule masks of real host scans, from the workspace index (or the data root)."""

    def __init__(self, workspace: Workspace, data_root: DataRoot | None) -> None:
        self._workspace, self._root = workspace, data_root
        self._table: pd.DataFrame | None = None

    def sources(self, dataset: str, ct_id: str) -> tuple[NoduleSource, ...] | None:
        """The scan's native nodules with their index truth (None without a data root)."""
        if self._root is None:
            return None
        if self._table is None:
            from lesiontrials.index import NoduleIndex, build_index

            index_path = self._workspace.index_table
            self._table = (NoduleIndex.load(index_path).table if index_path.is_file()
                           else build_index(self._root).table)
        rows = self._table[(self._table["dataset"] == dataset) & (self._table["ct_id"] == ct_id)]
        return _real_nodules(self._root, _with_masks(self._root, rows))


# --------------------------------------------------------------------------- real
def real_jobs(*, data_root: DataRoot, workspace: Workspace, name: str,
              profiles: tuple[str, ...], params: SliceParams, seed: int = 0,
              datasets: list[str] | None = None) -> tuple[list[CaseItemsJob], dict[str, str]]:
    """One job per scan with a raw CT and at least one nodule mask."""
    from lesiontrials.index import build_index

    table = build_index(data_root, datasets=datasets).table
    jobs, left_out = [], {}
    for (dataset, ct_id), rows in table.groupby(["dataset", "ct_id"], sort=True):
        key = f"{dataset}/{ct_id}"
        ct_path = data_root.raw_ct_from_profile(str(rows["ct_path"].iloc[0]))
        if not ct_path.is_file():
            left_out[key] = "no raw CT"
            continue
        rows = _with_masks(data_root, rows)
        if rows.empty:
            left_out[key] = "no nodule mask"
            continue
        seg = data_root.refined_seg(str(dataset), str(ct_id))
        jobs.append(CaseItemsJob(
            set_name=name, source="real", case_key=key, ct_path=ct_path,
            set_dir=workspace.eval_set_dir(name), profiles=profiles, params=params,
            nodules=_real_nodules(data_root, rows),
            lung_labels_path=seg if seg.is_file() else None,
            n_negatives=params.negatives_per_case, seed=seed,
            base_meta={"trial": "", "design": "", "case_uid": key,
                       "host_dataset": str(dataset), "host_ct_id": str(ct_id)}))
    return jobs, left_out


def _with_masks(data_root: DataRoot, rows: pd.DataFrame) -> pd.DataFrame:
    """The index rows whose mask file exists (a boolean mask, so an empty selection keeps
    its columns: a list would select columns when it is empty)."""
    present = np.array([(data_root.root / p).is_file() for p in rows["mask_path"]], dtype=bool)
    return rows.loc[present]


def _real_nodules(data_root: DataRoot, rows: pd.DataFrame) -> tuple[NoduleSource, ...]:
    """Index rows of one scan as nodule sources (truth from the index; a per-scan mask
    file gives each nodule its component at the row's centre)."""
    rows = rows.sort_values("annotation_id", kind="stable")
    shared = rows["mask_path"].duplicated(keep=False) | (rows["mask_scope"] == "scan")
    out = []
    for k, (row, is_shared) in enumerate(zip(rows.itertuples(index=False), shared, strict=True)):
        diameter = float(row.nodule_mean_diam_mm)
        lobe = "" if pd.isna(row.lobe_name) else str(row.lobe_name)  # canonical: the index
        # build refuses unknown lobe names with file, row and column; "" = not located
        label = None if pd.isna(row.label) else int(row.label)
        meta = {"nodule_index": k, "donor_uid": str(row.nodule_uid),
                "donor_dataset": str(row.dataset), "truth_presence": "present",
                "truth_lobe": lobe, "diameter_mm": diameter, "label": label, "appearance": "",
                "truth_size": anatomy.task_size_bin(diameter) if math.isfinite(diameter) else ""}
        point = (float(row.coordX), float(row.coordY), float(row.coordZ)) if is_shared else None
        out.append(NoduleSource(mask_path=data_root.root / str(row.mask_path),
                                target=str(row.annotation_id), meta=meta, world_point_mm=point))
    return tuple(out)
