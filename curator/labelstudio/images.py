"""Images served to Label Studio through a local-files storage, with every path kept inside the
dataset root.

The server serves ``/data/local-files/?d=<path>`` for files under its
``LABEL_STUDIO_LOCAL_FILES_DOCUMENT_ROOT`` (``files_root`` here) once the project has a local-files
storage over a folder that holds them. A row's image path is relative to the dataset root; a path
with a ``..`` part, or one that resolves (through links) outside the root, is refused.
"""

from __future__ import annotations

import os
from pathlib import Path
from urllib.parse import quote

import pandas as pd

from .errors import UnsafePathError

LOCAL_FILES = "/data/local-files/?d="
URL_PREFIXES = ("http://", "https://", "s3://", "gs://", "azure-blob://", "data:", LOCAL_FILES)


def task_urls(paths: pd.Series, ids: pd.Series, root: Path, files_root: Path | None) -> pd.Series:
    """The ``image`` value of each task: a local-files URL, or the row's own URL left as it is."""
    root_real = os.path.realpath(root)
    files_real = os.path.realpath(files_root if files_root is not None else root)
    if os.path.commonpath([root_real, files_real]) != files_real:
        raise UnsafePathError(f"the dataset root {root_real} is not under the server's local-files root "
                              f"{files_real}; start Label Studio with LABEL_STUDIO_LOCAL_FILES_DOCUMENT_ROOT set to "
                              "a parent of the dataset, or pass --files-root")
    values = paths.astype(object).where(paths.notna(), None)
    is_url = values.map(lambda v: isinstance(v, str) and v.startswith(URL_PREFIXES))
    out = values.copy()
    local = values[~is_url]
    out[~is_url] = [_local_url(v, i, root_real, files_real) for v, i in zip(local, ids[~is_url])]
    return out


def storage_path(root: Path) -> str:
    """The folder the project's local-files storage covers (the dataset root, resolved)."""
    return os.path.realpath(root)


def _local_url(value, row_id, root_real: str, files_real: str) -> str:
    if not isinstance(value, str) or not value:
        raise UnsafePathError(f"row {row_id!r}: no image path")
    parts = Path(value).parts
    if ".." in parts:
        raise UnsafePathError(f"row {row_id!r}: image path {value!r} has a '..' part; paths must stay inside "
                              f"the dataset root {root_real}")
    full = os.path.realpath(os.path.join(root_real, value))
    if os.path.commonpath([full, root_real]) != root_real:
        raise UnsafePathError(f"row {row_id!r}: image path {value!r} resolves to {full}, outside the dataset root "
                              f"{root_real}")
    return LOCAL_FILES + quote(os.path.relpath(full, files_real), safe="/")
