"""Perceptual hashes (pHash, dHash) of a batch of images at once, as 64-bit unsigned integers.

Given the same resized grey pixels, the bits are exactly those of ``imagehash.phash`` and
``imagehash.dhash`` (hash_size 8): ``int(str(imagehash.phash(img)), 16) == phash_pixels(...)``.
imagehash resizes ``img.convert("L")`` with LANCZOS to 32x32 (pHash) or 9x8 (dHash); the views
:data:`~curator.near.image_load.PHASH_VIEW` and :data:`~curator.near.image_load.DHASH_VIEW` do the same.

The one difference from imagehash on a file is the decode: :func:`hash_paths` asks the JPEG decoder
for a reduced scale (still at least 64 px a side) and applies EXIF orientation, where imagehash
decodes at full size and ignores orientation. On real photos that moves a few bits (measured: 0 on
most photos, at most 4 of 64 for pHash and 5 for dHash); ``draft=False`` gives imagehash's full
decode and its exact hashes (for files without an EXIF rotation), at about 4 times the cost.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from os import PathLike

import numpy as np
import scipy.fft

from .grid_views import centre_views, turned_views
from .image_load import DHASH_VIEW, PHASH_GRID_VIEW, PHASH_VIEW, decode_all

HASH_BITS = 64


def bits_to_uint64(bits: np.ndarray) -> np.ndarray:
    """Pack (N, 8, 8) or (N, 64) booleans, row-major with the first bit most significant, into uint64.

    This is imagehash's order: its hex string read as one integer.
    """
    bits = np.asarray(bits, dtype=bool)
    bits = bits.reshape(len(bits), int(np.prod(bits.shape[1:])))
    if bits.shape[1] != HASH_BITS:
        raise ValueError(f"expected {HASH_BITS} bits per hash, got {bits.shape[1]}")
    packed = np.packbits(bits, axis=1)  # (N, 8) bytes, most significant first
    return packed.view(">u8").ravel().astype(np.uint64)


def uint64_to_bits(hashes: np.ndarray) -> np.ndarray:
    """Inverse of :func:`bits_to_uint64`: (N,) uint64 -> (N, 64) booleans."""
    hashes = np.ascontiguousarray(hashes, dtype=np.uint64)
    return np.unpackbits(hashes.astype(">u8").view(np.uint8).reshape(-1, 8), axis=1).astype(bool)


def _check_pixels(pixels: np.ndarray, shape: tuple[int, int], name: str) -> np.ndarray:
    """Guard: a stack of grey images of one shape."""
    pixels = np.asarray(pixels)
    if pixels.ndim != 3 or pixels.shape[1:] != shape:
        raise ValueError(f"expected {name} pixels of shape (N, {shape[0]}, {shape[1]}), got {pixels.shape}")
    return pixels


def _low_dct(pixels: np.ndarray) -> np.ndarray:
    """The 8x8 lowest frequencies of the 2-D DCT-II of (N, 32, 32) grey pixels, as (N, 64)."""
    pixels = _check_pixels(pixels, (32, 32), "pHash")
    # The same transform order and precision as imagehash: float64 DCT over rows, then columns.
    dct = scipy.fft.dct(scipy.fft.dct(pixels.astype(np.float64), axis=1), axis=2)
    return dct[:, :8, :8].reshape(len(pixels), HASH_BITS)


def _above_median(low: np.ndarray) -> np.ndarray:
    """pHash bits: each coefficient > the median of its row."""
    return bits_to_uint64(low > np.median(low, axis=1, keepdims=True))


# Mirroring a row of N pixels (x[n] -> x[N-1-n]) multiplies its DCT-II coefficient k by (-1)**k, so
# the mirrored image's low frequencies are the original's with the odd horizontal ones negated.
_MIRROR_SIGNS = np.tile([1.0, -1.0], 32)


def phash_pixels(pixels: np.ndarray) -> np.ndarray:
    """pHash of (N, 32, 32) grey pixels: 2-D DCT-II, top-left 8x8, each bit = coefficient > median."""
    return _above_median(_low_dct(pixels))


def phash_and_mirror(pixels: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """pHash of (N, 32, 32) grey pixels and of their horizontal mirror images, from one DCT.

    A flipped copy's pHash is then (up to resampling noise) the original's mirrored pHash, so a
    flip is found by looking up one more hash per image, at no extra decode or transform.
    """
    low = _low_dct(pixels)
    return _above_median(low), _above_median(low * _MIRROR_SIGNS)


def dhash_pixels(pixels: np.ndarray) -> np.ndarray:
    """dHash of (N, 8, 9) grey pixels (9 wide, 8 high): each bit = pixel > its left neighbour."""
    pixels = _check_pixels(pixels, (8, 9), "dHash")
    return bits_to_uint64(pixels[:, :, 1:] > pixels[:, :, :-1])


@dataclass
class Hashes:
    """pHash and dHash of each path (0 where it failed) and the per-index decode errors."""

    phash: np.ndarray
    dhash: np.ndarray
    errors: dict[int, str] = field(default_factory=dict)


def hash_views() -> dict:
    """The decode views both hashes need."""
    return {"phash": PHASH_VIEW, "dhash": DHASH_VIEW}


def hashes_from_arrays(arrays: dict[str, np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
    """(phash, dhash) from decoded views named as in :func:`hash_views`."""
    return phash_pixels(arrays["phash"]), dhash_pixels(arrays["dhash"])


VARIANTS = ("whole", "mirror", "centre", "rotated")
"""The pHash variants of :func:`phash_variants`, in column order."""


def variant_views() -> dict:
    """The decode views of :func:`phash_variants` and :func:`quadrant_hashes`: both from one reduced decode."""
    return {"phash": PHASH_VIEW, "grid": PHASH_GRID_VIEW}


def phash_variants(arrays: dict[str, np.ndarray], aspects: np.ndarray) -> np.ndarray:
    """(N, 4) uint64 pHashes, columns as :data:`VARIANTS`: the whole image, its mirror image (from the
    same DCT), its centre, and its centre turned a few degrees (both from the grid view, see
    :mod:`curator.near.grid_views`), from views named as in :func:`variant_views` and each image's
    width / height (:attr:`~curator.near.image_load.Decoded.aspects`)."""
    whole, mirror = phash_and_mirror(arrays["phash"])
    grid = arrays["grid"]
    return np.stack([whole, mirror, phash_pixels(centre_views(grid)), phash_pixels(turned_views(grid, aspects))],
                    axis=1)


QUADRANTS = ("top_left", "top_right", "bottom_left", "bottom_right")
"""The quadrant pHashes of :func:`quadrant_hashes`, in column order."""
FLAT_STD = 6.0
"""Grey-level spread below which a quadrant is flat (a clear sky, a white background, a black border):
its pHash is noise or shared by every such region, so it gets none. Measured on 46 photos: only
near-empty regions fall below it (0.1-3.7), the dimmest textured ones (a defocused page, the Hubble
deep field) sit at 9.5-13."""


def quadrant_hashes(grid: np.ndarray) -> np.ndarray:
    """(N, 4) uint64 pHashes of the quadrants of (N, 64, 64) grey pixels, columns as :data:`QUADRANTS`;
    0 for a flat quadrant, one whose pixel std is below :data:`FLAT_STD` (no pHash of a real picture is 0).

    A caption, logo or watermark over part of a copy moves its whole-image pHash, sometimes past any
    threshold, but leaves the quadrants it does not touch as they were.
    """
    grid = _check_pixels(grid, (64, 64), "quadrant")
    n = len(grid)
    quads = grid.reshape(n, 2, 32, 2, 32).transpose(0, 1, 3, 2, 4).reshape(n * 4, 32, 32)
    hashes = phash_pixels(quads)
    hashes[quads.reshape(n * 4, -1).std(axis=1) < FLAT_STD] = 0
    return hashes.reshape(n, 4)


def hash_paths(paths: Sequence[str | PathLike], *, workers: int = 2, draft: bool = True) -> Hashes:
    """pHash and dHash of image files, decoded in ``workers`` processes; unreadable files -> errors."""
    decoded = decode_all(paths, hash_views(), workers=workers, draft=draft)
    phash, dhash = hashes_from_arrays(decoded.arrays)
    bad = list(decoded.errors)
    phash[bad] = 0
    dhash[bad] = 0
    return Hashes(phash, dhash, decoded.errors)
