"""Confidence metrics of models that give option scores, and prompt robustness.

Metrics (per model × condition × task, on the answers that carry scores):

* **Brier score**: mean over items of ``Σ_k (p_k − y_k)²`` over the item's options (the
  original multi-class definition; for two options it is twice the binary ``(p − y)²``).
* **ECE** (expected calibration error): items binned by the top option's probability into
  ``n_bins`` equal-width bins; ``Σ_b (n_b / N) |accuracy_b − confidence_b|``.
* **AUROC** (presence only): ``p(present)`` as the score for telling slices with a nodule
  from slices without one (the probability that a random positive outranks a random
  negative, ties counting one half).
* **Risk–coverage and AURC** (selective prediction): answers ranked by confidence; the
  risk at coverage ``k/N`` is the error rate of the ``k`` most confident answers, and AURC
  is its mean over ``k = 1 … N``. Tied confidences are ranked in every order with equal
  weight (their errors spread evenly), so the curve does not depend on row order.

Calibration and selective prediction judge the score's own choice (the top-scored option,
which can differ from a chat model's greedy reply). Intervals are bootstraps that resample
the **design's unit** (column :data:`UNIT`, attached by :func:`with_design_units`: the
case, the patient of the screening design's repeat scans and of the digital twins, the
base case of the bootstrap design — :func:`~lesiontrials.analysis.design_units.case_unit`;
``case_uid`` when the column is absent), never single items; the crossed donor × host
design is left out (tabulated apart, as in the accuracy tables), and synthetic and real
answers are never pooled (one row per source). Brier, AURC, AUROC and accuracy: percentile
intervals; ECE: a *basic* interval clipped at 0 (see :func:`cluster_interval`), because
the ECE of a few hundred answers is biased upwards (+0.05 for a calibrated model at 180
answers; its percentile interval never covered the true 0). ECE's interval still
under-covers (benchmarks/bench_selective_units.py; docs/analysis.md): read it as a rough
guide, not a test of calibration. Accuracy per paraphrase, its spread (max − min) and the
mean over paraphrases (the headline for models asked several wordings) come from
:func:`paraphrase_table`.
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Callable, Collection
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from lesiontrials.analysis.bootstrap import Interval
from lesiontrials.analysis.design_units import case_unit, is_crossed
from lesiontrials.analysis.intervals import critical_value

#: fewer cases than this give no interval: a bootstrap over a handful of cases is not one
MIN_CASES = 5
#: the resampling unit of each answer (see :func:`with_design_units`)
UNIT = "resample_unit"


def brier_score(probabilities: np.ndarray, truth_index: np.ndarray) -> float:
    """Multi-class Brier score; ``probabilities`` ``(n, k)`` rows summing to one."""
    p = np.asarray(probabilities, dtype=float)
    onehot = np.zeros_like(p)
    onehot[np.arange(len(p)), np.asarray(truth_index, dtype=int)] = 1.0
    return float(((p - onehot) ** 2).sum(axis=1).mean()) if len(p) else float("nan")


def expected_calibration_error(confidence: np.ndarray, correct: np.ndarray, *,
                               n_bins: int = 10) -> float:
    """ECE over ``n_bins`` equal-width confidence bins (right-closed; 0 goes to bin 1)."""
    conf = np.asarray(confidence, dtype=float)
    hit = np.asarray(correct, dtype=float)
    if conf.size == 0:
        return float("nan")
    bins = np.clip(np.ceil(conf * n_bins).astype(int) - 1, 0, n_bins - 1)
    total = 0.0
    for b in np.unique(bins):
        inside = bins == b
        total += inside.mean() * abs(hit[inside].mean() - conf[inside].mean())
    return float(total)


def auroc(scores: np.ndarray, positive: np.ndarray) -> float:
    """Area under the ROC curve (NaN when only one class is present), as the Mann–Whitney
    statistic with mid-ranks: equal to the trapezoidal ROC area with ties counting one
    half, in O(n log n) without input validation per call — the case bootstrap calls it
    500 times per cell, where ``sklearn.metrics.roc_auc_score`` took ~¾ of the analysis."""
    from lesiontrials.scoring.malignancy import auroc as mann_whitney_auroc

    values = np.asarray(scores, dtype=float)
    if not np.isfinite(values).all():
        raise ValueError("AUROC scores must be finite (a NaN or infinite score was given)")
    return mann_whitney_auroc(values, np.asarray(positive, dtype=bool).astype(int))


def risk_coverage(confidence: np.ndarray, correct: np.ndarray
                  ) -> tuple[np.ndarray, np.ndarray]:
    """``(coverage, risk)`` at ``k = 1 … N`` answers kept, most confident first; within a
    block of tied confidences the block's errors are spread evenly."""
    conf = np.asarray(confidence, dtype=float)
    wrong = 1.0 - np.asarray(correct, dtype=float)
    n = conf.size
    if n == 0:
        return np.zeros(0), np.zeros(0)
    order = np.argsort(-conf, kind="stable")
    conf, wrong = conf[order], wrong[order]
    _, block = np.unique(-conf, return_inverse=True)  # blocks of equal confidence, in order
    expected = (np.bincount(block, weights=wrong) / np.bincount(block))[block]
    k = np.arange(1, n + 1)
    return k / n, np.cumsum(expected) / k


