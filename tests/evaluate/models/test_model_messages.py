"""The chat message format shared by the chat VLMs, the OpenAI client and serve-model."""

from __future__ import annotations

import numpy as np
import pytest

pytest.importorskip("PIL", reason="needs pillow (pip install 'lesiontrials[serve]')")

from tiny_models import make_items

from lesiontrials.errors import InputError
from lesiontrials.scoring.models import messages
from lesiontrials.slicing.contract import TASK_OPTIONS


@pytest.mark.parametrize("n_images", [1, 3])
def test_prompt_text_reads_back(n_images: int) -> None:
    for item in make_items(3):
        text = messages.prompt_text(item, n_images=n_images)
        question, labels = messages.parse_prompt_text(text)
        assert question == item.question
        options = messages.labels_to_options(labels, None)
        assert options == item.options
        assert messages.infer_task(options) == item.task


def test_labels_are_readable_and_invert() -> None:
    assert messages.option_label("right_lung_middle_lobe") == "right middle lobe"
    for options in TASK_OPTIONS.values():
        for option in options:
            label = messages.option_label(option)
            assert messages.option_from_label(f" {label.upper()}. ", options) == option
            assert messages.option_from_label(option, options) == option
    assert messages.option_from_label("maybe", TASK_OPTIONS["presence"]) is None


def test_images_order_and_split_are_inverse() -> None:
    item = make_items(1)[0]
    shown = messages.item_images(item, with_context=True)
    assert [id(a) for a in shown] == [id(item.context[0]), id(item.image), id(item.context[1])]
    centre, context = messages.split_images(shown)
    assert centre is item.image and context == item.context
    assert messages.item_images(item, with_context=False) == [item.image]
    with pytest.raises(InputError):
        messages.split_images([])


@pytest.mark.parametrize("rgb", [False, True])
def test_png_data_url_is_lossless(rgb: bool) -> None:
    image = make_items(1, rgb=rgb)[0].image
    url = messages.png_data_url(image)
    assert url.startswith("data:image/png;base64,")
    back = messages.decode_data_url(url)
    assert back.dtype == np.uint8 and back.shape == image.shape
    np.testing.assert_array_equal(back, image)


def test_remote_urls_and_bad_images_are_refused() -> None:
    with pytest.raises(InputError, match="data URL"):
        messages.decode_data_url("https://example.org/a.png")
    with pytest.raises(InputError, match="uint8"):
        messages.png_data_url(np.zeros((4, 4), dtype=np.float32))


def test_answer_from_text_exact_then_parser() -> None:
    options = TASK_OPTIONS["lobe"]
    calls: list[tuple[str, str]] = []

    def parser(task: str, text: str) -> tuple[str, str]:
        calls.append((task, text))
        return ("left_lung_lower_lobe", "ok") if "LLL" in text else ("", "unparsed")

    exact = messages.answer_from_text("lobe", "Right upper lobe.", options, parser)
    assert (exact.option, exact.parse_status, calls) == ("right_lung_upper_lobe", "ok", [])
    parsed = messages.answer_from_text("lobe", "It sits in the LLL", options, parser)
    assert (parsed.option, parsed.raw_text) == ("left_lung_lower_lobe", "It sits in the LLL")
    missed = messages.answer_from_text("lobe", "no idea", options, parser)
    assert (missed.option, missed.parse_status) == ("", "unparsed")


def test_default_parser_is_the_project_parser() -> None:
    parse = messages.default_parser()
    assert parse("presence", "No, there is no nodule.") == ("absent", "ok")
    assert parse("size", "about 12 mm") == ("10-20", "ok")
