"""Where and how the math runs: device, precision, threads, seeds and RNG state."""

from __future__ import annotations

import contextlib
import os
import random
from dataclasses import dataclass

import numpy as np
import torch

from .config import TrainConfig
from .errors import ConfigError


@dataclass(frozen=True)
class Env:
    device: torch.device
    dtype: torch.dtype | None        # autocast dtype; None = fp32, no autocast
    compile: bool = False

    @property
    def cuda(self) -> bool:
        return self.device.type == "cuda"

    @property
    def precision(self) -> str:
        return "bf16" if self.dtype == torch.bfloat16 else "fp32"

    def autocast(self):
        if self.dtype is None:
            return contextlib.nullcontext()
        return torch.autocast(device_type=self.device.type, dtype=self.dtype)

    def to_device(self, batch: dict) -> dict:
        """Move the tensors of a batch; non-blocking from pinned memory on CUDA (no host sync)."""
        return {k: v.to(self.device, non_blocking=self.cuda) for k, v in batch.items() if torch.is_tensor(v)}


def make_env(cfg: TrainConfig) -> Env:
    if cfg.device == "cuda" and not torch.cuda.is_available():
        raise ConfigError("device: 'cuda' was asked for but torch sees no CUDA device")
    cuda = cfg.device == "cuda" or (cfg.device == "auto" and torch.cuda.is_available())
    device = torch.device("cuda" if cuda else "cpu")
    if cuda:
        # TF32 for any fp32 matmul left outside autocast; bf16 autocast for the rest.
        torch.backends.cuda.matmul.allow_tf32 = True
        torch.backends.cudnn.allow_tf32 = True
    # including_emulation=False: a GPU that only emulates bf16 (before Ampere) runs it slower than fp32
    native = cuda and torch.cuda.is_bf16_supported(including_emulation=False)
    bf16 = cfg.precision == "bf16" or (cfg.precision == "auto" and native)
    if bf16 and cuda and not torch.cuda.is_bf16_supported():
        raise ConfigError("precision: 'bf16' was asked for but this GPU does not support bfloat16")
    return Env(device=device, dtype=torch.bfloat16 if bf16 else None, compile=cfg.compile)


@contextlib.contextmanager
def cpu_threads(n: int | None):
    """Run with ``n`` torch CPU threads, then put the process's setting back."""
    before = torch.get_num_threads()
    if n:
        torch.set_num_threads(n)
    try:
        yield
    finally:
        if n:
            torch.set_num_threads(before)


@contextlib.contextmanager
def deterministic_cuda(cfg: TrainConfig):
    """With ``cfg.deterministic`` on a CUDA run: deterministic kernels (torch warns naming any op that has
    none), a fixed cuBLAS workspace and the math attention kernel, so the run repeats bit for bit
    (slower). The process's settings come back afterwards. CPU runs repeat without it."""
    if not cfg.deterministic or cfg.device == "cpu" or not torch.cuda.is_available():
        yield
        return
    cuda, cudnn = torch.backends.cuda, torch.backends.cudnn
    before = (torch.are_deterministic_algorithms_enabled(), torch.is_deterministic_algorithms_warn_only_enabled(),
              cudnn.deterministic, cudnn.benchmark, cuda.flash_sdp_enabled(), cuda.mem_efficient_sdp_enabled(),
              cuda.cudnn_sdp_enabled(), cuda.math_sdp_enabled(), os.environ.get("CUBLAS_WORKSPACE_CONFIG"))
    os.environ.setdefault("CUBLAS_WORKSPACE_CONFIG", ":4096:8")
    torch.use_deterministic_algorithms(True, warn_only=True)
    cudnn.deterministic, cudnn.benchmark = True, False
    cuda.enable_flash_sdp(False)
    cuda.enable_mem_efficient_sdp(False)
    cuda.enable_cudnn_sdp(False)
    cuda.enable_math_sdp(True)
    try:
        yield
    finally:
        algorithms, warn_only, cudnn.deterministic, cudnn.benchmark, flash, efficient, cudnn_sdp, math, cublas = before
        torch.use_deterministic_algorithms(algorithms, warn_only=warn_only)
        cuda.enable_flash_sdp(flash)
        cuda.enable_mem_efficient_sdp(efficient)
        cuda.enable_cudnn_sdp(cudnn_sdp)
        cuda.enable_math_sdp(math)
        if cublas is None:
            os.environ.pop("CUBLAS_WORKSPACE_CONFIG", None)


def seed_everything(seed: int) -> None:
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)
    if torch.cuda.is_available():
        torch.cuda.manual_seed_all(seed)


def rng_state() -> dict:
    np_state = np.random.get_state()
    state = {"python": random.getstate(), "torch": torch.get_rng_state(),
             "numpy": [np_state[0], torch.from_numpy(np_state[1].astype(np.int64)), *np_state[2:]]}
    if torch.cuda.is_available():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def set_rng_state(state: dict) -> None:
    random.setstate(_tuples(state["python"]))
    torch.set_rng_state(state["torch"])
    kind, keys, pos, has_gauss, gauss = state["numpy"]
    np.random.set_state((kind, keys.numpy().astype(np.uint32), pos, has_gauss, gauss))
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])


def _tuples(value):
    """random.setstate wants tuples back where torch.save/load may have kept them as lists."""
    if isinstance(value, list):
        return tuple(_tuples(v) for v in value)
    if isinstance(value, tuple):
        return tuple(_tuples(v) for v in value)
    return value
