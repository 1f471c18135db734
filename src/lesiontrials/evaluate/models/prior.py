"""The majority-class prior: always the most frequent option of each task.

Its accuracy is the majority-class rate, the floor every model must beat; its scores are
the prior frequencies.
"""

from __future__ import annotations

import hashlib
import json
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field, is_dataclass
from typing import Any

from lesiontrials.anatomy import Lobe
from lesiontrials.evaluate.contract import TASK_OPTIONS, Answer, Item, ModelCard

BASELINE_VERSION = "1"
#: literature defaults: nodules are most often in the right upper lobe and 5-10 mm
DEFAULT_PRIOR: Mapping[str, str] = {"presence": "present", "lobe": Lobe.RUL.value,
                                    "size": "5-10"}


def params_hash(params: Any) -> str:
    """SHA-256 (8 hex) of a dataclass or JSON-able value (for version strings)."""
    value = asdict(params) if is_dataclass(params) and not isinstance(params, type) else params
    text = json.dumps(value, sort_keys=True, default=str)
    return hashlib.sha256(text.encode("utf-8")).hexdigest()[:8]


@dataclass
class MajorityPrior:
    """Always the most frequent option of each task; ``scores`` are the prior frequencies.

    Defaults to :data:`DEFAULT_PRIOR`; :meth:`fit_prior` refits on truth labels (the runner
    calls it with the scored set's truth, making this the majority-class rate).
    """

    name: str = "majority"
    priors: dict[str, dict[str, float]] = field(default_factory=dict)
    profile: str = "lung"
    uses_context: bool = False

    @property
    def version(self) -> str:
        return f"{BASELINE_VERSION}+{params_hash(self._table())}"

    @property
    def card(self) -> ModelCard:
        return ModelCard(name=self.name, version=self.version, kind="baseline",
                         extra={"priors": json.dumps(self._table(), sort_keys=True)})

    def _table(self) -> dict[str, dict[str, float]]:
        table = {task: {o: float(o == DEFAULT_PRIOR[task]) for o in options}
                 for task, options in TASK_OPTIONS.items()}
        return {**table, **self.priors}

    def fit_prior(self, truth: Mapping[str, Sequence[str]]) -> None:
        """Set each task's prior to the option frequencies in ``truth`` (task → labels)."""
        for task, labels in truth.items():
            counts = Counter(label for label in labels if label)
            total = sum(counts.values())
            if total:
                self.priors[task] = {o: counts.get(o, 0) / total for o in TASK_OPTIONS[task]}

    def answer(self, items: list[Item]) -> list[Answer]:
        table = self._table()
        out = []
        for item in items:
            prior = table[item.task]
            option = max(item.options, key=lambda o: (prior.get(o, 0.0), -item.options.index(o)))
            out.append(Answer(option, raw_text=f"{option} (majority prior)",
                              scores={o: prior.get(o, 0.0) for o in item.options}))
        return out
