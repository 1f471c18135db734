"""Serve any model adapter behind the OpenAI chat-completions protocol.

``POST /v1/chat/completions`` takes one user turn with ``image_url`` parts (inline data URLs,
ordered ``z-1, z, z+1``) and the prompt text of :mod:`~lesiontrials.scoring.models.messages`;
the server rebuilds the :class:`~lesiontrials.slicing.contract.Item` (task, condition, uid
from the request's ``metadata`` when present, else the task is inferred from the options),
asks the adapter and answers with its raw text (or the option), adding the adapter's option,
scores and parse status in the choice's ``lesiontrials`` field. ``GET /v1/models`` lists the
one served model. Binds loopback unless told otherwise.

Example:
    >>> from lesiontrials.scoring.models.serve import serve  # doctest: +SKIP
    >>> serve(model, host="127.0.0.1", port=8000)  # doctest: +SKIP
"""

from __future__ import annotations

import contextlib
import hashlib
import threading
import time
import uuid
from collections.abc import Iterator
from typing import Any, Final, Literal

import numpy as np
from pydantic import BaseModel, ConfigDict, Field

from lesiontrials.errors import LesionTrialsError
from lesiontrials.scoring.models import _deps
from lesiontrials.scoring.models.messages import (
    decode_data_url,
    infer_task,
    labels_to_options,
    parse_prompt_text,
    split_images,
)
from lesiontrials.scoring.models.openai_client import EXTENSION
from lesiontrials.slicing.contract import CONDITIONS, PROFILES, TASK_OPTIONS, Item, Model

LOOPBACK: Final = ("127.0.0.1", "localhost", "::1")


class _ImageURL(BaseModel):
    url: str


class _Part(BaseModel):
    model_config = ConfigDict(extra="ignore")
    type: str
    text: str | None = None
    image_url: _ImageURL | None = None


class _Message(BaseModel):
    model_config = ConfigDict(extra="ignore")
    role: Literal["system", "user", "assistant", "tool", "developer"]
    content: str | list[_Part] | None = None


class ChatRequest(BaseModel):
    """The subset of the chat-completions request this server reads (extra fields ignored)."""

    model_config = ConfigDict(extra="ignore")
    model: str
    messages: list[_Message] = Field(min_length=1)
    metadata: dict[str, str] | None = None
    stream: bool = False
    n: int = 1


class RequestError(LesionTrialsError):
    """A request that cannot be mapped to an item (answered with HTTP 400)."""


def request_to_item(request: ChatRequest, *, default_profile: str = "lung") -> Item:
    """Rebuild the item a client sent (see :func:`openai_client.request_body`).

    Without metadata the task is inferred from the options, the condition is ``plain`` and
    the profile is ``default_profile`` (the served model's).
    """
    users = [m for m in request.messages if m.role == "user"]
    if not users:
        raise RequestError("the request has no user message")
    content = users[-1].content
    parts = [_Part(type="text", text=content)] if isinstance(content, str) else content or []
    text = "\n".join(p.text for p in parts if p.type == "text" and p.text)
    images = [decode_data_url(p.image_url.url) for p in parts
              if p.type == "image_url" and p.image_url is not None]
    centre, context = split_images(images)
    question, labels = parse_prompt_text(text)
    meta = request.metadata or {}
    task = meta.get("task") or infer_task(labels_to_options(labels, None))
    if task not in TASK_OPTIONS:
        raise RequestError(f"unknown task {task!r} for the options {labels}; send "
                           "metadata.task (presence, lobe or size)")
    options = labels_to_options(labels, task)
    condition = meta.get("condition", "plain")
    profile = meta.get("profile") or default_profile
    if condition not in CONDITIONS or profile not in PROFILES:
        raise RequestError(f"unknown condition {condition!r} or profile {profile!r}")
    digest = hashlib.sha256(np.ascontiguousarray(centre).tobytes()).hexdigest()[:16]
    uid = meta.get("slice_uid") or digest
    try:
        spacing = float(meta.get("pixel_spacing_mm", "nan"))
    except ValueError as exc:
        raise RequestError("metadata.pixel_spacing_mm is not a number") from exc
    return Item(slice_uid=uid, task=task, condition=condition, profile=profile,
                question=question, options=options, image=centre, context=context,
                pixel_spacing_mm=spacing)


