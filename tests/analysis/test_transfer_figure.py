"""The synthetic-vs-real scatter counts the cells it plots."""

from __future__ import annotations

import numpy as np
import pandas as pd

from lesiontrials.analysis.figures import transfer_figure, transfer_title


def _table() -> pd.DataFrame:
    return pd.DataFrame({"task": ["lobe", "lobe", "presence", "size"],
                         "synthetic": [0.6, 0.7, 0.8, 0.5],
                         "real": [0.5, np.nan, 0.9, np.nan]})


def test_title_counts_only_cells_with_both_accuracies() -> None:
    assert transfer_title(_table()).startswith("2 model × condition × task cells")


def test_figure_is_drawn_from_a_table_with_missing_real_cells() -> None:
    png = transfer_figure(_table())
    assert png is not None and png[:8] == b"\x89PNG\r\n\x1a\n"
    assert transfer_figure(_table().drop(columns="real")) is None
