"""Ask a model a trial's question bank and the report task → ``questions/results/{model}/``.

Only the bank's ``test`` split is scored; its ``dev`` split is the calibration fold (the
majority prior is fitted there, nothing else sees it). One row per asked item
(:data:`RESULT_COLUMNS`), with a ``status``: ``answered`` (parsed), ``unparsed``,
``cannot_answer`` (the adapter has no way to answer the template: never a made-up reply)
or ``no_view`` (the evaluation set has no slice of the case for a slice model). Models
that read the prompt are asked every paraphrase; the others the first only (they ignore
the wording). The report task (prompt models and the rules reader) writes
``{trial}.reports.json``: field-level scores against the ground-truth reports and the
generated texts.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Sequence
from dataclasses import asdict
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from lesiontrials.errors import InputError, MissingPathError, StageFailedError
from lesiontrials.execution import Executor, run_cases
from lesiontrials.io import Volume, read_json, read_volume, write_json, write_parquet
from lesiontrials.paths import INSERT_JSON, DataRoot, Workspace
from lesiontrials.scoring.questions.adapters import (
    Asked,
    PromptAnswerer,
    QuestionAnswerer,
    QuestionPrior,
    answerer_for,
)
from lesiontrials.scoring.questions.bank import QuestionItem
from lesiontrials.scoring.questions.reader import Finding, RulesReader
from lesiontrials.scoring.questions.scoring import score_reply
from lesiontrials.scoring.questions.templates import PAIR_TEMPLATES, PRIOR_LEVEL_TEMPLATES
from lesiontrials.scoring.questions.truth import CaseTruth
from lesiontrials.scoring.questions.views import (
    load_pair_view,
    load_view,
    pair_view_rows,
    view_rows,
)
from lesiontrials.scoring.questions.workspace import trial_cases
from lesiontrials.scoring.results import set_items
from lesiontrials.scoring.structured.parse import parse_report
from lesiontrials.scoring.structured.report import CaseReport, narrative, report_from_truth
from lesiontrials.scoring.structured.score import field_scores
from lesiontrials.slicing.contract import Item, Model

RESULT_COLUMNS = ("uid", "case_uid", "template_id", "category", "answer_type", "paraphrase",
                  "split", "model", "model_version", "status", "reply", "parsed", "correct",
                  "abs_error", "series_uid")
CALIBRATION_SPLIT, SCORED_SPLIT = "dev", "test"
REPORT_PROMPT = ("Write the findings and impression of a lung cancer screening CT report for "
                 "this scan: for each nodule its lobe, size in mm, attenuation (solid, "
                 "part-solid or ground-glass) and whether it is calcified; end with "
                 "'IMPRESSION: Lung-RADS <category>'.")


def read_bank(workspace: Workspace, trial: str) -> list[QuestionItem]:
    """The trial's written bank (``lesiontrials questions TRIAL``)."""
    path = workspace.questions_file(trial)
    if not path.is_file():
        raise MissingPathError("the trial has no question bank", path=path,
                               fix=f"run `lesiontrials questions {trial}` first")
    record = read_json(path)
    try:
        return [QuestionItem(**{**i, "options": tuple(i["options"])}) for i in record["items"]]
    except (KeyError, TypeError) as exc:
        raise InputError(f"question bank is not in the current schema ({exc})", path=path,
                         fix=f"re-run `lesiontrials questions {trial}`") from exc


def _row(item: QuestionItem, reply: str | None, status: str, *, model: str,
         version: str) -> dict[str, Any]:
    row = {**{k: v for k, v in asdict(item).items() if k in RESULT_COLUMNS},
           "model": model, "model_version": version, "status": status,
           "reply": reply or "", "parsed": "", "correct": None, "abs_error": math.nan}
    if status == "answered":
        score = score_reply(item, reply)
        if score.parsed is None:
            row["status"] = "unparsed"
        else:
            row.update(parsed=str(score.parsed), correct=bool(score.correct),
                       abs_error=math.nan if score.abs_error is None else score.abs_error)
    return row


def _frame(rows: list[dict[str, Any]]) -> pd.DataFrame:
    frame = pd.DataFrame(rows, columns=list(RESULT_COLUMNS))
    frame["correct"] = frame["correct"].astype("boolean")
    frame["abs_error"] = frame["abs_error"].astype(float)
    return frame.sort_values("uid", kind="stable").reset_index(drop=True)


def _asked_items(bank: Sequence[QuestionItem], *, all_paraphrases: bool) -> list[QuestionItem]:
    return [i for i in bank if i.split == SCORED_SPLIT and (all_paraphrases or i.paraphrase == 0)]


