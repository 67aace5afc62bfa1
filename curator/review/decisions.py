"""``decisions.jsonl``: what a person decided in the review page, kept beside the dataset.

The file is append-only. Each line is one decision about one row::

    {"id": "a80b…", "action": "relabel", "value": "billing", "time": "2026-…Z", "note": null, "batch": "…"}

A batch is the decisions written together (one click, or one bulk action). Undo never edits the
file: it appends one ``undo`` line per row of the batch it reverts (``value`` names that batch), so
the history of a dataset's review is complete. Lines are written with a single ``write`` of whole
lines under an exclusive lock, then fsynced, so two writers never interleave and a crash can only
lose a trailing partial line, which readers ignore.
"""

from __future__ import annotations

import contextlib
import fcntl
import io
import json
import os
import uuid
from collections.abc import Callable, Iterable, Iterator
from datetime import datetime, timezone
from pathlib import Path

import pandas as pd
import pyarrow as pa
import pyarrow.json as pajson

from ..errors import CuratorError

FILE_NAME = "decisions.jsonl"
#: Decisions about a row's fate: the latest one wins.
FATES = ("keep", "drop", "restore")
ACTIONS = (*FATES, "relabel", "not_duplicate", "labelstudio")
UNDO = "undo"
FIELDS = ("id", "action", "value", "time", "note", "batch")
_SCHEMA = pa.schema([(name, pa.string()) for name in FIELDS])


class DecisionError(CuratorError):
    """A decision is malformed, or decisions.jsonl cannot be read or written."""


def decisions_path(input_path: str | Path) -> Path:
    """Where a dataset's decisions live: ``decisions.jsonl`` in the folder that holds the input
    (``data/tickets.csv`` -> ``data/decisions.jsonl``; an image folder ``data/`` -> ``decisions.jsonl``
    beside it), so it never mixes with the dataset's own files."""
    return Path(os.path.abspath(input_path)).parent / FILE_NAME


def utc_now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="milliseconds").replace("+00:00", "Z")


