"""What every reader hands over: a ``Part``, one per input file, and the helpers that build one.

A reader only turns its format into a DataFrame of the file's raw columns, one row per readable
input row in input order, plus where each row came from (``source``, and ``pos``, the line or row
number that orders rows) and the rows it could not read. ``assemble.finish`` does everything else
(column mapping, ids, image checks, the ``bad`` table) once, for every format.
"""

from __future__ import annotations

import functools
import json
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from ..config import Columns, Config
from ..errors import InputError

#: Columns of a reader's bad rows; ``finish`` adds ``id`` and drops ``pos``.
BAD_COLUMNS = ["source", "reason", "detail", "raw", "pos"]
#: The most characters a bad row's ``raw`` and ``detail`` keep.
RAW_CHARS = 500


@dataclass
class Part:
    """One input file, read: raw columns and bad rows, both in input order."""

    file: str                      # the file as messages and sources name it
    frame: pd.DataFrame            # raw input columns, RangeIndex
    source: np.ndarray             # object array of str, one per frame row
    pos: np.ndarray                # int64 line or row number, one per frame row
    bad: pd.DataFrame              # BAD_COLUMNS
    #: The reader's own column mapping (image folders, Label Studio); None means the config's.
    columns: Columns | None = None
    #: Folder (POSIX, relative to the dataset root) that image paths in this file are relative to.
    base: str = ""


@dataclass
class PartBuilder:
    """Collects a file's chunks and bad rows while it streams, then builds one ``Part``."""

    file: str
    frames: list[pd.DataFrame] = field(default_factory=list)
    sources: list[np.ndarray] = field(default_factory=list)
    positions: list[np.ndarray] = field(default_factory=list)
    bads: list[dict[str, Any]] = field(default_factory=list)

    def add(self, frame: pd.DataFrame, source: np.ndarray, pos: np.ndarray) -> None:
        if len(frame) != len(source) or len(frame) != len(pos):
            raise ValueError(f"expected {len(frame)} sources and positions, got {len(source)} and {len(pos)}")
        if len(frame):
            self.frames.append(frame.reset_index(drop=True))
            self.sources.append(np.asarray(source, dtype=object))
            self.positions.append(np.asarray(pos, dtype=np.int64))

    def add_bad(self, source: str, reason: str, detail: str, raw: Any, pos: int) -> None:
        self.bads.append({"source": source, "reason": reason, "detail": detail, "raw": clip_raw(raw),
                          "pos": int(pos)})

    def build(self, columns: Columns | None = None, base: str = "", names: list[str] | None = None) -> Part:
        """The Part; ``names`` are the file's columns, kept even when it has no rows."""
        frame = concat_frames(self.frames)
        if not self.frames and names:
            frame = object_frame({n: [] for n in names}, 0)
        source = np.concatenate(self.sources) if self.sources else np.array([], dtype=object)
        pos = np.concatenate(self.positions) if self.positions else np.array([], dtype=np.int64)
        bad = bad_frame(self.bads).sort_values("pos", kind="stable", ignore_index=True)
        return Part(self.file, frame, source, pos, bad, columns, base)


def bad_frame(rows: list[dict[str, Any]]) -> pd.DataFrame:
    frame = pd.DataFrame({c: pd.Series([r[c] for r in rows], dtype=object) for c in BAD_COLUMNS})
    frame["detail"] = frame["detail"].str.slice(0, RAW_CHARS)
    frame["pos"] = frame["pos"].astype(np.int64)
    return frame


def check_unique_names(display: str, names: list[str]) -> None:
    """Refuse a file whose columns repeat a name (which one would a row's value come from?)."""
    dupes = sorted({n for n in names if names.count(n) > 1})
    if dupes:
        raise InputError(f"{display}: duplicate column names: {', '.join(dupes)}")


