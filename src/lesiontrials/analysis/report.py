"""Analysis run and report: tables (CSV + Parquet), figures, report.md and report.html.

``analyze`` turns scored answers on a frozen split into tables; ``write_report`` renders
them. The HTML is self-contained (figures embedded as base64 PNG) so it can be mailed or
archived. Other parts of the analysis add a section with one call,
:meth:`Analysis.add_section` (markdown, figures and tables of their own).
"""

from __future__ import annotations

from collections.abc import Collection
from pathlib import Path

import pandas as pd

from lesiontrials.analysis.design_units import UNIT_RULES, is_crossed
from lesiontrials.analysis.figures import accuracy_figure, transfer_figure
from lesiontrials.analysis.report_data import ANALYSIS_VERSION, Analysis, ReportingSplit
from lesiontrials.analysis.report_layout import (
    BASELINE_SUFFIX,
    details,
    label_baselines,
    markdown_table,
    render_html,
    sources_first,
    table_of_contents,
)
from lesiontrials.analysis.report_summary import (
    headline_lines,
    model_sections,
    summary_section,
    trial_sections,
)
from lesiontrials.analysis.tables import (
    CELL,
    apply_split,
    breakdown,
    cell_metrics,
    confusion_table,
    reporting_items,
    synthetic_vs_real,
    versus_plain,
)
from lesiontrials.errors import InputError
from lesiontrials.io import (
    uid_hash,
    write_bytes_atomic,
    write_csv,
    write_json,
    write_parquet,
    write_text_atomic,
)
from lesiontrials.scoring.splits import Split

BREAKDOWNS = ("trial", "design", "host_dataset", "donor_dataset", "truth_lobe", "truth_size",
              "appearance")
__all__ = ["BASELINE_SUFFIX", "Analysis", "ReportingSplit", "analyze", "label_baselines",
           "mark_baselines", "markdown_table", "write_report"]


def restricted_uids(results: pd.DataFrame, split: Split) -> dict[str, set[str]]:
    """``{trained model: the split's slices in the sets it was scored on}`` from the
    split's provenance (:func:`~lesiontrials.scoring.splits.make_split`); the slices are
    found from every model's answers in those sets."""
    out = {}
    for model, info in split.provenance.get("restricted", {}).items():
        allowed = results["set"].isin(set(info.get("sets", [])))
        out[model] = set(results.loc[allowed, "slice_uid"]) & set(split.uids)
        if not out[model] and (results["model"] == model).any():
            raise InputError(
                f"trained model {model!r} has answers, but none on the split's slices of the "
                f"sets it may be reported on ({sorted(info.get('sets', []))}): it would "
                "vanish from every table", fix="score it on its held-out sets (names as in "
                "its checkpoint's provenance) or remake the split")
    return out


def restricted_notes(coverage: pd.DataFrame) -> list[str]:
    """One note per trained model reported on held-out trials only, with its N per task."""
    if coverage.empty or "scope" not in coverage.columns:
        return []
    held = coverage[(coverage["scope"] == "held-out only") & (coverage["status"] == "scored")]
    notes = []
    for model, rows in held.groupby("model", sort=True):
        counts = rows.groupby(["source", "task"])["expected"].max()
        items = ", ".join(f"{t} {n} ({s})" for (s, t), n in counts.items())
        notes.append(f"{model}: scored on held-out trials only ({int(counts.sum())} items: "
                     f"{items}); every other model is reported on the whole split")
    return notes


def _reporting_split(results: pd.DataFrame, split: Split | None, split_path: str,
                     expected: pd.DataFrame | None
                     ) -> tuple[pd.DataFrame, pd.DataFrame, ReportingSplit]:
    if split is not None:
        kept, coverage = apply_split(results, split.uids, expected=expected,
                                     restricted=restricted_uids(results, split))
        calibration = {k: v for k, v in split.provenance.get("calibration", {}).items()
                       if k != "uids"}
        calibration["slices"] = len(split.provenance.get("calibration", {}).get("uids", []))
        return kept, coverage, ReportingSplit(split.name, split.sha256, len(split.uids), True,
                                              split_path, calibration)
    uids = sorted(set(reporting_items(results)["slice_uid"]))
    kept, coverage = apply_split(results, uids)
    return kept, coverage, ReportingSplit("derived", uid_hash(uids), len(uids), False)


