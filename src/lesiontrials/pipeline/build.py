"""The stages that build a trial's data: world, index, plan, insert, render, slices."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from lesiontrials.errors import ConfigError, InputError, MissingPathError
from lesiontrials.execution import (
    Executor,
    ProgressReporter,
)
from lesiontrials.paths import DataRoot, Workspace

if TYPE_CHECKING:
    from lesiontrials.insert import InsertConfig
    from lesiontrials.settings import Settings
    from lesiontrials.slicing.sets import SetSummary
    from lesiontrials.trials import PlanContext

from lesiontrials.pipeline.base import (
    InfeasibleDesignsError,
    PlanRecord,
    StageRecord,
    WorldRecord,
    _decoded_cache,
    _scope,
)


def world(settings: Settings, executor: Executor | None = None, *, size: str = "demo",
          grid: str | None = None, at: Path | None = None,
          reporter: ProgressReporter | None = None) -> WorldRecord:
    """The data root the later stages read.

    With ``at``, the embedded world is built (or resumed) there at ``size`` (``demo`` or
    ``full``) on the phantom ``grid`` (default: the size's own; ``"full"`` is screening
    resolution, ``"coarse"`` 3×3×4 mm); else ``settings.data_root`` is used as it is when
    set, or the world is built under ``<workspace>/world``.
    """
    if at is None and settings.data_root is not None:
        if grid is not None:
            raise ConfigError(
                f"a phantom grid ({grid!r}) was asked for, but the data root "
                f"{settings.data_root} is set and is used as it is (its world keeps the grid "
                "it was built on). Fix: drop the grid option, or unset the data root so the "
                "embedded world is built (or resumed) on that grid")
        return WorldRecord(Path(settings.data_root), None)
    from lesiontrials.world.build import build_world

    root = Path(at) if at is not None else settings.resolved_data_root
    with _scope(settings, executor, reporter), _world_progress(reporter) as progress:
        built = build_world(root, size=size, seed=settings.seed, workers=settings.workers,
                            cache_dir=settings.cache_dir, grid=grid, progress=progress)
    return WorldRecord(root, built)


@contextlib.contextmanager
def _world_progress(reporter: ProgressReporter | None) -> Iterator[Any]:
    """``build_world``'s ``progress(stage, done, total)`` callback on ``reporter``."""
    if reporter is None:
        yield None
        return
    with contextlib.ExitStack() as stack:
        advances: dict[str, Any] = {}
        done_so_far: dict[str, int] = {}

        def progress(stage: str, done: int, total: int) -> None:
            if stage not in advances:
                advances[stage] = stack.enter_context(reporter.task(stage, total))
                done_so_far[stage] = 0
            advances[stage](done - done_so_far[stage])
            done_so_far[stage] = done

        yield progress


def build_index(settings: Settings, *, data_root: Path | None = None) -> Path:
    """Build the nodule index of the data root into the workspace; returns its path."""
    from lesiontrials.index import build_index as build
    from lesiontrials.index import write_index

    root = DataRoot(data_root or settings.resolved_data_root)
    return write_index(build(root), Workspace(settings.workspace))


def plan_context(settings: Settings) -> PlanContext:
    """What planning reads: the workspace's nodule index and the data root's hosts."""
    from lesiontrials.index import NoduleIndex
    from lesiontrials.trials import PlanContext, load_host_catalogue

    ws = Workspace(settings.workspace)
    if not ws.index_table.is_file():
        raise MissingPathError("no nodule index in the workspace", path=ws.index_table,
                               fix="run `lesiontrials index build` first")
    index = NoduleIndex.load(ws.index_table)
    root = DataRoot(settings.resolved_data_root)
    return PlanContext(index, load_host_catalogue(root, index), data_root=root.root)


