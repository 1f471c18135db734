"""Training patches from volume sets (``volumes/{set}/``), and the data hash.

Every scan of the chosen synthetic volume sets is read once (its CT checked against the
SHA-256 the set recorded), its patch sites planned (:func:`~lesiontrials.training.patches.
plan_sites`) and cut. The labels come from where the patch was cut; the network sees the
resampled CT only.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from lesiontrials.errors import InputError
from lesiontrials.paths import Workspace
from lesiontrials.training.patches import cut_patch, plan_sites
from lesiontrials.training.recipe import PatchRecipe


@dataclass(frozen=True)
class Patches:
    """Patches (N, P, P, P) float32 in [0, 1], presence (N,) int64, each row's scan and
    site kind (``nodule``, ``random``, ``candidate``)."""

    patches: np.ndarray
    presence: np.ndarray
    case_uids: np.ndarray  # (N,) str: the scan uid (the case uid of a rendered case)
    kinds: np.ndarray  # (N,) str

    def __len__(self) -> int:
        return int(self.patches.shape[0])

    def subset(self, mask: np.ndarray) -> Patches:
        return Patches(self.patches[mask], self.presence[mask], self.case_uids[mask],
                       self.kinds[mask])


@dataclass(frozen=True)
class PatchData:
    """What the patch model was trained on: patches, sets, trials, scans, hosts, hash."""

    patches: Patches
    sets: tuple[str, ...]
    trials: tuple[str, ...]
    case_uids: tuple[str, ...]
    host_cts: tuple[str, ...]
    digest: str


def load_patch_data(workspace: Workspace, sets: Sequence[str], *,
                    recipe: PatchRecipe) -> PatchData:
    """The patches of every scan of the synthetic volume sets ``sets`` (real scans are for
    evaluation only), in (set, scan uid, site) order, with the data hash."""
    from lesiontrials.scoring.volume_runner import iter_scans
    from lesiontrials.slicing.volumes import load_volume_set

    if not sets:
        raise InputError("no training volume set given",
                         fix="pass --set NAME (build it with `lesiontrials volumes build "
                             "TRIAL`)")
    digest = hashlib.sha256()
    cut: list[np.ndarray] = []
    presence: list[int] = []
    uids: list[str] = []
    kinds: list[str] = []
    trials: set[str] = set()
    hosts: set[str] = set()
    seen: set[str] = set()  # every scan of the sets, with patches or not
    for name in sorted(set(sets)):
        volume_set = load_volume_set(workspace, name)
        scans = volume_set.scans
        if (scans["source"] != "synthetic").any():
            raise InputError(f"volume set {name!r} holds real scans",
                             path=workspace.volume_set_dir(name) / "scans.parquet",
                             fix="train on synthetic trial volume sets only; keep real "
                                 "scans for evaluation")
        seen |= set(scans["scan_uid"].astype(str))
        trials |= {str(t) for t in scans["trial"] if str(t)}
        hosts |= {f"{d}/{c}" for d, c in zip(scans["host_dataset"].astype(str),
                                              scans["host_ct_id"].astype(str), strict=True)}
        truth, findings = volume_set.truth, volume_set.findings
        for uid, volume in iter_scans(volume_set):
            nodules = truth[truth["scan_uid"] == uid]
            kept = findings[findings["scan_uid"].astype(str) == uid]
            sites = plan_sites(volume, scan_uid=uid,
                               nodules_mm=nodules[["x_mm", "y_mm", "z_mm"]].to_numpy(float),
                               diameters_mm=nodules["diameter_mm"].to_numpy(float),
                               recipe=recipe,
                               avoid_mm=kept[["x_mm", "y_mm", "z_mm"]].to_numpy(float),
                               avoid_diameters_mm=kept["diameter_mm"].to_numpy(float))
            for site in sites:
                patch = cut_patch(volume, np.asarray(site.centre_mm), size=recipe.patch_size,
                                  spacing_mm=recipe.spacing_mm)
                digest.update(f"{name}|{uid}|{site.kind}|{site.presence}|".encode())
                digest.update(patch.tobytes())
                cut.append(patch)
                presence.append(site.presence)
                uids.append(uid)
                kinds.append(site.kind)
    if not cut:
        raise InputError(f"volume sets {sorted(set(sets))} gave no patches",
                         fix="train on sets with rendered scans")
    patches = Patches(np.stack(cut), np.asarray(presence, np.int64), np.asarray(uids),
                      np.asarray(kinds))
    return PatchData(patches=patches, sets=tuple(sorted(set(sets))),
                     trials=tuple(sorted(trials)), case_uids=tuple(sorted(seen)),
                     host_cts=tuple(sorted(hosts)),
                     digest=digest.hexdigest()[:16])
