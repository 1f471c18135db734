"""The nodule selection shared by search, export and the map: one filter definition each,
the query parameters they take, and the list the UI builds its form from.

Choice filters take repeated values (``?lobe=RUL&lobe=RML``); range filters take
``{name}_min`` / ``{name}_max`` (inclusive; a set bound drops rows where the value is
missing, an unset range keeps them). Every LIDC characteristic
(:data:`~lesiontrials.anatomy.LIDC_CHARACTERISTICS`) is a range filter on its 1–5 (6 for
calcification) reader score.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
from fastapi import Request

from lesiontrials.anatomy import LIDC_CHARACTERISTICS
from lesiontrials.apps.state import ApiError, AppState


@dataclass(frozen=True)
class RangeFilter:
    """``{name}_min`` / ``{name}_max`` on a numeric index column, within ``limits``."""

    name: str
    column: str
    limits: tuple[float, float]
    unit: str = ""
    integer: bool = False
    label: str = ""


@dataclass(frozen=True)
class ChoiceFilter:
    """Rows whose ``column`` is one of the given values (``multiple``: repeatable)."""

    name: str
    column: str
    multiple: bool = True
    label: str = ""


RANGE_FILTERS: tuple[RangeFilter, ...] = (
    RangeFilter("diameter", "nodule_mean_diam_mm", (0, 1000), "mm", label="mean diameter"),
    RangeFilter("pleural", "pleural_distance_mm", (0, 1000), "mm", label="pleural distance"),
    RangeFilter("airway", "airway_distance_mm", (0, 1000), "mm", label="airway distance"),
    RangeFilter("multiplicity", "n_nodules_in_patient", (0, 1000), integer=True,
                label="nodules in the scan"),
    *(RangeFilter(name, name, (0, 6), "LIDC score", label=name.replace("_", " "))
      for name in LIDC_CHARACTERISTICS),
)
CHOICE_FILTERS: tuple[ChoiceFilter, ...] = (
    ChoiceFilter("dataset", "dataset", label="dataset"),
    ChoiceFilter("label", "label", label="label (1 malignant, 0 benign, none unknown)"),
    ChoiceFilter("lobe", "lobe_name", label="lobe"),
    ChoiceFilter("zone", "lung_zone", label="lung zone"),
    ChoiceFilter("side", "lung_side", multiple=False, label="lung side"),
)
FLAG_FILTERS = {"hosts_only": "only nodules whose own scan can host insertions"}


@dataclass(frozen=True)
class Selected:
    """The selected index rows (ascending) and the normalised filter key they came from."""

    rows: np.ndarray
    key: tuple[tuple[str, Any], ...]

    @property
    def filters(self) -> dict[str, Any]:
        return dict(self.key)


def _labels(values: list[str]) -> list[int | None]:
    parsed: list[int | None] = []
    for value in values:
        if value not in ("0", "1", "none"):
            raise ApiError(f"label must be 0, 1 or none, got {value!r}")
        parsed.append(None if value == "none" else int(value))
    return parsed


def normalised_key(values: dict[str, Any]) -> tuple[tuple[str, Any], ...]:
    """The set filters, sorted, lists as sorted tuples: equal selections, equal keys."""
    out = []
    for name, value in sorted(values.items()):
        if value is None or value is False or value == []:
            continue
        out.append((name, tuple(sorted(set(value))) if isinstance(value, list) else value))
    return tuple(out)


def compute_rows(state: AppState, filters: dict[str, Any]) -> np.ndarray:
    """Row numbers of the nodules matching every filter in ``filters``."""
    query = state.index.query()
    try:
        if filters.get("dataset"):
            query = query.dataset(*filters["dataset"])
        if filters.get("label"):
            query = query.label(*_labels(list(filters["label"])))
        if filters.get("lobe"):
            query = query.lobe(*filters["lobe"])
        if filters.get("zone"):
            query = query.zone(*filters["zone"])
        if filters.get("side"):
            query = query.side(filters["side"])
    except (ValueError, KeyError) as error:
        raise ApiError(str(error)) from error
    for spec in RANGE_FILTERS:
        low, high = filters.get(f"{spec.name}_min"), filters.get(f"{spec.name}_max")
        if low is not None and high is not None and low > high:
            raise ApiError(f"{spec.name}_min ({low:g}) must not exceed "
                           f"{spec.name}_max ({high:g})")
        if low is not None or high is not None:  # an unset range keeps missing values
            query = query.between(spec.column, low, high)
    if filters.get("hosts_only"):
        query = query.hosts_available()
    return np.flatnonzero(query.mask())


_TRUE, _FALSE = {"1", "true", "on", "yes"}, {"0", "false", "off", "no"}
MAX_VALUES, MAX_LENGTH = 64, 64  # per choice parameter: values, characters per value


def _number(name: str, text: str, spec: RangeFilter) -> float | int:
    low, high = spec.limits
    try:
        value: float | int = int(text) if spec.integer else float(text)
    except ValueError:
        kind = "an integer" if spec.integer else "a number"
        raise ApiError(f"{name}: must be {kind}, got {text[:20]!r}", status=422) from None
    if not (low <= value <= high):  # also refuses NaN
        raise ApiError(f"{name}: must be between {low:g} and {high:g}", status=422)
    return value


def _choices(name: str, values: list[str], *, multiple: bool) -> list[str] | str:
    if len(values) > MAX_VALUES or any(len(v) > MAX_LENGTH for v in values):
        raise ApiError(f"{name}: at most {MAX_VALUES} values of {MAX_LENGTH} characters",
                       status=422)
    return values if multiple else values[-1]


_RANGE_PARAMS = {f"{spec.name}_{end}": spec for spec in RANGE_FILTERS for end in ("min", "max")}
_CHOICE_PARAMS = {choice.name: choice for choice in CHOICE_FILTERS}


def parse_filters(query: Any) -> dict[str, Any]:
    """The selection filters of a request's query parameters (a Starlette
    ``QueryParams``), checked like declared parameters (422 with the parameter's name);
    other parameters are ignored and an empty value counts as unset (HTML forms).

    Parsed by hand from the filter definitions rather than declared one by one to
    FastAPI: validating ~30 declared parameters on every request cost more than the
    search itself (see benchmarks/RESULTS.md); the OpenAPI schema still lists them
    (:func:`selection_openapi`)."""
    values: dict[str, Any] = {}
    for name in set(query.keys()):
        given = [v for v in query.getlist(name) if v != ""]
        if not given:
            continue
        if name in _RANGE_PARAMS:
            values[name] = _number(name, given[-1], _RANGE_PARAMS[name])
        elif name in _CHOICE_PARAMS:
            values[name] = _choices(name, given, multiple=_CHOICE_PARAMS[name].multiple)
        elif name in FLAG_FILTERS:
            text = given[-1].lower()
            if text not in _TRUE | _FALSE:
                raise ApiError(f"{name}: must be true or false", status=422)
            values[name] = text in _TRUE
    return values


async def selected_rows(request: Request) -> Selected:
    """Row numbers of the nodules matching every filter of the request (the shared
    dependency of search, export and the map; rows cached per normalised filter set)."""
    state: AppState = request.app.state.lesiontrials
    key = normalised_key(parse_filters(request.query_params))
    rows = state.selection_cache.get(key)
    if rows is None:
        rows = compute_rows(state, dict(key))
        rows.setflags(write=False)
        state.selection_cache.put(key, rows)
    return Selected(rows, key)


def _openapi_parameters() -> list[dict[str, Any]]:
    """OpenAPI entries of the selection's query parameters."""
    params: list[dict[str, Any]] = []
    for choice in CHOICE_FILTERS:
        schema: dict[str, Any] = {"type": "string", "maxLength": MAX_LENGTH}
        if choice.multiple:
            schema = {"type": "array", "items": schema, "maxItems": MAX_VALUES}
        params.append({"name": choice.name, "in": "query", "required": False,
                       "description": choice.label + (" (repeatable)" if choice.multiple
                                                      else ""), "schema": schema})
    for spec in RANGE_FILTERS:
        for end in ("min", "max"):
            unit = f" ({spec.unit})" if spec.unit else ""
            params.append({"name": f"{spec.name}_{end}", "in": "query", "required": False,
                           "description": f"{spec.label}: {end}imum{unit}, inclusive",
                           "schema": {"type": "integer" if spec.integer else "number",
                                      "minimum": spec.limits[0], "maximum": spec.limits[1]}})
    for name, text in FLAG_FILTERS.items():
        params.append({"name": name, "in": "query", "required": False, "description": text,
                       "schema": {"type": "boolean", "default": False}})
    return params


def selection_openapi() -> dict[str, Any]:
    """``openapi_extra`` of a route that takes the selection (documents its parameters)."""
    return {"parameters": _openapi_parameters()}


def finite_bounds(values: np.ndarray) -> list[float] | None:
    """``[min, max]`` of the finite ``values``, ``None`` when there are none."""
    finite = values[np.isfinite(values)]
    if finite.size == 0:
        return None
    return [float(finite.min()), float(finite.max())]


def filter_list(state: AppState) -> list[dict[str, Any]]:
    """Every filter with its parameters and, from the index, its choices (with counts) or
    data bounds (and how many rows lack a value)."""
    index = state.index
    out: list[dict[str, Any]] = []
    for choice in CHOICE_FILTERS:
        values = index.array(choice.column)
        if choice.name == "label":
            text = np.where(np.isnan(values), "none", np.nan_to_num(values).astype(int).astype(str))
        else:
            text = np.asarray([str(v) for v in values], dtype=object)
            text = text[text != ""]
        names, counts = np.unique(text.astype(str), return_counts=True)
        out.append({"name": choice.name, "kind": "choice", "param": choice.name,
                    "label": choice.label, "column": choice.column, "multiple": choice.multiple,
                    "choices": [str(n) for n in names],
                    "counts": {str(n): int(c) for n, c in zip(names, counts, strict=True)}})
    for spec in RANGE_FILTERS:
        values = index.array(spec.column).astype(float)
        out.append({"name": spec.name, "kind": "range", "label": spec.label,
                    "column": spec.column, "unit": spec.unit, "integer": spec.integer,
                    "min_param": f"{spec.name}_min", "max_param": f"{spec.name}_max",
                    "limits": [spec.limits[0], spec.limits[1]],
                    "bounds": finite_bounds(values),
                    "missing": int((~np.isfinite(values)).sum()),
                    "characteristic": spec.name in LIDC_CHARACTERISTICS})
    for name, label in FLAG_FILTERS.items():
        out.append({"name": name, "kind": "flag", "param": name, "label": label})
    return out