def aurc(confidence: np.ndarray, correct: np.ndarray) -> float:
    """Area under the risk–coverage curve: mean risk over ``k = 1 … N``."""
    _, risk = risk_coverage(confidence, correct)
    return float(risk.mean()) if risk.size else float("nan")


@dataclass(frozen=True)
class ScoredAnswers:
    """Answers with option probabilities: ``probabilities`` ``(n, k)`` over ``options``."""

    options: tuple[str, ...]
    probabilities: np.ndarray
    truth_index: np.ndarray
    clusters: np.ndarray

    @property
    def confidence(self) -> np.ndarray:
        return self.probabilities.max(axis=1)

    @property
    def correct(self) -> np.ndarray:
        return self.probabilities.argmax(axis=1) == self.truth_index


def scored_answers(rows: pd.DataFrame, options: tuple[str, ...]) -> ScoredAnswers:
    """The rows of one task whose ``scores_json`` covers every option, normalised to sum
    to one; rows without scores are left out. Clusters are the design's unit
    (:data:`UNIT`, else ``case_uid``, else the slice uid)."""
    probs, truth, clusters = [], [], []
    cluster_col = _unit_column(rows)
    for text, true, cluster in zip(rows["scores_json"], rows["truth"], rows[cluster_col],
                                   strict=True):
        if not isinstance(text, str) or not text.strip() or true not in options:
            continue
        scores = json.loads(text)
        if not all(o in scores for o in options):
            continue
        values = np.array([float(scores[o]) for o in options])
        if not np.isfinite(values).all() or values.min() < 0 or values.sum() <= 0:
            raise ValueError(f"option scores must be non-negative and finite: {text}")
        probs.append(values / values.sum())
        truth.append(options.index(true))
        clusters.append(str(cluster))
    k = len(options)
    return ScoredAnswers(options, np.array(probs).reshape(-1, k), np.array(truth, dtype=int),
                         np.array(clusters, dtype=object))


