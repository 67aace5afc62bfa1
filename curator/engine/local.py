"""The local engine: batches run in this process, CPU-heavy ones on a thread pool over both cores."""

from __future__ import annotations

from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pandas as pd

from . import HEAVY_BATCH_ROWS, Engine, concat, slices
from . import partitions as cut


class LocalEngine(Engine):
    """Light batch functions see the whole table at once (one vectorised call); heavy ones are cut
    into batches that run on ``workers`` threads, results in row order."""

    name = "local"

    def __init__(self, workers: int = 2) -> None:
        if workers < 1:
            raise ValueError(f"expected workers >= 1, got {workers}")
        self.workers = workers

    def map_batches(self, table: pd.DataFrame, fn: Callable[[pd.DataFrame], Any], *, heavy: bool = False,
                    gpu: bool = False, batch_rows: int | None = None) -> Any:
        if not heavy and batch_rows is None:
            return fn(table)
        bounds = slices(len(table), batch_rows or HEAVY_BATCH_ROWS)
        if len(bounds) == 1 or self.workers == 1:
            return concat([fn(table.iloc[lo:hi]) for lo, hi in bounds])
        with ThreadPoolExecutor(max_workers=self.workers) as pool:
            return concat(list(pool.map(lambda b: fn(table.iloc[b[0]:b[1]]), bounds)))

    def group_apply(self, frame: pd.DataFrame, key: str, fn: Callable[[pd.DataFrame], Any], *,
                    partitions: int | None = None) -> Any:
        """Rows split by key into one partition per worker (the same partition function as Ray's
        shuffle), each partition on its own thread."""
        parts = partitions or self.workers
        if parts == 1 or len(frame) == 0:
            return fn(frame)
        with ThreadPoolExecutor(max_workers=self.workers) as pool:
            return concat(list(pool.map(fn, cut(frame, key, parts))))
