"""``trainer.train``: check the run directory, fine-tune, score, and write the results.

    import trainer
    result = trainer.train("out/", model="path/or/hub-name", epochs=2, mode="lora")
    result.metrics["test"]["macro_f1"]; result.predictions()

Layout of the output directory (default ``<run_dir>-train``)::

    model/               save_pretrained: weights, config (id2label, label2id), tokenizer or image processor
    metrics.json         val and test: accuracy, macro-F1, per-class P/R/F1, confusion matrix; baseline; training
    predictions.parquet  id, split, label, predicted_label, confidence, probabilities, fold
    train_log.jsonl      one record per logging interval and per evaluation
    config.yaml          the options this run used
    checkpoints/         while training (last.pt to resume, best.pt); removed at the end unless kept (other
                         files there are left alone)
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from .checkpoint import Checkpoints, remove_checkpoints
from .config import TrainConfig, build_config, dump_config
from .errors import CheckpointError, ConfigError
from .rundir import RunData, load_run

Callback = Callable[[dict], None]


@dataclass
class TrainResult:
    out_dir: Path
    model_dir: Path
    metrics: dict
    paths: dict[str, Path] = field(default_factory=dict)

    @property
    def training(self) -> dict:
        return self.metrics["training"]

    def predictions(self) -> pd.DataFrame:
        return pd.read_parquet(self.paths["predictions"])


@dataclass
class Prepared:
    """What one run directory and one set of options give, before any model is trained."""

    data: RunData
    cfg: TrainConfig
    task: str
    env: object
    seed: int
    processor: object
    features: dict


def default_out(run_dir: Path) -> Path:
    run_dir = Path(run_dir).resolve()
    return run_dir.with_name(run_dir.name + "-train")


def prepare(data: RunData, cfg: TrainConfig) -> Prepared:
    from .data import ImageFeatures, encode_texts
    from .models import check_task, load_processor
    from .runtime import make_env

    task = cfg.task or data.modality
    if task != data.modality:
        raise ConfigError(f"task: {task!r} does not match the run's modality {data.modality!r}")
    env = make_env(cfg)
    seed = cfg.seed if cfg.seed is not None else int(data.manifest.get("seed") or 0)
    check_task(cfg.model, task)
    processor = load_processor(cfg.model, task)
    max_length = text_limit(cfg, processor) if task == "text" else None
    features = {}
    for name, split in data.splits.items():
        if task == "text":
            feats = encode_texts(processor, split.content, split.targets, max_length)
            feats.pad_multiple = 8 if env.cuda else 1
        else:
            feats = ImageFeatures(split.content, split.targets, processor)
        features[name] = feats
    return Prepared(data, cfg, task, env, seed, processor, features)


def text_limit(cfg: TrainConfig, tokenizer) -> int:
    """max_length, capped by what the model's position table and tokenizer can take."""
    from .models import model_config

    limits = [cfg.max_length, getattr(model_config(cfg.model), "max_position_embeddings", None)]
    if getattr(tokenizer, "model_max_length", None) and tokenizer.model_max_length < 100_000:
        limits.append(tokenizer.model_max_length)
    return min(x for x in limits if x)


