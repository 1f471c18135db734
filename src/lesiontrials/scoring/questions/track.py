"""The demo's question track: a bank per trial, asked of the weight-free baselines and the
rules-based reader (docs/vqa.md)."""

from __future__ import annotations

import time
from pathlib import Path

from lesiontrials.execution import Executor
from lesiontrials.paths import Workspace

#: the weight-free models `lesiontrials ask` runs when none is named
QUESTION_BASELINES = ("threshold", "blob", "majority")
#: the trials whose banks `lesiontrials run` asks: nodule-free cases (presence "no"),
#: two-nodule cases (visual reasoning) and repeat scans (growth, new nodules, follow-up
#: Lung-RADS)
QUESTION_TRIALS = ("controlled_prevalence", "multi_nodule", "screening_simulation")


def question_track(space: Workspace, *, data_root: Path, seed: int,
                   trials: tuple[str, ...] = QUESTION_TRIALS, workers: int = 1,
                   executor: Executor | None = None) -> list[str]:
    """Bank + baselines + the rules reader for each of ``trials`` that has cases (the
    demo's question track); one line per trial. The reader, nearly all of the track's
    time, reads the cases on ``executor`` (else a local pool of ``workers``)."""
    from lesiontrials.paths import DataRoot
    from lesiontrials.scoring.models.registry import load_model
    from lesiontrials.scoring.questions.ask import ask_reader, ask_slice_model
    from lesiontrials.scoring.questions.reader import RulesReader
    from lesiontrials.scoring.questions.workspace import write_question_bank

    lines = []
    for trial in trials:
        if not space.cases_dir(trial).is_dir():
            lines.append(f"question bank: no cases of {trial}, skipped")
            continue
        if not (space.eval_dir(trial, "lung") / "cases.parquet").is_file():
            lines.append(f"question bank: {trial} has no evaluation set (its slices "
                         "failed), skipped")
            continue
        start = time.perf_counter()
        _, items = write_question_bank(space, trial, seed=seed)
        for name in QUESTION_BASELINES:
            ask_slice_model(load_model(name), workspace=space, trial=trial)
        ask_reader(RulesReader(), workspace=space, data_root=DataRoot(data_root), trial=trial,
                   workers=workers, executor=executor)
        lines.append(f"question bank {trial}: {len(items)} items; asked "
                     f"{', '.join(QUESTION_BASELINES)} and rules_reader (test split) in "
                     f"{time.perf_counter() - start:.1f} s")
    return lines
