"""Score a model on evaluation sets: batches in, append-only Parquet shards out, resumable.

Results of one (model, set, condition, task) live in
``results/{model}/{set}/{condition}/{task}/part-{key}-{uids}.parquet`` (columns
:data:`RESULT_COLUMNS`). Every row carries a ``run_key``: the hash of the model name and
version, the prompt hash and the profile. A re-run scores only the slice uids that have
no row for the current key (so an interrupted run resumes, and a changed prompt or model
version re-scores everything); ``current.json`` beside the shards names the keys of the
latest run, which :func:`read_results` selects by default (:mod:`.results`). Models that
read the question are asked every prompt paraphrase (:mod:`.paraphrases`), each with its
own run key; every row records its ``paraphrase`` id.

Work is cut into units of at most ``shard_size`` items, each written as one shard, and
the units run through the executor interface like every other stage
(:func:`~lesiontrials.execution.run_cases`): in-process, a local pool, Ray or SLURM. Each
unit names the model by its factory (:class:`ModelSpec`); a worker process builds the model
the first time a unit needs it and keeps it for the units that follow
(:func:`~lesiontrials.execution.load_once`), so there is no module-global model and no
initialiser to forget. On Ray the units run on ``workers`` actors that load the model once
each, holding the Ray executor's ``model_gpus`` (none for the weight-free baselines); on
SLURM the job array asks for its ``model_gpus`` per array task
(:func:`~lesiontrials.execution.model_executor`).
"""

from __future__ import annotations

import hashlib
import itertools
import json
import math
import os
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass, field, is_dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from lesiontrials.errors import InputError
from lesiontrials.execution import (
    Executor,
    InProcessExecutor,
    LocalPoolExecutor,
    forget_once,
    model_executor,
    resolve_executor,
    run_cases,
    stage_executor,
)
from lesiontrials.io import PngCache, write_json, write_parquet
from lesiontrials.paths import Workspace
from lesiontrials.scoring.calibration import CALIBRATION_SEED, PriorFit
from lesiontrials.scoring.models.registry import BASELINES, resolve
from lesiontrials.scoring.paraphrases import PRIMARY, paraphrase, paraphrases
from lesiontrials.scoring.parsing import OK, UNPARSED, parse_answer
from lesiontrials.scoring.results import (
    CURRENT_JSON,
    RESULT_COLUMNS,
    read_results,
    run_key,
    set_items,
)
from lesiontrials.slicing.contract import CONDITIONS, TASKS, Answer, Item, Model
from lesiontrials.slicing.tasks import applies_to

__all__ = ["CURRENT_JSON", "RESULT_COLUMNS", "Identity", "ModelSpec", "ScoreSummary",
           "WorkUnit", "model_identity", "read_results", "run_key", "score", "score_unit",
           "set_items", "task_rows"]


@dataclass(frozen=True)
class Identity:
    """What a loaded model says about itself (after any prior fitting)."""

    name: str
    version: str
    profile: str
    uses_context: bool
    card: dict[str, Any] = field(default_factory=dict)
    reads_prompt: bool = False  # asked every paraphrase when true
    reads_image: bool = True  # False: handed a blank image, no file is read


#: the columns of a set's rows that :func:`score_unit` reads (with ``truth_{task}``)
UNIT_COLUMNS = ("slice_uid", "kind", "image_path", "context_paths", "pixel_spacing_mm",
                "case_uid")


@dataclass(frozen=True)
class WorkUnit:
    """Up to ``shard_size`` items of one (set, condition, task), scored into one shard."""

    set_name: str
    condition: str
    task: str
    profile: str
    set_dir: Path
    out_dir: Path
    key: str
    rows: tuple[dict[str, Any], ...]
    batch_size: int
    fit_truth: PriorFit | None = None
    paraphrase: str = PRIMARY
    #: how the worker that scores the unit builds the model (once per process)
    model: ModelSpec | None = None


_SESSIONS = itertools.count()


