"""Issue 19: the report's headline accuracy is the mean over the prompt paraphrases a model
was asked (each slice's correctness averaged over its paraphrases, the interval resampling
cases with every paraphrase of a slice together); the canonical p0 is kept beside it."""

from __future__ import annotations

import pandas as pd
import pytest

from lesiontrials.analysis.report import analyze, write_report
from lesiontrials.analysis.selective import SLICE_KEYS, paraphrase_means
from lesiontrials.analysis.tables import cell_metrics
from lesiontrials.scoring.splits import Split, uid_hash

OPTIONS = ("present", "absent")


def _rows(model: str, *, paraphrases: tuple[str, ...], right: dict[str, int], cases: int = 12
          ) -> pd.DataFrame:
    """Two slices per case; under paraphrase ``p`` the first ``right[p]`` slices (in case
    order) are answered correctly, the rest wrongly."""
    rows = []
    for pid in paraphrases:
        for k in range(2 * cases):
            truth = OPTIONS[k % 2]
            correct = k < right[pid]
            option = truth if correct else OPTIONS[(k + 1) % 2]
            rows.append({"source": "synthetic", "model": model, "condition": "plain",
                         "task": "presence", "set": "algorithm_comparison",
                         "profile": "lung", "slice_uid": f"s{k:02d}",
                         "case_uid": f"c{k // 2:02d}", "design": "algorithm_comparison",
                         "paraphrase": pid, "truth": truth, "option": option,
                         "correct": correct})
    return pd.DataFrame(rows)


def _scored(every: pd.DataFrame) -> pd.DataFrame:
    """What the report reads: the canonical answers with their paraphrase means."""
    canonical = every[every["paraphrase"] == "p0"].drop(columns="paraphrase")
    return canonical.merge(paraphrase_means(every), on=SLICE_KEYS, how="left")


def test_headline_is_the_mean_over_paraphrases_p0_kept_beside_it() -> None:
    chat = _rows("chat", paraphrases=("p0", "p1", "p2", "p3"),
                 right={"p0": 24, "p1": 12, "p2": 6, "p3": 0})
    baseline = _rows("threshold", paraphrases=("p0",), right={"p0": 18})
    scored = _scored(pd.concat([chat, baseline], ignore_index=True))
    cells = cell_metrics(scored, replicates=300).set_index("model")
    assert cells.loc["chat", "accuracy"] == pytest.approx((24 + 12 + 6 + 0) / (4 * 24))
    assert cells.loc["chat", "accuracy_p0"] == 1.0 and cells.loc["chat", "paraphrases"] == 4
    low, high = cells.loc["chat", ["accuracy_ci_low", "accuracy_ci_high"]]
    assert low < cells.loc["chat", "accuracy"] < high < 1.0  # not p0's perfect score
    # a model asked one wording is unchanged: headline = p0, the same interval as before
    assert cells.loc["threshold", "accuracy"] == cells.loc["threshold", "accuracy_p0"] == 0.75
    plain = cell_metrics(baseline, replicates=300).set_index("model")
    assert cells.loc["threshold", "accuracy_ci_low"] == plain.loc["threshold",
                                                                  "accuracy_ci_low"]


def test_interval_resamples_cases_with_all_paraphrases_of_a_slice_together() -> None:
    """Paraphrases of one slice are not independent items: stacking four copies of the
    same answers must not narrow the interval (a per-answer bootstrap would halve it)."""
    one = _rows("m", paraphrases=("p0",), right={"p0": 15})
    four = _rows("m", paraphrases=("p0", "p1", "p2", "p3"),
                 right={p: 15 for p in ("p0", "p1", "p2", "p3")})
    single = cell_metrics(_scored(one), replicates=400).iloc[0]
    stacked = cell_metrics(_scored(four), replicates=400).iloc[0]
    assert stacked["accuracy"] == single["accuracy"] == pytest.approx(15 / 24)
    assert stacked["n"] == single["n"] == 24  # slices, not answers
    width = lambda row: row["accuracy_ci_high"] - row["accuracy_ci_low"]  # noqa: E731
    assert width(stacked) == pytest.approx(width(single), rel=0.05)


def test_report_table_shows_the_mean_and_says_so(tmp_path) -> None:
    chat = _rows("chat", paraphrases=("p0", "p1"), right={"p0": 24, "p1": 12})
    scored = _scored(chat)
    uids = sorted(scored["slice_uid"].unique())
    analysis = analyze(scored, split=Split(name="main", uids=tuple(uids),
                                           sha256=uid_hash(uids)), replicates=200)
    write_report(analysis, tmp_path, title="t")
    markdown = (tmp_path / "report.md").read_text()
    assert "`accuracy` is the mean over them" in markdown
    section = markdown.split("## Accuracy per model, condition and task")[1]
    header = next(line for line in section.splitlines() if line.startswith("| source"))
    assert "accuracy_p0" in header and "paraphrases" in header
    row = next(line for line in section.splitlines() if line.startswith("| synthetic"))
    assert "0.750" in row and "1.000" in row  # the mean first, p0 beside it
