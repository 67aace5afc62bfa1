"""Group-aware, stratified, stable train/val/test splits, and the leak check that proves them.

Rows that must stay together form a group: rows linked by the same content hash, the same
near-duplicate cluster, or the same value of a user column such as ``user_id`` (connected
components across all of these). A group's split is derived from its key and the seed alone
(strategy ``hash``), so adding rows never moves existing ones. Strategy ``exact`` instead hits the
ratios exactly within each label, at the price of that stability.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from scipy.sparse import coo_matrix
from scipy.sparse.csgraph import connected_components

from .errors import ConfigError, LeakError
from .table import GROUP, ID, LABEL, hash64, to_hex

SPLIT = "split"
#: Column written by the near-duplicate step; linked like a user group column when present.
CLUSTER = "cluster"


def group_keys(table: pd.DataFrame, link_columns: list[str]) -> pd.Series:
    """Key of each row's group: connected components of rows that share a value in any column.

    A group's key is the smallest ``column=value`` of its members, taking the columns in the given
    order of priority: put the most stable identity first (a user column before a content hash), so
    a group keeps its key when rows join it.
    """
    missing = [c for c in link_columns if c not in table.columns]
    if missing:
        raise ConfigError(f"split.group_by: column {missing[0]!r} not found; columns are: "
                          f"{', '.join(map(str, table.columns))}")
    n = len(table)
    own = pd.Series("id=" + table[ID].astype(str).to_numpy(), index=table.index, dtype=object)
    if n == 0 or not link_columns:
        return own
    values = pd.concat([f"{rank:03d}:{col}=" + table[col].astype(str).where(table[col].notna())
                        for rank, col in enumerate(link_columns)], ignore_index=True)
    rows = np.tile(np.arange(n), len(link_columns))
    present = values.notna().to_numpy()
    codes, uniques = pd.factorize(values[present], sort=True)
    graph = coo_matrix((np.ones(present.sum(), dtype=np.int8), (rows[present], n + codes)),
                       shape=(n + len(uniques), n + len(uniques)))
    _, comp = connected_components(graph, directed=False)
    # Smallest value string per component (uniques are sorted, so the smallest code wins).
    value_comp = comp[n:]
    first_code = pd.Series(np.arange(len(uniques))).groupby(value_comp).min()
    comp_key = pd.Series(np.asarray(uniques, dtype=object)[first_code.to_numpy()], index=first_code.index)
    keys = pd.Series(comp[:n], index=table.index).map(comp_key)
    return keys.where(keys.notna(), own).astype(object)


def _uniform(keys: pd.Series, seed: int) -> np.ndarray:
    """A number in [0, 1) per key, fixed by the key and the seed."""
    h = hash64((f"{seed}\x1f" + keys.astype(str)).to_numpy())
    return (h >> np.uint64(11)).astype(np.float64) / float(1 << 53)


def assign_splits(table: pd.DataFrame, ratios: dict[str, float], seed: int, *, groups: pd.Series,
                  stratify: bool = True, strategy: str = "hash") -> pd.Series:
    """The split name of every row; every member of a group gets the same one."""
    names = list(ratios)
    cum = np.cumsum([ratios[k] for k in names])
    cum[-1] = 1.0
    frame = pd.DataFrame({"g": groups.to_numpy(), "label": table[LABEL].to_numpy()})
    per_group = frame.groupby("g", sort=True).size().rename("size").to_frame()
    per_group["u"] = _uniform(pd.Series(per_group.index, index=per_group.index), seed)
    if strategy == "hash":
        position = per_group["u"].to_numpy()
    elif strategy == "exact":
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
    else:
        raise ConfigError(f"split.strategy: expected 'hash' or 'exact', got {strategy!r}")
    chosen = np.searchsorted(cum, position, side="right").clip(0, len(names) - 1)
    split_of_group = pd.Series(np.asarray(names, dtype=object)[chosen], index=per_group.index)
    return groups.map(split_of_group).astype(object)


def check_no_leak(table: pd.DataFrame, columns: list[str]) -> dict:
    """Raise LeakError if any value of ``columns`` (id, content hash, ...) is in two splits."""
    checked = [c for c in columns if c in table.columns]
    for col in checked:
        present = table[[col, SPLIT]].dropna()
        n_splits = present.groupby(col)[SPLIT].nunique()
        leaked = n_splits[n_splits > 1]
        if len(leaked):
            raise LeakError(f"{len(leaked)} value(s) of {col!r} are in more than one split, "
                            f"e.g. {leaked.index[0]!r}")
    return {"passed": True, "checked": checked, "groups": int(table[GROUP].nunique()) if GROUP in table else 0}


def split_table(table: pd.DataFrame, cfg, content_columns: list[str]) -> pd.DataFrame:
    """Add ``group`` and ``split`` columns according to the config, and prove there is no leak."""
    link = list(dict.fromkeys([*cfg.split.group_by, *([CLUSTER] if CLUSTER in table.columns else []),
                               *(c for c in content_columns if c in table.columns)]))
    out = table.copy()
    keys = group_keys(out, link)
    out[GROUP] = to_hex(hash64(keys.to_numpy()))
    out[SPLIT] = assign_splits(out, cfg.split.ratios, cfg.seed, groups=keys,
                               stratify=cfg.split.stratify, strategy=cfg.split.strategy)
    return out
