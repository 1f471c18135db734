"""Analysis over a workspace: load scored results + item metadata, run everything, write.

The only file-touching part of the analysis package: reads ``results/**/*.parquet``,
``results/{model}/model.json`` (which models are weight-free baselines),
``eval/{set}/{profile}/cases.parquet``, ``trials/{trial}/manifest.parquet`` (the base case
of bootstrap replicates) and the frozen split ``splits/{name}.json``; writes
``reports/{name}/`` (report.md/html, tables/, figures/, transfer.json, council.json).
"""

from __future__ import annotations

import json
from collections.abc import Collection
from pathlib import Path
from typing import Any

import pandas as pd

from lesiontrials.analysis.council import Council, apply_council
from lesiontrials.analysis.council_eval import IN_SAMPLE, CouncilEvaluation, evaluate_council
from lesiontrials.analysis.detection_report import attach_volume_track
from lesiontrials.analysis.diagnostic import (
    cell_diagnostics,
    real_agreement,
    task_verdicts,
    verdict_table,
)
from lesiontrials.analysis.figures import variance_figure
from lesiontrials.analysis.report import Analysis, analyze, label_baselines, write_report
from lesiontrials.analysis.report_data import ANALYSIS_VERSION
from lesiontrials.analysis.selective import (
    SLICE_KEYS,
    load_all_paraphrases,
    paraphrase_means,
    with_design_units,
)
from lesiontrials.analysis.side_parts import start_side_parts
from lesiontrials.errors import InputError, MissingPathError
from lesiontrials.io import read_json, read_parquet, write_json
from lesiontrials.paths import Workspace
from lesiontrials.scoring.splits import Split, read_split

DEFAULT_SPLIT = "main"

ITEM_METADATA = ("source", "design", "trial", "case_uid", "host_dataset", "host_ct_id",
                 "donor_uid", "donor_dataset", "truth_lobe", "truth_size", "appearance", "kind")
CROSS_DESIGN = "digital_twin_cross"


def load_scored(workspace: Workspace, *, real_host_datasets: tuple[str, ...] = (),
                every: pd.DataFrame | None = None) -> pd.DataFrame:
    """The current run of every result cell (its canonical paraphrase) joined with its
    items' metadata.

    ``source`` becomes ``real`` for the real set and for synthetic lesions placed in real
    anatomy (hosts of ``real_host_datasets``, rendered into their real CT): the comparison
    is phantom anatomy versus real anatomy. ``every``: the workspace's current results of
    every paraphrase (:func:`~lesiontrials.scoring.results.read_current_results`), when
    the caller has read them already (the same rows as reading them here).
    """
    from lesiontrials.scoring.results import primary_rows, read_current_results, read_items

    results = primary_rows(every if every is not None else read_current_results(workspace))
    if results.empty:
        raise MissingPathError("no scored results in the workspace", path=workspace.root /
                               "results", fix="run `lesiontrials score --model NAME` first")
    items = []
    for path in workspace.eval_items_files():
        items.append(read_items(path)[["slice_uid", "condition", "set", "profile",
                                       *ITEM_METADATA]])
    if not items:
        raise MissingPathError("no evaluation sets in the workspace", path=workspace.root /
                               "eval", fix="run `lesiontrials slices --all` first")
    metadata = pd.concat(items, ignore_index=True).drop_duplicates(
        ["slice_uid", "condition", "set", "profile"])
    keys = [k for k in ("slice_uid", "condition", "set", "profile") if k in results.columns]
    merged = results.merge(metadata, on=keys, how="left", suffixes=("", "_item"))
    merged = merged.merge(_base_cases(workspace), on="case_uid", how="left") \
        if "case_uid" in merged.columns else merged
    merged["option"] = merged["option"].fillna("").astype(str)
    merged["truth"] = merged["truth"].astype(str)
    merged["source"] = merged["source"].fillna("synthetic")
    if real_host_datasets and "host_dataset" in merged.columns:
        merged.loc[merged["host_dataset"].isin(real_host_datasets), "source"] = "real"
    return merged


