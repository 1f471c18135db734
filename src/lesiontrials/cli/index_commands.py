"""``lesiontrials index build|stats|query``."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table

from lesiontrials.cli.console import make_console
from lesiontrials.cli.options import DataRootOption, WorkspaceOption

app = typer.Typer(no_args_is_help=True, help="Build, summarise and query the nodule index.")
console = make_console()



def _settings(workspace: Path | None, data_root: Path | None):
    from lesiontrials.settings import load_settings

    return load_settings(workspace=workspace, data_root=data_root)


def _format(value: object) -> str:
    if isinstance(value, float):
        return "" if math.isnan(value) else f"{value:.3g}"
    return str(value)


def print_frame(frame, title: str) -> None:
    table = Table(title=title)
    for column in frame.columns:
        table.add_column(str(column), overflow="fold")
    for row in frame.itertuples(index=False):
        table.add_row(*[_format(v) for v in row])
    console.print(table)


@app.command()
def build(workspace: WorkspaceOption = None, data_root: DataRootOption = None) -> None:
    """Read every profile table of the data root into index/nodules.parquet."""
    from lesiontrials.index import build_index, dataset_stats, write_index
    from lesiontrials.paths import DataRoot, Workspace

    settings = _settings(workspace, data_root)
    root = DataRoot(settings.resolved_data_root)
    with console.status("building the nodule index"):
        result = build_index(root)
        path = write_index(result, Workspace(settings.workspace))
    stats = dataset_stats(result.table)
    print_frame(stats[["dataset", "nodules", "patients", "hosts", "labelled",
                       "malignant_rate", "median_diam_mm"]], "nodule index")
    console.print(f"[green]{len(result.table)} nodules[/] → {path}")
    from lesiontrials.index.stats import quality_table

    _print_out_of_range(quality_table(result.info))
    _compute_maps(Workspace(settings.workspace))


def _compute_maps(ws) -> None:
    """The web map's layouts (PCA and UMAP), computed once here rather than on a request."""
    from lesiontrials.index import NoduleIndex

    try:
        from lesiontrials.apps.nodule_map import compute_layouts
    except ImportError as error:  # the web extra is missing: nothing will read the map
        console.print(f"nodule map: skipped ({error}; pip install 'lesiontrials\\[web]')")
        return
    with console.status("computing the nodule map (PCA, UMAP)"):
        done = compute_layouts(NoduleIndex.load(ws.index_table), workspace=ws)
    for method, outcome in done.items():
        console.print(f"nodule map {method}: {outcome}")


@app.command("map")
def map_layouts(workspace: WorkspaceOption = None) -> None:
    """Compute and store the web map's layouts of the index (PCA with its neighbour graph,
    and UMAP when umap-learn is installed); `index build` does this too. The web service
    only reads them."""
    from lesiontrials.paths import Workspace

    _compute_maps(Workspace(_settings(workspace, None).workspace))


@app.command()
def stats(workspace: WorkspaceOption = None) -> None:
    """Per-dataset counts, label rate, size and lobe distributions."""
    from lesiontrials.index import NoduleIndex, dataset_stats
    from lesiontrials.paths import Workspace

    settings = _settings(workspace, None)
    index = NoduleIndex.load(Workspace(settings.workspace).index_table)
    frame = dataset_stats(index.table)
    print_frame(frame[[c for c in frame.columns if not c.startswith(("size ", "lobe "))]],
                "datasets")
    print_frame(frame[["dataset", *[c for c in frame.columns if c.startswith("size ")]]],
                "size distribution (fraction, mean diameter bins in mm)")
    print_frame(frame[["dataset", *[c for c in frame.columns if c.startswith("lobe ")]]],
                "lobe distribution (fraction)")
    _print_quality(Workspace(settings.workspace).index_info)


def _print_out_of_range(flags) -> None:
    """One line naming every out-of-range column (they change placement: see docs)."""
    flagged = flags[flags["out_of_range"] > 0]
    if not flagged.empty:
        console.print("[yellow]out-of-range columns (kept as read, treated as unknown; "
                      "docs/profiles.md says how each flag is used):[/] " + ", ".join(
                          f"{r.dataset}.{r.column} ({r.out_of_range})"
                          for r in flagged.itertuples()))


def _print_quality(info_path: Path) -> None:
    """The quality flags of index.json (docs/profiles.md: what each flag does)."""
    from lesiontrials.index.stats import quality_table
    from lesiontrials.io import read_json

    if not info_path.is_file():
        console.print(f"[yellow]no {info_path}: rebuild the index to see quality flags[/]")
        return
    flags = quality_table(read_json(info_path))
    if flags.empty:
        console.print("quality flags: none (no out-of-range, missing or derived columns)")
        return
    _print_out_of_range(flags)
    print_frame(flags, "quality flags per dataset and column (docs/profiles.md)")