class DecisionLog:
    """Append and read one ``decisions.jsonl``. ``clock`` and ``new_batch`` are parameters so tests
    can fix them."""

    def __init__(self, path: str | Path, *, clock: Callable[[], str] = utc_now,
                 new_batch: Callable[[], str] = lambda: uuid.uuid4().hex[:16]) -> None:
        self.path = Path(path)
        self.clock, self.new_batch = clock, new_batch

    # -- writing ------------------------------------------------------------------------------
    def append(self, ids: Iterable[str], action: str, value: str | None = None, note: str | None = None) -> str:
        """Record ``action`` for every id as one batch; returns the batch id."""
        if action not in ACTIONS:
            raise DecisionError(f"action: expected one of {', '.join(ACTIONS)}, got {action!r}")
        if action == "relabel" and not value:
            raise DecisionError("relabel: expected a label as the value")
        ids = [str(i) for i in ids]
        if not ids:
            raise DecisionError(f"{action}: expected at least one row id")
        batch = self.new_batch()
        with self._locked() as fd:
            self._write(fd, ids, action, value, note, batch)
        return batch

    def undo(self, note: str | None = None) -> tuple[str, list[str]] | None:
        """Revert the latest batch not yet undone by appending ``undo`` lines; None when none is left.
        The read and the append share one lock, so concurrent undos revert different batches."""
        if not self.path.exists():
            return None
        with self._locked() as fd:
            frame = self.read()
            live = frame[(frame["action"] != UNDO) & ~frame["batch"].isin(undone_batches(frame))]
            if live.empty:
                return None
            batch = live["batch"].iloc[-1]
            ids = live.loc[live["batch"] == batch, "id"].tolist()
            self._write(fd, ids, UNDO, batch, note, self.new_batch())
        return batch, ids

    @contextlib.contextmanager
    def _locked(self) -> Iterator[int]:
        """The file open for appending, under an exclusive lock that closing it releases."""
        created = not self.path.exists()
        try:
            fd = os.open(self.path, os.O_RDWR | os.O_APPEND | os.O_CREAT, 0o644)
        except OSError as err:
            raise DecisionError(f"{self.path}: cannot open for appending ({err.strerror})") from None
        try:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX)
            except OSError as err:
                raise DecisionError(f"{self.path}: cannot lock ({err.strerror})") from None
            yield fd
        finally:
            os.close(fd)
        if created:
            _fsync_dir(self.path.parent)

    def _write(self, fd: int, ids: list[str], action: str, value, note, batch: str) -> None:
        """Append one batch's lines with a single write; the caller holds the lock."""
        time = self.clock()
        lines = "".join(json.dumps({"id": i, "action": action, "value": value, "time": time, "note": note,
                                    "batch": batch}, ensure_ascii=False, separators=(",", ":")) + "\n"
                        for i in ids).encode("utf-8")  # one batch's lines, built once for a single write
        try:
            if os.fstat(fd).st_size and _last_byte(fd) != b"\n":
                lines = b"\n" + lines  # a torn line from a crash stays alone on its line, and is skipped
            view = memoryview(lines)
            while view:
                view = view[os.write(fd, view):]
            os.fsync(fd)
        except OSError as err:
            raise DecisionError(f"{self.path}: cannot append ({err.strerror})") from None

    # -- reading ------------------------------------------------------------------------------
    def read(self) -> pd.DataFrame:
        """Every line, in file order (``seq``), as strings; a missing file is an empty frame."""
        if not self.path.is_file():
            return _empty()
        data = self.path.read_bytes()
        data = data[: data.rfind(b"\n") + 1]  # a partial last line is a write that never finished
        # whole objects only: a line torn by a crash was ended by the next append's newline
        lines = [line for line in (raw.strip() for raw in data.split(b"\n"))
                 if line.startswith(b"{") and line.endswith(b"}")]
        if not lines:
            return _empty()
        try:
            table = pajson.read_json(io.BytesIO(b"\n".join(lines)),
                                     parse_options=pajson.ParseOptions(explicit_schema=_SCHEMA,
                                                                       unexpected_field_behavior="ignore"))
        except pa.ArrowInvalid as err:
            raise DecisionError(f"{self.path}: not valid decisions JSON lines ({err})") from None
        frame = table.to_pandas().astype(object)
        frame = frame.where(frame.notna(), None)
        bad = frame["id"].isna() | ~frame["action"].isin([*ACTIONS, UNDO])
        if bad.any():
            row = frame[bad].iloc[0]
            raise DecisionError(f"{self.path}: a decision with id {row['id']!r} and action {row['action']!r}; "
                                f"expected an id and one of {', '.join((*ACTIONS, UNDO))}")
        frame["seq"] = range(len(frame))
        return frame

    def effective(self) -> pd.DataFrame:
        """The standing decisions per row id, undone batches left out. Columns: ``fate`` (keep, drop,
        restore or None), ``label`` (the latest relabel or None), ``not_duplicate`` and
        ``labelstudio`` (bools), ``note`` and ``time`` of the row's latest decision."""
        return effective(self.read())


def _empty() -> pd.DataFrame:
    return pd.DataFrame({name: pd.Series(dtype=object) for name in (*FIELDS, "seq")})


def undone_batches(frame: pd.DataFrame) -> pd.Index:
    return pd.Index(frame.loc[frame["action"] == UNDO, "value"].dropna().unique())


def effective(frame: pd.DataFrame) -> pd.DataFrame:
    """See :meth:`DecisionLog.effective`; vectorised over the whole log."""
    cols = ["fate", "label", "not_duplicate", "labelstudio", "note", "time"]
    live = frame[(frame["action"] != UNDO) & ~frame["batch"].isin(undone_batches(frame))]
    if live.empty:
        return pd.DataFrame({c: pd.Series(dtype=object) for c in cols}, index=pd.Index([], name="id", dtype=object))
    latest = live.drop_duplicates("id", keep="last").set_index("id")
    fates = live[live["action"].isin(FATES)].drop_duplicates("id", keep="last").set_index("id")["action"]
    labels = live[live["action"] == "relabel"].drop_duplicates("id", keep="last").set_index("id")["value"]
    out = pd.DataFrame(index=latest.index)
    out["fate"] = fates.reindex(out.index).astype(object)
    out["label"] = labels.reindex(out.index).astype(object)
    out["not_duplicate"] = out.index.isin(live.loc[live["action"] == "not_duplicate", "id"])
    out["labelstudio"] = out.index.isin(live.loc[live["action"] == "labelstudio", "id"])
    out["note"], out["time"] = latest["note"], latest["time"]
    text = ["fate", "label", "note", "time"]
    out[text] = out[text].astype(object).where(out[text].notna(), None)
    return out


def _last_byte(fd: int) -> bytes:
    return os.pread(fd, 1, os.fstat(fd).st_size - 1)


def _fsync_dir(folder: Path) -> None:
    fd = os.open(folder, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
