"""Pull annotations back, join them to rows by id, measure agreement, and store them (append-only).

Annotations are read page by page from the task list (only annotated tasks), keeping a few fields
of each, so a large project never has to fit in one export (Label Studio's own exports time out on
large projects). Cancelled annotations are skipped. Every label is checked against the label list
*before* anything local is written: a failed pull changes nothing.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from .. import progress
from ..table import ID, LABEL, isin
from . import metrics
from . import label_config
from . import predictions as preds_mod
from . import source as source_mod
from .client import Session
from .errors import LabelStudioError, ProjectNotFound, RequestError, UnknownLabelError
from .label_config import LabelSpace
from .settings import LabelStudioSettings, resolve
from .state import STORE_COLUMNS, AnnotationStore, SyncState, now_utc, pull_id


@dataclass
class PullResult:
    """What a pull found and stored. ``labels`` is one decision per annotated row, joined to the
    dataset: ``id, label, current_label, changed, decision, annotators, agreement, votes``."""

    project: str
    project_id: int
    url: str
    tasks: int
    annotations: int
    cancelled: int
    new: int
    deleted: int
    unmatched: int
    agreement: metrics.Agreement
    labels: pd.DataFrame = field(repr=False)
    store: Path | None = None
    seconds: float = 0.0

    @property
    def conflicts(self) -> pd.DataFrame:
        return self.labels[self.labels["decision"] == "conflict"]

    def summary(self) -> dict:
        decisions = self.labels["decision"].value_counts().sort_index()
        return {"project": self.project, "project_id": self.project_id, "url": self.url, "tasks": self.tasks,
                "annotations": self.annotations, "cancelled_skipped": self.cancelled, "new_or_changed": self.new,
                "deleted": self.deleted, "unmatched_rows": self.unmatched,
                "relabelled": int(self.labels["changed"].sum()),
                "decisions": {str(k): int(v) for k, v in decisions.items()},
                "agreement": self.agreement.overall, "store": str(self.store) if self.store else None,
                "seconds": self.seconds}


@dataclass
class _Fetched:
    annotations: pd.DataFrame  # STORE_COLUMNS, without event/pull_id/pulled_at
    tasks: int
    cancelled: int


def pull(project: str, into: str | Path, *, url: str | None = None, api_key: str | None = None,
         settings: LabelStudioSettings | None = None, policy: str = "majority", lead: str | None = None,
         page_size: int = 1000, timeout: float = 120.0, progress_bar: bool = False, read_via: str = "export",
         clock=now_utc) -> PullResult:
    """Pull the project's annotations into the store beside ``into`` (a run directory or dataset file).

    ``read_via``: ``export`` reads annotations through the JSON export of each page of task ids (and
    falls back to the task list where the server has no such export); ``tasks`` uses the task list.
    """
    if read_via not in ("export", "tasks"):
        raise LabelStudioError(f"read_via: expected 'export' or 'tasks', got {read_via!r}")
    started = time.monotonic()
    metrics.resolve(pd.DataFrame(columns=[ID, "annotator", LABEL]), policy, lead)  # check the policy first
    src = source_mod.load(into)
    session, project_id, space, conn_url = _open(project, url, api_key, settings, timeout)
    allowed = list(preds_mod.label_space(src).labels) if src.labels else list(space.labels)
    with progress.enabled(progress_bar or progress.is_enabled()):
        fetched = _fetch(session, project_id, project, space, page_size, read_via)
    _check_labels(fetched.annotations, allowed, space.multi_label, project)

    store = AnnotationStore.of(src.sync_dir, project)
    pid = pull_id(clock)
    events, deleted = _events(store.current(), fetched.annotations, project_id)
    events["pull_id"], events["pulled_at"] = pid, clock().isoformat()
    written = store.append(events, pid)

    current = fetched.annotations
    agree = metrics.compute(current)
    labels = _join(metrics.resolve(current, policy, lead), src.rows)
    result = PullResult(project=project, project_id=project_id, url=conn_url, tasks=fetched.tasks,
                        annotations=len(current), cancelled=fetched.cancelled, new=len(events) - deleted,
                        deleted=deleted, unmatched=int((~isin(current[ID], src.rows[ID])).sum()) if len(current) else 0,
                        agreement=agree, labels=labels, store=written,
                        seconds=round(time.monotonic() - started, 3))
    state = SyncState.load(src.sync_dir, project)
    state.bind(conn_url, project_id)
    state.data["last_pull"] = {k: v for k, v in result.summary().items() if k != "agreement"}
    state.data["last_pull"].update(at=clock().isoformat(), pull_id=pid, policy=policy)
    state.log({"event": "pull", "at": clock().isoformat(), "pull_id": pid, "annotations": len(current),
               "new_or_changed": result.new, "deleted": deleted})
    state.save()
    return result


def status(project: str, into: str | Path | None = None, *, url: str | None = None, api_key: str | None = None,
           settings: LabelStudioSettings | None = None, page_size: int = 1000, timeout: float = 120.0) -> dict:
    """Tasks, annotated, remaining, agreement, and (with ``into``) rows changed since the last pull."""
    session, project_id, space, conn_url = _open(project, url, api_key, settings, timeout)
    info = session.get_project(project_id)
    fetched = _fetch(session, project_id, project, space, page_size)
    annotated = int(fetched.annotations[ID].nunique()) if len(fetched.annotations) else 0
    total = int(getattr(info, "task_number", None) or 0)
    out = {"project": project, "project_id": project_id, "url": conn_url, "tasks": total, "annotated": annotated,
           "remaining": max(total - annotated, 0), "annotations": len(fetched.annotations),
           "cancelled": fetched.cancelled, "agreement": metrics.compute(fetched.annotations).overall}
    if into is not None:
        src = source_mod.load(into)
        events, deleted = _events(AnnotationStore.of(src.sync_dir, project).current(), fetched.annotations, project_id)
        out["changed_since_last_pull"] = {"annotations": len(events) - deleted, "deleted": deleted,
                                          "rows": int(events[ID].nunique()) if len(events) else 0}
        out["last_pull"] = (SyncState.load(src.sync_dir, project).data.get("last_pull") or {}).get("at")
    return out


def _open(project: str, url, api_key, settings, timeout) -> tuple[Session, int, LabelSpace, str]:
    conn = resolve(url, api_key, settings)
    session = Session(conn, timeout=timeout)
    session.whoami()
    found = session.find_projects(project)
    if not found:
        raise ProjectNotFound(f"no project titled {project!r} on {conn.url}; push to it first "
                              "(curator labelstudio push DATASET --project TITLE)")
    if len(found) > 1:
        raise LabelStudioError(f"{len(found)} projects on {conn.url} are titled {project!r}; rename all but one")
    proj = found[0]
    config = proj.label_config or session.get_project(proj.id).label_config or ""
    return session, int(proj.id), label_config.parse(config, project), conn.url


def _fetch(session: Session, project_id: int, title: str, space: LabelSpace, page_size: int,
           read_via: str = "export") -> _Fetched:
    """The non-cancelled annotations of every annotated task, a page at a time."""
    users = session.users()
    cols: dict[str, list] = {c: [] for c in STORE_COLUMNS[1:-2]}
    tasks = cancelled = 0
    with progress.task("pulling annotations", total=session.task_count(project_id), unit="tasks") as bar:
        for page, listed in _annotated_pages(session, project_id, page_size, read_via):
            for task in page:
                if not task.get("annotations"):
                    continue
                tasks += 1
                rid = (task.get("data") or {}).get(ID)
                for ann in task["annotations"]:
                    if ann.get("was_cancelled"):
                        cancelled += 1
                        continue
                    label = _choice(ann.get("result") or [], space)
                    if rid is None or label is None:
                        continue
                    who = ann.get("completed_by")
                    who = who.get("id") if isinstance(who, dict) else who
                    for key, value in (("project_id", project_id), ("project", title), ("task_id", int(task["id"])),
                                       (ID, str(rid)), ("annotation_id", int(ann["id"])), ("annotator_id", who),
                                       ("annotator", users.get(who, f"user:{who}")), (LABEL, label),
                                       ("created_at", ann.get("created_at")), ("updated_at", ann.get("updated_at")),
                                       ("lead_time", ann.get("lead_time"))):
                        cols[key].append(value)
            bar.advance(listed)
    frame = pd.DataFrame({k: pd.Series(v, dtype=object) for k, v in cols.items()})
    frame["lead_time"] = pd.to_numeric(frame["lead_time"], errors="coerce")
    return _Fetched(frame, tasks, cancelled)


EXPORT_CHUNK = 500  # ids per export request: Django refuses a query of more than 1000 fields


def _annotated_pages(session: Session, project_id: int, page_size: int, read_via: str = "export"):
    """(tasks as dicts with ``id``, ``data``, ``annotations``; how many tasks that page covered).

    Task ids come from a cheap listing; their annotations from the JSON export of each chunk of ids,
    which the server serves about twice as fast as the full task list. Where the export is not
    offered (Label Studio Enterprise answers 404), the full task list is read instead.
    """
    export = read_via == "export"
    for listing in session.tasks(project_id, include="id", fields=None, page_size=page_size):
        ids = [int(t.id) for t in listing]
        for start in range(0, len(ids), EXPORT_CHUNK):
            chunk = ids[start:start + EXPORT_CHUNK]
            if export:
                try:
                    yield session.export_tasks(project_id, chunk), len(chunk)
                    continue
                except RequestError as err:
                    if err.status != 404:
                        raise
                    export = False
            page = session.tasks_by_id(project_id, chunk)
            yield [{"id": t.id, "data": t.data, "annotations": t.annotations} for t in page], len(chunk)


def _choice(results: list, space: LabelSpace) -> str | None:
    """The label of one annotation: its choices for the project's control, sorted and joined by '|'."""
    for item in results:
        if isinstance(item, dict) and item.get("from_name") == space.from_name and item.get("type", "choices") == "choices":
            choices = (item.get("value") or {}).get("choices") or []
            if choices:
                return "|".join(sorted(str(c) for c in choices))
    return None


