"""Cost of the case-bootstrap AUROC interval of the report's confidence table
(``analysis/selective.py``): the mid-rank (Mann–Whitney) AUROC against scikit-learn's
``roc_auc_score`` on the same replicates, with the largest difference between the two.

A study of realistic size: 60 cases × 4 slices × 4 paraphrases, presence truth per case,
``p(present)`` on 20 levels (ties, as option scores have), 500 bootstrap replicates — what
the report computes per model × condition for the presence task. Prints one JSON object.
"""

from __future__ import annotations

import json
import time

import numpy as np

from lesiontrials.analysis.selective import auroc, cluster_interval


def main(cases: int = 60, per_case: int = 16, replicates: int = 500) -> None:
    from sklearn.metrics import roc_auc_score

    rng = np.random.default_rng(24)
    present = np.repeat(rng.random(cases) < 0.5, per_case)
    scores = np.clip(np.round(rng.normal(0.35 + 0.3 * present, 0.2) * 20) / 20, 0, 1)
    clusters = np.repeat(np.arange(cases).astype(str), per_case)

    def timed(metric):  # seconds for one interval, and the interval
        start = time.perf_counter()
        interval = cluster_interval(metric, clusters, rng=np.random.default_rng(0),
                                    replicates=replicates)
        return time.perf_counter() - start, interval

    fast_s, fast = timed(lambda ix: auroc(scores[ix], present[ix]))
    slow_s, slow = timed(lambda ix: float(roc_auc_score(present[ix], scores[ix])))
    print(json.dumps({
        "answers": int(present.size), "cases": cases, "replicates": replicates,
        "mid_rank_s": round(fast_s, 3), "sklearn_s": round(slow_s, 3),
        "speedup": round(slow_s / fast_s, 1),
        "max_abs_difference": max(abs(fast.estimate - slow.estimate),
                                  abs(fast.low - slow.low), abs(fast.high - slow.high)),
    }))


if __name__ == "__main__":
    main()
