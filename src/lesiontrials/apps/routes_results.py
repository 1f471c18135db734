"""Trial, case and report endpoints, and checked file serving from the workspace."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Annotated, Any, Literal, TypeVar

import numpy as np
from fastapi import APIRouter, Query, Request, Response
from fastapi.responses import FileResponse

from lesiontrials import anatomy
from lesiontrials.apps.params import Display, Limit, Offset, state_of
from lesiontrials.apps.state import (
    LRU,
    SYNTHETIC_BACKENDS,
    ApiError,
    AppState,
    page,
    records,
    safe_name,
)
from lesiontrials.errors import InputError
from lesiontrials.paths import CaseFiles
from lesiontrials.records import InsertRecord, RenderRecord, StageRecord
from lesiontrials.records.plan import PlanRecord

R = TypeVar("R", bound=StageRecord)

router = APIRouter(prefix="/api", tags=["trials, cases and reports"])
# reports carry their own inline <style>; they never need scripts
REPORT_CSP = "default-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data:; " \
             "script-src 'none'"
SERVED_SUFFIXES = {".png": "image/png", ".csv": "text/csv", ".json": "application/json",
                   ".html": "text/html", ".md": "text/markdown"}


JS_SAFE_INTEGER = 2**53 - 1
"""The largest integer a browser's JSON parser keeps exactly (``Number.MAX_SAFE_INTEGER``)."""


