"""A run summary: what happened to the items of one stage, and how fast."""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

from lesiontrials.execution.base import CaseOutcome


@dataclass(frozen=True)
class RunSummary:
    """Counts by status and failure reason, wall and CPU seconds, and throughput.

    ``cpu_s`` is the sum of the items' CPU seconds in their workers; ``wall_s`` is the
    stage's wall-clock time as seen by the caller (queueing and start-up included).
    """

    stage: str
    executor: str
    items: int
    done: int
    failed: int
    skipped: int
    wall_s: float
    cpu_s: float
    item_wall_s: float
    reasons: dict[str, int] = field(default_factory=dict)

    @property
    def cases_per_min(self) -> float:
        """Items finished per minute of wall-clock time (all statuses)."""
        return 60.0 * self.items / self.wall_s if self.wall_s > 0 else 0.0

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON-ready values, throughput included."""
        return {**asdict(self), "cases_per_min": self.cases_per_min}

    def line(self) -> str:
        """One line for the console."""
        text = (f"{self.stage} [{self.executor}]: {self.done} done, {self.failed} failed, "
                f"{self.skipped} skipped of {self.items} · {self.cases_per_min:.1f} cases/min · "
                f"wall {self.wall_s:.1f} s · CPU {self.cpu_s:.1f} s")
        if self.reasons:
            text += " · failed: " + "; ".join(f"{r} ×{n}" for r, n in self.reasons.items())
        return text


def summarise_run(outcomes: Sequence[CaseOutcome], *, stage: str, executor: str,
                  wall_s: float) -> RunSummary:
    """Build the :class:`RunSummary` of one stage's outcomes."""
    status = Counter(o.status for o in outcomes)
    reasons = Counter(_first_line(o.reason) for o in outcomes if o.status == "failed")
    return RunSummary(
        stage=stage, executor=executor, items=len(outcomes), done=status["done"],
        failed=status["failed"], skipped=status["skipped"], wall_s=wall_s,
        cpu_s=sum(o.cpu_s for o in outcomes), item_wall_s=sum(o.wall_s for o in outcomes),
        reasons=dict(reasons.most_common()),
    )


def _first_line(reason: str) -> str:
    """A failure's first line, whole: logs never cut a reason (identical ones are counted
    together)."""
    return (reason or "no reason given").splitlines()[0]