@dataclass(frozen=True)
class ModelSpec:
    """How a cluster worker loads the model: the registry factory (resolved by the driver,
    so models registered at run time work too) and its options."""

    name: str
    factory: Any
    options: tuple[tuple[str, Any], ...] = ()
    #: one per ``score`` call: a new call builds a new model (its version may have changed)
    session: str = ""

    @property
    def resource(self) -> str:
        """The name the model is kept under in a process (one per spec and ``score`` call)."""
        return f"model:{self.name}:{self.factory!r}:{self.options!r}:{self.session}"

    def load(self) -> Model:
        """The model, built once per process (:func:`~lesiontrials.execution.load_once`)."""
        from lesiontrials.execution import load_once

        return load_once(self.resource, self.build)

    def warm(self) -> None:
        """Load the model now (a Ray actor's setup), so its cases find it loaded."""
        self.load()

    def build(self) -> Model:
        """A new instance of the model."""
        model = self.factory(**dict(self.options))
        if not isinstance(model, Model):
            raise InputError(f"the factory of {self.name!r} returned {type(model).__name__}, "
                             "which is not a Model (name, version, answer(items))")
        return model


@dataclass(frozen=True)
class ScoreSummary:
    """Per (set, condition, task): items asked, already scored, newly scored, statuses."""

    model: str
    version: str
    cells: list[dict[str, Any]]


# ----------------------------------------------------------------------- worker side
def model_identity(model: Model, fit_truth: PriorFit | None = None) -> Identity:
    """``model``'s identity, after fitting its prior on ``fit_truth`` (the synthetic
    calibration fold) if it can."""
    if fit_truth is not None and hasattr(model, "fit_prior"):
        model.fit_prior(fit_truth.truth, calibration=fit_truth.calibration)
    card = getattr(model, "card", None)
    if is_dataclass(card) and not isinstance(card, type):
        card = asdict(card)
    return Identity(name=model.name, version=str(model.version),
                    profile=str(getattr(model, "profile", "lung")),
                    uses_context=bool(getattr(model, "uses_context", True)),
                    card=dict(card) if isinstance(card, dict) else {},
                    reads_prompt=bool(getattr(model, "reads_prompt", False)),
                    reads_image=bool(getattr(model, "reads_image", True)))


def score_unit(unit: WorkUnit) -> dict[str, Any]:
    """Score one unit and write its shard; returns the rows' parse-status counts.

    The model comes from ``unit.model``, built once per worker process.
    """
    if unit.model is None:
        raise InputError(f"work unit {unit.set_name}/{unit.condition}/{unit.task} names no "
                         "model", fix="build units with `score`, which sets the model spec")
    model = unit.model.load()
    identity = model_identity(model, unit.fit_truth)
    prompt = paraphrase(unit.task, unit.paraphrase).prompt
    records: list[dict[str, Any]] = []
    for start in range(0, len(unit.rows), unit.batch_size):
        batch = unit.rows[start:start + unit.batch_size]
        items = [_item(row, unit, prompt.question, prompt.options, identity.uses_context)
                 if identity.reads_image else _blank_item(row, unit, prompt.question,
                                                          prompt.options)
                 for row in batch]
        answers = model.answer(items)
        if len(answers) != len(items):
            raise InputError(f"model {identity.name!r} returned {len(answers)} answers for "
                             f"{len(items)} items")
        records.extend(_record(row, answer, unit, identity, prompt.prompt_hash,
                               prompt.options) for row, answer in zip(batch, answers,
                                                                      strict=True))
    uids = "\n".join(r["slice_uid"] for r in records)
    digest = hashlib.sha256(uids.encode("utf-8")).hexdigest()[:12]
    write_parquet(pd.DataFrame(records, columns=list(RESULT_COLUMNS)),
                  unit.out_dir / f"part-{unit.key[:12]}-{digest}.parquet")
    return dict(Counter(r["parse_status"] for r in records))


#: this process's decoded images: a slice's tasks, and its neighbours under every
#: condition, are read from disk once (units of one set run one after another)
_IMAGES = PngCache()


def _item(row: dict[str, Any], unit: WorkUnit, question: str, options: tuple[str, ...],
          uses_context: bool) -> Item:
    base = unit.set_dir / unit.profile
    context: tuple[np.ndarray, ...] = ()
    if uses_context:
        paths = json.loads(row["context_paths"])
        context = (_IMAGES.read(base / paths[0]), _IMAGES.read(base / paths[-1]))
    return Item(slice_uid=row["slice_uid"], task=unit.task, condition=unit.condition,
                profile=unit.profile, question=question, options=options,
                image=_IMAGES.read(base / row["image_path"]), context=context,
                pixel_spacing_mm=float(row.get("pixel_spacing_mm", math.nan)),
                case_uid=str(row.get("case_uid", "") or ""))


