"""The report's parts that do not depend on the headline tables — confidence metrics and
prompt robustness, the question and survival sections, the volume track — computed beside
them in a second process when the analysis is given more than one worker.

Each part draws its own seeded streams (``rng_for`` of its own labels), so where it runs
changes no number: the report is the same bytes with one worker or two
(``tests/analysis/test_side_parts.py``). At 512² the analysis stage took 27 s in one
process; its two independent lanes (headline tables → diagnostic → council, and these)
are of similar size, so on 2 cores its wall about halves (``benchmarks/RESULTS.md``,
session 8). A child that fails raises here (its exception, or ``BrokenProcessPool`` when
it died), never a report without its sections.
"""

from __future__ import annotations

from collections.abc import Callable, Collection
from dataclasses import dataclass, field
from typing import cast

import pandas as pd

from lesiontrials.analysis.detection_report import VolumeTrack, volume_track
from lesiontrials.analysis.selective import selective_sections
from lesiontrials.analysis.truth_sections import truth_sections
from lesiontrials.paths import Workspace


@dataclass
class SideParts:
    """What the side lane adds to a report: sections (title, markdown) and tables of the
    confidence metrics and prompt robustness, the truth sections (title, markdown,
    tables), and the volume track (``None``: no 3-D model was scored)."""

    selective: list[tuple[str, str]] = field(default_factory=list)
    selective_tables: dict[str, pd.DataFrame] = field(default_factory=dict)
    truth: list[tuple[str, str, dict[str, pd.DataFrame]]] = field(default_factory=list)
    volume: VolumeTrack | None = None


def side_parts(answers: pd.DataFrame, workspace: Workspace, *, seed: int, replicates: int,
               baselines: Collection[str]) -> SideParts:
    """The side lane in this process. ``answers``: every paraphrase's answers on the
    reported slices with their design units
    (:func:`~lesiontrials.analysis.selective.with_design_units`)."""
    extra, tables = selective_sections(answers, seed=seed, replicates=min(replicates, 500),
                                       baselines=frozenset(baselines))
    return SideParts(list(extra), dict(tables),
                     [(t, b, dict(tabs)) for t, b, tabs in truth_sections(workspace)],
                     volume_track(workspace, seed=seed, replicates=replicates))


def start_side_parts(answers: pd.DataFrame, workspace: Workspace, *, seed: int,
                     replicates: int, baselines: Collection[str], workers: int
                     ) -> Callable[[], SideParts]:
    """Start :func:`side_parts`; call the returned function for its result. With
    ``workers > 1`` it runs in a child process (the local pool's start method: fork, or
    the fork server once torch is loaded) while this process goes on; otherwise it runs
    when the result is asked for."""
    if workers <= 1:
        return lambda: side_parts(answers, workspace, seed=seed, replicates=replicates,
                                  baselines=baselines)
    from lesiontrials.execution.local import start_in_child

    started = start_in_child(side_parts, answers, workspace, seed=seed,
                             replicates=replicates, baselines=frozenset(baselines))
    return lambda: cast(SideParts, started())


