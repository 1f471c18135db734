"""What every stage function shares: the stage records, the default executor and the
scope that makes an executor and a reporter active for a stage's duration."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from lesiontrials.errors import InputError, stage_failures
from lesiontrials.execution import (
    Executor,
    InProcessExecutor,
    LocalPoolExecutor,
    ProgressReporter,
    use_executor,
    use_reporter,
)
from lesiontrials.paths import Workspace

if TYPE_CHECKING:
    from lesiontrials.io.decoded import DecodedCache
    from lesiontrials.settings import Settings
    from lesiontrials.trials import TrialPlan
    from lesiontrials.world.build import WorldResult


#: the trials ``run`` also evaluates on whole volumes (designs 2 and 3)
VOLUME_TRIALS = ("size_detection_curve", "location_sensitivity")


@dataclass(frozen=True)
class WorldRecord:
    """The data root the later stages read; ``built`` is None when an existing data root
    (``settings.data_root``) was used instead of building the embedded world."""

    root: Path
    built: WorldResult | None


@dataclass(frozen=True)
class PlanRecord:
    """Planned trials (manifests written) and the designs the data could not support,
    each with ``design_number``, ``design``, ``reason`` and ``fix``."""

    plans: tuple[TrialPlan, ...]
    infeasible: tuple[dict[str, Any], ...] = ()


class InfeasibleDesignsError(InputError):
    """Planning every design left nothing planned (or, strict, some design infeasible);
    ``record`` holds what was planned and why each infeasible design was refused."""

    record: PlanRecord


@dataclass(frozen=True)
class StageRecord:
    """What a per-case stage did: one summary per trial (or set), cases failed of total,
    trials skipped with the reason, and where the summaries are (a glob, for messages)."""

    stage: str
    summaries: tuple[Any, ...]
    failed: int
    total: int
    summaries_glob: str
    skipped: tuple[tuple[str, str], ...] = ()

    def check(self) -> None:
        """Raise :class:`~lesiontrials.errors.StageFailedError` when cases failed."""
        if self.failed:
            raise stage_failures(self.stage, failed=self.failed, total=self.total,
                                 summaries=self.summaries_glob)


def default_executor(settings: Settings) -> Executor:
    """In-process for one worker, else a local pool of ``settings.workers`` processes."""
    if settings.workers <= 1:
        return InProcessExecutor()
    return LocalPoolExecutor(workers=settings.workers)


@contextlib.contextmanager
def _scope(settings: Settings, executor: Executor | None,
           reporter: ProgressReporter | None) -> Iterator[Executor]:
    """Run the block on ``executor`` (else the default one), reporting to ``reporter``
    only (None: silent, whatever an outer block chose)."""
    chosen = executor or default_executor(settings)
    with use_executor(chosen), use_reporter(reporter):
        yield chosen


# ----------------------------------------------------------------------- world → plan


def _decoded_cache(settings: Settings) -> DecodedCache | None:
    """The workspace's decoded-volume cache (``None`` when its size limit is 0)."""
    from lesiontrials.io.decoded import decoded_cache_for

    return decoded_cache_for(Workspace(settings.workspace).root,
                             max_gb=settings.decoded_cache_gb)
