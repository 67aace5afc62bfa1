"""Training options, validated with pydantic.

One model holds every option. The same keys come from keyword arguments (``trainer.train``), a YAML
file (``--config``) and command-line flags; later sources override earlier ones. An unknown key is
an error that names it and lists the valid ones.
"""

from __future__ import annotations

import difflib
import hashlib
import json
import os
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from .errors import ConfigError


class TrainConfig(BaseModel):
    model_config = ConfigDict(extra="forbid", validate_assignment=True, protected_namespaces=())

    model: str = Field(description="a model name on the hub or a local directory")
    task: Literal["text", "image"] | None = Field(None, description="default: the manifest's modality")
    out: str | None = Field(None, description="output directory; default: <run_dir>-train")

    # what trains
    mode: Literal["full", "freeze", "head", "lora"] = Field(
        "full", description="full fine-tuning, freeze (embeddings + first layers), head only, or LoRA")
    freeze_layers: int = Field(0, ge=0, description="mode freeze: the embeddings and this many first layers")
    lora_r: int = Field(8, gt=0, description="LoRA rank")
    lora_alpha: float = Field(16.0, gt=0, description="LoRA scaling alpha")
    lora_dropout: float = Field(0.05, ge=0, lt=1, description="dropout on the LoRA path")
    lora_targets: list[str] | None = Field(None, description="module names; default: peft's for the model type")
    dropout: float | None = Field(None, ge=0, lt=1, description="hidden and attention dropout; default: the model's")

    # the loop
    epochs: float = Field(3.0, gt=0, description="passes over train (fractions allowed)")
    max_steps: int | None = Field(None, gt=0, description="optimizer steps; overrides epochs")
    batch_size: int = Field(32, gt=0, description="rows per micro-batch")
    eval_batch_size: int | None = Field(None, gt=0, description="rows per eval batch; default: 2 x batch_size")
    grad_accum: int = Field(1, gt=0, description="micro-batches per optimizer step")
    lr: float = Field(5e-5, gt=0, description="peak learning rate (AdamW)")
    weight_decay: float = Field(0.01, ge=0, description="AdamW weight decay (not on biases and norms)")
    warmup_ratio: float = Field(0.06, ge=0, lt=1, description="share of steps with a linear warmup")
    warmup_steps: int | None = Field(None, ge=0, description="overrides warmup_ratio")
    schedule: Literal["linear", "cosine", "constant"] = Field(
        "linear", description="learning-rate decay after warmup")
    max_grad_norm: float | None = Field(1.0, gt=0, description="clip the gradient norm to this")
    max_length: int = Field(128, gt=1, description="text: tokens per sequence, truncated beyond")
    group_by_length: bool = Field(True, description="text: batch rows of similar length (less padding)")
    precision: Literal["auto", "fp32", "bf16"] = Field("auto", description="auto: bf16 on CUDA, fp32 on CPU")
    compile: bool = Field(False, description="torch.compile the model for training")
    curriculum: Literal["none", "length", "loss"] = Field(
        "none", description="order the first epoch easy to hard by length or a quick first-pass loss")
    curriculum_fraction: float = Field(0.5, gt=0, le=1, description="share of the first epoch ordered easy to hard")

    # run control
    eval_every: int | None = Field(None, gt=0, description="optimizer steps; default: once an epoch")
    patience: int | None = Field(3, ge=0, description="evaluations without a better val macro-F1 before stopping; "
                                 "0 or null: never stop early")
    log_every: int = Field(10, gt=0, description="optimizer steps between train_log records")
    save_every: int | None = Field(None, gt=0, description="resumable checkpoint every N steps; default: eval_every")
    resume: bool = Field(False, description="continue from <out>/checkpoints/last.pt")
    keep_checkpoints: bool = Field(False, description="keep <out>/checkpoints after training")
    seed: int | None = Field(None, description="default: the manifest's seed")
    oof: int = Field(0, ge=0, description="K-fold out-of-fold predictions for train (0: off)")
    allow_leak: bool = Field(False, description="train even if an id, text or image hash is in two splits")
    device: Literal["auto", "cpu", "cuda"] = Field("auto", description="auto: CUDA when there is one")
    deterministic: bool = Field(False, description="CUDA: deterministic kernels and math attention, so a GPU run "
                                "repeats bit for bit (slower); CPU runs always do")
    workers: int = Field(0, ge=0, description="data loader worker processes (images)")
    threads: int | None = Field(None, gt=0, description="CPU threads for torch")

    @field_validator("model", "out", mode="before")
    @classmethod
    def _paths_as_text(cls, value: Any) -> Any:
        return os.fspath(value) if isinstance(value, os.PathLike) else value

    @model_validator(mode="after")
    def _check(self) -> "TrainConfig":
        if self.oof == 1:
            raise ValueError("oof: expected 0 (off) or at least 2 folds, got 1")
        return self

    def fingerprint(self) -> str:
        """A hash of the options that change the result; a checkpoint resumes only under the same one."""
        skip = {"out", "resume", "keep_checkpoints", "workers", "threads", "oof", "eval_batch_size", "log_every",
                "save_every", "allow_leak"}
        data = self.model_dump(mode="json", exclude=skip)
        return hashlib.sha256(json.dumps(data, sort_keys=True, separators=(",", ":")).encode()).hexdigest()[:16]


