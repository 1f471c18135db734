"""Prompt paraphrases: several wordings and option orders of each task's question.

Models that read the question (chat VLMs, endpoints) are asked every paraphrase, so that
a result can be told apart from prompt sensitivity: the report shows accuracy per
paraphrase and its spread, and the headline uses the mean over paraphrases. ``p0`` is the
task's canonical prompt (:func:`~lesiontrials.slicing.tasks.task_prompt`); ``p1`` and
``p2`` reword it; ``p3`` is the canonical wording with the options in reverse order.
Every paraphrase has its own ``prompt_hash`` (changing one re-scores only it).

Example:
    >>> [p.id for p in paraphrases("presence")]
    ['p0', 'p1', 'p2', 'p3']
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Final

from lesiontrials.slicing.tasks import OPTION_TEXT, TaskPrompt, task_prompt

PRIMARY: Final = "p0"

#: reworded questions; ``{options}`` is the readable option list in the prompt's order
_WORDINGS: Final[dict[str, tuple[str, str]]] = {
    "presence": (
        "Does this axial CT image of the chest show a pulmonary nodule? "
        "Reply with a single word: {options}.",
        "You are reading one axial slice of a chest CT. Is a lung nodule visible on it? "
        "Give one answer from: {options}.",
    ),
    "lobe": (
        "This axial chest CT slice contains a pulmonary nodule. Which lobe of the lung is it "
        "located in? The image follows radiological convention (patient's right on the "
        "image's left). Reply with one of: {options}.",
        "You are reading one axial slice of a chest CT in radiological convention (the "
        "patient's right is on the image's left). Name the lung lobe that contains the "
        "nodule, choosing from: {options}.",
    ),
    "size": (
        "Estimate the diameter of the pulmonary nodule in this axial chest CT slice. Reply "
        "with one of: {options}.",
        "You are reading one axial slice of a chest CT. How large is the lung nodule across? "
        "Choose one of: {options}.",
    ),
}


@dataclass(frozen=True)
class Paraphrase:
    """One wording/option order of a task's prompt."""

    id: str
    prompt: TaskPrompt
    note: str


def _listed(task: str, options: tuple[str, ...], *, sep: str) -> str:
    return sep.join(OPTION_TEXT[task][o] for o in options)


def paraphrases(task: str) -> tuple[Paraphrase, ...]:
    """Every paraphrase of ``task``'s prompt, the canonical one (``p0``) first."""
    canonical = task_prompt(task)
    out = [Paraphrase(PRIMARY, canonical, "canonical wording and option order")]
    sep = " or " if task == "presence" else ", "
    for n, wording in enumerate(_WORDINGS[task], start=1):
        question = wording.format(options=_listed(task, canonical.options, sep=sep))
        out.append(Paraphrase(f"p{n}", replace(canonical, question=question,
                                               version=f"{canonical.version}-p{n}"),
                              f"reworded question {n}"))
    reverse = tuple(reversed(canonical.options))
    canonical_list = _listed(task, canonical.options, sep=sep)
    reverse_question = canonical.question.replace(canonical_list,
                                                  _listed(task, reverse, sep=sep))
    if task == "presence":  # its canonical question names the options itself
        reverse_question = canonical.question.replace("present or absent", "absent or present")
    n = len(out)
    out.append(Paraphrase(f"p{n}", replace(canonical, question=reverse_question,
                                           options=reverse, version=f"{canonical.version}-p{n}"),
                          "canonical wording, options in reverse order"))
    return tuple(out)


def paraphrase(task: str, paraphrase_id: str) -> Paraphrase:
    """The paraphrase ``paraphrase_id`` of ``task`` (an error naming the valid ids)."""
    found = {p.id: p for p in paraphrases(task)}
    if paraphrase_id not in found:
        raise ValueError(f"task {task!r} has no paraphrase {paraphrase_id!r}; use one of "
                         f"{sorted(found)}")
    return found[paraphrase_id]
