"""How many rows each class should have, which rows undersampling removes, and which rows
multi-label oversampling copies.

- Goals per class: the largest class (``max``), the ``median``, the smallest (``min``), explicit
  counts, or a maximum ratio between the largest and the smallest class.
- Undersampling removes the most redundant rows first. A row's redundancy is the share of LSH bands
  (MinHash of its text, or its perceptual hash for images) in which another row of its class shares
  its bucket and comes first in a seeded order: a near-duplicate pair loses one member, not both, and
  unique rows go last. Ties are broken by the same seeded order. It never samples blindly.
- Multi-label rows (label lists) are picked with weights from each short label's deficit over its
  frequency, restricted to rows that carry a label still short of its goal and damped by the share
  of their labels that are already at goal, in seeded batches that each close about half the
  remaining deficit, until every label reaches its goal: rare labels gain, common ones grow little.
  (imbalanced-learn has no multi-label support.)
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterator
from typing import NamedTuple

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from .errors import ConfigError
from .table import IMAGE, LABEL, TEXT, hash64


def goals(counts: pd.Series, strategy: str, target, max_ratio: float | None) -> pd.Series:
    """Rows wanted per label (same index as ``counts``), given the current counts."""
    counts = counts.astype(int)
    if counts.empty:
        return counts
    if max_ratio is not None:
        if strategy == "oversample":
            lo, hi = math.ceil(counts.max() / max_ratio), None
        elif strategy == "undersample":
            lo, hi = None, math.floor(counts.min() * max_ratio)
        else:  # both: the median class is the ceiling, and nothing may fall under ceiling / ratio
            hi = int(counts.median())
            lo = math.ceil(hi / max_ratio)
        return counts.clip(lower=lo, upper=hi).astype(int)
    if isinstance(target, dict):
        unknown = sorted(set(target) - set(counts.index.astype(str)))
        if unknown:
            raise ConfigError(f"rebalance.target: label {unknown[0]!r} is not in the train split; "
                              f"labels: {', '.join(map(str, counts.index))}")
        wanted = counts.copy()
        for label, n in target.items():
            wanted[label] = int(n)
    else:
        kind = target or {"oversample": "max", "undersample": "min", "both": "median"}[strategy]
        level = {"max": counts.max(), "median": counts.median(), "min": counts.min()}[kind]
        wanted = pd.Series(int(round(level)), index=counts.index)
    if strategy == "oversample":
        wanted = np.maximum(wanted, counts)
    elif strategy == "undersample":
        wanted = np.minimum(wanted, counts)
    return pd.Series(np.asarray(wanted, dtype=int), index=counts.index)


def seeded_order(ids: pd.Series, seed: int) -> np.ndarray:
    """A number per row fixed by its id and the seed (the tie-break and the sampling order)."""
    return hash64((ids.astype(str) + f"\x1f{seed}").to_numpy()).astype(np.float64)


def band_keys_for(table: pd.DataFrame, modality: str, root, near_cfg) -> np.ndarray:
    """(n, bands) bucket keys: MinHash LSH bands of text, or the four 16-bit quarters of a pHash."""
    if modality == "text":
        from .near.lsh import band_keys
        from .near.minhash import MinHashParams, signatures
        from .near.shingle import ShingleConfig

        params = MinHashParams(num_perm=64, seed=near_cfg.seed, shingle=ShingleConfig(near_cfg.shingle, near_cfg.n))
        return band_keys(signatures(table[TEXT].fillna("").astype(str).to_numpy(), params), 16, 4)
    from .augment.image import inside
    from .near.phash import hash_paths

    paths = [str(inside(root, p) or "") for p in table[IMAGE].astype(str)]
    ph = hash_paths(paths).phash.astype(np.uint64)
    return np.stack([(ph >> np.uint64(s)) & np.uint64(0xFFFF) for s in (0, 16, 32, 48)], axis=1)


def redundancy(keys: np.ndarray, labels: pd.Series, order: np.ndarray) -> np.ndarray:
    """Per row, the share of bands where a row of its class shares its bucket and comes first."""
    n, bands = keys.shape
    if n == 0:
        return np.zeros(0)
    frame = pd.DataFrame({"label": np.repeat(labels.astype(str).to_numpy(), bands),
                          "band": np.tile(np.arange(bands), n), "key": keys.reshape(-1),
                          "order": np.repeat(order, bands)})
    first = frame.groupby(["label", "band", "key"], sort=False)["order"].transform("min")
    covered = (frame["order"].to_numpy() > first.to_numpy()).reshape(n, bands)
    return covered.mean(axis=1)


def undersample(table: pd.DataFrame, surplus: pd.Series, score: np.ndarray, order: np.ndarray) -> np.ndarray:
    """Positions of the rows to remove: per label, its ``surplus`` most redundant rows."""
    frame = pd.DataFrame({"label": table[LABEL].astype(str).to_numpy(), "score": score, "order": order,
                          "pos": np.arange(len(table))})
    frame = frame.sort_values(["label", "score", "order"], ascending=[True, False, True], kind="stable")
    rank = frame.groupby("label", sort=False).cumcount().to_numpy()
    limit = frame["label"].map(surplus).fillna(0).to_numpy()
    return np.sort(frame["pos"].to_numpy()[rank < limit])


def oversample_parents(table: pd.DataFrame, deficit: pd.Series, order: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(positions, copy numbers): each short label's rows in seeded order, cycled until it has enough."""
    labels = table[LABEL].astype(str).to_numpy()
    positions, copies = [], []
    for label, need in deficit[deficit > 0].items():  # one entry per class
        rows = np.flatnonzero(labels == str(label))
        if len(rows) == 0 or need <= 0:
            continue
        rows = rows[np.argsort(order[rows], kind="stable")]
        k = np.arange(int(need))
        positions.append(rows[k % len(rows)])
        copies.append(k // len(rows))
    if not positions:
        return np.zeros(0, dtype=int), np.zeros(0, dtype=int)
    return np.concatenate(positions), np.concatenate(copies)


# -- multi-label -------------------------------------------------------------------------------------

class LabelLists(NamedTuple):
    """Every row's labels, flat: ``values`` holds row 0's labels, then row 1's, and so on."""

    values: np.ndarray   # str
    lengths: np.ndarray  # labels per row


def label_lists(labels: pd.Series) -> LabelLists | None:
    """Each row's labels when every value is a list: a list or array, or a string holding a JSON array
    (``'["a", "b"]'``); None when any is not. A string that is not a JSON array (``"[urgent]"``) is a
    plain label. Each distinct string is parsed once."""
    if labels.empty:
        return None
    try:
        arr = pa.array(labels.to_numpy(dtype=object), from_pandas=True)
    except (pa.ArrowInvalid, pa.ArrowTypeError, pa.ArrowNotImplementedError):
        return None  # mixed kinds of values
    if arr.null_count:
        return None
    if pa.types.is_list(arr.type) or pa.types.is_large_list(arr.type):
        try:
            values = pc.cast(pc.list_flatten(arr), pa.string())
        except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
            return None  # nested lists
        return LabelLists(values.to_numpy(zero_copy_only=False).astype(object),
                          pc.list_value_length(arr).to_numpy().astype(np.int64))
    if not pa.types.is_string(arr.type) or not pc.all(pc.starts_with(arr, "[")).as_py():
        return None
    codes, uniques = pd.factorize(labels.to_numpy(dtype=object))
    parsed = []
    for text in uniques:  # one small JSON array per distinct label set
        try:
            items = json.loads(text)
        except ValueError:
            return None
        if not isinstance(items, list):
            return None
        parsed.append([str(x) for x in items])
    sizes = np.array([len(items) for items in parsed], dtype=np.int64)
    flat = np.array([x for items in parsed for x in items], dtype=object)
    lengths = sizes[codes]
    starts = np.repeat((np.cumsum(sizes) - sizes)[codes], lengths)
    within = np.arange(lengths.sum()) - np.repeat(np.cumsum(lengths) - lengths, lengths)
    return LabelLists(flat[starts + within], lengths)


def first_plain_label(labels: pd.Series) -> int | None:
    """Position of the first label that is neither a list nor a string holding a JSON array, for an
    error message (it stops there); None when there is none."""
    parsed: dict[str, bool] = {}
    for i, value in enumerate(labels.to_numpy(dtype=object)):
        if isinstance(value, list | tuple | np.ndarray):
            continue
        if not isinstance(value, str) or not parsed.setdefault(value, _json_list(value)):
            return i
    return None


def _json_list(value) -> bool:
    try:
        return isinstance(value, str) and isinstance(json.loads(value), list)
    except ValueError:
        return False


def label_matrix(lists: LabelLists) -> tuple[np.ndarray, list[str]]:
    """(rows, labels) bool matrix of which labels each row carries, and the label names, sorted."""
    cols, names = pd.factorize(lists.values, sort=True)
    rows = np.repeat(np.arange(len(lists.lengths)), lists.lengths)
    matrix = np.zeros((len(lists.lengths), len(names)), dtype=bool)
    matrix[rows, cols] = True
    return matrix, [str(n) for n in names]


def multilabel_batches(matrix: np.ndarray, wanted: np.ndarray, seed: int, max_rows: int) -> Iterator[np.ndarray]:
    """Seeded batches of row positions to copy until each label's count reaches ``wanted``.

    A row's weight is the sum, over the short labels it carries, of the label's deficit over its
    number of rows, damped by the share of its labels already at goal, so each short label gains in
    proportion to its deficit. A batch is sized to close about half the total deficit: the batches
    stay few (about the log of the total deficit) and a small deficit is not overshot.
    """
    rng = np.random.default_rng(seed)
    rows_with = np.maximum(matrix.sum(axis=0), 1).astype(np.float64)
    counts = matrix.sum(axis=0).astype(np.int64)
    carried = matrix.astype(np.float64)  # which labels each row carries, for the products below
    carries = np.maximum(carried.sum(axis=1), 1.0)
    total = 0
    while total < max_rows:
        deficit = np.maximum(wanted - counts, 0)
        if not deficit.any():
            return
        short_carried = carried @ (deficit > 0)
        weight = (carried @ (deficit / rows_with)) * (short_carried / carries) ** 2
        if weight.sum() <= 0:
            return
        prob = weight / weight.sum()
        gain = prob @ short_carried  # short labels a picked row carries, on average
        batch = int(min(max(1, deficit.sum() // (2 * gain)), max_rows - total))
        rows = rng.choice(len(matrix), size=batch, p=prob)
        counts += np.bincount(rows, minlength=len(matrix)) @ matrix
        total += batch
        yield rows


def multilabel_parents(matrix: np.ndarray, wanted: np.ndarray, seed: int, max_rows: int) -> np.ndarray:
    """Row positions to copy (with repeats) so each label's count reaches ``wanted``, common labels spared."""
    picked = list(multilabel_batches(matrix, wanted, seed, max_rows))
    return np.concatenate(picked) if picked else np.zeros(0, dtype=int)


def label_counts(labels: pd.Series) -> dict[str, int]:
    """Rows per label; a multi-label row counts once for each of its labels."""
    lists = label_lists(labels)
    if lists is None:
        return {str(k): int(v) for k, v in labels.astype(str).value_counts().sort_index().items()}
    matrix, names = label_matrix(lists)
    return {n: int(c) for n, c in zip(names, matrix.sum(axis=0))}

