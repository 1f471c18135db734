"""Asking the question bank: speed of scoring and of the baselines, and the coverage of the
by-category accuracy interval. Prints JSON.

1. ``score_reply`` over a synthetic bank (every item answered with its canonical answer).
2. ``TaskAnswerer`` around the weight-free ``threshold`` and ``blob`` detectors on
   256 × 256 lung-window slices holding a disk (presence / lobe / side items).
3. The rules reader (3-D LoG detector + lobe map) on a constructed 256 × 256 × 120 chest.
4. Coverage of the 95 % case-clustered interval (:func:`accuracy_interval` with
   ``{"case": ...}``, as the "Models on the question bank" table uses) against the truth,
   when items of a case share a case effect (logit random intercept, SD ``--case-sd``),
   with the item-level Wilson interval beside it.

Usage: ``python benchmarks/bench_question_asking.py [--cases 2000] [--reps 300]``.
"""

from __future__ import annotations

import argparse
import json
import time

import numpy as np

from bench_question_bank import synthetic_cases
from lesiontrials.analysis.bootstrap import accuracy_interval
from lesiontrials.io.volumes import Volume
from lesiontrials.scoring.models.registry import load_model
from lesiontrials.scoring.questions.adapters import Asked, TaskAnswerer
from lesiontrials.scoring.questions.bank import build_bank
from lesiontrials.scoring.questions.reader import RulesReader, lobe_map
from lesiontrials.scoring.questions.scoring import score_reply
from lesiontrials.slicing.contract import Item


def _scoring(cases: int) -> dict[str, float]:
    items = build_bank(synthetic_cases(cases), seed=0)
    start = time.perf_counter()
    correct = sum(bool(score_reply(i, str(i.answer)).correct) for i in items)
    seconds = time.perf_counter() - start
    return {"items": len(items), "seconds": round(seconds, 3),
            "items_per_s": round(len(items) / seconds), "canonical_correct": correct}


def _slice(rng: np.random.Generator) -> np.ndarray:
    yy, xx = np.mgrid[:256, :256]
    image = np.full((256, 256), 200, np.uint8)  # soft tissue in the lung window
    for cx in (80, 176):
        image[((xx - cx) / 50.0) ** 2 + ((yy - 128) / 90.0) ** 2 <= 1] = 30  # lungs
    cx, cy = rng.choice([70, 180]), rng.integers(90, 170)
    image[(xx - cx) ** 2 + (yy - cy) ** 2 <= 36] = 190  # a 12-px nodule
    return image


def _baselines(n: int) -> dict[str, float]:
    rng = np.random.default_rng(0)
    views = [Item(slice_uid=f"s{k}", task="", condition="plain", profile="lung", question="",
                  options=(), image=_slice(rng), pixel_spacing_mm=0.7) for k in range(n)]
    templates = ("presence", "lobe", "side")
    asked = [Asked(f"c{k}/{t}/p0", f"c{k}", t, "choice", "", (), "", "")
             for k in range(n) for t in templates]
    out: dict[str, float] = {}
    for name in ("threshold", "blob"):
        answerer = TaskAnswerer(load_model(name))
        start = time.perf_counter()
        answerer.answer(asked, [views[k] for k in range(n) for _ in templates])
        out[f"{name}_items_per_s"] = round(len(asked) / (time.perf_counter() - start), 1)
    return out


def _reader() -> dict[str, float]:
    shape, spacing = (256, 256, 120), (1.4, 1.4, 2.5)
    affine = np.diag([*spacing, 1.0])
    ijk = np.stack(np.meshgrid(*[np.arange(n) for n in shape], indexing="ij"), axis=-1)
    world = ijk * np.array(spacing)
    ct = np.full(shape, 40.0, np.float32)
    labels = np.zeros(shape, np.int16)
    for cx, label in ((100.0, 32), (260.0, 28)):
        inside = (((world - [cx, 180.0, 150.0]) / [70.0, 110.0, 130.0]) ** 2).sum(-1) <= 1
        ct[inside] = -850.0
        labels[inside] = label
    ct[np.linalg.norm(world - [100.0, 180.0, 150.0], axis=-1) <= 5.0] = 30.0
    reader = RulesReader()
    start = time.perf_counter()
    findings = reader.findings(Volume(ct, affine), Volume(lobe_map(labels), affine))
    return {"reader_seconds_per_volume": round(time.perf_counter() - start, 2),
            "reader_findings": len(findings), "volume_shape": list(shape)}


def _coverage(reps: int, case_sd: float, n_cases: int) -> dict[str, float]:
    rng = np.random.default_rng(1)
    base = 0.0  # logit of the mean item accuracy before the case effect
    hits_clustered = hits_items = 0
    # truth: the population mean accuracy, by Monte Carlo over case effects
    effects = rng.normal(0.0, case_sd, 400_000)
    truth = float(np.mean(1.0 / (1.0 + np.exp(-(base + effects)))))
    for _ in range(reps):
        per_case = rng.integers(4, 13, n_cases)
        p_case = 1.0 / (1.0 + np.exp(-(base + rng.normal(0.0, case_sd, n_cases))))
        correct = np.concatenate([rng.random(k) < p for k, p in zip(per_case, p_case,
                                                                     strict=True)])
        cases = np.repeat(np.arange(n_cases), per_case)
        # the table weights items; the truth of the item-weighted mean is the same here,
        # as items per case are drawn independently of the case effect
        a = accuracy_interval(correct.astype(float), units={"case": cases}, rng=rng,
                              replicates=1000)
        b = accuracy_interval(correct.astype(float), units=None, rng=rng)
        hits_clustered += a.low <= truth <= a.high
        hits_items += b.low <= truth <= b.high
    return {"truth": round(truth, 3), "cases": n_cases, "case_sd_logit": case_sd,
            "reps": reps, "coverage_case_clustered": round(hits_clustered / reps, 3),
            "coverage_items_independent": round(hits_items / reps, 3)}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--cases", type=int, default=2000)
    parser.add_argument("--slices", type=int, default=60)
    parser.add_argument("--reps", type=int, default=300)
    parser.add_argument("--case-sd", type=float, default=1.0)
    args = parser.parse_args()
    result = {"scoring": _scoring(args.cases), "baselines": _baselines(args.slices),
              "reader": _reader(),
              "coverage": [_coverage(args.reps, args.case_sd, n) for n in (12, 40)]}
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
