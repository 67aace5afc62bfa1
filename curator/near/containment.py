"""Containment: a row whose shingles lie mostly inside another row (a test item pasted into a longer
text, or a truncated copy). ``containment(A, B) = |A & B| / |A|``, the share of A found in B.

Jaccard misses these: a 100-shingle paragraph inside a 1,000-shingle document has Jaccard 0.1
with it, and containment 1.0. Candidates come from LSH Ensemble (Zhu et al., VLDB 2016): the
rows that may contain are split into partitions by set size, and a query of size q probes
partition i (largest size u_i) with the bands ``(b, r)`` tuned for containment at the ratio
``u_i / q``. Every candidate is then verified on the actual shingle sets.

Two engines give the same candidates for the same partitions:

- ``"numpy"`` (default): all queries at once, one sort-and-search per (band size, band); the
  ``(b, r)`` table is ``datasketch.MinHashLSHEnsemble``'s own. Partitions are datasketch's
  optimal ones when there are at most 256 distinct set sizes, else equal-count size ranges
  (datasketch's optimiser is quadratic in the number of distinct sizes);
- ``"datasketch"``: ``datasketch.MinHashLSHEnsemble`` itself, one Python query per row (a few
  hundred rows a second).

The ensemble's parameters are tuned with weights (false positive 0.05, false negative 0.95), not
datasketch's (0.5, 0.5): with those, a row wholly inside one 4 times its size is a candidate only
~25% of the time at threshold 0.8 (8 times: ~4%); with these, a pair at containment 0.8 is a
candidate at least 98% of the time for size ratios up to 16, and the extra candidates only cost
a vectorised exact check.
"""

from __future__ import annotations

from functools import lru_cache

import numpy as np
from datasketch import MinHashLSHEnsemble
from datasketch.lshensemble_partition import optimal_partitions

from .lsh import NearDuplicates, assemble, band_keys, band_matches
from .minhash import empty_rows, to_datasketch
from .shingle_sets import ShingleHashes, containment

ENGINES = ("numpy", "datasketch")
_NONE = (np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.int64))


@lru_cache(maxsize=32)
def ensemble_params(threshold: float, num_perm: int, m: int, weights: tuple[float, float]):
    """datasketch's LSH Ensemble tables: the size ratios ``xqs`` and the ``(b, r)`` for each."""
    ensemble = MinHashLSHEnsemble(threshold=threshold, num_perm=num_perm, num_part=1, m=m, weights=weights)
    return ensemble.xqs, ensemble.params


def size_partitions(sizes: np.ndarray, num_part: int) -> np.ndarray:
    """Inclusive upper set size of each partition, ascending."""
    distinct, counts = np.unique(sizes, return_counts=True)
    if len(distinct) <= 256:
        return np.array([upper for _, upper in optimal_partitions(distinct, counts, num_part)])
    cum = np.cumsum(counts)
    cuts = np.searchsorted(cum, np.arange(1, num_part) * (cum[-1] / num_part))
    return np.unique(np.r_[distinct[np.minimum(cuts, len(distinct) - 1)], distinct[-1]])