#: what a model that reads no image (``reads_image = False``: the majority prior) is shown
_NO_IMAGE = np.zeros((1, 1), dtype=np.uint8)
_NO_IMAGE.flags.writeable = False


def _blank_item(row: dict[str, Any], unit: WorkUnit, question: str,
                options: tuple[str, ...]) -> Item:
    """The item without its image: a model that looks at none is not made to decode one
    (at 512² that was most of the majority prior's time)."""
    return Item(slice_uid=row["slice_uid"], task=unit.task, condition=unit.condition,
                profile=unit.profile, question=question, options=options, image=_NO_IMAGE,
                pixel_spacing_mm=float(row.get("pixel_spacing_mm", math.nan)),
                case_uid=str(row.get("case_uid", "") or ""))


def _record(row: dict[str, Any], answer: Answer, unit: WorkUnit, identity: Identity,
            prompt_hash: str, options: tuple[str, ...]) -> dict[str, Any]:
    option, status = answer.option, answer.parse_status
    if option not in options:
        parsed = parse_answer(answer.raw_text or option, task=unit.task)
        option, status = parsed.option, parsed.status
    if status != OK:
        option = ""
    truth = row[f"truth_{unit.task}"]
    return {"slice_uid": row["slice_uid"], "model": identity.name,
            "model_version": identity.version, "prompt_hash": prompt_hash, "run_key": unit.key,
            "task": unit.task, "condition": unit.condition, "profile": unit.profile,
            "set": unit.set_name, "kind": row["kind"], "option": option,
            "raw_text": str(answer.raw_text or ""), "parse_status": status or UNPARSED,
            "correct": bool(status == OK and option == truth), "truth": truth,
            "scores_json": json.dumps(answer.scores, sort_keys=True) if answer.scores else "",
            "paraphrase": unit.paraphrase}


# ----------------------------------------------------------------------- driver side
def task_rows(items: pd.DataFrame, *, condition: str, task: str) -> pd.DataFrame:
    """Items of one condition that are asked ``task``."""
    rows = items[items["condition"] == condition]
    mask = [applies_to(task, kind=k, truth_lobe=lobe, truth_size=size)
            for k, lobe, size in zip(rows["kind"], rows["truth_lobe"], rows["truth_size"],
                                     strict=True)]
    return rows[np.asarray(mask, dtype=bool)]


def _fit_truth(items: pd.DataFrame, tasks: Iterable[str]) -> dict[str, list[str]]:
    plain = items.drop_duplicates("slice_uid")
    return {t: [str(v) for v in task_rows(plain.assign(condition="plain"), condition="plain",
                                          task=t)[f"truth_{t}"]] for t in tasks}


def calibration_truth(workspace: Workspace, profile: str) -> PriorFit:
    """Truth labels of the synthetic calibration fold of every set in the workspace (task
    -> labels) and its record, for models that fit a prior
    (:mod:`~lesiontrials.scoring.calibration`).

    Only synthetic slices of the calibration fold count: real slices and the held-out
    fold (where reported numbers come from) are never seen. Every set of the workspace is
    read, whichever sets are being scored, so scoring sets one at a time fits the same prior.
    """
    from lesiontrials.scoring.calibration import calibration_fold
    from lesiontrials.slicing.sets import list_sets

    frames = [set_items(workspace, s, profile) for s in list_sets(workspace)
              if (workspace.eval_dir(s, profile) / "cases.parquet").is_file()]
    items = pd.concat(frames, ignore_index=True) if frames else pd.DataFrame()
    if items.empty or "source" not in items.columns:
        return PriorFit({t: {} for t in TASKS}, {"sets": [], "slices": 0})
    fold = calibration_fold(items, seed=CALIBRATION_SEED)
    chosen = items[items["slice_uid"].isin(set(fold.uids))]
    synthetic_sets = sorted(str(s) for s in items.loc[items["source"] == "synthetic", "set"]
                            .unique())
    counts = {task: dict(sorted(Counter(labels).items()))
              for task, labels in _fit_truth(chosen, TASKS).items()}
    return PriorFit(counts, {"sets": synthetic_sets, **fold.record()})


