"""Any OpenAI-compatible chat-completions endpoint (vLLM, SGLang, ``lesiontrials serve-model``).

Each item is one ``POST {base_url}/chat/completions`` with the prompt text and the images
inline as base64 PNG data URLs (never remote URLs), temperature 0 and a fixed seed. Requests
run concurrently (bounded), time out, and are retried with exponential backoff on network
errors, 429 and 5xx; other errors stop the run with a clear message, never a made-up answer.

Item identity (slice uid, task, condition, profile) travels in the request's ``metadata``;
a ``lesiontrials serve-model`` server also returns its adapter's option and scores in each
choice's ``lesiontrials`` field, which this client uses when ``trust_server_answer`` is set.
Other servers' replies are parsed from the text.

Example:
    >>> model = OpenAIChatModel(base_url="http://127.0.0.1:8000/v1",  # doctest: +SKIP
    ...                         model="google/medgemma-4b-it")
"""

from __future__ import annotations

import hashlib
import json
import math
import os
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import replace
from typing import Any, Final

from lesiontrials.errors import ConfigError, LesionTrialsError
from lesiontrials.scoring.models import _deps
from lesiontrials.scoring.models.messages import (
    Parser,
    answer_from_text,
    default_parser,
    item_images,
    option_label,
    png_data_url,
    prompt_text,
)
from lesiontrials.slicing.contract import Answer, Item, ModelCard

BASE_URL_SETTING: Final = "LESIONTRIALS_OPENAI_BASE_URL"
MODEL_SETTING: Final = "LESIONTRIALS_OPENAI_MODEL"
API_KEY_SETTING: Final = "LESIONTRIALS_OPENAI_API_KEY"
EXTENSION: Final = "lesiontrials"  # per-choice field added by `lesiontrials serve-model`
TOP_LOGPROBS: Final = 20  # alternatives asked for the first answer token
_RETRY_STATUS: Final = frozenset({408, 409, 425, 429, 500, 502, 503, 504})


class EndpointError(LesionTrialsError):
    """The endpoint failed or answered something that is not a chat completion."""


def request_body(item: Item, *, model: str, with_context: bool, max_tokens: int, seed: int,
                 system_prompt: str | None = None, send_metadata: bool = True,
                 logprobs: bool = False) -> dict[str, Any]:
    """The chat-completions request for one item (JSON-ready)."""
    images = item_images(item, with_context=with_context)
    content: list[dict[str, Any]] = [
        {"type": "image_url", "image_url": {"url": png_data_url(image)}} for image in images]
    content.append({"type": "text", "text": prompt_text(item, n_images=len(images))})
    messages: list[dict[str, Any]] = []
    if system_prompt:
        messages.append({"role": "system", "content": system_prompt})
    messages.append({"role": "user", "content": content})
    body: dict[str, Any] = {"model": model, "messages": messages, "temperature": 0,
                            "max_tokens": max_tokens, "seed": seed, "n": 1, "stream": False}
    if logprobs:  # the first answer token's alternatives give option scores
        body["logprobs"] = True
        body["top_logprobs"] = TOP_LOGPROBS
    if send_metadata:  # OpenAI metadata values are strings
        body["metadata"] = {"slice_uid": item.slice_uid, "task": item.task,
                            "condition": item.condition, "profile": item.profile}
        if math.isfinite(item.pixel_spacing_mm):
            body["metadata"]["pixel_spacing_mm"] = repr(float(item.pixel_spacing_mm))
    return body