def _numpy_candidates(query_sigs, query_sizes, index_sigs, index_sizes, threshold, num_part, m, weights,
                      max_bucket) -> tuple[np.ndarray, np.ndarray]:
    """LSH Ensemble candidates ``(query, index)`` for all queries at once (positions in the inputs).

    Query q probes partition i with the first ``b[q, i]`` bands of size ``r[q, i]``. Per band
    size and band, each query that needs it is looked up once among all index rows, and a
    match is kept if the index row's partition wants that band for that query.
    """
    num_perm = index_sigs.shape[1]
    xqs, params = ensemble_params(threshold, num_perm, m, weights)
    uppers = size_partitions(index_sizes, num_part)
    part = np.searchsorted(uppers, index_sizes, side="left")
    k = np.searchsorted(xqs, uppers[None, :] / query_sizes[:, None].astype(np.float64), side="left")
    k = np.minimum(k, len(params) - 1)
    bands, rows = params[k, 0], params[k, 1]  # (queries x partitions)
    found = []
    for r in np.unique(rows):
        depth = np.where(rows == r, bands, 0)
        need = depth.max(axis=1)
        xkeys = band_keys(index_sigs, num_perm // r, r)
        qkeys = xkeys if query_sigs is index_sigs else band_keys(query_sigs, num_perm // r, r)
        for j in range(int(need.max())):
            live = np.flatnonzero(need > j)
            q, x = band_matches(xkeys[:, j], qkeys[live, j], max_bucket)
            q = live[q]
            keep = depth[q, part[x]] > j
            found.append(q[keep] * len(index_sigs) + x[keep])
    code = np.unique(np.concatenate(found)) if found else np.zeros(0, dtype=np.int64)
    return code // len(index_sigs), code % len(index_sigs)


def _datasketch_candidates(query_sigs, query_sizes, index_sigs, index_sizes, threshold, num_part, m, weights,
                           seed, scheme) -> tuple[np.ndarray, np.ndarray]:
    """The same, from ``datasketch.MinHashLSHEnsemble`` (one Python query per row)."""
    ensemble = MinHashLSHEnsemble(threshold=threshold, num_perm=index_sigs.shape[1], num_part=num_part, m=m,
                                  weights=weights)
    ensemble.index([(i, to_datasketch(index_sigs[i], seed, scheme), int(index_sizes[i]))
                    for i in range(len(index_sigs))])
    left, right = [], []
    for q in range(len(query_sigs)):
        hits = list(ensemble.query(to_datasketch(query_sigs[q], seed, scheme), int(query_sizes[q])))
        left.extend([q] * len(hits))
        right.extend(hits)
    return np.asarray(left, dtype=np.int64), np.asarray(right, dtype=np.int64)


def ensemble_candidates(query_sigs: np.ndarray, query_sizes: np.ndarray, index_sigs: np.ndarray,
                        index_sizes: np.ndarray, threshold: float, *, seed: int = 1, scheme: str = "affine32",
                        num_part: int = 16, m: int = 8, weights: tuple[float, float] = (0.05, 0.95),
                        engine: str = "numpy", max_bucket: int = 100) -> tuple[np.ndarray, np.ndarray]:
    """``(query_row, index_row)`` pairs that LSH Ensemble says may have
    ``containment(query, index) >= threshold``. Rows with an empty set take no part.
    ``max_bucket`` caps the index rows one query takes from one bucket, before the partition
    filter (numpy engine; datasketch's has no cap)."""
    if query_sigs.shape[1] != index_sigs.shape[1]:
        raise ValueError(f"expected signatures of one length, got {query_sigs.shape[1]} and {index_sigs.shape[1]}")
    if len(query_sizes) != len(query_sigs) or len(index_sizes) != len(index_sigs):
        raise ValueError(f"expected one set size per row, got {len(query_sizes)} for {len(query_sigs)} "
                         f"and {len(index_sizes)} for {len(index_sigs)}")
    if engine not in ENGINES:
        raise ValueError(f"expected engine in {ENGINES}, got {engine!r}")
    qrows = np.flatnonzero((np.asarray(query_sizes) > 0) & ~empty_rows(query_sigs))
    xrows = np.flatnonzero((np.asarray(index_sizes) > 0) & ~empty_rows(index_sigs))
    if qrows.size == 0 or xrows.size == 0:
        return _NONE
    same = query_sigs is index_sigs and np.array_equal(qrows, xrows)
    qsigs = query_sigs[qrows]
    args = (qsigs, np.asarray(query_sizes)[qrows], qsigs if same else index_sigs[xrows],
            np.asarray(index_sizes)[xrows], threshold, num_part, m, tuple(weights))
    q, x = _numpy_candidates(*args, max_bucket) if engine == "numpy" else _datasketch_candidates(*args, seed, scheme)
    return qrows[q], xrows[x]


def contained_duplicates(sigs: np.ndarray, sets: ShingleHashes, threshold: float = 0.8, *, seed: int = 1,
                         scheme: str = "affine32", num_part: int = 16, m: int = 8,
                         weights: tuple[float, float] = (0.05, 0.95), engine: str = "numpy") -> NearDuplicates:
    """Rows contained in other rows of the same data, verified on shingle sets.

    ``sets`` is :func:`curator.near.shingle.shingle_sets` of the texts the signatures came from.
    Pairs are directed: ``left`` lies inside ``right`` with the given containment. Every candidate
    is scored both ways, so a pair is known to be one-way (a row inside a longer one) or mutual
    (near-equal rows); see :func:`curator.near.clusters.containment_groups` for the clusters.
    """
    if len(sets) != len(sigs):
        raise ValueError(f"expected shingle sets for {len(sigs)} rows, got {len(sets)}")
    if not 0.0 < threshold <= 1.0:
        raise ValueError(f"expected a threshold in (0, 1], got {threshold!r}")
    sizes = sets.sizes()
    left, right = ensemble_candidates(sigs, sizes, sigs, sizes, threshold, seed=seed, scheme=scheme,
                                      num_part=num_part, m=m, weights=weights, engine=engine)
    other = left != right
    n = max(len(sigs), 1)
    code = np.unique(np.r_[left[other] * n + right[other], right[other] * n + left[other]])
    left, right = code // n, code % n
    sim = containment(sets, left, sets, right)
    return assemble(len(sigs), left, right, sim, threshold=threshold, measure="containment")
