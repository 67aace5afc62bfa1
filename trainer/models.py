"""Loading a classification model and its tokenizer or image processor, and choosing what trains.

Modes: ``full`` (everything), ``freeze`` (the embeddings and the first N layers stay fixed),
``head`` (feature extraction: only the classification head trains) and ``lora`` (peft adapters on
the attention projections, plus the head).
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

import torch
from torch import nn

from .config import TrainConfig
from .errors import ConfigError, DependencyError, ModelError

DROPOUT_KEYS = ("hidden_dropout_prob", "attention_probs_dropout_prob", "hidden_dropout", "attention_dropout",
                "dropout", "seq_classif_dropout", "classifier_dropout")
LAYER_KEYS = ("num_hidden_layers", "n_layers", "num_layers", "n_layer")


@contextlib.contextmanager
def quiet_transformers() -> Iterator[None]:
    """Silence transformers' load reports and progress bars, and huggingface_hub's retry messages
    (offline, a hub name is tried several times), while we load (restored afterwards)."""
    from huggingface_hub.utils import logging as hub_logging
    from transformers.utils import logging as hf_logging

    level, hub_level = hf_logging.get_verbosity(), hub_logging.get_verbosity()
    bars = hf_logging.is_progress_bar_enabled()
    hf_logging.set_verbosity_error()
    hub_logging.set_verbosity_error()
    hf_logging.disable_progress_bar()
    try:
        yield
    finally:
        hf_logging.set_verbosity(level)
        hub_logging.set_verbosity(hub_level)
        if bars:
            hf_logging.enable_progress_bar()


def _first_line(err: BaseException) -> str:
    text = str(err).strip().splitlines()
    return text[0] if text else type(err).__name__


def num_layers(config) -> int | None:
    for key in LAYER_KEYS:
        value = getattr(config, key, None)
        if isinstance(value, int):
            return value
    return None


def model_config(name: str):
    """The model's transformers config (one-line error when it cannot be read)."""
    from transformers import AutoConfig

    try:
        with quiet_transformers():
            return AutoConfig.from_pretrained(name)
    except (OSError, ValueError, KeyError) as err:
        raise ModelError(f"cannot load model {name!r}: {_first_line(err)}") from None


def check_task(name: str, task: str) -> None:
    """Refuse an image model for a text run, and a text model for an image run, before either loads."""
    from transformers.models.auto.modeling_auto import MODEL_FOR_IMAGE_CLASSIFICATION_MAPPING_NAMES as IMAGE
    from transformers.models.auto.modeling_auto import MODEL_FOR_SEQUENCE_CLASSIFICATION_MAPPING_NAMES as TEXT

    kind = model_config(name).model_type
    fits, other = (TEXT, IMAGE) if task == "text" else (IMAGE, TEXT)
    if kind not in fits and kind in other:
        raise ModelError(f"{name!r} is {'an image' if task == 'text' else 'a text'} model; this run is {task}")


def load_processor(name: str, task: str):
    """The tokenizer (text) or image processor (image) saved with the model."""
    import transformers

    try:
        with quiet_transformers():
            if task == "text":
                return ensure_pad_token(transformers.AutoTokenizer.from_pretrained(name), name)
            return transformers.AutoImageProcessor.from_pretrained(name)
    except (OSError, ValueError, KeyError, TypeError) as err:
        what = "tokenizer" if task == "text" else "image processor"
        raise ModelError(f"cannot load the {what} of model {name!r}: {_first_line(err)}") from None


def ensure_pad_token(tokenizer, name: str):
    """Give a tokenizer without a pad token (GPT-2, Llama...) its end-of-sequence token as one.

    Batches are padded with it and the model's ``pad_token_id`` is set to it, so a decoder's
    classification head reads the last real token whatever else is in the batch; it is saved with
    the model.
    """
    if tokenizer.pad_token is not None:
        return tokenizer
    eos = tokenizer.eos_token
    if eos is None:
        ids = getattr(model_config(name), "eos_token_id", None)
        first = ids[0] if isinstance(ids, list) and ids else ids
        eos = tokenizer.convert_ids_to_tokens(first) if isinstance(first, int) else None
    if eos is None:
        raise ModelError(f"the tokenizer of model {name!r} has neither a pad token nor an end-of-sequence token "
                         "to pad batches with")
    tokenizer.pad_token = eos
    return tokenizer


