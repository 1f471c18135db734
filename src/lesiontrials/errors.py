"""Errors users see. Each names the file/field at fault and what to do about it."""

from __future__ import annotations

import contextlib
from pathlib import Path


def shown(value: object) -> str:
    """A cell value as a user wrote it: ``7`` or ``'x'``, never ``np.float64(7.0)``."""
    item = getattr(value, "item", None)
    if callable(item) and not isinstance(value, str | bytes):
        with contextlib.suppress(TypeError, ValueError):
            value = item()
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return repr(value)


class LesionTrialsError(Exception):
    """Base class for every error raised on purpose by lesiontrials."""


class InputError(LesionTrialsError):
    """Bad input: a file, a table cell or a spec field that cannot be used.

    The message reads ``<where>: <problem>. Fix: <what to do>`` where ``<where>`` is the
    file, then the row and column when known.
    """

    def __init__(
        self,
        problem: str,
        *,
        path: str | Path | None = None,
        row: int | None = None,
        column: str | None = None,
        fix: str | None = None,
    ) -> None:
        self.problem = problem
        self.path = None if path is None else str(path)
        self.row = row
        self.column = column
        self.fix = fix
        super().__init__(self._format())

    def _format(self) -> str:
        where = []
        if self.path is not None:
            where.append(self.path)
        if self.row is not None:
            where.append(f"row {self.row}")
        if self.column is not None:
            where.append(f"column {self.column!r}")
        text = (", ".join(where) + ": " if where else "") + self.problem
        if self.fix:
            text += f". Fix: {self.fix}"
        return text


class MissingPathError(InputError):
    """A file or directory the run needs is not there."""


class BadNameError(InputError, ValueError):
    """A trial, set, case or dataset name that could escape its folder (``..``, ``/``).

    Also a :class:`ValueError`, so code that validated names before keeps working.
    """


class StageFailedError(LesionTrialsError):
    """A stage finished, wrote its summary, and some of its cases failed.

    The command line exits with :data:`EXIT_STAGE_FAILURES` (not the usage/input code), so
    a script can tell "finished with failures" from "refused to start".
    """

    exit_code = 3


def stage_failures(stage: str, *, failed: int, total: int, summaries: str) -> StageFailedError:
    """The error a stage raises after writing its summary when ``failed`` cases failed."""
    return StageFailedError(
        f"{stage}: {failed} of {total} cases failed; the summary is written ({summaries}). "
        "Fix: read the reasons listed above, address them and run the same command again "
        "(finished cases are kept and skipped)")


class LockHeldError(LesionTrialsError):
    """Another live process holds the stage's lock on this workspace."""

    exit_code = 4


EXIT_INPUT = 2
"""Exit status for bad input, bad settings and refused commands (nothing was done)."""
EXIT_STAGE_FAILURES = StageFailedError.exit_code
"""Exit status for a stage that finished and wrote its summary, but some cases failed."""
EXIT_LOCKED = LockHeldError.exit_code
"""Exit status when another live run holds the stage's lock on the workspace."""


class ConfigError(LesionTrialsError):
    """A setting or configuration file is invalid."""