def _check_labels(annotations: pd.DataFrame, allowed: list[str], multi: bool, title: str) -> None:
    if annotations.empty:
        return
    parts = annotations[LABEL].str.split("|") if multi else annotations[LABEL].map(lambda x: [x])
    flat = parts.explode()
    bad = ~isin(flat.astype(str), pd.Series(allowed, dtype=object))
    if bad.any():
        row = annotations.loc[flat[bad].index[0]]
        raise UnknownLabelError(f"project {title!r}: task {row['task_id']} (row {row[ID]!r}) has label "
                                f"{flat[bad].iloc[0]!r}, which is not in the label list "
                                f"{label_config._short(allowed)}; nothing was stored")


def _events(previous: pd.DataFrame, current: pd.DataFrame, project_id: int) -> tuple[pd.DataFrame, int]:
    """New or changed annotations, then a ``deleted`` event for each that is gone; and how many are gone."""
    previous = previous[previous["project_id"].astype("Int64") == project_id] if len(previous) else previous
    def key(frame: pd.DataFrame) -> pd.Series:
        return (frame["annotation_id"].astype(str) + "\x1f" + frame["updated_at"].astype(str) + "\x1f"
                + frame[LABEL].astype(str))
    fresh = current[~isin(key(current), key(previous))] if len(current) else current
    fresh = fresh.assign(event="annotation")
    gone = previous[~isin(previous["annotation_id"].astype(str), current["annotation_id"].astype(str))]
    gone = gone.assign(event="deleted")
    events = pd.concat([fresh, gone], ignore_index=True) if len(gone) else fresh.reset_index(drop=True)
    return events.reindex(columns=STORE_COLUMNS), len(gone)