def _base_cases(workspace: Workspace) -> pd.DataFrame:
    """case_uid → source_case_uid (the base case a bootstrap replicate resamples)."""
    frames = []
    for path in sorted((workspace.root / "trials").glob("*/manifest.parquet")):
        manifest = read_parquet(path)
        if "source_case_uid" in manifest.columns:
            frames.append(manifest[["case_uid", "source_case_uid"]])
    if not frames:
        return pd.DataFrame({"case_uid": pd.Series(dtype=str),
                             "source_case_uid": pd.Series(dtype=str)})
    table = pd.concat(frames, ignore_index=True).drop_duplicates("case_uid")
    table["source_case_uid"] = table["source_case_uid"].fillna("").astype(str)
    return table


def expected_slices(workspace: Workspace, uids: Collection[str], *,
                    real_host_datasets: tuple[str, ...] = ()) -> pd.DataFrame:
    """(slice_uid, source, task) for every split slice and every task it is asked, from the
    evaluation sets' items, so a slice that no model answered still counts as missing."""
    from lesiontrials.scoring.results import read_items
    from lesiontrials.slicing.contract import TASKS
    from lesiontrials.slicing.tasks import applies_to

    wanted = set(uids)
    rows = []
    for path in workspace.eval_items_files():
        items = read_items(path).drop_duplicates("slice_uid")
        items = items[items["slice_uid"].isin(wanted)]
        for item in items.itertuples(index=False):
            source = "real" if str(item.host_dataset) in real_host_datasets else str(
                item.source)
            rows += [{"slice_uid": item.slice_uid, "source": source, "task": task}
                     for task in TASKS if applies_to(task, kind=str(item.kind),
                                                     truth_lobe=str(item.truth_lobe or ""),
                                                     truth_size=str(item.truth_size or ""))]
    return pd.DataFrame(rows, columns=["slice_uid", "source", "task"]).drop_duplicates()


def weight_free_baselines(workspace: Workspace) -> frozenset[str]:
    """Models whose card (``results/{model}/model.json``) says ``kind: baseline``."""
    names = set()
    for path in sorted(workspace.results_root.glob("*/model.json")):
        card = read_json(path).get("card", {})
        if isinstance(card, dict) and card.get("kind") == "baseline":
            names.add(path.parent.name)
    return frozenset(names)


def trained_model_notes(workspace: Workspace, models: Collection[str]) -> list[str]:
    """One report note per trained model among ``models``: what it was trained on and the
    training/evaluation separation its card states (``results/{model}/model.json``)."""
    notes = []
    for name in sorted(models):
        path = workspace.results_root / name / "model.json"
        card = read_json(path).get("card", {}) if path.is_file() else {}
        if not isinstance(card, dict) or card.get("kind") != "trained":
            continue
        extra = card.get("extra", {}) or {}
        notes.append(f"{name} is a trained model (learned weights): trained on the sets "
                     f"{', '.join(json.loads(extra.get('training_sets', '[]')))} "
                     f"({extra.get('training_cases', '?')} cases); "
                     f"{extra.get('separation', '')}, so it is scored only on other sets")
    return notes


def resolve_split(workspace: Workspace, split_path: Path | None) -> tuple[Split, Path]:
    """The split file to report on: ``split_path`` or ``splits/main.json`` (checked)."""
    path = Path(split_path) if split_path is not None else workspace.split_file(DEFAULT_SPLIT)
    if not path.is_file():
        raise InputError("no frozen split to report on", path=path,
                         fix="freeze one with `lesiontrials split make main` (`lesiontrials "
                             "run` does) or pass --split FILE")
    split = read_split(path)
    if not split.uids:
        raise InputError(f"split {split.name!r} has no slices (no slice was scored by every "
                         "model × condition × task it was made for)", path=path,
                         fix="make it with the conditions and tasks that were scored, e.g. "
                             "`lesiontrials split make main -c plain -t presence`")
    return split, path


