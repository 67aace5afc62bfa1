"""Sync state and the local annotation store, both beside the dataset (``<name>.labelstudio/``).

``<project key>/state.json`` maps row id -> task id for one project, with the server URL (never the
token), the label space and a log of pushes and pulls. It is a cache: a push always checks the
server, which is the truth, so a stale or lost state file costs a listing, never a duplicate.

``<project key>/annotations/pull-<time>.parquet`` is the append-only store: each pull adds one
file holding the annotations that are new or changed since the last pull, and a ``deleted`` event
for each that left the server (or was cancelled). Files are never rewritten; the current view is
the latest event per annotation.
"""

from __future__ import annotations

import json
import os
import uuid
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import pandas as pd

from ..export import write_parquet
from .source import project_key

FORMAT = "curator-labelstudio-sync/1"
STORE_COLUMNS = ["event", "project_id", "project", "task_id", "id", "annotation_id", "annotator_id", "annotator",
                 "label", "created_at", "updated_at", "lead_time", "pull_id", "pulled_at"]


def now_utc() -> datetime:
    return datetime.now(timezone.utc)


def _write_json_atomic(data: Any, path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp-{uuid.uuid4().hex[:8]}")
    tmp.write_text(json.dumps(data, indent=1, sort_keys=True, ensure_ascii=False, default=str) + "\n",
                   encoding="utf-8")
    os.replace(tmp, path)


class SyncState:
    """One project's sync state; ``save`` writes it atomically."""

    def __init__(self, path: Path, data: dict) -> None:
        self.path, self.data = path, data

    @classmethod
    def load(cls, sync_dir: Path, title: str) -> "SyncState":
        path = Path(sync_dir) / project_key(title) / "state.json"
        data: dict = {}
        if path.is_file():
            try:
                data = json.loads(path.read_text(encoding="utf-8"))
            except ValueError:
                data = {}  # a damaged cache: the server is the truth, so start over
        data.setdefault("format", FORMAT)
        data.setdefault("project_title", title)
        data.setdefault("tasks", {})
        data.setdefault("history", [])
        return cls(path, data)

    @property
    def tasks(self) -> dict[str, int]:
        return self.data["tasks"]

    def bind(self, url: str, project_id: int) -> None:
        """Point the state at a server and project; a different one drops the old task map."""
        if self.data.get("url") != url or self.data.get("project_id") != project_id:
            self.data.update(url=url, project_id=project_id, tasks={})

    def log(self, event: dict) -> None:
        self.data["history"] = (self.data["history"] + [event])[-200:]

    def save(self) -> None:
        _write_json_atomic(self.data, self.path)


class AnnotationStore:
    """Append-only annotations of one project, one parquet file per pull."""

    def __init__(self, directory: Path) -> None:
        self.dir = Path(directory)

    @classmethod
    def of(cls, sync_dir: Path, title: str) -> "AnnotationStore":
        """The store of the project titled ``title``."""
        return cls(Path(sync_dir) / project_key(title) / "annotations")

    def parts(self) -> list[Path]:
        return sorted(self.dir.glob("pull-*.parquet")) if self.dir.is_dir() else []

    def read(self) -> pd.DataFrame:
        """Every event ever pulled, oldest first."""
        parts = self.parts()
        if not parts:
            return empty_store()
        return pd.concat([pd.read_parquet(p) for p in parts], ignore_index=True)

    def current(self) -> pd.DataFrame:
        """The latest version of each annotation still on the server."""
        return current_view(self.read())

    def append(self, events: pd.DataFrame, pull_id: str) -> Path | None:
        """Write one new part; never touches an existing one."""
        if events.empty:
            return None
        self.dir.mkdir(parents=True, exist_ok=True)
        final = self.dir / f"pull-{pull_id}.parquet"
        if final.exists():
            raise FileExistsError(f"{final}: a pull with this id was already stored")
        tmp = self.dir / f".pull-{pull_id}.tmp-{uuid.uuid4().hex[:8]}"
        write_parquet(events.reindex(columns=STORE_COLUMNS), tmp)
        os.replace(tmp, final)
        return final


def empty_store() -> pd.DataFrame:
    return pd.DataFrame({c: pd.Series(dtype=object) for c in STORE_COLUMNS})


def current_view(events: pd.DataFrame) -> pd.DataFrame:
    if events.empty:
        return empty_store()
    last = events.drop_duplicates("annotation_id", keep="last")
    return last[last["event"] != "deleted"].reset_index(drop=True)


def pull_id(clock=now_utc) -> str:
    """A sortable, unique name for one pull: UTC time to the microsecond."""
    return clock().strftime("%Y%m%dT%H%M%S%fZ")
