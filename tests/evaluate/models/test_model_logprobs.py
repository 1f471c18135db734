"""Option scores from an OpenAI-compatible endpoint's logprobs."""

from __future__ import annotations

import json
import math

import pytest
from tiny_models import make_items

from lesiontrials.scoring.models.openai_client import (
    OpenAIChatModel,
    option_scores_from_logprobs,
)

httpx = pytest.importorskip("httpx")


def _choice(text: str, top: list[tuple[str, float]] | None) -> dict:
    choice: dict = {"index": 0, "message": {"role": "assistant", "content": text},
                    "finish_reason": "stop"}
    if top is not None:
        choice["logprobs"] = {"content": [{"token": top[0][0], "logprob": top[0][1],
                                           "top_logprobs": [{"token": t, "logprob": lp}
                                                            for t, lp in top]}]}
    return choice


def test_first_token_logprobs_by_hand() -> None:
    choice = _choice("Present", [("Present", math.log(0.6)), (" pres", math.log(0.1)),
                                 ("Absent", math.log(0.2)), ("No", math.log(0.1))])
    scores = option_scores_from_logprobs(choice, ("present", "absent"))
    assert scores == pytest.approx({"present": 0.7 / 0.9, "absent": 0.2 / 0.9})
    # lobes share their first word: no token of its own for each option → no scores
    lobes = ("right_lung_upper_lobe", "right_lung_middle_lobe", "right_lung_lower_lobe",
             "left_lung_upper_lobe", "left_lung_lower_lobe")
    assert option_scores_from_logprobs(_choice("Right", [("Right", -0.1), ("Left", -2.0)]),
                                       lobes) is None
    assert option_scores_from_logprobs(_choice("Absent", None), ("present", "absent")) is None


def test_client_asks_for_logprobs_and_stores_scores() -> None:
    bodies: list[dict] = []

    def server(request: httpx.Request) -> httpx.Response:
        bodies.append(json.loads(request.content))
        top = [("absent", math.log(0.75)), ("present", math.log(0.25))]
        return httpx.Response(200, json={"id": "x", "object": "chat.completion",
                                         "choices": [_choice("absent", top)]})

    item = next(i for i in make_items(3) if i.task == "presence")
    client = OpenAIChatModel(base_url="http://test/v1", model="m",
                             transport=httpx.MockTransport(server))
    (answer,) = client.answer([item])
    assert bodies[0]["logprobs"] is True and bodies[0]["top_logprobs"] == 20
    assert answer.option == "absent"
    assert answer.scores == pytest.approx({"absent": 0.75, "present": 0.25})
    plain = OpenAIChatModel(base_url="http://test/v1", model="m", logprobs=False,
                            transport=httpx.MockTransport(server))
    assert plain.answer([item])[0].scores is None and "logprobs" not in bodies[-1]
    assert plain.version != client.version
