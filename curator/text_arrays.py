"""Vectorised helpers over Arrow string columns, shared by the checks: any column as text, and the
characters of many strings at once as code points (UTF-8 decoded with numpy), in bounded chunks."""

from __future__ import annotations

import functools
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from .table import arrow_strings

#: Text beyond this many characters is not looked at by the statistical checks (repetition,
#: language, tokens): a 10 MB cell is judged on its first part.
ANALYSE_CHARS = 100_000


def text_array(values: pd.Series) -> pa.Array:
    """Any column as Arrow large strings, nulls kept: numbers become their text, undecodable bytes and
    lone surrogates are replaced rather than raised (hostile input is data, not a crash)."""
    try:
        return arrow_strings(values)
    except (pa.ArrowInvalid, pa.ArrowTypeError, UnicodeError):
        series = pd.Series(values, dtype=object)
        as_text = series.map(_as_text, na_action="ignore")  # rare path: only columns Arrow refuses
        return pa.array(as_text.where(series.notna(), None), type=pa.large_string(), from_pandas=True)


def _as_text(value: Any) -> str:
    if isinstance(value, bytes | bytearray):
        return bytes(value).decode("utf-8", "replace")
    return str(value).encode("utf-8", "surrogatepass").decode("utf-8", "replace")


def filled_text(values: pd.Series) -> pa.Array:
    """The column as Arrow strings with missing values as empty strings."""
    return pc.fill_null(text_array(values), "")


def series(arr: pa.Array | pa.ChunkedArray | np.ndarray, index: pd.Index) -> pd.Series:
    """An Arrow or numpy result as a pandas Series on ``index``."""
    if isinstance(arr, pa.Array | pa.ChunkedArray):
        arr = arr.to_numpy(zero_copy_only=False)
    return pd.Series(arr, index=index)


def _chunks(arr: pa.Array, max_bytes: int = 1 << 20):
    """Row ranges of ``arr`` holding at most ``max_bytes`` of text each (at least one row)."""
    offsets = _offsets(arr)
    start = 0
    while start < len(arr):
        stop = int(np.searchsorted(offsets, offsets[start] + max_bytes, side="right")) - 1
        stop = min(max(stop, start + 1), len(arr))
        yield start, stop
        start = stop


def _offsets(arr: pa.Array) -> np.ndarray:
    return np.frombuffer(arr.buffers()[1], dtype=np.int64)[arr.offset:arr.offset + len(arr) + 1]


def codepoints(arr: pa.Array) -> tuple[np.ndarray, np.ndarray]:
    """Every character of a (null-free) large-string array as a code point, and the row it is in.

    Decodes UTF-8 with numpy: lead bytes mark characters, and each is assembled from up to four bytes.
    """
    offsets = _offsets(arr)
    data = arr.buffers()[2]
    if data is None or offsets[-1] == offsets[0]:
        return np.zeros(0, np.int32), np.zeros(0, np.int64)
    b = np.frombuffer(data, dtype=np.uint8)[offsets[0]:offsets[-1]]
    byte_row = np.repeat(np.arange(len(arr)), np.diff(offsets))
    lead = np.flatnonzero((b & 0xC0) != 0x80)
    if len(lead) == len(b):  # all ASCII: one byte, one character
        return b.astype(np.int32), byte_row
    cp = b[lead].astype(np.int32)
    multi = np.flatnonzero(cp >= 0xC0)
    pad = np.concatenate([b, np.zeros(3, np.uint8)]).astype(np.int32)
    at = lead[multi]
    b0, b1, b2, b3 = cp[multi], pad[at + 1] & 0x3F, pad[at + 2] & 0x3F, pad[at + 3] & 0x3F
    cp[multi] = np.where(b0 < 0xE0, ((b0 & 0x1F) << 6) | b1,
                np.where(b0 < 0xF0, ((b0 & 0x0F) << 12) | (b1 << 6) | b2,
                         ((b0 & 0x07) << 18) | (b1 << 12) | (b2 << 6) | b3))
    return cp, byte_row[lead]


def is_space(cp: np.ndarray) -> np.ndarray:
    return (cp <= 32) | (cp == 0xA0) | ((cp >= 0x2000) & (cp <= 0x200A)) | (cp == 0x3000) | (cp == 0x85)


def chunked_codepoints(values: pd.Series):
    """(first row, code points, row of each) per chunk of the column's first :data:`ANALYSE_CHARS`."""
    arr = pc.utf8_slice_codeunits(filled_text(values), 0, ANALYSE_CHARS)
    arr = arr if arr.offset == 0 else pa.concat_arrays([arr])
    for start, stop in _chunks(arr):
        cp, row = codepoints(arr.slice(start, stop - start))
        if len(cp):
            yield start, cp, row + start


def per_row_max(values: np.ndarray, rows: np.ndarray, n: int) -> np.ndarray:
    """The largest value per row, for values grouped by (sorted) row; 0 for rows with none."""
    out = np.zeros(n, np.int64)
    if len(rows):
        first = np.flatnonzero(np.r_[True, rows[1:] != rows[:-1]])
        out[rows[first]] = np.maximum.reduceat(values, first)
    return out


@functools.lru_cache(maxsize=1)
def letter_tables() -> tuple[np.ndarray, np.ndarray]:
    """(is upper-case letter, is letter) for every code point, from Python's Unicode database."""
    cps = np.arange(0x110000, dtype=np.uint32)
    cps[0xD800:0xE000] = 0  # surrogates are not characters
    chars = cps.view("U1")
    return np.char.isupper(chars) & np.char.isalpha(chars), np.char.isalpha(chars)


def is_cjk(cp: np.ndarray) -> np.ndarray:
    """Han, kana and Hangul code points."""
    return ((cp >= 0x2E80) & (cp <= 0x9FFF)) | ((cp >= 0xAC00) & (cp <= 0xD7AF)) | \
        ((cp >= 0xF900) & (cp <= 0xFAFF)) | (cp >= 0x20000)
