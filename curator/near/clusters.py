"""Clusters from verified pairs: connected components (union-find done in C by scipy)."""

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
