"""Confidence-metric intervals resample the design's unit (a patient's repeat scans
together), per source, without the crossed design; ECE's interval is a basic one."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from lesiontrials.analysis.selective import (
    UNIT,
    ScoredAnswers,
    cluster_interval,
    confidence_metrics,
    confidence_table,
    with_design_units,
)
from lesiontrials.analysis.simulate_repeats import RepeatDesign, simulate_repeats

STRONG = RepeatDesign("strong-patient", patients=30, rounds=5, slices=2, patient_sd=1.5,
                      scan_sd=0.0, slice_sd=0.3, round_gain=0.0)


def _items() -> pd.DataFrame:
    return pd.DataFrame({
        "set": ["screen"] * 3 + ["cross", "real"],
        "slice_uid": ["a", "b", "c", "d", "e"],
        "source": ["synthetic"] * 4 + ["real"],
        "design": ["screening_simulation"] * 3 + ["digital_twin_cross", "real"],
        "case_uid": ["c0", "c5", "c1", "x0", "r0"],
        "host_ct_id": ["h1", "h1", "h2", "h9", "lung1"],
        "donor_uid": ["d1", "d1", "d2", "d3", ""]})


def test_design_units_join_repeat_scans_and_drop_the_crossed_design():
    answers = pd.DataFrame({"set": ["screen", "screen", "screen", "cross", "real"],
                            "slice_uid": ["a", "b", "c", "d", "e"], "paraphrase": "p0"})
    got = with_design_units(answers, _items())
    assert list(got["slice_uid"]) == ["a", "b", "c", "e"]  # the crossed slice is left out
    units = dict(zip(got["slice_uid"], got[UNIT], strict=True))
    assert units["a"] == units["b"] != units["c"]  # one patient's two rounds: one unit
    assert list(got["source"]) == ["synthetic"] * 3 + ["real"]


def test_an_answer_without_an_item_is_an_error():
    answers = pd.DataFrame({"set": ["screen"], "slice_uid": ["zz"], "paraphrase": "p0"})
    with pytest.raises(ValueError, match="without an item row"):
        with_design_units(answers, _items())


def test_confidence_table_has_one_row_per_source():
    rows = []
    for source in ("synthetic", "real"):
        for case in range(6):
            scores = {"present": 0.7, "absent": 0.3}
            rows.append({"source": source, "model": "m", "condition": "plain",
                         "task": "presence", "set": source, "slice_uid": f"{source}{case}",
                         UNIT: f"{source}/u{case // 2}", "truth": "present" if case % 3
                         else "absent", "scores_json": json.dumps(scores)})
    table = confidence_table(pd.DataFrame(rows), rng=np.random.default_rng(0),
                             replicates=20)
    assert sorted(table["source"]) == ["real", "synthetic"]
    assert (table["cases"] == 3).all()  # the units, not the 6 slices


def _mean_widths(design: RepeatDesign, sims: int) -> dict[str, float]:
    rng = np.random.default_rng(8)
    widths: dict[str, list[float]] = {"patients": [], "scans": []}
    for _ in range(sims):
        answers = simulate_repeats(design, rng)
        for unit, ids in (("patients", answers.patient), ("scans", answers.scan)):
            scored = ScoredAnswers(("top", "other"), answers.probabilities(),
                                   answers.truth_index(), ids.astype(str).astype(object))
            record = confidence_metrics(scored, task="lobe", rng=rng, replicates=100)
            widths[unit].append(record["brier_ci_high"] - record["brier_ci_low"])
    return {unit: float(np.mean(v)) for unit, v in widths.items()}


def test_resampling_patients_widens_the_brier_interval_when_patients_dominate():
    widths = _mean_widths(STRONG, sims=8)
    assert widths["patients"] > 1.15 * widths["scans"]  # 1.28 at this seed


def test_ece_interval_is_basic_and_clipped_at_zero():
    rng = np.random.default_rng(2)
    confidence = np.full(200, 0.8)
    hit = rng.random(200) < 0.8  # calibrated: the true ECE is 0
    clusters = np.repeat(np.arange(40), 5)

    def ece(ix: np.ndarray) -> float:
        return float(abs(hit[ix].mean() - confidence[ix].mean()))

    basic = cluster_interval(ece, clusters, rng=np.random.default_rng(3), replicates=300,
                             basic=True)
    percentile = cluster_interval(ece, clusters, rng=np.random.default_rng(3),
                                  replicates=300)
    assert basic.method == "basic-cluster-bootstrap"
    assert basic.high == pytest.approx(2 * basic.estimate - percentile.low)
    scored = ScoredAnswers(("top", "other"), np.stack([confidence, 1 - confidence], 1),
                           np.where(hit, 0, 1), clusters.astype(str).astype(object))
    record = confidence_metrics(scored, task="lobe", rng=rng, replicates=200)
    assert record["ece_ci_low"] >= 0.0
    assert record["ece_ci_method"] == "basic-cluster-bootstrap"


def test_brier_interval_resampling_patients_covers_on_repeat_scans():
    from lesiontrials.analysis.selective import brier_score

    design = RepeatDesign("screening", patients=25)
    rng = np.random.default_rng(21)
    big = simulate_repeats(design, rng, patients=100_000)
    truth = float(np.mean(big.q * 2 * (1 - big.confidence) ** 2
                          + (1 - big.q) * 2 * big.confidence**2))
    hits = []
    for _ in range(200):
        answers = simulate_repeats(design, rng)
        p, t = answers.probabilities(), answers.truth_index()
        interval = cluster_interval(lambda ix, p=p, t=t: brier_score(p[ix], t[ix]),
                                    answers.patient, rng=rng, replicates=150)
        hits.append(interval.low <= truth <= interval.high)
    assert 0.88 <= np.mean(hits) <= 0.99  # 0.965 at this seed
