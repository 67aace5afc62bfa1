"""All pairs of 64-bit hashes within Hamming distance ``k``, by banding (the pigeonhole principle).

Split the 64 bits into ``k + 1`` bands. Two hashes that differ in at most ``k`` bits cannot differ in
every band, so they agree exactly on at least one. For each band the hashes are sorted by a key that
puts that band in the top bits (a bit rotation, which keeps Hamming distances), so equal band values
form contiguous buckets. Every candidate is verified with a popcount of the XOR (``np.bitwise_count``).
Only numpy sorts, slices, ``searchsorted`` and ``repeat``: no Python loop per item, no all-pairs matrix.

- Self-join (:func:`hamming_pairs`): the buckets are laid out contiguously, largest first; comparing
  each member with the one ``d`` places later is then one XOR of two contiguous slices, for
  ``d = 1, 2, ...`` up to the largest bucket, over a prefix that shrinks to the buckets larger than
  ``d``. No index arrays are built; a Python loop runs over ``d`` only.
- Query (:func:`hamming_query`): each query's bucket is a range of the sorted reference
  (``searchsorted``); candidate pairs are generated with ``repeat`` in chunks.

Cost: ``(k + 1)`` sorts plus the candidates, the sum over bands and buckets of ``s**2`` (self-join)
or of bucket sizes (query). Near-linear while buckets stay small, that is while ``n`` is well below
``2 ** (64 / (k + 1))`` for evenly spread hashes; beyond that the candidates grow as
``(k + 1) * n**2 / 2 ** (64 / (k + 1))``, an inherent limit of exact-band pigeonholing at large k
(bench/dedup_image.py reports seconds for 100k and 1M random hashes).

A huge bucket (many identical or near-constant images, or very many hashes for the band width) is
capped: in a bucket of more than ``max_bucket`` hashes, each hash is compared only with the
``window`` hashes that follow it (query: the ``window`` nearest) in the bucket's sort order, which is
the order of the remaining bits. Identical hashes sit next to each other in that order, so they still
come out chained together (their clusters are complete), but two different hashes far apart inside a
capped bucket can be missed. :class:`HammingMatches` counts the capped buckets so a caller can say so.

``bands`` fewer than ``k + 1`` trades exactness for nothing extra: with the ``b`` bands of an exact
search at distance ``b - 1``, pairs up to ``k`` that agree on at least one band are verified at ``k``
too. Every pair within ``b - 1`` is still found, and most pairs a few bits further (the bands they
share) come at no extra index cost: the combined image mode takes its "ambiguous" pairs this way.
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np

BITS = 64
CHUNK_PAIRS = 1 << 22  # query candidates generated and verified at once (~100 MB of temporaries)


class HammingMatches(NamedTuple):
    """Verified pairs: ``left[i]`` and ``right[i]`` differ in ``distance[i]`` bits (at most k)."""

    left: np.ndarray
    right: np.ndarray
    distance: np.ndarray
    capped: int  # number of (band, bucket) groups that exceeded max_bucket and were windowed


def band_layout(k: int) -> list[tuple[int, int]]:
    """``(start, width)`` of ``k + 1`` bands over 64 bits, counted from the most significant bit."""
    if not 0 <= k < BITS:
        raise ValueError(f"expected 0 <= k < {BITS}, got {k}")
    n_bands = k + 1
    widths = [BITS // n_bands + (1 if b < BITS % n_bands else 0) for b in range(n_bands)]
    starts = np.concatenate([[0], np.cumsum(widths)[:-1]])
    return [(int(s), int(w)) for s, w in zip(starts, widths)]


def _rotate_left(hashes: np.ndarray, r: int) -> np.ndarray:
    """Rotate each uint64 left by ``r`` bits (puts the band starting at bit ``r`` on top)."""
    if r == 0:
        return hashes.copy()
    return (hashes << np.uint64(r)) | (hashes >> np.uint64(BITS - r))


def _as_hashes(hashes, name: str) -> np.ndarray:
    """Guard: a 1-D array of uint64 hashes."""
    arr = np.asarray(hashes)
    if arr.ndim != 1 or not (arr.dtype == np.uint64 or (arr.size == 0 and arr.dtype.kind in "iuf")):
        raise ValueError(f"expected {name} as a 1-D uint64 array, got {arr.dtype} of shape {arr.shape}")
    return arr.astype(np.uint64, copy=False)


def _ramp(counts: np.ndarray) -> np.ndarray:
    """``concatenate([arange(c) for c in counts])`` without the loop."""
    total = int(counts.sum())
    starts = np.repeat(np.cumsum(counts) - counts, counts)
    return np.arange(total, dtype=np.int64) - starts


def _chunks(counts: np.ndarray, limit: int):
    """Slices of consecutive items whose ``counts`` sum to about ``limit`` (at least one item each)."""
    ends = np.cumsum(counts)
    start = 0
    while start < len(counts):
        base = ends[start - 1] if start else 0
        stop = max(start + 1, int(np.searchsorted(ends, base + limit, side="right")))
        yield slice(start, stop)
        start = stop


def _verify(a: np.ndarray, b: np.ndarray, ha: np.ndarray, hb: np.ndarray, k: int):
    """Keep candidate pairs ``(a, b)`` whose hashes ``ha``/``hb`` differ in at most ``k`` bits."""
    dist = np.bitwise_count(ha ^ hb)
    keep = dist <= k
    return a[keep], b[keep], dist[keep].astype(np.uint8)


def _bucket_layout(band: np.ndarray, max_bucket: int) -> tuple[np.ndarray, np.ndarray, int]:
    """Rearrange sorted positions so buckets are contiguous: capped buckets first, then the rest by
    size, largest first; singletons are dropped.

    Returns the rearranged positions, the sizes in that order, and the number of capped buckets.
    """
    n = len(band)
    starts = np.flatnonzero(np.concatenate([[True], band[1:] != band[:-1]]))
    sizes = np.diff(np.append(starts, n))
    keep = sizes > 1
    starts, sizes = starts[keep], sizes[keep]
    rank = np.where(sizes > max_bucket, np.iinfo(np.int64).max, sizes)
    by = np.argsort(-rank, kind="stable")
    starts, sizes = starts[by], sizes[by]
    positions = np.repeat(starts, sizes) + _ramp(sizes)
    return positions, sizes, int((sizes > max_bucket).sum())


def _self_band(hashes: np.ndarray, start: int, width: int, k: int, max_bucket: int, window: int):
    """Verified pairs (and the number of capped buckets) from one band, in original indices.

    With the buckets laid out contiguously, largest first, "each member against the member ``d``
    places after it" is one XOR of two contiguous slices; the slice shrinks to the buckets larger
    than ``d``. A pair straddling two buckets is compared too: harmless, it is verified like any other.
    """
    keys = _rotate_left(hashes, start)  # a rotation keeps Hamming distances
    order = np.argsort(keys, kind="stable")
    keys = keys[order]
    positions, sizes, capped = _bucket_layout(keys >> np.uint64(BITS - width), max_bucket)
    keys, order = keys[positions], order[positions]
    cap_end = int(sizes[:capped].sum())
    uncapped = sizes[capped:]
    longest = int(uncapped[0]) if len(uncapped) else 0
    totals = np.concatenate([[0], np.cumsum(uncapped)])
    xor, dist, near = np.empty(len(keys), np.uint64), np.empty(len(keys), np.uint8), np.empty(len(keys), bool)
    out = []
    for d in range(1, max(longest, window + 1 if capped else 0)):
        lo = 0 if (capped and d <= window) else cap_end
        # uncapped buckets with more than d members are a prefix (sizes descend)
        hi = cap_end + int(totals[np.searchsorted(-uncapped, -d, side="left")])
        m = hi - lo - d
        if m <= 0:
            continue
        np.bitwise_xor(keys[lo:hi - d], keys[lo + d:hi], out=xor[:m])
        np.bitwise_count(xor[:m], out=dist[:m])
        hit = np.flatnonzero(np.less_equal(dist[:m], k, out=near[:m]))
        if len(hit):
            out.append((order[lo + hit], order[lo + d + hit], dist[hit]))
    return out, capped


def _finish(parts: list, n_right: int | None) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Concatenate verified pairs from all bands and drop repeats (a pair can match in several bands).

    For a self-join (``n_right`` None) pairs are put in ``left < right`` order first.
    """
    if not parts:
        empty = np.zeros(0, dtype=np.int64)
        return empty, empty.copy(), np.zeros(0, dtype=np.uint8)
    a = np.concatenate([p[0] for p in parts]).astype(np.int64)
    b = np.concatenate([p[1] for p in parts]).astype(np.int64)
    d = np.concatenate([p[2] for p in parts])
    if n_right is None:
        a, b = np.minimum(a, b), np.maximum(a, b)
        n_right = int(b.max()) + 1 if len(b) else 1
    _, first = np.unique(a * n_right + b, return_index=True)  # sorted by (left, right)
    return a[first], b[first], d[first]


