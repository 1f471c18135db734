"""Per-cell tables take their rows' values by position from arrays computed once for the
whole table: the same keys, correctness, paraphrase means and units as per-cell pandas
groups, so every interval (same seeds) is the same number."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from lesiontrials.analysis.design_units import units_for
from lesiontrials.analysis.tables import (
    RowValues,
    breakdown,
    cell_metrics,
    grouped_positions,
    headline_correct,
)
from lesiontrials.scoring.results import primary_rows


def _answers(seed: int = 3, n: int = 240) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    design = rng.choice(["targeted", "bootstrap_confidence", "digital_twin_isolation"], n)
    frame = pd.DataFrame({
        "source": rng.choice(["synthetic", "real"], n),
        "model": rng.choice(["a", "b"], n), "condition": rng.choice(["plain", "box"], n),
        "task": "presence", "slice_uid": [f"s{i % 90}" for i in range(n)],
        "set": rng.choice(["t1", "t2"], n), "design": design,
        "case_uid": [f"c{i % 17}" for i in range(n)],
        "source_case_uid": rng.choice(["", "c1", "c2"], n),
        "host_ct_id": rng.choice(["h1", "h2", "h3"], n),
        "donor_uid": rng.choice(["", "d1", "d2"], n),
        "truth": rng.choice(["present", "absent"], n),
        "option": rng.choice(["present", "absent", ""], n),
        # a breakdown column with missing values: groupby(dropna=False) keeps them
        "truth_lobe": pd.Series(rng.choice(["RUL", "LLL", None], n), dtype=object),
        "paraphrases": rng.choice([1.0, 3.0, np.nan], n),
    })
    frame["correct_mean"] = rng.random(n)
    return frame


@pytest.mark.parametrize("dropna", [True, False])
def test_positions_follow_the_groupby_order_keys_and_rows(dropna):
    frame = _answers()
    keys = ["source", "model", "condition", "task", "truth_lobe"]
    expected = [(key, group.index.to_numpy())
                for key, group in frame.groupby(keys, sort=True, dropna=dropna)]
    got = list(grouped_positions(frame, keys, dropna=dropna))
    assert len(got) == len(expected) == (frame.groupby(keys, dropna=dropna).ngroups)
    for (key_a, rows_a), (key_b, rows_b) in zip(got, expected, strict=True):
        assert key_a == key_b or (pd.isna(key_a[-1]) and pd.isna(key_b[-1]))
        assert np.array_equal(rows_a, rows_b)


def test_values_taken_by_position_equal_per_group_values():
    frame = _answers()
    values = RowValues.of(frame)
    for _, positions in grouped_positions(frame, ["source", "model", "condition"]):
        group = frame.iloc[positions]
        taken, asked, answers = values.headline(positions)
        direct = headline_correct(group)
        assert np.array_equal(taken, direct[0], equal_nan=True)
        assert (asked, answers) == direct[1:]
        units, direct_units = values.units(positions), units_for(group)
        assert units.keys() == direct_units.keys()
        for name in units:
            assert list(units[name]) == list(direct_units[name])


def test_crossed_rows_take_donor_and_host_and_mixing_is_refused():
    frame = _answers().assign(design="digital_twin_cross")
    values = RowValues.of(frame)
    units = values.units(np.arange(10))
    assert set(units) == {"donor", "host"}
    assert list(units["donor"]) == list(units_for(frame.iloc[:10])["donor"])
    mixed = pd.concat([frame.iloc[:5], _answers().iloc[:5]], ignore_index=True)
    with pytest.raises(ValueError, match="mix the crossed design"):
        RowValues.of(mixed).units(np.arange(10))


def test_a_slice_with_paraphrases_but_no_mean_is_an_error():
    frame = _answers().assign(paraphrases=3.0, correct_mean=np.nan)
    with pytest.raises(ValueError, match="lacks their mean"):
        RowValues.of(frame).headline(np.arange(5))


def test_tables_are_reproducible_and_cover_every_group():
    frame = _answers().drop(columns=["paraphrases", "correct_mean"])
    cells = cell_metrics(frame, seed=1, replicates=200)
    assert len(cells) == frame.groupby(["source", "model", "condition", "task"]).ngroups
    pd.testing.assert_frame_equal(cells, cell_metrics(frame, seed=1, replicates=200))
    by_lobe = breakdown(frame, "truth_lobe", seed=1, replicates=200)
    assert by_lobe["truth_lobe"].isna().any()  # the missing lobe is a row, not dropped
    assert by_lobe["n"].sum() == len(frame)


def test_primary_rows_keep_the_canonical_paraphrase_in_order():
    frame = pd.DataFrame({"slice_uid": list("abcdef"),
                          "paraphrase": ["p0", "p1", "p0", "p2", "p0", "p1"]})
    assert list(primary_rows(frame)["slice_uid"]) == ["a", "c", "e"]
    assert list(primary_rows(frame).index) == [0, 1, 2]
