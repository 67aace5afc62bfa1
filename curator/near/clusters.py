"""Clusters from verified pairs: connected components (union-find done in C by scipy) of symmetric
pairs, and groups of directed containment pairs."""

from __future__ import annotations

import numpy as np
from scipy.sparse import coo_matrix
from scipy.sparse.csgraph import connected_components


def components(n: int, left: np.ndarray, right: np.ndarray) -> np.ndarray:
    """Cluster label of each of ``n`` items, given edges ``left[k] -- right[k]``.

    Labels are canonical: a cluster is labelled by its smallest member index, so the result does not
    depend on edge order.
    """
    left = np.asarray(left, dtype=np.int64)
    right = np.asarray(right, dtype=np.int64)
    if left.shape != right.shape:
        raise ValueError(f"expected edge arrays of one length, got {left.shape} and {right.shape}")
    if n == 0:
        return np.zeros(0, dtype=np.int64)
    graph = coo_matrix((np.ones(len(left), dtype=np.int8), (left, right)), shape=(n, n))
    _, comp = connected_components(graph, directed=False)
    smallest = np.full(comp.max() + 1, n, dtype=np.int64)
    np.minimum.at(smallest, comp, np.arange(n))
    return smallest[comp]


def best_match(n: int, left: np.ndarray, right: np.ndarray, sim: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """For each of ``n`` rows, its partner of highest similarity (then lowest index) among the
    given pairs, and that similarity; -1 and NaN for a row in no pair."""
    rows, partner, s = np.r_[left, right], np.r_[right, left], np.r_[sim, sim]
    order = np.lexsort((partner, -s, rows))
    rows, partner, s = rows[order], partner[order], s[order]
    first = np.r_[True, rows[1:] != rows[:-1]] if rows.size else np.zeros(0, dtype=bool)
    match = np.full(n, -1, dtype=np.int64)
    similarity = np.full(n, np.nan)
    match[rows[first]], similarity[rows[first]] = partner[first], s[first]
    return match, similarity


def containment_groups(n: int, left: np.ndarray, right: np.ndarray,
                       sim: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """``(cluster, match, similarity, contained)`` of ``n`` rows from distinct verified containment
    pairs: ``left[k]`` lies inside ``right[k]`` with containment ``sim[k]``.

    Containment is directed, so these are not connected components: a greeting inside 20 unrelated
    tickets must not join them. A row inside another one way (the reverse pair is absent: every
    candidate must be scored both ways) is *contained*: its match is its container (highest
    containment, then lowest index) and it joins that container's cluster alone. Rows inside each
    other both ways are near-equal and cluster as by Jaccard (scored by the lower direction),
    among the rows that are not contained. A one-way pair goes from a smaller set to a strictly
    larger one, so following containers always ends at a row that is not contained: every
    cluster holds one near-equal group of uncontained rows, the rows a dedup may keep.
    """
    left, right = np.asarray(left, dtype=np.int64), np.asarray(right, dtype=np.int64)
    sim = np.asarray(sim, dtype=np.float64)
    code, back = left * n + right, right * n + left
    order = np.argsort(code)
    at = order[np.minimum(np.searchsorted(code[order], back), max(len(code) - 1, 0))]
    mutual = code[at] == back
    contained = np.zeros(n, dtype=bool)
    contained[left[~mutual]] = True
    inner, outer, score = left[~mutual], right[~mutual], sim[~mutual]
    pick = np.lexsort((outer, -score, inner))
    inner, outer, score = inner[pick], outer[pick], score[pick]
    first = np.r_[True, inner[1:] != inner[:-1]] if inner.size else np.zeros(0, dtype=bool)
    inner, outer, score = inner[first], outer[first], score[first]
    equal = mutual & (left < right) & ~contained[left] & ~contained[right]
    a, b = left[equal], right[equal]
    match, similarity = best_match(n, a, b, np.minimum(sim[equal], sim[at][equal]))
    match[inner], similarity[inner] = outer, score
    return components(n, np.r_[a, inner], np.r_[b, outer]), match, similarity, contained


def cluster_pairs(n: int, left: np.ndarray, right: np.ndarray, sim: np.ndarray, measure: str):
    """``(cluster, match, similarity, contained)`` of ``n`` rows from verified pairs: connected
    components for a symmetric measure, directed groups for ``"containment"`` (``contained`` is None
    for a symmetric one)."""
    if measure == "containment":
        return containment_groups(n, left, right, sim)
    match, similarity = best_match(n, left, right, sim)
    return components(n, left, right), match, similarity, None
