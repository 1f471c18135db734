"""Metrics, bootstrap CIs, McNemar and the report on constructed results."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

from lesiontrials.analysis import (
    analyze,
    bootstrap_metric,
    confusion,
    mcnemar,
    paired_difference,
    summarise,
    write_report,
)

PRESENCE = ("present", "absent")


def test_always_present_model_looks_like_what_it_is():
    truth = ["present"] * 60 + ["absent"] * 40
    conf = confusion(truth, ["present"] * 100, PRESENCE)
    values = summarise(conf)
    assert values["accuracy"] == 0.6
    assert values["recall[present]"] == 1.0 and values["recall[absent]"] == 0.0
    assert values["balanced_accuracy"] == 0.5


def test_unparsed_answers_are_wrong_and_counted():
    conf = confusion(["present", "absent", "absent"], ["present", "", "maybe"], PRESENCE)
    values = summarise(conf)
    assert values["accuracy"] == pytest.approx(1 / 3)
    assert values["unparsed_rate"] == pytest.approx(2 / 3)


def test_bootstrap_ci_matches_the_binomial_normal_approximation():
    n, correct = 2000, 1400
    truth = np.array(["present"] * n)
    answers = np.array(["present"] * correct + ["absent"] * (n - correct))
    ci = bootstrap_metric(confusion(truth, answers, PRESENCE), replicates=4000,
                          rng=np.random.default_rng(0))
    half = 1.96 * math.sqrt(0.7 * 0.3 / n)
    assert ci.estimate == pytest.approx(0.7)
    assert ci.low == pytest.approx(0.7 - half, abs=0.004)
    assert ci.high == pytest.approx(0.7 + half, abs=0.004)


def test_paired_difference_on_a_large_clustered_set():
    rng = np.random.default_rng(1)
    a, b = rng.random(50_000) < 0.8, rng.random(50_000) < 0.75
    diff = paired_difference(a, b, units={"case": np.repeat(np.arange(10_000), 5)},
                             replicates=1000, rng=np.random.default_rng(2))
    assert diff.low < a.mean() - b.mean() < diff.high
    assert diff.high - diff.low < 0.03  # 10,000 independent cases: a tight interval


def test_mcnemar_against_a_hand_computed_example():
    # 12 items right only under A, 3 right only under B, 20 right under both, 5 neither.
    a = np.array([1] * 12 + [0] * 3 + [1] * 20 + [0] * 5, dtype=bool)
    b = np.array([0] * 12 + [1] * 3 + [1] * 20 + [0] * 5, dtype=bool)
    result = mcnemar(a, b)
    assert (result.b, result.c) == (12, 3)
    assert result.statistic == pytest.approx((abs(12 - 3) - 1) ** 2 / 15)  # 4.2667
    # exact two-sided binomial: 2 * P(X <= 3 | n=15, p=0.5) = 2 * 576 / 32768
    assert result.p_exact == pytest.approx(2 * 576 / 32768)


def _results() -> pd.DataFrame:
    rng = np.random.default_rng(3)
    rows = []
    for source, n in (("synthetic", 120), ("real", 40)):
        truth = rng.choice(PRESENCE, n)
        for model, skill in (("good", 0.9), ("bad", 0.55)):
            for condition, bonus in (("plain", 0.0), ("contour", 0.08)):
                right = rng.random(n) < min(skill + bonus, 1.0)
                answer = np.where(right, truth, np.where(truth == "present", "absent",
                                                         "present"))
                for i in range(n):
                    rows.append({"source": source, "model": model, "condition": condition,
                                 "task": "presence", "slice_uid": f"{source}-{i}",
                                 "option": answer[i], "truth": truth[i],
                                 "design": "d1" if i % 2 else "d2"})
    frame = pd.DataFrame(rows)
    # one slice lacks the bad model's contour answer: it must leave the reporting N
    drop = (frame.slice_uid == "synthetic-0") & (frame.model == "bad") & (
        frame.condition == "contour")
    return frame[~drop]


def test_analysis_and_report(tmp_path):
    analysis = analyze(_results(), replicates=200)
    assert analysis.reporting_n == {"real/presence": 40, "synthetic/presence": 119}
    cells = analysis.cells.set_index(["source", "model", "condition"])
    assert cells.loc[("synthetic", "good", "plain"), "accuracy"] > cells.loc[
        ("synthetic", "bad", "plain"), "accuracy"]
    assert (cells["accuracy_ci_low"] <= cells["accuracy"]).all()
    assert set(analysis.vs_plain["condition"]) == {"contour"}
    assert analysis.transfer["presence"]["cells"] == 4  # per task, never pooled
    report = write_report(analysis, tmp_path / "report", title="Test report")
    text = report.read_text()
    assert "data:image/png;base64," in text and "<table>" in text
    assert (tmp_path / "report" / "tables" / "cells.csv").is_file()
    assert "Spearman" in (tmp_path / "report" / "report.md").read_text()