def cluster_interval(metric: Callable[[np.ndarray], float], clusters: np.ndarray, *,
                     rng: np.random.Generator, replicates: int = 500,
                     level: float = 0.95, basic: bool = False) -> Interval:
    """CI of ``metric(row_indices)`` resampling whole clusters with replacement (no
    interval, NaN bounds, with fewer than :data:`MIN_CASES` clusters).

    Percentile interval by default; ``basic``: ``[2θ̂ − q_hi, 2θ̂ − q_lo]``, for a metric
    whose estimate is biased (ECE is biased upwards at realistic N): the
    replicates sit about as far above θ̂ as θ̂ sits above the truth, and the basic interval
    reflects that shift back (method ``basic-cluster-bootstrap``).

    Either way each side's distance from θ̂ is stretched by ``√(G/(G−1)) · t(G−1)/z``, G
    the number of clusters: a bootstrap over G clusters underestimates the variance by
    (G−1)/G and the variance itself rests on G clusters (the CR1 factor and Student's t,
    as in ``accuracy_interval``); the plain percentile interval covered Brier 0.915 at 20
    patients (benchmarks/bench_selective_units.py). The factor is 1.09 at 20 clusters,
    1.01 at 100."""
    n = len(clusters)
    estimate = metric(np.arange(n)) if n else float("nan")
    codes, inverse = np.unique(clusters, return_inverse=True)
    if len(codes) < MIN_CASES:
        return Interval(estimate, float("nan"), float("nan"), level)
    members = [np.flatnonzero(inverse == c) for c in range(len(codes))]
    values = np.empty(replicates)
    for r in range(replicates):
        drawn = rng.integers(0, len(codes), len(codes))
        values[r] = metric(np.concatenate([members[c] for c in drawn]))
    values = values[np.isfinite(values)]
    if values.size == 0:
        return Interval(estimate, float("nan"), float("nan"), level)
    alpha = (1.0 - level) / 2.0
    low, high = np.quantile(values, [alpha, 1.0 - alpha])
    groups = len(codes)
    stretch = np.sqrt(groups / (groups - 1)) * critical_value(level, groups) / \
        critical_value(level, None)
    below, above = (high - estimate, estimate - low) if basic else (estimate - low,
                                                                    high - estimate)
    return Interval(float(estimate), float(estimate - stretch * below),
                    float(estimate + stretch * above), level,
                    "basic-cluster-bootstrap" if basic else "percentile-cluster-bootstrap")


def confidence_metrics(answers: ScoredAnswers, *, task: str, rng: np.random.Generator,
                       replicates: int = 500) -> dict[str, Any]:
    """Brier, ECE, AURC (and AUROC for presence) with case-clustered CIs."""
    p, truth, conf, correct = (answers.probabilities, answers.truth_index, answers.confidence,
                               answers.correct)
    metrics: dict[str, Callable[[np.ndarray], float]] = {
        "brier": lambda ix: brier_score(p[ix], truth[ix]),
        "ece": lambda ix: expected_calibration_error(conf[ix], correct[ix]),
        "aurc": lambda ix: aurc(conf[ix], correct[ix]),
    }
    if task == "presence" and "present" in answers.options:
        column = answers.options.index("present")
        present = truth == column
        metrics["auroc"] = lambda ix: auroc(p[ix, column], present[ix])
    out: dict[str, Any] = {"n_scored": len(truth),
                           "cases": len(np.unique(answers.clusters))}
    for name, fn in metrics.items():
        interval = cluster_interval(fn, answers.clusters, rng=rng, replicates=replicates,
                                    basic=name in BIASED)
        if name in BOUNDED:  # a basic interval can leave the metric's range
            interval = dataclasses.replace(interval, low=max(interval.low, 0.0))
        out.update(interval.as_dict(name))
    return out


#: metrics whose estimate is biased upwards at realistic N: basic intervals
BIASED = frozenset({"ece"})
#: metrics that cannot be negative
BOUNDED = frozenset({"ece"})


# ----------------------------------------------------------------------- report tables
GROUP = ["model", "condition", "task"]


def _unit_column(rows: pd.DataFrame) -> str:
    """The column holding each answer's resampling unit (see the module docstring)."""
    for column in (UNIT, "case_uid"):
        if column in rows.columns:
            return column
    return "slice_uid"


def _groups(results: pd.DataFrame) -> list[str]:
    """One table row per source × model × condition × task (per model × condition × task
    when the rows carry no source)."""
    return ["source", *GROUP] if "source" in results.columns else GROUP


