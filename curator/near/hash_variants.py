"""Near pairs of images by any of their pHash variants, found in one banded Hamming search.

Each image has four pHashes (:func:`~curator.near.phash.phash_variants`): the whole image, its
mirror image, its centre, and the centre of the image turned 5 degrees. A pair of images matches when
one of these comparisons is close:

- whole ~ whole: re-encodes, resizes, brightness, overlays (what plain pHash finds);
- whole ~ mirror: a horizontally flipped copy;
- whole ~ centre: a copy cropped at the edges (its whole image is the original's centre);
- centre ~ centre: edits that touch the borders, such as a small rotation's filled corners;
- centre ~ rotated: a copy rotated by a few degrees either way. Turning one image 5 degrees
  counter-clockwise undoes a clockwise rotation of the other, so a copy rotated by -5 degrees matches by
  its original's turned centre, and one rotated by +5 by its own. Measured on 46 photos: 5-degree
  rotations come within 8 bits, most within 0-2 (the other variants leave them 2-18 bits apart), 3 to 7
  degrees either way within 10 bits on all of them bar one at -7, 8 degrees on 44-45.

Other comparisons (mirror ~ mirror repeats whole ~ whole; mirror ~ centre matches nothing we plant;
whole ~ rotated meets the copy's filled corners) would only add chances of a false match, so they are
left out. All variants of all images go into one
hash array and one search; each image pair keeps its closest allowed comparison.

Separately, :func:`quadrant_pairs` finds pairs that agree on at least two of their four quadrant pHashes
(:func:`~curator.near.phash.quadrant_hashes`), position by position: a copy with a caption or a logo
over part of it, whose whole-image pHash moved too far, still has its untouched quadrants. Two different
photos can share two quadrants too (the same backdrop), so these pairs are candidates for a closer
check, never accepted on their own. In the worst case, a collection shot against one backdrop, every
file goes to that check once: the cost of the embedding path, not more.
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np

from .hamming import hamming_pairs, hamming_query
from .phash import QUADRANTS, VARIANTS

WHOLE, MIRROR, CENTRE, ROTATED = range(len(VARIANTS))
COMPARISONS = ((WHOLE, WHOLE), (WHOLE, MIRROR), (WHOLE, CENTRE), (CENTRE, CENTRE), (CENTRE, ROTATED))
ALLOWED = np.zeros((len(VARIANTS), len(VARIANTS)), dtype=bool)
"""``ALLOWED[a, b]``: whether variant ``a`` of one image may match variant ``b`` of another (symmetric)."""
ALLOWED[tuple(np.array(COMPARISONS).T)] = True
ALLOWED |= ALLOWED.T


class VariantMatches(NamedTuple):
    """Image pairs ``left[i]`` ~ ``right[i]`` at ``distance[i]`` bits, by the comparison ``how[i]``
    (e.g. ``"whole~mirror"``)."""

    left: np.ndarray
    right: np.ndarray
    distance: np.ndarray
    how: np.ndarray


def _closest(found, width: int, self_join: bool) -> VariantMatches:
    """Allowed comparisons between two different images, one row per image pair (the closest)."""
    img_a, img_b, dist = found.left // width, found.right // width, found.distance
    var_a, var_b = found.left % width, found.right % width
    keep = ALLOWED[var_a, var_b] & ((img_a != img_b) if self_join else True)
    img_a, img_b, var_a, var_b, dist = (x[keep] for x in (img_a, img_b, var_a, var_b, dist))
    if self_join:  # put each pair in (low, high) order, variants with them
        swap = img_a > img_b
        img_a, img_b = np.where(swap, img_b, img_a), np.where(swap, img_a, img_b)
        var_a, var_b = np.where(swap, var_b, var_a), np.where(swap, var_a, var_b)
    order = np.lexsort((dist, img_b, img_a))
    img_a, img_b, var_a, var_b, dist = (x[order] for x in (img_a, img_b, var_a, var_b, dist))
    first = np.ones(len(order), dtype=bool)
    first[1:] = (img_a[1:] != img_a[:-1]) | (img_b[1:] != img_b[:-1])
    names = np.array([[f"{a}~{b}" for b in VARIANTS] for a in VARIANTS], dtype=object)
    return VariantMatches(img_a[first], img_b[first], dist[first], names[var_a[first], var_b[first]])


def closest_distance(variants: np.ndarray, left: np.ndarray, right: np.ndarray,
                     reference: np.ndarray | None = None) -> np.ndarray:
    """Bits between images ``left[i]`` and ``right[i]`` by their closest allowed variant comparison
    (``right`` indexes ``reference`` where given), for pairs found some other way."""
    other = variants if reference is None else reference
    best = np.full(len(left), 64, dtype=np.int64)
    for a, b in zip(*np.nonzero(ALLOWED)):
        best = np.minimum(best, np.bitwise_count(variants[left, a] ^ other[right, b]))
    return best


def variant_pairs(variants: np.ndarray, k: int, *, sure: int | None = None,
                  reference: np.ndarray | None = None) -> VariantMatches:
    """Image pairs whose closest allowed variant comparison is within ``k`` bits.

    ``variants`` (and ``reference``) are (N, 4) arrays from :func:`~curator.near.phash.phash_variants`.
    The index is banded for ``sure`` (default ``k``): every pair within ``sure`` bits is found, and
    pairs from ``sure`` to ``k`` bits only where they agree on a band (most do; see
    :mod:`curator.near.hamming`), at the cost of the exact search at ``sure``. Without ``reference``,
    pairs ``left < right`` among ``variants``; with it, ``right`` indexes ``reference``.
    """
    sure = k if sure is None else sure
    if not 0 <= sure <= k:
        raise ValueError(f"expected 0 <= sure <= k = {k}, got {sure}")
    width = len(VARIANTS)
    flat = np.ascontiguousarray(variants, np.uint64).ravel()  # image i's variant v is at i * width + v
    if reference is None:
        return _closest(hamming_pairs(flat, k, bands=sure + 1), width, True)
    ref = np.ascontiguousarray(reference, np.uint64).ravel()
    return _closest(hamming_query(flat, ref, k, bands=sure + 1), width, False)


QUADRANT_DISTANCE = 6
"""Most differing bits for two quadrant pHashes to agree. Measured on 46 photos with a caption across
the lower part: their upper quadrants stay within 0 bits, the lower ones move 2-22; no two different
photos agree on two quadrants within 10 bits."""
QUADRANTS_NEEDED = 2


def quadrant_pairs(quadrants: np.ndarray, k: int = QUADRANT_DISTANCE, need: int = QUADRANTS_NEEDED, *,
                   reference: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Image pairs ``(left, right)`` whose quadrant pHashes agree within ``k`` bits at ``need`` or more
    of the four positions (flat quadrants, hash 0, agree with nothing).

    ``quadrants`` (and ``reference``) are (N, 4) arrays from :func:`~curator.near.phash.quadrant_hashes`.
    Without ``reference``, pairs ``left < right`` among ``quadrants``; with it, ``right`` indexes
    ``reference``. One banded search per position, sorted by ``(left, right)``.
    """
    if not 1 <= need <= len(QUADRANTS):
        raise ValueError(f"expected 1 <= need <= {len(QUADRANTS)}, got {need}")
    quadrants = np.asarray(quadrants, np.uint64)
    other = quadrants if reference is None else np.asarray(reference, np.uint64)
    width = max(1, len(other))
    keys = []
    for q in range(len(QUADRANTS)):
        mine, theirs = np.flatnonzero(quadrants[:, q]), np.flatnonzero(other[:, q])
        if reference is None:
            found = hamming_pairs(quadrants[mine, q], k)
            keys.append(mine[found.left] * width + mine[found.right])
        else:
            found = hamming_query(quadrants[mine, q], other[theirs, q], k)
            keys.append(mine[found.left] * width + theirs[found.right])
    pairs, agree = np.unique(np.concatenate(keys), return_counts=True)
    pairs = pairs[agree >= need]
    return pairs // width, pairs % width