def score(*, model: str, workspace: Workspace, sets: Sequence[str],
          conditions: Sequence[str] = CONDITIONS, tasks: Sequence[str] = TASKS,
          batch_size: int = 16, workers: int = 1, shard_size: int = 256,
          model_options: dict[str, Any] | None = None, show_progress: bool = True,
          model_factory: Any = None, all_paraphrases: bool | None = None,
          executor: Executor | None = None) -> ScoreSummary:
    """Score ``model`` on every (set, condition, task) cell; skip what is already scored.

    ``model_factory`` (e.g. :func:`~lesiontrials.scoring.models.config.model_factory`)
    builds the model instead of the registry entry ``model``. ``all_paraphrases``: ask every
    prompt paraphrase (default: when the model reads the prompt) or only the canonical one.
    The units run on ``executor`` (default: the active one, else in-process for
    ``workers <= 1`` or a local pool of ``workers``); progress goes to the active reporter
    only (:func:`~lesiontrials.execution.use_reporter`).
    """
    for value, allowed, what in ((conditions, CONDITIONS, "condition"), (tasks, TASKS, "task")):
        unknown = sorted(set(value) - set(allowed))
        if unknown:
            raise InputError(f"unknown {what} {unknown}", fix=f"use {list(allowed)}")
    options = dict(model_options or {})
    spec = ModelSpec(model, model_factory or resolve(model), tuple(sorted(options.items())),
                     session=f"{os.getpid()}-{next(_SESSIONS)}")
    plan = _Plan(batch_size=batch_size, shard_size=shard_size,
                 all_paraphrases=all_paraphrases, show_progress=show_progress)
    cluster = model_executor(workers=workers, setup=spec.warm, gpu=model not in BASELINES,
                             executor=executor)
    if cluster is not None:  # the driver never loads the model: a worker describes it
        with stage_executor(cluster):
            return _drive(workspace, sets, conditions, tasks, plan, spec, cluster,
                          describe_fn=lambda truth: _describe_on(cluster, spec, truth))
    local = resolve_executor(workers=workers, executor=executor)
    if not isinstance(local, InProcessExecutor | LocalPoolExecutor):
        raise InputError(f"scoring cannot run on the {local.name!r} executor",
                         fix="use a local, Ray or SLURM executor")
    # local: this process describes the model (its workers then build their own copy)
    try:
        return _drive(workspace, sets, conditions, tasks, plan, spec, local,
                      describe_fn=lambda truth: model_identity(spec.load(), truth))
    finally:
        forget_once(spec.resource)  # this call's model is not kept after it


@dataclass(frozen=True)
class _Plan:
    """How cells are cut into units and which paraphrases are asked."""

    batch_size: int
    shard_size: int
    all_paraphrases: bool | None
    show_progress: bool

    def paraphrase_ids(self, identity: Identity, task: str) -> list[str]:
        """Every paraphrase for models that read the prompt (unless told otherwise)."""
        wanted = identity.reads_prompt if self.all_paraphrases is None else (
            self.all_paraphrases)
        return [p.id for p in paraphrases(task)] if wanted else [PRIMARY]


def describe_remote(request: tuple[ModelSpec, PriorFit | None]) -> Identity:
    """:func:`describe` on a cluster worker, loading the model there (once per process)."""
    spec, fit_truth = request
    return model_identity(spec.load(), fit_truth)


def _describe_on(executor: Executor, spec: ModelSpec,
                 fit_truth: PriorFit | None) -> Identity:
    """The model's identity, read on a worker: a login node without a GPU (or without
    room for the weights) never loads the model."""
    outcome = executor.map(describe_remote, [(spec, fit_truth)],
                           keys=[f"{spec.name}:identity"])[0]
    if outcome.status != "done":
        raise InputError(f"model {spec.name!r} could not be loaded on the cluster: "
                         f"{outcome.reason}", fix="check the model's weights/options and the "
                         "worker's resources (GPUs, memory), then re-run")
    identity: Identity = outcome.result
    return identity


def _map_units(executor: Executor, units: list[WorkUnit], spec: ModelSpec, *,
               show_progress: bool) -> list[dict[str, Any]]:
    """Score units through ``executor`` (the model named in each unit, built once per
    worker process); a failed unit stops with its reason."""
    from dataclasses import replace

    named = [replace(u, model=spec) for u in units]
    keys = [f"{u.set_name}/{u.condition}/{u.task}#{n}" for n, u in enumerate(named)]
    outcomes = run_cases(score_unit, named, keys=keys, executor=executor,
                         description=f"score {spec.name}", show_progress=show_progress)
    failed = [o for o in outcomes if o.status != "done"]
    if failed:
        raise InputError(f"{len(failed)} scoring unit(s) failed; first: {failed[0].key}: "
                         f"{failed[0].reason}",
                         fix="fix the cause and re-run: finished shards are kept")
    return [o.result for o in outcomes]


