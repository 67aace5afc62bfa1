"""Group-aware, stable, stratified splits and the leak check."""

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from curator.config import parse_config
from curator.errors import ConfigError, LeakError
from curator.split import SPLIT, check_no_leak, group_keys, split_table

from conftest import make_table


def cfg(**split):
    return parse_config({"input": {"path": "x"}, "seed": 3, "split": split})


def big_table(n=20000, seed=0):
    rng = np.random.default_rng(seed)
    labels = rng.choice(["a", "b", "c", "rare"], size=n, p=[0.5, 0.3, 0.17, 0.03])
    t = make_table([f"row {i}" for i in range(n)], labels, user=[f"u{i // 4}" for i in range(n)])
    t["content_hash"] = [f"h{i}" for i in range(n)]
    return t


def test_group_keys_are_connected_components_across_columns():
    t = make_table(["a", "b", "c", "d", "e"], user=["u1", "u2", "u3", "u3", None], cluster=["k1", "k1", "k2", None, None])
    keys = group_keys(t, ["user", "cluster"])
    assert keys[0] == keys[1]                    # same cluster
    assert keys[2] == keys[3]                    # same user
    assert keys[0] != keys[2] and keys[4] not in set(keys[:4])
    assert len(set(keys)) == 3


def test_groups_never_cross_splits():
    t = big_table()
    out = split_table(t, cfg(group_by=["user"]), ["content_hash"])
    assert (out.groupby("user")[SPLIT].nunique() == 1).all()
    assert (out.groupby("group")[SPLIT].nunique() == 1).all()


def test_ratios_are_met_overall_and_per_label():
    out = split_table(big_table(), cfg(), ["content_hash"])
    share = out[SPLIT].value_counts(normalize=True)
    assert share["train"] == pytest.approx(0.8, abs=0.01) and share["test"] == pytest.approx(0.1, abs=0.01)
    per_label = out.groupby("label")[SPLIT].value_counts(normalize=True).unstack()
    assert (per_label["train"] - 0.8).abs().max() < 0.04


def test_exact_strategy_hits_the_ratio_within_every_label():
    out = split_table(big_table(), cfg(strategy="exact"), ["content_hash"])
    counts = out.groupby("label")[SPLIT].value_counts().unstack()
    sizes = counts.sum(axis=1)
    assert ((counts["test"] - sizes * 0.1).abs() <= 1).all()
    assert ((counts["val"] - sizes * 0.1).abs() <= 1).all()


def test_same_seed_same_split_other_seed_other_split():
    t = big_table(2000)
    a = split_table(t, cfg(), ["content_hash"])[SPLIT]
    b = split_table(t, cfg(), ["content_hash"])[SPLIT]
    other = parse_config({"input": {"path": "x"}, "seed": 4})
    c = split_table(t, other, ["content_hash"])[SPLIT]
    assert a.equals(b) and not a.equals(c)


@given(st.integers(1, 300), st.integers(0, 300), st.randoms(use_true_random=False))
@settings(max_examples=40, deadline=None)
def test_adding_rows_never_moves_existing_ones(n_old, n_new, rnd):
    t = big_table(n_old + n_new, seed=rnd.randint(0, 1000))
    order = list(range(len(t)))
    rnd.shuffle(order)
    t = t.iloc[order].reset_index(drop=True)
    old = t.iloc[:n_old]
    before = split_table(old, cfg(group_by=["user"]), ["content_hash"]).set_index("id")[SPLIT]
    after = split_table(t, cfg(group_by=["user"]), ["content_hash"]).set_index("id")[SPLIT]
    # Rows whose group did not grow by a merge keep their split (user groups never merge here).
    assert after.loc[before.index].equals(before)


def test_missing_group_column_is_a_clear_error():
    with pytest.raises(ConfigError, match="split.group_by: column 'user_id' not found; columns are: id, text"):
        split_table(make_table(["a"]), cfg(group_by=["user_id"]), [])


def test_leak_check_catches_an_id_or_hash_in_two_splits():
    t = make_table(["a", "b"]).assign(content_hash=["h", "h"], split=["train", "test"])
    with pytest.raises(LeakError, match="1 value\\(s\\) of 'content_hash' are in more than one split"):
        check_no_leak(t, ["id", "content_hash"])
    ok = t.assign(content_hash=["h1", "h2"])
    assert check_no_leak(ok, ["id", "content_hash"])["passed"]
