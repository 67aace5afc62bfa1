"""Group-aware, stratified, stable train/val/test splits, and the leak check that proves them.

Rows that must stay together form a group: rows linked by the same content hash, the same
near-duplicate cluster, or the same value of a user column such as ``user_id`` (connected
components across all of these). A group's split is derived from its key and the seed alone
(strategy ``hash``), so adding rows never moves existing ones. Strategy ``exact`` instead hits the
ratios exactly within each label, at the price of that stability.
"""

from __future__ import annotations

import functools

import numpy as np
import pandas as pd
from scipy.sparse import coo_matrix
from scipy.sparse.csgraph import connected_components

from .engine import Engine
from .engine.local import LocalEngine
from .errors import ConfigError, LeakError
from .table import GROUP, ID, LABEL, hash64, to_hex

SPLIT = "split"
#: Column written by the near-duplicate step; linked like a user group column when present.
CLUSTER = "cluster"


def _value_hashes(values: pd.Series, column: str) -> tuple[np.ndarray, np.ndarray]:
    """Codes of a column's values (-1 for missing) and a stable uint64 hash of each distinct value."""
    codes, uniques = pd.factorize(values, use_na_sentinel=True)
    text = pd.Series(np.asarray(uniques, dtype=object)).astype(str)
    return codes, hash64((column + "=" + text).to_numpy())


def group_keys(table: pd.DataFrame, link_columns: list[str]) -> np.ndarray:
    """Key (uint64) of each row's group: connected components of rows sharing a value in any column.

    A group's key is the hash of its members' smallest value, taking the columns in the given order
    of priority: put the most stable identity first (a user column before a content hash), so a
    group keeps its key when rows join it. A row linked to nothing is keyed by its id.
    """
    missing = [c for c in link_columns if c not in table.columns]
    if missing:
        raise ConfigError(f"split.group_by: column {missing[0]!r} not found; columns are: "
                          f"{', '.join(map(str, table.columns))}")
    n = len(table)
    if n == 0 or not link_columns:
        return hash64(("id=" + table[ID].astype(str)).to_numpy())
    rows, nodes, node_rank, node_hash, offset = [], [], [], [], n
    for rank, col in enumerate(link_columns):
        codes, hashes = _value_hashes(table[col], col)
        present = codes >= 0
        rows.append(np.flatnonzero(present))
        nodes.append(offset + codes[present])
        node_rank.append(np.full(len(hashes), rank))
        node_hash.append(hashes)
        offset += len(hashes)
    rows_a, nodes_a = np.concatenate(rows), np.concatenate(nodes)
    graph = coo_matrix((np.ones(len(rows_a), dtype=np.int8), (rows_a, nodes_a)), shape=(offset, offset))
    n_comp, comp = connected_components(graph, directed=False)
    # Per component, the value node with the smallest (rank, hash) names the group.
    value_comp, rank_a, hash_a = comp[n:], np.concatenate(node_rank), np.concatenate(node_hash)
    best_rank = np.full(n_comp, len(link_columns))
    np.minimum.at(best_rank, value_comp, rank_a)
    top = rank_a == best_rank[value_comp]
    best_hash = np.full(n_comp, np.iinfo(np.uint64).max, dtype=np.uint64)
    np.minimum.at(best_hash, value_comp[top], hash_a[top])
    keys = best_hash[comp[:n]]
    unlinked = best_rank[comp[:n]] == len(link_columns)
    if unlinked.any():
        keys[unlinked] = hash64(("id=" + table[ID][unlinked].astype(str)).to_numpy())
    return keys


def _mix64(x: np.ndarray) -> np.ndarray:
    """splitmix64's finaliser: a fast, well-spread bijection on uint64."""
    x = x.astype(np.uint64, copy=True)
    with np.errstate(over="ignore"):
        x ^= x >> np.uint64(30)
        x *= np.uint64(0xBF58476D1CE4E5B9)
        x ^= x >> np.uint64(27)
        x *= np.uint64(0x94D049BB133111EB)
        x ^= x >> np.uint64(31)
    return x


def _uniform(keys: np.ndarray, seed: int) -> np.ndarray:
    """A number in [0, 1) per key, fixed by the key and the seed."""
    h = _mix64(np.asarray(keys, dtype=np.uint64) ^ _mix64(np.array([seed % (1 << 64)], dtype=np.uint64)))
    return (h >> np.uint64(11)).astype(np.float64) / float(1 << 53)