def plan(settings: Settings, *, spec: Any = None, design: str | int | None = None,
         designs: Sequence[str | int] | None = None, size: str = "demo",
         strict: bool = False) -> PlanRecord:
    """Plan one trial spec (a :class:`~lesiontrials.trials.TrialSpec`, or a YAML/JSON path),
    one design (number or name), or with neither every feasible design (``size``: the
    designs' ``demo`` or ``paper`` case counts); write manifests and ``plan.json``.

    Planning every design writes ``trials/plan_all.json`` and raises when nothing could be
    planned, or with ``strict`` when any design was infeasible. ``designs`` (numbers or
    names) narrows "every design" to those (a smaller job: one study, or a quick check of
    the whole pipeline); ``plan_all.json`` then records which were asked for.
    """
    from lesiontrials.trials import load_spec, plan_design, plan_spec, write_plan

    ctx, ws = plan_context(settings), Workspace(settings.workspace)
    if spec is not None and design is not None:
        raise InputError("give a spec or a design, not both")
    if designs is not None and (spec is not None or design is not None):
        raise InputError("give a spec, a design or a list of designs, not several",
                         fix="leave out spec and design to plan a list of designs")
    if spec is None and design is None:
        return _plan_all(ctx, ws, size=size, seed=settings.seed, strict=strict,
                         only=designs)
    if spec is not None:
        result = plan_spec(ctx, load_spec(spec) if isinstance(spec, str | Path) else spec)
    else:
        result = plan_design(ctx, str(design), size=size, seed=settings.seed)
    write_plan(result, ws)
    return PlanRecord((result,))


def _plan_all(ctx: PlanContext, ws: Workspace, *, size: str, seed: int, strict: bool,
              only: Sequence[str | int] | None = None) -> PlanRecord:
    from lesiontrials.io import write_json
    from lesiontrials.trials import DESIGNS, plan_design, resolve_design, write_plan

    if only is not None and not only:
        raise InputError("an empty list of designs", column="designs",
                         fix="name at least one design (1-14 or its name), or none for all")
    numbers = sorted({resolve_design(d)[0] for d in only} if only is not None else DESIGNS)
    plans, infeasible = [], []
    for number in numbers:
        try:
            result = plan_design(ctx, number, size=size, seed=seed)
        except InputError as exc:
            infeasible.append({"design_number": number, "design": DESIGNS[number][0],
                               "reason": exc.problem, "fix": exc.fix or ""})
            continue
        write_plan(result, ws)
        plans.append(result)
    record = ws.root / "trials" / "plan_all.json"
    asked = {} if only is None else {"designs": numbers}  # all designs: as before
    write_json({"size": size, "seed": seed, **asked, "planned": [p.name for p in plans],
                "infeasible": infeasible}, record)
    planned = PlanRecord(tuple(plans), tuple(infeasible))
    if not plans or (strict and infeasible):
        names = ", ".join(f"{i['design_number']} {i['design']}" for i in infeasible)
        error = InfeasibleDesignsError(
            f"{len(infeasible)} of {len(numbers)} designs are infeasible ({names})"
            + ("" if plans else ": nothing could be planned"), path=record,
            fix="relax the constraints listed for each design (or drop --strict to plan the "
            "feasible ones)")
        error.record = planned
        raise error
    return planned


# ----------------------------------------------------------------------- per-case stages


def insert(settings: Settings, executor: Executor | None = None, *,
           trials: Sequence[str] | None = None, export_dir: Path | None = None,
           slab_mm: float | None = None,
           reporter: ProgressReporter | None = None) -> StageRecord:
    """Insert donor nodules into host label maps for ``trials`` (default: every planned
    trial); resumes. ``export_dir``: also write release-layout masks and CSVs there.
    ``slab_mm``: cases on phantom hosts keep an axial slab this long
    (:mod:`lesiontrials.insert.slab`; ``None``: the data root's default,
    :func:`default_slab_mm`; ``0``: whole volumes)."""
    from lesiontrials.insert import insert_trial, list_trials

    if slab_mm is None:
        slab_mm = default_slab_mm(settings.resolved_data_root)
    config = insert_config(slab_mm=slab_mm)
    ws = Workspace(settings.workspace)
    names = list(trials) if trials is not None else list_trials(ws)
    summaries = []
    with _scope(settings, executor, reporter):
        for name in names:
            summaries.append(insert_trial(name, workspace=ws,
                                          data_root=settings.resolved_data_root,
                                          workers=settings.workers, export_dir=export_dir,
                                          config=config,
                                          decoded_cache=_decoded_cache(settings)))
    failed = sum(s["status"]["failed"] for s in summaries)
    total = sum(s["status"]["done"] + s["status"]["failed"] for s in summaries)
    return StageRecord("insert", tuple(summaries), failed, total,
                       str(ws.root / "cases" / "*" / "insert_summary.json"))