def _layout(k: int, bands: int | None, max_bucket: int, window: int) -> list[tuple[int, int]]:
    """Guard clauses shared by the self-join and the query; the band layout (``k + 1`` bands by default)."""
    band_layout(k)
    if max_bucket < 2 or window < 1:
        raise ValueError(f"expected max_bucket >= 2 and window >= 1, got {max_bucket} and {window}")
    if bands is not None and not 1 <= bands <= k + 1:
        raise ValueError(f"expected 1 <= bands <= k + 1 = {k + 1}, got {bands}")
    return band_layout(k if bands is None else bands - 1)


def hamming_pairs(hashes, k: int, *, bands: int | None = None, max_bucket: int = 8192,
                  window: int = 256) -> HammingMatches:
    """All pairs ``i < j`` with ``popcount(hashes[i] ^ hashes[j]) <= k``, sorted by ``(i, j)``.

    Exact (the same pairs as brute force) unless a band bucket holds more than ``max_bucket`` hashes,
    or ``bands`` is below ``k + 1``; see the module docstring for what happens then.
    """
    hashes = _as_hashes(hashes, "hashes")
    layout = _layout(k, bands, max_bucket, window)
    parts, capped = [], 0
    if len(hashes) > 1:
        for start, width in layout:
            found, c = _self_band(hashes, start, width, k, max_bucket, window)
            parts += found
            capped += c
    return HammingMatches(*_finish(parts, None), capped)