@app.command()
def query(
    workspace: WorkspaceOption = None,
    dataset: Annotated[list[str] | None, typer.Option(help="Dataset name(s).")] = None,
    label: Annotated[int | None, typer.Option(help="1 malignant, 0 benign.")] = None,
    lobe: Annotated[list[str] | None, typer.Option(help="Lobe name or alias (RUL…).")] = None,
    zone: Annotated[str | None, typer.Option(help="upper, middle or lower.")] = None,
    side: Annotated[str | None, typer.Option(help="right or left.")] = None,
    min_diameter: Annotated[float | None, typer.Option(help="mm")] = None,
    max_diameter: Annotated[float | None, typer.Option(help="mm")] = None,
    max_pleural: Annotated[float | None, typer.Option(help="mm")] = None,
    limit: Annotated[int, typer.Option(help="Rows to show.")] = 20,
) -> None:
    """Filter the index and show matching nodules."""
    from lesiontrials.index import NoduleIndex
    from lesiontrials.paths import Workspace

    settings = _settings(workspace, None)
    q = NoduleIndex.load(Workspace(settings.workspace).index_table).query()
    if dataset:
        q = q.dataset(*dataset)
    if label is not None:
        q = q.label(label)
    if lobe:
        q = q.lobe(*lobe)
    if zone:
        q = q.zone(zone)
    if side:
        q = q.side(side)
    if min_diameter is not None or max_diameter is not None:
        q = q.diameter(min_diameter, max_diameter)
    if max_pleural is not None:
        q = q.pleural_distance(high_mm=max_pleural)
    columns = ["nodule_uid", "label", "lobe_name", "lung_zone", "nodule_mean_diam_mm",
               "pleural_distance_mm", "n_nodules_in_patient"]
    rows = q.frame(columns)
    print_frame(rows.head(limit), f"{len(rows)} matching nodules (showing {min(limit, len(rows))})")


@app.command()
def embed(
    workspace: WorkspaceOption = None,
    data_root: DataRootOption = None,
    force: Annotated[bool, typer.Option(help="Re-embed even when up to date.")] = False,
) -> None:
    """Embed a 64 mm CT crop around every nodule that has CT pixels with the packaged 3-D
    chest-CT encoder → index/embeddings.parquet (image similarity in `lesiontrials serve`).

    Crops come from the scan's raw CT, or, for phantom hosts without one, from an analytic
    render of the host label map with the scan's nodules drawn in; donor-only rows (no host
    scan, e.g. LIDC) have no CT pixels and are skipped (counted in the summary). Needs the
    encoder extra: pip install 'lesiontrials\\[encoder]'.
    """
    from rich.progress import track

    from lesiontrials.embeddings import (
        embed_nodules,
        embeddings_path,
        is_current,
        packaged_model,
        packaged_model_version,
        write_embeddings,
    )
    from lesiontrials.index import NoduleIndex
    from lesiontrials.index.crops import CropSpec
    from lesiontrials.io import sha256_file
    from lesiontrials.paths import DataRoot, Workspace

    settings = _settings(workspace, data_root)
    ws = Workspace(settings.workspace)
    try:
        model_version = packaged_model_version()
    except ImportError as error:
        raise typer.BadParameter(str(error)) from error
    target, spec = embeddings_path(ws), CropSpec()
    digest = sha256_file(ws.index_table)
    if not force and is_current(target, index_sha256=digest, model_version=model_version,
                                spec=spec, seed=settings.seed):
        console.print(f"embeddings are up to date (same index, model, crop, seed and "
                      f"renderer) → {target}")
        return
    index = NoduleIndex.load(ws.index_table)
    with console.status("loading the 3-D chest-CT encoder"):
        model = packaged_model(cache_dir=settings.cache_dir)
    result = embed_nodules(index.table, DataRoot(settings.resolved_data_root), model=model,
                           spec=spec, seed=settings.seed,
                           progress=lambda steps: track(steps, description="embedding"))
    write_embeddings(result.table, target, index_sha256=digest)
    _embed_summary(result, target)


def _embed_summary(result, target: Path) -> None:
    table = Table(title="image embeddings")
    table.add_column("nodules")
    table.add_column("count", justify="right")
    for source, count in sorted(result.table.metadata["sources"].items()):
        table.add_row(f"embedded from {source}", str(count))
    for reason, uids in sorted(result.skipped.items()):
        table.add_row(f"skipped: {reason}", str(len(uids)))
    console.print(table)
    meta = result.table.metadata
    console.print(f"model {meta['model']} {meta['model_version']}, "
                  f"{meta['embedding_dim']}-d, {result.seconds:.1f} s")
    console.print(f"[green]{len(result.table.uids)} nodules embedded[/] → {target}")
