"""The executor contract: one outcome per item, in item order, whatever runs the items.

A per-case function is a picklable module-level function of one item. It seeds itself from
the item's uid, writes its outputs atomically and skips finished work, so every executor
gives byte-identical outputs and an interrupted run resumes by skipping finished items.
"""

from __future__ import annotations

import dataclasses
import time
import traceback
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any, Protocol, TypeVar, runtime_checkable

from lesiontrials.errors import LesionTrialsError

T = TypeVar("T")
OnDone = Callable[[int], None]
"""Progress callback: called with the number of items that just finished."""


@dataclass(frozen=True)
class CaseOutcome:
    """What happened to one item: ``done``, ``skipped`` (already finished) or ``failed``.

    ``wall_s`` and ``cpu_s`` are the item's own wall-clock and CPU seconds in its worker.
    """

    key: str
    status: str
    result: Any = None
    reason: str = ""
    wall_s: float = 0.0
    cpu_s: float = 0.0


@runtime_checkable
class Executor(Protocol):
    """Runs ``func`` on every item and returns their outcomes in item order."""

    name: str

    def map(self, func: Callable[[Any], Any], items: Sequence[Any], *,
            keys: Sequence[str], on_done: OnDone | None = None) -> list[CaseOutcome]:
        """One :class:`CaseOutcome` per item, in item order; never raises for one item."""
        ...


def call_case(func: Callable[[Any], Any], key: str, item: Any) -> CaseOutcome:
    """Run one item, turning exceptions into ``failed`` outcomes with a reason."""
    wall0, cpu0 = time.perf_counter(), time.process_time()
    try:
        result = func(item)
    except LesionTrialsError as exc:  # a reasoned failure of this case
        outcome = CaseOutcome(key, "failed", reason=str(exc))
    except Exception as exc:  # unexpected: keep the exception line for the summary
        detail = "".join(traceback.format_exception_only(type(exc), exc)).strip()
        outcome = CaseOutcome(key, "failed", reason=f"unexpected error: {detail}")
    else:
        outcome = result if isinstance(result, CaseOutcome) else CaseOutcome(
            key, "done", result=result)
    return dataclasses.replace(outcome, wall_s=time.perf_counter() - wall0,
                               cpu_s=time.process_time() - cpu0)


def call_chunk(func: Callable[[Any], Any], keys: Sequence[str],
               items: Sequence[Any]) -> list[CaseOutcome]:
    """Run a chunk of items one after another (one SLURM array task, for example)."""
    return [call_case(func, key, item) for key, item in zip(keys, items, strict=True)]


def lost_outcome(key: str, why: str) -> CaseOutcome:
    """The outcome of an item whose worker, task or job died before reporting."""
    return CaseOutcome(key, "failed", reason=f"worker lost: {why}")


def complete_outcomes(outcomes: Sequence[CaseOutcome | None],
                      keys: Sequence[str]) -> list[CaseOutcome]:
    """One outcome per key, in key order: an item that never reported is a lost one.

    Executors collect outcomes into a list of slots; a slot still empty at the end (an
    item no worker reported on) becomes a ``failed`` outcome instead of silently
    disappearing from the run.
    """
    if len(outcomes) > len(keys):
        raise ValueError(f"{len(outcomes)} outcomes for {len(keys)} items")
    padded = [*outcomes, *([None] * (len(keys) - len(outcomes)))]
    return [outcome if outcome is not None else lost_outcome(key, "no outcome reported")
            for outcome, key in zip(padded, keys, strict=True)]


def chunks(values: Sequence[T], *, size: int) -> Iterator[list[T]]:
    """Consecutive slices of ``values`` with at most ``size`` elements each."""
    if size < 1:
        raise ValueError(f"chunk size must be >= 1, got {size}")
    for start in range(0, len(values), size):
        yield list(values[start:start + size])


_RESOURCES: dict[str, Any] = {}


def load_once(name: str, factory: Callable[[], T]) -> T:
    """A per-process resource (e.g. a model), built on first use and reused afterwards.

    Per-case functions that need a model call this, so a pool worker, a Ray actor or a
    SLURM array task loads the model once for all the cases it runs.
    """
    if name not in _RESOURCES:
        _RESOURCES[name] = factory()
    return _RESOURCES[name]


def forget_once(name: str) -> None:
    """Drop the per-process resource ``name`` (:func:`load_once`), if this process has it."""
    _RESOURCES.pop(name, None)


@contextmanager
def stage_executor(executor: Executor | None) -> Iterator[Executor | None]:
    """Use a stage's own executor (e.g. model actors) and close it afterwards, freeing its
    actors and models; ``None`` passes through."""
    try:
        yield executor
    finally:
        close: Callable[[], object] | None = getattr(executor, "close", None)
        if close is not None:
            close()
