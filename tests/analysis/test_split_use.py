"""The analysis reads a frozen split: one N for every model, 'not scored' rows, stability."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from lesiontrials.analysis.report import analyze
from lesiontrials.analysis.tables import apply_split
from lesiontrials.scoring.splits import Split, uid_hash

OPTIONS = np.array(["present", "absent"])


def _answers(model: str, skill: float, *, cases: int = 30, seed: int = 0) -> pd.DataFrame:
    """Two slices per case; ``skill`` = P(right) plus a per-case effect (clustered)."""
    rng = np.random.default_rng(seed)
    truth_rng = np.random.default_rng(99)  # the same truth for every model
    rows = []
    for case in range(cases):
        case_effect = rng.normal(0, 0.2)
        for s in range(2):
            truth = OPTIONS[truth_rng.integers(0, 2)]
            for condition, bonus in (("plain", 0.0), ("contour", 0.1)):
                right = rng.random() < np.clip(skill + bonus + case_effect, 0, 1)
                rows.append({"source": "synthetic", "model": model, "condition": condition,
                             "task": "presence", "slice_uid": f"c{case}-{s}",
                             "case_uid": f"c{case}", "design": "algorithm_comparison",
                             "set": "algorithm_comparison", "truth": truth,
                             "option": truth if right else OPTIONS[truth != OPTIONS][0]})
    return pd.DataFrame(rows)


def _split(frame: pd.DataFrame) -> Split:
    uids = sorted(frame["slice_uid"].unique())
    return Split(name="main", uids=tuple(uids), sha256=uid_hash(uids))


def _rows_of(analysis, model: str) -> pd.DataFrame:
    cells = analysis.cells[analysis.cells["model"] == model].reset_index(drop=True)
    gains = analysis.vs_plain[analysis.vs_plain["model"] == model].reset_index(drop=True)
    return pd.concat([cells, gains], axis=1)


def test_adding_a_model_changes_no_other_models_numbers():
    a, b = _answers("a", 0.7, seed=1), _answers("b", 0.6, seed=2)
    split = _split(a)
    before = analyze(pd.concat([a]), split=split, replicates=300)
    after = analyze(pd.concat([a, b]), split=split, replicates=300)
    pd.testing.assert_frame_equal(_rows_of(before, "a"), _rows_of(after, "a"))
    assert before.split.sha256 == after.split.sha256 == split.sha256
    assert before.split.frozen and before.reporting_n == after.reporting_n == {
        "synthetic/presence": 60}


def test_a_model_missing_slices_is_not_scored_never_a_smaller_n():
    a, c = _answers("a", 0.7, seed=1), _answers("c", 0.9, seed=3)
    c = c[~c["slice_uid"].isin(["c0-0", "c1-1"]) | (c["condition"] == "contour")]
    analysis = analyze(pd.concat([a, c]), split=_split(a), replicates=300)
    cells = analysis.cells.set_index(["model", "condition"])
    assert cells.loc[("c", "plain"), "status"] == "not scored: 2 of 60 slices missing"
    assert np.isnan(cells.loc[("c", "plain"), "accuracy"])
    assert cells.loc[("c", "contour"), "status"] == "scored"
    assert (cells.loc[cells["status"] == "scored", "n"] == 60).all()  # one N
    assert set(analysis.vs_plain["model"]) == {"a"}  # c has no complete plain cell
    assert any("not scored" in note for note in analysis.notes)


def test_apply_split_drops_slices_outside_the_split_and_lists_coverage():
    a = _answers("a", 0.7)
    inside = sorted(a["slice_uid"].unique())[:10]
    kept, coverage = apply_split(a, inside)
    assert set(kept["slice_uid"]) == set(inside)
    assert list(coverage["status"]) == ["scored", "scored"]
    assert (coverage["expected"] == 10).all()


def test_intervals_are_cluster_aware_and_never_degenerate():
    a = _answers("a", 0.7)
    perfect = a.assign(model="perfect", option=a["truth"])
    analysis = analyze(pd.concat([a, perfect]), split=_split(a), replicates=500)
    cells = analysis.cells.set_index(["model", "condition"])
    assert (cells["accuracy_ci_high"] > cells["accuracy_ci_low"]).all()
    assert cells.loc[("perfect", "plain"), "accuracy"] == 1.0
    assert cells.loc[("perfect", "plain"), "accuracy_ci_low"] < 1.0  # 60/60 is not certain
    assert cells.loc[("a", "plain"), "units"] == "30 cases"
    assert cells.loc[("a", "plain"), "accuracy_ci_method"] == "wilson-design-effect"


def test_crossed_design_is_tabulated_apart_with_donor_by_host_units():
    a = _answers("a", 0.7)
    crossed = a.copy()
    crossed["slice_uid"] = "x" + crossed["slice_uid"]
    crossed["design"] = "digital_twin_cross"
    case = crossed["case_uid"].str[1:].astype(int)
    crossed["donor_uid"] = "d" + (case % 6).astype(str)
    crossed["host_ct_id"] = "h" + (case // 6).astype(str)
    both = pd.concat([a, crossed], ignore_index=True)
    analysis = analyze(both, split=_split(both), replicates=300)
    assert set(analysis.cells["n"]) == {60}
    assert set(analysis.crossed_cells["units"]) == {"6 donors × 5 hosts"}
    assert analysis.reporting_n["synthetic/presence (crossed design)"] == 60


def test_holm_family_is_one_source_and_model():
    a, b = _answers("a", 0.7, seed=1), _answers("b", 0.6, seed=2)
    table = analyze(pd.concat([a, b]), split=_split(a), replicates=300).vs_plain
    assert (table["family_tests"] == 1).all()
    assert (table["p_holm"] >= table["p_exact"] - 1e-12).all()


@pytest.mark.parametrize("column", ["weight_free_baseline"])
def test_baselines_are_marked_in_tables_and_labels(tmp_path, column):
    from lesiontrials.analysis.report import write_report

    a, b = _answers("a", 0.7, seed=1), _answers("prior", 0.5, seed=2)
    analysis = analyze(pd.concat([a, b]), split=_split(a), baselines={"prior"},
                       replicates=200)
    write_report(analysis, tmp_path, title="t")
    cells = pd.read_csv(tmp_path / "tables" / "cells.csv")
    assert dict(zip(cells["model"], cells[column], strict=True)) == {"a": False,
                                                                      "prior": True}
    text = (tmp_path / "report.md").read_text()
    assert "| prior (baseline) |" in text and "| a (baseline) |" not in text
    assert f"SHA-256 {analysis.split.sha256}" in text


def test_report_bytes_are_deterministic(tmp_path):
    from lesiontrials.analysis.report import write_report

    a, b = _answers("a", 0.7, seed=1), _answers("b", 0.6, seed=2)
    frame = pd.concat([a, b])
    for name in ("one", "two"):
        analysis = analyze(frame.sample(frac=1.0, random_state=len(name)), split=_split(a),
                           baselines={"b"}, replicates=200)
        write_report(analysis, tmp_path / name, title="t")
    for path in sorted((tmp_path / "one").rglob("*")):
        if path.is_file():
            assert path.read_bytes() == (tmp_path / "two" / path.relative_to(
                tmp_path / "one")).read_bytes(), path.name


def test_a_slice_no_model_answered_is_still_missing():
    a, b = _answers("a", 0.7, seed=1), _answers("b", 0.6, seed=2)
    both = pd.concat([a, b])
    split = _split(a)
    lost = both[both["slice_uid"] != "c3-1"]  # every answer on one slice is gone
    expected = pd.DataFrame({"slice_uid": list(split.uids), "source": "synthetic",
                             "task": "presence"})
    analysis = analyze(lost, split=split, expected=expected, replicates=200)
    assert set(analysis.cells["status"]) == {"not scored: 1 of 60 slices missing"}
    assert analysis.vs_plain.empty
    without = analyze(lost, split=split, replicates=200)  # answers alone cannot tell
    assert set(without.cells["n"]) == {59}
