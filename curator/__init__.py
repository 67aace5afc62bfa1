"""curator: turn a raw text or image dataset into curated, leak-free splits with an audit of
every row.

    import curator
    result = curator.run("curator.yaml")      # -> RunResult(out_dir, paths, counts, report)
"""

__version__ = "0.1.0"

from .config import Config, load_config, parse_config  # noqa: E402
from .errors import CuratorError  # noqa: E402

__all__ = ["Config", "CuratorError", "RunResult", "__version__", "inspect_dataset", "load_config",
           "parse_config", "run"]


def __getattr__(name: str):
    # The pipeline pulls in pyarrow, scipy and the readers: import it on first use only.
    if name in ("run", "RunResult"):
        from . import pipeline
        return getattr(pipeline, name)
    if name == "inspect_dataset":
        from .profiling import inspect_dataset
        return inspect_dataset
    raise AttributeError(f"module 'curator' has no attribute {name!r}")
