"""What a push reads and a pull joins to: a curator run directory or a plain dataset file.

A run directory has ``manifest.json`` (modality, labels, ``dataset_root``), the split files and
``ledger.parquet``, whose ``flagged`` rows say which rows need review and why. A plain file is a
CSV, JSONL or Parquet table with ``id``, ``text`` or ``image``, and ``label`` columns.

Sync state and pulled annotations live *beside* the dataset, in ``<name>.labelstudio/``: a run
directory is replaced whole by the next ``curator run``, and the sync must outlive it.
"""

from __future__ import annotations

import json
import re
import zlib
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from ..errors import DuplicateIdError
from ..table import ID, IMAGE, LABEL, TEXT, isin, join_groups
from .errors import SourceError

WHICH = ("all", "train", "val", "test", "flagged")
SPLITS = ("train", "val", "test")
REASON, DETAIL = "curator_reason", "curator_detail"
SUGGESTIONS = "label_issues.parquet"  # written by the label-issues step of `curator run`


@dataclass
class Source:
    """The rows of a dataset or run, with what a push needs to know about them."""

    path: Path
    rows: pd.DataFrame  # id, text|image, label, [split], [curator_reason, curator_detail]
    modality: str
    labels: list[str] | None  # the declared label list (a run's manifest), None for a plain file
    root: Path  # images are relative to this
    is_run: bool

    @property
    def content(self) -> str:
        return self.modality

    @property
    def sync_dir(self) -> Path:
        return sync_dir(self.path)

    @property
    def suggestions(self) -> Path | None:
        """A run's label-issue suggestions (``label_issues.parquet``), if the run wrote them."""
        path = self.path / SUGGESTIONS
        return path if self.is_run and path.is_file() else None


def sync_dir(path: Path) -> Path:
    """``out/`` -> ``out.labelstudio/``; ``data/tickets.csv`` -> ``data/tickets.csv.labelstudio/``."""
    path = Path(path).resolve()
    return path.with_name(path.name + ".labelstudio")


def project_key(title: str) -> str:
    """A file-safe name for a project title, with a checksum so that distinct titles never collide."""
    slug = re.sub(r"[^a-z0-9]+", "-", title.lower()).strip("-")[:48] or "project"
    return f"{slug}-{zlib.crc32(title.encode('utf-8')):08x}"


def load(path: str | Path, which: str = "all") -> Source:
    """Read a run directory or dataset file, keeping the rows ``which`` selects."""
    if which not in WHICH:
        raise SourceError(f"which: expected one of {', '.join(WHICH)}, got {which!r}")
    path = Path(path)
    if path.is_dir() and (path / "manifest.json").is_file():
        source = _load_run(path)
    elif path.is_file():
        source = _load_file(path)
    elif path.is_dir():
        raise SourceError(f"{path}: a directory without manifest.json; expected a curator run directory "
                          "or a CSV/JSONL/Parquet file")
    else:
        raise SourceError(f"{path}: no such file or directory")
    source.rows = _select(source, which)
    return source


def _load_run(path: Path) -> Source:
    try:
        manifest = json.loads((path / "manifest.json").read_text(encoding="utf-8"))
    except (OSError, ValueError) as err:
        raise SourceError(f"{path / 'manifest.json'}: not readable JSON ({err})") from None
    modality = manifest.get("modality", "text")
    frames = []
    for name in SPLITS:
        split_file = path / f"{name}.parquet"
        if split_file.is_file():
            frame = pd.read_parquet(split_file)
            frame["split"] = name
            frames.append(frame)
    if not frames:
        raise SourceError(f"{path}: a run directory without train/val/test.parquet")
    rows = pd.concat(frames, ignore_index=True)
    flagged = _flagged(path / "ledger.parquet")
    if len(flagged):
        rows = rows.merge(flagged, how="left", left_on=ID, right_index=True)
    root = Path(manifest.get("dataset_root") or path)
    return Source(path=path, rows=_shape(rows, path, modality), modality=modality,
                  labels=[str(x) for x in manifest.get("labels") or []] or None, root=root, is_run=True)


