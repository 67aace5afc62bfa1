"""Checkpoints: the best weights so far, and the full state to resume an interrupted run.

``last.pt`` holds what an uninterrupted run would still have in memory at that step: the trainable
weights, the optimizer and scheduler state, every RNG state, the position in the epoch's batch order,
the early-stopping record and the curriculum scores. Resuming from it on the CPU gives the same
weights and metrics as never stopping. Files are written under a temporary name, then renamed, so a
kill mid-write leaves the previous checkpoint intact.
"""

from __future__ import annotations

import contextlib
import os
from pathlib import Path

import numpy as np
import torch

from .errors import CheckpointError
from .models import load_trainable_state, trainable_state
from .runtime import rng_state, set_rng_state


FILES = ("last.pt", "best.pt", "last.pt.tmp", "best.pt.tmp")


def remove_checkpoints(root: Path) -> None:
    """Delete the files the trainer writes under ``root``, never anything else, and ``root`` if that
    empties it."""
    for name in FILES:
        (root / name).unlink(missing_ok=True)
    with contextlib.suppress(OSError):
        root.rmdir()


def _save(obj, path: Path) -> None:
    tmp = path.with_name(path.name + ".tmp")
    torch.save(obj, tmp)
    os.replace(tmp, path)


class Checkpoints:
    """Checkpoints under ``root``; with ``root=None`` the best weights stay in memory only."""

    def __init__(self, root: Path | None, fingerprint: str = "") -> None:
        self.root = root
        self.fingerprint = fingerprint
        self._best: dict | None = None
        self._last: dict | None = None
        if root is not None:
            root.mkdir(parents=True, exist_ok=True)

    @property
    def last_path(self) -> Path | None:
        return None if self.root is None else self.root / "last.pt"

    @property
    def best_path(self) -> Path | None:
        return None if self.root is None else self.root / "best.pt"

    def save_best(self, model) -> None:
        state = trainable_state(model)
        if self.root is None:
            self._best = state
        else:
            _save(state, self.best_path)

    def has_best(self) -> bool:
        return self._best is not None or (self.best_path is not None and self.best_path.exists())

    def load_best(self, model) -> None:
        state = self._best if self.root is None else torch.load(self.best_path, map_location="cpu", weights_only=True)
        load_trainable_state(model, state)

    def has_last(self) -> bool:
        return self.last_path is not None and self.last_path.exists()

    def save_last(self, model, optimizer, scheduler, loop_state: dict, curriculum: np.ndarray | None = None) -> None:
        if self.root is None:
            return
        state = {"fingerprint": self.fingerprint, "model": trainable_state(model), "optimizer": optimizer.state_dict(),
                 "scheduler": scheduler.state_dict(), "rng": rng_state(), "loop": loop_state}
        if curriculum is not None:
            state["curriculum"] = torch.from_numpy(np.asarray(curriculum, dtype=np.float64))
        _save(state, self.last_path)

    def read_last(self) -> dict:
        """The state ``save_last`` wrote (read once), checked against this run's options."""
        if self._last is not None:
            return self._last
        path = self.last_path
        if path is None or not path.exists():
            raise CheckpointError(f"{self.root}: no checkpoint to resume from (last.pt is missing)")
        try:
            state = torch.load(path, map_location="cpu", weights_only=True)
        except (RuntimeError, OSError, EOFError) as err:
            raise CheckpointError(f"{path}: cannot read the checkpoint: {err}") from None
        if state.get("fingerprint") != self.fingerprint:
            raise CheckpointError(f"{path}: the checkpoint was made with other training options; resume with the "
                                  "same options, or start again without --resume")
        self._last = state
        return state

    def curriculum(self) -> np.ndarray | None:
        """The curriculum scores the interrupted run trained with (None: it had none)."""
        saved = self.read_last().get("curriculum")
        return None if saved is None else saved.numpy()

    def load_last(self, model, optimizer, scheduler) -> dict:
        """Restore everything saved by ``save_last``; returns the loop state."""
        state = self.read_last()
        self._last = None
        load_trainable_state(model, state["model"])
        optimizer.load_state_dict(state["optimizer"])
        scheduler.load_state_dict(state["scheduler"])
        set_rng_state(state["rng"])
        return state["loop"]

    def remove(self) -> None:
        if self.root is not None:
            remove_checkpoints(self.root)
