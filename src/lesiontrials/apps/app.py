"""The FastAPI application: JSON API under ``/api``, the static UI at ``/``."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

from fastapi import FastAPI, Request, Response
from fastapi.exceptions import RequestValidationError
from fastapi.responses import FileResponse, HTMLResponse, JSONResponse
from fastapi.staticfiles import StaticFiles
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.middleware.trustedhost import TrustedHostMiddleware
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from lesiontrials.apps.state import ApiError, AppState, raw_key
from lesiontrials.paths import DataRoot, Workspace

STATIC_DIR = Path(__file__).parent / "static"
LOCAL_HOSTS = ("localhost", "127.0.0.1", "::1", "[::1]")
"""Host names a request may name by default: the loopback ones."""
SECURITY_HEADERS = {
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "SAMEORIGIN",
    "Referrer-Policy": "no-referrer",
    "Content-Security-Policy": "default-src 'self'; img-src 'self' data: blob:; "
                               "style-src 'self'; script-src 'self'; frame-src 'self'",
}


class SecurityHeaders:
    """Pure ASGI middleware adding :data:`SECURITY_HEADERS` to every HTTP response
    (cheaper than ``BaseHTTPMiddleware``)."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app
        self.extra = [(k.lower().encode(), v.encode()) for k, v in SECURITY_HEADERS.items()]

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                present = {k.lower() for k, _ in message.get("headers", [])}
                extra = [(k, v) for k, v in self.extra if k not in present]
                message = {**message, "headers": [*message.get("headers", []), *extra]}
            await send(message)

        await self.app(scope, receive, send_with_headers)


class CachedGets:
    """Pure ASGI middleware answering a GET whose path and query parameters an endpoint
    stored with :meth:`AppState.remember` (search, filters, nodule detail, similar, map):
    the stored JSON bytes go out without routing, parameter validation or the endpoint."""

    def __init__(self, app: ASGIApp, state: AppState) -> None:
        self.app = app
        self.state = state

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and scope["method"] == "GET":
            body = self.state.raw_cache.get(raw_key(scope["path"], scope["query_string"]))
            if body is not None:
                await send({"type": "http.response.start", "status": 200, "headers": [
                    (b"content-type", b"application/json"),
                    (b"content-length", str(len(body)).encode()), (b"x-cache", b"hit")]})
                await send({"type": "http.response.body", "body": body})
                return
        await self.app(scope, receive, send)


def _error(status: int, message: str) -> JSONResponse:
    return JSONResponse({"error": message}, status_code=status)


def _validation_message(error: RequestValidationError) -> str:
    parts = []
    for item in error.errors():
        where = ".".join(str(p) for p in item.get("loc", ()) if p not in ("query", "body"))
        parts.append(f"{where}: {item.get('msg', 'invalid')}" if where else item.get("msg", ""))
    return "; ".join(parts) or "invalid request"


def _install_errors(app: FastAPI) -> None:
    @app.exception_handler(ApiError)
    async def api_error(_: Request, error: ApiError) -> JSONResponse:
        return _error(error.status, error.message)

    @app.exception_handler(RequestValidationError)
    async def invalid(_: Request, error: RequestValidationError) -> JSONResponse:
        return _error(422, _validation_message(error))

    @app.exception_handler(StarletteHTTPException)
    async def http_error(_: Request, error: StarletteHTTPException) -> JSONResponse:
        return _error(error.status_code, str(error.detail))

    @app.exception_handler(Exception)
    async def unexpected(_: Request, error: Exception) -> JSONResponse:
        return _error(500, f"internal error: {type(error).__name__}")


