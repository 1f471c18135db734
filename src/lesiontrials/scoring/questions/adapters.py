"""Model adapters answering question-bank items (docs/vqa.md, "Models on the bank").

A model never receives a :class:`~.bank.QuestionItem` (it holds the answer): it gets an
:class:`Asked` — the item's uid, wording, options and unit — and a 2-D view of the case
(:mod:`.views`). Three ways to answer, chosen by :func:`answerer_for`:

* :class:`PromptAnswerer` — models that read the prompt (chat VLMs, OpenAI endpoints,
  external chat adapters) get the question as text and reply in free text, which
  :func:`~.scoring.score_reply` parses; they answer every template.
* :class:`TaskAnswerer` — models of the three slice tasks (weight-free detectors, CLIP,
  trained CNNs) answer what those tasks can say: ``presence`` (present → yes), ``lobe`` and
  ``side`` (the lobe's side). Every other template is "cannot answer" — recorded as such,
  never a made-up reply.
* :class:`QuestionPrior` — the ``majority`` baseline: per template, the most frequent
  answer (median for numbers) of the *calibration fold* (the bank's ``dev`` split, cases
  disjoint from the scored ``test`` split).
"""

from __future__ import annotations

import copy
import statistics
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Protocol, runtime_checkable

from lesiontrials.anatomy import Lobe
from lesiontrials.scoring.questions.bank import QuestionItem
from lesiontrials.scoring.questions.templates import LOBE_TEXT, NO, YES
from lesiontrials.slicing.contract import Item, Model
from lesiontrials.slicing.tasks import task_prompt

#: templates a slice-task model can answer, and the slice task each is asked as
TASK_TEMPLATES = {"presence": "presence", "lobe": "lobe", "side": "lobe"}


@dataclass(frozen=True)
class Asked:
    """One question as a model receives it (no answer, no split, no truth)."""

    uid: str
    case_uid: str
    template_id: str
    answer_type: str
    question: str
    options: tuple[str, ...]
    unit: str
    prompt: str

    @classmethod
    def from_item(cls, item: QuestionItem) -> Asked:
        return cls(item.uid, item.case_uid, item.template_id, item.answer_type, item.question,
                   item.options, item.unit, item.prompt())


@runtime_checkable
class QuestionAnswerer(Protocol):
    """Answers question items: a reply text per item, ``None`` = cannot answer it."""

    @property
    def name(self) -> str: ...

    @property
    def version(self) -> str: ...

    @property
    def kind(self) -> str: ...

    def can_answer(self, template_id: str) -> bool: ...

    def answer(self, asked: Sequence[Asked], views: Sequence[Item]) -> list[str | None]: ...


def _shown_options(asked: Asked) -> tuple[str, ...]:
    if asked.answer_type == "choice":
        return asked.options
    if asked.answer_type == "numeric":
        return (f"a number in {asked.unit}",)
    return (YES, NO)


@dataclass
class PromptAnswerer:
    """A prompt-reading model asked each question in words; its raw text is the reply.

    The slice ``task`` the wrapped model is handed is only a placeholder for its own
    parser, whose result is discarded; option log-likelihoods are switched off (bank
    items have their own answer spaces)."""

    model: Model
    kind: str = "chat"
    name: str = field(init=False)
    version: str = field(init=False)

    def __post_init__(self) -> None:
        self.name = self.model.name
        self.version = f"vqa-prompt-1+{self.model.version}"
        if hasattr(self.model, "option_scores"):
            self.model = copy.copy(self.model)
            self.model.option_scores = False

    def can_answer(self, template_id: str) -> bool:
        return True

    def answer(self, asked: Sequence[Asked], views: Sequence[Item]) -> list[str | None]:
        items = [Item(slice_uid=v.slice_uid, task="presence", condition=v.condition,
                      profile=v.profile, question=a.question, options=_shown_options(a),
                      image=v.image, context=v.context, pixel_spacing_mm=v.pixel_spacing_mm,
                      case_uid=v.case_uid) for a, v in zip(asked, views, strict=True)]
        answers = self.model.answer(items) if items else []
        return [a.raw_text or a.option for a in answers]


@dataclass
class TaskAnswerer:
    """A slice-task model answering the templates of :data:`TASK_TEMPLATES`."""

    model: Model
    kind: str = "slice_task"
    name: str = field(init=False)
    version: str = field(init=False)

    def __post_init__(self) -> None:
        self.name = self.model.name
        self.version = f"vqa-task-1+{self.model.version}"

    def can_answer(self, template_id: str) -> bool:
        return template_id in TASK_TEMPLATES

    def answer(self, asked: Sequence[Asked], views: Sequence[Item]) -> list[str | None]:
        out: list[str | None] = [None] * len(asked)
        for task in sorted(set(TASK_TEMPLATES.values())):
            where = [i for i, a in enumerate(asked) if TASK_TEMPLATES.get(a.template_id) == task]
            if not where:
                continue
            prompt = task_prompt(task)
            items = [Item(slice_uid=views[i].slice_uid, task=task, condition=views[i].condition,
                          profile=views[i].profile, question=prompt.question,
                          options=prompt.options, image=views[i].image,
                          context=views[i].context,
                          pixel_spacing_mm=views[i].pixel_spacing_mm,
                          case_uid=views[i].case_uid) for i in where]
            for i, answer in zip(where, self.model.answer(items), strict=True):
                out[i] = _task_reply(asked[i].template_id, answer.option)
        return out


def _task_reply(template_id: str, option: str) -> str:
    """A slice-task option as a reply to the template ('' when the model gave none)."""
    if not option:
        return ""
    if template_id == "presence":
        return YES if option == "present" else NO
    if template_id == "lobe":
        return LOBE_TEXT[option]
    return Lobe(option).side.value


@dataclass
class QuestionPrior:
    """Most frequent answer per template on the calibration fold (median for numbers)."""

    name: str = "majority"
    kind: str = "baseline"
    answers: dict[str, str] = field(default_factory=dict)
    fitted_on: str = ""

    @property
    def version(self) -> str:
        return f"vqa-prior-1+{sorted(self.answers.items())!r}"

    def fit(self, calibration: Sequence[QuestionItem], *, fold: str) -> None:
        """Set each template's answer from the calibration items (never a scored item)."""
        by_template: dict[str, list[QuestionItem]] = {}
        for item in calibration:
            by_template.setdefault(item.template_id, []).append(item)
        self.answers = {}
        for template_id, items in sorted(by_template.items()):
            if items[0].answer_type == "numeric":
                self.answers[template_id] = (
                    f"{statistics.median(float(i.answer) for i in items):.1f}")
            else:
                counts = Counter(str(i.answer) for i in items)
                self.answers[template_id] = min(counts, key=lambda a: (-counts[a], a))
        self.fitted_on = fold

    def can_answer(self, template_id: str) -> bool:
        return template_id in self.answers

    def answer(self, asked: Sequence[Asked], views: Sequence[Item]) -> list[str | None]:
        return [self.answers.get(a.template_id) for a in asked]


def answerer_for(model: Model) -> QuestionAnswerer:
    """The question adapter of a loaded slice model (see the module docstring)."""
    from lesiontrials.scoring.models.prior import MajorityPrior

    if isinstance(model, MajorityPrior):
        return QuestionPrior(name=model.name)
    if getattr(model, "reads_prompt", False):
        return PromptAnswerer(model)
    return TaskAnswerer(model)
