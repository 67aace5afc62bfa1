"""MinHash signatures of texts, bit for bit those of ``datasketch.MinHash``, computed in bulk.

``signatures(texts, params)`` equals, row by row, the ``hashvalues`` of::

    m = datasketch.MinHash(num_perm, seed, hashfunc=curator.near.minhash.hashfunc)   # scheme affine32
    m.update_batch([s.encode("utf8") for s in shingles(text)])

(``hashfunc64`` with ``scheme="affine64"``; ``hash="sha1"`` is datasketch's default
``sha1_hash32`` / ``sha1_hash64``). An empty or missing text has datasketch's empty signature,
every value the maximum, and :func:`empty_rows` finds it so that LSH never matches it.

The fast path hashes all shingles of a batch at once (:func:`curator.near.shingle.shingle_hashes`),
then applies each permutation to all shingles of the batch, laid out as equal-width pieces of
rows so that each text's minimum is a column-wise ``np.minimum`` (:func:`minhash_rows`). The
three datasketch 2.0 schemes:

- ``affine32`` (datasketch's default): ``a * fmix32(h) + b`` in uint32, the wrap-around is the
  modulo; stored as uint32;
- ``affine64``: the same in uint64 over a 64-bit hash;
- ``legacy`` (datasketch < 2.0): ``((a * h + b) mod 2**64) mod (2**61 - 1)``, then the low 32
  bits. ``x mod p`` for ``p = 2**61 - 1`` is ``y = (x & p) + (x >> 61)``, minus ``p`` if
  ``y >= p``: since ``2**61 = 1 (mod p)``, ``x = q * 2**61 + r`` is congruent to ``q + r``, and
  ``q <= 7``, ``r <= p`` give ``q + r < 2p``, so one subtraction makes it exact. Stored as uint64.

Batches run on a pool of threads (numpy and Arrow release the GIL in every heavy step).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from functools import lru_cache

import numpy as np
from datasketch import LeanMinHash, MinHash
from datasketch.hashfunc import sha1_hash32, sha1_hash64

from .shingle import ShingleConfig, as_arrow, fmix64, in_batches, poly_hash64, shingle_hashes, shingles
from .shingle_sets import ShingleHashes, offsets_of

SCHEMES = ("affine32", "affine64", "legacy")
HASHES = ("poly64", "sha1")
_DTYPES = {"affine32": np.uint32, "affine64": np.uint64, "legacy": np.uint64}
_MAX = {"affine32": np.uint32(0xFFFFFFFF), "affine64": np.uint64(0xFFFFFFFFFFFFFFFF),
        "legacy": np.uint64(0xFFFFFFFF)}
_PRIME = np.uint64((1 << 61) - 1)
_FMIX32 = (np.uint32(16), np.uint32(0x85EBCA6B), np.uint32(13), np.uint32(0xC2B2AE35))
_LOW32 = np.uint64(0xFFFFFFFF)
#: Values permuted per numpy call: 2**17 uint32 (512 KiB) stays in L2 cache (2 MiB a core).
BLOCK = 1 << 17


def hashfunc(data: bytes) -> int:
    """Our 32-bit shingle hash, for ``datasketch.MinHash(hashfunc=hashfunc)`` (affine32, legacy)."""
    return poly_hash64(data) & 0xFFFFFFFF


def hashfunc64(data: bytes) -> int:
    """Our 64-bit shingle hash, for ``datasketch.MinHash(scheme="affine64", hashfunc=hashfunc64)``."""
    return poly_hash64(data)


@dataclass(frozen=True)
class MinHashParams:
    """Everything that must match for two signatures to be comparable."""

    num_perm: int = 128
    seed: int = 1
    scheme: str = "affine32"
    hash: str = "poly64"
    shingle: ShingleConfig = field(default_factory=ShingleConfig)

    def __post_init__(self) -> None:
        if not isinstance(self.num_perm, int) or self.num_perm < 2:
            raise ValueError(f"expected num_perm an int >= 2, got {self.num_perm!r}")
        if not isinstance(self.seed, int) or self.seed < 0:
            raise ValueError(f"expected seed a non-negative int, got {self.seed!r}")
        if self.scheme not in SCHEMES:
            raise ValueError(f"expected scheme in {SCHEMES}, got {self.scheme!r}")
        if self.hash not in HASHES:
            raise ValueError(f"expected hash in {HASHES}, got {self.hash!r}")
        if not isinstance(self.shingle, ShingleConfig):
            raise ValueError(f"expected a ShingleConfig, got {type(self.shingle).__name__}")

    @property
    def dtype(self) -> type:
        """The numpy dtype datasketch stores this scheme's hash values in."""
        return _DTYPES[self.scheme]

    def to_dict(self) -> dict:
        """Plain JSON-able form."""
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict) -> MinHashParams:
        """Inverse of :meth:`to_dict`."""
        return cls(num_perm=int(data["num_perm"]), seed=int(data["seed"]), scheme=data["scheme"],
                   hash=data["hash"], shingle=ShingleConfig.from_dict(data["shingle"]))

    def mismatches(self, other: MinHashParams) -> list[str]:
        """One ``"name: ours vs theirs"`` line per parameter that differs."""
        mine, theirs = _flat(self.to_dict()), _flat(other.to_dict())
        return [f"{k}: {mine[k]!r} vs {theirs.get(k)!r}" for k in mine if mine[k] != theirs.get(k)]