def run_analysis(workspace: Workspace, *, name: str = "main", seed: int = 0,
                 replicates: int = 2000, profile: str | None = None,
                 fallback: str = "weighted_vote", real_side: str = "",
                 real_host_datasets: tuple[str, ...] = (), split_path: Path | None = None,
                 trials: Collection[str] = (), models: Collection[str] = (),
                 sets: Collection[str] = (), workers: int = 1) -> Path:
    """Analyze the frozen split, diagnose, build and evaluate the council, write the
    report.

    ``profile``: report only the models that read this preprocessing profile; by default
    every model is reported, whichever profile it reads (slices are paired across
    profiles by their canonical ``slice_uid``). ``trials``/``models``/``sets``: report
    only these (empty: all); an unknown name is an error listing the known ones.
    ``workers`` > 1: the report's independent parts run in a second process
    (:mod:`.side_parts`; the same bytes)."""
    from lesiontrials.scoring.results import read_current_results

    split, path = resolve_split(workspace, split_path)
    current = read_current_results(workspace)  # every shard read once
    scored = load_scored(workspace, real_host_datasets=real_host_datasets, every=current)
    if profile is not None:
        if not (scored["profile"] == profile).any():
            raise InputError(f"no model was scored on the {profile!r} profile",
                             fix="leave --profile out to report every model, or use one of "
                                 f"{sorted(scored['profile'].unique())}")
        scored = scored[scored["profile"] == profile]
    scored, selection = select(scored, trials=trials, models=models, sets=sets)
    # the headline averages a slice's paraphrases
    every = load_all_paraphrases(workspace, results=current)
    scored = scored.merge(paraphrase_means(every), on=SLICE_KEYS, how="left")
    baselines = weight_free_baselines(workspace) & frozenset(scored["model"])
    expected = expected_slices(workspace, split.uids, real_host_datasets=real_host_datasets)
    if selection:  # only the selected trials'/sets' slices are expected
        expected = expected[expected["slice_uid"].isin(set(scored["slice_uid"]))]
    shown = path.resolve()  # workspace-relative when inside it: same bytes in any workspace
    if shown.is_relative_to(workspace.root.resolve()):
        shown = shown.relative_to(workspace.root.resolve())
    # confidence metrics, prompt robustness, truth sections and the volume track: beside
    # the headline tables (a second process with workers > 1), on the reported slices
    side = start_side_parts(
        with_design_units(_reported_paraphrases(every, scored, split, profile, selection),
                          scored),
        workspace, seed=seed, replicates=replicates, baselines=baselines, workers=workers)
    analysis = analyze(scored, split=split, split_path=str(shown), expected=expected,
                       baselines=baselines, seed=seed, replicates=replicates)
    analysis.notes.extend(trained_model_notes(workspace, set(scored["model"])))
    directory = workspace.report_dir(name)
    reported = scored[scored["slice_uid"].isin(set(split.uids))]
    calibration_uids = split.provenance.get("calibration", {}).get("uids", [])
    # the diagnostic fits nothing: it reads every frozen crossed slice (both folds), so it
    # has the power the design was planned for
    frozen = scored[scored["slice_uid"].isin(set(split.uids) | set(calibration_uids))]
    transfer = diagnose(frozen, analysis, seed=seed, replicates=min(replicates, 500))
    write_json(transfer, directory / "transfer.json")
    council = _council(scored, reported, calibration_uids, verdicts=transfer["tasks"],
                       seed=seed, fallback=fallback, replicates=replicates)
    write_json(council.record() if council is not None else
               {"analysis_version": ANALYSIS_VERSION, "built": False,
                "reason": "the split has no synthetic calibration fold"},
               directory / "council.json")
    for title, body in _sections(transfer, council, real_side, baselines):
        analysis.add_section(title, body)
    parts = side()
    for title, body in parts.selective:
        analysis.add_section(title, body)
    analysis.tables.update(parts.selective_tables)
    for title, body, truth_tables in parts.truth:  # issue 22: VQA, survival
        analysis.add_section(title, body, tables=truth_tables)
    shares = variance_figure(transfer["tasks"])
    if shares:
        analysis.figures["variance_shares"] = shares
    if council is not None:
        analysis.tables.update({"council_per_task": council.per_task,
                                "council_per_cell": council.per_cell})
    attach_volume_track(analysis, parts.volume, directory)
    return write_report(analysis, directory, title=f"lesiontrials report: {name}",
                        description=_description(scored, baselines), selection=selection)


