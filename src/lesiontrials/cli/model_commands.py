"""``lesiontrials models``, ``serve-model NAME``, ``convert-llava-med`` and the model
options shared by ``score`` and ``run`` (``--model``, ``--model-path``, ``-o``, ``--models``)."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from lesiontrials.cli.console import make_console, model_label
from lesiontrials.errors import ConfigError

if TYPE_CHECKING:
    from lesiontrials.scoring.models.config import ModelConfig

console = make_console(stderr=True)

ModelNamesOption = Annotated[list[str] | None, typer.Option(
    "--model", "-m", help="Model adapter to score (repeatable); see `lesiontrials models`.")]
ModelPathOption = Annotated[Path | None, typer.Option(
    "--model-path", help="Local model folder for a single --model (weights are never "
                         "downloaded).")]
ModelOptionsOption = Annotated[list[str] | None, typer.Option(
    "--option", "-o", help="Adapter option KEY=VALUE for a single --model (repeatable), "
                           "e.g. -o batch_size=4 -o dtype=bfloat16.")]
ModelsFileOption = Annotated[Path | None, typer.Option(
    "--models", help="Models YAML (name, adapter, path, options, profile per model).")]


def model_configs(names: list[str] | None, *, model_path: Path | None,
                  options: list[str] | None, models_file: Path | None,
                  default: tuple[str, ...] = ()) -> list[ModelConfig]:
    """The models asked for on the command line, validated (or ``default`` when none)."""
    from lesiontrials.scoring.models.config import from_cli, load_models_file

    configs = load_models_file(models_file) if models_file is not None else []
    if names or model_path is not None or options:
        if not names:
            raise ConfigError("--model-path / -o need a --model NAME. Fix: add --model")
        configs += from_cli(names, model_path=model_path, options=parse_options(options))
    if not configs:
        configs = from_cli(list(default), model_path=None, options={})
    seen = [c.name for c in configs]
    twice = sorted({n for n in seen if seen.count(n) > 1})
    if twice:
        raise ConfigError(f"model(s) {twice} asked for twice. Fix: name each model once")
    return configs


def parse_options(pairs: list[str] | None) -> dict[str, str]:
    """``['key=value', ...]`` → ``{key: value}``."""
    options: dict[str, str] = {}
    for pair in pairs or []:
        key, sep, value = pair.partition("=")
        if not sep or not key.strip():
            raise ConfigError(f"--option {pair!r} is not KEY=VALUE. Fix: e.g. --option "
                              "batch_size=8")
        options[key.strip().replace("-", "_")] = value.strip()
    return options


def build_model(name: str, options: dict[str, Any]) -> Any:
    """The adapter called ``name``: the model registry first, then the external models."""
    from lesiontrials.scoring.models import registry
    from lesiontrials.scoring.models.external import external_models
    from lesiontrials.slicing.contract import Model

    external = external_models()
    if name not in registry.MODELS and name not in external:
        known = ", ".join(sorted({*registry.MODELS, *external}))
        raise ConfigError(f"unknown model {name!r}. Fix: use one of {known}")
    try:
        if name in registry.MODELS:
            return registry.load_model(name, **options)
        model = external[name](**options)
    except TypeError as exc:  # an option this adapter does not take
        raise ConfigError(f"model {name!r}: {exc}. Fix: check the --option names") from exc
    if not isinstance(model, Model):
        raise ConfigError(f"the factory of {name!r} returned {type(model).__name__}, not a Model")
    return model


def serve_model(
    name: Annotated[str, typer.Argument(help="Model name (a baseline, biomedclip, medgemma, …).")],
    host: Annotated[str, typer.Option(help="Address to bind; loopback by default.")]
    = "127.0.0.1",
    port: Annotated[int, typer.Option(help="TCP port.")] = 8000,
    model_path: Annotated[Path | None, typer.Option(
        "--model-path", help="Local model folder (weights are never downloaded).")] = None,
    text_config: Annotated[Path | None, typer.Option(
        "--text-config", help="CLIP only: local folder of the HF text tower's config.")] = None,
    served_name: Annotated[str | None, typer.Option(
        help="Model id clients must ask for (default: NAME).")] = None,
    option: Annotated[list[str] | None, typer.Option(
        "--option", "-o", help="Adapter option KEY=VALUE (repeatable), e.g. device=cuda.")]
    = None,
    log_level: Annotated[str, typer.Option(help="uvicorn log level.")] = "info",
) -> None:
    """Serve a model at http://HOST:PORT/v1 (POST /v1/chat/completions, GET /v1/models)."""
    from lesiontrials.scoring.models.serve import LOOPBACK, serve

    options: dict[str, Any] = parse_options(option)
    if model_path is not None:
        options["model_path"] = model_path
    if text_config is not None:
        options["text_config"] = text_config
    model = build_model(name, options)
    if host not in LOOPBACK:
        console.print(f"[yellow]warning:[/] binding {host}: anyone who can reach this address "
                      "can use the model (there is no authentication)")
    console.print(f"serving [bold]{served_name or model.name}[/] "
                  f"({model_label(model.name, model.version)}) at "
                  f"http://{host}:{port}/v1")
    serve(model, host=host, port=port, served_name=served_name, log_level=log_level)


def models() -> None:
    """List the model adapters, what each needs (extra, weights layout, env var) and
    whether it is ready here."""
    from rich.table import Table

    from lesiontrials.scoring.models.readiness import adapter_status

    table = Table(title="model adapters")
    for column in ("name", "kind", "extra", "location (env var)", "layout", "ready here"):
        table.add_column(column, overflow="fold")
    for status in adapter_status():
        info = status.info
        table.add_row(info.name, info.kind, info.extra or "-", info.env or "-",
                      info.layout or info.note, status.summary)
    make_console().print(table)


def convert_llava_med(
    source: Annotated[Path, typer.Argument(help="The official LLaVA-Med v1.5 folder "
                                                "(model_type llava_mistral).")],
    out: Annotated[Path, typer.Argument(help="Output folder (HF llava format).")],
    vision_tower: Annotated[Path | None, typer.Option(
        help="Local CLIP ViT-L/14-336 folder, when the checkpoint lacks the vision "
             "tower's weights.")] = None,
) -> None:
    """Convert the official LLaVA-Med v1.5 checkpoint into a transformers llava model."""
    from lesiontrials.scoring.models.llava_med import convert

    written = convert(source, out, vision_tower=vision_tower)
    console.print(f"[green]converted[/] → {written}; score it with `lesiontrials score "
                  f"--model llava-med --model-path {written}`")