def fit(prep: Prepared, rows: np.ndarray | None = None, *, out_dir: Path | None = None,
        log_path: Path | None = None, callbacks: Iterable[Callback] = (), progress: bool = False, fold: int | None = None,
        description: str = "training"):
    """Train one model on train (or the given rows of it); returns (model, loop state, attention)."""
    from .curriculum import curriculum_scores
    from .data import BatchPlan
    from .evaluate import predict, score
    from .loop import EventLog, train_loop
    from .models import apply_mode, load_model
    from .runtime import seed_everything

    cfg, env, data = prep.cfg, prep.env, prep.data
    seed_everything(prep.seed)
    model, attention = load_model(cfg, prep.task, data.labels, data.multi_label,
                                  getattr(prep.processor, "pad_token_id", None))
    model = apply_mode(model, cfg).to(env.device)
    train = prep.features["train"] if rows is None else prep.features["train"].subset(rows)
    checkpoints = Checkpoints(None if out_dir is None else out_dir / "checkpoints",
                              f"{cfg.fingerprint()}:{data.manifest_sha256[:16]}")
    scores = None
    if cfg.curriculum != "none":
        # resumed: the interrupted run's scores, as scoring again (on a GPU) may order the rows otherwise
        if cfg.resume and checkpoints.has_last():
            scores = checkpoints.curriculum()
        if scores is None:
            scores = curriculum_scores(cfg.curriculum, model, train, env, prep.seed, cfg.eval_batch_size or
                                       2 * cfg.batch_size, data.multi_label)
    plan = BatchPlan(len(train), cfg.batch_size, cfg.grad_accum, prep.seed, train.lengths, cfg.group_by_length,
                     scores, cfg.curriculum_fraction)
    val = prep.features.get("val")
    eval_bs = cfg.eval_batch_size or 2 * cfg.batch_size

    def evaluate() -> dict | None:
        if val is None or len(val) == 0:
            return None
        return score(val.targets, predict(model, val, eval_bs, env, data.multi_label), data.labels, data.multi_label)

    if log_path is None and out_dir is not None:
        log_path = out_dir / "train_log.jsonl"
    log = EventLog(log_path, callbacks, fold)
    state = train_loop(model, train, plan, cfg, env, total_steps=plan.total_steps(cfg.epochs, cfg.max_steps),
                       evaluate=evaluate, checkpoints=checkpoints, log=log, show_progress=progress,
                       description=description)
    if checkpoints.has_best():
        checkpoints.load_best(model)
    return model, state, attention, checkpoints


def oof_folds(targets: np.ndarray, groups: np.ndarray | None, k: int, seed: int) -> np.ndarray:
    """A fold per row: stratified by label, and group-aware (a group never spans two folds)."""
    n = len(targets)
    keys = groups if groups is not None else np.arange(n).astype(str)
    label = targets.argmax(axis=1) if targets.ndim == 2 else targets
    frame = pd.DataFrame({"g": keys, "y": label})
    per_group = frame.groupby("g", sort=True)["y"].first()
    if len(per_group) < k:
        raise ConfigError(f"oof: {k} folds need at least {k} groups in train, got {len(per_group)}")
    rng = np.random.default_rng([seed, 1])
    shuffled = per_group.iloc[rng.permutation(len(per_group))]
    ordered = shuffled.sort_values(kind="stable")
    fold_of = pd.Series(np.arange(len(ordered)) % k, index=ordered.index)
    return fold_of.loc[keys].to_numpy()


def train(run_dir: str | Path, model: str | None = None, *, config: str | Path | None = None,
          progress: bool = False, callbacks: Iterable[Callback] = (), **options) -> TrainResult:
    """Fine-tune ``model`` on a run directory's splits and write the results.

    Options are the keys of ``TrainConfig`` (also read from the YAML file ``config``; keywords win).
    ``callbacks`` get every train-log and eval record as a dict while training.
    """
    cfg = build_config(config, model=model, **options)
    data = load_run(run_dir, allow_leak=cfg.allow_leak)
    from .runtime import cpu_threads, deterministic_cuda
    with cpu_threads(cfg.threads), deterministic_cuda(cfg):
        return train_on(data, cfg, progress=progress, callbacks=callbacks)