def load_model(cfg: TrainConfig, task: str, labels: list[str], multi_label: bool,
               pad_token_id: int | None = None) -> tuple[nn.Module, str]:
    """The model with a fresh head for ``labels``; returns it and the attention implementation used.

    ``pad_token_id``: the id batches are padded with (text), which the model must know to find
    each row's last real token.
    """
    import transformers

    auto = (transformers.AutoModelForSequenceClassification if task == "text"
            else transformers.AutoModelForImageClassification)
    config = model_config(cfg.model)
    config.num_labels = len(labels)
    config.id2label = dict(enumerate(labels))
    config.label2id = {label: i for i, label in enumerate(labels)}
    config.problem_type = "multi_label_classification" if multi_label else "single_label_classification"
    if cfg.dropout is not None:
        keys = [k for k in DROPOUT_KEYS if isinstance(getattr(config, k, None), float | int)]
        if not keys:
            raise ConfigError(f"dropout: the {config.model_type} config has no dropout setting to change")
        for key in keys:
            setattr(config, key, cfg.dropout)
    attn = "sdpa"
    try:
        with quiet_transformers():
            try:
                model = auto.from_pretrained(cfg.model, config=config, attn_implementation=attn,
                                             ignore_mismatched_sizes=True)
            except ValueError as err:
                if "sdpa" not in str(err).lower():
                    raise
                attn = "eager"  # an architecture without SDPA support
                model = auto.from_pretrained(cfg.model, config=config, ignore_mismatched_sizes=True)
    except (OSError, ValueError, KeyError, TypeError) as err:
        kind = "sequence" if task == "text" else "image"
        raise ModelError(f"cannot load model {cfg.model!r} for {kind} classification: {_first_line(err)}") from None
    if pad_token_id is not None:
        model.config.pad_token_id = pad_token_id
    return model, attn


def _head_names(model: nn.Module) -> list[str]:
    prefix = getattr(model, "base_model_prefix", "")
    return [n for n, m in model.named_children() if n != prefix and any(True for _ in m.parameters())]


def _layer_list(model: nn.Module) -> nn.ModuleList:
    n = num_layers(model.config)
    for _, module in model.base_model.named_modules():
        if isinstance(module, nn.ModuleList) and len(module) == n:
            return module
    raise ModelError(f"cannot find the {n} transformer layers of this {model.config.model_type} model to freeze")


def apply_mode(model: nn.Module, cfg: TrainConfig) -> nn.Module:
    """Freeze, or wrap with LoRA, per ``cfg.mode``. Returns the model to train."""
    if cfg.mode == "full":
        return model
    if cfg.mode == "lora":
        return _lora(model, cfg)
    heads = _head_names(model)
    if not heads:
        raise ModelError(f"cannot tell the classification head from the backbone of this {model.config.model_type} model")
    if cfg.mode == "head":
        for name, param in model.named_parameters():
            param.requires_grad = name.split(".")[0] in heads
        return model
    # freeze: the embeddings and the first N layers
    layers = _layer_list(model)
    if cfg.freeze_layers > len(layers):
        raise ConfigError(f"freeze_layers: the model has {len(layers)} layers, got {cfg.freeze_layers}")
    base = model.base_model
    embeddings = getattr(base, "embeddings", None)
    if embeddings is None:
        embeddings = model.get_input_embeddings()
    for module in [embeddings, *list(layers)[: cfg.freeze_layers]]:
        for param in module.parameters():
            param.requires_grad = False
    return model


def _lora(model: nn.Module, cfg: TrainConfig) -> nn.Module:
    try:
        import peft
    except ImportError:
        raise DependencyError("mode 'lora' needs peft: pip install peft (or 'curator[train]')") from None
    lora = peft.LoraConfig(r=cfg.lora_r, lora_alpha=cfg.lora_alpha, lora_dropout=cfg.lora_dropout,
                           target_modules=cfg.lora_targets or _attention_targets(model),
                           modules_to_save=_head_names(model))
    try:
        return peft.get_peft_model(model, lora)
    except ValueError as err:
        raise ModelError(f"LoRA: {_first_line(err)} (set lora_targets to the module names to adapt)") from None


ATTENTION_TARGETS = (["query", "value"], ["q_proj", "v_proj"], ["query_proj", "value_proj"], ["q_lin", "v_lin"],
                     ["c_attn"], ["qkv"])


def _attention_targets(model: nn.Module) -> list[str] | None:
    """The query and value projections, by the names common architectures use (None: ask peft)."""
    leaves = {name.rsplit(".", 1)[-1] for name, m in model.named_modules() if isinstance(m, nn.Linear)}
    for names in ATTENTION_TARGETS:
        if all(n in leaves for n in names):
            return names
    return None


def plain_model(model: nn.Module) -> nn.Module:
    """The transformers model to save: LoRA adapters merged into the weights."""
    if hasattr(model, "merge_and_unload"):
        return model.merge_and_unload()
    return model


def trainable_state(model: nn.Module) -> dict[str, torch.Tensor]:
    """The parameters that change in training (frozen ones are reloaded from the model), copied to
    the CPU so a copy kept in memory takes no GPU memory."""
    return {n: p.detach().to("cpu", copy=True) for n, p in model.named_parameters() if p.requires_grad}


def load_trainable_state(model: nn.Module, state: dict[str, torch.Tensor]) -> None:
    params = dict(model.named_parameters())
    missing = [n for n in state if n not in params]
    if missing:
        raise ModelError(f"checkpoint does not fit the model: no parameter {missing[0]!r}")
    with torch.no_grad():
        for name, value in state.items():
            params[name].copy_(value)


def count_params(model: nn.Module) -> dict[str, int]:
    total = sum(p.numel() for p in model.parameters())
    trainable = sum(p.numel() for p in model.parameters() if p.requires_grad)
    return {"total": total, "trainable": trainable}