def ask_slice_model(model: Model, *, workspace: Workspace, trial: str,
                    batch_size: int = 16) -> Path:
    """Score a registry model (slice tasks, prompt readers, majority prior) on the bank."""
    bank = read_bank(workspace, trial)
    answerer = answerer_for(model)
    if isinstance(answerer, QuestionPrior):
        answerer.fit([i for i in bank if i.split == CALIBRATION_SPLIT],
                     fold=f"{trial} bank, split {CALIBRATION_SPLIT}")
    items = _asked_items(bank, all_paraphrases=isinstance(answerer, PromptAnswerer))
    views = _views(model, answerer, workspace=workspace, trial=trial)
    pairs = _views(model, answerer, workspace=workspace, trial=trial, pair=True)
    rows: list[dict[str, Any]] = []
    pending: list[tuple[QuestionItem, Item]] = []
    for item in items:
        if not answerer.can_answer(item.template_id):
            rows.append(_row(item, None, "cannot_answer", model=answerer.name,
                             version=answerer.version))
        elif (view := view_of(item, views=views, pairs=pairs)) is None:
            rows.append(_row(item, None, "no_view", model=answerer.name,
                             version=answerer.version))
        else:
            pending.append((item, view))
    for start in range(0, len(pending), batch_size):
        batch = pending[start:start + batch_size]
        replies = answerer.answer([Asked.from_item(i) for i, _ in batch], [v for _, v in batch])
        rows += [_row(i, r, "answered" if r is not None else "cannot_answer",
                      model=answerer.name, version=answerer.version)
                 for (i, _), r in zip(batch, replies, strict=True)]
    folder = workspace.question_results_dir(answerer.name)
    path = write_parquet(_frame(rows), folder / f"{trial}.parquet")
    if isinstance(answerer, PromptAnswerer) and views is not None:
        _prompt_reports(answerer, views, workspace=workspace, trial=trial, bank=bank)
    return path


_BLANK = Item(slice_uid="", task="", condition="", profile="", question="", options=(),
              image=np.zeros((1, 1), dtype=np.uint8))  # the prior looks at no image


def view_of(item: QuestionItem, *, views: dict[str, Item] | None,
            pairs: dict[str, Item] | None) -> Item | None:
    """What an answerer is shown for ``item``: the blank item for answerers that look at no
    image (``views`` is None), the case's pair view for growth templates, else its view;
    ``None`` (``no_view``) when the case has none — and always for the
    :data:`~.templates.PRIOR_LEVEL_TEMPLATES`, whose view would exist only for some answers."""
    if views is None:
        return _BLANK
    if item.template_id in PRIOR_LEVEL_TEMPLATES:
        return None
    shown = pairs if item.template_id in PAIR_TEMPLATES else views
    return shown.get(item.case_uid) if shown is not None else None


def _views(model: Model, answerer: QuestionAnswerer, *, workspace: Workspace,
           trial: str, pair: bool = False) -> dict[str, Item] | None:
    """case uid → view (``pair``: the current | prior pair view of growth questions), or
    ``None`` for adapters that look at no image (the prior)."""
    if isinstance(answerer, QuestionPrior):
        return None
    profile = str(getattr(model, "profile", "lung"))
    uses_context = bool(getattr(model, "uses_context", True))
    cases, _ = trial_cases(workspace, trial)
    profile_dir = workspace.eval_dir(trial, profile)
    if pair:
        pairs = pair_view_rows(cases, set_items(workspace, trial, profile))
        return {uid: load_pair_view(p, profile_dir=profile_dir, uses_context=uses_context)
                for uid, p in pairs.items()}
    rows = view_rows(cases, set_items(workspace, trial, profile))
    return {uid: load_view(row, profile_dir=profile_dir, uses_context=uses_context)
            for uid, row in rows.items()}


def _scored_cases(workspace: Workspace, trial: str, bank: Sequence[QuestionItem]
                  ) -> list[CaseTruth]:
    scored = {i.case_uid for i in bank if i.split == SCORED_SPLIT}
    cases, _ = trial_cases(workspace, trial)
    return [c for c in cases if c.case_uid in scored]


def _prompt_reports(answerer: PromptAnswerer, views: dict[str, Item], *,
                    workspace: Workspace, trial: str, bank: Sequence[QuestionItem]) -> Path:
    cases = [c for c in _scored_cases(workspace, trial, bank) if c.case_uid in views]
    asked = [Asked(uid=f"{c.case_uid}/report", case_uid=c.case_uid, template_id="report",
                   answer_type="choice", question=REPORT_PROMPT,
                   options=("a free-text report",), unit="", prompt=REPORT_PROMPT)
             for c in cases]
    texts = answerer.answer(asked, [views[c.case_uid] for c in cases]) if cases else []
    return write_reports(workspace, answerer.name, answerer.version, trial, cases,
                         [t or "" for t in texts])