FIELDS = sorted(TrainConfig.model_fields)


def _one_line(err: ValidationError, source: str) -> str:
    first = err.errors()[0]
    where = ".".join(str(p) for p in first["loc"]) or "(top level)"
    if first["type"] == "extra_forbidden":
        hint = difflib.get_close_matches(where, FIELDS, n=1)
        msg = f"{source}: unknown key '{where}'" + (f" (did you mean '{hint[0]}'?)" if hint else "")
        msg += f"; expected one of: {', '.join(FIELDS)}"
    elif first["type"] == "missing":
        msg = f"{source}: missing required key '{where}'"
    else:
        text = first["msg"].removeprefix("Value error, ")
        msg = f"{source}: {where}: {text}, got {first.get('input')!r}" if where != "(top level)" else f"{source}: {text}"
    more = len(err.errors()) - 1
    return msg + (f" (and {more} more problem{'s' if more > 1 else ''})" if more else "")


def read_yaml(path: str | Path) -> dict[str, Any]:
    """Read a YAML options file into a mapping (one-line errors)."""
    path = Path(path)
    if not path.is_file():
        raise ConfigError(f"{path}: config file not found")
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except UnicodeDecodeError:
        raise ConfigError(f"{path}: expected a UTF-8 text file") from None
    except yaml.YAMLError as err:
        mark = getattr(err, "problem_mark", None)
        where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        raise ConfigError(f"{path}: not valid YAML{where}: {getattr(err, 'problem', err)}") from None
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise ConfigError(f"{path}: expected a mapping of options at the top level, got {type(data).__name__}")
    return data


def build_config(config_file: str | Path | None = None, source: str = "options", **options: Any) -> TrainConfig:
    """Merge a YAML file's options with keyword options (keywords win)."""
    data: dict[str, Any] = read_yaml(config_file) if config_file is not None else {}
    if config_file is not None:
        source = str(config_file)
    given = dict(options)
    if "model" in given and given["model"] is None:
        del given["model"]          # train(run_dir, model=None, config=...) takes the model from the file
    data.update(given)
    try:
        return TrainConfig.model_validate(data)
    except ValidationError as err:
        bad = str(err.errors()[0]["loc"][0]) if err.errors()[0]["loc"] else ""
        message = _one_line(err, "options" if bad in given else source)
        if bad == "model" and err.errors()[0]["type"] == "missing":
            message += " (pass --model NAME_OR_PATH, or set model: in the config file)"
        raise ConfigError(message) from None


def dump_config(cfg: TrainConfig, path: Path) -> None:
    path.write_text(yaml.safe_dump(cfg.model_dump(mode="json"), sort_keys=False), encoding="utf-8")
