"""Simulation check of the confidence metrics' case-clustered intervals (analysis/selective.py).

Known truth: cases carry a random difficulty shared by their slices and paraphrases (the
design's clustering); a model answers each (slice, paraphrase) correctly with probability
``p = sigmoid(a + u_case + e_slice)`` and reports a confidence that is ``p`` (calibrated).
The "true" value of each metric is its value on a very large population drawn the same
way. Over repeated studies of realistic size (60 cases × 4 slices × 4 paraphrases) we
report bias and the coverage of the 95 % intervals, resampling cases (what the report does)
versus resampling single answers (what it must not do).
"""

from __future__ import annotations

import json
import time

import numpy as np

from lesiontrials.analysis.selective import aurc, brier_score, cluster_interval


def _study(rng: np.random.Generator, cases: int, slices: int, paraphrases: int
           ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Confidence, correctness and case id per answer."""
    u = rng.normal(0.0, 1.2, cases)  # case difficulty: the clustering
    e = rng.normal(0.0, 0.5, (cases, slices))
    logit = 1.0 + u[:, None, None] + e[:, :, None] + np.zeros((1, 1, paraphrases))
    p = 1.0 / (1.0 + np.exp(-logit))
    correct = rng.random(p.shape) < p
    confidence = np.maximum(p, 1 - p)  # a calibrated top-option probability
    # the top option is the right one when confidence belongs to the right answer
    right_top = np.where(p >= 0.5, correct, ~correct)
    case = np.repeat(np.arange(cases), slices * paraphrases)
    return confidence.ravel(), right_top.ravel(), case


def _metrics(confidence: np.ndarray, hit: np.ndarray) -> dict[str, float]:
    probs = np.stack([confidence, 1 - confidence], axis=1)
    truth = np.where(hit, 0, 1)
    return {"accuracy": float(hit.mean()), "brier": brier_score(probs, truth),
            "aurc": aurc(confidence, hit)}


def main(studies: int = 200, replicates: int = 200) -> None:
    rng = np.random.default_rng(2026)
    big_conf, big_hit, _ = _study(rng, 100_000, 4, 1)
    truth = _metrics(big_conf, big_hit)
    truth["aurc"] = float(np.mean([_metrics(*_study(rng, 60, 4, 4)[:2])["aurc"]
                                   for _ in range(2000)]))  # AURC's expectation at this N
    start = time.perf_counter()
    hits: dict[str, dict[str, int]] = {m: {"cases": 0, "items": 0} for m in truth}
    estimates: dict[str, list[float]] = {m: [] for m in truth}
    for _ in range(studies):
        conf, hit, case = _study(rng, 60, 4, 4)
        for metric in truth:
            def fn(ix: np.ndarray, m: str = metric, c: np.ndarray = conf,
                   h: np.ndarray = hit) -> float:
                return _metrics(c[ix], h[ix])[m]
            for unit, clusters in (("cases", case), ("items", np.arange(len(case)))):
                ci = cluster_interval(fn, clusters, rng=rng, replicates=replicates)
                hits[metric][unit] += int(ci.low <= truth[metric] <= ci.high)
            estimates[metric].append(fn(np.arange(len(case))))
    print(json.dumps({
        "design": "60 cases x 4 slices x 4 paraphrases, case random effect sd 1.2",
        "studies": studies, "replicates": replicates,
        "truth": {m: round(v, 4) for m, v in truth.items()},
        "bias": {m: round(float(np.mean(estimates[m]) - truth[m]), 4) for m in truth},
        "coverage_95": {m: {u: round(c / studies, 3) for u, c in hits[m].items()}
                        for m in truth},
        "seconds": round(time.perf_counter() - start, 1)}, indent=2))


if __name__ == "__main__":
    main()
