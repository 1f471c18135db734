"""Turn sampled (host, donor, size) choices into manifest rows: placement and companions."""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from lesiontrials import anatomy
from lesiontrials.errors import InputError
from lesiontrials.index.quality import out_of_range
from lesiontrials.index.query import NoduleIndex
from lesiontrials.seeding import int_seed
from lesiontrials.trials.capacity import fit_rows
from lesiontrials.trials.manifest import LONGITUDINAL_DEFAULTS, MANIFEST_COLUMN_NAMES
from lesiontrials.trials.pools import PlanContext
from lesiontrials.trials.spec import TrialSpec


def case_seed(global_seed: int, case_uid: str) -> int:
    """The seed of one case: the spec's seed and the case uid, hashed."""
    return int_seed(global_seed, case_uid)


#: Lobes a drawn lobe may be for each zone (thirds of the lungs' cranio-caudal extent):
#: the upper third holds the upper lobes, the lower third the lower lobes, the middle
#: third every lobe. Placement then realises and verifies the zone inside the lobe.
ZONE_LOBES: dict[str, tuple[str, ...]] = {
    anatomy.Zone.UPPER.value: (anatomy.Lobe.RUL.value, anatomy.Lobe.LUL.value),
    anatomy.Zone.MIDDLE.value: tuple(lobe.value for lobe in anatomy.Lobe),
    anatomy.Zone.LOWER.value: (anatomy.Lobe.RLL.value, anatomy.Lobe.LLL.value),
}


def lobe_weights(spec: TrialSpec) -> dict[str, float]:
    """The lobes a nodule of ``spec`` may be drawn into, with their weights: the spec's
    lobe weights (or nodule lobe frequencies) within its sides and zones."""
    weights = spec.lobes or {lobe.value: w for lobe, w in anatomy.NODULE_LOBE_FREQUENCY.items()}
    if spec.sides:
        weights = {k: w for k, w in weights.items()
                   if anatomy.parse_lobe(k).side.value in spec.sides}
    if spec.zones:
        reach = {lobe for zone in spec.zones for lobe in ZONE_LOBES[zone]}
        weights = {k: w for k, w in weights.items() if k in reach}
    if not weights or sum(weights.values()) <= 0:
        raise InputError(f"no lobe satisfies lobes={spec.lobes}, sides={spec.sides}, "
                         f"zones={spec.zones}", column="lobes/sides/zones",
                         fix="choose lobes that lie in the requested zones and sides "
                         "(upper zone: RUL, LUL; lower zone: RLL, LLL; middle: any)")
    return weights


def draw_lobes(spec: TrialSpec, n: int, rng: np.random.Generator) -> np.ndarray:
    """Target lobes from :func:`lobe_weights`."""
    weights = lobe_weights(spec)
    names = np.array(list(weights), dtype=object)
    p = np.array(list(weights.values()), dtype=float)
    return rng.choice(names, size=n, p=p / p.sum())