def check_content_type(display: str, schema: pa.Schema, cfg: Config) -> None:
    """Refuse a typed file whose text or image column does not hold strings.

    As JSON, a list of strings would pass for text and an embedded image for a path never found.
    Binary is accepted: some writers store strings so (decoded as UTF-8, bad bytes escaped).
    """
    name = cfg.columns.text if cfg.modality == "text" else cfg.columns.image
    if name not in schema.names:
        return  # assemble names the missing column
    typ = schema.field(name).type
    if pa.types.is_dictionary(typ):
        typ = typ.value_type
    if any(is_type(typ) for is_type in _CONTENT_TYPES):
        return
    if cfg.modality == "image" and pa.types.is_struct(typ) and typ.get_field_index("bytes") >= 0:
        raise InputError(f"{display}: column '{name}' holds embedded images, which curator does not read; "
                         "save them as files (an image folder) and point input.path there")
    raise InputError(f"{display}: column '{name}' is {typ}; expected a string")


_CONTENT_TYPES = (pa.types.is_string, pa.types.is_large_string, pa.types.is_string_view, pa.types.is_binary,
                  pa.types.is_large_binary, pa.types.is_binary_view, pa.types.is_null)


def concat_frames(frames: list[pd.DataFrame]) -> pd.DataFrame:
    """Concatenate chunk frames; a column some chunks lack is None there (not NaN)."""
    if not frames:
        return pd.DataFrame(index=pd.RangeIndex(0))
    if len(frames) == 1:
        return frames[0]
    out = pd.concat(frames, ignore_index=True)
    for col in out.columns:
        if out[col].dtype == object and not all(col in f.columns for f in frames):
            out[col] = out[col].where(out[col].notna(), None)
    return out


def clip_raw(raw: Any) -> str:
    """The ``raw`` column: a str of at most 500 characters."""
    if raw is None:
        return ""
    if isinstance(raw, bytes):
        raw = raw.decode("utf-8", errors="backslashreplace")
    elif not isinstance(raw, str):
        raw = compact_json(raw)
    return raw[:RAW_CHARS]


