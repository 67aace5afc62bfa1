"""A run directory read once into the review page's indexes.

Every row the run saw (its splits and ``dropped.parquet``) gets a position in one Arrow table.
Labels and splits become integer codes, so a filter is a comparison of integer arrays; content is
only taken for the page shown or the rows searched. The queues (:mod:`.queues`) are built from
these arrays and the ledger's flagged and dropped entries, vectorised, once: a page of a
million-row run is a slice and a gather, never a pass in Python.
"""

from __future__ import annotations

import json
from functools import cached_property
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from ..errors import InputError
from ..table import ID, LABEL, SOURCE

SPLITS = ("train", "val", "test")
DROPPED = "dropped"
_ROW_COLUMNS = (ID, LABEL, SOURCE, "content_hash", "cluster", "step", "reason", "detail")
_FLAG_COLUMNS = [ID, "step", "action", "reason", "detail"]


def codes(column: pa.ChunkedArray | pa.Array) -> tuple[np.ndarray, pa.Array]:
    """Integer codes (-1 for null) and the distinct values, by Arrow's dictionary encoding."""
    encoded = pc.dictionary_encode(column.combine_chunks() if isinstance(column, pa.ChunkedArray) else column)
    return encoded.indices.fill_null(-1).to_numpy(zero_copy_only=False).astype(np.int64), encoded.dictionary


def probe(column: pa.ChunkedArray, keys: pa.Array | pa.ChunkedArray) -> np.ndarray:
    """For each of ``keys`` (repeats allowed): the position of the first row of ``column`` equal to
    it, or -1."""
    distinct = pc.unique(keys)
    hit = pc.index_in(column, value_set=distinct).fill_null(-1).to_numpy(zero_copy_only=False).astype(np.int64)
    rows = np.flatnonzero(hit >= 0)
    first = np.full(len(distinct), -1, np.int64)
    first[hit[rows][::-1]] = rows[::-1]  # the first row wins
    return first[pc.index_in(keys, value_set=distinct).to_numpy(zero_copy_only=False).astype(np.int64)]


