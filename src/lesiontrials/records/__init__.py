"""Typed records that pass between stages (what one stage writes and another reads).

Each record has a ``schema_version`` and refuses unknown fields; read and write them with
:func:`lesiontrials.io.read_record` / :func:`lesiontrials.io.write_record`. This package
sits below every stage: it imports nothing from them, so a later stage reading an
earlier stage's output depends on the record only, never on the writer's internals.
"""

from lesiontrials.records.base import StageRecord, Strict
from lesiontrials.records.insert import (
    INSERT_SCHEMA_VERSION,
    Adjustment,
    HostInfo,
    HostNative,
    InsertedNodule,
    InsertRecord,
    Percents,
    PlannedNodule,
    RealisedTruth,
)
from lesiontrials.records.render import (
    RENDER_SCHEMA_VERSION,
    OutputFile,
    RenderedLesion,
    RenderRecord,
)

__all__ = [
    "INSERT_SCHEMA_VERSION",
    "RENDER_SCHEMA_VERSION",
    "Adjustment",
    "HostInfo",
    "HostNative",
    "InsertRecord",
    "InsertedNodule",
    "OutputFile",
    "Percents",
    "PlannedNodule",
    "RealisedTruth",
    "RenderRecord",
    "RenderedLesion",
    "StageRecord",
    "Strict",
]
