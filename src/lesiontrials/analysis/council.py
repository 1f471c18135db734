"""A training-free council: route each (task, condition) to the model to trust.

Calibrated on synthetic results only. Where the diagnostic predicts that synthetic
rankings transfer (donor-driven task), the council routes to the best synthetic model
for that task and condition. Elsewhere it uses the stated fallback: an accuracy-weighted
vote (weight = synthetic accuracy above chance) or the best model overall.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import pandas as pd

from lesiontrials.analysis.bootstrap import paired_difference
from lesiontrials.seeding import rng_for
from lesiontrials.slicing.contract import CHANCE

FALLBACKS = ("weighted_vote", "best_overall")


@dataclass(frozen=True)
class Rule:
    task: str
    condition: str
    mode: str  # 'route' | 'weighted_vote' | 'best_overall'
    model: str = ""  # routed / best-overall model
    weights: dict[str, float] = field(default_factory=dict)
    reason: str = ""


@dataclass(frozen=True)
class Council:
    rules: tuple[Rule, ...]
    fallback: str

    def rule(self, task: str, condition: str) -> Rule | None:
        for rule in self.rules:
            if rule.task == task and rule.condition == condition:
                return rule
        return None

    def to_dict(self) -> dict[str, Any]:
        return {"fallback": self.fallback, "rules": [rule.__dict__ for rule in self.rules]}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Council:
        return cls(tuple(Rule(**r) for r in data["rules"]), data["fallback"])


def build_council(synthetic_cells: pd.DataFrame, verdicts: dict[str, dict[str, Any]], *,
                  fallback: str = "weighted_vote") -> Council:
    """Rules from synthetic cell accuracies (columns model, condition, task, accuracy)."""
    if fallback not in FALLBACKS:
        raise ValueError(f"unknown fallback {fallback!r}; use one of {FALLBACKS}")
    overall = synthetic_cells.groupby("model")["accuracy"].mean()
    best_overall = str(overall.sort_values(ascending=False, kind="stable").index[0])
    rules = []
    for (task, condition), rows in synthetic_cells.groupby(["task", "condition"], sort=True):
        ranked = rows.sort_values(["accuracy", "model"], ascending=[False, True], kind="stable")
        predicted = verdicts.get(str(task), {}).get("verdict") == "donor-driven"
        if predicted:
            rules.append(Rule(str(task), str(condition), "route", str(ranked["model"].iloc[0]),
                              reason="donor-driven: synthetic ranking predicted to transfer"))
        elif fallback == "best_overall":
            rules.append(Rule(str(task), str(condition), "best_overall", best_overall,
                              reason="no transfer predicted: best model overall"))
        else:
            chance = CHANCE.get(str(task), 0.0)
            weights = {str(m): float(max(a - chance, 0.0))
                       for m, a in zip(rows["model"], rows["accuracy"], strict=True)}
            rules.append(Rule(str(task), str(condition), "weighted_vote",
                              str(ranked["model"].iloc[0]), weights,
                              reason="no transfer predicted: accuracy-weighted vote"))
    return Council(tuple(rules), fallback)


def fixed_routes(cells: pd.DataFrame, *, reason: str) -> Council:
    """A council that always routes each (task, condition) to the model with the highest
    accuracy in ``cells`` (columns model, condition, task, accuracy; ties: name order):
    "the best fixed model chosen on synthetic" when ``cells`` are calibration cells, the
    oracle router when they are the evaluation cells themselves."""
    rules = []
    for (task, condition), rows in cells.groupby(["task", "condition"], sort=True):
        ranked = rows.sort_values(["accuracy", "model"], ascending=[False, True], kind="stable")
        rules.append(Rule(str(task), str(condition), "route", str(ranked["model"].iloc[0]),
                          reason=reason))
    return Council(tuple(rules), "route")


def apply_council(council: Council, answers: pd.DataFrame) -> pd.DataFrame:
    """Council answers for every (slice, task, condition) in ``answers`` (columns model,
    task, condition, slice_uid, option, truth[, source])."""
    out = []
    keys = ["task", "condition", "slice_uid"]
    for (task, condition), rows in answers.groupby(["task", "condition"], sort=True):
        rule = council.rule(str(task), str(condition))
        if rule is None:
            continue
        wide = rows.pivot_table(index="slice_uid", columns="model", values="option",
                                aggfunc="first")
        truth = rows.groupby("slice_uid")["truth"].first()
        if rule.mode in ("route", "best_overall"):
            if rule.model not in wide.columns:
                continue
            chosen = wide[rule.model].fillna("")
        else:
            chosen = wide.apply(lambda r, rule=rule: _vote(r, rule), axis=1)
        frame = pd.DataFrame({"slice_uid": chosen.index, "option": chosen.to_numpy(),
                              "truth": truth.loc[chosen.index].to_numpy()})
        frame["task"], frame["condition"], frame["model"] = task, condition, "council"
        if "source" in rows.columns:
            frame["source"] = rows.groupby("slice_uid")["source"].first().loc[
                chosen.index].to_numpy()
        out.append(frame)
    return pd.concat(out, ignore_index=True).sort_values(keys).reset_index(drop=True) if out \
        else pd.DataFrame(columns=[*keys, "option", "truth", "model"])


def _vote(row: pd.Series, rule: Rule) -> str:
    tally: dict[str, float] = {}
    for model, option in row.items():
        if isinstance(option, str) and option:
            tally[option] = tally.get(option, 0.0) + rule.weights.get(str(model), 0.0)
    if not tally or max(tally.values()) <= 0:
        return str(row.get(rule.model, "") or "")
    best = max(tally.values())
    leaders = [o for o, w in tally.items() if w == best]
    routed = row.get(rule.model, "")
    return str(routed) if routed in leaders else sorted(leaders)[0]


def compare_with_models(answers: pd.DataFrame, council_answers: pd.DataFrame, *, seed: int = 0,
                        replicates: int = 2000) -> pd.DataFrame:
    """Council accuracy minus each fixed model's, paired on the same slices, per task and
    condition, with design-aware CIs (units from ``answers``' case/donor/host columns;
    answers of the crossed design are compared apart from the others)."""
    from lesiontrials.analysis.design_units import is_crossed, units_for

    rows = []
    council_correct = council_answers.assign(
        correct=(council_answers["option"] == council_answers["truth"]).astype(float))
    crossed = is_crossed(answers)
    for group_name, group in (("crossed design", answers[crossed]), ("", answers[~crossed])):
        for (task, condition, model), model_rows in group.groupby(["task", "condition",
                                                                     "model"]):
            mine = model_rows.assign(correct=(model_rows["option"] == model_rows["truth"])
                                     .astype(float))
            theirs = council_correct[(council_correct["task"] == task)
                                     & (council_correct["condition"] == condition)]
            merged = mine.merge(theirs[["slice_uid", "correct"]], on="slice_uid",
                                suffixes=("_model", "_council"))
            if merged.empty:
                continue
            diff = paired_difference(merged["correct_council"].to_numpy(),
                                     merged["correct_model"].to_numpy(),
                                     units=units_for(merged), replicates=replicates,
                                     rng=rng_for(seed, "council", task, condition, model,
                                                 group_name))
            rows.append({"designs": group_name or "all but crossed", "task": task,
                         "condition": condition, "model": model, "n": len(merged),
                         "council_accuracy": float(merged["correct_council"].mean()),
                         "model_accuracy": float(merged["correct_model"].mean()),
                         **diff.as_dict("council_minus_model")})
    return pd.DataFrame(rows)
