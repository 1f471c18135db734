"""Analysis over a workspace: load scored results + item metadata, run everything, write.

The only file-touching part of the analysis package: reads
``results/**/*.parquet`` and ``eval/{set}/{profile}/cases.parquet``, writes
``reports/{name}/`` (report.md/html, tables/, figures/, transfer.json, council.json).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pandas as pd

from lesiontrials.analysis.council import Council, apply_council, build_council, compare_with_models
from lesiontrials.analysis.detection_report import add_volume_track
from lesiontrials.analysis.diagnostic import (
    cell_diagnostics,
    real_agreement,
    task_verdicts,
    verdict_table,
)
from lesiontrials.analysis.report import Analysis, analyze, variance_figure, write_report
from lesiontrials.errors import MissingPathError
from lesiontrials.io import read_json, read_parquet, write_json
from lesiontrials.paths import Workspace

ITEM_METADATA = ("source", "design", "trial", "case_uid", "host_dataset", "host_ct_id",
                 "donor_uid", "donor_dataset", "truth_lobe", "truth_size", "appearance", "kind")
CROSS_DESIGN = "digital_twin_cross"


def load_scored(workspace: Workspace, *, real_host_datasets: tuple[str, ...] = ()
                ) -> pd.DataFrame:
    """The current run of every result cell joined with its items' metadata.

    ``source`` becomes ``real`` for the real set and for synthetic lesions placed in real
    anatomy (hosts of ``real_host_datasets``, rendered into their real CT): the comparison
    is phantom anatomy versus real anatomy.
    """
    from lesiontrials.evaluate.runner import read_results

    cells = sorted(p.parent for p in (workspace.root / "results").glob("*/*/*/*/current.json"))
    frames = []
    for cell in cells:
        task, condition, set_name, model = cell.name, cell.parent.name, cell.parent.parent.name, \
            cell.parent.parent.parent.name
        frames.append(read_results(workspace, model=model, set_name=set_name,
                                   condition=condition, task=task))
    frames = [f for f in frames if len(f)]
    if not frames:
        raise MissingPathError("no scored results in the workspace", path=workspace.root /
                               "results", fix="run `lesiontrials score --model NAME` first")
    results = pd.concat(frames, ignore_index=True)
    items = []
    for path in sorted((workspace.root / "eval").glob("*/*/cases.parquet")):
        frame = read_parquet(path)
        items.append(frame[[c for c in ("slice_uid", "condition", "set", "profile",
                                        *ITEM_METADATA) if c in frame.columns]])
    if not items:
        raise MissingPathError("no evaluation sets in the workspace", path=workspace.root /
                               "eval", fix="run `lesiontrials slices --all` first")
    metadata = pd.concat(items, ignore_index=True).drop_duplicates(
        ["slice_uid", "condition", "set", "profile"])
    keys = [k for k in ("slice_uid", "condition", "set", "profile") if k in results.columns]
    merged = results.merge(metadata, on=keys, how="left", suffixes=("", "_item"))
    merged["option"] = merged["option"].fillna("").astype(str)
    merged["truth"] = merged["truth"].astype(str)
    merged["source"] = merged["source"].fillna("synthetic")
    if real_host_datasets and "host_dataset" in merged.columns:
        merged.loc[merged["host_dataset"].isin(real_host_datasets), "source"] = "real"
    return merged


def run_analysis(workspace: Workspace, *, name: str = "main", seed: int = 0,
                 replicates: int = 1000, profile: str | None = "lung",
                 fallback: str = "weighted_vote", real_side: str = "",
                 real_host_datasets: tuple[str, ...] = ()) -> Path:
    """Analyze, diagnose, build and apply the council, and write the report."""
    scored = load_scored(workspace, real_host_datasets=real_host_datasets)
    if profile is not None and "profile" in scored.columns and (scored["profile"] == profile
                                                                 ).any():
        scored = scored[scored["profile"] == profile]
    analysis = analyze(scored, seed=seed, replicates=replicates)
    directory = workspace.report_dir(name)
    transfer = diagnose(scored, analysis, seed=seed, replicates=min(replicates, 500))
    write_json(transfer, directory / "transfer.json")
    council_record = _council(scored, analysis, transfer, seed=seed, fallback=fallback,
                              replicates=replicates)
    write_json(council_record, directory / "council.json")
    analysis.sections += _sections(transfer, council_record, real_side)
    shares = variance_figure(transfer["tasks"])
    if shares:
        analysis.figures["variance_shares"] = shares
    add_volume_track(analysis, workspace, directory, seed=seed, replicates=replicates)
    return write_report(analysis, directory, title=f"lesiontrials report: {name}",
                        description=_description(scored))


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


def diagnose(scored: pd.DataFrame, analysis: Analysis, *, seed: int, replicates: int
             ) -> dict[str, Any]:
    """Donor/host diagnostic on the crossed design's synthetic answers + real agreement."""
    crossed = scored[(scored.get("design", "") == CROSS_DESIGN) & (scored["source"] ==
                                                                    "synthetic")]
    crossed = crossed.assign(correct=(crossed["option"] == crossed["truth"]).astype(float),
                             margin=_margins(crossed))
    cells = cell_diagnostics(crossed, seed=seed, replicates=replicates)
    with_scores = crossed[crossed["margin"].notna()]
    margin_cells = cell_diagnostics(with_scores, value="margin", seed=seed,
                                    replicates=replicates) if len(with_scores) else pd.DataFrame()
    verdicts = task_verdicts(crossed, seed=seed, replicates=replicates)
    agreement = real_agreement(analysis.cells, seed=seed)
    return {"design": CROSS_DESIGN, "answers": len(crossed),
            "cells": cells.to_dict(orient="records"),
            "cells_margin": margin_cells.to_dict(orient="records"), "tasks": verdicts,
            "real_agreement": agreement,
            "verdict_table": verdict_table(verdicts, agreement).to_dict(orient="records")}


