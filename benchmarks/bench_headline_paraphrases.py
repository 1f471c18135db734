"""Simulation check of the report's headline accuracy when a model is asked several prompt
paraphrases (analysis/tables.py ``cell_metrics`` with ``selective.paraphrase_means``).

Known truth: cases carry a random difficulty shared by their slices (the design's
clustering), each paraphrase has its own offset (some wordings are harder), and a model
answers (slice, paraphrase) correctly with probability ``sigmoid(a + u_case + e_slice +
w_paraphrase)``. The estimand is the mean over paraphrases of the population accuracy
(computed on 200,000 cases). Over repeated studies of realistic size (60 and 200 cases ×
2 slices × 4 paraphrases) we report the headline's bias, its 95 % interval's coverage and
mean width — the report's interval (per-slice means, cases resampled with every
paraphrase of a slice together) against treating every answer as its own item (a
per-answer Wilson interval: what the report must not do). Prints JSON.
"""

from __future__ import annotations

import json
import time

import numpy as np
import pandas as pd

from lesiontrials.analysis.intervals import wilson
from lesiontrials.analysis.selective import SLICE_KEYS, paraphrase_means
from lesiontrials.analysis.tables import cell_metrics

OFFSETS = np.array([0.0, -0.4, -0.8, 0.3])  # p0 … p3: harder and easier wordings
SLICES = 2


def _probabilities(rng: np.random.Generator, cases: int) -> np.ndarray:
    """P(correct) per (case, slice, paraphrase)."""
    u = rng.normal(0.0, 1.0, cases)[:, None, None]
    e = rng.normal(0.0, 0.5, (cases, SLICES))[:, :, None]
    return 1.0 / (1.0 + np.exp(-(0.8 + u + e + OFFSETS[None, None, :])))


def _study(rng: np.random.Generator, cases: int) -> pd.DataFrame:
    correct = rng.random((cases, SLICES, len(OFFSETS))) < _probabilities(rng, cases)
    case, slice_, para = np.meshgrid(np.arange(cases), np.arange(SLICES),
                                     np.arange(len(OFFSETS)), indexing="ij")
    truth = np.where(slice_ % 2 == 0, "present", "absent")
    wrong = np.where(truth == "present", "absent", "present")
    return pd.DataFrame({
        "source": "synthetic", "model": "m", "condition": "plain", "task": "presence",
        "set": "s", "profile": "lung", "design": "algorithm_comparison",
        "case_uid": [f"c{c}" for c in case.ravel()],
        "slice_uid": [f"c{c}-{s}" for c, s in zip(case.ravel(), slice_.ravel(), strict=True)],
        "paraphrase": [f"p{p}" for p in para.ravel()], "truth": truth.ravel(),
        "option": np.where(correct, truth, wrong).ravel(), "correct": correct.ravel()})


def _headline(every: pd.DataFrame) -> dict[str, float]:
    canonical = every[every["paraphrase"] == "p0"].drop(columns="paraphrase")
    scored = canonical.merge(paraphrase_means(every), on=SLICE_KEYS, how="left")
    row = cell_metrics(scored, replicates=300).iloc[0]
    return {"estimate": float(row["accuracy"]), "low": float(row["accuracy_ci_low"]),
            "high": float(row["accuracy_ci_high"])}


def main(studies: int = 200) -> None:
    rng = np.random.default_rng(19)
    truth = float(_probabilities(rng, 200_000).mean())
    start = time.perf_counter()
    out: dict[str, object] = {"estimand": "mean over 4 paraphrases of the accuracy",
                              "true_value": round(truth, 4), "studies": studies}
    for cases in (60, 200):
        report, naive, estimates = [], [], []
        for _ in range(studies):
            every = _study(rng, cases)
            head = _headline(every)
            estimates.append(head["estimate"])
            report.append((head["low"] <= truth <= head["high"], head["high"] - head["low"]))
            p = float(every["correct"].mean())
            low, high = wilson(p, len(every), 1.959964)
            naive.append((low <= truth <= high, high - low))
        out[f"{cases}_cases"] = {
            "bias": round(float(np.mean(estimates)) - truth, 4),
            "coverage_cases_resampled": round(float(np.mean([c for c, _ in report])), 3),
            "mean_width_cases_resampled": round(float(np.mean([w for _, w in report])), 3),
            "coverage_answers_as_items": round(float(np.mean([c for c, _ in naive])), 3),
            "mean_width_answers_as_items": round(float(np.mean([w for _, w in naive])), 3)}
    out["seconds"] = round(time.perf_counter() - start, 1)
    print(json.dumps(out, indent=1))


if __name__ == "__main__":
    main()
