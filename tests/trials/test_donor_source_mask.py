"""A world phantom's native nodule carries its library source's mask into the manifest
(index ``source_donor_uid`` → ``donor_source_mask_path``), so the renderer can shape it
from the fine source (render/appearance/shape_source.py)."""

from __future__ import annotations

import numpy as np

from lesiontrials.index import NoduleIndex
from lesiontrials.trials import PlanContext, parse_spec, plan_spec
from lesiontrials.trials.manifest import validate_manifest
from lesiontrials.trials.rows import _source_mask_paths


def test_a_native_names_its_sources_mask_and_others_name_none(plan_ctx) -> None:
    table = plan_ctx.index.table.copy()
    table["source_donor_uid"] = ""
    table.loc[0, "source_donor_uid"] = table.loc[5, "nodule_uid"]
    table.loc[1, "source_donor_uid"] = "LIDC/not-in-this-index"
    paths = _source_mask_paths(NoduleIndex(table))
    assert paths[0] == table.loc[5, "mask_path"] and paths[0]
    assert paths[1] == "" and (paths[2:] == "").all()


def test_an_index_without_sources_names_none(plan_ctx) -> None:
    assert (_source_mask_paths(plan_ctx.index) == "").all()


def test_a_planned_native_donor_carries_its_sources_mask(plan_ctx) -> None:
    """Every LUNA25 row "was sampled from" one DLCS24 row: each planned LUNA25 donor's
    manifest row names that row's mask; other donors name none."""
    table = plan_ctx.index.table.copy()
    sources = table[table["dataset"] == "DLCS24"].reset_index(drop=True)
    natives = np.flatnonzero(table["dataset"] == "LUNA25")
    picked = sources.loc[np.arange(len(natives)) % len(sources)]
    table["source_donor_uid"] = ""
    table.loc[natives, "source_donor_uid"] = picked["nodule_uid"].to_numpy()
    expected = dict(zip(table.loc[natives, "nodule_uid"], picked["mask_path"], strict=True))
    ctx = PlanContext(NoduleIndex(table), plan_ctx.hosts)
    manifest = plan_spec(ctx, parse_spec({"name": "t", "n_cases": 40, "prevalence": 0.5,
                                          "donors": {"include": ["LUNA25", "DLCS24"]}})).manifest
    donors = manifest[manifest["donor_uid"] != ""]
    native = donors["donor_dataset"] == "LUNA25"
    assert native.any() and (~native).any()
    assert (donors.loc[native, "donor_source_mask_path"]
            == donors.loc[native, "donor_uid"].map(expected)).all()
    assert (donors.loc[~native, "donor_source_mask_path"] == "").all()


def test_a_manifest_planned_before_the_column_reads_as_none(plan_ctx) -> None:
    manifest = plan_spec(plan_ctx, parse_spec({"name": "t", "n_cases": 10})).manifest
    old = validate_manifest(manifest.drop(columns=["donor_source_mask_path"]))
    assert (old["donor_source_mask_path"] == "").all()
    assert list(old.columns) == list(manifest.columns)
