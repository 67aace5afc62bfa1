"""Writing a run directory atomically.

Everything is written under a temporary sibling directory and renamed into place only when
complete, so a killed run never leaves a half-written ``out/``; the previous one stays intact.
Files are written deterministically: the same table gives the same bytes.

Only curator's own output is ever replaced: every output directory holds a :data:`MARKER` file, and
an existing directory without it (or a run directory from before the marker) that is not empty is
refused, so ``--out data`` can never wipe a user's files.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import shutil
import uuid
from collections.abc import Iterator
from pathlib import Path

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from .errors import OutputError


def sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _arrow_safe(df: pd.DataFrame) -> pd.DataFrame:
    """Object columns that mix types (e.g. metadata) become strings, so Arrow can store them."""
    out = df.copy()
    for col in out.columns:
        if out[col].dtype == object:
            try:
                pa.array(out[col], from_pandas=True)
            except (pa.ArrowInvalid, pa.ArrowTypeError):
                out[col] = out[col].astype("string")
    return out


def write_parquet(df: pd.DataFrame, path: Path, metadata: dict[str, str] | None = None) -> None:
    """``metadata`` adds keys to the file's schema metadata (e.g. the label order of a list column)."""
    table = pa.Table.from_pandas(_arrow_safe(df), preserve_index=False)
    if metadata:
        extra = {k.encode(): v.encode() for k, v in metadata.items()}
        table = table.replace_schema_metadata({**(table.schema.metadata or {}), **extra})
    pq.write_table(table, path, compression="zstd", write_statistics=True)


def write_jsonl(df: pd.DataFrame, path: Path) -> None:
    df.to_json(path, orient="records", lines=True, force_ascii=False)


def write_csv(df: pd.DataFrame, path: Path) -> None:
    df.to_csv(path, index=False, lineterminator="\n")


WRITERS = {"parquet": write_parquet, "jsonl": write_jsonl, "csv": write_csv}


def write_json(data, path: Path) -> None:
    path.write_text(json.dumps(data, indent=2, sort_keys=True, ensure_ascii=False, default=str) + "\n",
                    encoding="utf-8")


MARKER = ".curator-output"
"""The file that marks a directory as curator's output, which the next run may replace whole."""
_MARKER_TEXT = "This directory is curator output: the next run that writes here replaces it whole.\n"


def _is_ours(folder: Path) -> bool:
    """Whether ``folder`` is curator output: it has the marker, or it is a run directory written
    before the marker existed (its manifest says so)."""
    if (folder / MARKER).is_file():
        return True
    try:
        return json.loads((folder / "manifest.json").read_text(encoding="utf-8")).get("format") == "curator-run/1"
    except (OSError, ValueError, AttributeError):
        return False


def check_replaceable(final: Path) -> None:
    """Guard: ``final`` is missing, empty, or curator's own output; anything else is refused, since
    writing there replaces the whole directory."""
    final = Path(final)
    if final.exists() and not final.is_dir():
        raise OutputError(f"{final}: exists and is not a directory")
    if final.is_dir() and any(final.iterdir()) and not _is_ours(final):
        raise OutputError(f"{final}: is not empty and is not curator output (no {MARKER}); writing there would "
                          "replace everything in it: choose a new or empty directory")


def check_output(final: Path, inputs: list[Path]) -> None:
    """Guard before a run's work: :func:`check_replaceable`, and no input inside the output, which the
    run would replace at the end."""
    check_replaceable(final)
    out = Path(final).resolve()
    for path in inputs:
        if Path(path).resolve().is_relative_to(out):
            raise OutputError(f"{final}: holds the input {path}, and writing the output replaces the whole "
                              "directory: choose another output directory")


def _backup_name(final: Path) -> Path:
    return final.with_name(f".{final.name}.previous")


def recover(final: Path) -> None:
    """If a run died between the two renames of a swap, put the previous output back."""
    backup = _backup_name(final)
    if backup.exists() and not final.exists():
        os.replace(backup, final)
    elif backup.exists():
        shutil.rmtree(backup, ignore_errors=True)


@contextlib.contextmanager
def atomic_dir(final: Path) -> Iterator[Path]:
    """Yield a fresh temporary directory; on success, swap it in as ``final``.

    On any failure (or a kill) the temporary directory is removed, or left under a dotted
    ``.tmp-`` name that the next run cleans, and ``final`` keeps its previous content. An existing
    ``final`` that is not curator output is refused (:func:`check_replaceable`).
    """
    final = Path(final)
    try:
        final.parent.mkdir(parents=True, exist_ok=True)
    except OSError as err:
        raise OutputError(f"{final.parent}: cannot create the output's parent directory: {err.strerror}") from None
    recover(final)
    check_replaceable(final)
    for stale in final.parent.glob(f".{final.name}.tmp-*"):
        shutil.rmtree(stale, ignore_errors=True)
    tmp = final.with_name(f".{final.name}.tmp-{uuid.uuid4().hex[:8]}")
    try:
        tmp.mkdir()
        (tmp / MARKER).write_text(_MARKER_TEXT, encoding="utf-8")
    except OSError as err:
        raise OutputError(f"{final.parent}: cannot write the output directory: {err.strerror}") from None
    try:
        yield tmp
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    backup = _backup_name(final)
    if final.exists():
        os.replace(final, backup)
    os.replace(tmp, final)
    shutil.rmtree(backup, ignore_errors=True)
