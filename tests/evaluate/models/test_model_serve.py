"""serve-model and the OpenAI-compatible client against a real local HTTP server."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

pytest.importorskip("fastapi", reason="needs pip install 'lesiontrials[serve]'")
pytest.importorskip("uvicorn", reason="needs pip install 'lesiontrials[serve]'")
httpx = pytest.importorskip("httpx", reason="needs pip install 'lesiontrials[serve]'")

import tiny_models  # noqa: E402
from tiny_models import INSTALL_VLM, import_or_skip, phantom_items  # noqa: E402

from lesiontrials.scoring.models.baselines import (  # noqa: E402
    BlobDetector,
    MajorityPrior,
    ThresholdDetector,
)
from lesiontrials.scoring.models.openai_client import (  # noqa: E402
    EndpointError,
    OpenAIChatModel,
    request_body,
)
from lesiontrials.scoring.models.overlay_reader import OverlayReader  # noqa: E402
from lesiontrials.scoring.models.serve import serve_in_background  # noqa: E402
from lesiontrials.slicing.contract import Answer  # noqa: E402

BASELINES = {"threshold": ThresholdDetector, "blob": BlobDetector,
             "overlay_reader": OverlayReader, "majority": MajorityPrior}


@pytest.fixture(scope="module")
def items() -> list:
    return phantom_items()


@pytest.mark.parametrize("name", sorted(BASELINES))
def test_round_trip_equals_in_process(name: str, items: list) -> None:
    model = BASELINES[name]()
    expected = model.answer(items)
    with serve_in_background(model) as base_url:
        assert base_url.startswith("http://127.0.0.1:")
        client = OpenAIChatModel(base_url=base_url, model=name, concurrency=4,
                                 use_context=True)
        got = client.answer(items)
    assert got == expected  # option, raw text, scores and parse status, item by item


def test_text_only_replies_are_parsed(items: list) -> None:
    """Without the lesiontrials extension (any other server) the text is parsed."""
    model = MajorityPrior()
    with serve_in_background(model, served_name="prior") as base_url:
        client = OpenAIChatModel(base_url=base_url, model="prior", send_metadata=False,
                                 trust_server_answer=False)
        got = client.answer(items)
    assert [a.option for a in got] == [a.option for a in model.answer(items)]
    assert all(a.parse_status == "ok" and a.scores is None for a in got)


def test_models_listing_and_request_errors(items: list) -> None:
    model = ThresholdDetector()
    with serve_in_background(model) as base_url:
        listed = httpx.get(f"{base_url}/models").json()
        assert listed["data"][0]["id"] == "threshold"
        assert listed["data"][0]["version"] == model.version
        with pytest.raises(EndpointError, match="404"):
            OpenAIChatModel(base_url=base_url, model="medgemma").answer(items[:1])
        body = request_body(items[0], model="threshold", with_context=False, max_tokens=8,
                            seed=0)
        cases = [
            {**body, "stream": True},
            {**body, "metadata": {**body["metadata"], "condition": "arrows"}},
            {**body, "messages": [{"role": "user", "content": "Options: a; b"}]},
            {**body, "messages": [{"role": "user", "content": [
                {"type": "image_url", "image_url": {"url": "https://example.org/x.png"}},
                {"type": "text", "text": "Is there a nodule?\nOptions: present; absent"}]}]},
        ]
        for bad in cases:
            reply = httpx.post(f"{base_url}/chat/completions", json=bad)
            assert reply.status_code == 400, reply.text
            assert reply.json()["error"]["message"]


def _completion(option: str) -> dict:
    return {"choices": [{"index": 0, "message": {"role": "assistant", "content": option}}]}


def test_client_retries_with_backoff_then_fails_clearly(items: list) -> None:
    calls: list[dict] = []
    replies = iter([httpx.Response(503), httpx.Response(429, headers={"retry-after": "0"}),
                    httpx.Response(200, json=_completion("Absent."))])

    def flaky(request: httpx.Request) -> httpx.Response:
        calls.append(json.loads(request.content))
        return next(replies)

    client = OpenAIChatModel(base_url="http://test/v1", model="m", backoff_s=0.0,
                             transport=httpx.MockTransport(flaky))
    assert client.answer(items[:1]) == [Answer("absent", raw_text="Absent.")]
    assert len(calls) == 3 and calls[0]["temperature"] == 0
    assert calls[0]["messages"][-1]["content"][0]["image_url"]["url"].startswith(
        "data:image/png;base64,")

    def down(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError("refused", request=request)

    with pytest.raises(EndpointError, match="3 tries"):
        OpenAIChatModel(base_url="http://test/v1", model="m", backoff_s=0.0, max_retries=2,
                        transport=httpx.MockTransport(down)).answer(items[:1])
    with pytest.raises(EndpointError, match="400"):
        OpenAIChatModel(base_url="http://test/v1", model="m", backoff_s=0.0,
                        transport=httpx.MockTransport(lambda r: httpx.Response(400))
                        ).answer(items[:1])


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _serve_model_subprocess(args: list[str], items: list, served_name: str) -> list[Answer]:
    """Run ``serve-model ARGS`` in a subprocess on a free port and query it."""
    port = _free_port()
    script = ("import typer; from lesiontrials.cli.model_commands import serve_model; "
              "typer.run(serve_model)")
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(
        [str(Path(__file__).parents[3] / "src"), os.environ.get("PYTHONPATH", "")])}
    proc = subprocess.Popen([sys.executable, "-c", script, *args, "--port", str(port),
                             "--log-level", "warning"], env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                httpx.get(f"http://127.0.0.1:{port}/health", timeout=1).raise_for_status()
                break
            except httpx.TransportError:
                if proc.poll() is not None or time.monotonic() > deadline:
                    message = proc.stderr.read().decode() if proc.stderr else ""
                    raise AssertionError(message) from None
                time.sleep(0.1)
        return OpenAIChatModel(base_url=f"http://127.0.0.1:{port}/v1", model=served_name,
                               use_context=True).answer(items)
    finally:
        proc.terminate()
        proc.wait(timeout=10)


def test_serve_model_command_proxies_an_endpoint(items: list) -> None:
    """`serve-model openai` in a subprocess, itself a client of a served baseline."""
    model = OverlayReader()
    with serve_in_background(model) as inner_url:
        got = _serve_model_subprocess(
            ["openai", "--served-name", "proxy", "--option", f"base_url={inner_url}",
             "--option", "model=overlay_reader", "--option", "use_context=true"], items, "proxy")
    assert got == model.answer(items)


def test_serve_model_command_serves_a_baseline(items: list) -> None:
    got = _serve_model_subprocess(["overlay_reader"], items, "overlay_reader")
    assert got == OverlayReader().answer(items)


def test_round_trip_of_a_tiny_chat_model(tmp_path: Path) -> None:
    import_or_skip("torch", INSTALL_VLM)
    import_or_skip("transformers", INSTALL_VLM)
    from lesiontrials.scoring.models.chat import ChatVLM

    tiny_models.build_gemma3(tmp_path)
    model = ChatVLM(model_path=tmp_path, name="tiny-gemma3", max_new_tokens=5, device="cpu")
    items = tiny_models.make_items(3, rgb=True)
    expected = model.answer(items)
    with serve_in_background(model) as base_url:
        got = OpenAIChatModel(base_url=base_url, model="tiny-gemma3", use_context=True,
                              concurrency=2).answer(items)
    assert got == expected
