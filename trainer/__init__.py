"""trainer: fine-tune a transformers classifier on a curator run directory.

It reads the run's ``manifest.json`` and split files (never ``curator`` itself), checks them, trains
with a compact PyTorch loop and writes a model directory, metrics and predictions::

    import trainer
    result = trainer.train("out/", model="sentence-transformers/all-MiniLM-L6-v2", epochs=2)
    result.metrics["test"]["macro_f1"]
    study = trainer.search("out/", model="...", trials=20)
"""

from .config import TrainConfig, build_config
from .errors import (CheckpointError, ChecksumError, ConfigError, DataError, DependencyError, DivergedError,
                     LeakError, MissingColumnError, ModelError, RunDirError, TrainerError)

__all__ = ["CheckpointError", "ChecksumError", "ConfigError", "DataError", "DependencyError", "DivergedError", "LeakError",
           "MissingColumnError", "ModelError", "RunDirError", "SearchResult", "TrainConfig", "TrainResult",
           "TrainerError", "build_config", "load_run", "search", "train"]


def __getattr__(name: str):
    # torch and transformers load on first use, so `--help` and input checks stay fast.
    if name in ("train", "TrainResult"):
        from . import api
        return getattr(api, name)
    if name in ("search", "SearchResult"):
        from . import hpsearch as _search
        return getattr(_search, name)
    if name == "load_run":
        from .rundir import load_run
        return load_run
    raise AttributeError(f"module 'trainer' has no attribute {name!r}")