def _error(status: int, message: str, kind: str = "invalid_request_error") -> Any:
    from fastapi.responses import JSONResponse

    return JSONResponse(status_code=status, content={
        "error": {"message": message, "type": kind, "param": None, "code": None}})


def create_app(model: Model, *, served_name: str | None = None) -> Any:
    """A FastAPI app serving ``model`` as ``served_name`` (default: ``model.name``)."""
    _deps.require("fastapi", extra="serve", purpose="serve-model")
    from fastapi import FastAPI

    name = served_name or model.name
    lock = threading.Lock()  # adapters are not assumed thread-safe
    app = FastAPI(title=f"lesiontrials serve-model: {name}")

    @app.get("/health")
    def health() -> dict[str, str]:
        return {"status": "ok"}

    @app.get("/v1/models")
    def models() -> dict[str, Any]:
        return {"object": "list", "data": [{"id": name, "object": "model", "created": 0,
                                            "owned_by": "lesiontrials",
                                            "version": model.version}]}

    @app.post("/v1/chat/completions")
    def chat_completions(request: ChatRequest) -> Any:
        if request.model != name:
            return _error(404, f"model {request.model!r} is not served here; use {name!r}",
                          "model_not_found")
        if request.stream or request.n != 1:
            return _error(400, "only stream=false and n=1 are supported")
        try:
            item = request_to_item(request, default_profile=getattr(model, "profile", "lung"))
        except LesionTrialsError as exc:
            return _error(400, str(exc))
        with lock:
            answer = model.answer([item])[0]
        content = answer.raw_text or answer.option
        return {
            "id": f"chatcmpl-{uuid.uuid4().hex}", "object": "chat.completion",
            "created": int(time.time()), "model": name,
            "choices": [{"index": 0, "finish_reason": "stop",
                         "message": {"role": "assistant", "content": content},
                         EXTENSION: {"option": answer.option, "scores": answer.scores,
                                     "parse_status": answer.parse_status,
                                     "slice_uid": item.slice_uid}}],
            "usage": {"prompt_tokens": 0, "completion_tokens": 0, "total_tokens": 0},
        }

    return app


def _server(model: Model, *, host: str, port: int, served_name: str | None,
            log_level: str) -> Any:
    uvicorn = _deps.require("uvicorn", extra="serve", purpose="serve-model")
    config = uvicorn.Config(create_app(model, served_name=served_name), host=host, port=port,
                            log_level=log_level, access_log=False)
    return uvicorn.Server(config)


def serve(model: Model, *, host: str = "127.0.0.1", port: int = 8000,
          served_name: str | None = None, log_level: str = "info") -> None:
    """Serve ``model`` until interrupted."""
    _server(model, host=host, port=port, served_name=served_name, log_level=log_level).run()


@contextlib.contextmanager
def serve_in_background(model: Model, *, host: str = "127.0.0.1", port: int = 0,
                        served_name: str | None = None,
                        startup_timeout_s: float = 20.0) -> Iterator[str]:
    """Run the server in a thread; yields its ``http://host:port/v1`` base URL.

    ``port=0`` takes a free port. The server stops when the block exits.
    """
    server = _server(model, host=host, port=port, served_name=served_name,
                     log_level="warning")
    thread = threading.Thread(target=server.run, name="lesiontrials-serve", daemon=True)
    thread.start()
    deadline = time.monotonic() + startup_timeout_s
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            server.should_exit = True
            raise RuntimeError(f"serve-model did not start on {host}:{port}")
        time.sleep(0.02)
    bound = server.servers[0].sockets[0].getsockname()[1]
    try:
        yield f"http://{host}:{bound}/v1"
    finally:
        server.should_exit = True
        thread.join(timeout=10)
