"""The model ``run`` trains: a slice CNN learned from some design trials and scored only on
the others (training/evaluation separation by whole trials).

The held-out trials are fixed by name (:data:`HELD_OUT_TRIALS`) so the separation is the
same on every run and easy to state; every other synthetic trial set trains the model. A
set is scored only when none of its items would be refused (:func:`evaluable_sets`): a
real scan whose CT hosted a training case is not evaluable, and the run says so.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Final

from lesiontrials.paths import Workspace
from lesiontrials.scoring.results import set_items
from lesiontrials.training.recipe import TrainRecipe

#: the trained model's name in ``models/`` and ``results/``
DEMO_MODEL: Final = "demo-cnn"
#: design trials never trained on: the trained model is scored on these (and real scans)
HELD_OUT_TRIALS: Final = ("algorithm_comparison", "bootstrap_confidence",
                          "controlled_prevalence", "screening_simulation")
#: a recipe that fits the demo's time budget (≈ 1 min on 2 cores) at the demo's 128 px
DEMO_RECIPE: Final = TrainRecipe(seed=0, epochs=10, patience=3, image_size=128, width=8,
                                 lobe_weight=0.5, size_weight=0.5)


def split_sets(sets: Sequence[str], *, real_sets: Sequence[str]) -> tuple[list[str], list[str]]:
    """(training, held-out) synthetic sets of ``sets``; real sets are in neither."""
    synthetic = [s for s in sorted(sets) if s not in set(real_sets)]
    return ([s for s in synthetic if s not in HELD_OUT_TRIALS],
            [s for s in synthetic if s in HELD_OUT_TRIALS])


def evaluable_sets(workspace: Workspace, identity: dict[str, Any],
                   candidates: Sequence[str]) -> tuple[list[str], dict[str, str]]:
    """(sets the model can be scored on, {set: why not} for the others): a set is left out
    when one of its cases was in training or validation, or — for a real scan — its CT
    hosted a training case (the trained adapter would refuse those items)."""
    seen_cases = set(identity["case_uids"])
    seen_hosts = set(identity["host_cts"])
    ok, skipped = [], {}
    for name in candidates:
        items = set_items(workspace, name, str(identity["recipe"]["profile"]))
        cases = set(items["case_uid"].astype(str)) & seen_cases
        real = items[items["source"] == "real"]
        hosts = {f"{d}/{c}" for d, c in zip(real["host_dataset"].astype(str),
                                            real["host_ct_id"].astype(str), strict=True)}
        hosts &= seen_hosts
        if cases:
            skipped[name] = f"{len(cases)} of its cases were in training"
        elif hosts:
            skipped[name] = (f"its real scan(s) {sorted(hosts)} hosted training cases (the "
                             "model has seen that anatomy)")
        else:
            ok.append(name)
    return ok, skipped


def real_set_names(workspace: Workspace, sets: Sequence[str], *, profile: str = "lung"
                   ) -> list[str]:
    """The sets of ``sets`` holding real scans."""
    return [s for s in sets if (set_items(workspace, s, profile)["source"] == "real").any()]


def train_demo_model(workspace: Workspace, *, sets: Sequence[str]
                     ) -> tuple[Any, list[str], list[str], dict[str, str]] | str:
    """Train ``demo-cnn`` on every design trial in ``sets`` but the held-out ones.

    Returns (training outcome, training sets, sets to score it on, sets left out with the
    reason), or a sentence saying why no model was trained (no training or no held-out
    set). The sets to score are the held-out trials and the real scans it did not see.
    """
    from lesiontrials.training.loop import train

    real = real_set_names(workspace, sets)
    train_sets, held_out = split_sets(sets, real_sets=real)
    if not train_sets or not held_out:
        return (f"no model trained: training sets {train_sets}, held-out sets {held_out} "
                "(both are needed)")
    outcome = train(workspace=workspace, name=DEMO_MODEL, sets=train_sets, recipe=DEMO_RECIPE)
    scored, skipped = evaluable_sets(workspace, outcome.identity, [*held_out, *real])
    return outcome, train_sets, scored, skipped

