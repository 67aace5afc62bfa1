"""JSON Lines: ``pyarrow.json`` on chunks of lines, ``json.loads`` per line only for a chunk that
needs it.

The file is read in chunks of about ``input.chunk_rows`` lines (cut at a newline). The fast path
hands a chunk to Arrow and accepts the result only when it means exactly what ``json.loads`` would:
one row per non-blank line and flat values of types Arrow cannot change (strings, integers,
booleans, nulls, non-integral floats). Otherwise (a malformed line, a nested value, a float such
as ``1.0`` Arrow cannot tell from ``1``, a date Arrow would turn into a timestamp, a duplicate key)
that chunk alone is read line by line, so good lines are kept, bad ones go to ``bad``
(``malformed_json``, ``bad_encoding``), and a row's values never depend on its neighbours.
Nested values become compact JSON strings.
"""

from __future__ import annotations

import io
import json
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.json as pajson

from .. import progress
from ..config import Config
from .encoding import MARK_PATTERN, SAMPLE_BYTES, check_sample, first_marked_byte, has_mark, open_utf8, unmark
from .part import Part, PartBuilder, compact_json, join_sources, object_frame

_WHITESPACE = np.array([32, 9, 13, 10], dtype=np.uint8)
_JSON_TYPES = {list: "an array", str: "a string", int: "a number", float: "a number", bool: "a boolean",
               type(None): "null"}


def read_jsonl(path: Path, display: str, cfg: Config) -> Part:
    """Read one JSON Lines file into a Part (see the module docstring)."""
    encoding = cfg.input.encoding
    check_sample(path, display, encoding, header=False)
    parts = PartBuilder(display)
    block = _block_size(path, cfg.input.chunk_rows)
    first_line, carry = 1, b""
    with open_utf8(path, encoding) as stream, progress.task(f"reading {display}") as bar:
        while True:
            data = stream.read(block)
            buf = carry + data
            if data:
                cut = buf.rfind(b"\n")
                if cut < 0:
                    carry = buf
                    continue
                chunk, carry = buf[:cut + 1], buf[cut + 1:]
            else:
                chunk, carry = buf, b""
            if chunk:
                bar.advance(_add_chunk(parts, chunk, first_line, display, encoding, stream.raw.marked))
                first_line += chunk.count(b"\n")
            if not data:
                break
    return parts.build()


def _block_size(path: Path, chunk_rows: int) -> int:
    with open(path, "rb") as f:
        sample = f.read(SAMPLE_BYTES)
    per_line = len(sample) / max(1, sample.count(b"\n"))
    return int(min(1 << 28, max(1 << 16, per_line * chunk_rows)))


def _add_chunk(parts: PartBuilder, chunk: bytes, first_line: int, display: str, encoding: str,
               any_marks: bool) -> int:
    """Add one chunk of whole lines; returns how many non-blank lines it held."""
    buf = np.frombuffer(chunk, dtype=np.uint8)
    newline = np.flatnonzero(buf == 10)
    starts = np.concatenate([[0], newline + 1])
    ends = np.concatenate([newline, [len(buf)]])
    if chunk.endswith(b"\n"):
        starts, ends = starts[:-1], ends[:-1]
    keep = np.ones(len(starts), dtype=bool)
    first_byte = np.where(ends > starts, buf[np.minimum(starts, max(len(buf) - 1, 0))], 32) if len(buf) else keep
    for i in np.flatnonzero(np.isin(first_byte, _WHITESPACE)):  # empty or indented lines only: rare
        keep[i] = bool(chunk[starts[i]:ends[i]].strip(b" \t\r\n"))
    lines = (first_line + np.arange(len(starts), dtype=np.int64))[keep]
    starts, ends = starts[keep], ends[keep]
    table = _fast(chunk, len(lines))
    if table is None:
        _slow(parts, chunk, starts, ends, lines, display, encoding)
        return len(lines)
    marked = np.zeros(len(lines), dtype=bool)
    for col in table.columns:
        if any_marks and pa.types.is_string(col.type):
            marked |= pc.match_substring_regex(col, MARK_PATTERN).to_numpy(zero_copy_only=False)
    for i in np.flatnonzero(marked):
        text = chunk[starts[i]:ends[i]].decode("utf-8")
        _bad(parts, display, int(lines[i]), "bad_encoding",
             f"not valid {encoding} (byte 0x{first_marked_byte(text):02x})", unmark(text))
    if marked.any():
        table = table.filter(pa.array(~marked))
    columns = {name: _objects(table.column(name)) for name in table.column_names}
    parts.add(object_frame(columns, int((~marked).sum())), join_sources(f"{display}:", lines[~marked]),
              lines[~marked])
    return len(lines)


