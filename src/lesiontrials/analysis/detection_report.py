"""The 3-D track's report: FROC figure per set (per model, bootstrap band), CPM table,
sensitivity vs nodule size (the size-detection design's answer), breakdowns, AUROC table.

:func:`volume_track` reads every volume set and every model run on it
(:mod:`lesiontrials.scoring.volume_runner`) and returns report sections (markdown),
figures (PNG bytes) and tables (frames, including the per-nodule hit tables for failure
analysis). Synthetic and real sets appear side by side (a ``source`` column). Intervals
resample scans, or the host CTs when a set builds several scans on one host (scans of one
host share its anatomy; benchmarks/bench_froc_hosts.py: the scan bootstrap covered
0.86–0.88 with 10 hosts × 3 scans) (:mod:`lesiontrials.scoring.detection`). When a set
also places one donor on scans of different hosts, FROC intervals draw donors as well as
hosts (two-way pigeonhole bootstrap; benchmarks/bench_froc_donors.py: with donors
reused 3–10 times hosts alone covered 0.81–0.95, hosts × donors 0.95–1.00 — conservative).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from lesiontrials.analysis.figures import figure_png
from lesiontrials.analysis.report import Analysis, label_baselines, markdown_table
from lesiontrials.analysis.volume_questions_report import (
    volume_question_markdown,
    volume_question_table,
)
from lesiontrials.anatomy import TASK_SIZE_BINS
from lesiontrials.io import write_csv
from lesiontrials.paths import Workspace
from lesiontrials.scoring import detection as det
from lesiontrials.scoring.malignancy import malignancy_breakdown, malignancy_table
from lesiontrials.scoring.volume_questions import read_volume_answers
from lesiontrials.scoring.volume_runner import (
    read_candidates,
    read_malignancy,
    scored_volume_models,
)
from lesiontrials.seeding import rng_for
from lesiontrials.slicing.volumes import VolumeSet, list_volume_sets, load_volume_set

BASELINE_MODELS = ("log_blob_3d", "brock_like")
DETECTION_BREAKDOWNS = ("size_bin", "lobe", "appearance", "stratum")
MIN_SCANS_FOR_INTERVAL = 10  # a bootstrap over fewer scans says nothing useful
OPERATING_RATE = 1.0  # FPs per scan for the hit tables and the size curve
_CURVE_RATES = tuple(float(r) for r in np.geomspace(1 / 16, 16, 33))


@dataclass
class VolumeTrack:
    sections: list[tuple[str, str]] = field(default_factory=list)
    figures: dict[str, bytes] = field(default_factory=dict)
    tables: dict[str, pd.DataFrame] = field(default_factory=dict)


@dataclass
class _Detection:
    set_name: str
    source: str
    model: str
    matching: det.Matching
    hosts: dict[str, str] | None = None  # scan uid → host, when hosts repeat
    donors: bool = False  # some donor is placed on scans of different hosts


def _repeated_hosts(scans: pd.DataFrame) -> dict[str, str] | None:
    """scan uid → host id when some host carries several scans of the set, else None
    (each scan its own unit: the scan bootstrap)."""
    hosts = scans["host_dataset"].astype(str) + "/" + scans["host_ct_id"].astype(str)
    if hosts.nunique() == len(hosts):
        return None
    return dict(zip(scans["scan_uid"].astype(str), hosts, strict=True))


def donors_cross_hosts(scans: pd.DataFrame, truth: pd.DataFrame) -> bool:
    """Whether some donor (``donor_uid`` of the truth table) is placed on scans of more
    than one host CT: then FROC intervals draw donors as well as hosts. A truth table
    without donor ids (real sets list each nodule as its own donor) never does."""
    if "donor_uid" not in truth.columns or truth.empty:
        return False
    hosts = dict(zip(scans["scan_uid"].astype(str),
                     scans["host_dataset"].astype(str) + "/" + scans["host_ct_id"].astype(str),
                     strict=True))
    frame = pd.DataFrame({"donor": truth["donor_uid"].astype(str),
                          "host": truth["scan_uid"].astype(str).map(hosts)})
    frame = frame[frame["donor"] != ""]
    return bool((frame.groupby("donor")["host"].nunique() > 1).any())


def volume_track(workspace: Workspace, *, seed: int = 0, replicates: int = 1000
                 ) -> VolumeTrack | None:
    """Everything the report shows about the volume track; None when nothing was scored."""
    detections: list[_Detection] = []
    malignancy: list[pd.DataFrame] = []
    questions: list[pd.DataFrame] = []
    for set_name in list_volume_sets(workspace):
        volume_set = load_volume_set(workspace, set_name)
        source = str(volume_set.scans["source"].iloc[0])
        for model, kind in scored_volume_models(workspace, set_name).items():
            if kind == "detector":
                candidates = read_candidates(workspace, model, set_name)
                matching = det.match(volume_set.truth, candidates,
                                     scans=volume_set.scans["scan_uid"].astype(str).tolist(),
                                     excluded=volume_set.findings)
                detections.append(_Detection(
                    set_name, source, model, matching, _repeated_hosts(volume_set.scans),
                    donors_cross_hosts(volume_set.scans, volume_set.truth)))
            elif kind == "malignancy":
                malignancy.append(_malignancy_rows(workspace, volume_set, model, source))
            elif kind == "vlm":
                hosts = (volume_set.scans["host_dataset"].astype(str) + "/"
                         + volume_set.scans["host_ct_id"].astype(str))
                host_of = dict(zip(volume_set.scans["scan_uid"].astype(str), hosts,
                                   strict=True))
                scored = read_volume_answers(workspace, model, volume_set)
                questions.append(scored.assign(
                    set=set_name, source=source, model=model,
                    host=scored["scan_uid"].astype(str).map(host_of)))
    if not detections and not malignancy and not questions:
        return None
    track = VolumeTrack()
    if detections:
        _detection_part(track, detections, seed=seed, replicates=replicates)
    if malignancy:
        _malignancy_part(track, malignancy, seed=seed, replicates=replicates)
    if questions:
        table = volume_question_table(pd.concat(questions, ignore_index=True), seed=seed)
        track.tables["volume_questions"] = table
        track.sections.append(("3-D track: zero-shot volume questions (vision-language "
                               "encoders)", volume_question_markdown(table)))
    return track


def _malignancy_rows(workspace: Workspace, volume_set: VolumeSet, model: str, source: str
                     ) -> pd.DataFrame:
    scores = read_malignancy(workspace, model, volume_set.name)
    truth = volume_set.truth.drop(columns=["scan_uid"])
    frame = scores.merge(truth, on="nodule_id", how="left", validate="one_to_one")
    hosts = _repeated_hosts(volume_set.scans)
    # the bootstrap unit: the host CT when scans repeat hosts, else the scan
    unit = (frame["scan_uid"].astype(str) if hosts is None
            else frame["scan_uid"].astype(str).map(hosts))
    return frame.assign(set=volume_set.name, source=source, model=model, resample_unit=unit)


# --------------------------------------------------------------------------- detection
def _detection_part(track: VolumeTrack, detections: list[_Detection], *, seed: int,
                    replicates: int) -> None:
    summary: list[pd.DataFrame] = []
    by_size: list[pd.DataFrame] = []
    breakdowns: list[pd.DataFrame] = []
    for d in detections:
        rng = rng_for(seed, "froc", d.set_name, d.model)
        table = det.froc_table(d.matching, rng=rng, replicates=replicates, clusters=d.hosts,
                               donors=d.donors)
        summary.append(table.assign(set=d.set_name, source=d.source, model=d.model))
        for by in DETECTION_BREAKDOWNS:
            values = d.matching.nodules[by].astype("string").fillna("")
            if values.nunique() > 1 or (by == "size_bin" and values.nunique() >= 1):
                part = det.breakdown(d.matching, by, rng=rng, replicates=replicates,
                                     clusters=d.hosts, donors=d.donors)
                part = part.assign(set=d.set_name, source=d.source, model=d.model)
                (by_size if by == "size_bin" else breakdowns).append(part)
        track.tables[f"volume_hits_{d.set_name}_{d.model}"] = det.hit_table(
            d.matching, rate=OPERATING_RATE).assign(set=d.set_name, model=d.model)
    froc = pd.concat(summary, ignore_index=True)
    track.tables["volume_froc"] = froc
    cpm = _wide(froc)
    size = pd.concat(by_size, ignore_index=True) if by_size else pd.DataFrame()
    track.tables["volume_sensitivity_by_size"] = size
    other = pd.concat(breakdowns, ignore_index=True) if breakdowns else pd.DataFrame()
    track.tables["volume_detection_breakdowns"] = other
    for set_name in sorted({d.set_name for d in detections}):
        png = froc_figure([d for d in detections if d.set_name == set_name], seed=seed,
                          replicates=replicates)
        track.figures[f"froc_{set_name}"] = png
    if not size.empty:
        track.figures["sensitivity_by_size"] = size_figure(size)
    track.sections.append(("3-D track: detection (FROC, CPM)", _detection_markdown(
        cpm, size, other, sorted({d.set_name for d in detections}))))


def _wide(froc: pd.DataFrame) -> pd.DataFrame:
    """One row per set × model: sensitivity at each FP rate and CPM with its interval."""
    rows = []
    for (set_name, source, model), part in froc.groupby(["set", "source", "model"],
                                                        sort=True):
        part = part.set_index("fp_per_scan")
        row = {"set": set_name, "source": source, "model": model,
               "scans": int(part["n_scans"].iloc[0]), "nodules": int(part["n_nodules"].iloc[0])}
        for name in part.index:
            row[f"sens@{name}"] = float(part.loc[name, "sensitivity"])
        cpm = part.loc["CPM"]
        row["CPM"] = float(cpm["sensitivity"])
        row["CPM 95% CI"] = (f"{cpm['ci_low']:.3f}–{cpm['ci_high']:.3f}"
                             if row["scans"] >= MIN_SCANS_FOR_INTERVAL else
                             f"not shown (< {MIN_SCANS_FOR_INTERVAL} scans)")
        rows.append(row)
    return pd.DataFrame(rows).drop(columns=["sens@CPM"])


def _detection_markdown(cpm: pd.DataFrame, size: pd.DataFrame, other: pd.DataFrame,
                        sets: list[str]) -> str:
    parts = ["Candidates (x, y, z mm, probability) per volume, a hit when the candidate lies "
             "within the nodule's radius (LUNA16); several candidates on one nodule count "
             "once; a candidate on a host lesion kept in a synthetic case's image (not "
             "part of the trial's truth) is neither a hit nor a false positive (LUNA16's "
             "irrelevant findings); every other candidate is a false positive. Sensitivity "
             "at 1/8 … 8 false "
             "positives per scan is the FROC curve interpolated there; the CPM is their "
             "mean. Intervals: 95 % percentile bootstrap over scans, or over host CTs "
             "when a set builds several scans on one host (they share its anatomy), "
             "drawing donors as well when one donor is placed on several hosts "
             "(two-way; conservative). "
             f"Models marked baselines ({', '.join(BASELINE_MODELS)}) are weight-free "
             "classical methods, a floor, not a state of the art.\n\n",
             _table(cpm)]
    parts += [f"\n![FROC {s}](figures/froc_{s}.png)\n" for s in sets]
    if not size.empty:
        at_one = size[size["fp_per_scan"] == "1"]
        parts += ["\n### Sensitivity vs nodule size (at 1 false positive per scan; CPM per "
                  "bin in tables/volume_sensitivity_by_size.csv)\n",
                  "\n![sensitivity by size](figures/sensitivity_by_size.png)\n",
                  _table(at_one[["set", "model", "group", "n_nodules", "sensitivity",
                                         "ci_low", "ci_high"]].rename(
                      columns={"group": "size_bin"}))]
    if not other.empty:
        cpm_rows = other[other["fp_per_scan"] == "CPM"]
        parts += ["\n### CPM by lobe, appearance and design stratum\n",
                  _table(cpm_rows[["set", "model", "by", "group", "n_nodules",
                                           "sensitivity", "ci_low", "ci_high"]]
                                 .rename(columns={"sensitivity": "CPM"}))]
    parts.append("\nPer-nodule hit tables (hit at 1 FP per scan, best probability, nearest "
                 "candidate): tables/volume_hits_{set}_{model}.csv.\n")
    return "".join(parts)


def froc_figure(detections: list[_Detection], *, seed: int, replicates: int) -> bytes:
    """FROC curves (log FP axis) of every model on one set, with 95 % bootstrap bands (over
    scans, or hosts when they repeat)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(5.6, 3.8))
    rates = np.asarray(_CURVE_RATES)
    for d in detections:
        curve = det.froc(d.matching)
        boot = det.bootstrap_froc(d.matching, rng=rng_for(seed, "froc-band", d.set_name,
                                                          d.model),
                                  replicates=replicates, rates=_CURVE_RATES,
                                  clusters=d.hosts, donors=d.donors)[:, :-1]
        with np.errstate(all="ignore"):
            low, high = np.nanquantile(boot, 0.025, axis=0), np.nanquantile(boot, 0.975, axis=0)
        line, = ax.plot(rates, det.sensitivity_at(curve.fps, curve.sensitivity, _CURVE_RATES),
                        label=f"{d.model} (CPM {curve.cpm:.2f})"
                        + (" [baseline]" if d.model in BASELINE_MODELS else ""))
        ax.fill_between(rates, low, high, color=line.get_color(), alpha=0.2, linewidth=0)
        ax.plot(det.FP_RATES, curve.at_rates, "o", color=line.get_color(), markersize=3)
    ax.set_xscale("log", base=2)
    ax.set_xlim(rates[0], rates[-1])
    ax.set_ylim(0, 1)
    ax.set_xlabel("false positives per scan")
    ax.set_ylabel("sensitivity")
    d0 = detections[0]
    ax.set_title(f"FROC · {d0.set_name} ({len(d0.matching.scans)} scans, "
                 f"{len(d0.matching.nodules)} nodules; 95 % band over scans)", fontsize=9)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=7, loc="upper left")
    png = figure_png(fig)
    plt.close(fig)
    return png


