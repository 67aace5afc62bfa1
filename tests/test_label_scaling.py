"""The label-issues step at scale: models learn from a seeded stratified sample and every other row
is predicted out-of-sample; neighbours are the exact nearest ones within the reference sample."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from sklearn.neighbors import NearestNeighbors

from curator import label_models
from curator.config import parse_config
from curator.ingest import ingest
from curator.label_issues import LabelIssuesConfig, LabelIssuesStep
from curator.steps import Context

from conftest import SAMPLE


@settings(max_examples=40, deadline=None)
@given(sizes=st.lists(st.integers(1, 300), min_size=2, max_size=5), fit_rows=st.integers(50, 400),
       seed=st.integers(0, 99))
def test_fit_sample_is_stratified_seeded_and_bounded(sizes, fit_rows, seed):
    y = np.repeat(np.arange(len(sizes)), sizes)
    np.random.default_rng(seed).shuffle(y)
    fit = label_models.fit_sample(y, fit_rows, folds=3, seed=seed)
    if len(y) <= fit_rows:
        assert fit is None
        return
    assert np.array_equal(fit, label_models.fit_sample(y, fit_rows, folds=3, seed=seed))
    assert np.all(np.diff(fit) > 0)
    counts = np.bincount(y[fit], minlength=len(sizes))
    assert np.all(counts >= np.minimum(sizes, 30))  # every class keeps enough rows for its folds
    assert len(fit) <= fit_rows + 30 * len(sizes) + len(sizes)


@pytest.fixture(scope="module")
def tickets():
    table = ingest(parse_config({"input": {"path": str(SAMPLE / "text" / "tickets.csv")}})).table
    table = table[table["label"].notna()].drop_duplicates("text").reset_index(drop=True)
    classes = sorted(table["label"].unique())
    y = table["label"].map({c: i for i, c in enumerate(classes)}).to_numpy()
    return table, y, classes


def test_rows_outside_the_sample_are_predicted_by_models_that_never_saw_them(tickets):
    table, y, classes = tickets
    texts = table["text"].astype(str).tolist()
    fit = label_models.fit_sample(y, 400, folds=3, seed=0)
    rest = np.setdiff1d(np.arange(len(y)), fit)
    features = label_models.text_features(texts, seed=0, fit=fit)
    probs, _ = label_models.out_of_fold(features, y, len(classes), folds=3, seed=0, fit=fit)
    assert np.allclose(probs.sum(axis=1), 1.0)
    other = y.copy()
    other[rest] = (other[rest] + 1) % len(classes)  # labels outside the sample must not matter
    again, _ = label_models.out_of_fold(features, other, len(classes), folds=3, seed=0, fit=fit)
    assert np.allclose(again, probs)
    assert (probs[rest].argmax(axis=1) == y[rest]).mean() > 0.6  # and they still predict well


def test_step_learns_from_the_sample_on_a_big_table(tickets):
    table, _, _ = tickets
    step = LabelIssuesStep(LabelIssuesConfig(fit_rows=400, folds=3), labels=None)
    result = step.apply(table, Context(parse_config({"input": {"path": "x"}}), seed=0))
    method = result.artifacts["method"]
    assert method["rows"] > 1500 and 400 <= method["fit_rows"] < method["rows"]
    assert result.artifacts["accuracy"] > 0.6 and len(result.flagged) > 0


@pytest.mark.parametrize("n", [50, 700])
def test_neighbours_are_the_exact_nearest(n):
    x = label_models._normalise(np.random.default_rng(n).normal(size=(n, 16)))
    idx, dist = label_models.neighbours(x, 5, block=128)
    nn = NearestNeighbors(n_neighbors=6, metric="cosine", algorithm="brute").fit(x)
    ref_dist, ref_idx = nn.kneighbors(x)
    assert np.array_equal(idx, ref_idx[:, 1:])  # its own row first, then the same five
    assert np.allclose(dist, ref_dist[:, 1:], atol=1e-5)


def test_neighbours_search_a_smaller_sample_on_big_tables():
    x = label_models._normalise(np.random.default_rng(0).normal(size=(3000, 8)))
    idx, _ = label_models.neighbours(x, 3, budget=3000 * 500, min_reference=500)
    assert len(np.unique(idx)) <= 500 and idx.shape == (3000, 3)
