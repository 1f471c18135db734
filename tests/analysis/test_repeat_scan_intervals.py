"""Accuracy intervals on the screening design's repeat scans resample the patient: coverage
on simulated repeat scans that share the patient's host and donors."""

from __future__ import annotations

import numpy as np
import pandas as pd

from lesiontrials.analysis.bootstrap import accuracy_interval
from lesiontrials.analysis.design_units import units_for
from lesiontrials.analysis.simulate_repeats import RepeatDesign, simulate_repeats

# many rounds of one patient and little else: the patient is nearly all the variation
STRONG = RepeatDesign("strong-patient", patients=30, rounds=5, slices=2, patient_sd=1.5,
                      scan_sd=0.0, slice_sd=0.3, round_gain=0.0)


def _coverage(design: RepeatDesign, sims: int, seed: int) -> dict[str, float]:
    rng = np.random.default_rng(seed)
    truth = float(simulate_repeats(design, rng, patients=100_000).q.mean())
    hits: dict[str, list[bool]] = {"patients": [], "scans": []}
    for _ in range(sims):
        answers = simulate_repeats(design, rng)
        correct = answers.correct.astype(float)
        for unit, ids in (("patients", answers.patient), ("scans", answers.scan)):
            interval = accuracy_interval(correct, units={"case": ids}, rng=rng,
                                         replicates=200)
            hits[unit].append(interval.low <= truth <= interval.high)
    return {unit: float(np.mean(v)) for unit, v in hits.items()}


def test_resampling_patients_covers_where_resampling_scans_does_not():
    got = _coverage(STRONG, sims=300, seed=4)
    assert 0.90 <= got["patients"] <= 0.99
    assert got["scans"] < 0.88  # each scan treated as independent: too narrow


def test_a_screening_row_is_resampled_by_its_patient():
    rows = pd.DataFrame({"design": "screening_simulation", "set": "screen",
                         "case_uid": ["c0", "c5", "c10", "c1"],  # rounds 0-2 of one patient
                         "host_ct_id": ["h7", "h7", "h7", "h2"],
                         "slice_uid": ["s0", "s1", "s2", "s3"]})
    units = units_for(rows)["case"]
    assert len(set(units[:3])) == 1 and units[3] != units[0]
