"""The targeted loop in one call: train → probe failures → targeted and untargeted extra
trials → insert, render, slices → retrain on each union → paired gains on held-out sets.

Four kinds of sets, disjoint by construction and checked:

* **train** — the synthetic sets the original model learns from;
* **probe** — held-out synthetic sets where the original model's failures are found (the
  targeted trial is aimed at them, so they are never used to judge the gain);
* **evaluate** — held-out synthetic sets, untouched until the three models are compared;
* **real** — real scans (optional), evaluated the same way.

Three models with one recipe: ``{name}-original`` (train), ``{name}-targeted`` (train +
targeted trial) and ``{name}-untargeted`` (train + a plain trial of the same number of
cases). The extra trials use new hosts only and no evaluation donor
(:mod:`.extra_trials`); the trained adapter refuses any item of a case (or host CT) a
model was trained on, so no model is evaluated on what it saw. The gains (targeted −
original, targeted − untargeted, untargeted − original) are per stratum with paired
intervals resampling the design's units (:mod:`.compare`).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd

from lesiontrials.errors import InputError
from lesiontrials.paths import DataRoot, Workspace
from lesiontrials.training.compare import per_stratum_gain
from lesiontrials.training.failures import (
    FAILURE_STRATA,
    choose_targets,
    failure_strata,
    scored_items,
    with_attenuation,
)
from lesiontrials.training.loop import checkpoint_path, train
from lesiontrials.training.recipe import TrainRecipe

#: (model a, model b) suffixes of each reported gain
COMPARISONS = (("targeted", "original"), ("targeted", "untargeted"),
               ("untargeted", "original"))


@dataclass(frozen=True)
class ImproveSets:
    """The four disjoint groups of evaluation sets (see the module docstring)."""

    train: tuple[str, ...]
    probe: tuple[str, ...]
    evaluate: tuple[str, ...]
    real: tuple[str, ...] = ()

    def check(self) -> None:
        """Refuse empty groups and any set in two groups."""
        groups = {"train": self.train, "probe": self.probe, "evaluate": self.evaluate,
                  "real": self.real}
        for what in ("train", "probe", "evaluate"):
            if not groups[what]:
                raise InputError(f"no {what} set given", fix=f"pass --{what}-set NAME")
        seen: dict[str, str] = {}
        for what, names in groups.items():
            for set_name in names:
                if set_name in seen:
                    raise InputError(f"set {set_name!r} is both a {seen[set_name]} and a "
                                     f"{what} set", fix="give each set one role: failures "
                                     "are found on probe sets, gains judged on evaluate sets")
                seen[set_name] = what


@dataclass(frozen=True)
class ImproveOptions:
    """What the loop aims at and how much it adds."""

    name: str
    task: str = "presence"
    condition: str = "plain"
    n_cases: int = 20
    max_targets: int = 4
    seed: int = 0
    workers: int = 1
    replicates: int = 2000


Step = Callable[[str], None]


def improve(*, workspace: Workspace, data_root: Path, sets: ImproveSets,
            recipe: TrainRecipe, options: ImproveOptions,
            on_step: Step | None = None) -> dict[str, Any]:
    """Run the loop (each stage resumes) and write ``improve/{name}/improve.json``;
    returns the same record."""
    sets.check()
    say = on_step or (lambda _message: None)
    timer: dict[str, float] = {}
    name = options.name
    models = {k: f"{name}-{k}" for k in ("original", "targeted", "untargeted")}

    start = time.perf_counter()
    say(f"train {models['original']} on {', '.join(sets.train)}")
    train(workspace=workspace, name=models["original"], sets=sets.train, recipe=recipe)
    timer["train_original_s"] = time.perf_counter() - start

    start = time.perf_counter()
    say(f"score {models['original']} on the probe sets {', '.join(sets.probe)}")
    _score(workspace, models["original"], sets.probe, options)
    probed = scored_items(workspace, model=models["original"], sets=sets.probe,
                          task=options.task, condition=options.condition)
    targets = choose_targets(probed, max_targets=options.max_targets)
    timer["probe_s"] = time.perf_counter() - start

    start = time.perf_counter()
    extra = _build_extra_trials(workspace, data_root, sets, targets, options, say)
    timer["extra_trials_s"] = time.perf_counter() - start

    start = time.perf_counter()
    for kind in ("targeted", "untargeted"):
        say(f"train {models[kind]} on the training sets + {extra[kind]['trial']}")
        train(workspace=workspace, name=models[kind],
              sets=(*sets.train, extra[kind]["trial"]), recipe=recipe)
    timer["retrain_s"] = time.perf_counter() - start

    start = time.perf_counter()
    held_out = (*sets.evaluate, *sets.real)
    for model in models.values():
        say(f"score {model} on {', '.join(held_out)}")
        _score(workspace, model, held_out, options)
    gains = {"synthetic": _gains(workspace, models, sets.evaluate, options)}
    if sets.real:
        gains["real"] = _gains(workspace, models, sets.real, options)
    timer["evaluate_s"] = time.perf_counter() - start

    record = {
        "name": name, "task": options.task, "condition": options.condition,
        "sets": {"train": list(sets.train), "probe": list(sets.probe),
                 "evaluate": list(sets.evaluate), "real": list(sets.real)},
        "models": models, "recipe": recipe.record(), "recipe_hash": recipe.digest(),
        "probe_failures": failure_strata(probed).to_dict("records"),
        "targets": [t.__dict__ for t in targets], "extra_trials": extra,
        "separation": "failures found on probe sets only; gains judged on evaluate and real "
                      "sets no model trained on (the trained adapter refuses their cases and "
                      "host CTs); extra trials use new hosts and no evaluation donor",
        "gains": gains, "wall_s": {k: round(v, 1) for k, v in timer.items()},
    }
    from lesiontrials.io import write_json

    write_json(record, improve_file(workspace, name))
    return record


def improve_file(workspace: Workspace, name: str) -> Path:
    """``improve/{name}/improve.json`` (the name is checked like a model name)."""
    return workspace.improve_dir(name) / "improve.json"


def _score(workspace: Workspace, model: str, set_names: Sequence[str],
           options: ImproveOptions) -> None:
    from lesiontrials.scoring.models.config import ModelConfig, model_factory
    from lesiontrials.scoring.runner import score

    config = ModelConfig(name=model, adapter="trained",
                         path=str(checkpoint_path(workspace, model)))
    score(model=model, model_factory=model_factory(config), workspace=workspace,
          sets=list(set_names), conditions=(options.condition,), tasks=(options.task,),
          batch_size=64, workers=1, show_progress=False, all_paraphrases=False)


def _build_extra_trials(workspace: Workspace, data_root: Path, sets: ImproveSets,
                        targets: Sequence[Any], options: ImproveOptions, say: Step
                        ) -> dict[str, dict[str, Any]]:
    """Plan, insert, render and slice the targeted and untargeted trials."""
    from lesiontrials.index import NoduleIndex
    from lesiontrials.insert import insert_trial
    from lesiontrials.render.trial import render_trials
    from lesiontrials.slicing.sets import build_eval_set
    from lesiontrials.training.extra_trials import plan_extra_trials
    from lesiontrials.trials import PlanContext, load_host_catalogue
    from lesiontrials.trials.plan import write_plan

    root = DataRoot(data_root)
    index = NoduleIndex.load(workspace.index_table)
    ctx = PlanContext(index, load_host_catalogue(root, index), data_root=root.root)
    used = _used(workspace, (*sets.probe, *sets.evaluate, *sets.real))
    evaluation = _used(workspace, (*sets.evaluate, *sets.real))
    plans = plan_extra_trials(ctx, targets, name=options.name, n_cases=options.n_cases,
                              seed=options.seed, excluded_hosts=used["hosts"],
                              excluded_donors=evaluation["donors"])
    out = {}
    for kind, plan in zip(("targeted", "untargeted"), plans, strict=True):
        say(f"plan, insert, render and slice {plan.name} ({plan.manifest['case_uid'].nunique()}"
            " cases)")
        write_plan(plan, workspace)
        inserted = insert_trial(plan.name, workspace=workspace, data_root=data_root,
                                workers=options.workers, show_progress=False)
        rendered = next(iter(render_trials([plan.name], workspace=workspace,
                                           data_root=data_root, workers=options.workers,
                                           show_progress=False)))
        summary = build_eval_set(trial=plan.name, workspace=workspace, workers=options.workers,
                                 seed=options.seed, data_root=root, show_progress=False)
        failed = inserted["status"]["failed"] + len(rendered["failed"]) + len(summary.failed)
        if failed:
            raise InputError(f"{plan.name}: {failed} case(s) failed to insert, render or "
                             "slice", path=workspace.cases_dir(plan.name),
                             fix="read the stage summaries there, fix and run again "
                                 "(finished cases are kept)")
        out[kind] = {"trial": plan.name, "cases": int(plan.manifest["case_uid"].nunique()),
                     "positives": summary.positives, "negatives": summary.negatives,
                     "notes": plan.info["notes"]}
    return out


def _used(workspace: Workspace, set_names: Sequence[str]) -> dict[str, set[str]]:
    """Host CTs (``dataset/ct_id``) and donor uids appearing in ``set_names``."""
    from lesiontrials.scoring.results import set_items

    hosts: set[str] = set()
    donors: set[str] = set()
    for set_name in set_names:
        items = set_items(workspace, set_name, "lung")
        hosts |= {f"{d}/{c}" for d, c in zip(items["host_dataset"].astype(str),
                                             items["host_ct_id"].astype(str), strict=True)}
        donors |= {str(u) for u in items["donor_uid"] if str(u)}
    return {"hosts": hosts, "donors": donors}


def _gains(workspace: Workspace, models: dict[str, str], set_names: Sequence[str],
           options: ImproveOptions) -> list[dict[str, Any]]:
    """Every comparison × stratum (``all`` and each of :data:`FAILURE_STRATA`) row."""
    from lesiontrials.training.compare import paired_items

    rows: list[dict[str, Any]] = []
    for a, b in COMPARISONS:
        paired = with_attenuation(paired_items(
            workspace, model_a=models[a], model_b=models[b], sets=set_names,
            task=options.task, condition=options.condition))
        for by in FAILURE_STRATA:
            table = per_stratum_gain(paired, by=by, seed=options.seed,
                                     replicates=options.replicates)
            if by != FAILURE_STRATA[0]:
                table = table[table["stratum"] != "all"]
            rows.extend({"comparison": f"{a} − {b}", **r}
                        for r in table.to_dict("records"))
    return rows


def gains_frame(record: dict[str, Any], source: str) -> pd.DataFrame:
    """The ``source`` (synthetic or real) gains of an improve record as a table."""
    return pd.DataFrame(record["gains"].get(source, []))
