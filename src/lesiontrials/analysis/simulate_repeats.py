"""Simulated answers on repeat scans of one patient, with known truth: the calibration of
intervals on the screening design (bench and tests).

The screening design scans each patient ``rounds`` times; the repeat scans reuse the
patient's host CT and donor nodules (docs/trials.md), so whatever makes a patient easy or
hard — anatomy, the donors' look — moves every round together. Each answer's chance that
the model's top option is right is ``q = expit(baseline + patient + scan + slice + round
· round_gain)`` (normal effects; a nodule grows between rounds, ``round_gain``). The
model states a confidence ``c``: calibrated (``c = q``, two options) or overconfident
(``c = expit(temperature · logit q)``, ``temperature`` > 1). The truth of each metric is
its value on the population — computed from the probabilities of a very large simulated
population, not from 0/1 draws.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.special import expit, logit


@dataclass(frozen=True)
class RepeatDesign:
    """``patients`` × ``rounds`` scans, ``slices`` answers per scan; logit SDs."""

    name: str
    patients: int
    rounds: int = 3
    slices: int = 3
    baseline: float = 0.8
    patient_sd: float = 1.0
    scan_sd: float = 0.4
    slice_sd: float = 0.6
    round_gain: float = 0.3
    temperature: float = 1.0


@dataclass(frozen=True)
class RepeatAnswers:
    """Per answer: the probability ``q`` that the top option is right, the stated
    ``confidence`` in it, whether it was ``correct`` (a draw), and its patient and scan
    (both (answers,) arrays)."""

    q: np.ndarray
    confidence: np.ndarray
    correct: np.ndarray
    patient: np.ndarray
    scan: np.ndarray

    def probabilities(self) -> np.ndarray:
        """(answers, 2) option probabilities, the top option first."""
        return np.stack([self.confidence, 1.0 - self.confidence], axis=1)

    def truth_index(self) -> np.ndarray:
        """Index of the right option: 0 (the top one) when correct."""
        return np.where(self.correct, 0, 1)


def simulate_repeats(design: RepeatDesign, rng: np.random.Generator, *,
                     patients: int | None = None) -> RepeatAnswers:
    """One simulated study (``patients`` overrides the design's count)."""
    n_patients = design.patients if patients is None else patients
    scans = n_patients * design.rounds
    patient_of_scan = np.repeat(np.arange(n_patients), design.rounds)
    round_of_scan = np.tile(np.arange(design.rounds), n_patients)
    scan_effect = (rng.normal(0.0, design.patient_sd, n_patients)[patient_of_scan]
                   + rng.normal(0.0, design.scan_sd, scans)
                   + design.round_gain * round_of_scan)
    scan = np.repeat(np.arange(scans), design.slices)
    eta = design.baseline + scan_effect[scan] + rng.normal(0.0, design.slice_sd, scan.size)
    # the top option is right with probability ≥ ½: a model picks what it believes
    q = np.maximum(expit(eta), 1.0 - expit(eta))
    confidence = expit(design.temperature * logit(q))
    return RepeatAnswers(q=q, confidence=confidence, correct=rng.random(q.size) < q,
                         patient=patient_of_scan[scan], scan=scan)