def with_design_units(answers: pd.DataFrame, items: pd.DataFrame) -> pd.DataFrame:
    """``answers`` (any paraphrases) with each slice's ``source`` and design unit
    (:data:`UNIT`, :func:`~lesiontrials.analysis.design_units.case_unit`) taken from
    ``items`` — rows with the slice's set, design, case, base case and host — and the
    crossed donor × host design left out (its answers reuse donors and hosts crosswise:
    no one-way unit holds them; it is tabulated apart). A slice of ``answers`` missing from
    ``items`` is an error."""
    keys = ["set", "slice_uid"]
    per_slice = items.drop_duplicates(keys)
    units = pd.DataFrame({"set": per_slice["set"].to_numpy(),
                          "slice_uid": per_slice["slice_uid"].to_numpy(),
                          "source": per_slice["source"].to_numpy(),
                          UNIT: case_unit(per_slice).to_numpy(),
                          "_crossed": is_crossed(per_slice).to_numpy()})
    merged = answers.drop(columns=["source", UNIT], errors="ignore").merge(
        units, on=keys, how="left", validate="many_to_one")
    missing = merged[UNIT].isna()
    if missing.any():
        raise ValueError(f"{int(missing.sum())} answers on slices without an item row "
                         f"(e.g. {merged.loc[missing, 'slice_uid'].iloc[0]})")
    return merged[~merged["_crossed"].astype(bool)].drop(columns="_crossed").reset_index(
        drop=True)


def load_all_paraphrases(workspace: Any, *, results: pd.DataFrame | None = None
                         ) -> pd.DataFrame:
    """Every current result row, all paraphrases, with the item's ``case_uid``.
    ``results``: those rows when the caller has read them already
    (:func:`~lesiontrials.scoring.results.read_current_results`)."""
    from lesiontrials.scoring.results import RESULT_COLUMNS, read_current_results, read_items

    if results is None:
        results = read_current_results(workspace)
    if results.empty:
        return pd.DataFrame(columns=[*RESULT_COLUMNS, "case_uid"])
    keys = ["slice_uid", "set", "condition", "profile"]
    cases = [read_items(p)[[*keys, "case_uid"]] for p in workspace.eval_items_files()]
    results = results.merge(pd.concat(cases).drop_duplicates(keys), on=keys, how="left") \
        if cases else results.copy()  # never the caller's frame
    if "case_uid" not in results.columns:
        results["case_uid"] = results["slice_uid"]
    results["case_uid"] = results["case_uid"].fillna(results["slice_uid"]).astype(str)
    return results


SLICE_KEYS = ["model", "set", "condition", "task", "profile", "slice_uid"]


def paraphrase_means(results: pd.DataFrame) -> pd.DataFrame:
    """Per answered slice (:data:`SLICE_KEYS`): ``correct_mean``, its correctness averaged
    over every prompt paraphrase it was asked, and ``paraphrases``, how many (1 for models
    asked the canonical wording only). The report's headline accuracy averages these, so
    each slice weighs the same whatever the number of paraphrases."""
    if results.empty:
        return pd.DataFrame(columns=[*SLICE_KEYS, "correct_mean", "paraphrases"])
    grouped = results.groupby(SLICE_KEYS, sort=True, dropna=False)
    out = grouped["correct"].mean().rename("correct_mean").to_frame()
    out["paraphrases"] = grouped["paraphrase"].nunique()
    return out.reset_index()