def default_slab_mm(data_root: Path) -> float | None:
    """Slab length (mm) when none is asked for: ``DEFAULT_SLAB_MM`` (40 mm) on a world
    built on the screening (``full``) phantom grid, whose whole cases would cost ~25 s
    each to render; whole volumes (``None``) on the coarse grid or a data root of real
    scans (slabs only ever apply to hosts without a real CT)."""
    from lesiontrials.insert.config import DEFAULT_SLAB_MM
    from lesiontrials.world.build import world_phantom_grid

    return DEFAULT_SLAB_MM if world_phantom_grid(data_root) == "full" else None


def insert_config(*, slab_mm: float | None) -> InsertConfig:
    """The insertion settings of a run: the defaults, with slabs of ``slab_mm`` (mm) when
    given (``0``: whole volumes, the same as ``None``); an unusable length is an
    :class:`~lesiontrials.errors.InputError` naming it."""
    from lesiontrials.insert import InsertConfig

    try:
        return InsertConfig(slab_length_mm=slab_mm or None)
    except ValueError as exc:
        raise InputError(str(exc), column="--slab-mm",
                         fix="give a longer slab, or leave --slab-mm out for whole volumes"
                         ) from exc


def render(settings: Settings, executor: Executor | None = None, *,
           trials: Sequence[str] | None = None, backend: str = "auto", appearance: str = "",
           feature_distance: bool = False,
           reporter: ProgressReporter | None = None) -> StageRecord:
    """Render inserted cases to CT (``ct.nii.gz``, ``render.json``, ``qc.png`` per case)
    for ``trials`` (default: every inserted trial) with ``backend``; resumes."""
    from lesiontrials.render.trial import inserted_trials, render_trials

    ws = Workspace(settings.workspace)
    names = list(trials) if trials is not None else inserted_trials(ws)
    with _scope(settings, executor, reporter):
        summaries = list(render_trials(names, workspace=ws,
                                       data_root=settings.resolved_data_root, backend=backend,
                                       workers=settings.workers, appearance=appearance,
                                       feature_distance=feature_distance,
                                       decoded_cache=_decoded_cache(settings)))
    return StageRecord("render", tuple(summaries), sum(len(s["failed"]) for s in summaries),
                       sum(s["cases"] for s in summaries),
                       str(ws.root / "cases" / "*" / "render_summary.json"))


def build_slices(settings: Settings, executor: Executor | None = None, *,
                 trials: Sequence[str] | None = None, real: bool = False,
                 reporter: ProgressReporter | None = None) -> StageRecord:
    """Build 2-D evaluation sets: one per trial with cases (``trials``; default every
    one, those without rendered cases skipped with the reason), or with ``real`` the set of
    the data root's scans that have raw CT and nodule masks."""
    from lesiontrials.slicing.sets import build_eval_set, build_real_set

    ws, root = Workspace(settings.workspace), DataRoot(settings.resolved_data_root)
    summaries: list[SetSummary] = []
    skipped: list[tuple[str, str]] = []
    with _scope(settings, executor, reporter):
        cache = _decoded_cache(settings)
        if real:
            summaries.append(build_real_set(data_root=root.require(), workspace=ws,
                                            workers=settings.workers, seed=settings.seed,
                                            decoded_cache=cache))
        for name in [] if real else _trials_with_cases(ws, trials):
            try:
                summaries.append(build_eval_set(
                    trial=name, workspace=ws, workers=settings.workers, seed=settings.seed,
                    data_root=root if root.root.is_dir() else None, decoded_cache=cache))
            except InputError as exc:
                if trials is not None:
                    raise
                skipped.append((name, str(exc)))
    return StageRecord("slices", tuple(summaries), sum(len(s.failed) for s in summaries),
                       sum(s.cases_done + s.cases_reused + len(s.failed) for s in summaries),
                       str(ws.root / "eval" / "*" / "set.json"), tuple(skipped))


def _trials_with_cases(ws: Workspace, trials: Sequence[str] | None) -> list[str]:
    cases = ws.root / "cases"
    if trials is not None:
        return list(trials)
    return sorted(p.name for p in cases.iterdir() if p.is_dir()) if cases.is_dir() else []
