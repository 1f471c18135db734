"""In-process and local process-pool executors with a rich progress bar."""

from __future__ import annotations

import traceback
from collections.abc import Callable, Iterable, Sequence
from concurrent.futures import ProcessPoolExecutor, as_completed
from dataclasses import dataclass
from typing import Any, TypeVar

from lesiontrials.errors import LesionTrialsError

Item = TypeVar("Item")


@dataclass(frozen=True)
class CaseOutcome:
    """What happened to one item: ``done``, ``skipped`` (already finished) or ``failed``."""

    key: str
    status: str
    result: Any = None
    reason: str = ""


def _call(func: Callable[[Any], Any], key: str, item: Any) -> CaseOutcome:
    try:
        result = func(item)
    except LesionTrialsError as exc:  # a reasoned failure of this case
        return CaseOutcome(key, "failed", reason=str(exc))
    except Exception as exc:  # unexpected: keep the traceback for the summary
        detail = "".join(traceback.format_exception_only(type(exc), exc)).strip()
        return CaseOutcome(key, "failed", reason=f"unexpected error: {detail}")
    if isinstance(result, CaseOutcome):
        return result
    return CaseOutcome(key, "done", result=result)


def run_cases(
    func: Callable[[Any], Any],
    items: Sequence[Any],
    *,
    keys: Iterable[str],
    workers: int = 1,
    description: str = "cases",
    show_progress: bool = True,
) -> list[CaseOutcome]:
    """Apply ``func`` to every item; outcomes come back in item order.

    ``func`` may return a :class:`CaseOutcome` itself (e.g. ``skipped``); exceptions become
    ``failed`` outcomes with a reason instead of stopping the run.
    """
    keys = list(keys)
    outcomes: list[CaseOutcome | None] = [None] * len(items)
    progress = _progress(show_progress)
    with progress:
        task = progress.add_task(description, total=len(items))
        if workers <= 1:
            for i, (key, item) in enumerate(zip(keys, items, strict=True)):
                outcomes[i] = _call(func, key, item)
                progress.advance(task)
        else:
            with ProcessPoolExecutor(max_workers=workers) as pool:
                futures = {pool.submit(_call, func, key, item): i
                           for i, (key, item) in enumerate(zip(keys, items, strict=True))}
                for future in as_completed(futures):
                    outcomes[futures[future]] = future.result()
                    progress.advance(task)
    return [o for o in outcomes if o is not None]


def _progress(enabled: bool):
    from rich.progress import (
        BarColumn,
        MofNCompleteColumn,
        Progress,
        TimeElapsedColumn,
        TimeRemainingColumn,
    )

    return Progress("[progress.description]{task.description}", BarColumn(),
                    MofNCompleteColumn(), TimeElapsedColumn(), TimeRemainingColumn(),
                    disable=not enabled)
