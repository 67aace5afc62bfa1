"""Benchmark: the whole text pipeline at scale, on the local engine and on Ray with 2 CPUs.

Runs validate, exact and near dedup, label issues (the cheap models), split, export and report on
generated ticket-like rows (labels that follow the words, 5% flipped; ~5% exact and ~5% near
copies; 1% empty; users of ~5 rows), and prints one JSON object: per run, rows/s per stage, wall
time, and the peak resident memory of every process (the driver, and Ray's workers and daemons,
sampled every 0.5 s), with the Ray/local ratio measured in the same invocation. It also reports
the volumes the Ray engine moves (table slices per stage, LSH band keys through the shuffle) that
docs/scaling.md builds its model on. Each run is its own process.

    python bench/scale.py                                  # 100k and 1M rows, local; Ray at 100k
    python bench/scale.py --rows 100000 --engines local ray
    python bench/scale.py --rows 1000000 --engines ray     # Ray at 1M (slow on 2 cores)
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import numpy as np
import pandas as pd

LABELS = ["billing", "shipping", "account", "product_defect", "praise"]
COMMON = "my the was is not again twice please thanks help order week days".split()
TOPICAL = {"billing": "refund charge card invoice payment charged bill",
           "shipping": "package delivery late tracking address arrived courier",
           "account": "password login reset locked email username profile",
           "product_defect": "broken screen battery cracked damaged faulty dead",
           "praise": "great love service excellent amazing happy wonderful"}


def generate(n: int, path: Path, seed: int = 0) -> None:
    """n rows whose words follow their label (70% topical), 5% labels flipped, ~5% exact copies
    (upper-cased), ~5% near copies (one word added), 1% empty."""
    rng = np.random.default_rng(seed)
    label = rng.choice(len(LABELS), size=n, p=[0.4, 0.25, 0.18, 0.12, 0.05])
    lengths = rng.integers(8, 20, size=n)
    total = int(lengths.sum())
    owner = np.repeat(label, lengths)
    vocab = [np.array(TOPICAL[k].split(), dtype=object) for k in LABELS]
    topical = np.empty(total, dtype=object)
    for k, words in enumerate(vocab):  # one vectorised draw per label
        at = np.flatnonzero(owner == k)
        topical[at] = words[rng.integers(0, len(words), len(at))]
    common = np.array(COMMON, dtype=object)[rng.integers(0, len(COMMON), total)]
    words = np.where(rng.random(total) < 0.7, topical, common)
    text = pd.Series(np.split(words, np.cumsum(lengths)[:-1])).str.join(" ") + " ref" + pd.Series(np.arange(n)).astype(str)
    exact = np.flatnonzero(rng.random(n) < 0.05)
    text[exact] = text.iloc[rng.integers(0, n, len(exact))].str.upper().to_numpy()
    near = np.flatnonzero(rng.random(n) < 0.05)
    text[near] = (text.iloc[rng.integers(0, n, len(near))] + " thanks").to_numpy()
    text[rng.random(n) < 0.01] = ""
    flipped = rng.random(n) < 0.05
    label[flipped] = (label[flipped] + rng.integers(1, len(LABELS), int(flipped.sum()))) % len(LABELS)
    pd.DataFrame({"text": text, "label": np.asarray(LABELS, dtype=object)[label],
                  "user_id": "u" + pd.Series(rng.integers(0, max(1, n // 5), size=n)).astype(str)}).to_csv(path, index=False)


class PeakMemory:
    """Peak memory of this process (RSS) and of every descendant (Ray's daemons and workers, forked
    helpers), by sampling. A forked child's RSS counts the parent's pages it shares; its USS (the
    pages only it holds) is what it adds, so both are reported."""

    def __init__(self, every: float = 0.5) -> None:
        import psutil

        self._me, self._every = psutil.Process(), every
        self.peaks: dict[int, tuple[str, int]] = {}
        self.unique: dict[int, int] = {}
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        import psutil

        while not self._stop.is_set():
            for proc in self._me.children(recursive=True):
                try:
                    info, name = proc.memory_full_info(), proc.name()
                except psutil.Error:
                    continue
                if info.rss > self.peaks.get(proc.pid, ("", 0))[1]:
                    self.peaks[proc.pid] = (name, info.rss)
                self.unique[proc.pid] = max(self.unique.get(proc.pid, 0), info.uss)
            self._stop.wait(self._every)

    def __enter__(self) -> "PeakMemory":
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        self._thread.join()

    def summary(self) -> dict:
        driver = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
        by_kind: dict[str, list[tuple[float, float]]] = {}
        for pid, (name, rss) in self.peaks.items():
            kind = "ray_worker" if name.startswith("ray::") else name
            by_kind.setdefault(kind, []).append((rss / 2**20, self.unique[pid] / 2**20))
        return {"driver_rss_mb": round(driver, 1),
                "others": {k: {"processes": len(v), "max_rss_mb": round(max(r for r, _ in v), 1),
                               "max_uss_mb": round(max(u for _, u in v), 1)} for k, v in sorted(by_kind.items())},
                "driver_plus_others_uss_mb": round(driver + sum(self.unique.values()) / 2**20, 1)}


def instrument_engines(record: dict, measure_bytes: bool) -> None:
    """Time every engine call by batch function (and, for small tables, the bytes it was handed): the
    parallel part of each stage, which docs/scaling.md divides among nodes."""
    from curator.engine.local import LocalEngine

    classes = [LocalEngine]
    try:
        from curator.engine.ray_engine import RayEngine
        classes.append(RayEngine)
    except ImportError:  # pragma: no cover - ray not installed
        pass
    for cls in classes:
        for method, fn_at in (("map_batches", 0), ("group_apply", 1)):
            def timed(self, table, *args, _orig=getattr(cls, method), _at=fn_at, **kwargs):
                fn = args[_at]
                name = getattr(fn, "func", fn).__name__
                entry = record.setdefault(name, {"calls": 0, "seconds": 0.0, "rows": 0, "mb_in": 0.0})
                if measure_bytes:
                    entry["mb_in"] += float(table.memory_usage(deep=True, index=False).sum()) / 2**20
                start = time.perf_counter()
                try:
                    return _orig(self, table, *args, **kwargs)
                finally:
                    entry["calls"] += 1
                    entry["rows"] += len(table)
                    entry["seconds"] += time.perf_counter() - start
            setattr(cls, method, timed)


def run_once(csv: Path, out: Path, engine: str, cpus: int) -> dict:
    import curator
    import curator.pipeline  # noqa: F401  (import time is not the pipeline's time)

    batch_work: dict = {}
    instrument_engines(batch_work, measure_bytes=sum(1 for _ in open(csv, "rb")) <= 200_001)

    cfg = {"input": {"path": str(csv)}, "modality": "text", "labels": LABELS, "rules": ["text-classification"],
           "split": {"group_by": ["user_id"]}, "seed": 0, "engine": engine, "ray": {"num_cpus": cpus}}
    with PeakMemory() as memory:
        start = time.perf_counter()
        result = curator.run(cfg, out=out)
        total = time.perf_counter() - start
    stages = {s["name"]: s["seconds"] for s in result.report["flow"]}
    stages["export+report+engine"] = round(total - sum(stages.values()), 3)
    n = result.counts["rows_read"]
    return {"seconds": round(total, 2), "rows_per_s": round(n / total),
            "stage_seconds": stages, "stage_rows_per_s": {k: round(n / v) if v > 0 else None for k, v in stages.items()},
            "counts": result.counts, "memory": memory.summary(),
            "report_json_kb": round((out / "report.json").stat().st_size / 1024, 1),
            "engine_calls": {k: {**v, "seconds": round(v["seconds"], 3), "mb_in": round(v["mb_in"], 1)}
                             for k, v in batch_work.items()}}


def measure(csv: Path, out: Path, engine: str, cpus: int) -> dict:
    proc = subprocess.run([sys.executable, __file__, "--worker", str(csv), str(out), engine, str(cpus)],
                          capture_output=True, text=True)
    if proc.returncode != 0:
        return {"failed": proc.stderr.strip().splitlines()[-1] if proc.stderr.strip() else f"exit {proc.returncode}"}
    return json.loads(proc.stdout.strip().splitlines()[-1])


def shuffle_volume(rows: int, bands: int = 16) -> dict:
    """What the Ray engine moves for n rows: LSH band keys (band int16, key uint64, position int64)."""
    return {"band_key_rows": rows * bands, "band_key_mb": round(rows * bands * 18 / 2**20, 1)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rows", type=int, nargs="+", default=[100_000, 1_000_000])
    parser.add_argument("--engines", nargs="+", default=["local", "ray"], choices=["local", "ray"])
    parser.add_argument("--ray-max-rows", type=int, default=100_000, help="skip Ray above this many rows")
    parser.add_argument("--cpus", type=int, default=2)
    parser.add_argument("--worker", nargs=4, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        csv, out, engine, cpus = args.worker
        print(json.dumps(run_once(Path(csv), Path(out), engine, int(cpus))))
        return
    results = []
    with tempfile.TemporaryDirectory() as tmp:
        for n in args.rows:
            csv = Path(tmp) / f"rows_{n}.csv"
            generate(n, csv)
            entry = {"rows": n, "csv_mb": round(csv.stat().st_size / 2**20, 1), "shuffle": shuffle_volume(n)}
            for engine in args.engines:
                if engine == "ray" and n > args.ray_max_rows:
                    entry["ray"] = {"skipped": f"above --ray-max-rows {args.ray_max_rows}"}
                    continue
                entry[engine] = measure(csv, Path(tmp) / f"out_{engine}_{n}", engine, args.cpus)
            if "seconds" in entry.get("local", {}) and "seconds" in entry.get("ray", {}):
                entry["ray_over_local_seconds"] = round(entry["ray"]["seconds"] / entry["local"]["seconds"], 2)
            results.append(entry)
    print(json.dumps({"benchmark": "scale", "cpus": args.cpus, "results": results}, indent=2))


if __name__ == "__main__":
    main()