def _query_band(queries: np.ndarray, reference: np.ndarray, start: int, width: int, k: int,
                max_bucket: int, window: int):
    """Verified (query, reference) pairs from one band, and the number of queries whose bucket was capped."""
    ref_keys = _rotate_left(reference, start)
    order = np.argsort(ref_keys, kind="stable")
    ref_sorted = ref_keys[order]
    shift = np.uint64(BITS - width)
    q_keys = _rotate_left(queries, start)
    q_band = q_keys >> shift
    lo = np.searchsorted(ref_sorted, q_band << shift, side="left")
    hi = np.searchsorted(ref_sorted >> shift, q_band, side="right")  # ref_sorted >> shift is sorted too
    big = (hi - lo) > max_bucket
    # In a capped bucket, take the `window` references nearest the query in the bucket's sort order.
    centre = np.searchsorted(ref_sorted, q_keys)
    lo = np.where(big, np.clip(centre - window // 2, lo, np.maximum(lo, hi - window)), lo)
    hi = np.where(big, np.minimum(hi, lo + window), hi)
    counts = hi - lo
    out = []
    for sl in _chunks(counts, CHUNK_PAIRS):
        c = counts[sl]
        q = np.repeat(np.arange(sl.start, sl.stop), c)
        r = np.repeat(lo[sl], c) + _ramp(c)  # positions in sorted order: contiguous reads
        q, r, d = _verify(q, r, q_keys[q], ref_sorted[r], k)  # rotated keys keep distances
        out.append((q, order[r], d))
    return out, int(big.sum())


def hamming_query(queries, reference, k: int, *, bands: int | None = None, max_bucket: int = 8192,
                  window: int = 256) -> HammingMatches:
    """All ``(q, r)`` with ``popcount(queries[q] ^ reference[r]) <= k``, sorted by ``(q, r)``.

    ``left`` indexes ``queries`` and ``right`` indexes ``reference``. ``capped`` counts (band, query)
    lookups whose bucket held more than ``max_bucket`` references and was cut to the ``window``
    nearest in sort order. ``bands`` as in :func:`hamming_pairs`.
    """
    queries = _as_hashes(queries, "queries")
    reference = _as_hashes(reference, "reference")
    layout = _layout(k, bands, max_bucket, window)
    parts, capped = [], 0
    if len(queries) and len(reference):
        for start, width in layout:
            found, c = _query_band(queries, reference, start, width, k, max_bucket, window)
            parts += found
            capped += c
    return HammingMatches(*_finish(parts, len(reference)), capped)
