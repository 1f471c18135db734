"""Cluster-aware resampling weights for designs that reuse cases, donors and hosts.

An item's correctness is not independent of another item's when both come from the same
case (neighbouring slices, guidance conditions) or, in crossed designs, from the same
donor or the same host. Resampling items i.i.d. then understates the uncertainty. Here
the *units* the design reuses are resampled instead:

- one factor (``{"case": case_uid}``): the ordinary cluster bootstrap — cases are drawn
  with replacement and an item enters as often as its case was drawn;
- several crossed factors (``{"donor": ..., "host": ...}``): the pigeonhole bootstrap
  (Owen 2007) — each factor's levels are drawn with replacement independently and an item
  enters with multiplicity equal to the product of its levels' draw counts.

Items are first collapsed into *cells* (one per distinct combination of unit ids) holding
the sums the statistics need, so a replicate costs O(cells), not O(items), and nothing is
copied per item.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass

import numpy as np

from lesiontrials.errors import InputError


@dataclass(frozen=True)
class UnitCells:
    """Items collapsed into cells of identical unit ids.

    ``codes[f]`` is the (cells,) level index of factor ``f`` for each cell, ``levels[f]``
    the number of levels of that factor, ``item_cell`` the (items,) cell of each item.
    """

    names: tuple[str, ...]
    codes: tuple[np.ndarray, ...]
    levels: tuple[int, ...]
    item_cell: np.ndarray

    @property
    def n_cells(self) -> int:
        return int(self.item_cell.max()) + 1 if self.item_cell.size else 0

    @property
    def fewest_levels(self) -> int:
        """Levels of the factor with the fewest: the design's effective number of clusters."""
        return min(self.levels) if self.levels else 0

    def cell_sums(self, values: np.ndarray) -> np.ndarray:
        """Per-cell sums of an (items,) or (items, k) array → (cells,) or (cells, k)."""
        values = np.asarray(values, dtype=float)
        if values.ndim == 1:
            return np.bincount(self.item_cell, weights=values, minlength=self.n_cells)
        return np.stack([np.bincount(self.item_cell, weights=values[:, j],
                                     minlength=self.n_cells) for j in range(values.shape[1])],
                        axis=1)


def unit_cells(units: Mapping[str, np.ndarray] | None, n_items: int) -> UnitCells:
    """Collapse items by their unit ids; ``None`` makes every item its own unit."""
    if units is None:
        index = np.arange(n_items)
        return UnitCells(("item",), (index,), (n_items,), index)
    if not units:
        raise InputError("units is empty", column="units",
                         fix="pass None for independent items or name at least one unit")
    names, per_factor = [], []
    for name, ids in units.items():
        ids = np.asarray(ids)
        if ids.shape != (n_items,):
            raise InputError(f"unit ids '{name}' have shape {ids.shape}, expected ({n_items},)",
                             column=name, fix="give one unit id per item")
        if (ids.dtype.kind in "fc" and not np.isfinite(ids).all()) or (
                ids.dtype.kind == "O" and any(v is None or v != v for v in ids)):
            raise InputError(f"unit ids '{name}' contain missing values", column=name,
                             fix="every item needs the id of its unit (case, donor, host)")
        names.append(str(name))
        per_factor.append(np.unique(ids.astype(str), return_inverse=True)[1].ravel())
    stacked = np.stack(per_factor, axis=1)
    combos, item_cell = np.unique(stacked, axis=0, return_inverse=True)
    levels = tuple(int(c.max()) + 1 for c in per_factor)
    return UnitCells(tuple(names), tuple(combos[:, j] for j in range(len(names))), levels,
                     item_cell.ravel())


def cluster_weights(clusters: np.ndarray, *, replicates: int, rng: np.random.Generator,
                    chunk_cells: int = 2_000_000) -> Iterator[np.ndarray]:
    """Yield ``(b, cells)`` multiplicities of a one-way cluster bootstrap.

    ``clusters`` is the (cells,) cluster index of each cell (0..G−1); each replicate draws
    G clusters with replacement and a cell's multiplicity is its cluster's draw count.
    Chunks keep ``b × cells`` under ``chunk_cells`` floats.
    """
    clusters = np.asarray(clusters)
    levels = int(clusters.max()) + 1
    per_chunk = max(1, chunk_cells // max(clusters.size, 1))
    for start in range(0, replicates, per_chunk):
        size = min(per_chunk, replicates - start)
        counts = rng.multinomial(levels, np.full(levels, 1.0 / levels), size=size)
        yield counts[:, clusters].astype(float)


def clusterings(cells: UnitCells) -> list[tuple[int, np.ndarray]]:
    """Inclusion–exclusion terms of the multiway cluster variance (Cameron, Gelbach &
    Miller 2011): for every non-empty set of factors, the sign ``(−1)^(|S|+1)`` and the
    (cells,) cluster index of the intersection of those factors."""
    terms = []
    k = len(cells.codes)
    for mask in range(1, 2**k):
        chosen = [cells.codes[j] for j in range(k) if mask >> j & 1]
        keys = np.stack(chosen, axis=1)
        index = np.unique(keys, axis=0, return_inverse=True)[1].ravel()
        terms.append((1 if len(chosen) % 2 else -1, index))
    return terms


@dataclass(frozen=True)
class CaseCellSums:
    """Per resampling unit × cell: ``sums`` of correctness and ``counts`` of items, both
    (units, cells). All cells answer the same units' items (one split per source), so a
    unit drawn k times counts k times in every cell at once."""

    sums: np.ndarray
    counts: np.ndarray

    def accuracies(self, weights: np.ndarray | None = None) -> np.ndarray:
        """Cell accuracies, (cells,) — or (b, cells) with (b, units) unit ``weights``;
        NaN where a replicate drew no item of a cell."""
        if weights is None:
            with np.errstate(invalid="ignore", divide="ignore"):
                return np.asarray(self.sums.sum(axis=0) / self.counts.sum(axis=0))
        with np.errstate(invalid="ignore", divide="ignore"):
            return np.asarray((weights @ self.sums) / (weights @ self.counts))
