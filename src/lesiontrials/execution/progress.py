"""Progress reporting: library calls print nothing unless the caller gives a reporter.

A :class:`ProgressReporter` is what a caller hands in to see progress: the command line
passes a rich one (``lesiontrials.cli.console.RichReporter``), a notebook may pass its own,
a library call passes none and stays silent. :func:`use_reporter` makes a reporter the one
every :func:`~lesiontrials.execution.run_cases` call inside a block reports to, so a
pipeline stage passes it once instead of through every function below it.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator
from contextvars import ContextVar
from typing import Protocol, runtime_checkable


@runtime_checkable
class ProgressReporter(Protocol):
    """Receives a stage's progress: a task with a total, its advances, and one-line notes."""

    def task(self, description: str, total: int) -> contextlib.AbstractContextManager[
            Callable[[int], None]]:
        """A context for one task of ``total`` items; yields ``advance(n)``."""
        ...

    def message(self, text: str) -> None:
        """One line of text (e.g. a stage's summary), printed as is."""
        ...


_ACTIVE: ContextVar[ProgressReporter | None] = ContextVar("lesiontrials_reporter",
                                                          default=None)


@contextlib.contextmanager
def use_reporter(reporter: ProgressReporter | None) -> Iterator[ProgressReporter | None]:
    """Report the progress of every ``run_cases`` call inside the block to ``reporter``
    (``None``: silence, also inside an outer reporter's block)."""
    token = _ACTIVE.set(reporter)
    try:
        yield reporter
    finally:
        _ACTIVE.reset(token)


def active_reporter() -> ProgressReporter | None:
    """The reporter made active with :func:`use_reporter`, if any (else ``None``)."""
    return _ACTIVE.get()


@contextlib.contextmanager
def report_task(reporter: ProgressReporter | None, description: str, total: int
                ) -> Iterator[Callable[[int], None]]:
    """``reporter.task`` or, without a reporter, an ``advance`` that does nothing."""
    if reporter is None:
        yield _ignore
        return
    with reporter.task(description, total) as advance:
        yield advance


def _ignore(_: int) -> None:
    """Advance nothing (no reporter)."""