def _flagged(ledger_path: Path) -> pd.DataFrame:
    """Per flagged id: its reasons and details, each joined with '; ' (a row may be flagged twice)."""
    if not ledger_path.is_file():
        return pd.DataFrame(columns=[REASON, DETAIL])
    ledger = pd.read_parquet(ledger_path, columns=["id", "action", "reason", "detail"])
    ledger = ledger[ledger["action"] == "flagged"]
    if ledger.empty:
        return pd.DataFrame(columns=[REASON, DETAIL])
    reasons = join_groups(ledger["id"], ledger["reason"].fillna(""), sep="; ")["joined"]
    details = join_groups(ledger["id"], ledger["detail"].fillna(""), sep="; ")["joined"]
    return pd.DataFrame({REASON: reasons, DETAIL: details.reindex(reasons.index)})


def _load_file(path: Path) -> Source:
    suffix = "".join(path.suffixes[-2:]).lower() if path.suffix == ".gz" else path.suffix.lower()
    try:
        if suffix in (".csv", ".tsv", ".csv.gz"):
            rows = pd.read_csv(path, dtype=str, keep_default_na=False, na_values=[""],
                               sep="\t" if suffix == ".tsv" else ",")
        elif suffix in (".jsonl", ".ndjson", ".jsonl.gz"):
            rows = pd.read_json(path, lines=True, dtype=False)
        elif suffix == ".parquet":
            rows = pd.read_parquet(path)
        else:
            raise SourceError(f"{path}: expected a .csv, .tsv, .jsonl or .parquet file, or a run directory")
    except (ValueError, OSError, UnicodeDecodeError) as err:
        raise SourceError(f"{path}: cannot read the table ({' '.join(str(err).split())[:160]})") from None
    modality = IMAGE if IMAGE in rows and TEXT not in rows else TEXT
    return Source(path=path, rows=_shape(rows, path, modality), modality=modality, labels=None,
                  root=path.resolve().parent, is_run=False)


def _shape(rows: pd.DataFrame, path: Path, modality: str) -> pd.DataFrame:
    for col in (ID, modality):
        if col not in rows:
            raise SourceError(f"{path}: expected an {col!r} column, got {', '.join(map(str, rows.columns[:8]))}"
                              + (" (run `curator run` first to give every row a stable id)" if col == ID else ""))
    rows = rows.copy()
    rows[ID] = rows[ID].astype(str)
    dup = rows[ID].duplicated()
    if dup.any():
        raise DuplicateIdError(f"{path}: id {rows[ID][dup].iloc[0]!r} appears more than once")
    if LABEL not in rows:
        rows[LABEL] = None
    rows[LABEL] = rows[LABEL].astype(object).where(rows[LABEL].notna(), None)
    rows.loc[rows[LABEL].notna(), LABEL] = rows.loc[rows[LABEL].notna(), LABEL].astype(str)
    return rows.reset_index(drop=True)


def _select(source: Source, which: str) -> pd.DataFrame:
    rows = source.rows
    if which == "all":
        return rows
    if which == "flagged":
        if REASON not in rows:
            if not source.is_run:
                raise SourceError(f"{source.path}: --which flagged needs a curator run directory (its ledger "
                                  "says which rows are flagged)")
            return rows.iloc[0:0]
        return rows[rows[REASON].notna()].reset_index(drop=True)
    if "split" not in rows:
        raise SourceError(f"{source.path}: --which {which} needs a 'split' column or a run directory")
    return rows[rows["split"] == which].reset_index(drop=True)


def ids_in(source: Source, ids: pd.Series) -> pd.Series:
    """Which of ``ids`` are rows of the source (vectorised)."""
    return pd.Series(isin(ids.astype(str), source.rows[ID]), index=ids.index)
