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


def canonical(df: pd.DataFrame, columns: Sequence[str]) -> np.ndarray:
    """One string per row that names every given column and its value, in sorted column order.

    Missing values are spelled ``\\x00`` so that ``None`` and the empty string differ. Built with
    Arrow's element-wise string kernels.
    """
    pieces = []
    for col in sorted(columns):
        values = pc.fill_null(arrow_strings(df[col]), "\x00")
        pieces.append(pc.binary_join_element_wise(pa.scalar(col, pa.large_string()), values,
                                                  pa.scalar("=", pa.large_string())))
    if not pieces:
        return np.full(len(df), "", dtype=object)
    sep = pa.scalar(_SEP, pa.large_string())
    joined = pc.binary_join_element_wise(*pieces, sep) if len(pieces) > 1 else pieces[0]
    return joined.to_numpy(zero_copy_only=False)


def content_ids(df: pd.DataFrame, columns: Sequence[str]) -> pd.Series:
    """Stable ids from canonical content.

    The id is the 16-hex SipHash of the row's canonical content. Rows whose content is identical
    get ``-2``, ``-3`` ... in order of appearance, so ids stay unique and stay put when other rows
    are added or removed.
    """
    h = hash64(canonical(df, columns))
    ids = to_hex(h)
    nth = pd.Series(h).groupby(h, sort=False).cumcount().to_numpy()
    repeat = nth > 0
    if repeat.any():
        ids[repeat] = ids[repeat] + "-" + (nth[repeat] + 1).astype(str).astype(object)
    return pd.Series(ids, index=df.index, dtype=object)


def normalize_text(values: pd.Series, *, unicode: bool = True, case: bool = True, whitespace: bool = True,
                   punctuation: bool = False) -> pd.Series:
    """Normalise text for comparison: NFC, lower case, collapsed whitespace, optionally no punctuation.

    Missing values stay missing. The input is never changed.
    """
    arr = arrow_strings(values)
    if unicode:
        arr = pc.utf8_normalize(arr, "NFC")
    if case:
        arr = pc.utf8_lower(arr)
    if punctuation:
        arr = pc.replace_substring_regex(arr, r"[\p{P}\p{S}]+", " ")
    if whitespace:  # split on any Unicode whitespace and rejoin: faster than a regex
        words = pc.utf8_split_whitespace(pc.utf8_trim_whitespace(arr))
        arr = pc.binary_join(words, pa.scalar(" ", pa.large_string()))
    return pd.Series(arr.to_numpy(zero_copy_only=False), index=values.index, dtype=object)


def text_hash(values: pd.Series) -> pd.Series:
    """16-hex hash of (already normalised) text; missing text hashes to missing."""
    h = pd.Series(to_hex(hash64(values.fillna("").to_numpy())), index=values.index, dtype=object)
    return h.where(values.notna(), None)


def arrow_strings(values: pd.Series | np.ndarray) -> pa.Array:
    """A column as an Arrow large-string array (missing values become nulls), converted in C."""
    if isinstance(values, pd.Series) and isinstance(values.dtype, pd.StringDtype | pd.ArrowDtype):
        values = values.to_numpy(dtype=object, na_value=None)
    try:
        arr = pa.array(values, from_pandas=True)
    except (pa.ArrowInvalid, pa.ArrowTypeError):  # mixed types in one object column
        series = pd.Series(values, dtype=object)
        arr = pa.array(series.astype(str).where(series.notna(), None), from_pandas=True)
    if pa.types.is_null(arr.type):
        return pa.nulls(len(arr), pa.large_string())
    if pa.types.is_binary(arr.type) or pa.types.is_large_binary(arr.type):
        return _decoded(arr)
    # One string type everywhere (large: no 2 GB limit per array), so kernels always match.
    return arr if pa.types.is_large_string(arr.type) else pc.cast(arr, pa.large_string())


def _decoded(arr: pa.Array) -> pa.Array:
    """Bytes as text: cast in C when all are UTF-8, else decoded one by one with the bad bytes escaped."""
    try:
        return pc.cast(arr, pa.large_string())
    except pa.ArrowInvalid:
        return pa.array([None if v is None else v.decode("utf-8", errors="backslashreplace") for v in arr.to_pylist()],
                        pa.large_string())


def isin(values: pd.Series, candidates) -> np.ndarray:
    """Boolean mask: which values are among ``candidates``. Arrow's hash set, not a Python loop.

    (pandas 3's ``Series.isin`` on its Arrow string dtype loops in Python: 7 s on 1M rows.)
    """
    cand = candidates if isinstance(candidates, pd.Series | np.ndarray) else np.asarray(list(candidates), dtype=object)
    if len(values) == 0:
        return np.zeros(0, dtype=bool)
    if len(cand) == 0:
        return np.zeros(len(values), dtype=bool)
    mask = pc.is_in(arrow_strings(values), value_set=arrow_strings(cand), skip_nulls=True)
    return mask.to_numpy(zero_copy_only=False)


def join_groups(keys: pd.Series, values: pd.Series, sep: str = ", ", limit: int | None = None) -> pd.DataFrame:
    """Per distinct key (in order of first appearance): its values joined by ``sep`` and their count.

    Done by Arrow's group-by and list kernels, never a Python loop per group. With ``limit``, only the
    first ``limit`` values are joined (``count`` still counts all).
    """
    table = pa.table({"key": arrow_strings(keys), "value": arrow_strings(values)})
    grouped = table.group_by("key", use_threads=False).aggregate([("value", "list"), ("value", "count")])
    lists = grouped["value_list"]
    if limit is not None:
        lists = pc.list_slice(lists, 0, limit)
    joined = pc.binary_join(lists, pa.scalar(sep, pa.large_string()))
    return pd.DataFrame({"joined": joined.to_numpy(zero_copy_only=False),
                         "count": grouped["value_count"].to_numpy()},
                        index=pd.Index(grouped["key"].to_numpy(zero_copy_only=False), dtype=object))
