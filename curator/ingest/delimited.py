"""CSV and TSV: Arrow's streaming reader, every column read as a string.

CSV values may be quoted with ``"``; tab-separated text is read as it is, quotes included, unless
``input.quote`` names a quote character (see ``_quote_char``).

Rows stream in blocks of about ``input.chunk_rows`` rows. Malformed lines (wrong field count) come
from Arrow's ``invalid_row_handler``, which gives each one's record number; badly encoded rows are
found with one regex per column (see ``encoding``). Physical line numbers are computed per block
with numpy: a record's first line is its record number plus every newline inside quoted values of
the records before it. Blank lines are counted as lines but are not rows; so is a line whose fields
are all empty (Arrow cannot tell the two apart).
"""

from __future__ import annotations

import threading
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv

from .. import progress
from ..config import Config
from ..errors import ConfigError, InputError
from .encoding import MARK_PATTERN, SAMPLE_BYTES, check_sample, first_marked_byte, open_utf8, unmark
from .part import Part, PartBuilder, check_unique_names, join_sources, object_frame

_MIN_BLOCK, _MAX_BLOCK = 1 << 20, 1 << 28


def read_delimited(path: Path, display: str, cfg: Config, delimiter: str) -> Part:
    """Read one CSV/TSV file into a Part (see the module docstring)."""
    if len(delimiter) != 1:
        raise ConfigError(f"input.delimiter: expected one character, got {delimiter!r}")
    encoding = cfg.input.encoding
    check_sample(path, display, encoding, header=True)
    parts = PartBuilder(display)
    quote = _quote_char(cfg.input.quote, delimiter)
    names = _header(path, display, encoding, delimiter, quote)
    if names is None:
        return parts.build()
    stream = open_utf8(path, encoding)
    lines = _Lines(parts, display, first_extra=sum(n.count("\n") for n in names))
    try:
        reader = pacsv.open_csv(
            stream,
            read_options=pacsv.ReadOptions(use_threads=False, block_size=_block_size(path, cfg.input.chunk_rows)),
            parse_options=_parse_options(delimiter, quote, lines.on_invalid),
            convert_options=pacsv.ConvertOptions(column_types={n: pa.string() for n in names},
                                                  strings_can_be_null=False, quoted_strings_can_be_null=False))
        with progress.task(f"reading {display}") as bar:
            for batch in reader:
                _add_batch(parts, batch, lines, display, encoding, delimiter, stream.raw.marked)
                bar.advance(batch.num_rows)
        lines.flush()
    except pa.ArrowInvalid as err:
        raise InputError(f"{display}: {str(err).splitlines()[0]}") from None
    finally:
        stream.close()
    return parts.build(names=names)


def _quote_char(quote: str | None, delimiter: str) -> str | bool:
    """Arrow's ``quote_char``: "auto" quotes CSV but not tab-separated text, where a value may start
    with a quote that does not enclose it (quoting there would swallow the rows that follow)."""
    if quote == "auto":
        return False if delimiter == "\t" else '"'
    return quote or False


def _parse_options(delimiter: str, quote: str | bool, on_invalid) -> pacsv.ParseOptions:
    return pacsv.ParseOptions(delimiter=delimiter, quote_char=quote, newlines_in_values=True,
                              ignore_empty_lines=False, invalid_row_handler=on_invalid)


def _header(path: Path, display: str, encoding: str, delimiter: str, quote: str | bool) -> list[str] | None:
    """The column names (None for an empty file), from a small first read."""
    stream = open_utf8(path, encoding)
    try:
        reader = pacsv.open_csv(stream, read_options=pacsv.ReadOptions(use_threads=False, block_size=_MIN_BLOCK),
                                parse_options=_parse_options(delimiter, quote, lambda row: "skip"))
        names = reader.schema.names
    except pa.ArrowInvalid as err:
        if "Empty CSV file" in str(err):
            return None
        raise InputError(f"{display}: {str(err).splitlines()[0]}") from None
    finally:
        stream.close()
    check_unique_names(display, names)
    return names


def _block_size(path: Path, chunk_rows: int) -> int:
    with open(path, "rb") as f:
        sample = f.read(SAMPLE_BYTES)
    per_row = len(sample) / max(1, sample.count(b"\n"))
    return int(min(_MAX_BLOCK, max(_MIN_BLOCK, per_row * chunk_rows)))