def compact_json(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"), default=str)


def join_sources(prefix: str, numbers: np.ndarray) -> np.ndarray:
    """``prefix + str(n)`` for every number, with Arrow kernels (no Python loop)."""
    if len(numbers) == 0:
        return np.array([], dtype=object)
    nums = pc.cast(pa.array(np.asarray(numbers, dtype=np.int64)), pa.string())
    return pc.binary_join_element_wise(prefix, nums, "").to_numpy(zero_copy_only=False)


def object_frame(columns: dict[str, Any], length: int | None = None) -> pd.DataFrame:
    """A DataFrame whose columns are all object dtype (pandas 3 would otherwise infer ``str``)."""
    if length is None:
        length = len(next(iter(columns.values()))) if columns else 0
    return pd.DataFrame({k: pd.Series(v, dtype=object) for k, v in columns.items()}, index=pd.RangeIndex(length))


_NULLABLE = {pa.int8(): pd.Int8Dtype(), pa.int16(): pd.Int16Dtype(), pa.int32(): pd.Int32Dtype(),
             pa.int64(): pd.Int64Dtype(), pa.uint8(): pd.UInt8Dtype(), pa.uint16(): pd.UInt16Dtype(),
             pa.uint32(): pd.UInt32Dtype(), pa.uint64(): pd.UInt64Dtype(), pa.bool_(): pd.BooleanDtype()}


def arrow_series(arr: pa.Array | pa.ChunkedArray) -> pd.Series:
    """An Arrow column as pandas, with the same values in every chunk whatever its nulls.

    Strings become object (str or None); integers and booleans nullable pandas dtypes, so a null
    never turns 1 into 1.0; nested values compact JSON strings; dictionaries their values.
    """
    if isinstance(arr, pa.Array):
        arr = pa.chunked_array([arr], type=arr.type)
    typ = arr.type
    if pa.types.is_dictionary(typ):
        return arrow_series(pc.cast(arr, typ.value_type))
    if pa.types.is_string(typ) or pa.types.is_large_string(typ) or pa.types.is_string_view(typ):
        return pd.Series(arr.to_numpy(zero_copy_only=False), dtype=object)
    if pa.types.is_null(typ):
        return pd.Series([None] * len(arr), dtype=object)
    if pa.types.is_nested(typ):
        fast = _list_json(arr.combine_chunks()) if pa.types.is_list(typ) or pa.types.is_large_list(typ) else None
        if fast is not None:
            return pd.Series(fast.to_numpy(zero_copy_only=False), dtype=object)
        values = [None if v is None else compact_json(v) for v in arr.to_pylist()]
        return pd.Series(values, dtype=object)
    if typ in _NULLABLE:
        return arr.to_pandas(types_mapper=_NULLABLE.get).reset_index(drop=True)
    return arr.to_pandas().reset_index(drop=True)


def _list_json(arr: pa.ListArray | pa.LargeListArray) -> pa.Array | None:
    """Lists of strings or integers as ``compact_json`` writes them, with Arrow kernels; None when
    an item needs ``json.dumps`` (a null item, a control character to escape, another type)."""
    items = arr.values
    if items.null_count:
        return None
    if pa.types.is_integer(items.type):
        items, quote = pc.cast(items, pa.large_string()), ""
    elif pa.types.is_string(items.type) or pa.types.is_large_string(items.type):
        if pc.any(pc.match_substring_regex(items, r"[\x00-\x1f]")).as_py():
            return None
        items = pc.replace_substring(pc.replace_substring(pc.cast(items, pa.large_string()), "\\", "\\\\"),
                                     '"', '\\"')
        quote = '"'
    else:
        return None
    text = functools.partial(pa.scalar, type=pa.large_string())
    lists = pa.LargeListArray.from_arrays(pc.cast(arr.offsets, pa.int64()), items, mask=arr.is_null())
    joined = pc.binary_join_element_wise(text("[" + quote), pc.binary_join(lists, text(quote + "," + quote)),
                                         text(quote + "]"), text(""))
    return pc.if_else(pc.equal(pc.list_value_length(arr), 0), text("[]"), joined)


def arrow_frame(table: pa.Table | pa.RecordBatch) -> pd.DataFrame:
    """A table's columns through ``arrow_series``, names and order kept."""
    return pd.DataFrame({name: arrow_series(table.column(i)) for i, name in enumerate(table.column_names)},
                        index=pd.RangeIndex(table.num_rows))


def scalar_str(value: Any) -> str | None:
    """One id, text or label value as str: JSON spelling for booleans and nested values, and a whole
    float as an integer (as ``_number_strings`` writes it)."""
    if value is None or isinstance(value, str):
        return value
    if isinstance(value, (bool, np.bool_)):
        return "true" if value else "false"
    if isinstance(value, bytes):
        return value.decode("utf-8", errors="backslashreplace")
    if isinstance(value, (dict, list, tuple)):
        return compact_json(value)
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, float) and value.is_integer() and abs(value) < 2 ** 53:
        return str(int(value))
    return str(value)


def as_str(values: pd.Series) -> pd.Series:
    """An object Series of str or None (the id, text and label columns).

    Numbers and booleans are converted whole-column (see ``_number_strings``); only other mixed
    values go one by one through ``scalar_str``.
    """
    out = values.astype(object)
    out = out.where(out.notna(), None)
    kind = pd.api.types.infer_dtype(out, skipna=True)
    if kind in ("string", "empty"):
        return out
    if kind in ("integer", "floating", "mixed-integer-float", "boolean"):
        try:
            return pd.Series(_number_strings(pa.array(out, from_pandas=True)), index=out.index, dtype=object)
        except (pa.ArrowInvalid, OverflowError):  # integers beyond 64 bits
            pass
    return pd.Series([scalar_str(v) for v in out], index=out.index, dtype=object)


def _number_strings(arr: pa.Array) -> np.ndarray:
    """Numbers as strings, booleans as true/false. A whole float is written as an integer: integer
    labels with a missing value come as float64 (pandas), and 1.0 must still be label "1"."""
    if not pa.types.is_floating(arr.type):
        return pc.cast(arr, pa.string()).to_numpy(zero_copy_only=False)
    floats = arr.to_numpy(zero_copy_only=False)  # nulls are NaN
    whole = np.isfinite(floats) & (np.trunc(floats) == floats) & (np.abs(floats) < 2 ** 53)
    text = floats.astype(str).astype(object)
    text[whole] = floats[whole].astype(np.int64).astype(str)
    text[np.isnan(floats)] = None
    return text