def _drive(workspace: Workspace, sets: Sequence[str], conditions: Sequence[str],
           tasks: Sequence[str], plan: _Plan, spec: ModelSpec, executor: Executor, *,
           describe_fn: Any) -> ScoreSummary:
    identity = describe_fn(None)
    units: list[WorkUnit] = []
    cells: list[dict[str, Any]] = []
    fit = calibration_truth(workspace, identity.profile)
    identity = describe_fn(fit)
    for set_name in sets:
        items = set_items(workspace, set_name, identity.profile)
        for condition in conditions:
            for task in tasks:
                cell_units, cell = _plan_cell(workspace, identity, items, set_name, condition,
                                              task, plan, fit)
                units.extend(cell_units)
                cells.append(cell)
    _write_card(workspace, identity)
    statuses: dict[tuple[str, str, str], Counter[str]] = {}
    results = _map_units(executor, units, spec, show_progress=plan.show_progress) if units \
        else []
    for unit, counts in zip(units, results, strict=True):
        statuses.setdefault((unit.set_name, unit.condition, unit.task),
                            Counter()).update(counts)
    for cell in cells:
        cell["new_statuses"] = dict(statuses.get((cell["set"], cell["condition"],
                                                  cell["task"]), Counter()))
    return ScoreSummary(model=identity.name, version=identity.version, cells=cells)


def _plan_cell(workspace: Workspace, identity: Identity, items: pd.DataFrame, set_name: str,
               condition: str, task: str, plan: _Plan,
               fit: PriorFit) -> tuple[list[WorkUnit], dict[str, Any]]:
    out_dir = workspace.results_dir(identity.name, set_name, condition, task)
    rows = task_rows(items, condition=condition, task=task)
    # a unit carries only what its worker reads: converting every column of every row to
    # dicts was half of the driver's time on 512² sets
    columns = [c for c in (*UNIT_COLUMNS, f"truth_{task}") if c in rows.columns]
    existing = read_results(workspace, model=identity.name, set_name=set_name,
                            condition=condition, task=task, current_only=False,
                            paraphrase=None)
    units: list[WorkUnit] = []
    keys: dict[str, str] = {}
    hashes: dict[str, str] = {}
    pending_total = 0
    for pid in plan.paraphrase_ids(identity, task):
        hashes[pid] = paraphrase(task, pid).prompt.prompt_hash
        key = keys[pid] = run_key(model=identity.name, version=identity.version,
                                  prompt_hash=hashes[pid], profile=identity.profile)
        done = set(existing.loc[existing["run_key"] == key, "slice_uid"])
        records = rows.loc[~rows["slice_uid"].isin(done), columns].to_dict("records")
        pending_total += len(records)
        units.extend(WorkUnit(set_name=set_name, condition=condition, task=task,
                              profile=identity.profile, set_dir=workspace.eval_set_dir(set_name),
                              out_dir=out_dir, key=key,
                              rows=tuple(records[i:i + plan.shard_size]),
                              batch_size=plan.batch_size, fit_truth=fit, paraphrase=pid)
                     for i in range(0, len(records), plan.shard_size))
    write_json({"run_key": keys[PRIMARY], "model": identity.name,
                "model_version": identity.version, "prompt_hash": hashes[PRIMARY],
                "profile": identity.profile, "run_keys": keys, "prompt_hashes": hashes},
               out_dir / CURRENT_JSON)
    asked = len(rows) * len(keys)
    cell = {"set": set_name, "condition": condition, "task": task, "items": len(rows),
            "paraphrases": len(keys), "already_scored": asked - pending_total,
            "to_score": pending_total, "run_key": keys[PRIMARY]}
    return units, cell


def _write_card(workspace: Workspace, identity: Identity) -> None:
    write_json({"name": identity.name, "version": identity.version,
                "profile": identity.profile, "uses_context": identity.uses_context,
                "card": identity.card},
               workspace.results_root / identity.name / "model.json")
