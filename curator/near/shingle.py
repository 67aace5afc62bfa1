"""Shingles of text: normalisation, word or character n-grams, and their 64-bit hashes.

Two paths give the same shingles:

- :func:`shingles` returns the shingle strings of each text (plain Python lists; for inspection,
  tests and the exact ``sha1`` mode);
- :func:`shingle_hashes` hashes every shingle of a batch at once, straight from the Arrow buffer of
  the normalised texts, without building a Python string per shingle.

The hash (``poly64``) is a polynomial rolling hash over a shingle's UTF-8 bytes, modulo 2**64, in a
fixed random base, finished with MurmurHash3's 64-bit mixer. Vectorised, it is a prefix sum over
the whole buffer: for the bytes ``x_m`` of the buffer let ``G[k] = sum_{m<k} x_m * B**-m``; then the hash
of the bytes ``[i, j)`` is ``(G[j] - G[i]) * B**(j-1)``, the same as Horner's rule
``h = h * B + byte`` over those bytes, which is what :func:`poly_hash64` computes for one ``bytes``.

Normalisation is :func:`curator.table.normalize_text`'s (NFC, lower case, punctuation to spaces,
runs of Unicode whitespace to one space, trimmed), done with the same Arrow kernels except the
whitespace step, done on the byte buffer in numpy (only rows with a non-ASCII byte go through a
regex). A test checks both give the same strings. Word tokens split on any Unicode whitespace
(``str.isspace``), whatever ``Normalize.whitespace`` says.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass, field
from typing import TypeVar

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from .shingle_sets import ShingleHashes, concat, offsets_of

KINDS = ("word", "char")
_M64 = (1 << 64) - 1
#: Fixed forever: changing the base changes every ``poly64`` hash.
_BASE = 0x9E3779B97F4A7C15 | 1
_BASE_INV = pow(_BASE, -1, 1 << 64)
_LENGTH = 0xD6E8FEB86659FD93  # times the byte length, so that leading zero bytes count
_FMIX64 = (np.uint64(33), np.uint64(0xFF51AFD7ED558CCD), np.uint64(0xC4CEB9FE1A85EC53))
# The whitespace str.split() knows beyond RE2's \s: \v, \x1c-\x1f, \x85 and Unicode separators.
_OTHER_SPACE = r"[\x{0b}\x{1c}-\x{1f}\x{85}\p{Z}]+"
_POW_CACHE: dict[str, np.ndarray] = {}
T = TypeVar("T")


@dataclass(frozen=True)
class Normalize:
    """What to fold before shingling; the same switches as the exact-dedup ``normalize`` config."""

    unicode: bool = True
    case: bool = True
    whitespace: bool = True
    punctuation: bool = False


@dataclass(frozen=True)
class ShingleConfig:
    """How a text becomes a set of shingles: ``n`` words or ``n`` characters, after normalising."""

    kind: str = "word"
    n: int = 5
    normalize: Normalize = field(default_factory=Normalize)

    def __post_init__(self) -> None:
        if self.kind not in KINDS:
            raise ValueError(f"expected shingle kind in {KINDS}, got {self.kind!r}")
        if not isinstance(self.n, int) or self.n < 1:
            raise ValueError(f"expected a shingle size n >= 1, got {self.n!r}")
        if not isinstance(self.normalize, Normalize):
            object.__setattr__(self, "normalize", Normalize(**_switches(self.normalize)))

    def to_dict(self) -> dict:
        """Plain JSON-able form (for index headers and reports)."""
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict) -> ShingleConfig:
        """Inverse of :meth:`to_dict`."""
        return cls(kind=data["kind"], n=int(data["n"]), normalize=Normalize(**data["normalize"]))


def _switches(normalize) -> dict:
    """The four switches of any object with those attributes (a config model, a dict)."""
    names = ("unicode", "case", "whitespace", "punctuation")
    if isinstance(normalize, dict):
        return {k: bool(normalize[k]) for k in names if k in normalize}
    return {k: bool(getattr(normalize, k)) for k in names}


def as_arrow(texts: Iterable | pd.Series | pa.Array) -> pa.LargeStringArray:
    """Texts as one Arrow large-string array; ``None`` and NaN become nulls."""
    if isinstance(texts, pa.ChunkedArray):
        texts = texts.combine_chunks() if texts.num_chunks != 1 else texts.chunk(0)
    if isinstance(texts, pa.Array):
        return texts if texts.type == pa.large_string() else texts.cast(pa.large_string())
    if isinstance(texts, pd.Series) and isinstance(texts.dtype, pd.ArrowDtype):
        return as_arrow(pa.array(texts))
    if not isinstance(texts, (pd.Series, np.ndarray, list)):
        texts = list(texts)
    return pa.array(texts, type=pa.large_string(), from_pandas=True)


def _buffers(arr: pa.LargeStringArray) -> tuple[np.ndarray, np.ndarray]:
    """(bytes, offsets) of a large-string array, offsets starting at 0; nulls are empty rows."""
    offsets = np.frombuffer(arr.buffers()[1], dtype=np.int64)[arr.offset:arr.offset + len(arr) + 1]
    data = arr.buffers()[2]
    if data is None or len(arr) == 0:
        return np.zeros(0, dtype=np.uint8), np.zeros(len(arr) + 1, dtype=np.int64)
    return np.frombuffer(data, dtype=np.uint8)[offsets[0]:offsets[-1]], offsets - offsets[0]


def _from_buffers(buf: np.ndarray, offsets: np.ndarray, like: pa.LargeStringArray) -> pa.LargeStringArray:
    """A large-string array from bytes and offsets, null where ``like`` is null."""
    arr = pa.LargeStringArray.from_buffers(len(offsets) - 1, pa.py_buffer(offsets.astype(np.int64)),
                                           pa.py_buffer(np.ascontiguousarray(buf)))
    if like.null_count:
        arr = pc.if_else(pc.is_valid(like), arr, pa.scalar(None, pa.large_string()))
    return arr


def _ascii_space(buf: np.ndarray) -> np.ndarray:
    """True at tab, newline, form feed, carriage return and space (RE2's ``\\s``)."""
    low = np.subtract(buf, np.uint8(9))  # wraps below 9
    return (buf == 32) | ((low <= 4) & (buf != 11))


def collapse_whitespace(arr: pa.LargeStringArray) -> pa.LargeStringArray:
    """Runs of tab, newline, form feed, carriage return and space to one space, then trimmed."""
    buf, offsets = _buffers(arr)
    space = _ascii_space(buf)
    drop = space[1:] & space[:-1]
    inner = offsets[(offsets > 0) & (offsets < buf.size)]
    drop[inner - 1] = False  # a run never spans two rows
    dropped = np.flatnonzero(drop) + 1
    if dropped.size:
        keep = np.ones(buf.size, dtype=bool)
        keep[dropped] = False
        buf, space = buf[keep], space[keep]
        offsets = offsets - np.searchsorted(dropped, offsets)
    if not np.array_equal(space, buf == 32):
        buf = np.where(space, np.uint8(32), buf)
    return pc.utf8_trim_whitespace(_from_buffers(buf, offsets, arr))


def _lower(arr: pa.LargeStringArray) -> pa.LargeStringArray:
    """Unicode lower case; the cheap ASCII kernel when every row is ASCII (same result there)."""
    if len(arr) and pc.all(pc.string_is_ascii(arr)).as_py() is not False:
        return pc.ascii_lower(arr)
    return pc.utf8_lower(arr)


def _split_spaces(arr: pa.LargeStringArray) -> pa.LargeStringArray:
    """Non-\\s Unicode whitespace to a space, on the rows that can hold any (a byte >= 0x80, or
    \\v or \\x1c..\\x1f)."""
    buf, offsets = _buffers(arr)
    odd = np.flatnonzero((buf >= 0x80) | (buf == 11) | (np.subtract(buf, np.uint8(0x1C)) < 4))
    if odd.size == 0:
        return arr
    rows = np.zeros(len(arr), dtype=bool)
    rows[np.searchsorted(offsets, odd, side="right") - 1] = True
    mask = pa.array(rows)
    fixed = pc.replace_substring_regex(arr.filter(mask), _OTHER_SPACE, " ")
    return pc.replace_with_mask(arr, mask, fixed)


def normalized(texts, normalize: Normalize = Normalize(), *, words: bool = False) -> pa.LargeStringArray:
    """Normalised texts (nulls stay null). ``words=True`` folds whitespace whatever
    ``normalize.whitespace`` says, so the text splits into tokens on ``" "``."""
    arr = as_arrow(texts)
    if normalize.unicode:
        arr = pc.utf8_normalize(arr, "NFC")
    if normalize.case:
        arr = _lower(arr)
    if normalize.punctuation:
        arr = pc.replace_substring_regex(arr, r"[\p{P}\p{S}]+", " ")
    if normalize.whitespace or words:
        arr = collapse_whitespace(_split_spaces(arr))
    return arr


def _grams(units: list, n: int, joiner: str) -> list[str]:
    if not units:
        return []
    if len(units) <= n:
        return [joiner.join(units)]
    return [joiner.join(units[i:i + n]) for i in range(len(units) - n + 1)]


def shingles(texts, kind: str = "word", n: int = 5, normalize: Normalize = Normalize()) -> list[list[str]]:
    """The shingles of each text, in order (repeats kept), as Python strings.

    A text with fewer than ``n`` tokens gives one shingle, the whole normalised text; an empty or
    missing text gives none. The reference path: :func:`shingle_hashes` hashes the same strings.
    """
    config = ShingleConfig(kind, n, normalize)
    norm = normalized(texts, config.normalize, words=config.kind == "word").to_pylist()
    if config.kind == "word":
        return [_grams(t.split(" ") if t else [], config.n, " ") for t in norm]
    return [_grams(list(t) if t else [], config.n, "") for t in norm]


def fmix64(h: np.ndarray) -> np.ndarray:
    """MurmurHash3's 64-bit finaliser, in place on a uint64 array (and returned)."""
    shift, m1, m2 = _FMIX64
    h ^= h >> shift
    h *= m1
    h ^= h >> shift
    h *= m2
    h ^= h >> shift
    return h


def poly_hash64(data: bytes) -> int:
    """The ``poly64`` hash of one byte string: Horner's rule mod 2**64, plus the length times a
    constant, then MurmurHash3's fmix64."""
    h = 0
    for byte in data:
        h = (h * _BASE + byte) & _M64
    h = (h + len(data) * _LENGTH) & _M64
    h ^= h >> 33
    h = (h * 0xFF51AFD7ED558CCD) & _M64
    h ^= h >> 33
    h = (h * 0xC4CEB9FE1A85EC53) & _M64
    return h ^ (h >> 33)


def _powers(name: str, base: int, length: int) -> np.ndarray:
    """``base**k mod 2**64`` for k < length, cached and grown on demand."""
    cached = _POW_CACHE.get(name)
    if cached is None or len(cached) < length:
        size = max(length, 1 << 16, 2 * len(cached) if cached is not None else 0)
        cached = np.full(size, base, dtype=np.uint64)
        cached[0] = 1
        np.cumprod(cached, out=cached)
        _POW_CACHE[name] = cached
    return cached[:length]


def _prefix(buf: np.ndarray) -> np.ndarray:
    """``G[k] = sum_{m<k} byte_m * B**-m`` over the buffer, length L + 1 (uint64, wrapping)."""
    g = np.empty(buf.size + 1, dtype=np.uint64)
    g[0] = 0
    np.multiply(buf, _powers("inv", _BASE_INV, buf.size), out=g[1:])
    np.cumsum(g[1:], out=g[1:])
    return g


def _merge_rows(inner: np.ndarray, bounds: np.ndarray, before: np.ndarray) -> np.ndarray:
    """Sorted merge of ``inner`` positions and one bound per row, placed at ``before`` (the
    number of inner positions that precede it) without a sort."""
    at = before + np.arange(len(bounds))
    out = np.empty(inner.size + bounds.size, dtype=np.int64)
    is_bound = np.zeros(out.size, dtype=bool)
    is_bound[at] = True
    out[at] = bounds
    out[~is_bound] = inner
    return out


def _units(buf: np.ndarray, offsets: np.ndarray, kind: str, ascii: bool = False):
    """Byte (start, end) of every token or character, and the number in each row.

    Word text is already single-spaced and trimmed: tokens start at a row's start or after a
    space, and end at a space or at the row's end. Rows lie back to back in the buffer.
    """
    if kind == "char":
        starts = np.arange(buf.size) if ascii else np.flatnonzero((buf & 0xC0) != 0x80)
        counts = np.diff(np.searchsorted(starts, offsets))
        return starts, np.append(starts[1:], buf.size), counts
    spaces = np.flatnonzero(buf == 32)
    full = np.diff(offsets) > 0
    below = np.searchsorted(spaces, offsets)
    counts = np.diff(below) + full
    starts = _merge_rows(spaces + 1, offsets[:-1][full], below[:-1][full])
    ends = _merge_rows(spaces, offsets[1:][full], below[1:][full])
    return starts, ends, counts


def _shingle_spans(starts, ends, counts, n: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Byte (start, end) of every shingle: units k .. k+n-1 of a row, or all of a short row."""
    per_row = np.where(counts > 0, np.maximum(counts - n + 1, 1), 0)
    first = offsets_of(counts)
    sh_offsets = offsets_of(per_row)
    lo = np.arange(sh_offsets[-1], dtype=np.int64)
    lo += np.repeat(first[:-1] - sh_offsets[:-1], per_row)
    hi = lo + (n - 1)
    short = np.flatnonzero((counts > 0) & (counts < n))
    hi[sh_offsets[short]] = first[short + 1] - 1
    return starts[lo], ends[hi], sh_offsets


def hash_spans(buf: np.ndarray, lo: np.ndarray, hi: np.ndarray) -> np.ndarray:
    """``poly64`` hash of the bytes ``buf[lo[k]:hi[k]]`` for every k, in one pass over the buffer."""
    if lo.size == 0:
        return np.zeros(0, dtype=np.uint64)
    g = _prefix(buf)
    h = g[hi] - g[lo]
    h *= _powers("pow", _BASE, buf.size)[hi - 1]
    h += (hi - lo).astype(np.uint64) * np.uint64(_LENGTH)
    return fmix64(h)


def shingle_hashes(texts, config: ShingleConfig = ShingleConfig()) -> ShingleHashes:
    """``poly64`` hashes of every shingle of every text (repeats kept), vectorised over the batch.

    Row ``i`` holds exactly ``[poly_hash64(s.encode()) for s in shingles(texts)[i]]``.
    """
    arr = normalized(texts, config.normalize, words=config.kind == "word")
    if arr.null_count:
        arr = pc.fill_null(arr, "")  # a null row has no shingles, whatever bytes it spans
    buf, offsets = _buffers(arr)
    starts, ends, counts = _units(buf, offsets, config.kind, ascii=not np.any(buf >= 0x80))
    lo, hi, sh_offsets = _shingle_spans(starts, ends, counts, config.n)
    return ShingleHashes(hash_spans(buf, lo, hi), sh_offsets)


def in_batches(fn: Callable[[int], T], n: int, batch: int, workers: int) -> list[T]:
    """``fn(lo)`` for each batch start ``lo`` of ``n`` rows, in order, on ``workers`` threads
    (numpy and Arrow release the GIL in every heavy step); under two batches, inline."""
    if batch < 1:
        raise ValueError(f"expected batch >= 1, got {batch!r}")
    if workers < 1:
        raise ValueError(f"expected workers >= 1, got {workers!r}")
    starts = range(0, n, batch)
    if workers == 1 or len(starts) < 2:
        return [fn(lo) for lo in starts]
    with ThreadPoolExecutor(max_workers=workers) as pool:
        return list(pool.map(fn, starts))


def shingle_sets(texts, config: ShingleConfig = ShingleConfig(), *, batch: int = 1024,
                 workers: int = 2) -> ShingleHashes:
    """Each text's shingle set (distinct hashes, sorted; see :mod:`.shingle_sets`), batch by batch
    on ``workers`` threads."""
    arr = as_arrow(texts)
    return concat(in_batches(lambda lo: shingle_hashes(arr.slice(lo, batch), config).unique(), len(arr), batch,
                             workers))