def analyze(results: pd.DataFrame, *, split: Split | None = None, split_path: str = "",
            expected: pd.DataFrame | None = None, baselines: Collection[str] = (),
            seed: int = 0, replicates: int = 2000) -> Analysis:
    """All tables from scored answers (see :mod:`.tables` for the columns) on ``split``.

    ``expected`` lists which split slices each task asks (see
    :func:`.tables.apply_split`); ``baselines`` names the weight-free baseline models
    (marked in every table and figure). The crossed donor × host design is tabulated
    apart (its intervals resample donors × hosts); every other table pools the remaining
    designs per source.
    """
    kept, coverage, reporting = _reporting_split(results, split, split_path, expected)
    crossed = is_crossed(kept)
    main, crossed_rows = kept[~crossed], kept[crossed]
    reporting_n = {f"{s}/{t}": int(rows["slice_uid"].nunique())
                   for (s, t), rows in main.groupby(["source", "task"])}
    reporting_n.update({f"{s}/{t} (crossed design)": int(rows["slice_uid"].nunique())
                        for (s, t), rows in crossed_rows.groupby(["source", "task"])})
    for (s, t), rows in coverage.groupby(["source", "task"]):  # tasks with no complete cell
        if not any(key.startswith(f"{s}/{t}") for key in reporting_n):
            reporting_n[f"{s}/{t}"] = int(rows["expected"].max())
    cells = cell_metrics(main, seed=seed, replicates=replicates)
    not_scored = coverage[coverage["status"] != "scored"]
    cells = pd.concat([cells.assign(status="scored"), not_scored[[*CELL, "status"]]],
                      ignore_index=True).sort_values(CELL, kind="stable").reset_index(
        drop=True) if len(not_scored) else cells.assign(status="scored")
    table, transfer = synthetic_vs_real(cells[cells["status"] == "scored"], results=main,
                                        seed=seed, replicates=replicates)
    notes = [f"{len(not_scored)} model × condition × task cell(s) not scored on every slice "
             "of the split: listed as 'not scored', left out of every other table"] \
        if len(not_scored) else []
    notes += restricted_notes(coverage)
    fold = set(split.provenance.get("calibration", {}).get("uids", [])) if split else set()
    in_fold = results["slice_uid"].isin(fold)
    outside = int((~results["slice_uid"].isin(set(kept["slice_uid"])) & ~in_fold).sum())
    if in_fold.any():
        notes.append(f"{int(in_fold.sum())} answers on the synthetic calibration fold are not "
                     "reported here (see the council section)")
    if outside:
        notes.append(f"{outside} answers are on slices outside the split (added after it "
                     "was frozen) or in not-scored cells")
    return Analysis(cells=cells, confusion=confusion_table(main),
                    vs_plain=versus_plain(main, seed=seed, replicates=replicates),
                    breakdowns={b: breakdown(main, b, seed=seed, replicates=replicates)
                                for b in BREAKDOWNS},
                    transfer_table=table, transfer=transfer, reporting_n=reporting_n,
                    split=reporting, coverage=coverage,
                    crossed_cells=cell_metrics(crossed_rows, seed=seed, replicates=replicates),
                    baselines=frozenset(baselines), notes=notes)


def _wide_confusion(confusion: pd.DataFrame) -> pd.DataFrame:
    plain = confusion[confusion["condition"] == "plain"]
    if plain.empty:
        return plain
    wide = plain.pivot_table(index=["source", "model", "task", "truth"], columns="answer",
                             values="count", fill_value=0, aggfunc="sum")
    wide.columns = [c if c else "(unparsed)" for c in wide.columns]
    return wide.reset_index()


def mark_baselines(frame: pd.DataFrame, baselines: Collection[str]) -> pd.DataFrame:
    """``frame`` with a ``weight_free_baseline`` column after ``model`` (for CSV/Parquet)."""
    if "model" not in frame.columns or frame.empty:
        return frame
    out = frame.copy()
    out.insert(list(out.columns).index("model") + 1, "weight_free_baseline",
               out["model"].isin(set(baselines)))
    return out


def write_report(analysis: Analysis, directory: Path, *, title: str,
                 description: str = "", selection: str = "") -> Path:
    """Write tables/, figures/, summary.json, report.md and a self-contained report.html.

    ``selection`` (one line) says which trials/models/sets were selected, if any."""
    directory = Path(directory)
    tables = {"cells": analysis.cells, "coverage": analysis.coverage,
              "crossed_cells": analysis.crossed_cells, "confusion": analysis.confusion,
              "vs_plain": analysis.vs_plain, "synthetic_vs_real": analysis.transfer_table,
              **{f"by_{k}": v for k, v in analysis.breakdowns.items() if not v.empty},
              **analysis.tables}
    for name, frame in tables.items():
        marked = mark_baselines(frame, analysis.baselines)
        write_csv(marked, directory / "tables" / f"{name}.csv")
        write_parquet(marked, directory / "tables" / f"{name}.parquet")
    labelled = label_baselines(analysis.cells, analysis.baselines)
    figures: dict[str, bytes] = {}
    for source in ("synthetic", "real"):
        png = accuracy_figure(labelled, source)
        if png:
            figures[f"accuracy_{source}"] = png
    png = transfer_figure(analysis.transfer_table)
    if png:
        figures["synthetic_vs_real"] = png
    figures.update(analysis.figures)
    for name, png in figures.items():
        write_bytes_atomic(directory / "figures" / f"{name}.png", png)
    write_json({"analysis_version": ANALYSIS_VERSION,
                "split": analysis.split.__dict__, "reporting_n": analysis.reporting_n,
                "synthetic_vs_real": analysis.transfer, "baselines": sorted(analysis.baselines),
                "notes": analysis.notes, "headlines": headline_lines(analysis)},
               directory / "summary.json")
    markdown = _markdown(analysis, title=title, description=description, figures=figures,
                         selection=selection)
    write_text_atomic(directory / "report.md", markdown)
    write_text_atomic(directory / "report.html", render_html(markdown, figures, title=title))
    return directory / "report.html"