def _council(scored: pd.DataFrame, analysis: Analysis, transfer: dict[str, Any], *, seed: int,
             fallback: str, replicates: int) -> dict[str, Any]:
    synthetic = analysis.cells[analysis.cells["source"] == "synthetic"]
    if synthetic.empty:
        return {"built": False, "reason": "no synthetic results"}
    council = build_council(synthetic, transfer["tasks"], fallback=fallback)
    record: dict[str, Any] = {"built": True, "council": council.to_dict(), "applied": {}}
    for source, answers in scored.groupby("source"):
        decided = apply_council(council, answers)
        comparison = compare_with_models(answers, decided, seed=seed, replicates=replicates)
        record["applied"][str(source)] = comparison.to_dict(orient="records")
    return record


def apply_saved_council(path: Path, answers: pd.DataFrame) -> pd.DataFrame:
    """``lesiontrials council apply``: a saved council.json on any scored answers."""
    return apply_council(Council.from_dict(read_json(path)["council"]), answers)


def _description(scored: pd.DataFrame) -> str:
    sources = scored.groupby("source")["slice_uid"].nunique().to_dict()
    models = sorted(scored["model"].unique())
    return (f"Models: {', '.join(models)}. Slices per source: {sources}. Synthetic = "
            "lesions in phantom anatomy; real = real CT anatomy (see the section 'What the "
            "real side is').")


def _sections(transfer: dict[str, Any], council: dict[str, Any], real_side: str
              ) -> list[tuple[str, str]]:
    from lesiontrials.analysis.report import markdown_table

    table = pd.DataFrame(transfer["verdict_table"])
    diagnostic = ("Variance of correctness in the crossed donor × host design "
                  f"({transfer['answers']} answers) split into donor (lesion), host (anatomy) "
                  "and residual shares; a task is donor-driven when the donor share exceeds "
                  "the host share with 95 % confidence. Donor-driven → synthetic rankings "
                  "predicted to transfer to real CT. No real label is used.\n\n"
                  + markdown_table(table) + "\n![variance shares](figures/variance_shares.png)\n")
    sections = [("Will it transfer? (donor/host diagnostic)", diagnostic)]
    if council.get("built"):
        rules = pd.DataFrame(council["council"]["rules"])[["task", "condition", "mode", "model",
                                                           "reason"]]
        body = ("Routing calibrated on synthetic results only.\n\n" + markdown_table(rules))
        for source, rows in council["applied"].items():
            body += f"\nCouncil vs fixed models on {source} (paired):\n\n" + markdown_table(
                pd.DataFrame(rows))
        sections.append(("Council", body))
    sections.append(("What the real side is", real_side or (
        "Real = real anatomy: (1) the real set — slices of the data root's real chest CTs "
        "through their own lesions, plus nodule-free slices of the same scans; (2) donors "
        "inserted into those real CTs by the host-ct renderer (only the lesion is "
        "synthetic). Synthetic = lesions in procedural phantom anatomy rendered by the "
        "analytic backend. In the embedded world the real CTs are the two pyradiomics "
        "example scans (5 mm slices, lobes derived without a model, so approximate): real "
        "numbers rest on very few scans and have wide intervals.")))
    return sections
