"""Engines decide where a step's batches run; the steps themselves are written once.

A step expresses its per-row work as a *batch function*: ``fn(batch) -> output`` on a slice of
the table (rule checks and fixes, content hashes, MinHash signatures, image hashes and embeddings,
splits from group keys). Row-local by contract, so the same rows give the same output whichever
slices they arrive in. Its whole-table work (grouping, connected components, the ledger) stays in
the step. An engine offers two operations:

- :meth:`Engine.map_batches` runs a batch function over the table's rows and returns the outputs
  concatenated in row order (``heavy``: worth cutting into batches for both cores; ``gpu``: wants
  a GPU where the engine has one);
- :meth:`Engine.group_apply` runs a function over the rows of a frame partitioned by a uint64
  key column (a shuffle): every row with one key value reaches the same call.

``local`` runs batches in this process (a thread pool over both cores for CPU-heavy functions:
numpy, Arrow and the image decoders release the GIL); ``ray`` runs them as Ray Data tasks on a
local or remote Ray cluster (:mod:`curator.engine.ray_engine`).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
import pandas as pd

from ..errors import ConfigError

ENGINES = ("local", "ray")
#: Rows per batch of a CPU-heavy function (small enough to spread over the workers, big enough to vectorise).
HEAVY_BATCH_ROWS = 16_384


class Engine:
    """The interface both engines implement. ``workers`` is how many batches may run at once."""

    name = "engine"
    workers = 1

    def map_batches(self, table: pd.DataFrame, fn: Callable[[pd.DataFrame], Any], *, heavy: bool = False,
                    gpu: bool = False, batch_rows: int | None = None) -> Any:  # pragma: no cover - abstract
        raise NotImplementedError

    def group_apply(self, frame: pd.DataFrame, key: str, fn: Callable[[pd.DataFrame], Any], *,
                    partitions: int | None = None) -> Any:  # pragma: no cover - abstract
        raise NotImplementedError

    def close(self) -> None:
        """Release what the engine started (nothing for the local engine)."""


def slices(n: int, rows: int) -> list[tuple[int, int]]:
    """``[lo, hi)`` bounds of consecutive batches of at most ``rows`` rows (one empty batch for n = 0)."""
    rows = max(1, int(rows))
    return [(lo, min(lo + rows, n)) for lo in range(0, n, rows)] or [(0, 0)]


def concat(parts: Sequence[Any]) -> Any:
    """Join batch outputs in order: frames by rows, arrays on axis 0, dicts key by key, lists flat."""
    first = parts[0]
    if isinstance(first, pd.DataFrame | pd.Series):
        return pd.concat(parts, ignore_index=False) if len(parts) > 1 else first
    if isinstance(first, np.ndarray):
        return np.concatenate(parts) if len(parts) > 1 else first
    if isinstance(first, dict):
        return {k: concat([p[k] for p in parts]) for k in first}
    if isinstance(first, tuple):
        return tuple(concat([p[i] for p in parts]) for i in range(len(first)))
    if isinstance(first, list):
        return [x for p in parts for x in p]
    raise TypeError(f"expected batch outputs that are frames, arrays, dicts, tuples or lists, got {type(first).__name__}")


def partition_of(keys: np.ndarray, partitions: int) -> np.ndarray:
    """The partition (0 .. partitions-1) of each uint64 key: its high bits, so spread keys stay spread."""
    keys = np.asarray(keys, dtype=np.uint64)
    return ((keys >> np.uint64(32)) % np.uint64(max(1, partitions))).astype(np.int64)


def partitions(frame: pd.DataFrame, key: str, parts: int) -> list[pd.DataFrame]:
    """``frame`` cut into ``parts`` frames by the hash partition of ``key`` (rows keep their order
    within a part): every row with one key value lands in the same part."""
    which = partition_of(frame[key].to_numpy(), parts)
    order = np.argsort(which, kind="stable")
    bounds = np.r_[0, np.cumsum(np.bincount(which, minlength=parts))]
    return [frame.iloc[order[lo:hi]] for lo, hi in zip(bounds[:-1], bounds[1:])]


def make_engine(name: str = "local", *, address: str | None = None, num_cpus: int | None = None,
                workers: int = 2) -> Engine:
    """An engine by name: ``local`` (in-process, ``workers`` threads) or ``ray`` (``address`` of a
    cluster, or a local Ray started with ``num_cpus``)."""
    if name == "local":
        from .local import LocalEngine
        return LocalEngine(workers=workers)
    if name == "ray":
        from .ray_engine import RayEngine
        return RayEngine(address=address, num_cpus=num_cpus)
    raise ConfigError(f"engine: expected one of {', '.join(ENGINES)}, got {name!r}")