def option_scores_from_logprobs(choice: dict[str, Any], options: tuple[str, ...]
                                ) -> dict[str, float] | None:
    """Option probabilities from the first generated token's ``top_logprobs``.

    A token counts for an option when, stripped and lower-cased, it is a non-empty prefix
    of that option's label and of no other option's label; the probabilities of an
    option's tokens are summed and normalised over the options. ``None`` when the server
    gave no logprobs or some option has no token of its own among them (e.g. lobes,
    whose labels share their first word): no scores rather than guessed ones.
    """
    content = (choice.get("logprobs") or {}).get("content") or []
    if not content or not isinstance(content[0], dict):
        return None
    labels = {o: option_label(o).lower() for o in options}
    mass = dict.fromkeys(options, 0.0)
    for entry in content[0].get("top_logprobs") or []:
        token = str(entry.get("token", "")).strip().lower()
        owners = [o for o, label in labels.items() if token and label.startswith(token)]
        if len(owners) == 1:
            mass[owners[0]] += math.exp(float(entry["logprob"]))
    if min(mass.values()) <= 0.0:
        return None
    total = sum(mass.values())
    return {o: v / total for o, v in mass.items()}


def _reply_text(choice: dict[str, Any]) -> str:
    content = (choice.get("message") or {}).get("content")
    if isinstance(content, list):  # some servers answer with content parts
        content = "".join(p.get("text", "") for p in content if isinstance(p, dict))
    if not isinstance(content, str):
        raise EndpointError(f"the endpoint's reply has no text content: {choice!r:.200}")
    return content.strip()


