"""The majority-class prior: always the most frequent option of each task.

A weight-free baseline, but a *fitted* one: its prior is the option frequencies of the
synthetic calibration fold (:mod:`lesiontrials.scoring.calibration`), which the runner
hands to :meth:`MajorityPrior.fit_prior` before anything is scored. The calibration fold is
disjoint from every reported slice (held-out synthetic and real), so the prior never sees
a label it is scored on, nor any real label; where it came from is recorded in the model
card and in the version. Without a calibration fold it keeps the literature default
:data:`DEFAULT_PRIOR`.
"""

from __future__ import annotations

import hashlib
import json
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field, is_dataclass
from typing import Any

from lesiontrials.anatomy import Lobe
from lesiontrials.slicing.contract import TASK_OPTIONS, Answer, Item, ModelCard

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

    Defaults to :data:`DEFAULT_PRIOR`; :meth:`fit_prior` refits on the calibration fold's
    truth labels (never on a scored slice) and records which fold it was.
    """

    name: str = "majority"
    priors: dict[str, dict[str, float]] = field(default_factory=dict)
    profile: str = "lung"
    uses_context: bool = False
    reads_image: bool = False  # the runner hands it a blank image: it reads none
    #: where the prior came from (the calibration fold's record; empty: literature default)
    calibration: dict[str, Any] = field(default_factory=dict)

    @property
    def version(self) -> str:
        return f"{BASELINE_VERSION}+{params_hash([self._table(), self.calibration])}"

    @property
    def card(self) -> ModelCard:
        fitted_on = (json.dumps(self.calibration, sort_keys=True) if self.calibration
                     else "literature default (no calibration fold)")
        return ModelCard(name=self.name, version=self.version, kind="baseline",
                         extra={"priors": json.dumps(self._table(), sort_keys=True),
                                "fitted_on": fitted_on})

    def _table(self) -> dict[str, dict[str, float]]:
        table = {task: {o: float(o == DEFAULT_PRIOR[task]) for o in options}
                 for task, options in TASK_OPTIONS.items()}
        return {**table, **self.priors}

    def fit_prior(self, truth: Mapping[str, Sequence[str] | Mapping[str, int]], *,
                  calibration: Mapping[str, Any] | None = None) -> None:
        """Set each task's prior to the option frequencies in ``truth`` (task → labels of the
        calibration fold, or their counts; see the module docstring) and record
        ``calibration``, the fold's provenance (sets, seed, unit rule, SHA-256 of its uids)."""
        self.priors = {}
        for task, labels in truth.items():
            counts = Counter(dict(labels)) if isinstance(labels, Mapping) else Counter(labels)
            counts.pop("", None)
            total = sum(counts.values())
            if total:
                self.priors[task] = {o: counts.get(o, 0) / total for o in TASK_OPTIONS[task]}
        self.calibration = {**(calibration or {}),
                            "tasks_fitted": sorted(self.priors)} if self.priors else {}

    def answer(self, items: list[Item]) -> list[Answer]:
        table = self._table()
        out = []
        for item in items:
            prior = table[item.task]
            option = max(item.options, key=lambda o: (prior.get(o, 0.0), -item.options.index(o)))
            out.append(Answer(option, raw_text=f"{option} (majority prior)",
                              scores={o: prior.get(o, 0.0) for o in item.options}))
        return out
