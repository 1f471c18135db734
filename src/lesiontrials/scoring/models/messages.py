"""How an :class:`~lesiontrials.slicing.contract.Item` is written as a chat message and read back.

One text format serves the in-process chat VLMs, the OpenAI-compatible client and the
``serve-model`` server, so that an item sent over HTTP can be rebuilt exactly::

    [You are shown 3 consecutive axial CT slices; answer about the middle one (image 2).]
    <question>
    Options: <label>; <label>; ...

Options are shown as readable labels (``right upper lobe``, ``5 to 10 mm``);
:func:`option_from_label` maps a label back to its option. Images travel as PNG (lossless)
data URLs, ordered ``z-1, z, z+1``: the centre slice is image ``len(context) // 2``.
"""

from __future__ import annotations

import base64
import io
import re
from collections.abc import Callable, Sequence
from typing import Final

import numpy as np

from lesiontrials.errors import InputError
from lesiontrials.slicing.contract import TASK_OPTIONS, Answer, Item
from lesiontrials.slicing.tasks import OPTION_TEXT

#: a free-text parser: (task, text) -> (option or '', parse status)
Parser = Callable[[str, str], tuple[str, str]]

#: readable option labels, the wording of :data:`lesiontrials.slicing.tasks.OPTION_TEXT`
_LABELS: Final[dict[str, str]] = {o: t for opts in OPTION_TEXT.values() for o, t in opts.items()}
_OPTIONS_PREFIX: Final = "Options: "
_CONTEXT_NOTE = re.compile(
    r"^You are shown (\d+) consecutive axial CT slices; answer about the middle one "
    r"\(image (\d+)\)\.\n"
)


def option_label(option: str) -> str:
    """The readable label shown to a model for an option."""
    return _LABELS.get(option, option.replace("_", " "))


def option_from_label(text: str, options: Sequence[str]) -> str | None:
    """The option whose name or label equals ``text`` (case and outer space ignored)."""
    key = text.strip().strip(".").strip().lower()
    for option in options:
        if key in (option.lower(), option_label(option).lower()):
            return option
    return None


def infer_task(options: Sequence[str]) -> str | None:
    """The task whose option set equals ``options`` (in any order), else ``None``."""
    wanted = set(options)
    for task, task_options in TASK_OPTIONS.items():
        if set(task_options) == wanted:
            return task
    return None


def item_images(item: Item, *, with_context: bool) -> list[np.ndarray]:
    """The images to show, ordered ``z-1, z, z+1`` (the centre only without context)."""
    if not with_context or not item.context:
        return [item.image]
    half = len(item.context) // 2
    return [*item.context[:half], item.image, *item.context[half:]]


def split_images(images: Sequence[np.ndarray]) -> tuple[np.ndarray, tuple[np.ndarray, ...]]:
    """Inverse of :func:`item_images`: ``(centre, context)``."""
    if not images:
        raise InputError("the request carries no image", fix="send one image_url part or more")
    centre = (len(images) - 1) // 2
    return images[centre], (*images[:centre], *images[centre + 1:])


def prompt_text(item: Item, *, n_images: int = 1) -> str:
    """The user text for ``item`` when shown with ``n_images`` images."""
    lines = []
    if n_images > 1:
        lines.append(f"You are shown {n_images} consecutive axial CT slices; answer about the "
                     f"middle one (image {(n_images - 1) // 2 + 1}).")
    lines.append(item.question.strip())
    lines.append(_OPTIONS_PREFIX + "; ".join(option_label(o) for o in item.options))
    return "\n".join(lines)


def parse_prompt_text(text: str) -> tuple[str, tuple[str, ...]]:
    """Read ``(question, option labels)`` back from :func:`prompt_text`'s output."""
    body = _CONTEXT_NOTE.sub("", text.strip(), count=1)
    lines = body.splitlines()
    option_lines = [i for i, line in enumerate(lines) if line.startswith(_OPTIONS_PREFIX)]
    if not option_lines:
        raise InputError("the request text has no 'Options: a; b; ...' line",
                         fix="write the prompt with lesiontrials' prompt format")
    at = option_lines[-1]
    labels = tuple(s.strip() for s in lines[at][len(_OPTIONS_PREFIX):].split(";") if s.strip())
    return "\n".join(lines[:at]).strip(), labels


def labels_to_options(labels: Sequence[str], task: str | None) -> tuple[str, ...]:
    """Map option labels back to option names (the task's options when known)."""
    known = TASK_OPTIONS.get(task or "", ())
    candidates = known or tuple(o for opts in TASK_OPTIONS.values() for o in opts)
    return tuple(option_from_label(label, candidates) or label for label in labels)


def answer_from_text(task: str, text: str, options: Sequence[str], parser: Parser) -> Answer:
    """Map a model's free text to an :class:`Answer`: exact option/label first, then ``parser``."""
    exact = option_from_label(text, options)
    if exact is not None:
        return Answer(option=exact, raw_text=text, parse_status="ok")
    option, status = parser(task, text)
    if option and option not in options:
        return Answer(option="", raw_text=text, parse_status="unparsed")
    return Answer(option=option, raw_text=text, parse_status=status)


def default_parser() -> Parser:
    """The project's free-text parser (:func:`lesiontrials.scoring.parsing.parse_answer`)."""
    from lesiontrials.scoring.parsing import parse_answer

    def _parse(task: str, text: str) -> tuple[str, str]:
        parsed = parse_answer(text, task=task)
        return parsed.option, parsed.status

    return _parse


def to_pil(image: np.ndarray):  # -> PIL.Image.Image
    """A uint8 grey ``(H, W)`` or RGB ``(H, W, 3)`` array as an RGB PIL image."""
    from PIL import Image

    array = np.ascontiguousarray(image)
    if array.dtype != np.uint8 or array.ndim not in (2, 3):
        raise InputError(f"expected a uint8 (H, W) or (H, W, 3) image, got {array.dtype} "
                         f"{array.shape}", fix="encode images with evaluate.windowing")
    return Image.fromarray(array).convert("RGB")


def png_data_url(image: np.ndarray) -> str:
    """Encode a uint8 grey or RGB array as a lossless ``data:image/png;base64,...`` URL."""
    from PIL import Image

    array = np.ascontiguousarray(image)
    if array.dtype != np.uint8 or array.ndim not in (2, 3):
        raise InputError(f"expected a uint8 (H, W) or (H, W, 3) image, got {array.dtype} "
                         f"{array.shape}", fix="encode images with evaluate.windowing")
    buffer = io.BytesIO()
    Image.fromarray(array).save(buffer, format="PNG")
    return "data:image/png;base64," + base64.b64encode(buffer.getvalue()).decode("ascii")


def decode_data_url(url: str) -> np.ndarray:
    """Decode an inline image data URL to uint8 ``(H, W)`` (grey) or ``(H, W, 3)``."""
    from PIL import Image

    head, sep, payload = url.partition(",")
    if not (url.startswith("data:image/") and sep and head.endswith(";base64")):
        raise InputError("only inline base64 image data URLs are accepted",
                         fix="send images as data:image/png;base64,... (no remote URLs)")
    with Image.open(io.BytesIO(base64.b64decode(payload, validate=True))) as img:
        if img.mode in ("L", "I;16", "I", "1"):
            return np.asarray(img.convert("L"), dtype=np.uint8)
        return np.asarray(img.convert("RGB"), dtype=np.uint8)