class OpenAIChatModel:
    """Answers from an OpenAI-compatible chat-completions endpoint; option scores from the
    first answer token's logprobs where the server gives them (``logprobs``).

    Args:
        base_url: API root, e.g. ``http://127.0.0.1:8000/v1`` (or ``LESIONTRIALS_OPENAI_BASE_URL``).
        model: the served model id (or ``LESIONTRIALS_OPENAI_MODEL``).
        name: model name recorded with the results (defaults to ``model``).
        api_key: bearer token (or ``LESIONTRIALS_OPENAI_API_KEY`` / ``OPENAI_API_KEY``).
        use_context: send ``z-1, z, z+1`` instead of the centre slice only (match the
            served model's ``uses_context``).
        profile: the image encoding the served model reads (``'lung'`` or ``'medgemma_rgb'``).
        concurrency: requests in flight at once.
        timeout_s: per-request timeout; max_retries / backoff_s: retry policy.
        trust_server_answer: use the option/scores a lesiontrials server returns.
        parser: ``(task, text) -> (option, status)``; defaults to the project's parser.
        transport: an ``httpx`` transport (tests).
    """

    def __init__(self, *, base_url: str | None = None, model: str | None = None,
                 name: str | None = None, api_key: str | None = None,
                 use_context: bool = False,
                 profile: str = "lung",
                 max_tokens: int = 32, seed: int = 0, system_prompt: str | None = None,
                 concurrency: int = 4, timeout_s: float = 120.0, max_retries: int = 4,
                 backoff_s: float = 1.0, send_metadata: bool = True,
                 trust_server_answer: bool = True, logprobs: bool = True,
                 parser: Parser | None = None, transport: Any = None) -> None:
        base_url = base_url or os.environ.get(BASE_URL_SETTING)
        model = model or os.environ.get(MODEL_SETTING)
        if not base_url or not model:
            raise ConfigError(f"no endpoint given. Fix: pass --base-url URL and --model ID or "
                              f"set {BASE_URL_SETTING} and {MODEL_SETTING}")
        self.base_url = base_url.rstrip("/")
        self.model = model
        self.name = name or model
        self.api_key = api_key or os.environ.get(API_KEY_SETTING) or os.environ.get(
            "OPENAI_API_KEY")
        self.uses_context = use_context  # read by the runner
        self.reads_prompt = True  # the runner asks it every paraphrase
        self.profile = profile
        self.max_tokens = int(max_tokens)
        self.seed = int(seed)
        self.system_prompt = system_prompt
        self.concurrency = max(1, int(concurrency))
        self.timeout_s = float(timeout_s)
        self.max_retries = max(0, int(max_retries))
        self.backoff_s = float(backoff_s)
        self.send_metadata = send_metadata
        self.trust_server_answer = trust_server_answer
        self.logprobs = bool(logprobs)
        self._parser = parser
        self._transport = transport

    @property
    def version(self) -> str:
        settings = {"model": self.model, "context": self.uses_context,
                    "max_tokens": self.max_tokens, "seed": self.seed,
                    "system": self.system_prompt, "format": "messages-v1",
                    "trust": self.trust_server_answer,
                    "logprobs": "first-token-v1" if self.logprobs else None}
        digest = hashlib.sha256(json.dumps(settings, sort_keys=True).encode()).hexdigest()
        return f"openai-{digest[:12]}"

    @property
    def card(self) -> ModelCard:
        return ModelCard(self.name, self.version, "openai_endpoint",
                         {"base_url": self.base_url, "model": self.model})

    def answer(self, items: list[Item]) -> list[Answer]:
        """One request per item, ``concurrency`` at a time; answers in item order."""
        if not items:
            return []
        httpx = _deps.require("httpx", extra="serve", purpose="the OpenAI-compatible client")
        parser = self._parser
        if parser is None and not self.trust_server_answer:
            parser = default_parser()
        headers = {"Authorization": f"Bearer {self.api_key}"} if self.api_key else {}
        with httpx.Client(base_url=self.base_url, headers=headers, timeout=self.timeout_s,
                          transport=self._transport) as client:
            def one(item: Item) -> Answer:
                return self._answer_one(client, item, parser)

            with ThreadPoolExecutor(max_workers=min(self.concurrency, len(items))) as pool:
                return list(pool.map(one, items))

    def _answer_one(self, client: Any, item: Item, parser: Parser | None) -> Answer:
        body = request_body(item, model=self.model, with_context=self.uses_context,
                            max_tokens=self.max_tokens, seed=self.seed,
                            system_prompt=self.system_prompt, send_metadata=self.send_metadata,
                            logprobs=self.logprobs)
        reply = self._post(client, body)
        choices = reply.get("choices") if isinstance(reply, dict) else None
        if not choices:
            raise EndpointError(f"{self.base_url}: the reply has no choices: {reply!r:.200}")
        choice = choices[0]
        text = _reply_text(choice)
        extension = choice.get(EXTENSION)
        if self.trust_server_answer and isinstance(extension, dict):
            option = str(extension.get("option", ""))
            if option and option not in item.options:
                raise EndpointError(f"the server answered {option!r}, not one of "
                                    f"{item.options}")
            scores = extension.get("scores")
            return Answer(option=option, raw_text=text,
                          scores=None if scores is None else {str(k): float(v)
                                                              for k, v in scores.items()},
                          parse_status=str(extension.get("parse_status", "ok")))
        answer = answer_from_text(item.task, text, item.options, parser or default_parser())
        scores = option_scores_from_logprobs(choice, item.options) if self.logprobs else None
        return answer if scores is None else replace(answer, scores=scores)

    def _post(self, client: Any, body: dict[str, Any]) -> Any:
        """POST with retries on network errors, 429 and 5xx (exponential backoff)."""
        import httpx

        for attempt in range(self.max_retries + 1):
            delay = min(self.backoff_s * 2 ** attempt, 60.0)
            try:
                response = client.post("/chat/completions", json=body)
            except httpx.TransportError as exc:  # connect errors and timeouts
                if attempt == self.max_retries:
                    raise EndpointError(f"{self.base_url}: no answer after {attempt + 1} "
                                        f"tries ({type(exc).__name__}: {exc})") from exc
                time.sleep(delay)
                continue
            if response.status_code in _RETRY_STATUS and attempt < self.max_retries:
                retry_after = response.headers.get("retry-after", "")
                time.sleep(min(float(retry_after), 60.0) if retry_after.isdigit() else delay)
                continue
            if response.status_code >= 400:
                raise EndpointError(f"{self.base_url}/chat/completions answered "
                                    f"{response.status_code}: {response.text[:300]}")
            try:
                return response.json()
            except ValueError as exc:
                raise EndpointError(f"{self.base_url}: the reply is not JSON") from exc
        raise EndpointError(f"{self.base_url}: no answer")  # pragma: no cover