def paraphrase_table(results: pd.DataFrame, *, rng: np.random.Generator,
                     replicates: int = 500) -> pd.DataFrame:
    """Per model × condition × task: accuracy per paraphrase, spread (max − min) and the
    mean over paraphrases with a case-clustered CI (the headline for these models)."""
    rows = []
    unit, keys = _unit_column(results), _groups(results)
    for key, group in results.groupby(keys, sort=True):
        per = group.groupby("paraphrase")["correct"].mean()
        # per slice: the mean over its paraphrases, so each slice weighs the same
        by_slice = group.groupby(["set", "slice_uid", unit], as_index=False)["correct"].mean()
        values = by_slice["correct"].to_numpy(dtype=float)

        def mean_of(ix: np.ndarray, v: np.ndarray = values) -> float:
            return float(v[ix].mean())

        interval = cluster_interval(mean_of, by_slice[unit].to_numpy(), rng=rng,
                                    replicates=replicates)
        row: dict[str, Any] = {**dict(zip(keys, key, strict=True)),
                               "cases": int(by_slice[unit].nunique()),
                               "slices": len(by_slice), "paraphrases": len(per)}
        row.update(interval.as_dict("mean_accuracy"))
        row["spread"] = float(per.max() - per.min())
        row.update({f"accuracy_{pid}": float(acc) for pid, acc in per.items()})
        rows.append(row)
    return pd.DataFrame(rows)


def confidence_table(results: pd.DataFrame, *, rng: np.random.Generator,
                     replicates: int = 500) -> pd.DataFrame:
    """Per model × condition × task with option scores: Brier, ECE, AURC, AUROC."""
    from lesiontrials.slicing.contract import TASK_OPTIONS

    rows = []
    keys = _groups(results)
    for key, group in results.groupby(keys, sort=True):
        task = dict(zip(keys, key, strict=True))["task"]
        answers = scored_answers(group, TASK_OPTIONS[str(task)])
        if not len(answers.truth_index):
            continue
        rows.append({**dict(zip(keys, key, strict=True)),
                     **confidence_metrics(answers, task=str(task), rng=rng,
                                          replicates=replicates)})
    return pd.DataFrame(rows)


def selective_sections(results: pd.DataFrame, *, seed: int, replicates: int = 500,
                       baselines: Collection[str] = ()
                       ) -> tuple[list[tuple[str, str]], dict[str, pd.DataFrame]]:
    """Report sections (title, markdown) and their tables by name; ``baselines`` are
    marked "(baseline)" in the markdown. (Which model misses which cell is the report's
    coverage table, built from the frozen split.)"""
    from lesiontrials.analysis.report import label_baselines, markdown_table
    from lesiontrials.seeding import rng_for

    if results.empty:
        return [], {}
    tables = {
        "paraphrases": paraphrase_table(results, rng=rng_for(seed, "paraphrases"),
                                        replicates=replicates),
        "confidence": confidence_table(results, rng=rng_for(seed, "confidence"),
                                       replicates=replicates),
    }
    sections = [
        ("Prompt robustness", "Models asked several prompt paraphrases (p0 canonical, "
         "p1–p2 reworded, p3 reversed option order): accuracy per paraphrase (accuracy_p0: "
         "the canonical wording alone), its spread (max − min) and the mean over paraphrases "
         "— the headline accuracy of every other table for these models — with a "
         "95 % CI resampling the design's units (cases; a patient's repeat scans or "
         f"twins together; none with fewer than {MIN_CASES} units), per source, the "
         "crossed donor × host design left out. Every model is in paraphrases.csv.\n\n"
         + markdown_table(label_baselines(_several(tables["paraphrases"]), baselines))),
        ("Confidence: calibration and selective prediction", "On answers with option "
         "scores (the top-scored option is judged): multi-class Brier, ECE (10 bins), AURC "
         "(risk–coverage), AUROC for presence; 95 % CIs resample the design's units "
         "(cases; a patient's repeat scans or twins together; none with fewer than "
         f"{MIN_CASES} units), a basic interval for ECE (biased upwards; its interval "
         "under-covers, a rough guide only), "
         "per source, the crossed donor × host design left out.\n\n"
         + (markdown_table(label_baselines(tables["confidence"], baselines))
            if len(tables["confidence"]) else
            "_(no model gave option scores)_\n")),
    ]
    return sections, tables


def _several(table: pd.DataFrame) -> pd.DataFrame:
    """Rows of models asked more than one paraphrase (the others repeat p0)."""
    if table.empty:
        return table
    return table[table["paraphrases"] > 1].dropna(axis=1, how="all")