def _flat(d: dict, prefix: str = "") -> dict:
    out = {}
    for k, v in d.items():
        out.update(_flat(v, f"{prefix}{k}.") if isinstance(v, dict) else {f"{prefix}{k}": v})
    return out


@lru_cache(maxsize=32)
def permutations(num_perm: int, seed: int, scheme: str) -> tuple[np.ndarray, np.ndarray]:
    """datasketch's permutation parameters ``(a, b)``, taken from datasketch itself."""
    a, b = MinHash(num_perm=num_perm, seed=seed, scheme=scheme).permutations
    dtype = _DTYPES[scheme]
    return np.ascontiguousarray(a, dtype=dtype), np.ascontiguousarray(b, dtype=dtype)


def _fmix32(h: np.ndarray) -> np.ndarray:
    """MurmurHash3's 32-bit finaliser on a uint32 array, in place (datasketch's pre-mix)."""
    s1, m1, s2, m2 = _FMIX32
    h ^= h >> s1
    h *= m1
    h ^= h >> s2
    h *= m2
    h ^= h >> s1
    return h


def _inputs(values: np.ndarray, scheme: str) -> np.ndarray:
    """hashfunc outputs (uint64) -> what the scheme permutes: fmix'd for affine, raw for legacy."""
    if scheme == "affine32":
        return _fmix32(values.astype(np.uint32))
    if scheme == "affine64":
        return fmix64(values.copy())
    return values


def _permute(block: np.ndarray, a, b, hv: np.ndarray, scheme: str) -> np.ndarray:
    """``a * hv + b`` for one permutation ``(a, b)`` (datasketch's ``phv``), in place in ``block``."""
    np.multiply(hv, a, out=block)
    np.add(block, b, out=block)
    if scheme == "legacy":
        high = block >> np.uint64(61)
        block &= _PRIME
        block += high
        block -= _PRIME * (block >= _PRIME)
        block &= _LOW32
    return block


