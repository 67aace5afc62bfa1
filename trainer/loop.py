"""The training loop: plain PyTorch, small enough to read in one sitting.

Per optimizer step: ``grad_accum`` micro-batches under autocast (bf16 on CUDA, fp32 on the CPU),
gradient clipping, a fused AdamW step and the warmup-then-decay schedule. The step never waits on
the device: the loss is summed on the device and read back only at logging intervals, and gradient
clipping keeps its norm as a tensor. Every ``eval_every`` steps it scores val, keeps the best
weights, stops early when val macro-F1 has not improved for ``patience`` evaluations, and saves a
resumable checkpoint.
"""

from __future__ import annotations

import json
import math
import time
from collections.abc import Callable, Iterable
from pathlib import Path

import torch

from .checkpoint import Checkpoints
from .config import TrainConfig
from .data import BatchPlan, iterate
from .errors import DivergedError
from .progress import TrainProgress
from .runtime import Env


class EventLog:
    """``train_log.jsonl`` plus the callbacks: every log and eval record goes to both."""

    def __init__(self, path: Path | None, callbacks: Iterable[Callable[[dict], None]] = (), fold: int | None = None):
        self.path, self.callbacks, self.fold = path, list(callbacks), fold

    def truncate_after(self, step: int) -> None:
        """On resume: drop the records a killed run wrote after its last checkpoint."""
        if self.path is None or not self.path.exists():
            return
        lines = self.path.read_text(encoding="utf-8").splitlines()
        kept = [ln for ln in lines if ln.strip() and (json.loads(ln).get("fold") != self.fold
                                                      or json.loads(ln).get("step", 0) <= step)]
        self.path.write_text("".join(ln + "\n" for ln in kept), encoding="utf-8")

    def emit(self, record: dict) -> None:
        if self.fold is not None:
            record = {**record, "fold": self.fold}
        if self.path is not None:
            with open(self.path, "a", encoding="utf-8") as fh:
                fh.write(json.dumps(record, sort_keys=True) + "\n")
        for callback in self.callbacks:
            callback(record)


def make_optimizer(model: torch.nn.Module, cfg: TrainConfig, env: Env) -> torch.optim.Optimizer:
    """AdamW, no weight decay on biases and norm weights; fused kernels where torch has them."""
    decay, no_decay = [], []
    for _, param in model.named_parameters():
        if param.requires_grad:
            (decay if param.ndim >= 2 else no_decay).append(param)
    groups = [{"params": decay, "weight_decay": cfg.weight_decay}, {"params": no_decay, "weight_decay": 0.0}]
    groups = [g for g in groups if g["params"]]
    try:
        return torch.optim.AdamW(groups, lr=cfg.lr, fused=True)
    except (RuntimeError, ValueError, TypeError):
        return torch.optim.AdamW(groups, lr=cfg.lr, foreach=True)


def lr_lambda(schedule: str, warmup: int, total: int) -> Callable[[int], float]:
    def factor(step: int) -> float:
        if step < warmup:
            return (step + 1) / (warmup + 1) if warmup else 1.0
        if schedule == "constant":
            return 1.0
        progress = (step - warmup) / max(1, total - warmup)
        if schedule == "cosine":
            return 0.5 * (1.0 + math.cos(math.pi * min(1.0, progress)))
        return max(0.0, 1.0 - progress)
    return factor


def make_scheduler(optimizer, cfg: TrainConfig, total_steps: int):
    warmup = cfg.warmup_steps if cfg.warmup_steps is not None else int(cfg.warmup_ratio * total_steps)
    return torch.optim.lr_scheduler.LambdaLR(optimizer, lr_lambda(cfg.schedule, warmup, total_steps))


def fresh_state() -> dict:
    return {"step": 0, "epoch": 0, "position": 0, "best_score": -1.0, "best_step": 0, "bad_evals": 0,
            "stopped_early": False, "samples": 0, "tokens": 0, "seconds": 0.0, "loss_sum": 0.0, "loss_count": 0,
            "evals": 0}


