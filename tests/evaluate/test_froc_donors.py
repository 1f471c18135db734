"""The FROC bootstrap with donors drawn as well as hosts (pigeonhole), and the donor-reuse
simulation behind its benchmark."""

from __future__ import annotations

import numpy as np
import pytest

from lesiontrials.errors import InputError
from lesiontrials.scoring import detection as det
from lesiontrials.scoring.simulate_froc import simulate_froc_study


def test_each_donor_is_placed_reuse_times_on_different_hosts():
    study = simulate_froc_study(12, 3, np.random.default_rng(0), reuse=4)
    truth = study.truth.assign(host=study.truth["scan_uid"].map(study.host_of))
    per_donor = truth.groupby("donor_uid")
    assert per_donor.size().max() == 4
    assert (per_donor["host"].nunique() == per_donor.size()).mean() > 0.9


def test_drawing_donors_widens_the_interval_when_strong_donors_repeat():
    study = simulate_froc_study(30, 3, np.random.default_rng(1), reuse=8, donor_sd=2.5)
    matching = study.matching()
    widths = {}
    for donors in (False, True):
        table = det.froc_table(matching, rng=np.random.default_rng(2), replicates=300,
                               clusters=study.host_of, donors=donors).set_index(
            "fp_per_scan")
        widths[donors] = float(table.loc["CPM", "ci_high"] - table.loc["CPM", "ci_low"])
    assert widths[True] > 1.2 * widths[False]


def test_drawing_donors_needs_every_nodules_donor():
    study = simulate_froc_study(6, 2, np.random.default_rng(3), reuse=2)
    truth = study.truth.copy()
    truth.loc[0, "donor_uid"] = ""
    matching = det.match(truth, study.candidates, scans=study.scans)
    with pytest.raises(InputError, match="donor_uid"):
        det.bootstrap_froc(matching, rng=np.random.default_rng(0), replicates=5,
                           clusters=study.host_of, donors=True)
    without = det.match(truth.drop(columns="donor_uid"), study.candidates, scans=study.scans)
    with pytest.raises(InputError, match="donor_uid"):
        det.bootstrap_froc(without, rng=np.random.default_rng(0), replicates=5, donors=True)


def test_two_way_draw_covers_where_hosts_alone_do_not_under_strong_donor_reuse():
    rng = np.random.default_rng(9)
    big = simulate_froc_study(3000, 3, rng, reuse=1, donor_sd=1.5)
    truth = float(det.froc(big.matching()).cpm)
    hits: dict[bool, list[bool]] = {False: [], True: []}
    for _ in range(100):
        study = simulate_froc_study(30, 3, rng, reuse=6, donor_sd=1.5)
        matching = study.matching()
        for donors in hits:
            table = det.froc_table(matching, rng=rng, replicates=150, clusters=study.host_of,
                                   donors=donors).set_index("fp_per_scan")
            hits[donors].append(table.loc["CPM", "ci_low"] <= truth
                                <= table.loc["CPM", "ci_high"])
    assert np.mean(hits[True]) >= 0.92  # 0.97 at this seed; bench: 0.99
    assert np.mean(hits[False]) < np.mean(hits[True])  # 0.89 at this seed; bench: 0.87
