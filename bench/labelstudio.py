"""Benchmark: push and pull N tasks with predictions against a local Label Studio server.

For each size it measures:
- push: a first push of N rows with predictions (tasks/s), then a second push of the same rows (a
  no-op that still lists the project to check it);
- pull: N annotated tasks (2 annotations each) pulled page by page into the local store (tasks/s);
- peers in the same run, as ratios: the SDK's one-task-at-a-time ``tasks.create`` +
  ``predictions.create`` loop on a sample, and Label Studio's own one-shot JSON export for the pull;
- peak memory: the Python heap's peak (tracemalloc) during each phase, and the process's resident-set
  peak above its level before the phase (sampled every 20 ms).

Usage: python bench/labelstudio.py [--sizes 1000 10000] [--naive-sample 200] [--out FILE]
       [--url URL --api-key KEY]   (default: start a throwaway server with tests/labelstudio_server.py)
Prints one JSON document.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import tempfile
import threading
import time
import tracemalloc
from contextlib import contextmanager
from pathlib import Path

import numpy as np
import pandas as pd

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "tests"))

from curator.labelstudio import label_config, pull, push  # noqa: E402
from curator.labelstudio.label_config import LabelSpace  # noqa: E402

LABELS = ("billing", "shipping", "returns", "account")


def _rss() -> int:
    with open("/proc/self/statm") as fh:
        return int(fh.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


@contextmanager
def measured(into: dict):
    """Wall time, the Python heap's peak (tracemalloc) and the resident set's peak above its level at
    the start (sampled by a thread; memory freed by an earlier phase is reused, so this can read low)."""
    tracemalloc.start()
    base, peak, stop = _rss(), [_rss()], threading.Event()

    def sample():
        while not stop.wait(0.02):
            peak[0] = max(peak[0], _rss())
    thread = threading.Thread(target=sample, daemon=True)
    thread.start()
    start = time.perf_counter()
    try:
        yield
    finally:
        into["seconds"] = round(time.perf_counter() - start, 3)
        stop.set()
        thread.join()
        into["peak_rss_mb_above_start"] = round((max(peak[0], _rss()) - base) / 2**20, 1)
        into["python_heap_peak_mb"] = round(tracemalloc.get_traced_memory()[1] / 2**20, 1)
        tracemalloc.stop()


def make_dataset(folder: Path, n: int, seed: int = 0) -> tuple[Path, Path]:
    rng = np.random.default_rng(seed)
    ids = np.char.add("r", np.arange(n).astype(str))
    words = np.array(["refund", "parcel", "late", "card", "password", "return", "box", "charge", "login", "label"])
    text = [" ".join(w) for w in words[rng.integers(0, len(words), size=(n, 12))]]
    labels = np.array(LABELS)[rng.integers(0, len(LABELS), n)]
    data = folder / f"tickets-{n}.csv"
    pd.DataFrame({"id": ids, "text": text, "label": labels}).to_csv(data, index=False)
    probs = rng.dirichlet(np.ones(len(LABELS)), size=n)
    preds = folder / f"predictions-{n}.parquet"
    pd.DataFrame({"id": ids, "predicted_label": np.array(LABELS)[probs.argmax(1)], "probabilities": list(probs)}
                 ).to_parquet(preds)
    return data, preds


def annotated_project(sdk, title: str, n: int, seed: int = 1) -> None:
    """A project of N tasks with two annotations each, made in bulk (import with annotations)."""
    space = LabelSpace("text", LABELS)
    project = sdk.projects.create(title=title, label_config=label_config.generate(space))
    users = [sdk.users.whoami().id, annotator(sdk)]
    rng = np.random.default_rng(seed)
    picks = np.array(LABELS)[rng.integers(0, len(LABELS), size=(n, 2))]
    agree = rng.random(n) < 0.7
    picks[agree, 1] = picks[agree, 0]
    for start in range(0, n, 1000):
        tasks = [{"data": {"id": f"r{i}", "text": f"row {i}", "curator_note": ""},
                  "annotations": [{"result": space.result(str(picks[i, k])), "completed_by": users[k]} for k in range(2)]}
                 for i in range(start, min(start + 1000, n))]
        sdk.projects.import_tasks(project.id, request=tasks)


def annotator(sdk) -> int:
    """A second user to annotate as (made once per server)."""
    email = "bench-annotator@example.com"
    found = [u.id for u in sdk.users.list() if u.email == email]
    return found[0] if found else sdk.users.create(username="bench-annotator", email=email).id


def naive_push(sdk, data: Path, preds: Path, sample: int) -> dict:
    """The SDK one task at a time: tasks.create then predictions.create, per row."""
    space = LabelSpace("text", LABELS)
    project = sdk.projects.create(title=f"naive-{sample}-{time.time_ns()}", label_config=label_config.generate(space))
    rows = pd.read_csv(data, dtype=str).head(sample)
    p = pd.read_parquet(preds).set_index("id")
    out: dict = {"tasks": sample}
    with measured(out):
        for rid, text in zip(rows["id"], rows["text"]):
            task = sdk.tasks.create(project=project.id, data={"id": rid, "text": text, "curator_note": ""})
            sdk.predictions.create(task=task.id, result=space.result(p.loc[rid, "predicted_label"]),
                                   score=float(np.max(p.loc[rid, "probabilities"])), model_version="naive")
    out["tasks_per_s"] = round(sample / out["seconds"], 1)
    return out


def one_shot_export(sdk, title: str) -> dict:
    project = next(p for p in sdk.projects.list(title=title) if p.title == title)
    out: dict = {}
    with measured(out):
        raw = b"".join(sdk.projects.exports.download_sync(project.id, export_type="JSON"))
        out["tasks"] = len(json.loads(raw))
    out["tasks_per_s"] = round(out["tasks"] / out["seconds"], 1)
    return out


def bench_size(n: int, conn: dict, sdk, work: Path, naive_sample: int) -> dict:
    data, preds = make_dataset(work, n)
    figures: dict = {"tasks": n}
    first: dict = {}
    with measured(first):
        result = push(data, f"bench-push-{n}", predictions=preds, **conn)
    first.update(tasks_per_s=round(n / first["seconds"], 1), created=result.created, predictions=result.predictions)
    figures["push"] = first
    again: dict = {}
    with measured(again):
        result = push(data, f"bench-push-{n}", predictions=preds, **conn)
    again.update(tasks_per_s=round(n / again["seconds"], 1), created=result.created, unchanged=result.unchanged)
    figures["push_again_noop"] = again

    annotated_project(sdk, f"bench-pull-{n}", n)
    pulled: dict = {}
    with measured(pulled):
        result = pull(f"bench-pull-{n}", data, **conn)
    pulled.update(tasks_per_s=round(result.tasks / pulled["seconds"], 1), tasks=result.tasks,
                  annotations=result.annotations, annotations_per_s=round(result.annotations / pulled["seconds"], 1),
                  krippendorff_alpha=result.agreement.overall["krippendorff_alpha"])
    figures["pull"] = pulled
    figures["peer_export_one_shot"] = one_shot_export(sdk, f"bench-pull-{n}")
    figures["pull_vs_export_speed"] = round(pulled["tasks_per_s"] / figures["peer_export_one_shot"]["tasks_per_s"], 2)
    if naive_sample:
        figures["peer_naive_push_sample"] = naive_push(sdk, data, preds, naive_sample)
        figures["push_vs_naive_speed"] = round(first["tasks_per_s"] / figures["peer_naive_push_sample"]["tasks_per_s"], 1)
    return figures


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sizes", type=int, nargs="+", default=[1000, 10000])
    ap.add_argument("--naive-sample", type=int, default=100, help="rows the one-at-a-time peer pushes (0: skip)")
    ap.add_argument("--url")
    ap.add_argument("--api-key")
    ap.add_argument("--out", type=Path)
    args = ap.parse_args(argv)
    from label_studio_sdk import LabelStudio

    with tempfile.TemporaryDirectory(prefix="curator-ls-bench-") as tmp:
        tmp = Path(tmp)
        server = None
        if args.url:
            conn = {"url": args.url, "api_key": args.api_key or os.environ.get("LABEL_STUDIO_API_KEY")}
        else:
            from labelstudio_server import start_server
            started = time.perf_counter()
            server = start_server(tmp / "server", tmp / "files")
            conn = {"url": server.url, "api_key": server.token}
            startup = round(time.perf_counter() - started, 2)
        try:
            sdk = LabelStudio(base_url=conn["url"], api_key=conn["api_key"], timeout=600)
            results = {"sizes": [bench_size(n, conn, sdk, tmp, args.naive_sample if i == 0 else 0)
                                 for i, n in enumerate(args.sizes)]}
        finally:
            if server is not None:
                server.stop()
    results["machine"] = {"cpus": os.cpu_count(), "python": platform.python_version(),
                          "server": "label-studio 1.23.2, sqlite, same machine"}
    if server is not None:
        results["server_start_seconds"] = startup
    text = json.dumps(results, indent=2)
    if args.out:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(text + "\n")
    print(text)


if __name__ == "__main__":
    main()
