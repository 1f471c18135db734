"""Per-patient CT-encoder features: PCA of the largest nodule's embedding.

The packaged encoder's vectors are 2048-d; a Cox model on a few hundred patients needs a
handful of covariates, so the vectors of each patient's largest embedded nodule are reduced
to ``n_components`` principal components (sklearn PCA, fitted on all patients' vectors
without outcomes — unsupervised, so no outcome leaks into the features).
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from sklearn.decomposition import PCA

from lesiontrials.errors import InputError


def embedding_components(index: pd.DataFrame, uids: np.ndarray, vectors: np.ndarray, *,
                         patients: pd.Series, n_components: int = 4,
                         source: str = "index/embeddings.parquet") -> pd.DataFrame:
    """``emb_pc1..k`` per patient (rows in the order of ``patients``: ``dataset/patient_id``).

    ``uids`` (N,) and ``vectors`` (N, D) are the embedded nodules; a patient with no
    embedded nodule is an error (re-embed or run without embeddings).
    """
    row_of = {str(u): i for i, u in enumerate(uids)}
    table = index.assign(_key=index["dataset"].astype(str) + "/" + index["patient_id"].astype(
        str), _row=index["nodule_uid"].astype(str).map(row_of))
    table = table[table["_row"].notna()].sort_values(
        ["_key", "nodule_mean_diam_mm", "nodule_uid"], ascending=[True, False, True])
    largest = table.groupby("_key", sort=True)["_row"].first()
    missing = [p for p in patients if p not in largest.index]
    if missing:
        raise InputError(f"patient {missing[0]!r} has no embedded nodule "
                         f"({len(missing)} patients in all)", path=source,
                         fix="run `lesiontrials index embed` again or pass --no-embeddings")
    matrix = vectors[largest.reindex(patients).to_numpy(dtype=int)].astype(float)
    k = min(n_components, matrix.shape[0] - 1, matrix.shape[1])
    scores = PCA(n_components=k, random_state=0).fit_transform(matrix)
    return pd.DataFrame(scores, columns=[f"emb_pc{i + 1}" for i in range(k)],
                        index=pd.Index(patients, name="patient_id"))
