"""Ingest: read raw files into the dataset table, and account for every row that could not be read.

``ingest(cfg)`` reads ``cfg.input`` (CSV, TSV, JSON Lines, Parquet, a Hugging Face dataset saved
to disk, an image folder, an image manifest, or a Label Studio export) and returns an
``IngestResult``: ``table`` (good rows: ``id``, ``text`` or ``image``, ``label``, ``source``, the
image columns for images, then the input's other columns as metadata), ``bad`` (``id``,
``source``, ``reason``, ``detail``, ``raw``), ``rows_read`` and the dataset ``root``.

Each format's reader (one module each) only produces ``Part``s, raw columns plus sources;
``assemble.finish`` maps columns, sets ids and builds ``bad`` for all of them. Whole-file problems
raise ``InputError`` (or ``MissingColumnError``, ``DuplicateIdError``, ``EmptyDatasetError``)
with one line naming the file; bad rows never raise.

Reason codes: ``malformed_line``, ``malformed_json``, ``bad_encoding``, ``missing_id``,
``image_missing``, ``image_unreadable``, ``image_path_outside_root``.
"""

from __future__ import annotations

from ..config import Config
from ..errors import InputError
from .delimited import read_delimited
from .assemble import IngestResult, finish
from .hf import read_hf
from .images import read_imagefolder
from .jsonl import read_jsonl
from .labelstudio import read_labelstudio
from .parquet import read_parquet
from .part import Part
from .sources import Plan, plan

__all__ = ["IngestResult", "REASONS", "ingest"]

REASONS = ("malformed_line", "malformed_json", "bad_encoding", "missing_id", "image_missing",
           "image_unreadable", "image_path_outside_root")


def ingest(cfg: Config) -> IngestResult:
    """Read the configured input into an ``IngestResult`` (see the module docstring)."""
    p = plan(cfg)
    if p.format == "imagefolder" and cfg.modality != "image":
        raise InputError(f"{p.files[0]}: an image folder needs modality: image")
    parts: list[Part] = []
    for path in p.files:
        parts.extend(_read(p, path, cfg))
    return finish(parts, cfg, p.root, str(cfg.input_path))


def _read(p: Plan, path, cfg: Config) -> list[Part]:
    display = p.display(path)
    fmt = p.format
    if fmt in ("csv", "tsv"):
        delimiter = cfg.input.delimiter or ("\t" if fmt == "tsv" else ",")
        parts = [read_delimited(path, display, cfg, delimiter)]
    elif fmt == "jsonl":
        parts = [read_jsonl(path, display, cfg)]
    elif fmt == "parquet":
        parts = [read_parquet(path, display, cfg)]
    elif fmt == "hf":
        parts = read_hf(path, display, cfg)
    elif fmt == "imagefolder":
        parts = [read_imagefolder(path, display)]
    elif fmt == "labelstudio":
        parts = [read_labelstudio(path, display, cfg)]
    else:
        raise InputError(f"{path}: unknown format '{fmt}'")
    base = path.parent.relative_to(p.root).as_posix() if fmt not in ("hf", "imagefolder") else ""
    for part in parts:
        part.base = "" if base == "." else base
    return parts