def _reported_paraphrases(every: pd.DataFrame, scored: pd.DataFrame, split: Split,
                          profile: str | None, selection: str) -> pd.DataFrame:
    """Every paraphrase's answers on the reported slices (split, profile, selection): what
    the confidence metrics and prompt robustness read."""
    every = every[every["slice_uid"].isin(set(split.uids))]
    if profile:
        every = every[every["profile"] == profile]
    if selection:
        every = every[every["slice_uid"].isin(set(scored["slice_uid"]))
                      & every["model"].isin(set(scored["model"]))]
    return every


SELECTABLE = {"trial": "--trial", "model": "--model", "set": "--set"}


def select(scored: pd.DataFrame, *, trials: Collection[str] = (),
           models: Collection[str] = (), sets: Collection[str] = ()
           ) -> tuple[pd.DataFrame, str]:
    """The scored answers of the named trials, models and sets (each empty: all), and one
    line saying what was selected ("" when nothing was). An unknown name is an
    :class:`InputError` naming the option and the known names."""
    chosen = {"trial": list(trials), "model": list(models), "set": list(sets)}
    said = []
    for column, names in chosen.items():
        if not names:
            continue
        known = sorted({str(v) for v in scored[column].dropna()}) \
            if column in scored.columns else []
        unknown = sorted(set(names) - set(known))
        if unknown:
            raise InputError(f"{SELECTABLE[column]} {', '.join(unknown)}: no scored answers "
                             f"for this {column}",
                             fix=f"use one of: {', '.join(known) or '(none scored)'}")
        scored = scored[scored[column].astype(str).isin(set(names))]
        said.append(f"{column}{'s' if len(names) > 1 else ''} {', '.join(sorted(names))}")
    return scored, ("only " + "; ".join(said)) if said else ""


def _margins(answers: pd.DataFrame) -> pd.Series:
    """Score of the true option minus the best other option, where a model gives scores."""
    import json
    import math

    if "scores_json" not in answers.columns:
        return pd.Series(math.nan, index=answers.index)

    def margin(text: object, truth: object) -> float:
        if not isinstance(text, str) or not text.strip():
            return math.nan
        scores = json.loads(text)
        if not isinstance(scores, dict) or truth not in scores or len(scores) < 2:
            return math.nan
        others = [float(v) for k, v in scores.items() if k != truth]
        return float(scores[truth]) - max(others)

    return pd.Series([margin(t, y) for t, y in zip(answers["scores_json"], answers["truth"],
                                                    strict=True)], index=answers.index)


def real_host_datasets(data_root: Path) -> tuple[str, ...]:
    """Datasets of the data root whose hosts have real CT (``raw_ct/{DS}/``)."""
    raw = Path(data_root) / "raw_ct"
    return tuple(sorted(p.name for p in raw.iterdir() if p.is_dir())) if raw.is_dir() else ()


