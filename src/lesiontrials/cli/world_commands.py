"""``lesiontrials world build``: the embedded default world."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

app = typer.Typer(no_args_is_help=True, help="Build the embedded default world.")


@app.command()
def build(
    out: Annotated[Path | None, typer.Option("--out", "-o", help="Data root to write.")] = None,
    size: Annotated[str, typer.Option(help="demo or full.")] = "demo",
    seed: Annotated[int | None, typer.Option(help="World seed.")] = None,
) -> None:
    """Build the world (LIDC donors, real CT hosts, thorax phantoms) in the release layout."""
    from lesiontrials.world.build import build_world_cli

    build_world_cli(out=out, size=size, seed=seed)
