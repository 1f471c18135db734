"""``lesiontrials nodules info|search|similar|match|detail|export``: the nodule index from
the command line.

Every command answers through the web service's own routes, called in-process (no
server, no network), so the CLI and the API (and the web app) select, rank and export
exactly the same nodules: one implementation, one set of filter names
(``lesiontrials nodules search --filter dataset=LIDC-IDRI --filter diameter_min=6``;
the names are those of ``/api/nodules/filters``).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Any

import typer

from lesiontrials.cli.console import make_console
from lesiontrials.cli.options import DataRootOption, WorkspaceOption

app = typer.Typer(no_args_is_help=True, help="Search, inspect, match and export nodules of "
                  "the index (the same code as the web API).")
console = make_console()

FilterOption = Annotated[list[str] | None, typer.Option(
    "--filter", "-f", help="NAME=VALUE, repeatable: the web API's filters (see `lesiontrials "
                           "nodules info`), e.g. dataset=LIDC-IDRI, diameter_min=6.")]
JsonOption = Annotated[bool, typer.Option("--json", help="Print the API's JSON answer.")]
SHOWN = ("nodule_uid", "dataset", "label", "lobe_name", "nodule_mean_diam_mm", "size_bin",
         "pleural_distance_mm", "host_available", "mask_available")


def _call(method: str, path: str, *, workspace: Path | None, data_root: Path | None,
          params: list[tuple[str, str]] | None = None, body: dict[str, Any] | None = None,
          filters: list[tuple[str, str]] | None = None) -> Any:
    """The API's answer to one request, served in-process; an error answer is raised as an
    :class:`~lesiontrials.errors.InputError` carrying the API's message. ``filters`` are
    checked against the API's filter names first (the API ignores unknown parameters; the
    CLI refuses them, so a typo never widens a selection silently)."""
    from starlette.testclient import TestClient

    from lesiontrials.cli.app_commands import make_app
    from lesiontrials.errors import InputError

    # in-process: the request never leaves this process, and the loopback name passes the
    # app's Host check like a local browser would
    with TestClient(make_app(workspace=workspace, data_root=data_root, no_real_pixels=False),
                    base_url="http://localhost") as client:
        if filters:
            _check_filter_names(client.get("/api/nodules/filters").json(), filters)
        query: list[tuple[str, str | int | float | bool | None]] = [*(filters or []),
                                                                     *(params or [])]
        response = client.request(method, f"/api{path}", params=query, json=body)
    if response.status_code >= 400:
        try:
            message = response.json().get("error", response.text)
        except ValueError:
            message = response.text
        raise InputError(f"nodules: {message}", fix="see `lesiontrials nodules --help` and "
                         "`lesiontrials nodules info` for the filter names and values")
    return response


def _check_filter_names(answer: dict[str, Any], filters: list[tuple[str, str]]) -> None:
    from lesiontrials.errors import InputError

    known = set()
    for item in answer["filters"]:
        known |= {item[k] for k in ("param", "min_param", "max_param") if k in item}
    unknown = sorted({name for name, _ in filters} - known)
    if unknown:
        raise InputError(f"unknown filter(s) {', '.join(unknown)}",
                         fix=f"use one of: {', '.join(sorted(known))}")


def _filters(filters: list[str] | None) -> list[tuple[str, str]]:
    pairs = []
    for item in filters or []:
        name, sep, value = item.partition("=")
        if not sep or not name:
            raise typer.BadParameter(f"{item!r}: write NAME=VALUE, e.g. dataset=LIDC-IDRI",
                                     param_hint="--filter")
        pairs.append((name.strip(), value.strip()))
    return pairs


def _print_items(items: list[dict[str, Any]], title: str, extra: tuple[str, ...] = ()) -> None:
    import pandas as pd

    from lesiontrials.cli.index_commands import print_frame

    frame = pd.DataFrame(items)
    columns = [c for c in (*SHOWN, *extra) if c in frame.columns]
    print_frame(frame[columns] if len(frame) else frame, title)


def _uid(uid: str) -> str:
    if uid.count("/") != 1:
        raise typer.BadParameter(f"{uid!r}: a nodule uid is DATASET/NAME, e.g. "
                                 "LIDC-IDRI/LIDC-IDRI-0001_n1", param_hint="NODULE_UID")
    return uid


@app.command()
def info(workspace: WorkspaceOption = None, data_root: DataRootOption = None,
         as_json: JsonOption = False) -> None:
    """Every filter with its choices (and counts) or its range: what search can select."""
    answer = _call("GET", "/nodules/filters", workspace=workspace, data_root=data_root).json()
    if as_json:
        console.print_json(json.dumps(answer))
        return
    for item in answer["filters"]:
        if item["kind"] == "choice":
            counts = item.get("counts", {})
            values = ", ".join(f"{c} ({counts.get(c, '?')})" for c in item["choices"])
            console.print(f"{item['param']}: {values}", markup=False, highlight=False)
        elif item["kind"] == "range":
            bounds = item.get("bounds") or ["–", "–"]
            console.print(f"{item['min_param']} / {item['max_param']}: data "
                          f"{bounds[0]} to {bounds[1]} ({item.get('missing', 0)} missing)",
                          markup=False, highlight=False)
        else:
            console.print(f"{item['param']}: true/false", markup=False, highlight=False)


@app.command()
def search(filters: FilterOption = None, limit: Annotated[int, typer.Option(
               min=1, max=1000, help="Rows to show.")] = 20,
           offset: Annotated[int, typer.Option(min=0, help="Rows to skip.")] = 0,
           workspace: WorkspaceOption = None, data_root: DataRootOption = None,
           as_json: JsonOption = False) -> None:
    """Nodules matching every filter, with the facet counts of the whole selection."""
    params = [("limit", str(limit)), ("offset", str(offset))]
    answer = _call("GET", "/nodules", workspace=workspace, data_root=data_root,
                   params=params, filters=_filters(filters)).json()
    if as_json:
        console.print_json(json.dumps(answer))
        return
    _print_items(answer["items"], f"{answer['total']} nodules match (showing "
                                  f"{len(answer['items'])} from {offset})")


@app.command()
def detail(nodule_uid: Annotated[str, typer.Argument(help="DATASET/NAME.")],
           workspace: WorkspaceOption = None, data_root: DataRootOption = None,
           as_json: JsonOption = False) -> None:
    """Every index column of one nodule, with its map neighbours."""
    answer = _call("GET", f"/nodules/{_uid(nodule_uid)}", workspace=workspace,
                   data_root=data_root).json()
    if as_json:
        console.print_json(json.dumps(answer))
        return
    for key, value in answer.items():
        console.print(f"{key}: {value}", markup=False, highlight=False)


@app.command()
def similar(nodule_uid: Annotated[str, typer.Argument(help="DATASET/NAME.")],
            k: Annotated[int, typer.Option(min=1, max=100, help="Neighbours.")] = 10,
            space: Annotated[str, typer.Option(
                help="features (the donor matcher's distance) or image (CT-crop "
                     "embeddings; `lesiontrials index embed` first).")] = "features",
            workspace: WorkspaceOption = None, data_root: DataRootOption = None,
            as_json: JsonOption = False) -> None:
    """The k nearest other nodules, nearest first."""
    answer = _call("GET", f"/nodules/{_uid(nodule_uid)}/similar", workspace=workspace,
                   data_root=data_root, params=[("k", str(k)), ("space", space)]).json()
    if as_json:
        console.print_json(json.dumps(answer))
        return
    _print_items(answer["items"], f"nearest to {nodule_uid} ({answer['space']})",
                 extra=("distance",))


@app.command()
def match(lobe: Annotated[str | None, typer.Option(help="Target lobe, e.g. RUL.")] = None,
          diameter_mm: Annotated[float | None, typer.Option(help="Target diameter (mm).")] = None,
          pleural_distance_mm: Annotated[float | None, typer.Option(
              help="Target distance to the pleura (mm).")] = None,
          dataset: Annotated[list[str] | None, typer.Option(
              help="Donor datasets (repeatable; default all).")] = None,
          k: Annotated[int, typer.Option(min=1, max=200, help="Donors to list.")] = 10,
          workspace: WorkspaceOption = None, data_root: DataRootOption = None,
          as_json: JsonOption = False) -> None:
    """Donors nearest to a target placement (the planner's matcher), nearest first."""
    body = {"lobe": lobe, "diameter_mm": diameter_mm,
            "pleural_distance_mm": pleural_distance_mm, "dataset": dataset or None, "k": k}
    answer = _call("POST", "/match", workspace=workspace, data_root=data_root,
                   body={key: v for key, v in body.items() if v is not None}).json()
    if as_json:
        console.print_json(json.dumps(answer))
        return
    _print_items(answer["items"], "donors nearest to the target", extra=("match_distance",))


@app.command()
def export(out: Annotated[Path, typer.Option("--out", "-o", help="File to write.")],
           filters: FilterOption = None,
           format: Annotated[str, typer.Option(
               help="csv (index rows), manifest (native-placement manifest CSV) or spec "
                    "(YAML trial spec with the selection as donor_uids).")] = "csv",
           name: Annotated[str, typer.Option(help="Trial name (manifest/spec).")] = "selection",
           workspace: WorkspaceOption = None, data_root: DataRootOption = None) -> None:
    """Write the selection as the web app's export does (same filters, same bytes)."""
    from lesiontrials.io import write_bytes_atomic

    response = _call("GET", "/nodules/export", workspace=workspace, data_root=data_root,
                     params=[("format", format), ("name", name)], filters=_filters(filters))
    write_bytes_atomic(out, response.content)
    console.print(f"{format} → {out}", markup=False, highlight=False)