def _fast(chunk: bytes, expected_rows: int) -> pa.Table | None:
    """Arrow's reading of the chunk, or None when it would not match ``json.loads``."""
    table = _arrow(chunk, None)
    if table is not None:
        dates = [f.name for f in table.schema if pa.types.is_timestamp(f.type)]
        if dates:  # Arrow parsed ISO-8601 strings: read those fields again as strings
            table = _arrow(chunk, pa.schema([(d, pa.string()) for d in dates]))
    if table is None or table.num_rows != expected_rows:
        return None
    for name, col in zip(table.column_names, table.columns):
        typ = col.type
        if has_mark(name):
            return None
        if pa.types.is_floating(typ):
            if pc.any(pc.equal(pc.floor(col), col)).as_py():
                return None
        elif not (pa.types.is_string(typ) or pa.types.is_integer(typ) or pa.types.is_boolean(typ)
                  or pa.types.is_null(typ)):
            return None
    return table


def _arrow(chunk: bytes, schema: pa.Schema | None) -> pa.Table | None:
    try:
        return pajson.read_json(io.BytesIO(chunk),
                                read_options=pajson.ReadOptions(use_threads=True, block_size=len(chunk) + 1),
                                parse_options=pajson.ParseOptions(explicit_schema=schema,
                                                                  unexpected_field_behavior="infer"))
    except pa.ArrowInvalid:
        return None


def _objects(col: pa.ChunkedArray) -> np.ndarray:
    if pa.types.is_string(col.type):
        return col.to_numpy(zero_copy_only=False)
    return np.array(col.to_pylist(), dtype=object)


def _slow(parts: PartBuilder, chunk: bytes, starts: np.ndarray, ends: np.ndarray, lines: np.ndarray,
          display: str, encoding: str) -> None:
    """The error path: ``json.loads`` line by line for this chunk only."""
    rows, kept = [], []
    for start, end, line in zip(starts.tolist(), ends.tolist(), lines.tolist()):
        text = chunk[start:end].decode("utf-8")
        if has_mark(text):
            _bad(parts, display, line, "bad_encoding", f"not valid {encoding} (byte 0x{first_marked_byte(text):02x})",
                 unmark(text))
            continue
        try:
            obj = json.loads(text)
        except ValueError as err:
            detail = f"invalid JSON: {err.msg} at column {err.colno}" if isinstance(err, json.JSONDecodeError) \
                else f"invalid JSON: {err}"
            _bad(parts, display, line, "malformed_json", detail, text)
            continue
        if not isinstance(obj, dict):
            _bad(parts, display, line, "malformed_json",
                 f"expected a JSON object, got {_JSON_TYPES.get(type(obj), type(obj).__name__)}", text)
            continue
        rows.append(obj)
        kept.append(line)
    names = list(dict.fromkeys(k for row in rows for k in row))
    columns = {k: [_flat(row.get(k)) for row in rows] for k in names}
    numbers = np.array(kept, dtype=np.int64)
    parts.add(object_frame(columns, len(rows)), join_sources(f"{display}:", numbers), numbers)


def _flat(value):
    return compact_json(value) if isinstance(value, (dict, list)) else value


def _bad(parts: PartBuilder, display: str, line: int, reason: str, detail: str, raw: str) -> None:
    parts.add_bad(f"{display}:{line}", reason, detail, raw, line)
