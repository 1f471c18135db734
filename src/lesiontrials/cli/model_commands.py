"""``lesiontrials serve-model NAME``: any model adapter behind the OpenAI chat protocol."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console

from lesiontrials.errors import ConfigError

console = Console(stderr=True)


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
    from lesiontrials.evaluate.contract import Model
    from lesiontrials.evaluate.models import registry
    from lesiontrials.evaluate.models.external import external_models

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
    from lesiontrials.evaluate.models.serve import LOOPBACK, serve

    options: dict[str, Any] = parse_options(option)
    if model_path is not None:
        options["model_path"] = model_path
    if text_config is not None:
        options["text_config"] = text_config
    model = build_model(name, options)
    if host not in LOOPBACK:
        console.print(f"[yellow]warning:[/] binding {host}: anyone who can reach this address "
                      "can use the model (there is no authentication)")
    console.print(f"serving [bold]{served_name or model.name}[/] ({model.version}) at "
                  f"http://{host}:{port}/v1")
    serve(model, host=host, port=port, served_name=served_name, log_level=log_level)