def council_for_split(workspace: Workspace, *, split_path: Path | None, seed: int,
                      fallback: str = "weighted_vote", replicates: int = 2000,
                      real_host_datasets: tuple[str, ...] = ()) -> CouncilEvaluation:
    """``council build``: the council of the split's calibration fold, evaluated."""
    split, _ = resolve_split(workspace, split_path)
    scored = load_scored(workspace, real_host_datasets=real_host_datasets)
    fold = split.provenance.get("calibration", {}).get("uids", [])
    frozen = scored[scored["slice_uid"].isin(set(split.uids) | set(fold))]
    verdicts = task_verdicts(_crossed(frozen))
    council = _council(scored, scored[scored["slice_uid"].isin(set(split.uids))], fold,
                       verdicts=verdicts, seed=seed, fallback=fallback, replicates=replicates)
    if council is None:
        raise InputError("the split has no synthetic calibration fold to build the council on",
                         path=workspace.split_file(split.name),
                         fix="re-freeze it with `lesiontrials split make main`")
    return council


def _crossed(scored: pd.DataFrame) -> pd.DataFrame:
    crossed = scored[(scored.get("design", "") == CROSS_DESIGN) & (scored["source"] ==
                                                                    "synthetic")]
    return crossed.assign(correct=(crossed["option"] == crossed["truth"]).astype(float),
                          margin=_margins(crossed))


def diagnose(scored: pd.DataFrame, analysis: Analysis, *, seed: int, replicates: int
             ) -> dict[str, Any]:
    """Donor/host diagnostic on the crossed design's synthetic answers + real agreement."""
    crossed = _crossed(scored)
    cells = cell_diagnostics(crossed, seed=seed)
    with_scores = crossed[crossed["margin"].notna()]
    margin_cells = (cell_diagnostics(with_scores, value="margin", seed=seed) if len(with_scores)
                    else pd.DataFrame())
    verdicts = task_verdicts(crossed, seed=seed)
    scored_cells = analysis.cells[analysis.cells.get("status", "scored") == "scored"]
    agreement = real_agreement(scored_cells, seed=seed, transfer=analysis.transfer)
    return {"analysis_version": ANALYSIS_VERSION, "design": CROSS_DESIGN,
            "answers": len(crossed),
            "cells": cells.to_dict(orient="records"),
            "cells_margin": margin_cells.to_dict(orient="records"), "tasks": verdicts,
            "real_agreement": agreement,
            "verdict_table": verdict_table(verdicts, agreement).to_dict(orient="records")}


def _council(scored: pd.DataFrame, reported: pd.DataFrame, calibration_uids: list[str], *,
             verdicts: dict[str, dict[str, Any]], seed: int, fallback: str, replicates: int
             ) -> CouncilEvaluation | None:
    """The council routed by the crossed design's verdicts and ranked on the calibration
    fold, evaluated on the reported slices of the other designs (the crossed design's
    slices, which the verdicts read, are never among the slices it is evaluated on)."""
    if not calibration_uids:
        return None
    return evaluate_council(scored, calibration_uids=calibration_uids, reported=reported,
                            verdicts=verdicts, fallback=fallback, seed=seed,
                            replicates=replicates)


def apply_saved_council(path: Path, answers: pd.DataFrame) -> pd.DataFrame:
    """``lesiontrials council apply``: a saved council.json on any scored answers."""
    return apply_council(Council.from_dict(read_json(path)["council"]), answers)


def _description(scored: pd.DataFrame, baselines: frozenset[str]) -> str:
    sources = scored.groupby("source")["slice_uid"].nunique()
    counts = ", ".join(f"{n} {source}" for source, n in sorted(
        sources.items(), key=lambda kv: (kv[0] != "synthetic", str(kv[0]))))
    return (f"Slices scored before the split: {counts}. Models marked (baseline) are "
            f"weight-free baselines ({len(baselines)} of "
            f"{scored['model'].nunique()} models).")


