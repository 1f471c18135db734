"""A trained slice CNN as a scoring model (adapter ``trained``).

It reads a complete checkpoint (:mod:`.checkpoint`), answers presence, size and lobe
from the best epoch's weights with softmax/sigmoid scores, and its version is the hash of
the checkpoint's weights, recipe and data, so results of another training never mix.

Training/evaluation separation: every item must carry its case uid, and an item whose
case was in training (or validation), or — for a real scan — whose CT hosted a training
case, is refused with an error before anything is answered.
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

import numpy as np

from lesiontrials.errors import InputError
from lesiontrials.slicing.contract import Answer, Item, ModelCard
from lesiontrials.training.checkpoint import load_checkpoint, model_version
from lesiontrials.training.data import LOBE_OPTIONS, SIZE_OPTIONS, resample, to_grey

ADAPTER = "trained"
PATH_SETTING = "LESIONTRIALS_TRAINED_PATH"


class TrainedSliceModel:
    """Answers from a trained :class:`~lesiontrials.training.network.SliceCNN`."""

    uses_context = False
    reads_prompt = False

    def __init__(self, *, model_path: str | None = None, name: str | None = None,
                 batch_size: int = 64) -> None:
        import os

        import torch

        from lesiontrials.training.network import SliceCNN, deterministic_torch

        location = model_path or os.environ.get(PATH_SETTING)
        if not location:
            raise InputError("the trained model needs its checkpoint",
                             fix=f"pass --model-path models/NAME/checkpoint.pt (or path: in "
                                 f"a models YAML, or set {PATH_SETTING})")
        path = Path(location).expanduser()
        if path.is_dir():
            path = path / "checkpoint.pt"
        state = load_checkpoint(path)
        if not state["progress"].get("complete"):
            raise InputError("training is not finished", path=path,
                             fix="resume it: run the same `lesiontrials train` command again")
        self.identity: dict[str, Any] = dict(state["identity"])
        self.name = self.identity["name"] if name in (None, ADAPTER) else str(name)
        self.profile = str(self.identity["recipe"]["profile"])
        self.image_size = int(self.identity["recipe"]["image_size"])
        self.batch_size = batch_size
        self._excluded = frozenset(self.identity["case_uids"]) | frozenset(
            self.identity["host_cts"])
        # every torch call of the adapter runs on one thread: a scoring worker forked from
        # a process whose torch already ran multi-threaded (e.g. the improve loop, which
        # trains and then scores) deadlocks in the inherited OpenMP pool otherwise
        with deterministic_torch():
            self._net = SliceCNN(width=int(self.identity["recipe"]["width"]))
            self._net.load_state_dict(state["best_model"])
        self._net.eval()
        self._torch = torch
        self._deterministic = deterministic_torch
        self._version = model_version(state, self.identity)

    @property
    def version(self) -> str:
        return self._version

    @property
    def card(self) -> ModelCard:
        ident = self.identity
        return ModelCard(name=self.name, version=self.version, kind="trained", extra={
            "training_sets": json.dumps(ident["sets"]),
            "training_trials": json.dumps(ident["trials"]),
            "recipe": json.dumps(ident["recipe"], sort_keys=True),
            "recipe_hash": ident["recipe_hash"], "data_hash": ident["data_hash"],
            "training_cases": str(ident["n_cases"]),
            "training_examples": str(ident["n_examples"]),
            "separation": "items of training cases (and real scans of training host CTs) "
                          "are refused"})

    def check_separation(self, items: list[Item]) -> None:
        """Raise if an item has no case uid, or its case was seen in training."""
        unknown = [i.slice_uid for i in items if not i.case_uid]
        if unknown:
            raise InputError(f"{len(unknown)} item(s) carry no case uid (first slice "
                             f"{unknown[0]}); the training/evaluation separation cannot be "
                             "checked", fix="score through `lesiontrials score`, whose items "
                                            "carry their case uid")
        seen = sorted({i.case_uid for i in items if i.case_uid in self._excluded})
        if seen:
            raise InputError(f"model {self.name!r} was trained on {len(seen)} case(s) of these "
                             f"items (first {seen[0]!r}); it is never evaluated on them",
                             fix="score it on sets of other trials (or drop the training "
                                 "sets from --set)")

    def answer(self, items: list[Item]) -> list[Answer]:
        self.check_separation(items)
        answers: list[Answer] = []
        for start in range(0, len(items), self.batch_size):
            answers.extend(self._answer_batch(items[start:start + self.batch_size]))
        return answers

    def _answer_batch(self, items: list[Item]) -> list[Answer]:
        torch = self._torch
        # one thread, deterministic kernels: the same scores whatever the worker count, and
        # no use of an OpenMP pool inherited through fork (see __init__)
        with torch.no_grad(), self._deterministic():
            images = np.stack([resample(to_grey(i.image), self.image_size) for i in items])
            presence, size, lobe = self._net(torch.from_numpy(images[:, None]))
            p_present = torch.sigmoid(presence).numpy()
            size_p, lobe_p = torch.softmax(size, 1).numpy(), torch.softmax(lobe, 1).numpy()
        out = []
        for n, item in enumerate(items):
            if item.task == "presence":
                scores = {"present": float(p_present[n]), "absent": float(1 - p_present[n])}
            elif item.task == "size":
                scores = dict(zip(SIZE_OPTIONS, map(float, size_p[n]), strict=True))
            elif item.task == "lobe":
                scores = dict(zip(LOBE_OPTIONS, map(float, lobe_p[n]), strict=True))
            else:
                raise InputError(f"task {item.task!r} has no head in the trained model",
                                 fix="ask presence, size or lobe")
            scores = {k: v for k, v in scores.items() if k in item.options}
            if not scores or not all(math.isfinite(v) for v in scores.values()):
                raise InputError(f"no finite score for the options {list(item.options)}",
                                 fix="check the item's options")
            best = max(scores, key=lambda k: (scores[k], k))
            out.append(Answer(option=best, raw_text=best, scores=scores))
        return out
