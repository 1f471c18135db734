"""The improve loop's pure parts: failures per stratum, which failures are aimed at, the
set roles, and the new-host rule of the extra trials."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from lesiontrials.errors import InputError
from lesiontrials.training.extra_trials import new_host_mask
from lesiontrials.training.failures import choose_targets, failure_strata, with_attenuation
from lesiontrials.training.improve import ImproveSets
from lesiontrials.trials import PlanContext


def test_attenuation_class_from_the_description_never_the_description_itself():
    items = pd.DataFrame({"kind": ["positive", "positive", "positive", "negative"],
                          "appearance": ["6.2 mm part-solid nodule", "14 mm solid nodule", "",
                                         ""]})
    assert with_attenuation(items)["attenuation"].tolist() == [
        "part_solid", "solid", "(unstated)", ""]


def _scored() -> pd.DataFrame:
    """Small nodules (4–6 mm) always missed, large ones always found; one negative wrong."""
    rows = []
    for i in range(6):
        small = i < 3
        for s in range(2):
            rows.append({"slice_uid": f"c{i}-s{s}", "case_uid": f"c{i}", "kind": "positive",
                         "truth_size": "4-6mm" if small else ">8mm",
                         "truth_lobe": "left_lung_lower_lobe" if i % 2 else
                         "right_lung_upper_lobe", "appearance": "",
                         "host_dataset": "SCREEN", "donor_uid": f"D{i}",
                         "correct": not small})
    rows.append({"slice_uid": "n0", "case_uid": "c9", "kind": "negative", "truth_size": "",
                 "truth_lobe": "", "appearance": "", "host_dataset": "SCREEN",
                 "donor_uid": "", "correct": False})
    return with_attenuation(pd.DataFrame(rows))


def test_failure_rates_are_counted_per_stratum_on_positives_only():
    rates = failure_strata(_scored()).set_index(["stratum", "value"])
    assert rates.loc[("truth_size", "4-6mm"), "failure_rate"] == 1.0
    assert rates.loc[("truth_size", ">8mm"), "failure_rate"] == 0.0
    assert rates.loc[("host_dataset", "SCREEN"), "n_positive"] == 12  # negative not counted
    assert rates.loc[("attenuation", "(unstated)"), "n_failed"] == 6


def test_targets_are_failed_nodules_of_the_worst_strata_and_capped():
    scored = _scored()
    targets = choose_targets(scored, max_targets=2)
    assert [t.donor_uid for t in targets] == ["D0", "D2"]  # right upper lobe fails 2/3
    assert all(t.truth_size == "4-6mm" and t.n_failed_slices == 2 for t in targets)
    everything = choose_targets(scored, max_targets=10)
    assert {t.donor_uid for t in everything} == {"D0", "D1", "D2"}  # found ones never aimed
    with pytest.raises(InputError):
        choose_targets(scored, max_targets=0)


def test_a_set_in_two_roles_is_refused():
    ImproveSets(("a",), ("b",), ("c",), ("real",)).check()
    with pytest.raises(InputError, match="both a probe and a evaluate set"):
        ImproveSets(("a",), ("b",), ("b",)).check()
    with pytest.raises(InputError, match="both a train and a real set"):
        ImproveSets(("a",), ("b",), ("c",), ("a",)).check()
    with pytest.raises(InputError, match="no probe set"):
        ImproveSets(("a",), (), ("c",)).check()


def test_extra_trials_use_only_new_hosts_and_refuse_when_none_is_left():
    hosts = pd.DataFrame({"host_dataset": ["SCREEN", "SCREEN", "REALCT"],
                          "host_ct_id": ["s1", "s2", "r1"]})
    ctx = PlanContext(index=None, hosts=hosts)  # type: ignore[arg-type]
    mask = new_host_mask(ctx, excluded={"SCREEN/s1", "REALCT/r1"})
    assert mask.tolist() == [False, True, False]
    with pytest.raises(InputError, match="no new host"):
        new_host_mask(ctx, excluded={"SCREEN/s1", "SCREEN/s2", "REALCT/r1"})
    assert np.array_equal(new_host_mask(ctx, excluded=set()), [True, True, True])


@pytest.mark.slow  # three trainings and three scorings: ~15 s idle, ~70 s under load
def test_the_loop_trains_three_models_and_judges_them_only_on_held_out_sets(
        tmp_path, monkeypatch):
    """The orchestration on generated disk-on-noise sets; the extra trials (plan, insert,
    render, slices) are replaced by generated sets of the same size, so the test checks
    the set roles, the three models, the paired gains and the record, not rendering."""
    from lesiontrials.paths import Workspace
    from lesiontrials.testing_training import write_disk_set
    from lesiontrials.training import improve as loop
    from lesiontrials.training.recipe import TrainRecipe

    ws = Workspace(tmp_path)
    for name, seed, n in (("train_a", 1, 10), ("probe_a", 2, 6), ("eval_a", 3, 6)):
        write_disk_set(ws, name, n_cases=n, seed=seed, image_size=32)
    seen: dict[str, object] = {}

    def fake_extra(workspace, data_root, sets, targets, options, say):
        seen["targets"] = targets
        out = {}
        for k, (kind, seed) in enumerate((("targeted", 4), ("untargeted", 5))):
            name = f"{options.name}-{kind}"
            write_disk_set(workspace, name, n_cases=4, seed=seed + k, image_size=32)
            out[kind] = {"trial": name, "cases": 4, "positives": 4, "negatives": 4,
                         "notes": []}
        return out

    monkeypatch.setattr(loop, "_build_extra_trials", fake_extra)
    record = loop.improve(
        workspace=ws, data_root=tmp_path / "unused",
        sets=loop.ImproveSets(("train_a",), ("probe_a",), ("eval_a",)),
        recipe=TrainRecipe(epochs=1, image_size=32, width=4),
        options=loop.ImproveOptions(name="t", max_targets=3, replicates=200))
    assert sorted(record["models"].values()) == ["t-original", "t-targeted", "t-untargeted"]
    assert len(seen["targets"]) <= 3  # type: ignore[arg-type]
    rows = pd.DataFrame(record["gains"]["synthetic"])
    assert set(rows["comparison"]) == {"targeted − original", "targeted − untargeted",
                                       "untargeted − original"}
    overall = rows[rows["stratum"] == "all"]
    assert len(overall) == 3 and (overall["n_items"] == 12).all()  # eval_a only
    assert ((overall["gain_ci_low"] <= overall["gain"])
            & (overall["gain"] <= overall["gain_ci_high"])).all()
    assert loop.improve_file(ws, "t").is_file()
    # no model was ever scored on its training set or on another role's set than probe/eval
    assert not (ws.results_root / "t-original" / "train_a").exists()
    assert not (ws.results_root / "t-targeted" / "probe_a").exists()
