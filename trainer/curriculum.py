"""Curriculum scores: how hard each training row looks before training starts.

``length``: the number of tokens (short first). ``loss``: one quick pass of the untrained model
over train gives each row's first-token feature; a linear probe, fitted on one half and scored on
the other (and the reverse), gives each row's loss; a high loss means a hard row. The probe uses
its own RNG, so scoring never shifts the run's dropout draws.
"""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F

from .data import iterate
from .errors import ConfigError
from .runtime import Env


@torch.no_grad()
def _features(model, features, batch_size: int, env: Env) -> torch.Tensor:
    n = len(features)
    order = np.argsort(-features.lengths, kind="stable") if features.lengths is not None else np.arange(n)
    batches = [order[i:i + batch_size] for i in range(0, n, batch_size)]
    model.eval()
    out = []
    for batch in iterate(features, batches, pin=env.cuda):
        inputs = env.to_device(batch)
        inputs.pop("labels", None)
        with env.autocast():
            hidden = model(**inputs, output_hidden_states=True).hidden_states[-1]
        out.append((hidden[:, 0] if hidden.dim() == 3 else hidden.mean(dim=(2, 3))).float().cpu())
    model.train()
    feats = torch.cat(out)
    result = torch.empty_like(feats)
    result[torch.from_numpy(order)] = feats
    return result


def _probe_loss(x: torch.Tensor, y: torch.Tensor, fit: torch.Tensor, score: torch.Tensor, n_labels: int,
                multi_label: bool, seed: int, steps: int = 100) -> torch.Tensor:
    gen = torch.Generator().manual_seed(seed)
    weight = (torch.randn(x.shape[1], n_labels, generator=gen) * 0.01).requires_grad_()
    bias = torch.zeros(n_labels, requires_grad=True)
    opt = torch.optim.Adam([weight, bias], lr=0.05)
    loss_fn = F.binary_cross_entropy_with_logits if multi_label else F.cross_entropy
    with torch.enable_grad():
        for _ in range(steps):
            opt.zero_grad()
            loss = loss_fn(x[fit] @ weight + bias, y[fit]) + 1e-3 * weight.pow(2).sum()
            loss.backward()
            opt.step()
    with torch.no_grad():
        per_row = loss_fn(x[score] @ weight + bias, y[score], reduction="none")
        return per_row.mean(dim=1) if multi_label else per_row


def curriculum_scores(kind: str, model, features, env: Env, seed: int, batch_size: int, multi_label: bool) -> np.ndarray:
    """Difficulty per training row (lower is easier)."""
    if kind == "length":
        if features.lengths is None:
            raise ConfigError("curriculum: 'length' needs text; use 'loss' for images")
        return features.lengths.astype(np.float64)
    x = _features(model, features, batch_size, env)
    x = (x - x.mean(0)) / (x.std(0) + 1e-6)
    y = torch.tensor(features.targets)
    halves = np.random.default_rng(seed).permutation(len(x)) % 2 == 0
    a, b = torch.from_numpy(halves), torch.from_numpy(~halves)
    scores = torch.empty(len(x))
    n_labels = model.config.num_labels
    if a.any() and b.any():
        scores[b] = _probe_loss(x, y, a, b, n_labels, multi_label, seed)
        scores[a] = _probe_loss(x, y, b, a, n_labels, multi_label, seed + 1)
    else:
        scores[:] = _probe_loss(x, y, a | b, a | b, n_labels, multi_label, seed)
    return scores.numpy().astype(np.float64)
