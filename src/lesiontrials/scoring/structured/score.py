"""Field-level scores of generated reports against the ground-truth reports.

Nodules are matched within a case: same lobe first, then closest size (a predicted nodule
matches at most one true nodule). Per field (lobe, attenuation, calcified, Lung-RADS): a
true positive is a matched pair stating the same value; precision = TP / fields stated in
the prediction, recall = TP / fields known in the truth (unmatched nodules count in the
denominators). Size: absolute error (mm) over matched pairs stating a size. Case
Lung-RADS agreement: linearly weighted Cohen's kappa (scikit-learn) over cases whose
truth and prediction both state a category, on the ordered scale 1 < 2 < 3 < 4A < 4B.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from sklearn.metrics import cohen_kappa_score

from lesiontrials.scoring.questions.lungrads import CATEGORIES
from lesiontrials.scoring.structured.report import FIELDS, CaseReport, NoduleReport


@dataclass(frozen=True)
class FieldScore:
    field: str
    precision: float
    recall: float
    f1: float
    n_true: int
    n_pred: int


def match_nodules(truth: Sequence[NoduleReport], pred: Sequence[NoduleReport]
                  ) -> list[tuple[int, int]]:
    """Greedy (truth index, prediction index) pairs: same lobe, then closest size."""
    pairs: list[tuple[int, int]] = []
    free = set(range(len(pred)))
    for i, t in enumerate(truth):
        def cost(j: int, t: NoduleReport = t) -> tuple[int, float]:
            p = pred[j]
            size = (abs(p.size_mm - t.size_mm) if p.size_mm is not None
                    and t.size_mm is not None else 1e6)
            return (0 if p.lobe == t.lobe and t.lobe is not None else 1, size)
        if free:
            best = min(sorted(free), key=cost)
            if cost(best)[0] == 0 or (t.lobe is None or pred[best].lobe is None):
                pairs.append((i, best))
                free.remove(best)
    return pairs


def _f1(tp: int, n_true: int, n_pred: int) -> tuple[float, float, float]:
    p = tp / n_pred if n_pred else float("nan")
    r = tp / n_true if n_true else float("nan")
    f = 2 * p * r / (p + r) if n_pred and n_true and (p + r) > 0 else (
        0.0 if n_pred and n_true else float("nan"))
    return p, r, f


def field_scores(truths: Sequence[CaseReport], preds: Sequence[CaseReport]
                 ) -> tuple[list[FieldScore], float, float]:
    """Per-field P/R/F1, mean size absolute error (mm) and case Lung-RADS weighted kappa."""
    counts = {f: [0, 0, 0] for f in FIELDS}  # tp, n_true, n_pred
    errors: list[float] = []
    cats: list[tuple[str, str]] = []
    for truth, pred in zip(truths, preds, strict=True):
        pairs = match_nodules(truth.nodules, pred.nodules)
        for f in FIELDS:
            counts[f][1] += sum(getattr(n, f) is not None for n in truth.nodules)
            counts[f][2] += sum(getattr(n, f) is not None for n in pred.nodules)
            counts[f][0] += sum(getattr(truth.nodules[i], f) is not None and getattr(
                truth.nodules[i], f) == getattr(pred.nodules[j], f) for i, j in pairs)
        errors += [abs(pred.nodules[j].size_mm - truth.nodules[i].size_mm)  # type: ignore[operator]
                   for i, j in pairs if pred.nodules[j].size_mm is not None
                   and truth.nodules[i].size_mm is not None]
        if truth.category is not None and pred.category is not None:
            cats.append((truth.category, pred.category))
    scores = [FieldScore(f, *_f1(*c), n_true=c[1], n_pred=c[2]) for f, c in counts.items()]
    size_error = float(np.mean(errors)) if errors else float("nan")
    kappa = float("nan")
    if cats:
        a = [CATEGORIES.index(t) for t, _ in cats]
        b = [CATEGORIES.index(p) for _, p in cats]
        kappa = float(cohen_kappa_score(a, b, weights="linear",
                                        labels=list(range(len(CATEGORIES)))))
    return scores, size_error, kappa
