"""A run directory read once into the review page's indexes.

Every row the run saw (its splits and ``dropped.parquet``) gets a position; content stays in one
Arrow array and is only taken for the page shown or searched. The queues (:mod:`.queues`) are
built from these columns and the ledger's non-``kept`` entries, vectorised, once, so a page of a
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


class RunIndex:
    """The rows, labels and ledger of one run directory, as the review page needs them."""

    def __init__(self, run_dir: str | Path) -> None:
        self.run_dir = Path(run_dir)
        manifest_path = self.run_dir / "manifest.json"
        if not manifest_path.is_file():
            raise InputError(f"{self.run_dir}: expected a curator run directory with manifest.json "
                             "(run `curator run CONFIG` first)")
        try:
            self.manifest = json.loads(manifest_path.read_text(encoding="utf-8"))
        except ValueError as err:
            raise InputError(f"{manifest_path}: not readable JSON ({err})") from None
        self.modality = self.manifest.get("modality", "text")
        self.content_col = self.manifest.get("columns", {}).get("content", "text")
        self.root = Path(self.manifest.get("dataset_root") or self.run_dir).resolve()
        decisions = self.manifest.get("decisions")
        if not decisions:
            raise InputError(f"{manifest_path}: no 'decisions' entry; run `curator run` again with this "
                             "version to review it")
        self.decisions_path = Path(decisions)
        table = pa.concat_tables([self._read(name) for name in (*SPLITS, DROPPED) if self._has(name)])
        self.content: pa.ChunkedArray = table[self.content_col]
        self.rows = pd.DataFrame({name: table[name].to_pandas() for name in _ROW_COLUMNS})
        self.rows["split"] = table["split"].to_pandas().astype("category")
        self.rows[LABEL] = self.rows[LABEL].astype(object).where(self.rows[LABEL].notna(), None)
        declared = [str(x) for x in self.manifest.get("labels") or []]
        seen = sorted(set(self.rows[LABEL].dropna().astype(str).unique()) - set(declared))
        self.labels = declared or seen
        self.all_labels = declared + seen
        self.ledger_flags = self._flags()

    # -- reading --------------------------------------------------------------------------------
    def _has(self, name: str) -> bool:
        return (self.run_dir / f"{name}.parquet").is_file()

    def _read(self, name: str) -> pa.Table:
        path = self.run_dir / f"{name}.parquet"
        have = set(pq.read_schema(path).names)
        wanted = [c for c in (self.content_col, *_ROW_COLUMNS) if c in have]
        table = pq.read_table(path, columns=wanted)
        n = table.num_rows
        cols = {}
        for name_ in (self.content_col, *_ROW_COLUMNS):
            col = table[name_] if name_ in have else pa.nulls(n, pa.large_string())
            cols[name_] = col if pa.types.is_large_string(col.type) else pc.cast(col, pa.large_string())
        cols["split"] = pa.array(np.full(n, name, dtype=object), pa.string())
        return pa.table(cols)

    def _flags(self) -> pd.DataFrame:
        """The ledger's flagged and dropped entries (kept/fixed are read on demand, per row)."""
        path = self.run_dir / "ledger.parquet"
        if not path.is_file():
            return pd.DataFrame({c: pd.Series(dtype=object) for c in (ID, "step", "action", "reason", "detail")})
        table = pq.read_table(path, columns=[ID, "step", "action", "reason", "detail"],
                              filters=[("action", "in", ["flagged", "dropped"])])
        return table.to_pandas().astype(object)

    @cached_property
    def _positions(self) -> pd.Index:
        return pd.Index(self.rows[ID].to_numpy(dtype=object))

    def positions(self, ids) -> np.ndarray:
        """Row positions of ``ids``; -1 for an id the run does not hold."""
        return self._positions.get_indexer(pd.Index(list(ids), dtype=object))

    @cached_property
    def ledger(self) -> pa.Table:
        path = self.run_dir / "ledger.parquet"
        return pq.read_table(path) if path.is_file() else pa.table({ID: pa.array([], pa.string())})

    # -- per page -------------------------------------------------------------------------------
    def take(self, positions: np.ndarray) -> list[dict]:
        """The rows at ``positions`` as dicts for the page (content, label, split, source ...)."""
        positions = np.asarray(positions, dtype=np.int64)
        content = self.content.take(pa.array(positions)).to_pylist()
        sub = self.rows.iloc[positions]
        sub = sub.astype(object).where(sub.notna(), None)
        return [{"pos": int(p), "content": c, **rec}
                for p, c, rec in zip(positions, content, sub.to_dict("records"))]

    def contains(self, positions: np.ndarray, query: str) -> np.ndarray:
        """Which rows at ``positions`` contain ``query`` (case-insensitive), by Arrow's kernel."""
        found = pc.match_substring(self.content.take(pa.array(np.asarray(positions, dtype=np.int64))),
                                   query, ignore_case=True)
        return found.fill_null(False).to_numpy(zero_copy_only=False)

    def history(self, row_id: str) -> list[dict]:
        """Every ledger entry of one row, in the order the run made them."""
        led = self.ledger
        if ID not in led.column_names or led.num_rows == 0:
            return []
        found = led.filter(pc.equal(led[ID], row_id)).to_pandas()
        return found.astype(object).where(found.notna(), None).to_dict("records")
