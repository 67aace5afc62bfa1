"""The one place that turns readers' ``Part``s into the dataset table and its bad rows.

For every format alike: check the configured columns exist, map them to ``id``, ``text`` or
``image``, ``label`` and ``source``, keep every other column as metadata (``meta_`` prefixed when
its name is a curator column), send rows without a user id to ``bad``, check and decode images,
and set ids: the user's id column (duplicates raise) or ``table.content_ids`` over the content
columns, never the source, so an id stays put when rows move.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from ..config import Columns, Config
from ..dedup import CONTENT_HASH
from ..errors import DuplicateIdError, EmptyDatasetError, MissingColumnError
from ..split import CLUSTER, SPLIT
from ..table import (GROUP, ID, IMAGE, IMAGE_FORMAT, IMAGE_HASH, IMAGE_HEIGHT, IMAGE_WIDTH, LABEL, PARENT_ID,
                     SOURCE, TEXT, content_ids, hash64, to_hex)
from .decode import decode_all
from .images import is_url, locate_all
from .part import Part, as_str, bad_frame, clip_raw, compact_json

#: Columns curator writes; an input column of the same name is kept as ``meta_<name>``.
CURATOR_COLUMNS = frozenset({ID, TEXT, IMAGE, LABEL, SOURCE, PARENT_ID, IMAGE_HASH, IMAGE_WIDTH, IMAGE_HEIGHT,
                             IMAGE_FORMAT, SPLIT, GROUP, CONTENT_HASH, CLUSTER,
                             # what dropped rows and new rows carry (steps.Runner, augment.derive)
                             "reason", "detail", "related_id", "step", "augmenter"})
IMAGE_COLUMNS = [IMAGE_HASH, IMAGE_WIDTH, IMAGE_HEIGHT, IMAGE_FORMAT]
BAD_COLUMNS = ["id", "source", "reason", "detail", "raw"]
_POS = "\x00pos"  # a working column: the row's line or row number, for ordering bad rows


@dataclass
class IngestResult:
    """What ``ingest`` read: good rows, rows it could not read, and the dataset root."""

    table: pd.DataFrame
    bad: pd.DataFrame
    rows_read: int
    root: Path


@dataclass
class _Shaped:
    part: Part
    table: pd.DataFrame                               # mapped columns plus _POS
    bads: list[pd.DataFrame] = field(default_factory=list)
    id_column: str | None = None


def finish(parts: list[Part], cfg: Config, root: Path, where: str) -> IngestResult:
    """Map, check and id every Part's rows; ``where`` names the input in dataset-wide errors."""
    shaped = [_shape(part, cfg) for part in parts]
    if cfg.modality == "image":
        _images(shaped, root)
    table = pd.concat([s.table for s in shaped], ignore_index=True) if shaped else pd.DataFrame()
    if len(shaped) > 1:  # a column some files lack is NaN there after concat: make it None
        for col in table.columns:
            if table[col].dtype == object:
                table[col] = table[col].where(table[col].notna(), None)
    bad = _bad_table(shaped)
    if len(table) == 0:
        raise EmptyDatasetError(_empty_message(where, bad))
    id_columns = {s.id_column for s in shaped} - {None}
    if id_columns:
        _check_unique(table[ID].dropna(), ", ".join(sorted(id_columns)),
                      parts[0].file if len(parts) == 1 else where)
    need = table[ID].isna().to_numpy()
    if need.any():  # no id column (in some files): ids from content, never from the source
        content = [c for c in table.columns if c not in (ID, SOURCE, _POS, *IMAGE_COLUMNS)]
        ids = table[ID].to_numpy(copy=True)
        ids[need] = content_ids(table[need], content).to_numpy()
        table[ID] = pd.Series(ids, dtype=object)
    table = table.drop(columns=[_POS])
    return IngestResult(table.reset_index(drop=True), bad, len(table) + len(bad), root)


def _shape(part: Part, cfg: Config) -> _Shaped:
    cols: Columns = part.columns or cfg.columns
    frame = part.frame
    content, content_name = (TEXT, cols.text) if cfg.modality == "text" else (IMAGE, cols.image)
    label_name = cols.label if cols.label in frame.columns else None
    if len(frame.columns) or len(frame):  # a file with no header at all is simply empty
        required = [content_name, cols.id] + ([cols.label] if cols.label not in (None, LABEL) else [])
        for name in required:
            if name is not None and name not in frame.columns:
                shown = [str(c) for c in frame.columns if not str(c).startswith("\x00")]  # not working columns
                raise MissingColumnError(f"{part.file}: column '{name}' not found; columns are: {', '.join(shown)}")
    n = len(frame)

    def column(name: str | None) -> pd.Series:
        return as_str(frame[name]) if name in frame.columns else pd.Series([None] * n, dtype=object)

    out = pd.DataFrame(index=pd.RangeIndex(n))
    out[ID] = column(cols.id)
    out[content] = column(content_name)
    out[LABEL] = column(label_name)
    out[SOURCE] = pd.Series(part.source, dtype=object)
    used = {content_name, label_name, cols.id}
    for col in frame.columns:
        if col in used:
            continue
        name = col
        while name in CURATOR_COLUMNS or name in out.columns:
            name = f"meta_{name}"
        out[name] = frame[col]
    out[_POS] = part.pos
    shaped = _Shaped(part, out, [part.bad], cols.id)
    if cols.id:
        missing = out[ID].isna().to_numpy() | (out[ID] == "").to_numpy()
        _drop(shaped, missing, "missing_id", f"column '{cols.id}' is empty",
              [_raw_row(frame, i) for i in np.flatnonzero(missing)])
    return shaped


