"""How fast the review page opens and pages on a big run: prints JSON.

A synthetic run directory (default 1M rows, 50k duplicate clusters, plus rule drops, label issues,
outliers and rule warnings) is written once with vectorised pandas; then we time:

- ``open_s`` (median of ``--repeat``): reading the run and building every queue, starting the real
  server and fetching the first page over HTTP; the target is under 2 s. Its peer,
  ``read_tables_s``, is only reading the run's parquet files with ``pandas.read_parquet``.
- ``page_s`` (median): a page deep in a queue, a filtered page and a text search; each against
  building that queue from scratch (``rebuild_queue_s``), which is what a page would cost without
  the indexes.

    python bench/review.py                      # 1M rows, 50k clusters
    python bench/review.py --rows 100000 --clusters 5000
"""

from __future__ import annotations

import argparse
import gc
import http.cookiejar
import json
import shutil
import statistics
import tempfile
import time
import urllib.request
from pathlib import Path

import numpy as np
import pandas as pd

from curator.review.queues import Filters, GroupQueue, duplicate_members
from curator.review.server import Review, running

LABELS = ["billing", "shipping", "account", "product_defect", "praise"]
WORDS = np.array("order parcel refund card login password broken arrived late great thanks box screen app "
                 "invoice charged twice courier tracking reset email".split(), dtype=object)


def _text(rng: np.random.Generator, n: int, words: int = 12) -> pd.Series:
    picks = WORDS[rng.integers(0, len(WORDS), size=(n, words))]
    return pd.Series(picks[:, 0]).str.cat([pd.Series(picks[:, i]) for i in range(1, words)], sep=" ")


def make_run(out: Path, rows: int = 1_000_000, clusters: int = 50_000, seed: int = 0) -> Path:
    """A run directory shaped like ``curator run`` writes it (splits, dropped, ledger, manifest).
    ``clusters`` duplicate groups: half exact pairs, half near pairs, around the same kept rows."""
    clusters = max(1, clusters // 2)
    rng = np.random.default_rng(seed)
    out.mkdir(parents=True, exist_ok=True)
    ids = "r" + pd.Series(np.arange(rows)).astype(str)
    text = _text(rng, rows) + " #" + pd.Series(np.arange(rows)).astype(str)
    labels = pd.Series(np.array(LABELS, dtype=object)[rng.integers(0, len(LABELS), rows)])
    frame = pd.DataFrame({"id": ids, "text": text, "label": labels, "source": "data.csv:" + (ids.str[1:]),
                          "content_hash": "h" + ids.str[1:], "cluster": None})
    # clusters of three: the kept row, an exact copy, and a near copy (a word changed)
    member = np.arange(rows)
    in_cluster = member < 3 * clusters
    rep = member - member % 3
    frame.loc[in_cluster, "cluster"] = "c" + pd.Series(rep[in_cluster]).astype(str).to_numpy()
    exact = in_cluster & (member % 3 == 1)
    near = in_cluster & (member % 3 == 2)
    frame.loc[exact, "text"] = frame["text"].to_numpy()[rep[exact]]
    frame.loc[exact, "content_hash"] = frame["content_hash"].to_numpy()[rep[exact]]
    frame.loc[exact, "cluster"] = None
    frame.loc[near, "text"] = frame["text"].to_numpy()[rep[near]] + " again"
    rule = ~in_cluster & (rng.random(rows) < 0.02)
    reasons = pd.Series(np.select([exact, near, rule], ["exact_duplicate", "near_duplicate", "rule:min_length"], ""))
    steps = pd.Series(np.select([exact, near, rule], ["dedup_exact", "dedup_near", "validate"], ""))
    dropped = (exact | near | rule)
    drop = frame[dropped].assign(step=steps[dropped].to_numpy(), reason=reasons[dropped].to_numpy(),
                                 detail="synthetic", related_id=None)
    drop.loc[drop["step"] == "validate", ["content_hash", "cluster"]] = None
    kept = frame[~dropped].copy()
    kept["split"] = np.array(["train", "val", "test"], dtype=object)[rng.choice(3, len(kept), p=[.8, .1, .1])]
    for name in ("train", "val", "test"):
        kept[kept["split"] == name].reset_index(drop=True).to_parquet(out / f"{name}.parquet", index=False)
    drop.reset_index(drop=True).to_parquet(out / "dropped.parquet", index=False)

    flag = kept.sample(frac=0.017, random_state=seed)
    cut = [int(len(flag) * 0.6), int(len(flag) * 0.7)]
    issue, outlier, warn = flag.iloc[:cut[0]], flag.iloc[cut[0]:cut[1]], flag.iloc[cut[1]:]
    suggested = np.array(LABELS, dtype=object)[rng.integers(0, len(LABELS), len(issue))]
    score = rng.random(len(issue)).round(3).astype(str)
    ledger = pd.concat([
        pd.DataFrame({"id": kept["id"], "step": "split", "action": "kept", "reason": "split:" + kept["split"],
                      "detail": "assigned to " + kept["split"]}),
        pd.DataFrame({"id": drop["id"], "step": drop["step"], "action": "dropped", "reason": drop["reason"],
                      "detail": drop["detail"]}),
        pd.DataFrame({"id": issue["id"], "step": "label_issues", "action": "flagged", "reason": "label_issue",
                      "detail": "given '" + issue["label"] + "', suggested '" + suggested + "' (score " + score + ")"}),
        pd.DataFrame({"id": outlier["id"], "step": "label_issues", "action": "flagged", "reason": "outlier",
                      "detail": "far from every class (robust z 7.5)"}),
        pd.DataFrame({"id": warn["id"], "step": "validate", "action": "flagged", "reason": "rule:repeated_chars",
                      "detail": "synthetic"}),
    ], ignore_index=True)
    for col in ("related_id", "column", "old_value", "new_value"):
        ledger[col] = None
    ledger.astype("string").to_parquet(out / "ledger.parquet", index=False)
    manifest = {"format": "curator-run/1", "modality": "text", "labels": LABELS,
                "columns": {"id": "id", "content": "text", "label": "label", "split": "split"},
                "dataset_root": str(out / "data"), "decisions": str(out / "data" / "decisions.jsonl")}
    (out / "data").mkdir(exist_ok=True)
    (out / "manifest.json").write_text(json.dumps(manifest), encoding="utf-8")
    return out


def _timed(fn, repeat: int = 1) -> float:
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def _get(opener, url: str) -> bytes:
    with opener.open(url) as response:
        return response.read()


def _open(run_dir: Path) -> tuple[dict, Review]:
    """Open the review page as a user does: build the indexes, start the server, fetch page one."""
    start = time.perf_counter()
    with running(run_dir) as (review, url):
        started = time.perf_counter()
        opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(http.cookiejar.CookieJar()))
        body = _get(opener, url)
        done = time.perf_counter()
        assert b"Duplicate clusters" in body
        deep = len(review.queues["duplicates"]) // 2 // review.page_size
        page_http = _timed(lambda: _get(opener, url.split("?")[0] + f"?queue=duplicates&page={deep}"), 3)
    return {"open_s": done - start, "build_s": started - start, "first_page_s": done - started,
            "page_http_s": page_http}, review