def write_reports(workspace: Workspace, model: str, version: str, trial: str,
                  cases: Sequence[CaseTruth], texts: Sequence[str],
                  structured: Sequence[CaseReport] | None = None) -> Path:
    """Field scores of generated reports (parsed from ``texts`` unless ``structured`` is
    given) against the truth reports → ``{trial}.reports.json``."""
    truths = [report_from_truth(c) for c in cases]
    preds = list(structured) if structured is not None else [
        parse_report(t, case_uid=c.case_uid) for c, t in zip(cases, texts, strict=True)]
    fields, size_error, kappa = field_scores(truths, preds)
    record = {"model": model, "model_version": version, "trial": trial,
              "split": SCORED_SPLIT, "n_cases": len(cases),
              "fields": [asdict(f) for f in fields], "size_abs_error_mm": size_error,
              "category_kappa": kappa,
              "reports": [{"case_uid": c.case_uid, "text": t}
                          for c, t in zip(cases, texts, strict=True)]}
    return write_json(record, workspace.question_results_dir(model) / f"{trial}.reports.json")


def ask_reader(reader: RulesReader, *, workspace: Workspace, data_root: DataRoot,
               trial: str, workers: int = 1, executor: Executor | None = None) -> Path:
    """Score the rules reader on the bank's scored cases and write its reports.

    Each case is read on its own (``run_cases``: ``executor``, else the active one, else a
    local pool of ``workers``); the findings do not depend on where. A case that cannot be
    read is an error naming it, after every case was tried."""
    bank = read_bank(workspace, trial)
    cases = _scored_cases(workspace, trial, bank)
    cases = [c for c in cases if _rendered(workspace.case_dir(trial, c.case_uid))]
    findings = reader_findings(reader, workspace=workspace, data_root=data_root, trial=trial,
                               cases=cases, workers=workers, executor=executor)
    rows = []
    for item in _asked_items(bank, all_paraphrases=False):
        if item.case_uid not in findings:  # not rendered (a failed case): nothing to read
            rows.append(_row(item, None, "no_view", model=reader.name,
                             version=reader.version))
            continue
        reply = reader.answer(Asked.from_item(item), findings[item.case_uid])
        rows.append(_row(item, reply, "cannot_answer" if reply is None else "answered",
                         model=reader.name, version=reader.version))
    path = write_parquet(_frame(rows), workspace.question_results_dir(reader.name)
                         / f"{trial}.parquet")
    reports = [reader.report(c.case_uid, findings[c.case_uid]) for c in cases]
    write_reports(workspace, reader.name, reader.version, trial, cases,
                  [narrative(r) for r in reports], structured=reports)
    return path


def reader_findings(reader: RulesReader, *, workspace: Workspace, data_root: DataRoot,
                    trial: str, cases: Sequence[CaseTruth], workers: int = 1,
                    executor: Executor | None = None) -> dict[str, list[Finding]]:
    """case uid → the reader's findings on the case's rendered CT (see :func:`ask_reader`);
    raises :class:`~lesiontrials.errors.StageFailedError` naming the cases that failed."""
    read_case = functools.partial(_case_findings, reader, workspace, data_root, trial)
    outcomes = run_cases(read_case, list(cases), keys=[c.case_uid for c in cases],
                         workers=workers, executor=executor,
                         description=f"rules reader ({trial})", show_progress=False)
    failed = [o for o in outcomes if o.status != "done"]
    if failed:
        raise StageFailedError(
            f"{reader.name} on {trial}: {len(failed)} of {len(cases)} cases could not be "
            "read: " + "; ".join(f"{o.key}: {o.reason}" for o in failed)
            + ". Fix: address the reasons and run the same command again")
    return {o.key: o.result for o in outcomes}


def _case_findings(reader: RulesReader, workspace: Workspace, data_root: DataRoot,
                   trial: str, case: CaseTruth) -> list[Finding]:
    return reader.findings(*_case_volumes(workspace, data_root, trial, case))


def _rendered(case_dir: Path) -> bool:
    render = case_dir / "render.json"
    return ((case_dir / "ct.nii.gz").is_file() and render.is_file()
            and read_json(render).get("status", "done") == "done")


def _case_volumes(workspace: Workspace, data_root: DataRoot, trial: str, case: CaseTruth
                  ) -> tuple[Volume, Volume]:
    """(rendered CT, host segmentation) of a case — the case's own label map is never read;
    of the host's labels the reader looks only at the lobes
    (:func:`~lesiontrials.scoring.questions.reader.lobe_at`)."""
    case_dir = workspace.case_dir(trial, case.case_uid)
    host = read_json(case_dir / INSERT_JSON).get("host", {})
    seg = str(host.get("seg_path") or "")
    if not seg:
        raise InputError("insert.json names no host segmentation", path=case_dir / INSERT_JSON,
                         column="host.seg_path", fix="re-run `lesiontrials insert`")
    ct = read_volume(case_dir / "ct.nii.gz")
    labels = read_volume(data_root.root / seg)
    return ct, labels


__all__ = ["RESULT_COLUMNS", "Finding", "ask_reader", "ask_slice_model", "read_bank",
           "reader_findings", "write_reports"]