def _cumulative(ratios: dict[str, float]) -> tuple[list[str], np.ndarray]:
    names = list(ratios)
    cum = np.cumsum([ratios[k] for k in names])
    cum[-1] = 1.0
    return names, cum


def hash_splits(batch: pd.DataFrame, ratios: dict[str, float], seed: int) -> pd.Series:
    """Strategy ``hash``: each row's split from its group key (column ``g``) and the seed alone, so
    it is row-local (the batch function engines run)."""
    names, cum = _cumulative(ratios)
    chosen = np.searchsorted(cum, _uniform(batch["g"].to_numpy(), seed), side="right").clip(0, len(names) - 1)
    return pd.Series(np.asarray(names, dtype=object)[chosen], index=batch.index, dtype=object)


def assign_splits(table: pd.DataFrame, ratios: dict[str, float], seed: int, *, groups: np.ndarray,
                  stratify: bool = True, strategy: str = "hash", engine: Engine | None = None) -> pd.Series:
    """The split name of every row; every member of a group gets the same one. Strategy ``hash`` runs
    on ``engine`` (default: the local engine), row by row; ``exact`` needs every group at once."""
    if strategy == "hash":
        return (engine or LocalEngine()).map_batches(pd.DataFrame({"g": groups}, index=table.index),
                                                     functools.partial(hash_splits, ratios=dict(ratios), seed=seed))
    if strategy != "exact":
        raise ConfigError(f"split.strategy: expected 'hash' or 'exact', got {strategy!r}")
    names, cum = _cumulative(ratios)
    frame = pd.DataFrame({"g": groups, "label": table[LABEL].to_numpy()})
    per_group = frame.groupby("g", sort=True).size().rename("size").to_frame()
    per_group["u"] = _uniform(per_group.index.to_numpy(), seed)
    if stratify:  # a group's stratum is its most common label (ties: the smallest)
        counts = frame.dropna().groupby(["g", "label"]).size().rename("n").reset_index()
        counts = counts.sort_values(["g", "n", "label"], ascending=[True, False, True])
        per_group["stratum"] = counts.drop_duplicates("g").set_index("g")["label"]
        per_group["stratum"] = per_group["stratum"].fillna("\x00")
    else:
        per_group["stratum"] = ""
    ordered = per_group.sort_values(["stratum", "u"], kind="stable")
    before = ordered.groupby("stratum")["size"].cumsum() - ordered["size"]
    total = ordered.groupby("stratum")["size"].transform("sum")
    position = ((before + ordered["size"] / 2) / total).reindex(per_group.index).to_numpy()
    chosen = np.searchsorted(cum, position, side="right").clip(0, len(names) - 1)
    split_of_group = pd.Series(np.asarray(names, dtype=object)[chosen], index=per_group.index)
    return pd.Series(split_of_group.reindex(groups).to_numpy(), index=table.index, dtype=object)


def check_no_leak(table: pd.DataFrame, columns: list[str]) -> dict:
    """Raise LeakError if any value of ``columns`` (id, content hash, ...) is in two splits."""
    checked = [c for c in columns if c in table.columns]
    split_codes, _ = pd.factorize(table[SPLIT])
    for col in checked:
        codes, uniques = pd.factorize(table[col], use_na_sentinel=True)
        present = codes >= 0
        pairs = np.unique(codes[present].astype(np.int64) * 8 + split_codes[present])
        per_value = np.bincount(pairs // 8, minlength=len(uniques))
        leaked = np.flatnonzero(per_value > 1)
        if len(leaked):
            raise LeakError(f"{len(leaked)} value(s) of {col!r} are in more than one split, "
                            f"e.g. {uniques[leaked[0]]!r}")
    return {"passed": True, "checked": checked, "groups": int(table[GROUP].nunique()) if GROUP in table else 0}


def split_table(table: pd.DataFrame, cfg, content_columns: list[str], engine: Engine | None = None) -> pd.DataFrame:
    """Add ``group`` and ``split`` columns according to the config, and prove there is no leak."""
    link = list(dict.fromkeys([*cfg.split.group_by, *([CLUSTER] if CLUSTER in table.columns else []),
                               *(c for c in content_columns if c in table.columns)]))
    out = table.copy()
    keys = group_keys(out, link)
    out[GROUP] = to_hex(keys)
    out[SPLIT] = assign_splits(out, cfg.split.ratios, cfg.seed, groups=keys,
                               stratify=cfg.split.stratify, strategy=cfg.split.strategy, engine=engine)
    return out