def _join(resolved: pd.DataFrame, rows: pd.DataFrame) -> pd.DataFrame:
    """Decisions joined to the dataset's rows by id, with the row's current label beside the new one."""
    current = rows.set_index(ID)[LABEL]
    out = resolved.copy()
    out["current_label"] = current.reindex(out[ID].astype(str)).to_numpy()
    changed = out["label"].notna().to_numpy() & (out["label"].astype(object).to_numpy()
                                                 != out["current_label"].astype(object).to_numpy())
    out["changed"] = np.asarray(changed, dtype=bool)
    out["current_label"] = out["current_label"].astype(object).where(out["current_label"].notna(), None)
    return out[[ID, "label", "current_label", "changed", "decision", "annotators", "agreement", "votes"]]


def agreement(into: str | Path | pd.DataFrame, project: str | None = None) -> metrics.Agreement:
    """Agreement of pulled annotations, offline: from the store beside ``into`` (one project, or every
    project pulled there), or from a table with ``id``, ``annotator`` and ``label`` columns."""
    if isinstance(into, pd.DataFrame):
        return metrics.compute(into)
    sync = source_mod.sync_dir(Path(into))
    if project is not None:
        found = AnnotationStore.of(sync, project).current()
    else:
        stores = sorted(p / "annotations" for p in sync.iterdir() if (p / "annotations").is_dir()) if sync.is_dir() else []
        frames = [f for f in (AnnotationStore(s).current() for s in stores) if len(f)]
        found = pd.concat(frames, ignore_index=True) if frames else pd.DataFrame(columns=[ID, "annotator", LABEL])
    return metrics.compute(found)