def piece_width(sizes: np.ndarray) -> int:
    """Width of the pieces rows are cut into: the multiple of 8 up to 256 that pads least.

    Cost per permutation: three passes (multiply, add, minimum) over the padded pieces, and,
    when some row spans several pieces, three more over one value per piece to join them.
    Ties go to the wider piece (fewer numpy calls).
    """
    widths = np.arange(256, 7, -8)  # widest first: argmin keeps the first of equal costs
    pieces = (-(-sizes[None, :] // widths[:, None])).sum(axis=1)
    joins = np.where(sizes.max(initial=0) > widths, pieces, 0)
    return int(widths[np.argmin(3 * pieces * widths + 3 * joins)])


def minhash_rows(values: np.ndarray, offsets: np.ndarray, num_perm: int, seed: int, scheme: str,
                 block: int = BLOCK) -> np.ndarray:
    """Signatures of CSR rows of hashfunc outputs: ``values[offsets[i]:offsets[i+1]]`` is row i.

    Each row is cut into pieces of ``w`` values (:func:`piece_width`), the last one padded by
    repeating the row's last value (a minimum does not change when a value repeats), and the
    pieces become the columns of a ``(w, pieces)`` matrix. One permutation is then a multiply,
    an add and a minimum down the columns, each a contiguous SIMD pass over ``block`` values at
    a time; there is no per-row reduction. Rows cut into several pieces are joined at the end
    with one ``np.minimum.reduceat`` over the pieces (``w`` times fewer values).
    """
    a, b = permutations(num_perm, seed, scheme)
    dtype = _DTYPES[scheme]
    out = np.full((len(offsets) - 1, num_perm), _MAX[scheme], dtype=dtype)
    sizes = np.diff(offsets)
    rows = np.flatnonzero(sizes > 0)  # rows with at least one input
    if rows.size == 0:
        return out
    hv = _inputs(values, scheme)
    w = piece_width(sizes[rows])
    per_row = -(-sizes[rows] // w)
    piece_offsets = offsets_of(per_row)
    first = np.repeat(offsets[rows] - piece_offsets[:-1] * w, per_row) + np.arange(piece_offsets[-1]) * w
    last = np.repeat(offsets[rows + 1] - 1, per_row)
    cols = np.minimum(first[None, :] + np.arange(w)[:, None], last[None, :])  # (w, pieces)
    piece_min = np.empty((num_perm, cols.shape[1]), dtype=dtype)
    step = max(64, block // w // 64 * 64)  # whole cache lines of columns
    scratch = np.empty((w, min(step, cols.shape[1])), dtype=dtype)
    for lo in range(0, cols.shape[1], step):
        inputs = hv[cols[:, lo:lo + step]]
        tmp = scratch[:, :inputs.shape[1]]
        for p in range(num_perm):
            np.minimum.reduce(_permute(tmp, a[p], b[p], inputs, scheme), axis=0, out=piece_min[p, lo:lo + step])
    if per_row.max() > 1:
        piece_min = np.minimum.reduceat(piece_min, piece_offsets[:-1], axis=1)
    out[rows] = piece_min.T
    return out


def _hash_values(arr, params: MinHashParams) -> tuple[np.ndarray, np.ndarray]:
    """(hashfunc output of every shingle, CSR offsets) for a batch of texts."""
    if params.hash == "sha1":
        fn = sha1_hash64 if params.scheme == "affine64" else sha1_hash32
        rows = shingles(arr, params.shingle.kind, params.shingle.n, params.shingle.normalize)
        values = np.fromiter((fn(s.encode("utf8")) for r in rows for s in r), dtype=np.uint64)
        sizes = np.fromiter((len(r) for r in rows), dtype=np.int64, count=len(rows))
        return values, np.r_[0, np.cumsum(sizes)]
    hashed: ShingleHashes = shingle_hashes(arr, params.shingle)
    values = hashed.hashes if params.scheme == "affine64" else hashed.hashes & _LOW32
    return values, hashed.offsets


def _signature_batch(arr, params: MinHashParams) -> np.ndarray:
    values, offsets = _hash_values(arr, params)
    return minhash_rows(values, offsets, params.num_perm, params.seed, params.scheme)


def signatures(texts, params: MinHashParams = MinHashParams(), *, batch: int = 1024,
               workers: int = 2) -> np.ndarray:
    """MinHash signatures of texts: an ``(n, num_perm)`` array, uint32 for ``affine32`` and
    uint64 for the other schemes (datasketch's dtypes).

    Batches of ``batch`` texts run on ``workers`` threads; inputs under two batches run inline.
    """
    arr = as_arrow(texts)
    out = np.empty((len(arr), params.num_perm), dtype=params.dtype)

    def fill(lo: int) -> None:
        out[lo:lo + batch] = _signature_batch(arr.slice(lo, batch), params)

    in_batches(fill, len(arr), batch, workers)
    return out


def empty_rows(sigs: np.ndarray) -> np.ndarray:
    """True where a signature is datasketch's empty one: every value at its scheme's maximum
    (2**32 - 1 for affine32 and legacy, 2**64 - 1 for affine64; a real text never gets either
    in all positions)."""
    empty = np.zeros(len(sigs), dtype=bool)
    for top in (0xFFFFFFFF, 0xFFFFFFFFFFFFFFFF) if sigs.dtype == np.uint64 else (0xFFFFFFFF,):
        maybe = np.flatnonzero(sigs[:, 0] == top)  # check whole rows only where the first value is top
        empty[maybe[np.all(sigs[maybe] == top, axis=1)]] = True
    return empty


def to_datasketch(row: np.ndarray, seed: int = 1, scheme: str = "affine32", *,
                  lean: bool = True) -> LeanMinHash | MinHash:
    """One signature as a datasketch sketch: a ``LeanMinHash`` (or an updatable ``MinHash``
    whose ``hashfunc`` is ours, for ``lean=False``)."""
    if scheme not in SCHEMES:
        raise ValueError(f"expected scheme in {SCHEMES}, got {scheme!r}")
    if lean:
        return LeanMinHash(seed=seed, hashvalues=row, scheme=scheme)
    fn = hashfunc64 if scheme == "affine64" else hashfunc
    return MinHash(seed=seed, hashvalues=row, scheme=scheme, hashfunc=fn)