def exact_integers(value: Any) -> Any:
    """``value`` with every integer beyond :data:`JS_SAFE_INTEGER` in magnitude (64-bit
    seeds) as its decimal string, so a browser shows it exactly instead of rounded."""
    if isinstance(value, dict):
        return {k: exact_integers(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [exact_integers(v) for v in value]
    if isinstance(value, int) and not isinstance(value, bool) and abs(value) > JS_SAFE_INTEGER:
        return str(value)
    return value


def _record(state: AppState, path: Path, model: type[R]) -> R | None:
    """A stage record of the workspace (``None`` when the file does not exist); a record
    this version cannot read is a 409 naming the file (relative) and the stage to re-run."""
    from lesiontrials.io import parse_record, read_json

    if not path.is_file():
        return None
    relative = path.relative_to(state.workspace.root)
    try:
        return parse_record(read_json(path), model, where=relative)
    except InputError as exc:
        raise ApiError(str(exc), status=409) from exc


def _names(directory: Path) -> list[str]:
    return sorted(p.name for p in directory.iterdir() if p.is_dir()) if directory.is_dir() else []


def _listing(directory: Path, describe: Callable[[str], dict[str, Any]], *, offset: int,
             limit: int) -> dict[str, Any]:
    """A page of the sub-folders of ``directory``, each described by ``describe(name)``."""
    names = _names(directory)
    return page([describe(name) for name in names[offset:offset + limit]],
                offset=offset, limit=limit, total=len(names))


@router.get("/trials", summary="Planned trials with their plan audit")
def list_trials(request: Request, offset: Offset = 0, limit: Limit = 50) -> dict[str, Any]:
    """Every ``trials/{trial}`` with its plan audit and how many case folders exist."""
    state = state_of(request)
    workspace = state.workspace

    def describe(name: str) -> dict[str, Any]:
        plan = _record(state, workspace.plan_json(name), PlanRecord)
        return {"trial": name, "audit": plan.audit if plan is not None else {},
                "cases_on_disk": len(_names(workspace.cases_dir(name)))}

    return _listing(workspace.root / "trials", describe, offset=offset, limit=limit)


@router.get("/trials/{trial}", summary="One trial: plan.json and a manifest page")
def trial_detail(request: Request, trial: str, offset: Offset = 0,
                 limit: Limit = 50) -> dict[str, Any]:
    """``plan.json`` (spec, seed, audit, cohorts), a page of the manifest, the cases."""
    from lesiontrials.io import read_parquet

    state = state_of(request)
    directory = state.workspace.trial_dir(safe_name(trial, what="trial"))
    plan = _record(state, state.workspace.plan_json(trial), PlanRecord)
    if plan is None:
        raise ApiError(f"unknown trial {trial!r}", status=404)
    manifest = read_parquet(directory / "manifest.parquet")
    return {"trial": trial, "plan": exact_integers(plan.to_json_dict()),
            "manifest": page(exact_integers(records(manifest.iloc[offset:offset + limit])),
                             offset=offset, limit=limit, total=len(manifest)),
            "cases": _names(state.workspace.cases_dir(trial))}


def _case_dir(state: AppState, trial: str, case: str) -> Path:
    directory = state.workspace.case_dir(safe_name(trial, what="trial"),
                                         safe_name(case, what="case"))
    if not directory.is_dir():
        raise ApiError(f"unknown case {trial}/{case}", status=404)
    return directory


def case_is_synthetic(render: RenderRecord | None) -> bool:
    """A case CT drawn from labels alone (not pasted into a real host scan)."""
    return render is not None and render.backend in SYNTHETIC_BACKENDS


@router.get("/cases/{trial}/{case}", summary="One case: insert and render audits")
def case_detail(request: Request, trial: str, case: str) -> dict[str, Any]:
    """``insert.json`` and ``render.json``, the grid shape, and whether the CT may be
    shown (synthetic, or real pixels allowed)."""
    from lesiontrials.io import read_volume_header

    state = state_of(request)
    files = CaseFiles(_case_dir(state, trial, case))
    render = _record(state, files.render_json, RenderRecord)
    inserted = _record(state, files.insert_json, InsertRecord)
    ct, labels = files.ct, files.labels
    grid = ct if ct.is_file() else labels
    shape = list(read_volume_header(grid)[0]) if grid.is_file() else None
    synthetic = case_is_synthetic(render)
    return {"trial": trial, "case": case,
            "insert": exact_integers(inserted.to_json_dict()) if inserted is not None else {},
            "render": exact_integers(render.to_json_dict()) if render is not None else {},
            "shape": shape, "has_ct": ct.is_file(),
            "has_labels": labels.is_file(), "has_qc": files.qc.is_file(),
            "synthetic": synthetic, "ct_viewable": ct.is_file() and
            (synthetic or state.real_pixels)}


_MASKS = LRU(128 << 20)  # full-grid masks are tens of MB each: bound by bytes, not count


def _cached_mask(directory: str, labels_mtime_ns: int, insert_mtime_ns: int,
                 cache: Any = None) -> np.ndarray:
    key = (directory, labels_mtime_ns, insert_mtime_ns)
    mask = _MASKS.get(key)
    if mask is None:
        mask = _build_mask(directory, cache)
        _MASKS.put(key, mask)
    return mask


def _build_mask(directory: str, cache: Any = None) -> np.ndarray:
    from lesiontrials.apps.images import load_mask_crop, load_volume, mask_on_grid
    from lesiontrials.io import read_record

    files = CaseFiles(Path(directory))
    grid = load_volume(files.labels, cache=cache)
    mask = grid.array == anatomy.NODULE
    inserted = read_record(files.insert_json, InsertRecord) if files.insert_json.is_file() \
        else None
    for nodule in inserted.nodules if inserted is not None else []:
        path = files.folder / nodule.mask_file
        if path.is_file() and path.parent == files.folder:
            mask |= mask_on_grid(load_mask_crop(path, cache=cache), affine=grid.affine,
                                 shape=grid.shape)
    mask.setflags(write=False)
    return mask


def _nodule_mask(directory: Path, cache: Any = None) -> np.ndarray:
    """Every inserted nodule of a case on its label grid (cached per file versions)."""
    insert = directory / "insert.json"
    return _cached_mask(str(directory), (directory / "labels.nii.gz").stat().st_mtime_ns,
                        insert.stat().st_mtime_ns if insert.is_file() else 0, cache)


@router.get("/cases/{trial}/{case}/slice.png", response_class=Response,
            summary="Axial case slice with guidance overlay and window/level")
def case_slice(
    request: Request, trial: str, case: str, display: Display,
    z: Annotated[int | None, Query(ge=0, le=4096)] = None,
    source: Literal["ct", "labels"] = "ct",
) -> Response:
    """``z`` defaults to the slice with most nodule voxels. A CT pasted into a real host
    scan is refused under ``--no-real-pixels``."""
    from lesiontrials.apps.images import centre_slice, labels_present, load_volume, slice_png

    state = state_of(request)
    directory = _case_dir(state, trial, case)
    if not (directory / "labels.nii.gz").is_file():
        raise ApiError("case has no labels.nii.gz", status=404)
    if source == "ct":
        if not (directory / "ct.nii.gz").is_file():
            raise ApiError("case has no rendered ct.nii.gz", status=404)
        if not case_is_synthetic(_record(state, CaseFiles(directory).render_json,
                                         RenderRecord)):
            state.require_real_pixels()
    # PNGs cached per file versions and display settings
    stamps = tuple(p.stat().st_mtime_ns if p.is_file() else 0 for p in (
        directory / "labels.nii.gz", directory / "ct.nii.gz", directory / "insert.json"))
    key = ("case_slice", str(directory), stamps, z, source, display)
    cached = state.image_cache.get(key)
    if cached is None:
        mask = _nodule_mask(directory, state.decoded_cache)
        volume = load_volume(directory / ("ct.nii.gz" if source == "ct" else "labels.nii.gz"),
                             cache=state.decoded_cache)
        chosen = centre_slice(mask) if z is None else z
        if chosen >= volume.shape[2]:
            raise ApiError(f"z must be below {volume.shape[2]}")
        shown = (",".join(map(str, labels_present(volume.array[:, :, chosen])))
                 if source == "labels" else "")
        cached = (slice_png(volume.array, z=chosen, window=display.window(source), mask=mask,
                            overlay=display.overlay, zoom=display.zoom), chosen, shown)
        state.image_cache.put(key, cached)
    png, chosen, shown = cached
    headers = {"X-Slice": str(chosen)} | ({"X-Labels": shown} if shown else {})
    return Response(png, media_type="image/png", headers=headers)


@router.get("/cases/{trial}/{case}/volume/{kind}.nii.gz", response_class=Response,
            summary="A case volume for the 3-D viewer (ct, labels or nodules mask)")
def case_volume(request: Request, trial: str, case: str,
                kind: Literal["ct", "labels", "nodules"]) -> Response:
    """``ct`` obeys ``--no-real-pixels`` like the slices; ``nodules`` is the union of the
    inserted nodule masks on the label grid."""
    from lesiontrials.apps.images import load_volume, nifti_gz_bytes

    state = state_of(request)
    directory = _case_dir(state, trial, case)
    name = "ct.nii.gz" if kind == "ct" else "labels.nii.gz"
    if not (directory / name).is_file():
        raise ApiError(f"case has no {name}", status=404)
    if kind == "ct" and not case_is_synthetic(_record(state, CaseFiles(directory).render_json,
                                                      RenderRecord)):
        state.require_real_pixels()
    if kind == "nodules":
        grid = load_volume(directory / "labels.nii.gz", cache=state.decoded_cache)
        body = nifti_gz_bytes(_nodule_mask(directory, state.decoded_cache), affine=grid.affine)
        return Response(body, media_type="application/gzip")
    return FileResponse(directory / name, media_type="application/gzip")


@router.get("/reports", summary="Reports in the workspace")
def list_reports(request: Request, offset: Offset = 0, limit: Limit = 50) -> dict[str, Any]:
    """Every ``reports/{name}`` with its CSV tables and PNG figures."""
    workspace = state_of(request).workspace

    def describe(name: str) -> dict[str, Any]:
        directory = workspace.report_dir(name)
        return {"name": name, "has_html": (directory / "report.html").is_file(),
                "tables": sorted(p.name for p in (directory / "tables").glob("*.csv")),
                "figures": sorted(p.name for p in (directory / "figures").glob("*.png"))}

    return _listing(workspace.root / "reports", describe, offset=offset, limit=limit)


@router.get("/reports/{name}/tables/{table}", summary="A report table as JSON rows")
def report_table(request: Request, name: str, table: str, offset: Offset = 0,
                 limit: Limit = 100) -> dict[str, Any]:
    """A page of ``reports/{name}/tables/{table}.csv`` with its column names."""
    from lesiontrials.io import read_csv_table

    state = state_of(request)
    directory = state.workspace.report_dir(safe_name(name, what="report"))
    path = state.workspace_file(directory.relative_to(state.workspace.root) / "tables"
                                / f"{safe_name(table, what='table')}.csv")
    if not path.is_file():
        raise ApiError(f"unknown table {table!r}", status=404)
    frame = read_csv_table(path)
    return page(records(frame.iloc[offset:offset + limit]), offset=offset, limit=limit,
                total=len(frame)) | {"columns": [str(c) for c in frame.columns]}


@router.get("/files/{relative:path}", summary="A workspace file (reports, QC, tables)")
def workspace_file(request: Request, relative: str) -> FileResponse:
    """Only files inside the workspace with a served suffix; under ``--no-real-pixels``
    only report files (no case or evaluation images)."""
    state = state_of(request)
    path = state.workspace_file(relative)
    suffix = path.suffix.lower()
    if suffix not in SERVED_SUFFIXES:
        raise ApiError(f"files of type {suffix or 'none'!r} are not served", status=403)
    inner = path.relative_to(state.workspace.root.resolve())
    if not state.real_pixels and inner.parts[:1] != ("reports",) and suffix == ".png":
        state.require_real_pixels()
    if not path.is_file():
        raise ApiError("file not found", status=404)
    headers = {"Content-Security-Policy": REPORT_CSP} if suffix == ".html" else None
    return FileResponse(path, media_type=SERVED_SUFFIXES[suffix], headers=headers)
