"""Encoder-embedding features: the largest embedded nodule per patient, PCA, clear errors."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from lesiontrials.errors import InputError
from lesiontrials.survival.embedding_features import embedding_components


def _index() -> pd.DataFrame:
    return pd.DataFrame({"dataset": ["W"] * 5, "patient_id": ["a", "a", "b", "c", "d"],
                         "nodule_uid": ["n1", "n2", "n3", "n4", "n5"],
                         "nodule_mean_diam_mm": [5.0, 9.0, 7.0, 6.0, 8.0]})


def test_uses_each_patients_largest_embedded_nodule() -> None:
    rng = np.random.default_rng(0)
    vectors = rng.normal(size=(5, 16))
    vectors[1] = vectors[3] = 0.0  # n2 (a's largest) and n4 (c) identical
    uids = np.array(["n1", "n2", "n3", "n4", "n5"], dtype=object)
    out = embedding_components(_index(), uids, vectors, n_components=3,
                               patients=pd.Series(["W/a", "W/b", "W/c", "W/d"]))
    assert list(out.columns) == ["emb_pc1", "emb_pc2", "emb_pc3"]
    np.testing.assert_allclose(out.loc["W/a"].to_numpy(), out.loc["W/c"].to_numpy(), atol=1e-9)
    assert not np.allclose(out.loc["W/a"].to_numpy(), out.loc["W/b"].to_numpy())


def test_patient_without_embedding_is_an_error() -> None:
    uids = np.array(["n1", "n2", "n3"], dtype=object)
    with pytest.raises(InputError, match="'W/c' has no embedded nodule"):
        embedding_components(_index(), uids, np.ones((3, 4)),
                             patients=pd.Series(["W/a", "W/b", "W/c"]))