def _council_section(council: CouncilEvaluation | None, baselines: frozenset[str]) -> str:
    from lesiontrials.analysis.report import markdown_table

    if council is None:
        return ("Not built: the split has no synthetic calibration fold to calibrate it on "
                "(re-freeze the split with `lesiontrials split make main`).\n")
    rules = pd.DataFrame([rule.__dict__ for rule in council.council.rules])
    verdicts = ", ".join(f"{t}: {r['verdict']}" for t, r in sorted(council.verdicts.items()))
    routed = (f"{council.routed} of {len(rules)} task × condition cells are routed to one "
              "model (their task was called donor-driven by the crossed design)."
              if council.routed else f"No cell is routed: {council.why_not_routed}.")
    per_task = council.per_task
    shown = per_task[per_task["evaluated_on"] != IN_SAMPLE] \
        if len(per_task) else per_task
    columns = ["evaluated_on", "task", "comparator", "comparator_kind", "n", "council_accuracy",
               "comparator_accuracy", "council_minus_comparator",
               "council_minus_comparator_ci_low", "council_minus_comparator_ci_high"]
    shown = shown[[c for c in columns if c in shown.columns]].rename(columns={
        "comparator": "model"}) if len(shown) else shown
    return ("Calibrated on synthetic data only: which model a cell trusts is ranked on the "
            "calibration fold's cell accuracies; whether a task is routed follows the "
            f"crossed design's donor/host verdicts ({verdicts or 'none'}), and the crossed "
            "design's slices are never among the slices the council is evaluated on. No "
            f"reported and no real label is used. {routed} Elsewhere: the "
            f"{council.council.fallback} fallback.\n\n"
            + markdown_table(label_baselines(rules[["task", "condition", "mode", "model",
                                                    "reason"]], baselines))
            + "\nOut of sample: the council against every fixed model, the best fixed model "
            "chosen on synthetic (`best on synthetic`: per task × condition, the most "
            "accurate model on the calibration fold), and the oracle router (`oracle (upper "
            "bound)`: per task × condition, the most accurate model on the evaluation labels "
            "themselves; not a method). Paired on the same slices, pooled over conditions "
            "per task, with design-aware 95 % CIs; per task × condition in "
            "tables/council_per_cell.csv, and the in-sample comparison on the calibration "
            "fold in tables/council_per_task.csv (labelled in-sample).\n\n"
            + markdown_table(label_baselines(shown, baselines)))


def _sections(transfer: dict[str, Any], council: CouncilEvaluation | None, real_side: str,
              baselines: frozenset[str]) -> list[tuple[str, str]]:
    from lesiontrials.analysis.report import markdown_table

    table = pd.DataFrame(transfer["verdict_table"])
    diagnostic = ("Variance of correctness in the crossed donor × host design "
                  f"({transfer['answers']} answers: every frozen slice of the design, held-out "
                  "and calibration folds, since the diagnostic fits nothing) split into donor "
                  "(lesion), host (anatomy) and residual shares; a task is donor-driven when "
                  "the donor share exceeds the host share with 95 % confidence. Donor-driven "
                  "→ synthetic rankings predicted to transfer to real CT. No real label is "
                  "used.\n\n"
                  + markdown_table(table) + "\n![variance shares](figures/variance_shares.png)\n")
    sections = [("Will it transfer? (donor/host diagnostic)", diagnostic),
                ("Council", _council_section(council, baselines))]
    sections.append(("What the real side is", real_side or (
        "Real = real anatomy: (1) the real set — slices of the data root's real chest CTs "
        "through their own lesions, plus nodule-free slices of the same scans; (2) donors "
        "inserted into those real CTs by the host-ct renderer (only the lesion is "
        "synthetic). Synthetic = lesions in procedural phantom anatomy rendered by the "
        "analytic backend. In the embedded world the real CTs are the two pyradiomics "
        "example scans (5 mm slices, lobes derived without a model, so approximate): real "
        "numbers rest on very few scans and have wide intervals.")))
    return sections
