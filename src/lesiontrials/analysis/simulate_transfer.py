"""Simulated synthetic and real answers over model × condition cells, with known truth:
the calibration of the per-task synthetic-vs-real Spearman ρ (bench and tests).

Each cell (model m, condition k) has a true logit per source: a shared part
``ability_m + condition_k + interaction_mk`` plus a source-specific deviation of SD
``transfer_sd`` (the part of a cell's accuracy that does not transfer). Every cell of a
source answers the same slices (the report's one split): a case effect shared by every
cell, a case × model effect (a model finds some cases harder than others do) and a slice
effect. The **estimand** is Spearman ρ between the cells' true accuracies — the accuracy
each cell would have on the source's whole population of cases — for the cells as they
are (the models and conditions the report shows, not a population of models).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import stats
from scipy.special import expit

from lesiontrials.analysis.resampling import CaseCellSums


@dataclass(frozen=True)
class TransferDesign:
    """``models`` × ``conditions`` cells; ``synthetic_cases`` and ``real_cases`` cases per
    source, each with 1 + Poisson(``extra_slices``) slices; logit SDs of the effects."""

    name: str
    models: int
    conditions: int
    synthetic_cases: int
    real_cases: int
    extra_slices: float = 0.3
    ability_sd: float = 0.8
    condition_sd: float = 0.5
    interaction_sd: float = 0.3
    transfer_sd: float = 0.4
    case_sd: float = 0.8
    model_case_sd: float = 0.6
    slice_sd: float = 0.5
    baseline: float = 0.2

    @property
    def cells(self) -> int:
        return self.models * self.conditions

    @property
    def item_sd(self) -> float:
        """SD of everything below the cell: case, case × model and slice effects."""
        return float(np.sqrt(self.case_sd**2 + self.model_case_sd**2 + self.slice_sd**2))


def cell_logits(design: TransferDesign, rng: np.random.Generator
                ) -> tuple[np.ndarray, np.ndarray]:
    """(synthetic, real) true cell logits, each (cells,), model-major order."""
    ability = np.repeat(rng.normal(0.0, design.ability_sd, design.models), design.conditions)
    condition = np.tile(rng.normal(0.0, design.condition_sd, design.conditions),
                        design.models)
    shared = design.baseline + ability + condition + rng.normal(
        0.0, design.interaction_sd, design.cells)
    return (shared + rng.normal(0.0, design.transfer_sd, design.cells),
            shared + rng.normal(0.0, design.transfer_sd, design.cells))


def true_accuracy(logits: np.ndarray, item_sd: float, *, nodes: int = 40) -> np.ndarray:
    """E[expit(logit + u)], u ~ N(0, item_sd²), by Gauss–Hermite quadrature."""
    x, w = np.polynomial.hermite_e.hermegauss(nodes)
    return np.asarray(expit(np.asarray(logits)[:, None] + item_sd * x[None]) @ (w / w.sum()))


def true_rho(design: TransferDesign, synthetic: np.ndarray, real: np.ndarray) -> float:
    """The estimand: Spearman ρ between the cells' true accuracies."""
    return float(stats.spearmanr(true_accuracy(synthetic, design.item_sd),
                                 true_accuracy(real, design.item_sd)).statistic)


def simulate_source(design: TransferDesign, logits: np.ndarray, cases: int,
                    rng: np.random.Generator) -> CaseCellSums:
    """Correct-answer sums and slice counts per case × cell: every cell answers the
    same slices; the case effect is shared by all cells, the case × model effect by one
    model's conditions."""
    slices = 1 + rng.poisson(design.extra_slices, cases)
    case_of = np.repeat(np.arange(cases), slices)
    n = case_of.size
    case = rng.normal(0.0, design.case_sd, cases)[case_of]
    model_case = rng.normal(0.0, design.model_case_sd, (cases, design.models))[case_of]
    slice_effect = rng.normal(0.0, design.slice_sd, n)
    per_cell = (logits[None, :] + case[:, None] + slice_effect[:, None]
                + np.repeat(model_case, design.conditions, axis=1))
    correct = rng.random((n, design.cells)) < expit(per_cell)
    sums = np.zeros((cases, design.cells))
    np.add.at(sums, case_of, correct.astype(float))
    counts = np.repeat(slices[:, None].astype(float), design.cells, axis=1)
    return CaseCellSums(sums=sums, counts=counts)