def size_figure(size: pd.DataFrame) -> bytes:
    """Sensitivity at 1 FP per scan by size bin, per set × model, with 95 % intervals."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    rows = size[size["fp_per_scan"] == "1"]
    order = [b for b in TASK_SIZE_BINS if b in set(rows["group"])]
    fig, ax = plt.subplots(figsize=(5.6, 3.4))
    groups = list(rows.groupby(["set", "model"], sort=True))
    width = 0.8 / max(len(groups), 1)
    for g, ((set_name, model), part) in enumerate(groups):
        part = part.set_index("group").reindex(order)
        x = np.arange(len(order)) + (g - (len(groups) - 1) / 2) * width
        y = part["sensitivity"].to_numpy(dtype=float)
        err = np.vstack([y - part["ci_low"].to_numpy(dtype=float),
                         part["ci_high"].to_numpy(dtype=float) - y])
        ax.errorbar(x, y, yerr=np.nan_to_num(np.clip(err, 0, None)), fmt="o", capsize=3,
                    label=f"{set_name} · {model}")
        for xi, n in zip(x, part["n_nodules"].fillna(0).astype(int), strict=True):
            ax.annotate(f"n={n}", (xi, 0.02), fontsize=6, ha="center")
    ax.set_xticks(np.arange(len(order)), [f"{b} mm" for b in order])
    ax.set_ylim(0, 1.05)
    ax.set_ylabel("sensitivity at 1 FP/scan")
    ax.set_title("Sensitivity vs nodule size (95 % interval over scans)", fontsize=9)
    ax.grid(alpha=0.3, axis="y")
    ax.legend(fontsize=7, loc="upper left")
    png = figure_png(fig)
    plt.close(fig)
    return png


# --------------------------------------------------------------------------- malignancy
def _malignancy_part(track: VolumeTrack, parts: list[pd.DataFrame], *, seed: int,
                     replicates: int) -> None:
    tables, breakdowns = [], []
    for frame in parts:
        set_name, source, model = (str(frame[c].iloc[0]) for c in ("set", "source", "model"))
        rng = rng_for(seed, "malignancy", set_name, model)
        tables.append(malignancy_table(frame, rng=rng, replicates=replicates,
                                       unit="resample_unit")
                      .assign(set=set_name, source=source, model=model))
        for by in ("size_bin", "appearance"):
            if frame[by].astype("string").fillna("").nunique() > 1:
                breakdowns.append(malignancy_breakdown(frame, by, rng=rng,
                                                       replicates=replicates,
                                                       unit="resample_unit")
                                  .assign(set=set_name, model=model))
    table = pd.concat(tables, ignore_index=True)
    track.tables["volume_malignancy"] = table
    by = pd.concat(breakdowns, ignore_index=True) if breakdowns else pd.DataFrame()
    track.tables["volume_malignancy_breakdowns"] = by
    columns = ["set", "source", "model", "metric", "estimate", "ci_low", "ci_high",
               "n_malignant", "n_benign", "n_unlabelled"]
    body = ["One probability per nodule (given its centre); AUROC (Mann–Whitney), Brier "
            "score, sensitivity/specificity calling malignant at probability ≥ 0.05 and "
            "≥ 0.10 (guideline-style risk thresholds); nodules without a label are left "
            "out and counted. Intervals: 95 % bootstrap over scans (over host CTs when a "
            "set builds several scans on one host).\n\n",
            _table(table[columns])]
    if not by.empty:
        auc = by[by["metric"] == "auroc"]
        body += ["\n### AUROC by size and appearance\n",
                 _table(auc[["set", "model", "by", "group", "estimate", "ci_low",
                                     "ci_high", "n_malignant", "n_benign"]])]
    track.sections.append(("3-D track: malignancy (AUROC)", "".join(body)))


def _table(frame: pd.DataFrame) -> str:
    """A markdown table with the weight-free baselines marked "(baseline)"."""
    return markdown_table(label_baselines(frame, BASELINE_MODELS))


def add_volume_track(analysis: Analysis, workspace: Workspace, directory: Path, *,
                     seed: int = 0, replicates: int = 1000) -> None:
    """Append the volume track (when any 3-D model was scored) to a report being written:
    its sections and figures go into ``analysis``, its tables into ``directory/tables``."""
    attach_volume_track(analysis, volume_track(workspace, seed=seed, replicates=replicates),
                        directory)


def attach_volume_track(analysis: Analysis, track: VolumeTrack | None,
                        directory: Path) -> None:
    """:func:`add_volume_track` of a track already computed (``None``: nothing scored)."""
    if track is None:
        return
    for title, body in track.sections:
        analysis.add_section(title, body)
    analysis.figures.update(track.figures)
    for name, frame in track.tables.items():
        if not frame.empty:
            write_csv(frame, directory / "tables" / f"{name}.csv")