def _split_section(analysis: Analysis) -> list[str]:
    split = analysis.split
    lines = [f"\n## Reported slices\n{split.line()}" + (f" ({split.path})" if split.path
                                                         else "") + ".\n"]
    fold = split.calibration
    if fold.get("slices"):
        lines.append(f"\nSynthetic numbers are on the held-out fold. The calibration fold "
                     f"({fold['slices']} synthetic slices; units: {fold.get('unit', '?')}; "
                     f"seed {fold.get('seed', '?')}; SHA-256 {fold.get('sha256', '?')}) fitted "
                     "the majority prior and calibrated the council, and is reported nowhere "
                     "else. No real label is used by any fitted model.\n")
    lines.append("\nSlices per source and task (a model × condition × task missing any of "
                 "them is listed as not scored, never reported on fewer):\n\n")
    lines.append(markdown_table(pd.DataFrame([{"source/task": k, "slices": v}
                                              for k, v in analysis.reporting_n.items()])))
    lines += [f"- {note}\n" for note in analysis.notes]
    missing = analysis.coverage[analysis.coverage["status"] != "scored"] \
        if len(analysis.coverage) else analysis.coverage
    if len(missing):
        lines += ["\nNot scored:\n\n",
                  markdown_table(label_baselines(missing, analysis.baselines))]
    if analysis.baselines:
        lines.append("\nModels marked (baseline) are weight-free baselines (no learned "
                     f"weights): {', '.join(sorted(analysis.baselines))}.\n")
    return lines


def _markdown(analysis: Analysis, *, title: str, description: str,
              figures: dict[str, bytes], selection: str = "") -> str:
    """Summary first, then contents, then one section per topic, trial and model."""
    body = [*_split_section(analysis), _accuracy_section(analysis, figures),
            trial_sections(analysis), model_sections(analysis),
            *_versus_plain_section(analysis), *_transfer_section(analysis),
            _detail_section(analysis)]
    for section_title, text in analysis.sections:
        body += [f"\n## {section_title}\n", text]
    rest = "".join(body)
    return "".join([f"# {title}\n", description + "\n" if description else "",
                    summary_section(analysis, selection=selection), table_of_contents(rest),
                    rest])


CELL_COLUMNS = ("source", "model", "condition", "task", "n", "accuracy", "accuracy_ci_low",
                "accuracy_ci_high", "accuracy_ci_method", "units", "paraphrases",
                "accuracy_p0", "balanced_accuracy", "unparsed_rate", "status")


def _accuracy_section(analysis: Analysis, figures: dict[str, bytes]) -> str:
    cells = sources_first(analysis.cells)
    parts = ["\n## Accuracy per model, condition and task\n",
             f"95 % CIs resample the design's units ({UNIT_RULES}); score intervals at the "
             "effective sample size, never of zero width; `accuracy_ci_method` names the "
             "construction. For a model asked several prompt paraphrases (`paraphrases` "
             "> 1), `accuracy` is the mean over them — each slice's correctness averaged "
             "over its paraphrases, the interval resampling cases with all paraphrases of a "
             "slice together; `accuracy_p0` is the canonical wording alone (also in Prompt "
             "robustness), which balanced accuracy, recalls and the confusion matrices "
             "describe.\n"]
    for source in ("synthetic", "real"):
        if f"accuracy_{source}" in figures:
            rows = cells[(cells["source"] == source) & (cells["status"] == "scored")]
            n = ", ".join(f"{t} n = {int(v)}" for t, v in
                          rows.groupby("task")["n"].max().items())
            parts.append(f"\n![accuracy {source}](figures/accuracy_{source}.png)\n\n"
                         f"_Figure: {source} accuracy (%) per model (colour) and condition "
                         f"(x axis), one panel per task ({n}); bars are 95 % CIs, the dashed "
                         "line is the chance level of the task._\n")
    parts.append("\n" + markdown_table(label_baselines(
        cells[[c for c in CELL_COLUMNS if c in cells.columns]], analysis.baselines),
        max_rows=20, full="cells"))
    if len(analysis.crossed_cells):
        crossed = sources_first(analysis.crossed_cells)
        parts.append(details(
            "Accuracy in the crossed donor × host design (tabulated apart)",
            "Every donor appears in several hosts, so the interval resamples donors and "
            "hosts (pigeonhole bootstrap).\n\n" + markdown_table(label_baselines(
                crossed[[c for c in CELL_COLUMNS if c in crossed.columns]],
                analysis.baselines), max_rows=40, full="crossed_cells")))
    return "".join(parts)


