"""Zero-shot volume questions: a 3-D vision-language encoder over a volume set.

For every scan of the set the model (:class:`~.models.volume_vlm.VolumeVLM`) answers each
of its tasks (presence, lobe, size bin) from the CT alone and gives its image embedding.
Written to ``volume_results/{model}/{set}/``: ``questions.parquet`` (``scan_uid``,
``task``, ``option``, ``scores`` as JSON) and ``embeddings.parquet`` (``scan_uid`` + one
float32 column per dimension), plus ``run.json`` (kind ``vlm``).

What each question's answer is (:func:`volume_question_truth`, from the set's truth table
only — the model never sees it): ``presence`` is ``present`` when the scan has any nodule
in the truth table (native ones included) or a host lesion kept in its image (the set's
findings), else ``absent``; ``lobe`` and ``size_bin`` are asked only of scans whose nodules
all share one lobe (one task size bin) and that keep no host lesion (whose lobe and size
the truth does not hold), the lobe question only where that lobe is one of the five; other
scans have no single answer and are not scored on that task.
"""

from __future__ import annotations

import json
import time
from pathlib import Path

import numpy as np
import pandas as pd

from lesiontrials.io import read_parquet, write_parquet
from lesiontrials.paths import Workspace
from lesiontrials.scoring.models.volume_vlm import VOLUME_PROMPTS, VOLUME_TASKS, VolumeVLM
from lesiontrials.scoring.volume_runs import RUN_JSON, record_run, reusable, scans
from lesiontrials.slicing.volumes import VolumeSet

QUESTIONS_FILE = "questions.parquet"
EMBEDDINGS_FILE = "embeddings.parquet"


def volume_question_truth(volume_set: VolumeSet) -> pd.DataFrame:
    """``scan_uid, task, truth`` for every scored (scan, task) pair (module docstring)."""
    truth = volume_set.truth
    with_findings = set(volume_set.findings["scan_uid"].astype(str))
    rows = []
    for uid in volume_set.scans["scan_uid"].astype(str):
        nodules = truth[truth["scan_uid"].astype(str) == uid]
        present = len(nodules) > 0 or uid in with_findings
        rows.append((uid, "presence", "present" if present else "absent"))
        if not len(nodules) or uid in with_findings:
            continue
        lobes = set(nodules["lobe"].astype(str))
        if len(lobes) == 1 and (lobe := lobes.pop()) in VOLUME_PROMPTS["lobe"]:
            rows.append((uid, "lobe", lobe))
        bins = set(nodules["size_bin"].astype(str))
        if len(bins) == 1 and (size := bins.pop()) in VOLUME_PROMPTS["size_bin"]:
            rows.append((uid, "size_bin", size))
    return pd.DataFrame(rows, columns=["scan_uid", "task", "truth"])


def run_volume_questions(model: VolumeVLM, volume_set: VolumeSet, *, workspace: Workspace,
                         force: bool = False) -> Path:
    """Answers and embeddings of ``model`` on every scan; returns the questions parquet."""
    directory = workspace.volume_results_dir(model.name, volume_set.name)
    if not force and reusable(directory, model=model.name, version=model.version,
                               volume_set=volume_set, output=QUESTIONS_FILE):
        return directory / QUESTIONS_FILE
    start = time.perf_counter()
    answers: list[tuple[str, str, str, str]] = []
    uids: list[str] = []
    vectors: list[np.ndarray] = []
    for uid, volume in scans(volume_set):
        chosen, vector = model.answer_and_embed(volume, VOLUME_TASKS)
        for task, (option, scores) in chosen.items():
            answers.append((uid, task, option, json.dumps(scores, sort_keys=True)))
        uids.append(uid)
        vectors.append(vector)
    frame = pd.DataFrame(answers, columns=["scan_uid", "task", "option", "scores"]).astype(
        "string")
    write_parquet(frame, directory / QUESTIONS_FILE)
    matrix = np.stack(vectors) if vectors else np.zeros((0, 0), dtype=np.float32)
    embeddings = pd.DataFrame(matrix, columns=[f"e{i:04d}" for i in range(matrix.shape[1])])
    embeddings.insert(0, "scan_uid", pd.array(uids, dtype="string"))
    write_parquet(embeddings, directory / EMBEDDINGS_FILE)
    record_run(directory, model=model.name, version=model.version, kind="vlm",
            volume_set=volume_set, seconds=time.perf_counter() - start)
    return directory / QUESTIONS_FILE


def read_volume_answers(workspace: Workspace, model: str, volume_set: VolumeSet
                        ) -> pd.DataFrame:
    """The model's answers joined to the truth: ``scan_uid, task, option, truth, correct``
    (scored pairs only)."""
    directory = workspace.volume_results_dir(model, volume_set.name)
    answers = read_parquet(directory / QUESTIONS_FILE)
    truth = volume_question_truth(volume_set)
    frame = truth.merge(answers[["scan_uid", "task", "option"]].astype(str),
                        on=["scan_uid", "task"], how="left", validate="one_to_one")
    frame["correct"] = frame["option"] == frame["truth"]
    return frame


def read_embeddings(workspace: Workspace, model: str, set_name: str) -> pd.DataFrame:
    return read_parquet(workspace.volume_results_dir(model, set_name) / EMBEDDINGS_FILE)


__all__ = ["EMBEDDINGS_FILE", "QUESTIONS_FILE", "RUN_JSON", "read_embeddings",
           "read_volume_answers", "run_volume_questions", "volume_question_truth"]
