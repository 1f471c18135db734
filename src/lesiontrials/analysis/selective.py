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
which can differ from a chat model's greedy reply). Intervals are percentile bootstraps
that resample **cases** (``case_uid``; a case contributes several slices, conditions and
paraphrases), never single items. Accuracy per paraphrase, its spread (max − min) and the
mean over paraphrases (the headline for models asked several wordings) come from
:func:`paraphrase_table`.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Collection
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from lesiontrials.analysis.bootstrap import Interval

#: fewer cases than this give no interval: a bootstrap over a handful of cases is not one
MIN_CASES = 5


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
    to one; rows without scores are left out. Clusters are ``case_uid`` (else slice uid)."""
    probs, truth, clusters = [], [], []
    cluster_col = "case_uid" if "case_uid" in rows.columns else "slice_uid"
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
                     level: float = 0.95) -> Interval:
    """Percentile CI of ``metric(row_indices)`` resampling whole clusters with replacement
    (no interval, NaN bounds, with fewer than :data:`MIN_CASES` clusters)."""
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
    return Interval(float(estimate), float(low), float(high), level)


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
        out.update(cluster_interval(fn, answers.clusters, rng=rng,
                                    replicates=replicates).as_dict(name))
    return out


# ----------------------------------------------------------------------- report tables
GROUP = ["model", "condition", "task"]


def load_all_paraphrases(workspace: Any) -> pd.DataFrame:
    """Every current result row, all paraphrases, with the item's ``case_uid``."""
    from lesiontrials.scoring.results import RESULT_COLUMNS, read_items, read_results

    frames = [read_results(workspace, model=cell.model, set_name=cell.eval_set,
                           condition=cell.condition, task=cell.task, paraphrase=None)
              for cell in workspace.result_cells()]
    frames = [f for f in frames if len(f)]
    if not frames:
        return pd.DataFrame(columns=[*RESULT_COLUMNS, "case_uid"])
    results = pd.concat(frames, ignore_index=True)
    keys = ["slice_uid", "set", "condition", "profile"]
    cases = [read_items(p)[[*keys, "case_uid"]] for p in workspace.eval_items_files()]
    if cases:
        results = results.merge(pd.concat(cases).drop_duplicates(keys), on=keys, how="left")
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
    for (model, condition, task), group in results.groupby(GROUP, sort=True):
        per = group.groupby("paraphrase")["correct"].mean()
        # per slice: the mean over its paraphrases, so each slice weighs the same
        by_slice = group.groupby(["slice_uid", "case_uid"], as_index=False)["correct"].mean()
        values = by_slice["correct"].to_numpy(dtype=float)

        def mean_of(ix: np.ndarray, v: np.ndarray = values) -> float:
            return float(v[ix].mean())

        interval = cluster_interval(mean_of, by_slice["case_uid"].to_numpy(), rng=rng,
                                    replicates=replicates)
        row: dict[str, Any] = {"model": model, "condition": condition, "task": task,
                               "cases": int(by_slice["case_uid"].nunique()),
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
    for (model, condition, task), group in results.groupby(GROUP, sort=True):
        answers = scored_answers(group, TASK_OPTIONS[str(task)])
        if not len(answers.truth_index):
            continue
        rows.append({"model": model, "condition": condition, "task": task,
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
         f"95 % CI resampling cases (none with fewer than {MIN_CASES} cases). Every model "
         "is in paraphrases.csv.\n\n"
         + markdown_table(label_baselines(_several(tables["paraphrases"]), baselines))),
        ("Confidence: calibration and selective prediction", "On answers with option "
         "scores (the top-scored option is judged): multi-class Brier, ECE (10 bins), AURC "
         "(risk–coverage), AUROC for presence; 95 % CIs resample cases (none with fewer "
         f"than {MIN_CASES} cases).\n\n"
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
