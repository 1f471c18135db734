"""Export a nodule selection (the search filters) as a CSV, a native-placement manifest or
a ``targeted`` trial spec (see :mod:`~lesiontrials.apps.exports`)."""

from __future__ import annotations

from typing import Annotated, Literal

import pandas as pd
from fastapi import APIRouter, Query, Request, Response

from lesiontrials.apps.params import Selection, state_of
from lesiontrials.apps.selection import selection_openapi
from lesiontrials.apps.state import ApiError, AppState

router = APIRouter(prefix="/api", tags=["export"])

TrialName = Annotated[str, Query(min_length=1, max_length=64,
                                 pattern=r"^[A-Za-z0-9][A-Za-z0-9_.\-]*$",
                                 description="trial name of the spec or manifest")]


def _attachment(body: str, *, media_type: str, filename: str,
                headers: dict[str, str] | None = None) -> Response:
    return Response(body, media_type=media_type, headers={
        "Content-Disposition": f'attachment; filename="{filename}"', **(headers or {})})


def _csv(state: AppState, selected: Selection) -> Response:
    from lesiontrials.apps.routes_nodules import SUMMARY_COLUMNS

    table = state.index.table.iloc[selected.rows][SUMMARY_COLUMNS]
    return _attachment(table.to_csv(index=False), media_type="text/csv",
                       filename="nodules.csv")


def _hosts(state: AppState) -> pd.DataFrame:
    """The host catalogue (as ``lesiontrials plan`` reads it), loaded once."""
    hosts: pd.DataFrame | None = state.__dict__.get("_hosts")
    if hosts is None:
        from lesiontrials.trials import load_host_catalogue

        hosts = state.__dict__["_hosts"] = load_host_catalogue(state.data_root, state.index)
    return hosts


def _manifest(state: AppState, selected: Selection, name: str) -> Response:
    from lesiontrials.apps.exports import native_manifest

    table = state.index.table.iloc[selected.rows]
    try:
        result = native_manifest(table, _hosts(state), name=name)
    except ValueError as error:
        raise ApiError(str(error), status=409) from error
    note = (f"{len(result.frame)} cases: each selected nodule alone in its own scan at its "
            f"native location; {len(result.skipped)} selected nodules without a scan of "
            "their own (donor-only) left out")
    return _attachment(result.frame.to_csv(index=False), media_type="text/csv",
                       filename=f"{name}_manifest.csv",
                       headers={"X-Export-Cases": str(len(result.frame)),
                                "X-Export-Skipped": str(len(result.skipped)),
                                "X-Export-Note": note})


def _spec(state: AppState, selected: Selection, name: str, n_cases: int | None) -> Response:
    from lesiontrials.apps.exports import NoDonorsError, selection_spec

    table = state.index.table.iloc[selected.rows]
    if table.empty:
        raise ApiError("the selection is empty: nothing to put in a spec", status=409)
    try:
        result = selection_spec(table, selected.filters, name=name, n_cases=n_cases)
    except NoDonorsError as error:
        raise ApiError(str(error), status=409) from error
    except ValueError as error:  # pydantic's ValidationError is a ValueError
        raise ApiError(f"the selection does not make a valid spec: {error}") from error
    return _attachment(result.yaml, media_type="application/yaml", filename=f"{name}.yaml",
                       headers={"X-Export-Cases": str(result.spec.n_cases),
                                "X-Export-Skipped": str(len(result.skipped))})


@router.get("/nodules/export", response_class=Response,
            openapi_extra=selection_openapi(),
            summary="Export the selection as CSV, a native-placement manifest or a spec")
def export_selection(
    request: Request,
    selected: Selection,
    format: Annotated[Literal["csv", "manifest", "spec"], Query(description=(
        "csv: the selected index rows; manifest: release-column manifest CSV, one case "
        "per selected nodule in its own scan (native placement); spec: YAML TrialSpec for "
        "the selected nodules as its donor_uids"))] = "csv",
    name: TrialName = "selection",
    n_cases: Annotated[int | None, Query(ge=1, le=1_000_000, description=(
        "spec: cases to plan (default: the selected donors)"))] = None,
) -> Response:
    """The same filters as search. ``manifest`` leaves out donor-only nodules (no scan of
    their own: headers ``X-Export-Cases``/``X-Export-Skipped``; 409 when none is left);
    ``spec`` lists the selected donors in ``donor_uids`` (nodules without a mask are left
    out: ``X-Export-Skipped``)."""
    state = state_of(request)
    if format == "manifest":
        return _manifest(state, selected, name)
    if format == "spec":
        return _spec(state, selected, name, n_cases)
    return _csv(state, selected)


@router.get("/nodules/export.csv", response_class=Response,
            openapi_extra=selection_openapi(),
            summary="Export the selection as a CSV (same as /api/nodules/export?format=csv)")
def export_csv(request: Request, selected: Selection) -> Response:
    """One row per selected nodule: uid, dataset, scan, placement columns and the LIDC
    characteristics."""
    return _csv(state_of(request), selected)
