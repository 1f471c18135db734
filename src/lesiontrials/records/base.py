"""The base of every stage record: a strict pydantic model with a schema version.

A stage record is what one stage writes and a later stage reads (``plan.json``,
``insert.json``, ``render.json``, evaluation-set item rows, score result rows). Each
record class names its ``STAGE`` (the command that writes it, for the "re-run" hint) and
the schema versions it can read. Unknown fields are refused (``extra="forbid"``), so a
misspelt key is an error naming the field, never a silently ignored value. Reading and
writing the files goes through :mod:`lesiontrials.io.records`.
"""

from __future__ import annotations

import math
from typing import Annotated, Any, ClassVar

from pydantic import BaseModel, BeforeValidator, ConfigDict


def _nan_to_none(value: Any) -> Any:
    return None if isinstance(value, float) and math.isnan(value) else value


MaybeFloat = Annotated[float | None, BeforeValidator(_nan_to_none)]
"""A number that may be unknown: ``None`` (JSON ``null``); a NaN becomes ``None`` so a
record built in memory equals the one read back from its file."""


class Strict(BaseModel):
    """A nested part of a record: unknown fields are refused."""

    model_config = ConfigDict(extra="forbid", allow_inf_nan=False)  # unknown: MaybeFloat


class StageRecord(Strict):
    """A record one stage writes and another reads, with its ``schema_version``.

    ``SCHEMA_VERSION`` is the version this code writes; ``READS`` the versions it reads
    (older compatible layouts); ``STAGE`` the ``lesiontrials`` command that writes it.
    """

    SCHEMA_VERSION: ClassVar[int]
    READS: ClassVar[tuple[int, ...]]
    STAGE: ClassVar[str]

    schema_version: int

    def to_json_dict(self) -> dict[str, Any]:
        """The record as JSON-ready plain data (NaN written as ``None``).

        Optional fields left at their default are left out (``exclude_unset``), so a
        field that only some placement modes use does not appear as ``null`` elsewhere
        and a record read and written again keeps its bytes."""
        return self.model_dump(mode="json", exclude_unset=True)


def field_list(model: type[BaseModel]) -> str:
    """``a, b, c``: a model's field names, for "valid fields are …" messages."""
    return ", ".join(sorted(model.model_fields))