def placement_targets(ctx: PlanContext, spec: TrialSpec, donors: np.ndarray,
                      rng: np.random.Generator, warnings: list[str] | None = None
                      ) -> dict[str, np.ndarray]:
    """Target lobe and lobe percent positions for each donor row (-1 = nodule-free).

    ``profile_faithful`` copies the donor's reinsertion lobe and percents. A percent outside
    [0, 100] (index flag ``out_of_range``) is never clamped: that axis becomes free — set at
    insertion by ``insert/fallback.py`` (the donor's own scan, else a draw) — and is named in
    ``target_pct_fallback``; ``warnings`` gets the count per dataset and axis.
    The spec's ``zones``/``position`` go to ``target_zones``/``target_position``: placement
    draws the position inside them and verifies the realised centroid (``insert/zones.py``).
    """
    n = len(donors)
    valid = donors >= 0
    mode = spec.placement.mode
    drawn = draw_lobes(spec, n, rng)
    lobes = np.full(n, "", dtype=object)
    pct = {axis: np.full(n, np.nan) for axis in ("cc", "ml", "ap")}
    fallback = np.full(n, "", dtype=object)
    if mode == "profile_faithful":
        own = np.where(valid, ctx.index.array("reinsertion_lobe")[np.maximum(donors, 0)], "")
        lobes = np.where(own != "", own, drawn)
        located = valid & (own != "")
        for axis in pct:
            values = ctx.index.array(f"reinsertion_lobe_{axis}_pct")[np.maximum(donors, 0)]
            bad = located & out_of_range(values)
            pct[axis] = np.where(located & ~bad, values, np.nan)
            fallback = np.where(bad, np.where(fallback == "", axis, fallback + "," + axis),
                                fallback)
        _warn_fallbacks(ctx, donors, fallback, warnings)
    elif mode == "prescribed":
        lobes = drawn
        ranges = {"cc": spec.placement.lobe_cc_pct, "ml": spec.placement.lobe_ml_pct,
                  "ap": spec.placement.lobe_ap_pct}
        for axis, bounds in ranges.items():
            pct[axis] = rng.uniform(bounds.low(0.0), bounds.high(100.0), n)
    else:  # random: a lobe by nodule frequencies (or the spec's weights), position free
        lobes = drawn
    lobes = np.where(valid, lobes, "")
    return {"target_lobe": lobes, "target_lobe_cc_pct": np.where(valid, pct["cc"], np.nan),
            "target_lobe_ml_pct": np.where(valid, pct["ml"], np.nan),
            "target_lobe_ap_pct": np.where(valid, pct["ap"], np.nan),
            "target_pct_fallback": np.where(valid, fallback, ""),
            "target_zones": np.where(valid, ",".join(spec.zones), ""),
            "target_position": np.where(valid, spec.position or "", "")}


def _warn_fallbacks(ctx: PlanContext, donors: np.ndarray, fallback: np.ndarray,
                    warnings: list[str] | None) -> None:
    if warnings is None or not (fallback != "").any():
        return
    datasets = ctx.index.array("dataset")[np.maximum(donors, 0)]
    counts: dict[str, int] = {}
    for dataset, axes in zip(datasets[fallback != ""], fallback[fallback != ""], strict=True):
        for axis in str(axes).split(","):
            key = f"{dataset} {axis}"
            counts[key] = counts.get(key, 0) + 1
    detail = ", ".join(f"{k}: {v}" for k, v in sorted(counts.items()))
    warnings.append(f"percent_fallback: {int((fallback != '').sum())} profile-faithful "
                    f"nodule(s) have lobe percents outside [0, 100] ({detail}); those axes "
                    "are re-measured on the donor's own scan (else drawn inside the host "
                    "lobe) instead of clamped to its edge")


def _source_mask_paths(index: NoduleIndex) -> np.ndarray:
    """Per index row, the mask of the donor it was sampled from (``source_donor_uid``, a
    world phantom's native nodule) when that donor is in the index with a mask of its own
    (``mask_scope`` "nodule"), else ``""``."""
    sources = index.array("source_donor_uid").astype(str)
    own = index.array("mask_scope").astype(str) != "scan"  # a file of this nodule alone
    by_uid = dict(zip(index.array("nodule_uid")[own].astype(str),
                      index.array("mask_path")[own].astype(str), strict=True))
    return np.array([by_uid.get(uid, "") if uid else "" for uid in sources], dtype=object)


def _donor_columns(ctx: PlanContext, donors: np.ndarray) -> dict[str, np.ndarray]:
    index = ctx.index
    safe = np.maximum(donors, 0)
    valid = donors >= 0

    def text(column: str) -> np.ndarray:
        return np.where(valid, index.array(column)[safe].astype(str), "")

    def number(column: str) -> np.ndarray:
        return np.where(valid, index.array(column)[safe], np.nan)

    out: dict[str, np.ndarray] = {
        "donor_uid": text("nodule_uid"), "donor_dataset": text("dataset"),
        "donor_patient_id": text("patient_id"), "donor_mask_path": text("mask_path"),
        "donor_diameter_mm": number("nodule_mean_diam_mm"), "label": number("label"),
        "donor_mask_scope": text("mask_scope"),
        "donor_source_mask_path": np.where(valid, _source_mask_paths(index)[safe], ""),
        "donor_seg_path": np.where(valid & index.array("host_available")[safe],
                                   index.array("seg_path")[safe].astype(str), ""),
        "donor_x_mm": number("coordX"),
        "donor_y_mm": number("coordY"), "donor_z_mm": number("coordZ"),
    }
    for name in anatomy.LIDC_CHARACTERISTICS:
        out[f"donor_{name}"] = number(name)
    return out


