"""Clustering LIDC readers' annotations into physical nodules, one scan at a time.

The rule (links, greedy nearest-first merging, reading sessions) is described in the
docstring of :mod:`lesiontrials.world.lidc`.
"""

from __future__ import annotations

import re

import numpy as np

_SAME_READER_ID_GAP = 64  # numeric _nodule_id values closer than this: one reader


def link_matrix(
    centroids_mm: np.ndarray, lo_mm: np.ndarray, hi_mm: np.ndarray, *, tolerance_mm: float
) -> np.ndarray:
    """Symmetric ``(n, n)`` bool: which annotations may be the same nodule (see module doc).

    ``centroids_mm``, ``lo_mm`` and ``hi_mm`` are ``(n, 3)`` arrays (mm, any frame shared
    by all rows); the diagonal is False.
    """
    half = tolerance_mm / 2.0
    lo, hi = lo_mm - half, hi_mm + half
    boxes = np.all((lo[:, None] <= hi[None]) & (lo[None] <= hi[:, None]), axis=-1)
    c = centroids_mm[:, None]
    inside = np.all((c >= lo_mm[None] - tolerance_mm) & (c <= hi_mm[None] + tolerance_mm), -1)
    linked = boxes & inside & inside.T
    np.fill_diagonal(linked, False)
    return linked


def _same_reader_likely(prev_ref: str, ref: str) -> bool:
    """True when consecutive ``_nodule_id`` values look like one reader's numbering."""
    if not prev_ref or not ref:
        return False
    if prev_ref.isdigit() and ref.isdigit():
        return abs(int(prev_ref) - int(ref)) <= _SAME_READER_ID_GAP
    style = re.sub(r"\d+", "#", ref)
    return style == re.sub(r"\d+", "#", prev_ref) and not ref.isdigit()


def infer_sessions(nodule_refs: list[str]) -> np.ndarray:
    """Reading-session number per annotation, annotations given in database order.

    One reader's annotations are stored contiguously. A new session starts where the
    ``_nodule_id`` does not continue the previous one's numbering (:func:`_same_reader_likely`)
    or repeats an id of the current run. Splitting too often only weakens the clustering
    constraint; it never merges two readers.
    """
    refs = [ref.strip() for ref in nodule_refs]
    sessions = np.zeros(len(refs), dtype=np.int64)
    start = 0
    for i in range(1, len(refs)):
        new = not _same_reader_likely(refs[i - 1], refs[i]) or refs[i] in refs[start:i]
        if new:
            start = i
        sessions[i] = sessions[i - 1] + int(new)
    return sessions


def cluster_annotations(
    linked: np.ndarray, centroids_mm: np.ndarray, sessions: np.ndarray
) -> np.ndarray:
    """Cluster label per annotation (0, 1, … by first member), greedy nearest-first.

    Linked pairs are merged in order of centroid distance (ties by index) unless the two
    groups share a reading session.
    """
    n = linked.shape[0]
    parent = np.arange(n)
    members: dict[int, set[int]] = {i: {int(sessions[i])} for i in range(n)}

    def root(i: int) -> int:
        while parent[i] != i:
            parent[i] = parent[parent[i]]
            i = int(parent[i])
        return i

    ii, jj = np.nonzero(np.triu(linked, 1))
    dist = np.linalg.norm(centroids_mm[ii] - centroids_mm[jj], axis=1)
    for k in np.lexsort((jj, ii, dist)):
        a, b = root(int(ii[k])), root(int(jj[k]))
        if a == b or members[a] & members[b]:
            continue
        a, b = min(a, b), max(a, b)
        parent[b] = a
        members[a] |= members.pop(b)
    roots = np.array([root(i) for i in range(n)])
    _, labels = np.unique(roots, return_inverse=True)
    return labels.astype(np.int64)
