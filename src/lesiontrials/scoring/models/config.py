"""Which models to score: ``--model NAME`` (+ ``--model-path``, ``-o key=value``) or a
models YAML, both turned into :class:`ModelConfig` records.

A models YAML lists the models of a study::

    models:
      - name: medgemma-4b          # the name results are stored under
        adapter: medgemma          # an adapter of `lesiontrials models`
        path: ~/models/medgemma-4b-it
        options: {max_new_tokens: 64}
      - name: lingshu-7b
        adapter: lingshu
        path: /data/models/Lingshu-7B
      - name: threshold
        adapter: threshold

Every field is checked (unknown keys refused, options validated against the adapter's
typed options) before anything is scored.
"""

from __future__ import annotations

from collections.abc import Sequence
from functools import partial
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from lesiontrials.errors import ConfigError
from lesiontrials.scoring.models.options import Profile, adapter_info, validate_options

#: a model name becomes a results folder: letters, digits, '.', '_', '-'
NAME_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9._-]{0,79}$"


class ModelConfig(BaseModel):
    """One model to score: its result name, adapter, local path, options, profile."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str = Field(pattern=NAME_PATTERN)
    adapter: str
    path: str | None = None
    options: dict[str, Any] = Field(default_factory=dict)
    profile: Profile | None = None

    def adapter_options(self) -> dict[str, Any]:
        """The validated options passed to the adapter's factory (path and profile folded
        in; ``name`` added for adapters that can be renamed)."""
        info = adapter_info(self.adapter)
        raw = dict(self.options)
        for key, value in (("model_path", self.path), ("profile", self.profile)):
            if value is None:
                continue
            if key in raw and raw[key] != value:
                raise ConfigError(f"model {self.name!r}: {key} given twice ({raw[key]!r} and "
                                  f"{value!r}). Fix: give it once")
            raw[key] = str(Path(value).expanduser()) if key == "model_path" else value
        options = validate_options(self.adapter, raw)
        if info.kind == "baseline":
            if self.name != self.adapter:
                raise ConfigError(f"baseline {self.adapter!r} cannot be renamed to "
                                  f"{self.name!r}. Fix: use name: {self.adapter}")
            return options
        if info.kind == "openai_endpoint" and self.name == self.adapter:
            return options  # results go under the served model's id, as before
        return {"name": self.name, **options}


def from_cli(names: Sequence[str], *, model_path: Path | None,
             options: dict[str, str]) -> list[ModelConfig]:
    """Configs for ``--model NAME`` (repeatable) with one ``--model-path`` and ``-o``
    options; a path or options apply to a single model only."""
    if (model_path is not None or options) and len(names) != 1:
        raise ConfigError("--model-path and -o apply to one model. Fix: give a single "
                          "--model, or describe several models in a models YAML (--models)")
    return [_config({"name": name, "adapter": name,
                     "path": None if model_path is None else str(model_path),
                     "options": dict(options)}, where="--model") for name in names]


def load_models_file(path: Path) -> list[ModelConfig]:
    """Read and validate a models YAML (``models: [...]``)."""
    import yaml

    if not path.is_file():
        raise ConfigError(f"{path}: models file not found. Fix: pass an existing YAML file")
    try:
        document = yaml.safe_load(path.read_text(encoding="utf-8"))
    except yaml.YAMLError as exc:
        raise ConfigError(f"{path}: not valid YAML ({exc}). Fix: correct the syntax") from exc
    entries = document.get("models") if isinstance(document, dict) else None
    if not isinstance(entries, list) or not entries:
        raise ConfigError(f"{path}: expected a non-empty list under 'models:'. Fix: see "
                          "docs/models.md for the format")
    configs = [_config(entry, where=f"{path}: models[{n}]") for n, entry in enumerate(entries)]
    names = [c.name for c in configs]
    duplicates = sorted({n for n in names if names.count(n) > 1})
    if duplicates:
        raise ConfigError(f"{path}: model name(s) {duplicates} listed twice. Fix: give each "
                          "model its own name")
    return configs


def _config(entry: Any, *, where: str) -> ModelConfig:
    if isinstance(entry, dict) and "adapter" not in entry and "name" in entry:
        entry = {**entry, "adapter": entry["name"]}
    try:
        config = ModelConfig.model_validate(entry)
    except ValidationError as exc:
        problems = "; ".join(f"{'.'.join(map(str, e['loc'])) or 'entry'}: {e['msg']}"
                             for e in exc.errors())
        raise ConfigError(f"{where}: {problems}. Fix: fields are name, adapter, path, "
                          "options, profile") from exc
    config.adapter_options()  # validate now, before any scoring starts
    return config


def model_factory(config: ModelConfig) -> partial[Any]:
    """A picklable factory building ``config``'s model (the registry's adapter with the
    validated options bound), for the runner's workers."""
    from lesiontrials.scoring.models.registry import resolve

    return partial(resolve(config.adapter), **config.adapter_options())
