"""Benchmark: the spine (ingest, validate, exact dedup, split, export) on generated text rows.

Prints one JSON object: rows/s per stage, wall time and peak memory for curator, and the same work
done by an idiomatic plain-pandas script (read_csv, normalise, drop_duplicates, random split,
to_parquet) measured in the same run, with the ratio between them. Each measurement runs in its own
process so peak memory (ru_maxrss) is that process's alone.

    python bench/pipeline.py                     # 100k and 1M rows
    python bench/pipeline.py --rows 100000       # one size
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd

LABELS = ["billing", "shipping", "account", "product_defect", "praise"]
WORDS = ("order refund charge card package delivery late account password login broken screen "
         "battery thanks great help please my the was is not again twice week days invoice "
         "tracking address email support reset locked cracked arrived damaged love service").split()


def generate(n: int, path: Path, seed: int = 0) -> None:
    """n rows of ticket-like text: ~5% exact duplicates (case/space variants), ~1% empty."""
    rng = np.random.default_rng(seed)
    n_words = rng.integers(6, 18, size=n)
    words = np.asarray(WORDS, dtype=object)[rng.integers(0, len(WORDS), size=int(n_words.sum()))]
    ends = np.cumsum(n_words)
    text = pd.Series(np.split(words, ends[:-1])).str.join(" ") + " #" + pd.Series(np.arange(n)).astype(str)
    dup = rng.random(n) < 0.05
    src = rng.integers(0, n, size=int(dup.sum()))
    text[dup] = text.iloc[src].str.upper().to_numpy()
    text[rng.random(n) < 0.01] = ""
    df = pd.DataFrame({"text": text, "label": rng.choice(LABELS, size=n, p=[0.4, 0.25, 0.18, 0.12, 0.05]),
                       "user_id": "u" + pd.Series(rng.integers(0, max(1, n // 5), size=n)).astype(str)})
    df.to_csv(path, index=False)


def run_curator(csv: Path, out: Path) -> dict:
    import curator
    import curator.pipeline  # noqa: F401  (import time is not the pipeline's time)

    cfg = {"input": {"path": str(csv)}, "modality": "text", "labels": LABELS,
           "rules": ["text-classification"], "split": {"group_by": ["user_id"]}, "seed": 0,
           # The spine's stages only; near dedup has its own benchmark (bench/dedup_text.py).
           "steps": {"dedup_near": {"enabled": False}}}
    start = time.perf_counter()
    result = curator.run(cfg, out=out)
    total = time.perf_counter() - start
    stages = {s["name"]: s["seconds"] for s in result.report["flow"]}
    stages["export+report"] = round(total - sum(stages.values()), 4)
    return {"seconds": round(total, 3), "stages_seconds": stages, "kept": result.counts["rows_kept"]}


def run_pandas(csv: Path, out: Path) -> dict:
    """The peer: what a careful user writes by hand with pandas alone."""
    start = time.perf_counter()
    df = pd.read_csv(csv, on_bad_lines="skip", dtype=str, keep_default_na=False)
    norm = df["text"].str.normalize("NFC").str.lower().str.split().str.join(" ")
    df = df[(norm.str.len() >= 8) & df["label"].isin(LABELS)]
    df = df[~norm[df.index].duplicated()]
    rng = np.random.default_rng(0)
    users = df["user_id"].unique()
    split = pd.Series(rng.choice(["train", "val", "test"], size=len(users), p=[0.8, 0.1, 0.1]), index=users)
    df = df.assign(split=df["user_id"].map(split))
    out.mkdir(parents=True, exist_ok=True)
    for name, part in df.groupby("split"):
        part.to_parquet(out / f"{name}.parquet", index=False)
    return {"seconds": round(time.perf_counter() - start, 3), "kept": len(df)}


def worker(kind: str, csv: Path, out: Path) -> None:
    figures = run_curator(csv, out) if kind == "curator" else run_pandas(csv, out)
    figures["peak_rss_mb"] = round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)
    print(json.dumps(figures))


def measure(kind: str, csv: Path, out: Path) -> dict:
    proc = subprocess.run([sys.executable, __file__, "--worker", kind, str(csv), str(out)],
                          capture_output=True, text=True, check=True)
    return json.loads(proc.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rows", type=int, nargs="+", default=[100_000, 1_000_000])
    parser.add_argument("--worker", nargs=3, metavar=("KIND", "CSV", "OUT"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        worker(args.worker[0], Path(args.worker[1]), Path(args.worker[2]))
        return
    results = []
    with tempfile.TemporaryDirectory() as tmp:
        for n in args.rows:
            csv = Path(tmp) / f"rows_{n}.csv"
            generate(n, csv)
            ours = measure("curator", csv, Path(tmp) / f"out_{n}")
            peer = measure("pandas", csv, Path(tmp) / f"peer_{n}")
            stage_rows = {name: round(n / sec) if sec > 0 else None for name, sec in ours["stages_seconds"].items()}
            results.append({
                "rows": n, "csv_mb": round(csv.stat().st_size / 2**20, 1),
                "curator": {**ours, "rows_per_s": round(n / ours["seconds"]), "stage_rows_per_s": stage_rows},
                "pandas_peer": {**peer, "rows_per_s": round(n / peer["seconds"])},
                "speed_ratio_vs_pandas": round(peer["seconds"] / ours["seconds"], 2),
                "goal_1m_under_60s_and_4gb": (n != 1_000_000) or (ours["seconds"] < 60 and ours["peak_rss_mb"] < 4096),
            })
    print(json.dumps({"benchmark": "pipeline", "results": results}, indent=2))


if __name__ == "__main__":
    main()
