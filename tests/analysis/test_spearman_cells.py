"""The synthetic-vs-real Spearman ρ interval: coverage of the true-accuracy ρ on simulated
cells with clustered cases, and the case (not the slice) as the resampled unit."""

from __future__ import annotations

import dataclasses

import numpy as np
import pandas as pd
import pytest

from lesiontrials.analysis.resampling import CaseCellSums
from lesiontrials.analysis.significance import spearman_cells_interval, spearman_interval
from lesiontrials.analysis.simulate_transfer import (
    TransferDesign,
    cell_logits,
    simulate_source,
    true_rho,
)
from lesiontrials.analysis.tables import case_cell_sums, synthetic_vs_real

DEMO = TransferDesign("demo", models=4, conditions=4, synthetic_cases=90, real_cases=13,
                      transfer_sd=0.2)


def _coverage(design: TransferDesign, sims: int, seed: int) -> tuple[float, float]:
    """(coverage of the report's interval, of the previous models-only percentile)."""
    rng = np.random.default_rng(seed)
    groups = np.repeat(np.arange(design.models), design.conditions)
    new, old = [], []
    for _ in range(sims):
        synthetic_logits, real_logits = cell_logits(design, rng)
        truth = true_rho(design, synthetic_logits, real_logits)
        synthetic = simulate_source(design, synthetic_logits, design.synthetic_cases, rng)
        real = simulate_source(design, real_logits, design.real_cases, rng)
        rho, low, high = spearman_cells_interval(synthetic, real, rng=rng, replicates=200)
        if not np.isfinite(rho):
            continue
        new.append(low <= truth <= high)
        _, low, high = spearman_interval(synthetic.accuracies(), real.accuracies(), rng=rng,
                                         replicates=200, groups=groups)
        old.append(low <= truth <= high)
    return float(np.mean(new)), float(np.mean(old))


@pytest.mark.slow
def test_interval_covers_the_true_rho_where_the_models_bootstrap_did_not():
    # 13 real cases per cell: ρ̂ is pulled ~0.2 below the true ρ ≈ 0.9 (attenuation)
    new, old = _coverage(DEMO, sims=200, seed=11)
    assert new >= 0.90  # nominal 0.95; bench: 0.98–1.00 here (conservative)
    assert old <= 0.70  # the previous rule (bench: ~0.4)


def test_interval_covers_at_a_larger_study_with_weaker_transfer():
    design = dataclasses.replace(DEMO, models=6, synthetic_cases=200, real_cases=60,
                                 transfer_sd=0.6)
    new, _ = _coverage(design, sims=60, seed=12)
    assert new >= 0.85


def _answers(cases: int, slices: int, rng: np.random.Generator) -> pd.DataFrame:
    """Two sources × 6 models × 3 conditions answering the same slices of ``cases``
    cases; which cases a model finds hard decides most of its answers (strong clustering
    inside each model's cells)."""
    rows = []
    for source in ("synthetic", "real"):
        for model, skill in zip("abcdef", np.linspace(0.45, 0.6, 6), strict=True):
            hard = rng.random(cases) < 0.5
            for condition, gain in (("plain", 0.0), ("bbox", 0.04), ("contour", 0.08)):
                for case in range(cases):
                    p = (skill + gain) * (0.2 if hard[case] else 1.6)
                    for s in range(slices):
                        right = bool(rng.random() < p)
                        rows.append({"source": source, "model": model,
                                     "condition": condition, "task": "presence",
                                     "set": source, "case_uid": f"c{case}",
                                     "slice_uid": f"{source}{case}-{s}",
                                     "truth": "present",
                                     "option": "present" if right else "absent"})
    return pd.DataFrame(rows)


def _cells(answers: pd.DataFrame) -> pd.DataFrame:
    cells = answers.assign(correct=answers["option"] == answers["truth"]).groupby(
        ["source", "model", "condition", "task"], as_index=False)["correct"].mean()
    return cells.rename(columns={"correct": "accuracy"})


def test_the_case_is_the_unit_not_the_slice():
    answers = _answers(cases=12, slices=4, rng=np.random.default_rng(5))
    _, clustered = synthetic_vs_real(_cells(answers), results=answers, replicates=1000)
    as_slices = answers.assign(case_uid=answers["slice_uid"])
    _, independent = synthetic_vs_real(_cells(as_slices), results=as_slices,
                                       replicates=1000)
    width = {name: t["presence"]["spearman_rho_ci_high"] - t["presence"]["spearman_rho_ci_low"]
             for name, t in (("cases", clustered), ("slices", independent))}
    assert clustered["presence"]["spearman_rho"] == independent["presence"]["spearman_rho"]
    assert width["cases"] > width["slices"]
    assert clustered["presence"]["cells"] == 18


def test_case_cell_sums_add_a_unit_in_every_cell_it_answers():
    answers = _answers(cases=3, slices=2, rng=np.random.default_rng(6))
    synthetic = answers[answers["source"] == "synthetic"]
    sums = case_cell_sums(synthetic, [("a", "plain"), ("c", "bbox")])
    assert sums.counts.shape == (3, 2) and (sums.counts == 2).all()
    right = synthetic["option"] == synthetic["truth"]
    expected = right[(synthetic["model"] == "c") & (synthetic["condition"] == "bbox")].mean()
    assert sums.accuracies()[1] == pytest.approx(expected)
    with pytest.raises(ValueError, match="no answers for cell"):
        case_cell_sums(synthetic, [("a", "bbox_contour")])


def test_undefined_rho_and_mismatched_cells():
    flat = CaseCellSums(sums=np.ones((4, 3)), counts=np.ones((4, 3)))
    varied = CaseCellSums(sums=np.tile([0.0, 1.0, 1.0], (4, 1)) * np.arange(4)[:, None] / 3,
                          counts=np.ones((4, 3)))
    assert all(np.isnan(spearman_cells_interval(flat, varied, rng=np.random.default_rng(0),
                                                replicates=50)))
    with pytest.raises(Exception, match="cells"):
        spearman_cells_interval(flat, CaseCellSums(np.ones((4, 2)), np.ones((4, 2))),
                                rng=np.random.default_rng(0))