def _host_columns(ctx: PlanContext, hosts: np.ndarray) -> dict[str, np.ndarray]:
    out = {column: ctx.host_array(column)[hosts] for column in (
        "host_dataset", "host_ct_id", "host_patient_id", "host_seg_path", "host_ct_path",
        "age", "sex", "smoking_status", "pack_years")}
    out["host_natives"] = ctx.host_natives()[hosts]
    return out


def build_rows(ctx: PlanContext, cohort: Any, *, trial: str, case_offset: int,
               hosts: np.ndarray, donors: np.ndarray, planned: np.ndarray,
               rng: np.random.Generator, warnings: list[str],
               host_pool_rows: np.ndarray | None = None) -> pd.DataFrame:
    """Primary rows for every case, then companion rows where the spec asks for them.

    With a data root in ``ctx``, a primary nodule too large for its target lobe moves to
    a lobe (else a host of ``host_pool_rows``) that holds it (:func:`fit_lobes`)."""
    spec: TrialSpec = cohort.spec
    n = len(hosts)
    case_index = np.arange(case_offset, case_offset + n)
    uids = np.array([f"{trial}-{i:05d}" for i in case_index], dtype=object)
    frame = pd.DataFrame({
        "trial": trial, "design": spec.design, "case_uid": uids, "case_index": case_index,
        "nodule_index": 0, "primary": True, "nodule_free": donors < 0,
        "seed": [case_seed(spec.seed, u) for u in uids],
        **_host_columns(ctx, hosts), **_donor_columns(ctx, donors),
        "placement": np.where(donors >= 0, spec.placement.mode, ""),
        **placement_targets(ctx, spec, donors, rng, warnings),
        "target_x_mm": np.nan, "target_y_mm": np.nan, "target_z_mm": np.nan,
        "min_pleural_mm": max(spec.placement.min_pleural_mm, spec.pleural_distance_mm.low(0.0)),
        "min_gap_mm": spec.companions.min_gap_mm,
        "planned_diameter_mm": planned,
        "appearance": spec.appearance,
        "stratum": cohort.stratum,
        "replicate": int(cohort.meta.get("replicate", -1)),
        "source_case_uid": "",
        "round": int(cohort.meta.get("round", -1)),
        "sweep_value": float(cohort.meta.get("sweep_value", np.nan)),
        "pairing": str(cohort.meta.get("pairing", "")),
        **LONGITUDINAL_DEFAULTS,
    })
    frame["scale"] = np.where(frame["nodule_free"], np.nan,
                              frame["planned_diameter_mm"] / frame["donor_diameter_mm"])
    frame.loc[frame["nodule_free"], "min_pleural_mm"] = np.nan
    if ctx.data_root is not None:
        frame = fit_lobes(ctx, spec, frame, hosts=hosts, donors=donors,
                          pool=hosts if host_pool_rows is None
                          else np.flatnonzero(host_pool_rows), warnings=warnings)
    if spec.companions.strategy != "none":
        companions = companion_rows(ctx, spec, frame, rng, warnings)
        frame = pd.concat([frame, companions], ignore_index=True)
        frame = frame.sort_values(["case_index", "nodule_index"], kind="stable")
    return frame.reset_index(drop=True).reindex(columns=list(MANIFEST_COLUMN_NAMES))


