"""Hyperparameter search with optuna: learning rate, batch size, epochs, warmup, dropout and freeze
depth, under a trial budget, with pruning of trials whose val macro-F1 lags the median.

Writes ``trials.csv`` (one row per trial), ``best_config.yaml`` (the options of the best trial,
ready for ``curator-train RUN_DIR --config best_config.yaml``) and ``search.json``. A trial whose loss
diverges or that runs out of GPU memory is marked failed, with the reason in ``trials.csv``, and the
search goes on.
"""

from __future__ import annotations

import contextlib
import dataclasses
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from pydantic import BaseModel, ConfigDict, ValidationError

from .config import TrainConfig, _one_line, build_config, dump_config, read_yaml
from .errors import ConfigError, DependencyError, DivergedError
from .rundir import load_run


class SearchSpace(BaseModel):
    """Ranges to sample; null leaves that option as the base options set it."""

    model_config = ConfigDict(extra="forbid")

    lr: tuple[float, float] | None = (1e-5, 3e-4)              # log-uniform
    batch_size: list[int] | None = [16, 32, 64]               # one of
    epochs: tuple[int, int] | None = (1, 4)
    warmup_ratio: tuple[float, float] | None = (0.0, 0.2)
    dropout: tuple[float, float] | None = (0.0, 0.3)
    freeze_layers: tuple[int, int | None] | None = (0, None)  # None: the model's layer count - 1


@dataclass
class SearchResult:
    out_dir: Path
    best_value: float
    best_params: dict
    best_config: TrainConfig
    trials: object          # pandas DataFrame
    paths: dict


def load_space(path: str | Path | None) -> SearchSpace:
    if path is None:
        return SearchSpace()
    try:
        return SearchSpace.model_validate(read_yaml(path))
    except ValidationError as err:
        message = _one_line(err, str(path)).split("; expected one of")[0]
        raise ConfigError(f"{message}; expected one of: {', '.join(SearchSpace.model_fields)}") from None


@contextlib.contextmanager
def _quiet_optuna(optuna) -> Iterator[None]:
    level = optuna.logging.get_verbosity()
    optuna.logging.set_verbosity(optuna.logging.ERROR)     # failed trials are reported in trials.csv
    try:
        yield
    finally:
        optuna.logging.set_verbosity(level)


def sample(trial, space: SearchSpace, base: TrainConfig, layers: int | None) -> dict:
    params: dict = {}
    if space.lr:
        params["lr"] = trial.suggest_float("lr", *space.lr, log=True)
    if space.batch_size:
        params["batch_size"] = trial.suggest_categorical("batch_size", space.batch_size)
    if space.epochs:
        params["epochs"] = trial.suggest_int("epochs", *space.epochs)
    if space.warmup_ratio:
        params["warmup_ratio"] = trial.suggest_float("warmup_ratio", *space.warmup_ratio)
    if space.dropout:
        params["dropout"] = trial.suggest_float("dropout", *space.dropout)
    if space.freeze_layers and base.mode in ("full", "freeze") and layers:
        low, high = space.freeze_layers
        depth = trial.suggest_int("freeze_layers", low, min(high if high is not None else layers - 1, layers))
        params.update(freeze_layers=depth, mode="freeze" if depth > 0 else "full")
    return params