class _Lines:
    """Turns Arrow record numbers (header = 1) into physical line numbers, block by block.

    Arrow reports malformed rows to ``on_invalid`` as it parses, possibly on its read-ahead thread
    and possibly a block ahead of the batch being placed, hence the lock.
    """

    def __init__(self, parts: PartBuilder, display: str, first_extra: int) -> None:
        self.parts, self.display = parts, display
        self.invalid: list[tuple[int, int, int, str]] = []  # (record number, expected, actual, text)
        self.lock = threading.Lock()
        self.next_record = 2          # the first record not yet placed
        self.extra = first_extra      # newlines inside values of every record before it

    def on_invalid(self, row) -> str:
        with self.lock:
            self.invalid.append((row.number, row.expected_columns, row.actual_columns, row.text))
        return "skip"

    def place(self, n_rows: int, row_newlines: np.ndarray) -> np.ndarray:
        """The first line of each of the next ``n_rows`` good records; malformed ones go to bad."""
        with self.lock:
            pending = np.array(sorted(r[0] for r in self.invalid), dtype=np.int64)
        candidates = np.arange(self.next_record, self.next_record + n_rows + len(pending), dtype=np.int64)
        records = candidates[~np.isin(candidates, pending)][:n_rows]
        last = int(records[-1]) if n_rows else self.next_record - 1
        return self._span(last, records, row_newlines)

    def flush(self) -> None:
        """Place the malformed lines after the last good row (the reader is done)."""
        if self.invalid:
            last = max(r[0] for r in self.invalid)
            self._span(last, np.array([], dtype=np.int64), np.array([], dtype=np.int64))

    def _span(self, last: int, records: np.ndarray, row_newlines: np.ndarray) -> np.ndarray:
        first = self.next_record
        with self.lock:
            mine = sorted(r for r in self.invalid if r[0] <= last)
            self.invalid[:] = [r for r in self.invalid if r[0] > last]
        newlines = np.zeros(max(0, last - first + 1), dtype=np.int64)
        newlines[records - first] = row_newlines
        for number, _, _, text in mine:
            newlines[number - first] = text.count("\n")
        starts = np.arange(first, last + 1, dtype=np.int64) + self.extra + np.cumsum(newlines) - newlines
        for number, expected, actual, text in mine:
            line = int(starts[number - first])
            self.parts.add_bad(f"{self.display}:{line}", "malformed_line",
                               f"expected {expected} fields, saw {actual}", unmark(text), line)
        self.extra += int(newlines.sum())
        self.next_record = last + 1
        return starts[records - first]


def _add_batch(parts: PartBuilder, batch: pa.RecordBatch, lines: _Lines, display: str, encoding: str,
               delimiter: str, any_marks: bool) -> None:
    cols = batch.columns
    n = batch.num_rows
    newlines = np.zeros(n, dtype=np.int64)
    blank = np.ones(n, dtype=bool)
    marked = np.zeros(n, dtype=bool)
    for col in cols:
        if _may_hold_newline(col):
            newlines += pc.count_substring(col, "\n").to_numpy(zero_copy_only=False)
        blank &= pc.equal(col, "").to_numpy(zero_copy_only=False)
        if any_marks:
            marked |= pc.match_substring_regex(col, MARK_PATTERN).to_numpy(zero_copy_only=False)
    line = lines.place(n, newlines)
    for i in np.flatnonzero(marked & ~blank):
        _bad_encoding(parts, batch, int(i), int(line[i]), display, encoding, delimiter)
    keep = pa.array(~blank & ~marked)
    empty = pa.scalar(None, pa.string())
    parts.add(object_frame({name: pc.filter(pc.if_else(pc.equal(col, ""), empty, col), keep)
                           .to_numpy(zero_copy_only=False) for name, col in zip(batch.schema.names, cols)}),
              join_sources(f"{display}:", line[~blank & ~marked]), line[~blank & ~marked])


def _may_hold_newline(col: pa.Array) -> bool:
    """False when the column's value bytes hold no newline at all (one numpy pass, no per-row work)."""
    data = col.buffers()[2]
    return data is not None and bool((np.frombuffer(data, dtype=np.uint8) == 10).any())


def _bad_encoding(parts: PartBuilder, batch: pa.RecordBatch, i: int, line: int, display: str, encoding: str,
                  delimiter: str) -> None:
    """One badly encoded row to bad (the error path: only such rows are looked at one by one)."""
    values = [col[i].as_py() for col in batch.columns]
    name, value = next((n, v) for n, v in zip(batch.schema.names, values) if first_marked_byte(v) is not None)
    parts.add_bad(f"{display}:{line}", "bad_encoding",
                  f"not valid {encoding} (byte 0x{first_marked_byte(value):02x} in column '{name}')",
                  unmark(delimiter.join(values)), line)