def fit_lobes(ctx: PlanContext, spec: TrialSpec, frame: pd.DataFrame, *, hosts: np.ndarray,
              donors: np.ndarray, pool: np.ndarray, warnings: list[str]) -> pd.DataFrame:
    """Primary rows with every nodule in a lobe that holds it
    (:func:`lesiontrials.trials.capacity.fit_rows`; moves seeded by case, listed in
    ``warnings``); a moved host brings its own host columns."""
    index_patient = (ctx.index.array("dataset").astype(str) + "|"
                     + ctx.index.array("patient_id").astype(str))
    host_patient = (ctx.host_array("host_dataset").astype(str) + "|"
                    + ctx.host_array("host_patient_id").astype(str))

    def host_ok(row: int, host: int) -> bool:
        donor = int(donors[row])
        return spec.allow_same_patient or donor < 0 or (
            host_patient[host] != index_patient[donor])

    names = ctx.host_array("host_dataset").astype(str) + "/" + ctx.host_array("host_ct_id")
    lobes, new_hosts = fit_rows(frame, capacity_of=ctx.lobe_capacity, host_rows=hosts,
                                host_names=names.astype(str),
                                allowed_lobes=lobe_weights(spec), pool=np.unique(pool),
                                host_ok=host_ok, seed=spec.seed, warnings=warnings)
    frame = frame.copy()
    frame["target_lobe"] = lobes
    moved = np.flatnonzero(new_hosts != hosts)
    if moved.size:
        for column, values in _host_columns(ctx, new_hosts[moved]).items():
            frame.loc[moved, column] = values
    return frame


def companion_rows(ctx: PlanContext, spec: TrialSpec, primaries: pd.DataFrame,
                   rng: np.random.Generator, warnings: list[str]) -> pd.DataFrame:
    """Companion nodules: the donor scan's own other nodules (``native``) or random donors."""
    cases = primaries[~primaries["nodule_free"]]
    uid_to_row = {u: i for i, u in enumerate(ctx.index.array("nodule_uid").tolist())}
    low = int(spec.companions.count.low(1))
    high = int(spec.companions.count.high(low))
    benign = np.flatnonzero((ctx.index.array("label") == 0) & ctx.index.array("mask_available"))
    patient = (ctx.index.array("dataset").astype(str) + "|"
               + ctx.index.array("patient_id").astype(str))
    picked: list[tuple[int, int, int]] = []  # (case row, companion number, donor row)
    for position, (_, case) in enumerate(cases.iterrows()):
        primary_row = uid_to_row[case["donor_uid"]]
        if spec.companions.strategy == "native":
            others = str(ctx.index.array("all_nodule_ids")[primary_row])
            names = [f"{case['donor_dataset']}/{a}" for a in others.split(",") if a]
            rows = [uid_to_row[u] for u in names if u in uid_to_row
                    and ctx.index.array("mask_available")[uid_to_row[u]]]
        else:
            k = int(rng.integers(low, high + 1))
            pool = benign[benign != primary_row]
            if not spec.allow_same_patient:  # never a nodule of the host's patient
                host = f"{case['host_dataset']}|{case['host_patient_id']}"
                pool = pool[patient[pool] != host]
            rows = rng.choice(pool, size=min(k, len(pool)), replace=False).tolist()
        picked += [(position, j + 1, r) for j, r in enumerate(rows)]
    if not picked:
        warnings.append(f"companions ({spec.companions.strategy}): no companion nodule found")
        return primaries.iloc[:0]
    case_rows = cases.iloc[[p[0] for p in picked]].reset_index(drop=True)
    donors = np.array([p[2] for p in picked])
    out = case_rows.copy()
    for column, values in _donor_columns(ctx, donors).items():
        out[column] = values
    out["nodule_index"] = [p[1] for p in picked]
    out["primary"] = False
    companion_spec = spec.model_copy(update={"placement": spec.placement.model_copy(update={
        "mode": "profile_faithful" if spec.companions.strategy == "native" else "random"})})
    for column, values in placement_targets(ctx, companion_spec, donors, rng).items():
        out[column] = values
    out["placement"] = companion_spec.placement.mode
    out["target_zones"], out["target_position"] = "", ""  # the spec's location is the primary's
    out["planned_diameter_mm"] = out["donor_diameter_mm"]
    out["scale"] = 1.0
    return out
