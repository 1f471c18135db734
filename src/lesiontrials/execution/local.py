"""In-process and local process-pool executors, and ``run_cases``: the one entry point.

``run_cases`` picks its executor in this order: the ``executor`` argument, the one the
caller made active with :func:`use_executor`, else in-process (``workers <= 1``) or a
local pool of ``workers``. It never reads settings or the environment: only the command
line does, and builds the executor it passes (``executor_from_settings``).

Progress is shown only to a reporter the caller passes (or makes active with
:func:`~lesiontrials.execution.progress.use_reporter`); without one nothing is printed.

The local pool forks its workers, except once torch is imported in this process: forking
after torch started its thread pool can deadlock a worker (a lock held by a thread that
does not exist in the child), so the pool then starts workers from a fork server.
"""

from __future__ import annotations

import contextlib
import logging
import multiprocessing
import sys
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from concurrent.futures import ProcessPoolExecutor, as_completed
from contextvars import ContextVar
from typing import Any

from lesiontrials.execution.base import (
    CaseOutcome,
    Executor,
    OnDone,
    call_case,
    complete_outcomes,
    lost_outcome,
)
from lesiontrials.execution.progress import ProgressReporter, active_reporter, report_task
from lesiontrials.execution.summary import RunSummary, summarise_run

log = logging.getLogger(__name__)
_ACTIVE: ContextVar[Executor | None] = ContextVar("lesiontrials_executor", default=None)
_RECORDS: ContextVar[list[RunSummary] | None] = ContextVar("lesiontrials_summaries",
                                                           default=None)


class InProcessExecutor:
    """Runs items one after another in this process (tests, debugging, tiny runs)."""

    name = "in-process"

    def map(self, func: Callable[[Any], Any], items: Sequence[Any], *,
            keys: Sequence[str], on_done: OnDone | None = None) -> list[CaseOutcome]:
        """Run every item here, in order."""
        outcomes = []
        for key, item in zip(keys, items, strict=True):
            outcomes.append(call_case(func, key, item))
            if on_done is not None:
                on_done(1)
        return outcomes


class LocalPoolExecutor:
    """Runs items on a pool of ``workers`` local processes."""

    name = "local-pool"

    def __init__(self, *, workers: int = 2) -> None:
        if workers < 1:
            raise ValueError(f"workers must be >= 1, got {workers}")
        self.workers = workers

    def map(self, func: Callable[[Any], Any], items: Sequence[Any], *,
            keys: Sequence[str], on_done: OnDone | None = None) -> list[CaseOutcome]:
        """Run items on the pool; a crashed worker fails its items instead of the run."""
        outcomes: list[CaseOutcome | None] = [None] * len(items)
        with ProcessPoolExecutor(max_workers=self.workers,
                                 mp_context=pool_context()) as pool:
            futures = {pool.submit(call_case, func, key, item): i
                       for i, (key, item) in enumerate(zip(keys, items, strict=True))}
            for future in as_completed(futures):
                i = futures[future]
                try:
                    outcomes[i] = future.result()
                except Exception as exc:  # BrokenProcessPool, unpicklable result, ...
                    outcomes[i] = lost_outcome(keys[i], repr(exc))
                if on_done is not None:
                    on_done(1)
        return complete_outcomes(outcomes, keys)


def pool_context() -> multiprocessing.context.BaseContext:
    """``fork`` (fast start, nothing re-imported) unless torch is loaded in this process,
    then ``forkserver``: a child forked after torch's threads started can hang."""
    return multiprocessing.get_context("forkserver" if "torch" in sys.modules else "fork")


