"""Pairs of unit vectors with cosine similarity at or above a threshold, computed in blocks.

The similarity matrix is never held whole: rows and columns go ``block`` at a time (a 2,048 x 2,048
float32 tile is 16 MB), and each tile keeps only the entries above the threshold. Memory is
``O(block**2 + pairs)``; time is the full ``N x M / 2`` dot products (BLAS), which is fine to a few
hundred thousand vectors on a CPU and much further on a GPU. Past that, a candidate stage (the hash
pass, or an ANN index) should decide what to compare.
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np


class CosinePairs(NamedTuple):
    """``left[i]`` and ``right[i]`` have cosine similarity ``similarity[i]`` (>= the threshold)."""

    left: np.ndarray
    right: np.ndarray
    similarity: np.ndarray


def _as_vectors(x, name: str) -> np.ndarray:
    """Guard: a 2-D float array (rows are assumed L2-normalised), as float32."""
    x = np.asarray(x)
    if x.ndim != 2 or x.dtype.kind not in "fiu":
        raise ValueError(f"expected {name} as a 2-D numeric array, got {x.dtype} of shape {x.shape}")
    return np.ascontiguousarray(x, dtype=np.float32)


def _check(threshold: float, block: int) -> None:
    """Guard clauses shared by both searches."""
    if not -1.0 <= threshold <= 1.0:
        raise ValueError(f"expected a cosine threshold in [-1, 1], got {threshold}")
    if block < 1:
        raise ValueError(f"expected block >= 1, got {block}")


def _pack(parts: list) -> CosinePairs:
    """Concatenate per-tile results, sorted by (left, right)."""
    if not parts:
        return CosinePairs(np.zeros(0, np.int64), np.zeros(0, np.int64), np.zeros(0, np.float32))
    left, right, sim = (np.concatenate(p) for p in zip(*parts))
    order = np.lexsort((right, left))
    return CosinePairs(left[order], right[order], sim[order])


def _tile(a: np.ndarray, b: np.ndarray, a0: int, b0: int, threshold: float, upper: bool):
    """Entries of one tile ``a @ b.T`` at or above the threshold (strictly upper-triangular if ``upper``)."""
    sims = a @ b.T
    keep = sims >= threshold
    if upper:
        keep &= (np.arange(len(a))[:, None] + a0) < (np.arange(len(b))[None, :] + b0)
    i, j = np.nonzero(keep)
    return i.astype(np.int64) + a0, j.astype(np.int64) + b0, sims[i, j]


def cosine_pairs(vectors, threshold: float, *, block: int = 2048) -> CosinePairs:
    """All ``i < j`` with ``vectors[i] . vectors[j] >= threshold``, by upper-triangular tiles."""
    x = _as_vectors(vectors, "vectors")
    _check(threshold, block)
    parts = []
    for a0 in range(0, len(x), block):
        for b0 in range(a0, len(x), block):
            parts.append(_tile(x[a0:a0 + block], x[b0:b0 + block], a0, b0, threshold, upper=a0 == b0))
    return _pack(parts)


def cosine_query(queries, reference, threshold: float, *, block: int = 2048) -> CosinePairs:
    """All ``(q, r)`` with ``queries[q] . reference[r] >= threshold``; ``right`` indexes ``reference``."""
    q = _as_vectors(queries, "queries")
    r = _as_vectors(reference, "reference")
    if q.shape[1] != r.shape[1] and len(q) and len(r):
        raise ValueError(f"expected queries and reference of one width, got {q.shape[1]} and {r.shape[1]}")
    _check(threshold, block)
    parts = [_tile(q[a0:a0 + block], r[b0:b0 + block], a0, b0, threshold, upper=False)
             for a0 in range(0, len(q), block) for b0 in range(0, len(r), block)]
    return _pack(parts)


def cosine_of_pairs(vectors, left, right, *, other=None, block: int = 1 << 16) -> np.ndarray:
    """Cosine of given pairs ``vectors[left[k]] . (other or vectors)[right[k]]``, ``block`` pairs at a time."""
    x = _as_vectors(vectors, "vectors")
    y = x if other is None else _as_vectors(other, "other")
    left, right = np.asarray(left, np.int64), np.asarray(right, np.int64)
    if left.shape != right.shape:
        raise ValueError(f"expected pair arrays of one length, got {left.shape} and {right.shape}")
    out = np.empty(len(left), np.float32)
    for s in range(0, len(left), block):
        out[s:s + block] = np.einsum("ij,ij->i", x[left[s:s + block]], y[right[s:s + block]])
    return out