def search(run_dir: str | Path, model: str | None = None, *, trials: int = 20, timeout: float | None = None,
           pruning: bool = True, space: str | Path | SearchSpace | None = None, config: str | Path | None = None,
           progress: bool = False, **options) -> SearchResult:
    """Search training options on val macro-F1. ``space`` is a SearchSpace or a YAML file of one."""
    try:
        import optuna
    except ImportError:
        raise DependencyError("search needs optuna: pip install optuna (or 'curator[train]')") from None
    import torch
    from .api import default_out, fit, prepare
    from .models import _first_line, model_config, num_layers
    from .runtime import cpu_threads, deterministic_cuda

    if trials < 1:
        raise ConfigError(f"trials: expected at least 1, got {trials}")
    base = build_config(config, model=model, **options)
    space = space if isinstance(space, SearchSpace) else load_space(space)
    data = load_run(run_dir, allow_leak=base.allow_leak)
    if "val" not in data.splits or len(data.splits["val"]) == 0:
        raise ConfigError("search scores trials on val, but the run has no val rows")
    out_dir = Path(base.out) if base.out else default_out(data.run_dir).with_name(data.run_dir.name + "-search")
    out_dir.mkdir(parents=True, exist_ok=True)
    prep = prepare(data, base)
    layers = num_layers(model_config(base.model))
    seed = prep.seed
    trial_failures = (DivergedError, torch.cuda.OutOfMemoryError)

    def objective(trial) -> float:
        cfg = base.model_copy(update={**sample(trial, space, base, layers), "resume": False})
        cfg = TrainConfig.model_validate(cfg.model_dump())
        trial_dir = out_dir / "trials" / f"{trial.number:03d}"
        trial_dir.mkdir(parents=True, exist_ok=True)
        (trial_dir / "train_log.jsonl").unlink(missing_ok=True)

        def report(record: dict) -> None:
            if record.get("event") == "eval":
                trial.report(record["macro_f1"], record["step"])
                if pruning and trial.should_prune():
                    raise optuna.TrialPruned(f"val macro-F1 {record['macro_f1']:.4f} at step {record['step']}")

        try:
            _, state, *_ = fit(dataclasses.replace(prep, cfg=cfg), log_path=trial_dir / "train_log.jsonl",
                               callbacks=[report], progress=progress,
                               description=f"trial {trial.number + 1}/{trials}")
        except trial_failures as err:
            trial.set_user_attr("error", _first_line(err))
            raise
        return state["best_score"] if state["evals"] else float("nan")

    pruner = optuna.pruners.MedianPruner(n_startup_trials=2) if pruning else optuna.pruners.NopPruner()
    sampler = optuna.samplers.TPESampler(seed=seed)
    with _quiet_optuna(optuna), cpu_threads(base.threads), deterministic_cuda(base):
        study = optuna.create_study(direction="maximize", sampler=sampler, pruner=pruner,
                                    study_name=f"curator-train {data.run_dir.name}")
        study.optimize(objective, n_trials=trials, timeout=timeout, catch=trial_failures)
    frame = study.trials_dataframe(attrs=("number", "value", "state", "params", "user_attrs", "duration"))
    frame["duration"] = frame["duration"].dt.total_seconds()
    frame["state"] = frame["state"].astype(str)
    paths = {"trials": out_dir / "trials.csv", "best_config": out_dir / "best_config.yaml",
             "summary": out_dir / "search.json"}
    frame.to_csv(paths["trials"], index=False)
    complete = [t for t in study.trials if t.state == optuna.trial.TrialState.COMPLETE]
    if not complete:
        failed = [t for t in study.trials if t.state == optuna.trial.TrialState.FAIL]
        why = next((f"; trial {t.number}: {t.user_attrs['error']}" for t in failed if "error" in t.user_attrs), "")
        raise ConfigError(f"search: no trial completed ({len(failed)} failed, {len(study.trials) - len(failed)} "
                          f"pruned{why}); see {paths['trials']}")
    best = study.best_trial
    best_cfg = base.model_copy(update=sample(optuna.trial.FixedTrial(best.params), space, base, layers))
    best_cfg = TrainConfig.model_validate({**best_cfg.model_dump(), "out": None, "resume": False})
    dump_config(best_cfg, paths["best_config"])
    from .outputs import write_json
    write_json({"best_value": best.value, "metric": "val macro_f1", "best_trial": best.number,
                "best_params": best.params, "trials": len(study.trials), "complete": len(complete),
                "pruned": sum(t.state == optuna.trial.TrialState.PRUNED for t in study.trials),
                "failed": sum(t.state == optuna.trial.TrialState.FAIL for t in study.trials),
                "space": space.model_dump(mode="json"), "seed": seed}, paths["summary"])
    return SearchResult(out_dir=out_dir, best_value=float(best.value), best_params=dict(best.params),
                        best_config=best_cfg, trials=frame, paths=paths)
