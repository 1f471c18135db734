"""``lesiontrials serve``: the web service and UI over a workspace."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer

from lesiontrials.cli.console import make_console
from lesiontrials.cli.options import DataRootOption, WorkspaceOption

console = make_console()



def make_app(*, workspace: Path | None, data_root: Path | None, no_real_pixels: bool,
             allowed_hosts: tuple[str, ...] | None = None) -> Any:
    """The FastAPI app for resolved settings (errors name the ``web`` extra);
    ``allowed_hosts`` None keeps the app's loopback default."""
    from lesiontrials.settings import load_settings

    try:
        from lesiontrials.apps import create_app
    except ImportError as error:  # fastapi missing
        raise typer.BadParameter(
            f"{error}; install the web extra: pip install 'lesiontrials[web]'") from error
    settings = load_settings(workspace=workspace, data_root=data_root)
    extra = {} if allowed_hosts is None else {"allowed_hosts": allowed_hosts}
    return create_app(settings.workspace, settings.resolved_data_root,
                      real_pixels=not no_real_pixels,
                      decoded_cache_gb=settings.decoded_cache_gb, **extra)


def allowed_host_names(bound: str, extra: list[str]) -> tuple[str, ...]:
    """The bound address (unless it is a wildcard address) + the loopback names + ``extra``."""
    from lesiontrials.apps.app import LOCAL_HOSTS

    names = [] if bound in ("0.0.0.0", "::", "") else [bound.strip("[]").lower()]
    for name in (*LOCAL_HOSTS, *extra):
        if name.lower() not in names:
            names.append(name.lower())
    return tuple(names)


def serve(
    workspace: WorkspaceOption = None,
    data_root: DataRootOption = None,
    host: Annotated[str, typer.Option(help="Address to bind (loopback by default).")] = (
        "127.0.0.1"),
    port: Annotated[int, typer.Option(min=1, max=65535, help="TCP port.")] = 8080,
    no_real_pixels: Annotated[bool, typer.Option(
        "--no-real-pixels", help="Refuse every endpoint that would send real CT pixels.")
    ] = False,
    allowed_host: Annotated[list[str] | None, typer.Option(
        "--allowed-host", help="Another host name clients may use to reach the service "
        "(repeatable; the bound address and localhost are always allowed). Requests "
        "naming any other Host get 400 (DNS-rebinding protection).")] = None,
) -> None:
    """Serve the JSON API (/api, docs at /docs) and the web UI (/) for a workspace."""
    try:
        import uvicorn
    except ImportError as error:
        raise typer.BadParameter(
            "uvicorn is missing; install the web extra: pip install 'lesiontrials[web]'"
        ) from error
    if any(name.strip() in ("", "*") or "*" in name for name in allowed_host or []):
        raise typer.BadParameter("give exact host names (no '*')", param_hint="--allowed-host")
    hosts = allowed_host_names(host, list(allowed_host or []))
    app = make_app(workspace=workspace, data_root=data_root, no_real_pixels=no_real_pixels,
                   allowed_hosts=hosts)
    if host not in ("127.0.0.1", "localhost", "::1"):
        console.print(f"[yellow]binding {host}: the service is reachable beyond this machine; "
                      f"it answers requests naming {', '.join(hosts)} (add names with "
                      "--allowed-host)")
    pixels = "off" if no_real_pixels else "on"
    console.print(f"serving on http://{host}:{port}/ (real pixels {pixels}); Ctrl-C stops")
    uvicorn.run(app, host=host, port=port, log_level="warning")
