"""The data model: fixed column names, stable ids, and vectorised text normalisation and hashing.

A dataset is one pandas DataFrame with the columns ``id``, ``text`` or ``image``, ``label``
(nullable) and ``source``, plus any metadata columns the input had. Everything here works on whole
columns at once (Arrow compute kernels and pandas' Cython hashing), never row by row.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

ID, TEXT, IMAGE, LABEL, SOURCE = "id", "text", "image", "label", "source"
PARENT_ID = "parent_id"
#: Columns curator derives from images at ingest (the decoded picture, not the file bytes).
IMAGE_HASH, IMAGE_WIDTH, IMAGE_HEIGHT, IMAGE_FORMAT = "image_hash", "image_width", "image_height", "image_format"
#: The group key the split keeps together (a duplicate cluster, or a user column).
GROUP = "group"

# 16-character keys for pandas' SipHash. Fixed forever: changing one changes every id.
_KEYS = ("curator/id/k0001", "curator/id/k0002")
_SEP = "\x1f"  # unit separator: never typed into a dataset by hand


def hash64(values: Sequence | pd.Series | np.ndarray, key: int = 0) -> np.ndarray:
    """SipHash-2-4 of each string, as uint64. Deterministic across runs and machines."""
    arr = np.asarray(values, dtype=object)
    return pd.util.hash_array(arr, hash_key=_KEYS[key], categorize=False)


def to_hex(h: np.ndarray) -> np.ndarray:
    """uint64 array -> array of 16-character lowercase hex strings, without a Python loop."""
    h = np.ascontiguousarray(h, dtype=">u8")
    if h.size == 0:
        return np.array([], dtype=object)
    return np.frombuffer(h.tobytes().hex().encode("ascii"), dtype="S16").astype(str).astype(object)


def canonical(df: pd.DataFrame, columns: Sequence[str]) -> pd.Series:
    """One string per row that names every given column and its value, in sorted column order.

    Missing values are spelled ``\\x00`` so that ``None`` and the empty string differ.
    """
    out = pd.Series("", index=df.index, dtype=object)
    for col in sorted(columns):
        values = df[col].astype(object).where(df[col].notna(), "\x00").astype(str)
        out = out + col + "=" + values + _SEP
    return out


def content_ids(df: pd.DataFrame, columns: Sequence[str]) -> pd.Series:
    """Stable ids from canonical content.

    The id is the 16-hex SipHash of the row's canonical content. Rows whose content is identical
    get ``-2``, ``-3`` ... in order of appearance, so ids stay unique and stay put when other rows
    are added or removed.
    """
    key = canonical(df, columns)
    base = pd.Series(to_hex(hash64(key.to_numpy())), index=df.index, dtype=object)
    nth = base.groupby(base, sort=False).cumcount()
    suffix = ("-" + (nth + 1).astype(str)).where(nth > 0, "")
    return (base + suffix).astype(object)


def normalize_text(values: pd.Series, *, unicode: bool = True, case: bool = True, whitespace: bool = True,
                   punctuation: bool = False) -> pd.Series:
    """Normalise text for comparison: NFC, lower case, collapsed whitespace, optionally no punctuation.

    Missing values stay missing. The input is never changed.
    """
    arr = pa.array(values.astype(object).where(values.notna(), None).tolist(), type=pa.string()) \
        if not isinstance(values.dtype, pd.ArrowDtype) else pa.array(values)
    if unicode:
        arr = pc.utf8_normalize(arr, "NFC")
    if case:
        arr = pc.utf8_lower(arr)
    if punctuation:
        arr = pc.replace_substring_regex(arr, r"[\p{P}\p{S}]+", " ")
    if whitespace:
        arr = pc.utf8_trim_whitespace(pc.replace_substring_regex(arr, r"\s+", " "))
    return pd.Series(arr.to_numpy(zero_copy_only=False), index=values.index, dtype=object)


def text_hash(values: pd.Series) -> pd.Series:
    """16-hex hash of (already normalised) text; missing text hashes to missing."""
    h = pd.Series(to_hex(hash64(values.fillna("").to_numpy())), index=values.index, dtype=object)
    return h.where(values.notna(), None)