def create_app(
    workspace: str | Path,
    data_root: str | Path,
    *,
    real_pixels: bool = True,
    allowed_origins: tuple[str, ...] = (),
    allowed_hosts: tuple[str, ...] = LOCAL_HOSTS,
    decoded_cache_gb: float = 8.0,
) -> FastAPI:
    """Build the service for one workspace and data root.

    ``real_pixels=False`` refuses every endpoint that would send real CT pixels; images
    drawn from label maps or by synthetic renderers still work. ``allowed_origins`` lists
    exact origins for CORS (none by default; ``*`` is refused). ``allowed_hosts`` lists
    the host names a request's ``Host`` header may carry (the loopback names by default):
    any other answers 400, so a web page cannot reach the service by DNS rebinding.
    ``decoded_cache_gb``: volumes are read through the workspace's decoded cache (shared
    with insert, render and slices; 0 turns it off).
    """
    if "*" in allowed_origins:
        raise ValueError("wildcard CORS is not allowed; list exact origins")
    if not allowed_hosts or "*" in allowed_hosts:
        raise ValueError("list the host names the service answers to (no '*')")
    from lesiontrials.apps import routes_export, routes_map, routes_nodules, routes_results
    from lesiontrials.io.decoded import decoded_cache_for

    state = AppState(Workspace(Path(workspace)), DataRoot(Path(data_root)),
                     real_pixels=real_pixels,
                     decoded_cache=decoded_cache_for(Path(workspace), max_gb=decoded_cache_gb))

    @contextlib.asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        from lesiontrials.apps.heap import fix_mmap_threshold

        fix_mmap_threshold()  # freed arrays go back to the system: RSS stays bounded
        routes_nodules.warm(state)  # before the first request, not during it
        yield

    app = FastAPI(title="lesiontrials", version="1", lifespan=lifespan,
                  description="Explore nodules, trials, cases and results.",
                  docs_url=None, redoc_url=None)  # served offline below
    app.state.lesiontrials = state
    app.add_middleware(CachedGets, state=state)  # innermost: CORS and headers still apply
    if allowed_origins:
        from fastapi.middleware.cors import CORSMiddleware

        app.add_middleware(CORSMiddleware, allow_origins=list(allowed_origins),
                           allow_methods=["GET", "POST"], allow_headers=["Content-Type"])

    app.add_middleware(SecurityHeaders)
    app.add_middleware(TrustedHostMiddleware, allowed_hosts=list(allowed_hosts),
                       www_redirect=False)  # outermost: a foreign Host gets nothing else
    _install_errors(app)
    # map and export first: /api/nodules/map/colours must not read as a nodule's detail
    app.include_router(routes_map.router)
    app.include_router(routes_export.router)
    app.include_router(routes_nodules.router)
    app.include_router(routes_results.router)

    @app.get("/api/health", tags=["service"], summary="Liveness and settings")
    async def health() -> dict[str, Any]:
        state: AppState = app.state.lesiontrials
        return {"status": "ok", "real_pixels": state.real_pixels}

    @app.get("/favicon.ico", include_in_schema=False)
    def favicon() -> Response:
        return Response(status_code=204)

    @app.get("/", include_in_schema=False)
    def index_page() -> FileResponse:
        return FileResponse(STATIC_DIR / "index.html", media_type="text/html")

    _install_docs(app)
    app.mount("/static", StaticFiles(directory=STATIC_DIR), name="static")
    return app


def swagger_assets_dir() -> Path | None:
    """The Swagger UI files shipped by the ``fastapi-offline`` package (web extra), or
    ``None`` when it is not installed."""
    try:
        import fastapi_offline
    except ImportError:
        return None
    directory = Path(fastapi_offline.__file__).parent / "static"
    return directory if (directory / "swagger-ui-bundle.js").is_file() else None


def docs_page(*, swagger: bool) -> str:
    """The API docs page: Swagger UI from local files (``swagger``), else the plain
    offline listing ``docs.js`` draws from ``/openapi.json``. No inline script and no
    CDN, so the page works under the app's Content-Security-Policy and offline."""
    assets = ('<link rel="stylesheet" href="/docs-assets/swagger-ui.css">\n'
              '<script src="/docs-assets/swagger-ui-bundle.js"></script>\n') if swagger else ""
    return ("<!doctype html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n"
            "<title>lesiontrials API</title>\n"
            '<link rel="stylesheet" href="/static/docs.css">\n'
            f"{assets}"
            '<script src="/static/docs.js" defer></script>\n</head>\n<body>\n'
            '<header><strong>lesiontrials API</strong> <a href="/">back to the app</a> '
            '<a href="/openapi.json">openapi.json</a></header>\n'
            '<main id="swagger-ui"></main>\n</body>\n</html>\n')


def _install_docs(app: FastAPI) -> None:
    assets = swagger_assets_dir()
    page = docs_page(swagger=assets is not None)
    if assets is not None:
        app.mount("/docs-assets", StaticFiles(directory=assets), name="docs-assets")

    @app.get("/docs", include_in_schema=False)
    def docs() -> HTMLResponse:
        return HTMLResponse(page)