def _raw_row(frame: pd.DataFrame, i: int) -> str:
    """A row's raw input values as one JSON line, for the ``raw`` column of a bad row."""
    def plain(v):
        return None if v is None or v is pd.NA or (isinstance(v, float) and v != v) else v
    return compact_json({str(k): plain(v) for k, v in frame.iloc[i].items()})


def _drop(shaped: _Shaped, mask: np.ndarray, reason, detail, raw) -> None:
    """Move the masked rows of a shaped part to its bad rows (reason and detail: one or per row)."""
    if not mask.any():
        return
    rows = shaped.table[mask]
    reasons = [reason] * len(rows) if isinstance(reason, str) else list(reason)
    details = [detail] * len(rows) if isinstance(detail, str) else list(detail)
    shaped.bads.append(bad_frame([{"source": s, "reason": c, "detail": d, "raw": clip_raw(r), "pos": p}
                                  for s, c, d, r, p in zip(rows[SOURCE], reasons, details, raw, rows[_POS])]))
    shaped.table = shaped.table[~mask].reset_index(drop=True)


def _images(shaped: list[_Shaped], root: Path) -> None:
    """Check every image path, decode the local ones in one pool, add the image columns."""
    for s in shaped:
        paths, reasons, details = locate_all(s.table[IMAGE], s.part.base, root)
        original = s.table[IMAGE].to_numpy()
        s.table[IMAGE] = pd.Series(paths, dtype=object)
        bad = reasons != None  # noqa: E711 - elementwise on an object array
        if bad.any():
            _drop(s, bad, reasons[bad], details[bad], original[bad])
    local = [(k, i, p) for k, s in enumerate(shaped) for i, p in enumerate(s.table[IMAGE]) if not is_url(p)]
    decoded = decode_all([str(root / p) for _, _, p in local])
    columns = [{c: [None] * len(s.table) for c in IMAGE_COLUMNS} for s in shaped]
    failed: list[list[tuple[int, str]]] = [[] for _ in shaped]
    for (k, i, _), result in zip(local, decoded):
        if isinstance(result, str):
            failed[k].append((i, result))
        else:
            for c, v in zip(IMAGE_COLUMNS, result):
                columns[k][c][i] = v
    for s, cols, errs in zip(shaped, columns, failed):
        for c in IMAGE_COLUMNS:
            s.table[c] = pd.Series(cols[c], dtype="Int64" if c in (IMAGE_WIDTH, IMAGE_HEIGHT) else object)
        if errs:
            mask = np.zeros(len(s.table), dtype=bool)
            mask[[i for i, _ in errs]] = True
            _drop(s, mask, "image_unreadable", [d for _, d in sorted(errs)], s.table[IMAGE][mask].tolist())
        rest = [c for c in s.table.columns if c not in (ID, IMAGE, LABEL, SOURCE, *IMAGE_COLUMNS)]
        s.table = s.table[[ID, IMAGE, LABEL, SOURCE, *IMAGE_COLUMNS, *rest]]


def _bad_table(shaped: list[_Shaped]) -> pd.DataFrame:
    frames = [pd.concat(s.bads, ignore_index=True).sort_values("pos", kind="stable") for s in shaped if s.bads]
    frames = [f for f in frames if len(f)]
    if not frames:
        return pd.DataFrame({c: pd.Series([], dtype=object) for c in BAD_COLUMNS})
    bad = pd.concat(frames, ignore_index=True)
    # The source alone can repeat (Label Studio tasks sharing an id); with the row's position it cannot.
    keys = (bad["source"].astype(str) + "@" + bad["pos"].astype(str)).to_numpy()
    out = pd.DataFrame({"id": pd.Series("bad-" + to_hex(hash64(keys)), dtype=object)})
    for col in BAD_COLUMNS[1:]:
        out[col] = pd.Series(bad[col].to_numpy(), dtype=object)
    return out


def _check_unique(ids: pd.Series, column: str, where: str) -> None:
    dup = ids[ids.duplicated(keep=False)]
    if dup.empty:
        return
    counts = Counter(dup.tolist())
    shown = ", ".join(f"{i} ({n} rows)" for i, n in list(counts.items())[:5])
    more = f" and {len(counts) - 5} more" if len(counts) > 5 else ""
    raise DuplicateIdError(f"{where}: {len(counts)} ids appear more than once in column '{column}': {shown}{more}")


def _empty_message(where: str, bad: pd.DataFrame) -> str:
    if bad.empty:
        return f"{where}: no rows"
    counts = ", ".join(f"{r}: {n}" for r, n in bad["reason"].value_counts(sort=True).items())
    first = bad.iloc[0]
    return (f"{where}: none of the {len(bad)} rows could be read ({counts}); "
            f"first: {first['source']}: {first['detail']}")
