"""``lesiontrials world build``: the embedded default world."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from lesiontrials.cli.console import make_console
from lesiontrials.cli.options import (
    ExecutorOption,
    GridOption,
    RayAddressOption,
    WorkersOption,
    WorldSize,
    executor_scope,
)

if TYPE_CHECKING:
    from lesiontrials.cli.options import ExecutorName
    from lesiontrials.paths import DataRoot
    from lesiontrials.pipeline import WorldRecord

app = typer.Typer(no_args_is_help=True, help="Build the embedded default world.")
console = make_console()


def run_world_build(*, out: Path | None, size: str, seed: int | None, grid: str | None = None,
                    workers: int | None, workspace: Path | None = None,
                    executor: ExecutorName | str | None = None,
                    ray_address: str | None = None) -> Path:
    """Build (or resume) the world with a progress display and a summary; return its root."""
    from lesiontrials import pipeline
    from lesiontrials.cli.console import RichReporter
    from lesiontrials.io.locks import stage_lock
    from lesiontrials.settings import load_settings

    settings = load_settings(workspace=workspace, data_root=out, seed=seed, workers=workers)
    root = settings.resolved_data_root
    with stage_lock(Path(root) / ".build", "world", on_takeover=console.print), \
            executor_scope(settings, executor, ray_address) as chosen:
        record = pipeline.world(settings, chosen, size=size, grid=grid, at=root,
                                reporter=RichReporter(console))
    print_world(record)
    return record.root


def print_world(record: WorldRecord) -> None:
    """The built world's datasets, nodule sizes and lobes, and where it is."""
    from lesiontrials.cli.index_commands import print_frame
    from lesiontrials.index import build_index, dataset_stats
    from lesiontrials.paths import DataRoot

    root, result = record.root, record.built
    if result is None:
        console.print(f"using the data root {root} (LESIONTRIALS_DATA_ROOT)")
        return
    stats = dataset_stats(build_index(DataRoot(root)).table)
    stats.insert(1, "host scans", [_host_scans(DataRoot(root), d) for d in stats["dataset"]])
    print_frame(stats[["dataset", "host scans", "nodules", "patients", "labelled",
                       "malignant_rate", "median_diam_mm"]], "world datasets")
    as_percent = stats.copy()
    shares = [c for c in stats.columns if c.startswith(("size ", "lobe "))]
    as_percent[shares] = (100 * stats[shares]).round(0).astype(int)
    print_frame(as_percent[["dataset", *[c for c in shares if c.startswith("size ")]]],
                "nodule sizes (% per mean-diameter bin, mm)")
    print_frame(as_percent[["dataset", *[c for c in shares if c.startswith("lobe ")]]],
                "nodule lobes (%)")
    agreement = result.info["datasets"]["LIDC"]["diameter_agreement_equivalent_vs_database"]
    console.print(
        f"LIDC donors: equivalent vs database diameter, median relative difference "
        f"{agreement['median']:+.3f} (IQR {agreement['q25']:+.3f}..{agreement['q75']:+.3f}, "
        f"n={agreement['n']})")
    console.print(f"[green]world ready[/] → {root} (QC pictures in {root / 'qc'})")


def _host_scans(root: DataRoot, dataset: str) -> int:
    """Host scans of a dataset (nodule-free ones included), from ``meta/{DS}_hosts.csv``."""
    from lesiontrials.io import read_csv_table

    if dataset == "ALL":
        return sum(_host_scans(root, d) for d in root.datasets())
    path = root.meta_csv(dataset, "hosts")
    return len(read_csv_table(path)) if path.is_file() else 0


@app.command()
def build(
    out: Annotated[Path | None, typer.Option("--out", "-o", help="Data root to write.")] = None,
    size: Annotated[WorldSize, typer.Option(
        case_sensitive=False, help="demo (minutes) or full (every embedded scan).")
    ] = WorldSize.demo,
    seed: Annotated[int | None, typer.Option(help="World seed.")] = None,
    grid: GridOption = None,
    workers: WorkersOption = None,
    executor: ExecutorOption = None,
    ray_address: RayAddressOption = None,
) -> None:
    """Build the world (LIDC donors, real CT hosts, thorax phantoms) in the release layout."""
    run_world_build(out=out, size=WorldSize(size).value, seed=seed,
                    grid=None if grid is None else grid.value, workers=workers,
                    executor=executor, ray_address=ray_address)
