"""Predicting class probabilities and scoring them: accuracy, macro-F1, per-class precision, recall
and F1, and the confusion matrix. All metrics are computed with numpy, vectorised."""

from __future__ import annotations

import numpy as np
import torch

from .data import iterate
from .runtime import Env


@torch.no_grad()
def predict(model, features, batch_size: int, env: Env, multi_label: bool = False) -> np.ndarray:
    """Probabilities (rows x labels, float32) for every row, in row order.

    Text rows are batched longest first, so each batch pads little; results go back to row order.
    """
    n = len(features)
    if n == 0:
        return np.zeros((0, model.config.num_labels), dtype=np.float32)
    lengths = features.lengths
    order = np.argsort(-lengths, kind="stable") if lengths is not None else np.arange(n)
    batches = [order[i:i + batch_size] for i in range(0, n, batch_size)]
    was_training = model.training
    model.eval()
    out = []
    for batch in iterate(features, batches, pin=env.cuda):
        inputs = env.to_device(batch)
        inputs.pop("labels", None)
        with env.autocast():
            logits = model(**inputs).logits
        probs = torch.sigmoid(logits.float()) if multi_label else torch.softmax(logits.float(), dim=-1)
        out.append(probs)
    model.train(was_training)
    probs = torch.cat(out).cpu().numpy()
    result = np.empty_like(probs)
    result[order] = probs
    return result


def _prf(tp: np.ndarray, fp: np.ndarray, fn: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    with np.errstate(divide="ignore", invalid="ignore"):
        precision = np.where(tp + fp > 0, tp / (tp + fp), 0.0)
        recall = np.where(tp + fn > 0, tp / (tp + fn), 0.0)
        f1 = np.where(precision + recall > 0, 2 * precision * recall / (precision + recall), 0.0)
    return precision, recall, f1


def classification_metrics(targets: np.ndarray, probs: np.ndarray, labels: list[str]) -> dict:
    """Single-label metrics. Macro-F1 averages the classes that occur in the targets or predictions
    (as scikit-learn does), so a class absent from a small split does not count as a zero."""
    n, k = len(targets), len(labels)
    if n == 0:
        return {"rows": 0}
    pred = probs.argmax(axis=1)
    cm = np.bincount(targets * k + pred, minlength=k * k).reshape(k, k)
    tp = np.diag(cm).astype(float)
    support, predicted = cm.sum(axis=1), cm.sum(axis=0)
    precision, recall, f1 = _prf(tp, predicted - tp, support - tp)
    seen = (support + predicted) > 0
    picked = np.clip(probs[np.arange(n), targets], 1e-12, 1.0)
    return {
        "rows": int(n),
        "accuracy": float(tp.sum() / n),
        "macro_f1": float(f1[seen].mean()),
        "loss": float(-np.log(picked).mean()),
        "per_class": {label: {"precision": float(precision[i]), "recall": float(recall[i]), "f1": float(f1[i]),
                              "support": int(support[i])} for i, label in enumerate(labels)},
        "confusion_matrix": {"labels": list(labels), "rows_are": "true label", "columns_are": "predicted label",
                             "matrix": cm.tolist()},
    }


def multilabel_metrics(targets: np.ndarray, probs: np.ndarray, labels: list[str], threshold: float = 0.5) -> dict:
    """Multi-label metrics: subset accuracy, macro- and micro-F1, and a 2x2 matrix per label."""
    n = len(targets)
    if n == 0:
        return {"rows": 0}
    truth, pred = targets > 0.5, probs >= threshold
    tp = (truth & pred).sum(0).astype(float)
    fp = (~truth & pred).sum(0).astype(float)
    fn = (truth & ~pred).sum(0).astype(float)
    tn = (~truth & ~pred).sum(0)
    precision, recall, f1 = _prf(tp, fp, fn)
    _, _, micro = _prf(np.array([tp.sum()]), np.array([fp.sum()]), np.array([fn.sum()]))
    seen = (tp + fp + fn) > 0
    eps = 1e-12
    bce = -(truth * np.log(np.clip(probs, eps, 1)) + ~truth * np.log(np.clip(1 - probs, eps, 1))).mean()
    return {
        "rows": int(n),
        "accuracy": float((truth == pred).all(axis=1).mean()),
        "macro_f1": float(f1[seen].mean()) if seen.any() else 0.0,
        "micro_f1": float(micro[0]),
        "loss": float(bce),
        "threshold": threshold,
        "per_class": {label: {"precision": float(precision[i]), "recall": float(recall[i]), "f1": float(f1[i]),
                              "support": int(truth[:, i].sum())} for i, label in enumerate(labels)},
        "confusion_matrix": {label: {"tn": int(tn[i]), "fp": int(fp[i]), "fn": int(fn[i]), "tp": int(tp[i])}
                             for i, label in enumerate(labels)},
    }


def score(targets: np.ndarray, probs: np.ndarray, labels: list[str], multi_label: bool) -> dict:
    return (multilabel_metrics if multi_label else classification_metrics)(targets, probs, labels)


def majority_baseline(train_targets: np.ndarray, targets: np.ndarray, labels: list[str], multi_label: bool) -> dict:
    """What always predicting train's most common label scores (multi-label: each label's majority)."""
    if multi_label:
        probs = np.broadcast_to((train_targets.mean(0) >= 0.5).astype(np.float32), targets.shape)
        out = multilabel_metrics(targets, np.asarray(probs), labels)
        return {"label": None, "accuracy": out.get("accuracy"), "macro_f1": out.get("macro_f1")}
    top = int(np.bincount(train_targets, minlength=len(labels)).argmax())
    probs = np.zeros((len(targets), len(labels)), dtype=np.float32)
    probs[:, top] = 1.0
    out = classification_metrics(targets, probs, labels)
    return {"label": labels[top], "accuracy": out.get("accuracy"), "macro_f1": out.get("macro_f1")}
