"""``lesiontrials serve``: the web service and UI over a workspace."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer

from lesiontrials.cli.console import make_console
from lesiontrials.cli.options import DataRootOption, WorkspaceOption

console = make_console()



def make_app(*, workspace: Path | None, data_root: Path | None, no_real_pixels: bool) -> Any:
    """The FastAPI app for resolved settings (errors name the ``web`` extra)."""
    from lesiontrials.settings import load_settings

    try:
        from lesiontrials.apps import create_app
    except ImportError as error:  # fastapi missing
        raise typer.BadParameter(
            f"{error}; install the web extra: pip install 'lesiontrials[web]'") from error
    settings = load_settings(workspace=workspace, data_root=data_root)
    return create_app(settings.workspace, settings.resolved_data_root,
                      real_pixels=not no_real_pixels)


def serve(
    workspace: WorkspaceOption = None,
    data_root: DataRootOption = None,
    host: Annotated[str, typer.Option(help="Address to bind (loopback by default).")] = (
        "127.0.0.1"),
    port: Annotated[int, typer.Option(min=1, max=65535, help="TCP port.")] = 8080,
    no_real_pixels: Annotated[bool, typer.Option(
        "--no-real-pixels", help="Refuse every endpoint that would send real CT pixels.")
    ] = False,
) -> None:
    """Serve the JSON API (/api, docs at /docs) and the web UI (/) for a workspace."""
    try:
        import uvicorn
    except ImportError as error:
        raise typer.BadParameter(
            "uvicorn is missing; install the web extra: pip install 'lesiontrials[web]'"
        ) from error
    app = make_app(workspace=workspace, data_root=data_root, no_real_pixels=no_real_pixels)
    if host not in ("127.0.0.1", "localhost", "::1"):
        console.print(f"[yellow]binding {host}: the service is reachable beyond this machine")
    pixels = "off" if no_real_pixels else "on"
    console.print(f"serving on http://{host}:{port}/ (real pixels {pixels}); Ctrl-C stops")
    uvicorn.run(app, host=host, port=port, log_level="warning")
