"""Read and write stage records (:mod:`lesiontrials.records`) as JSON files.

Writing validates the record and writes stable JSON atomically (sorted keys, NaN as
null: the same bytes for the same record). Reading refuses, with an :class:`InputError`
naming the file, the field and the stage to re-run: a file that is not JSON, a schema
version this code does not read, a missing or misspelt field or a value of the wrong type.
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path
from typing import Any, TypeVar

from pydantic import ValidationError

from lesiontrials.errors import InputError, MissingPathError
from lesiontrials.io.tables import read_json, write_json
from lesiontrials.paths import CaseFiles
from lesiontrials.records.base import StageRecord, field_list
from lesiontrials.records.insert import InsertRecord
from lesiontrials.records.render import RenderRecord
from lesiontrials.records.tables import TableRow

R = TypeVar("R", bound=StageRecord)


def write_record(record: StageRecord, path: str | Path) -> Path:
    """Write ``record`` as stable JSON at ``path`` (atomic)."""
    return write_json(record.to_json_dict(), path)


def read_record(path: str | Path, model: type[R]) -> R:
    """Read ``path`` as a ``model`` record (see the module docstring for what is refused)."""
    path = Path(path)
    if not path.is_file():
        raise MissingPathError(f"{path.name} not found", path=path,
                               fix=f"run `lesiontrials {model.STAGE}` first")
    return parse_record(read_json(path), model, where=path)


def parse_record(data: Any, model: type[R], *, where: str | Path) -> R:
    """Validate already-parsed JSON ``data`` as a ``model`` record (errors name ``where``)."""
    rerun = f"re-run `lesiontrials {model.STAGE}` for this trial"
    if not isinstance(data, dict):
        raise InputError(f"expected a JSON object, got {type(data).__name__}", path=where,
                         fix=rerun)
    version = data.get("schema_version", 0 if 0 in model.READS else None)
    if version not in model.READS:
        raise InputError(
            f"schema_version {version!r} is not one this lesiontrials reads "
            f"({', '.join(map(str, model.READS))}): the file was written by another version",
            path=where, column="schema_version", fix=rerun)
    try:
        return model.model_validate({**data, "schema_version": version})
    except ValidationError as exc:
        raise _validation_error(exc, model, where=where, fix=rerun) from exc


def _validation_error(exc: ValidationError, model: type[StageRecord], *, where: str | Path,
                      fix: str) -> InputError:
    """The first problem of ``exc`` as an :class:`InputError` naming the field (an unknown
    field first: a misspelt key also makes the right one missing, and the typo is the news)."""
    errors = sorted(exc.errors(), key=lambda e: e["type"] != "extra_forbidden")
    first = errors[0]
    field = ".".join(str(part) for part in first["loc"])
    count = exc.error_count()
    more = f" (and {count - 1} more problem{'s' * (count > 2)})" if count > 1 else ""
    if first["type"] == "extra_forbidden":
        problem = f"unknown field {field!r}{more}"
        if len(first["loc"]) == 1:
            problem += f"; valid fields: {field_list(model)}"
    elif first["type"] == "missing":
        problem = f"missing field {field!r}{more}"
    else:
        problem = f"field {field!r}: {first['msg']}{more}"
    return InputError(f"not a valid {model.__name__}: {problem}", path=where, column=field,
                      fix=fix)


def read_rendered_case(files: CaseFiles) -> tuple[InsertRecord, RenderRecord] | str:
    """A case's insertion and render records, or why the case cannot be used yet
    ("not inserted", "insertion failed", "not rendered").

    A record in a schema this version cannot read is an :class:`InputError` (the message
    names the file and the stage to re-run), never a silently skipped case."""
    if not files.insert_json.is_file():
        return "not inserted"
    inserted = read_record(files.insert_json, InsertRecord)
    if not inserted.done:
        return f"insertion {inserted.status}"
    if not files.ct.is_file() or not files.render_json.is_file():
        return "not rendered"
    return inserted, read_record(files.render_json, RenderRecord)


def check_columns(columns: Iterable[str], model: type[TableRow], *, where: str | Path) -> None:
    """Refuse a table that lacks a column of ``model`` (the file and the stage to re-run
    are named); extra columns are allowed (compatible extensions)."""
    missing = [name for name in model.model_fields if name not in set(columns)]
    if missing:
        raise InputError(f"table lacks the column{'s' * (len(missing) > 1)} "
                         f"{', '.join(missing)} of a {model.__name__}: it was written by "
                         "another version", path=where, column=missing[0],
                         fix=f"re-run `lesiontrials {model.STAGE}` for it")
