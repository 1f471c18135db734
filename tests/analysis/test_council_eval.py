"""The council is calibrated on the synthetic calibration fold and judged out of sample."""

from __future__ import annotations

import numpy as np
import pandas as pd

from lesiontrials.analysis.council_eval import (
    BEST_SYNTHETIC,
    HELD_OUT,
    IN_SAMPLE,
    ORACLE,
    REAL,
    evaluate_council,
)

LOBES = np.array(["right_lung_upper_lobe", "left_lung_lower_lobe"])


def _answers(skills: dict[str, dict[str, float]], *, fold: str, source: str, cases: int,
             seed: int) -> pd.DataFrame:
    """Lobe answers; ``skills[fold][model]`` = P(right) of each model on this fold."""
    rng = np.random.default_rng(seed)
    rows = []
    for case in range(cases):
        truth = LOBES[case % 2]
        for model, skill in skills[fold].items():
            for condition in ("plain", "contour"):
                right = rng.random() < skill
                rows.append({"source": source, "model": model, "condition": condition,
                             "task": "lobe", "slice_uid": f"{fold}-{case}",
                             "case_uid": f"{fold}-c{case // 2}", "design": "location",
                             "set": "location", "truth": truth,
                             "option": truth if right else LOBES[truth != LOBES][0]})
    return pd.DataFrame(rows)


# x is best on the calibration fold, y on the held-out fold and on real slices
SKILLS = {"calibration": {"x": 0.9, "y": 0.5}, "held_out": {"x": 0.5, "y": 0.95},
          "real": {"x": 0.5, "y": 0.95}}


def _data(seed: int = 0) -> tuple[pd.DataFrame, pd.DataFrame, list[str]]:
    calibration = _answers(SKILLS, fold="calibration", source="synthetic", cases=60,
                           seed=seed)
    held = _answers(SKILLS, fold="held_out", source="synthetic", cases=60, seed=seed + 1)
    real = _answers(SKILLS, fold="real", source="real", cases=20, seed=seed + 2)
    reported = pd.concat([held, real], ignore_index=True)
    return (pd.concat([calibration, reported], ignore_index=True), reported,
            sorted(calibration["slice_uid"].unique()))


def test_council_routes_on_the_calibration_fold_and_is_judged_out_of_sample():
    scored, reported, fold = _data()
    donor_driven = {"lobe": {"verdict": "donor-driven"}}
    result = evaluate_council(scored, calibration_uids=fold, reported=reported,
                              verdicts=donor_driven, replicates=300)
    assert result.routed == 2 and not result.why_not_routed
    assert {rule.model for rule in result.council.rules} == {"x"}  # chosen on calibration
    table = result.per_task.set_index(["evaluated_on", "comparator"])
    assert set(table.index.get_level_values(0)) == {IN_SAMPLE, HELD_OUT, REAL}
    held = table.loc[HELD_OUT]
    assert set(held.index) == {"x", "y", BEST_SYNTHETIC, ORACLE}
    # the oracle picks y on the held-out labels; the council (= best on synthetic) picks x
    assert held.loc[ORACLE, "comparator_accuracy"] == held.loc["y", "comparator_accuracy"]
    assert held.loc[BEST_SYNTHETIC, "council_minus_comparator"] == 0.0
    assert held.loc["y", "council_minus_comparator_ci_high"] < 0  # the council loses to y
    assert (held["council_minus_comparator_ci_high"]
            > held["council_minus_comparator_ci_low"]).all()
    assert (held["n"] == 120).all()  # 60 slices × 2 conditions, paired


def test_council_never_sees_reported_labels():
    scored, reported, fold = _data()
    flipped = reported.assign(option=reported["truth"])  # every reported answer right
    scored_flipped = pd.concat([scored[scored["slice_uid"].isin(fold)], flipped])
    verdicts = {"lobe": {"verdict": "undetermined"}}
    first = evaluate_council(scored, calibration_uids=fold, reported=reported,
                             verdicts=verdicts, replicates=100)
    second = evaluate_council(scored_flipped, calibration_uids=fold, reported=flipped,
                              verdicts=verdicts, replicates=100)
    assert first.council == second.council
    assert first.routed == 0 and "lobe: undetermined" in first.why_not_routed


def test_oracle_is_an_upper_bound_of_every_fixed_model_per_cell():
    scored, reported, fold = _data(seed=5)
    result = evaluate_council(scored, calibration_uids=fold, reported=reported,
                              verdicts={}, replicates=100)
    cells = result.per_cell
    assert "no task has a verdict" in result.why_not_routed
    for _, rows in cells.groupby(["evaluated_on", "task", "condition"]):
        by = rows.set_index("comparator")["comparator_accuracy"]
        assert by[ORACLE] >= by[["x", "y"]].max() - 1e-12
