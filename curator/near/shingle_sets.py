"""Shingle sets as hashes, and their exact overlaps: Jaccard and containment of many pairs at once.

A :class:`ShingleHashes` holds many rows of 64-bit hashes back to back (CSR layout). Its
:meth:`~ShingleHashes.unique` form is each row's *set*: distinct values, sorted, keyed on the top 48
bits of the hash (so a row of 10,000 shingles has two of them collide with probability ~2e-7,
and two rows share a false element with probability ~|A||B| / 2**48). "Exact" Jaccard and
containment here mean exact on these sets; MinHash estimates are what the LSH path uses.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

_KEEP = 48  # hash bits a set keeps: the rest of a uint64 sort key holds the row number


def offsets_of(sizes: np.ndarray) -> np.ndarray:
    """CSR offsets (length n + 1) from row sizes."""
    out = np.zeros(len(sizes) + 1, dtype=np.int64)
    np.cumsum(sizes, out=out[1:])
    return out


@dataclass(frozen=True)
class ShingleHashes:
    """Hashes of many rows: row ``i`` is ``hashes[offsets[i]:offsets[i + 1]]``."""

    hashes: np.ndarray
    offsets: np.ndarray

    def __len__(self) -> int:
        return len(self.offsets) - 1

    def sizes(self) -> np.ndarray:
        """Number of hashes in each row."""
        return np.diff(self.offsets)

    def row(self, i: int) -> np.ndarray:
        """The hashes of row ``i``."""
        return self.hashes[self.offsets[i]:self.offsets[i + 1]]

    def row_ids(self) -> np.ndarray:
        """The row of every hash."""
        return np.repeat(np.arange(len(self), dtype=np.int64), self.sizes())

    def unique(self, rows_per_sort: int = 1 << 15) -> ShingleHashes:
        """Each row's distinct hashes (top 48 bits), sorted: the row's shingle *set*.

        One uint64 sort per block of rows, the row number in the key's top 16 bits.
        """
        parts = []
        for lo in range(0, len(self), rows_per_sort):
            block = self.slice(lo, lo + rows_per_sort)
            key = block.row_ids().astype(np.uint64) << np.uint64(_KEEP)
            key |= block.hashes >> np.uint64(64 - _KEEP)
            key.sort()
            keep = np.ones(key.size, dtype=bool)
            keep[1:] = key[1:] != key[:-1]
            key = key[keep]
            rows = (key >> np.uint64(_KEEP)).astype(np.int64)
            sizes = np.bincount(rows, minlength=len(block))
            parts.append(ShingleHashes(key & np.uint64((1 << _KEEP) - 1), offsets_of(sizes)))
        return concat(parts) if parts else self

    def slice(self, lo: int, hi: int) -> ShingleHashes:
        """Rows ``lo`` to ``hi`` (exclusive)."""
        off = self.offsets[lo:min(hi, len(self)) + 1]
        return ShingleHashes(self.hashes[off[0]:off[-1]], off - off[0])

    def take(self, rows: np.ndarray) -> ShingleHashes:
        """The given rows, in the given order (a row may repeat)."""
        rows = np.asarray(rows, dtype=np.int64)
        sizes = self.sizes()[rows]
        offsets = offsets_of(sizes)
        index = np.arange(offsets[-1], dtype=np.int64)
        index += np.repeat(self.offsets[rows] - offsets[:-1], sizes)
        return ShingleHashes(self.hashes[index], offsets)


def concat(parts: Sequence[ShingleHashes]) -> ShingleHashes:
    """Rows of several ``ShingleHashes``, one after another."""
    if not parts:
        return ShingleHashes(np.zeros(0, dtype=np.uint64), np.zeros(1, dtype=np.int64))
    sizes = np.concatenate([p.sizes() for p in parts])
    return ShingleHashes(np.concatenate([p.hashes for p in parts]), offsets_of(sizes))


def overlap(a: ShingleHashes, left, b: ShingleHashes, right, pairs_per_sort: int = 1 << 16) -> np.ndarray:
    """``|a[left[k]] & b[right[k]]|`` for every pair k, all pairs at once (sets from ``unique``).

    Each value of both sides becomes ``pair << 48 | hash`` (a set keeps 48 hash bits), so one
    plain sort puts a shared value of a pair next to its twin and nothing else; the pair of each
    adjacent equal twin is counted. Blocks of ``pairs_per_sort`` pairs fill the 16 pair bits.
    """
    left, right = np.asarray(left, dtype=np.int64), np.asarray(right, dtype=np.int64)
    if left.shape != right.shape:
        raise ValueError(f"expected pair arrays of one length, got {left.shape} and {right.shape}")
    if not 1 <= pairs_per_sort <= 1 << (64 - _KEEP):
        raise ValueError(f"expected pairs_per_sort in [1, {1 << (64 - _KEEP)}], got {pairs_per_sort!r}")
    for side in (a, b):
        if side.hashes.size and side.hashes.max() >> np.uint64(_KEEP):
            raise ValueError(f"expected shingle sets of {_KEEP}-bit hashes (ShingleHashes.unique()), got wider")
    out = np.zeros(len(left), dtype=np.int64)
    for lo in range(0, len(left), pairs_per_sort):
        keys = [_keyed(side.take(rows[lo:lo + pairs_per_sort])) for side, rows in ((a, left), (b, right))]
        key = np.sort(np.concatenate(keys))
        twin = key[1:][key[1:] == key[:-1]]
        out[lo:lo + pairs_per_sort] = np.bincount((twin >> np.uint64(_KEEP)).astype(np.int64),
                                                  minlength=min(pairs_per_sort, len(left) - lo))
    return out


def _keyed(picked: ShingleHashes) -> np.ndarray:
    """``row << 48 | hash`` for every value of the picked rows (row = the pair number)."""
    return picked.hashes | (picked.row_ids().astype(np.uint64) << np.uint64(_KEEP))


def jaccard(a: ShingleHashes, left, b: ShingleHashes, right) -> np.ndarray:
    """Exact Jaccard ``|A & B| / |A | B|`` of each pair; two empty sets score 0 (never a match)."""
    inter = overlap(a, left, b, right)
    union = a.sizes()[left] + b.sizes()[right] - inter
    return np.divide(inter, union, out=np.zeros(len(inter)), where=union > 0)


def containment(a: ShingleHashes, left, b: ShingleHashes, right) -> np.ndarray:
    """Exact containment ``|A & B| / |A|`` of each pair: the share of A inside B (0 if A is empty)."""
    inter = overlap(a, left, b, right)
    size = a.sizes()[left]
    return np.divide(inter, size, out=np.zeros(len(inter)), where=size > 0)
