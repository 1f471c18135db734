"""Options shared by every command (one definition each)."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from enum import StrEnum
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

if TYPE_CHECKING:
    from lesiontrials.execution import Executor
    from lesiontrials.settings import Settings

WorkspaceOption = Annotated[Path | None, typer.Option(
    "--workspace", "-w", help="Output directory (LESIONTRIALS_WORKSPACE).")]
DataRootOption = Annotated[Path | None, typer.Option(
    "--data-root", "-d", help="Data root in the release layout (LESIONTRIALS_DATA_ROOT).")]
WorkersOption = Annotated[int | None, typer.Option(
    "--workers", "-j", min=1,
    help="Worker processes (Ray: actors) for every stage (LESIONTRIALS_WORKERS). Unset: "
         "the workers setting shown by `lesiontrials config` (default: every core).")]


class WorldSize(StrEnum):
    """``world build`` and ``run``: demo (minutes, 2 cores) or full (every embedded scan;
    ``run`` then plans the designs at paper size)."""

    demo = "demo"
    full = "full"


class PhantomGridName(StrEnum):
    """``world build`` and ``run``: the phantom hosts' voxel grid — full (0.75 mm pixels,
    1.25 mm slices, screening-like; the default) or coarse (3×3×4 mm, the test fixtures')."""

    full = "full"
    coarse = "coarse"


GridOption = Annotated[PhantomGridName | None, typer.Option(
    "--grid", case_sensitive=False,
    help="Phantom host grid: full (0.75 mm pixels, 1.25 mm slices, screening-like; its "
         "cases keep 40 mm axial slabs) or coarse (3×3×4 mm, whole volumes; what the test "
         "fixtures use). Default: full.")]


SlabOption = Annotated[float | None, typer.Option(
    "--slab-mm",
    help="Cases on phantom hosts keep only an axial slab this long (mm; ≥ 40 with the "
         "default 14 mm margins) with their nodules at a uniform random offset: the "
         "screening-grid speed option. Slab cases feed the 2-D track and stay out of 3-D "
         "volume sets. Default: 40 on a world built on the full grid, else whole volumes; "
         "0: whole volumes.")]


class PlanSize(StrEnum):
    """``plan --design/--all``: the designs' demo or paper (published) case counts."""

    demo = "demo"
    paper = "paper"


class BackendName(StrEnum):
    """Render backends (same names as ``lesiontrials.render.backends.registry.BACKEND_NAMES``)."""

    auto = "auto"
    analytic = "analytic"
    physics = "physics"
    host_ct = "host-ct"
    maisi = "maisi"


class ExecutorName(StrEnum):
    """Where per-case stages run (docs/execution.md)."""

    local = "local"
    ray = "ray"
    slurm = "slurm"


ExecutorOption = Annotated[ExecutorName | None, typer.Option(
    "--executor", case_sensitive=False,
    help="Where per-case work runs: local, ray or slurm (LESIONTRIALS_EXECUTOR); "
         "see docs/execution.md.")]
RayAddressOption = Annotated[str | None, typer.Option(
    "--ray-address", help="Ray cluster to join, e.g. auto or ray://head:10001 "
                          "(LESIONTRIALS_RAY_ADDRESS; implies --executor ray).")]


@contextlib.contextmanager
def executor_scope(settings: Settings, executor: ExecutorName | str | None,
                   ray_address: str | None = None, *, workers: int | None = None
                   ) -> Iterator[Executor]:
    """Run every stage inside the block on the executor the command line asks for, and
    show its progress on the console.

    The executor is ``--executor`` / ``--ray-address`` when given, else the settings'
    (``LESIONTRIALS_EXECUTOR``, default local); it is built from ``settings`` (workspace
    for SLURM logs, SLURM and Ray settings, ``workers`` when given), made active with
    :func:`~lesiontrials.execution.use_executor` and closed afterwards. This is the only
    place that turns settings into an executor: library code is handed one (the block
    gets it, to pass to :mod:`lesiontrials.pipeline`).
    """
    if executor and executor not in set(ExecutorName):  # a caller's string, not the CLI
        raise typer.BadParameter(f"unknown executor {str(executor)!r}: use one of "
                                 f"{[e.value for e in ExecutorName]}", param_hint="--executor")
    name = ExecutorName(executor).value if executor else ("ray" if ray_address else None)
    if ray_address and name != "ray":
        raise typer.BadParameter(f"--ray-address is for the Ray executor, not {name!r}: "
                                 "drop it or use --executor ray", param_hint="--ray-address")
    from lesiontrials.cli.console import RichReporter
    from lesiontrials.execution import (
        executor_from_settings,
        stage_executor,
        use_executor,
        use_reporter,
    )

    update: dict[str, object] = {"executor": name} if name else {}
    if ray_address:
        update["ray_address"] = ray_address
    if workers is not None:
        update["workers"] = workers
    chosen = executor_from_settings(settings.model_copy(update=update))
    with stage_executor(chosen), use_executor(chosen), use_reporter(RichReporter()):
        yield chosen
