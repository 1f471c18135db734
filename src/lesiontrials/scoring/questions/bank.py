"""Cases → question items: canonical uids, seeded option order, case-level splits.

An item's uid is ``{case_uid}/{template_id}/p{k}`` (``k`` = paraphrase index), stable
across runs and seeds. Options are shuffled with ``rng_for(seed, "vqa-options", uid)``.
Splits are drawn per case (every item of a case shares it, so no case leaks across
splits) — per patient series in a longitudinal trial, so a patient's repeat scans never
straddle splits: ``dev`` with probability ``dev_fraction``, else ``test``.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from lesiontrials.scoring.questions.templates import CATALOGUE, Template
from lesiontrials.scoring.questions.truth import CaseTruth
from lesiontrials.seeding import rng_for

LETTERS = "ABCDEFGH"


@dataclass(frozen=True)
class QuestionItem:
    """One question on one case. ``answer`` is the canonical answer (option text,
    "yes"/"no", a number, or "cannot be determined"); ``options`` in presented order."""

    uid: str
    case_uid: str
    template_id: str
    category: str
    answer_type: str
    paraphrase: int
    question: str
    options: tuple[str, ...]
    answer: str | float
    unit: str
    split: str
    #: the patient series the case belongs to (its own uid outside longitudinal trials)
    series_uid: str = ""

    def prompt(self) -> str:
        """The text a model sees: question, lettered options or the unit to answer in."""
        if self.answer_type == "choice":
            lines = [f"{LETTERS[i]}. {o}" for i, o in enumerate(self.options)]
            return "\n".join([self.question, *lines, "Answer with the letter."])
        if self.answer_type == "numeric":
            return f"{self.question}\nAnswer with a number ({self.unit})."
        return f"{self.question}\nAnswer yes or no."


def case_split(case_uid: str, *, seed: int, dev_fraction: float) -> str:
    return "dev" if rng_for(seed, "vqa-split", case_uid).random() < dev_fraction else "test"


def items_for_case(case: CaseTruth, templates: Sequence[Template] = CATALOGUE, *,
                   seed: int = 0, dev_fraction: float = 0.2) -> list[QuestionItem]:
    """Every applicable template × paraphrase for one case."""
    series = case.series_uid or case.case_uid  # a patient's repeat scans share a split
    split = case_split(series, seed=seed, dev_fraction=dev_fraction)
    items = []
    for template in templates:
        answer = template.derive(case)
        if answer is None:
            continue
        for k, text in enumerate(template.paraphrases):
            uid = f"{case.case_uid}/{template.template_id}/p{k}"
            options = answer.options
            if options:
                order = rng_for(seed, "vqa-options", uid).permutation(len(options))
                options = tuple(options[i] for i in order)
            items.append(QuestionItem(
                uid=uid, case_uid=case.case_uid, template_id=template.template_id,
                category=template.category, answer_type=template.answer_type, paraphrase=k,
                question=text.format(**answer.fill), options=options, answer=answer.value,
                unit=template.unit, split=split, series_uid=series))
    return items


def build_bank(cases: Iterable[CaseTruth], *, seed: int = 0, dev_fraction: float = 0.2
               ) -> list[QuestionItem]:
    """The bank over ``cases`` (sorted by uid, so input order does not matter)."""
    items = [i for case in cases
             for i in items_for_case(case, seed=seed, dev_fraction=dev_fraction)]
    return sorted(items, key=lambda i: i.uid)