class RunIndex:
    """The rows, labels and ledger of one run directory, as the review page needs them."""

    def __init__(self, run_dir: str | Path) -> None:
        self.run_dir = Path(run_dir)
        self.manifest = _manifest(self.run_dir)
        self.modality = self.manifest.get("modality", "text")
        self.content_col = self.manifest.get("columns", {}).get("content", "text")
        self.root = Path(self.manifest.get("dataset_root") or self.run_dir).resolve()
        self.decisions_path = Path(self.manifest["decisions"])
        parts = [self._read(name) for name in (*SPLITS, DROPPED) if (self.run_dir / f"{name}.parquet").is_file()]
        if not parts:
            raise InputError(f"{self.run_dir}: a run directory without train/val/test/dropped.parquet")
        self.table = pa.concat_tables(parts)
        # the files' record batches, kept as they are: a take across chunks would copy every chunk
        self._batches = self.table.to_batches()
        self._starts = np.cumsum([0] + [b.num_rows for b in self._batches])
        self.label_codes, labels = codes(self.table[LABEL])
        self.split_codes, splits = codes(self.table["split"])
        self.label_values, self.split_values = labels.to_pylist(), splits.to_pylist()
        declared = [str(x) for x in self.manifest.get("labels") or []]
        self.labels = declared or sorted(str(v) for v in self.label_values)
        self.flags = self._flags()

    def __len__(self) -> int:
        return self.table.num_rows

    # -- reading --------------------------------------------------------------------------------
    def _read(self, name: str) -> pa.Table:
        path = self.run_dir / f"{name}.parquet"
        have = set(pq.read_schema(path).names)
        table = pq.read_table(path, columns=[c for c in (self.content_col, *_ROW_COLUMNS) if c in have])
        cols = {}
        for col in (self.content_col, *_ROW_COLUMNS):
            values = table[col] if col in have else pa.nulls(table.num_rows, pa.large_string())
            cols[col] = values if pa.types.is_large_string(values.type) else pc.cast(values, pa.large_string())
        cols["split"] = pa.repeat(pa.scalar(name, pa.large_string()), table.num_rows)
        return pa.table(cols)

    def _flags(self) -> pd.DataFrame:
        """The ledger's flagged and dropped entries, with each row's position (kept entries are read
        per row, on demand)."""
        path = self.run_dir / "ledger.parquet"
        if not path.is_file():
            return pd.DataFrame({c: pd.Series(dtype=object) for c in (*_FLAG_COLUMNS, "pos")})
        # dictionary-encoded reads: most of a big ledger is the split step's "kept" entries
        table = pq.read_table(path, columns=_FLAG_COLUMNS, read_dictionary=_FLAG_COLUMNS[1:])
        table = table.filter(pc.is_in(table["action"], pa.array(["flagged", "dropped"])))
        flags = pd.DataFrame({c: pc.cast(table[c], pa.large_string()).to_numpy(zero_copy_only=False)
                              for c in _FLAG_COLUMNS})
        flags["pos"] = self.positions(table[ID])
        return flags

    def positions(self, ids) -> np.ndarray:
        """Row positions of ``ids`` (a list or Arrow array); -1 for an id the run does not hold.
        The few ids are hashed and every row probes them: no hash of the whole run is built."""
        values = ids if isinstance(ids, pa.Array | pa.ChunkedArray) else pa.array([str(i) for i in ids],
                                                                                   pa.large_string())
        return probe(self.table[ID], pc.cast(values, pa.large_string()))

    def code(self, values: list, value: str | None) -> int:
        """The code of ``value`` among ``values``; -2 (matches nothing) when absent."""
        return values.index(value) if value in values else -2

    def gather(self, positions: np.ndarray, columns: list[str] | None = None) -> pa.Table:
        """The rows at ``positions``, in that order, taken batch by batch (no chunk is copied whole)."""
        positions = np.asarray(positions, dtype=np.int64)
        order = np.argsort(positions, kind="stable")
        ordered = positions[order]
        cuts = np.searchsorted(ordered, self._starts)
        parts = []
        for b, batch in enumerate(self._batches):  # a handful of batches, one per file or row group
            lo, hi = cuts[b], cuts[b + 1]
            if hi > lo:
                sub = batch.select(columns) if columns else batch
                parts.append(sub.take(pa.array(ordered[lo:hi] - self._starts[b])))
        if not parts:
            return self.table.select(columns or self.table.column_names).slice(0, 0)
        taken = pa.Table.from_batches(parts)
        inverse = np.empty_like(order)
        inverse[order] = np.arange(len(order))
        return taken.take(pa.array(inverse))

    def ids(self, positions: np.ndarray) -> list[str]:
        return self.gather(positions, [ID])[ID].to_pylist()

    def is_dropped(self, positions: np.ndarray) -> np.ndarray:
        return self.split_codes[positions] == self.code(self.split_values, DROPPED)

    @cached_property
    def ledger(self) -> pa.Table:
        path = self.run_dir / "ledger.parquet"
        return pq.read_table(path) if path.is_file() else pa.table({ID: pa.array([], pa.string())})

    # -- per page -------------------------------------------------------------------------------
    def take(self, positions: np.ndarray) -> list[dict]:
        """The rows at ``positions`` as dicts for the page: ``content``, id, label, split, source ..."""
        positions = np.asarray(positions, dtype=np.int64)
        rows = self.gather(positions).rename_columns(
            ["content" if c == self.content_col else c for c in self.table.column_names]).to_pylist()
        for p, row in zip(positions, rows):  # the rows of one page
            row["pos"] = int(p)
        return rows

    def contains(self, positions: np.ndarray, query: str) -> np.ndarray:
        """Which rows at ``positions`` contain ``query`` (case-insensitive), by Arrow's kernel."""
        content = self.gather(positions, [self.content_col])[self.content_col]
        return pc.match_substring(content, query, ignore_case=True).fill_null(False).to_numpy(zero_copy_only=False)

    def history(self, row_id: str) -> list[dict]:
        """Every ledger entry of one row, in the order the run made them."""
        led = self.ledger
        if ID not in led.column_names or led.num_rows == 0:
            return []
        return led.filter(pc.equal(led[ID], row_id)).to_pylist()


def _manifest(run_dir: Path) -> dict:
    path = run_dir / "manifest.json"
    if not path.is_file():
        raise InputError(f"{run_dir}: expected a curator run directory with manifest.json "
                         "(run `curator run CONFIG` first)")
    try:
        manifest = json.loads(path.read_text(encoding="utf-8"))
    except ValueError as err:
        raise InputError(f"{path}: not readable JSON ({err})") from None
    if not manifest.get("decisions"):
        raise InputError(f"{path}: no 'decisions' entry; run `curator run` again with this version to review it")
    return manifest