def start_in_child(func: Callable[..., Any], /, *args: Any,
                   context: multiprocessing.context.BaseContext | None = None,
                   **kwargs: Any) -> Callable[[], Any]:
    """Start ``func(*args, **kwargs)`` in one child process now and return a function that
    waits for it: its result, or its exception raised here (``BrokenProcessPool`` when the
    child died), never a silent default. ``context``: the start method (default
    :func:`pool_context`; ``spawn`` gives a fresh interpreter that inherits no memory)."""
    pool = ProcessPoolExecutor(1, mp_context=context or pool_context())
    future = pool.submit(func, *args, **kwargs)

    def result() -> Any:
        try:
            return future.result()
        finally:
            pool.shutdown(wait=True, cancel_futures=True)

    return result


class CaseOutcomes(list[CaseOutcome]):
    """The outcomes of one ``run_cases`` call (a list), with its :class:`RunSummary`."""

    summary: RunSummary


@contextlib.contextmanager
def use_executor(executor: Executor | None) -> Iterator[Executor | None]:
    """Make ``executor`` the one every ``run_cases`` call uses inside the block."""
    token = _ACTIVE.set(executor)
    try:
        yield executor
    finally:
        _ACTIVE.reset(token)


@contextlib.contextmanager
def record_summaries() -> Iterator[list[RunSummary]]:
    """Collect the :class:`RunSummary` of every ``run_cases`` call inside the block."""
    records: list[RunSummary] = []
    token = _RECORDS.set(records)
    try:
        yield records
    finally:
        _RECORDS.reset(token)


def active_executor() -> Executor | None:
    """The executor made active with :func:`use_executor`, if any."""
    return _ACTIVE.get()


def forks_workers(*, workers: int, executor: Executor | None = None) -> bool:
    """Whether ``run_cases`` with these arguments runs items on local workers forked from
    this process (so they start with whatever this process has computed and remembered)."""
    chosen = resolve_executor(workers=workers, executor=executor)
    return (isinstance(chosen, LocalPoolExecutor) and chosen.workers > 1
            and pool_context().get_start_method() == "fork")


def resolve_executor(*, workers: int, executor: Executor | None = None) -> Executor:
    """The executor ``run_cases`` will use (see the module docstring for the order)."""
    if executor is not None:
        return executor
    active = _ACTIVE.get()
    if active is not None:
        return active
    return InProcessExecutor() if workers <= 1 else LocalPoolExecutor(workers=workers)


def run_cases(
    func: Callable[[Any], Any],
    items: Sequence[Any],
    *,
    keys: Iterable[str],
    workers: int = 1,
    description: str = "cases",
    show_progress: bool = True,
    executor: Executor | None = None,
    on_done: OnDone | None = None,
    reporter: ProgressReporter | None = None,
) -> CaseOutcomes:
    """Apply ``func`` to every item; outcomes come back in item order.

    ``func`` may return a :class:`CaseOutcome` itself (e.g. ``skipped``); exceptions become
    ``failed`` outcomes with a reason instead of stopping the run. The returned list carries
    a :class:`RunSummary` as ``.summary``, which is also logged. Progress and the summary
    line go to ``reporter`` (default: the active one, see
    :func:`~lesiontrials.execution.progress.use_reporter`); with none, or with
    ``show_progress=False``, nothing is printed. ``on_done(n)`` is called as items finish,
    for callers with their own progress display.
    """
    keys = list(keys)
    if len(keys) != len(items):
        raise ValueError(f"{len(keys)} keys for {len(items)} items")
    chosen = resolve_executor(workers=workers, executor=executor)
    shown = (reporter or active_reporter()) if show_progress else None
    start = time.perf_counter()
    with report_task(shown, f"{description} [{chosen.name}]", len(items)) as progress:

        def advance(n: int) -> None:
            progress(n)
            if on_done is not None:
                on_done(n)

        result = chosen.map(func, items, keys=keys, on_done=advance)
    outcomes = CaseOutcomes(result)
    outcomes.summary = summarise_run(outcomes, stage=description, executor=chosen.name,
                                     wall_s=time.perf_counter() - start)
    log.info(outcomes.summary.line())
    records = _RECORDS.get()
    if records is not None:
        records.append(outcomes.summary)
    if shown is not None:
        shown.message(outcomes.summary.line())
    return outcomes
