"""``lesiontrials survival`` on a workspace: read the index, run the head, write JSON."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from lesiontrials.index.query import NoduleIndex
from lesiontrials.io import write_json
from lesiontrials.paths import Workspace
from lesiontrials.survival.features import patient_table, select_cohort
from lesiontrials.survival.pipeline import analyse_survival


def survival_json(workspace: Workspace) -> Path:
    """Where the survival record lives: ``survival/survival.json``."""
    return workspace.survival_dir / "survival.json"


def run_survival(workspace: Workspace, *, seed: int = 0, folds: int = 5, n_boot: int = 200,
                 penalizer: float = 0.1, embeddings: bool | None = None,
                 n_components: int = 4,
                 datasets: tuple[str, ...] | None = None) -> dict[str, Any]:
    """Run the survival head on the workspace's index and write ``survival.json``.

    ``embeddings``: use the CT encoder's ``index/embeddings.parquet`` (``None``: when it
    exists); ``datasets``: the cohort (default: :func:`select_cohort`). Returns the record
    written.
    """
    from lesiontrials.embeddings import embeddings_path, read_embeddings

    full_index = NoduleIndex.load(workspace.index_table).table
    index, excluded = select_cohort(full_index, datasets=datasets,
                                    source=str(workspace.index_table))
    table = patient_table(index, source=str(workspace.index_table))
    path = embeddings_path(workspace)
    use = path.is_file() if embeddings is None else embeddings
    extra: tuple[str, ...] = ()
    if use:
        from dataclasses import replace

        from lesiontrials.survival.embedding_features import embedding_components

        emb = read_embeddings(path)
        components = embedding_components(index, emb.uids, emb.vectors,
                                          patients=table.frame["patient_id"],
                                          n_components=n_components, source=str(path))
        frame = table.frame.join(components, on="patient_id")
        table = replace(table, frame=frame)
        extra = tuple(components.columns)
    record = analyse_survival(table, seed=seed, folds=folds, n_boot=n_boot,
                              penalizer=penalizer, extra=extra)
    record["embeddings"] = str(path) if use else None
    record["datasets"] = sorted(index["dataset"].astype(str).unique())
    record["excluded_datasets"] = excluded
    write_json(record, survival_json(workspace))
    return record