def measure(run_dir: Path, repeat: int) -> dict:
    read_s = _timed(lambda: [pd.read_parquet(p) for p in sorted(run_dir.glob("*.parquet"))])
    opens = []
    for _ in range(repeat):
        figures, review = _open(run_dir)
        opens.append(figures)
        gc.collect()
    served = {k: statistics.median(o[k] for o in opens) for k in opens[0]}
    dup = review.queues["duplicates"]
    rebuild_s = _timed(lambda: GroupQueue("duplicates", "", review.index, duplicate_members(review.index)), repeat)
    deep = len(dup) // 2
    page_s = {
        "deep": _timed(lambda: review.decorate(dup.page(Filters(), deep, 20)[1]), repeat),
        "label_filter": _timed(lambda: review.decorate(dup.page(Filters(label="billing", split="train"), 100, 20)[1]),
                               repeat),
        "search": _timed(lambda: dup.page(Filters(q="refund card"), 0, 20), repeat),
        "label_errors": _timed(lambda: review.queues["label_errors"].page(Filters(label="praise"), 50, 20), repeat),
    }
    return {
        "rows": len(review.index), "clusters": len(dup), "queues": review.counts(),
        "open_s": round(served["open_s"], 3), "build_indexes_s": round(served["build_s"], 3),
        "first_page_http_s": round(served["first_page_s"], 3),
        "read_tables_s": round(read_s, 3), "open_vs_read_parquet": round(served["open_s"] / read_s, 2),
        "rebuild_queue_s": round(rebuild_s, 3),
        "page_s": {k: round(v, 4) for k, v in page_s.items()},
        "page_vs_rebuild": {k: round(v / rebuild_s, 4) for k, v in page_s.items()},
        "page_http_s": round(served["page_http_s"], 4),
        "open_under_2s": served["open_s"] < 2.0,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--clusters", type=int, default=50_000)
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--keep", type=Path, help="write the synthetic run here and keep it")
    args = parser.parse_args()
    folder = args.keep or Path(tempfile.mkdtemp(prefix="curator-review-bench-"))
    try:
        start = time.perf_counter()
        if not (folder / "manifest.json").is_file():  # --keep: a run made earlier is measured again
            make_run(folder, args.rows, args.clusters)
        made = time.perf_counter() - start
        result = {"bench": "review", "generate_s": round(made, 2), **measure(folder, args.repeat)}
    finally:
        if args.keep is None:
            shutil.rmtree(folder, ignore_errors=True)
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