def train_on(data: RunData, cfg: TrainConfig, *, progress: bool = False, callbacks: Iterable[Callback] = ()) -> TrainResult:
    from .evaluate import majority_baseline, predict, score
    from .models import count_params
    from .outputs import prediction_frame, save_model, write_json, write_predictions

    out_dir = Path(cfg.out) if cfg.out else default_out(data.run_dir)
    if out_dir.resolve() == data.run_dir.resolve():
        raise ConfigError(f"out: {out_dir} is the run directory itself; write the results beside it")
    out_dir.mkdir(parents=True, exist_ok=True)
    if not cfg.resume:
        remove_checkpoints(out_dir / "checkpoints")
        (out_dir / "train_log.jsonl").unlink(missing_ok=True)
    elif not (out_dir / "checkpoints" / "last.pt").exists():
        raise CheckpointError(f"{out_dir}: no checkpoint to resume from (checkpoints/last.pt is missing)")
    dump_config(cfg, out_dir / "config.yaml")
    prep = prepare(data, cfg)
    model, state, attention, checkpoints = fit(prep, out_dir=out_dir, callbacks=callbacks, progress=progress)

    eval_bs = cfg.eval_batch_size or 2 * cfg.batch_size
    labels, multi = data.labels, data.multi_label
    metrics: dict = {"labels": labels, "task": data.task, "model": cfg.model, "mode": cfg.mode}
    frames = []
    baseline = {}
    for name in ("val", "test"):
        if name not in prep.features or len(prep.features[name]) == 0:
            continue
        feats, split = prep.features[name], data.splits[name]
        probs = predict(model, feats, eval_bs, prep.env, multi)
        metrics[name] = score(feats.targets, probs, labels, multi)
        baseline[name] = majority_baseline(prep.features["train"].targets, feats.targets, labels, multi)
        frames.append(prediction_frame(name, split.ids, split.label_values, probs, labels, multi))
    if cfg.oof:
        oof_frame, metrics["oof"] = _out_of_fold(prep, out_dir, callbacks, progress)
        frames.insert(0, oof_frame)
        train_targets = prep.features["train"].targets
        baseline["oof"] = majority_baseline(train_targets, train_targets, labels, multi)
    metrics["baseline"] = {"majority": {"label": next(iter(baseline.values()))["label"] if baseline else None,
                                        **{k: {m: v[m] for m in ("accuracy", "macro_f1")} for k, v in baseline.items()}}}
    seconds = state["seconds"]
    metrics["training"] = {
        "steps": state["step"], "epochs": round(state["step"] / max(1, _steps_per_epoch(prep)), 3),
        "best_step": state["best_step"] if state["evals"] else state["step"],
        "best_val_macro_f1": state["best_score"] if state["evals"] else None,
        "stopped_early": state["stopped_early"], "train_seconds": round(seconds, 3),
        "samples_per_s": state["samples"] / seconds if seconds > 0 else None,
        "tokens_per_s": state["tokens"] / seconds if seconds > 0 and state["tokens"] else None,
        "device": str(prep.env.device), "precision": prep.env.precision, "attention": attention,
        "compiled": cfg.compile, "seed": prep.seed, "params": count_params(model),
        "run_dir": str(data.run_dir.resolve()), "manifest_sha256": data.manifest_sha256}

    paths = {"model": out_dir / "model", "metrics": out_dir / "metrics.json",
             "predictions": out_dir / "predictions.parquet", "train_log": out_dir / "train_log.jsonl",
             "config": out_dir / "config.yaml"}
    write_predictions(frames, labels, paths["predictions"], multi)
    write_json(metrics, paths["metrics"])
    save_model(model, prep.processor, paths["model"])
    if not cfg.keep_checkpoints:
        checkpoints.remove()
    else:
        paths["checkpoints"] = out_dir / "checkpoints"
    return TrainResult(out_dir=out_dir, model_dir=paths["model"], metrics=metrics, paths=paths)


def _steps_per_epoch(prep: Prepared) -> int:
    n = len(prep.features["train"])
    micro = -(-n // prep.cfg.batch_size)
    return -(-micro // prep.cfg.grad_accum)


def _out_of_fold(prep: Prepared, out_dir: Path, callbacks, progress: bool) -> tuple[pd.DataFrame, dict]:
    """K models, each trained without one fold of train, predict that fold."""
    from .evaluate import predict, score
    from .outputs import prediction_frame

    cfg, data = prep.cfg, prep.data
    split = data.splits["train"]
    feats = prep.features["train"]
    folds = oof_folds(feats.targets, split.groups, cfg.oof, prep.seed)
    probs = np.zeros((len(feats), len(data.labels)), dtype=np.float32)
    eval_bs = cfg.eval_batch_size or 2 * cfg.batch_size
    oof_prep = Prepared(data, cfg.model_copy(update={"resume": False}), prep.task, prep.env, prep.seed,
                        prep.processor, prep.features)
    for k in range(cfg.oof):
        held = np.flatnonzero(folds == k)
        model, *_ = fit(oof_prep, np.flatnonzero(folds != k), log_path=out_dir / "train_log.jsonl", callbacks=callbacks, progress=progress, fold=k,
                        description=f"oof fold {k + 1}/{cfg.oof}")
        probs[held] = predict(model, feats.subset(held), eval_bs, prep.env, data.multi_label)
        del model
    frame = prediction_frame("train", split.ids, split.label_values, probs, data.labels, data.multi_label, folds)
    return frame, score(feats.targets, probs, data.labels, data.multi_label)