def train_loop(model, features, plan: BatchPlan, cfg: TrainConfig, env: Env, *, total_steps: int,
               evaluate: Callable[[], dict | None], checkpoints: Checkpoints, log: EventLog,
               show_progress: bool = False, description: str = "training") -> dict:
    """Train ``model`` in place; returns the loop state (steps, best step, throughput, ...)."""
    params = [p for p in model.parameters() if p.requires_grad]
    optimizer = make_optimizer(model, cfg, env)
    scheduler = make_scheduler(optimizer, cfg, total_steps)
    state = fresh_state()
    if cfg.resume and checkpoints.has_last():
        state.update(checkpoints.load_last(model, optimizer, scheduler))
    log.truncate_after(state["step"])   # a fold trained again after a resume starts its records afresh
    eval_every = cfg.eval_every or plan.steps_per_epoch
    save_every = cfg.save_every or eval_every
    step_model = torch.compile(model, dynamic=True) if env.compile else model
    loss_sum = torch.zeros((), device=env.device)
    micro_since_log, samples_since, tokens_since, period = 0, 0, 0, 0.0
    last_norm = torch.zeros((), device=env.device)
    bar = TrainProgress(show_progress, total_steps, description, start=state["step"])
    model.train()
    tick = time.perf_counter()

    def log_train() -> None:
        nonlocal micro_since_log, samples_since, tokens_since, period
        loss = (loss_sum.item() + state["loss_sum"]) / max(1, micro_since_log + state["loss_count"])  # the one sync
        if not math.isfinite(loss):
            raise DivergedError(f"the training loss is {loss} at step {state['step']}; lower lr (now {cfg.lr:g}) "
                                "or max_grad_norm")
        pause_clock()
        seconds, period = period, 0.0
        rec = {"event": "train", "step": state["step"], "epoch": round(state["epoch"] + state["position"] /
               max(1, plan.micro_per_epoch), 4), "loss": loss, "lr": scheduler.get_last_lr()[0],
               "grad_norm": float(last_norm.item()) if cfg.max_grad_norm else None,
               "samples": state["samples"], "tokens": state["tokens"],
               "samples_per_s": samples_since / seconds if seconds > 0 else None,
               "tokens_per_s": tokens_since / seconds if seconds > 0 and tokens_since else None}
        log.emit(rec)
        bar.stats(loss=loss, samples_per_s=rec["samples_per_s"], tokens_per_s=rec["tokens_per_s"])
        loss_sum.zero_()
        state["loss_sum"], state["loss_count"] = 0.0, 0
        micro_since_log, samples_since, tokens_since = 0, 0, 0

    def pause_clock() -> None:
        """Book the training time since the last tick (evaluation and saving are not training time)."""
        nonlocal tick, period
        now = time.perf_counter()
        state["seconds"] += now - tick
        period += now - tick
        tick = now

    try:
        while state["step"] < total_steps and not state["stopped_early"]:
            batches = plan.epoch(state["epoch"])
            n_micro = len(batches)
            for batch in iterate(features, batches[state["position"]:], cfg.workers, env.cuda,
                                 seed=plan.seed + state["epoch"]):
                group_start = state["position"] - state["position"] % cfg.grad_accum
                in_group = min(cfg.grad_accum, n_micro - group_start)
                n_rows, n_tokens = len(batch["labels"]), batch["n_tokens"]
                inputs = env.to_device(batch)
                with env.autocast():
                    loss = step_model(**inputs).loss
                (loss / in_group).backward()
                loss_sum += loss.detach().float()
                state["position"] += 1
                micro_since_log += 1
                samples_since += n_rows
                tokens_since += n_tokens
                state["samples"] += n_rows
                state["tokens"] += n_tokens
                if state["position"] - group_start < in_group:
                    continue
                # one optimizer step
                if cfg.max_grad_norm:
                    last_norm = torch.nn.utils.clip_grad_norm_(params, cfg.max_grad_norm, foreach=True)
                optimizer.step()
                scheduler.step()
                optimizer.zero_grad(set_to_none=True)
                state["step"] += 1
                bar.step()
                if state["position"] >= n_micro:
                    state["epoch"] += 1
                    state["position"] = 0
                step, done = state["step"], state["step"] >= total_steps
                if step % cfg.log_every == 0 or done:
                    log_train()
                if step % eval_every == 0 or done:
                    pause_clock()
                    _evaluate(model, evaluate, state, cfg, checkpoints, log, bar)
                    model.train()
                    tick = time.perf_counter()
                if step % save_every == 0 or done or state["stopped_early"]:
                    pause_clock()
                    state["loss_sum"] = loss_sum.item() + state["loss_sum"]   # carried into the next log
                    state["loss_count"] += micro_since_log
                    loss_sum.zero_()
                    micro_since_log = 0
                    checkpoints.save_last(model, optimizer, scheduler, dict(state), plan.curriculum_scores)
                    tick = time.perf_counter()
                if done or state["stopped_early"]:
                    break
    finally:
        bar.close()
    return state


def _evaluate(model, evaluate, state: dict, cfg: TrainConfig, checkpoints: Checkpoints, log: EventLog, bar) -> None:
    start = time.perf_counter()
    metrics = evaluate()
    if metrics is None:      # no val rows: the last weights are the result
        return
    state["evals"] += 1
    score = metrics["macro_f1"]
    improved = score > state["best_score"]
    if improved:
        state["best_score"], state["best_step"], state["bad_evals"] = score, state["step"], 0
        checkpoints.save_best(model)
    else:
        state["bad_evals"] += 1
        if cfg.patience and state["bad_evals"] >= cfg.patience:
            state["stopped_early"] = True
    bar.stats(val_f1=score)
    log.emit({"event": "eval", "split": "val", "step": state["step"], "accuracy": metrics["accuracy"],
              "macro_f1": score, "loss": metrics["loss"], "best": improved,
              "seconds": round(time.perf_counter() - start, 3)})