def _detail_section(analysis: Analysis) -> str:
    """Recall, confusion per task and breakdowns, each collapsed."""
    def label(frame: pd.DataFrame) -> pd.DataFrame:
        return label_baselines(sources_first(frame), analysis.baselines)

    cells = analysis.cells
    recall = [c for c in cells.columns if c.startswith("recall[")]
    parts = ["\n## Details\n", "Per-class recall, confusion matrices and breakdowns "
             "(click to open).\n",
             details("Per-class recall", "A model that always gives one answer has recall 1 "
                     "for that class and 0 for the others.\n\n" + markdown_table(label(
                         cells[["source", "model", "condition", "task", *recall]]),
                         max_rows=40, full="cells"))]
    wide = _wide_confusion(analysis.confusion)
    for task in sorted(set(wide["task"])) if len(wide) else []:
        rows = wide[wide["task"] == task].dropna(axis=1, how="all")
        rows = rows.loc[:, (rows != 0).any(axis=0)]
        parts.append(details(f"Confusion matrix: {task} (plain condition)",
                             "Rows: truth; columns: answer (counts). Every condition in "
                             "[tables/confusion.csv](tables/confusion.csv).\n\n"
                             + markdown_table(label(rows), max_rows=40, full="confusion")))
    for name, frame in analysis.breakdowns.items():
        if name == "trial" or frame.empty or frame[name].nunique() <= 1:
            continue
        small = int((frame["n"] < 10).sum())
        caution = (f"{small} row(s) rest on fewer than 10 answers: read their intervals, "
                   "not their point estimates.\n\n" if small else "")
        parts.append(details(f"Accuracy by {name}", caution + markdown_table(
            label(frame), max_rows=40, full=f"by_{name}")))
    return "".join(parts)


def _versus_plain_section(analysis: Analysis) -> list[str]:
    table = analysis.vs_plain
    if table.empty:
        return ["\n## Guidance versus plain\n", markdown_table(table)]
    families = table.groupby(["source", "model"])["family_tests"].first()
    sizes = sorted(set(int(v) for v in families))
    caption = ("Paired on the same slices (designs other than the crossed one). `gain` = "
               "accuracy(condition) − accuracy(plain) with a design-aware 95 % CI, on the "
               "canonical paraphrase p0 (the paired test needs one answer per slice); "
               "`p_exact` is the exact McNemar test (it treats slices as independent; "
               "where it disagrees with the CI, trust the CI); "
               f"`p_holm` is Holm-adjusted within each source × model family: {len(families)} "
               f"families of {' or '.join(map(str, sizes))} tests each (guided conditions × "
               "tasks; `family_tests` per row).\n\n")
    return ["\n## Guidance versus plain (paired; exact McNemar, Holm)\n", caption,
            markdown_table(label_baselines(sources_first(table), analysis.baselines),
                           max_rows=20, full="vs_plain")]


def _transfer_section(analysis: Analysis) -> list[str]:
    if not analysis.transfer:
        return []
    rows = pd.DataFrame([{"task": task, **record} for task, record in
                         sorted(analysis.transfer.items())])
    return ["\n## Synthetic versus real\n",
            "Spearman ρ between synthetic and real accuracy over the model × condition cells "
            "of each task. The 95 % CI is for ρ between the cells' true accuracies: each "
            "replicate resamples each source's design units (every cell answers the same "
            "ones) and the cells, and the basic bootstrap corrects the pull of noisy cell "
            "accuracies towards ρ = 0 (docs/analysis.md: coverage 0.92–1.00 in "
            "simulation, mostly conservative). No p-value: the cells are not independent "
            "observations. Tasks are not pooled.\n\n", markdown_table(rows),
            "\n![synthetic vs real](figures/synthetic_vs_real.png)\n\n",
            f"_Figure: one point per model × condition × task cell "
            f"({len(analysis.transfer_table)} cells), synthetic accuracy (x) against real "
            "accuracy (y), coloured by task; the dashed line is equal accuracy._\n\n",
            markdown_table(label_baselines(analysis.transfer_table, analysis.baselines),
                           max_rows=20, full="synthetic_vs_real")]
