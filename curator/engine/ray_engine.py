"""The Ray engine: batch functions run as Ray Data tasks on a local Ray or a cluster.

The table's slices enter Ray Data as object-store blocks, each a pickled pandas slice with its
sequence number. Pickling, rather than Ray's own Arrow conversion, keeps every dtype and missing
value exactly as the local engine sees it (Arrow turns ``None`` into ``NaN`` and object columns into
Arrow strings), which is what makes the two engines' results identical. A task whose worker dies is
retried by Ray (Ray Data retries a task whose worker died, without limit); outputs are put back in sequence order, so a retry changes
nothing. A batch function that needs a GPU (image embeddings) is mapped with ``gpu=True``: on a
cluster with GPUs each of its tasks asks Ray for ``num_gpus=1``, so Ray schedules it on a GPU node.

``group_apply`` is a Ray Data ``groupby`` on a partition column derived from the group key, so all
rows sharing a key (an LSH band key) meet in one ``map_groups`` call: the shuffle.
"""

from __future__ import annotations

import math
import pickle
from collections.abc import Callable
from typing import Any

import numpy as np
import pandas as pd

from .. import progress
from ..errors import ConfigError, CuratorError
from . import HEAVY_BATCH_ROWS, Engine, concat, partition_of, slices

#: Rows per batch for light functions: fewer, larger tasks (each task has a fixed cost of ~10 ms).
LIGHT_BATCH_ROWS = 65_536
_SEQ, _PAYLOAD, _PART = "seq", "payload", "_partition"


def _ray():
    try:
        import ray
        import ray.data  # noqa: F401
    except ImportError:  # pragma: no cover - depends on the install
        raise ConfigError("engine 'ray' needs Ray Data: pip install 'curator[ray]'") from None
    return ray


class _Pickled:
    """Wraps a batch function for Ray Data: unpickle each slice, call, pickle the output."""

    def __init__(self, fn: Callable[[pd.DataFrame], Any]) -> None:
        self.fn = fn

    def __call__(self, batch: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        out = [pickle.dumps(_guarded(self.fn, pickle.loads(p)), protocol=5) for p in batch[_PAYLOAD]]
        return {_SEQ: batch[_SEQ], _PAYLOAD: np.asarray(out, dtype=object)}


class _Raised:
    """A curator error raised in a worker, carried back so the driver raises it as it is (one line,
    no Ray traceback wrapped around it)."""

    def __init__(self, error: CuratorError) -> None:
        self.error = error


def _guarded(fn: Callable[[Any], Any], arg: Any) -> Any:
    try:
        return fn(arg)
    except CuratorError as err:
        return _Raised(err)


def _grouped(fn: Callable[[pd.DataFrame], Any]) -> Callable[[pd.DataFrame], pd.DataFrame]:
    """Wraps a group function for ``map_groups`` (which wants a function): a partition's rows in,
    its pickled output out."""
    def call(group: pd.DataFrame) -> pd.DataFrame:
        part = int(group[_PART].iloc[0]) if len(group) else -1
        frame = group.drop(columns=[_PART]).reset_index(drop=True)
        return pd.DataFrame({_SEQ: [part], _PAYLOAD: [pickle.dumps(_guarded(fn, frame), protocol=5)]})
    return call


class RayEngine(Engine):
    """Runs batches on Ray. Joins a running Ray (or ``address``), or starts a local one with
    ``num_cpus``; only a Ray it started itself is shut down by :meth:`close`."""

    name = "ray"

    def __init__(self, address: str | None = None, num_cpus: int | None = None) -> None:
        ray = _ray()
        self._started = False
        if not ray.is_initialized():
            kwargs = {"address": address} if address else {"num_cpus": num_cpus}
            ray.init(include_dashboard=False, log_to_driver=False, **kwargs)
            self._started = True
        self.workers = max(1, int(ray.cluster_resources().get("CPU", 1)))
        ctx = ray.data.DataContext.get_current()
        ctx.enable_progress_bars = progress.is_enabled()

    def map_batches(self, table: pd.DataFrame, fn: Callable[[pd.DataFrame], Any], *, heavy: bool = False,
                    gpu: bool = False, batch_rows: int | None = None) -> Any:
        ray = _ray()
        rows = batch_rows or (HEAVY_BATCH_ROWS if heavy else
                              min(LIGHT_BATCH_ROWS, max(1024, math.ceil(len(table) / self.workers))))
        bounds = slices(len(table), rows)
        items = [{_SEQ: i, _PAYLOAD: pickle.dumps(table.iloc[lo:hi], protocol=5)} for i, (lo, hi) in enumerate(bounds)]
        ds = ray.data.from_items(items, override_num_blocks=len(items))
        out = ds.map_batches(_Pickled(fn), batch_size=1, batch_format="numpy", num_cpus=1,
                             num_gpus=self._gpus(gpu))
        return concat(self._collect(out, len(items)))

    def group_apply(self, frame: pd.DataFrame, key: str, fn: Callable[[pd.DataFrame], Any], *,
                    partitions: int | None = None) -> Any:
        ray = _ray()
        parts = partitions or 4 * self.workers
        frame = frame.assign(**{_PART: partition_of(frame[key].to_numpy(), parts)})
        blocks = [frame.iloc[lo:hi] for lo, hi in slices(len(frame), LIGHT_BATCH_ROWS * 4)]
        ds = ray.data.from_pandas(blocks)
        out = ds.groupby(_PART).map_groups(_grouped(fn), batch_format="pandas", num_cpus=1)
        results = self._collect(out, None)
        return concat(results) if results else fn(frame.iloc[0:0].drop(columns=[_PART]))

    @staticmethod
    def _gpus(gpu: bool) -> float | None:
        """A GPU stage asks Ray for one GPU per task where the cluster has GPUs (else it runs on CPUs)."""
        return 1 if gpu and _ray().cluster_resources().get("GPU", 0) >= 1 else None

    @staticmethod
    def _collect(ds, expected: int | None) -> list[Any]:
        """Outputs in sequence order (Ray returns them in completion order)."""
        rows = sorted(ds.take_all(), key=lambda r: int(r[_SEQ]))
        if expected is not None and len(rows) != expected:
            raise RuntimeError(f"ray returned {len(rows)} batch outputs, expected {expected}")
        outputs = [pickle.loads(r[_PAYLOAD]) for r in rows]
        for out in outputs:
            if isinstance(out, _Raised):
                raise out.error
        return outputs

    def close(self) -> None:
        if self._started:
            _ray().shutdown()
            self._started = False
