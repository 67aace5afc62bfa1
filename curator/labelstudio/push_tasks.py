"""Push rows to Label Studio as tasks, with pre-annotations, idempotently and resumably.

The server has no upsert, so every push first lists the project's tasks (``data.id`` is curator's
row id) and plans from what is really there: rows with no task are imported (with their
predictions, in the same request), rows whose task data changed are updated, and existing tasks
missing a prediction of this ``model_version`` get it. If a request fails half-way (server killed,
connection lost, timeout) the push lists the tasks again before it retries, because the request may
have been applied (it first waits, bounded, for a timed-out import to land); after ``retries`` it
stops with a one-line error, and re-running it finishes the job. A push that met such a fault, or
that follows one that died, ends with one more listing: a row that got a second task in the race
loses the newer, unannotated copy. So a push never leaves a row with two tasks of its own making.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

from .. import progress
from ..table import ID, LABEL, isin
from . import images, label_config
from . import predictions as preds_mod
from . import source as source_mod
from .client import ConnectionLost, Session
from .errors import LabelStudioError, ServerUnreachable
from .label_config import LabelSpace
from .settings import LabelStudioSettings, resolve
from .state import SyncState, now_utc

NOTE, SPLIT = label_config.NOTE, "curator_split"


@dataclass
class PushResult:
    """What a push did. ``tasks`` maps every pushed row id to its task id on the server."""

    project: str
    project_id: int
    url: str
    rows: int
    created: int = 0
    updated: int = 0
    unchanged: int = 0
    predictions: int = 0
    predictions_no_label: int = 0  # rows of the predictions file with no predicted label: no pre-annotation
    attempts: int = 1
    duplicates: list[str] = field(default_factory=list)
    removed_duplicates: int = 0
    predictions_file: Path | None = None  # where the pre-annotations came from
    state_path: Path | None = None
    seconds: float = 0.0
    tasks: dict[str, int] = field(default_factory=dict, repr=False)

    def summary(self) -> dict:
        return {k: (str(v) if isinstance(v, Path) else v) for k, v in self.__dict__.items() if k != "tasks"}


@dataclass
class _ServerTasks:
    """What the project holds, keyed by row id (the oldest task wins where a row has several)."""

    task_id: dict[str, int] = field(default_factory=dict)
    data: dict[str, dict] = field(default_factory=dict)
    versions: dict[str, set] = field(default_factory=dict)
    copies: dict[str, list[int]] = field(default_factory=dict)  # only rows with more than one task
    annotated: dict[int, bool] = field(default_factory=dict)  # only when listed with annotation counts
    total: int = 0  # every task of the project, curator's or not

    @property
    def duplicates(self) -> list[str]:
        return sorted(self.copies)


def push(source: str | Path, project: str, *, url: str | None = None, api_key: str | None = None,
         settings: LabelStudioSettings | None = None, which: str = "all", predictions: str | Path | None = None,
         model_version: str | None = None, suggestions: bool = True, files_root: str | Path | None = None,
         batch_size: int = 500,
         page_size: int = 1000, timeout: float = 60.0, retries: int = 2, progress_bar: bool = False,
         on_batch: Callable[[int, int], None] | None = None, sleep: Callable[[float], None] = time.sleep,
         ids: list[str] | None = None) -> PushResult:
    """Push a run directory's or dataset file's rows to the project titled ``project``.

    ``which`` picks all rows, one split, or the rows flagged for review (their reason is shown to the
    annotator). ``predictions`` is a predictions file (see ``curator.labelstudio.predictions``);
    without one, a run directory's label-issue suggestions (``label_issues.parquet``) become the
    pre-annotations unless ``suggestions`` is False. ``on_batch(done, total)`` is called after each
    imported batch. ``ids`` keeps only those rows (the review page sends the rows a person picked).
    """
    if not project or not project.strip():
        raise LabelStudioError("--project: expected a project title, got an empty one")
    if batch_size < 1 or page_size < 1:
        raise LabelStudioError(f"batch and page sizes: expected >= 1, got {batch_size} and {page_size}")
    started = time.monotonic()
    src = source_mod.load(source, which)
    if ids is not None:
        src.rows = src.rows[isin(src.rows[ID], [str(i) for i in ids])].reset_index(drop=True)
    space = preds_mod.label_space(src)
    if predictions is None and suggestions:
        predictions = src.suggestions
    preds = preds_mod.load(predictions, space, model_version=model_version) if predictions else None
    conn = resolve(url, api_key, settings, local_files_root=files_root)
    rows = src.rows
    content = rows[src.content]
    if src.modality == "image":  # every path is checked before the server is touched
        content = images.task_urls(content, rows[ID], src.root, conn.local_files_root)
    session = Session(conn, timeout=timeout)
    session.whoami()

    project_id, space = _project(session, project, space)
    if src.modality == "image":
        _ensure_storage(session, project_id, src.root)
    wanted = _task_data(rows, content, space)
    wanted_preds = _prediction_payloads(preds, rows[ID], space) if preds is not None else {}

    state = SyncState.load(src.sync_dir, project)
    state.bind(conn.url, project_id)
    result = PushResult(project=project, project_id=project_id, url=conn.url, rows=len(rows),
                        predictions_file=Path(predictions) if predictions else None, state_path=state.path,
                        predictions_no_label=preds.attrs["no_label"] if preds is not None else 0)
    pusher = _Pusher(session, project_id, wanted, wanted_preds, state, result, batch_size, page_size, on_batch)
    interrupted = bool(state.data.get("push_open"))  # the last push died: its last request may have landed late
    state.data["push_open"] = True
    with progress.enabled(progress_bar or progress.is_enabled()):
        pusher.run(retries, sleep, verify=interrupted)
    state.data["push_open"] = False
    result.tasks = {rid: state.tasks[rid] for rid in wanted if rid in state.tasks}
    result.seconds = round(time.monotonic() - started, 3)
    state.log({"event": "push", "at": now_utc().isoformat(), "which": which, "rows": len(rows),
               "created": result.created, "updated": result.updated, "predictions": result.predictions,
               "attempts": result.attempts, "removed_duplicates": result.removed_duplicates,
               "model_versions": sorted({p["model_version"] for p in wanted_preds.values()})})
    state.data["label_space"] = {"modality": space.modality, "labels": list(space.labels),
                                 "multi_label": space.multi_label}
    state.save()
    return result


def _project(session: Session, title: str, needed: LabelSpace) -> tuple[int, LabelSpace]:
    """Find the project by title (checking its config fits the data) or create it."""
    found = session.find_projects(title)
    if len(found) > 1:
        raise LabelStudioError(f"{len(found)} projects on {session.url} are titled {title!r} "
                               f"(ids {', '.join(str(p.id) for p in found)}); rename all but one")
    if not found:
        created = session.create_project(title, label_config.generate(needed),
                                         description="Created by curator labelstudio push.")
        return int(created.id), needed
    proj = found[0]
    config = proj.label_config or session.get_project(proj.id).label_config or ""
    have = label_config.parse(config, title)
    label_config.check_compatible(have, needed, title)
    return int(proj.id), have


def _ensure_storage(session: Session, project_id: int, root: Path) -> None:
    """A local-files storage over the dataset root, so the server may serve its images."""
    path = images.storage_path(root)
    for storage in session.local_storages(project_id):
        existing = getattr(storage, "path", None)
        if existing and (path == existing or path.startswith(existing.rstrip("/") + "/")):
            return
    session.create_local_storage(project_id, path)


def _task_data(rows: pd.DataFrame, content: pd.Series, space: LabelSpace) -> dict[str, dict]:
    """Row id -> the task's ``data``: the row id, its content, and the note shown to the annotator."""
    note = pd.Series("", index=rows.index, dtype=object)
    if source_mod.REASON in rows:
        flagged = rows[source_mod.REASON].notna()
        detail = rows.get(source_mod.DETAIL, pd.Series("", index=rows.index)).fillna("").astype(str)
        text = "flagged: " + rows[source_mod.REASON].fillna("").astype(str)
        text = text.where(detail == "", text + " (" + detail + ")")
        text = text + "; current label: " + rows[LABEL].fillna("none").astype(str)
        note = note.where(~flagged, text)
    columns = {ID: rows[ID].astype(str), space.data_key: content.astype(object), NOTE: note}
    if "split" in rows:
        columns[SPLIT] = rows["split"].astype(object).where(rows["split"].notna(), "")
    frame = pd.DataFrame(columns)
    frame[space.data_key] = frame[space.data_key].where(frame[space.data_key].notna(), "")
    return dict(zip(frame[ID], frame.to_dict("records")))


def _prediction_payloads(preds: pd.DataFrame, ids: pd.Series, space: LabelSpace) -> dict[str, dict]:
    """Row id -> the prediction to attach (``model_version``, ``score``, ``result``)."""
    chosen = preds_mod.for_tasks(preds, ids).drop_duplicates(ID, keep="last")
    out = {}
    for rid, label, score, version in zip(chosen[ID], chosen[LABEL], chosen["score"], chosen["model_version"]):
        payload = {"model_version": str(version), "result": space.result(str(label))}
        if score == score:  # not NaN
            payload["score"] = float(score)
        out[rid] = payload
    return out


@contextlib.contextmanager
def _bar(description: str, total: int, unit: str):
    """A progress bar, or none at all when there is nothing to do."""
    with progress.enabled(progress.is_enabled() and total > 0), progress.task(description, total, unit) as bar:
        yield bar


def _server_tasks(session: Session, project_id: int, page_size: int, with_annotations: bool = False) -> _ServerTasks:
    found = _ServerTasks()
    include = "id,data,predictions_model_versions" + (",total_annotations,cancelled_annotations" if with_annotations else "")
    for page in session.tasks(project_id, include=include, page_size=page_size):
        for task in page:
            found.total += 1
            tid = int(task.id)
            if with_annotations:
                found.annotated[tid] = bool(task.total_annotations or task.cancelled_annotations)
            rid = (task.data or {}).get(ID)
            if rid is None:
                continue  # not a curator task
            rid = str(rid)
            if rid in found.task_id:
                found.copies.setdefault(rid, [found.task_id[rid]]).append(tid)
                if tid > found.task_id[rid]:
                    continue
            found.task_id[rid] = tid
            found.data[rid] = task.data
            found.versions[rid] = {v.strip() for v in (task.predictions_model_versions or "").split(",") if v.strip()}
    return found


class _Pusher:
    """One push: plan from the server's tasks, then create, update and annotate what is missing.

    After a request that failed without an answer, it waits for that request to settle on the
    server, lists the tasks again and goes on from there. If any request failed that way, a last
    listing checks for rows that got two tasks in this push (a retry that raced a slow request) and
    deletes the newer, unannotated copy.
    """

    def __init__(self, session: Session, project_id: int, wanted: dict[str, dict], wanted_preds: dict[str, dict],
                 state: SyncState, result: PushResult, batch_size: int, page_size: int, on_batch) -> None:
        self.session, self.project_id, self.state, self.result = session, project_id, state, result
        self.wanted, self.wanted_preds = wanted, wanted_preds
        self.batch_size, self.page_size, self.on_batch = batch_size, page_size, on_batch
        self.first: _ServerTasks | None = None
        self.in_flight: tuple[int, int] | None = None  # (task count before, batch size) of an import

    def run(self, retries: int, sleep: Callable[[float], None], verify: bool = False) -> None:
        faults = 0
        while True:
            try:
                self.once()
                break
            except ServerUnreachable as err:
                faults += 1
                if faults > retries:
                    on_server = sum(1 for rid in self.wanted if rid in self.state.tasks)
                    raise type(err)(f"{err}; {on_server} of {len(self.wanted)} rows are on the server; re-run "
                                    "the push to finish (nothing will be duplicated)") from None
                if isinstance(err, ConnectionLost) and self.in_flight is not None:
                    self.settle(sleep)
                else:
                    sleep(min(2.0 ** (faults - 1), 10.0))
                self.result.attempts += 1
        if faults or verify:
            self.verify()

    def once(self) -> None:
        server = _server_tasks(self.session, self.project_id, self.page_size)
        if self.first is None:
            self.first = server
        self.state.data["tasks"] = dict(server.task_id)
        self.state.save()
        self.result.duplicates = [rid for rid in server.duplicates if rid in self.wanted]
        wanted, preds = self.wanted, self.wanted_preds
        new = [rid for rid in wanted if rid not in server.task_id]
        changed = [rid for rid in wanted if rid in server.task_id and server.data[rid] != wanted[rid]]
        missing = [rid for rid in preds if rid in server.task_id and preds[rid]["model_version"] not in server.versions[rid]]

        with _bar("updating changed tasks", len(changed), "tasks") as bar:
            for rid in changed:
                self.session.update_task(server.task_id[rid], wanted[rid])  # a PATCH: safe to repeat
                self.result.updated += 1
                bar.advance()
        with _bar("adding predictions", len(missing), "predictions") as bar:
            for batch in _batches(missing, self.batch_size):
                self.session.import_predictions(self.project_id, [{**preds[rid], "task": server.task_id[rid]}
                                                                  for rid in batch])
                self.result.predictions += len(batch)
                bar.advance(len(batch))
        count = server.total
        with _bar("creating tasks", len(new), "tasks") as bar:
            for done, batch in enumerate(_batches(new, self.batch_size)):
                payload = [{"data": wanted[rid], **({"predictions": [preds[rid]]} if rid in preds else {})}
                           for rid in batch]
                self.in_flight = (count, len(batch))
                task_ids = self.session.import_tasks(self.project_id, payload)
                self.in_flight = None
                count += len(batch)
                if len(task_ids) == len(batch):
                    self.state.tasks.update(zip(batch, task_ids))
                self.state.save()
                self.result.created += len(batch)
                self.result.predictions += sum(1 for rid in batch if rid in preds)
                bar.advance(len(batch))
                if self.on_batch is not None:
                    self.on_batch(min((done + 1) * self.batch_size, len(new)), len(new))
        self.result.unchanged = len(wanted) - self.result.created - self.result.updated

    def settle(self, sleep: Callable[[float], None]) -> None:
        """Wait until an import that got no answer has landed, or surely will not (bounded)."""
        before, size = self.in_flight
        self.in_flight = None
        deadline = time.monotonic() + min(max(2 * self.session.timeout + 10, 60.0), 300.0)
        while time.monotonic() < deadline:
            try:
                if self.session.task_count(self.project_id) >= before + size:
                    return
            except ServerUnreachable:
                return  # the server is gone: the request died with it
            sleep(1.0)

    def verify(self) -> None:
        """After a fault: count what this push really created, and remove copies a retry made."""
        server = _server_tasks(self.session, self.project_id, self.page_size, with_annotations=True)
        first = self.first
        since = max(first.task_id.values(), default=0) if first else 0
        extra = [tid for rid in server.duplicates if rid in self.wanted for tid in server.copies[rid]
                 if tid != min(server.copies[rid]) and tid > since and not server.annotated.get(tid)]
        for tid in extra:
            self.session.delete_task(tid)
        self.result.removed_duplicates = len(extra)
        present = [rid for rid in self.wanted if rid in server.task_id]
        had = set(first.task_id) if first else set()
        self.result.created = sum(1 for rid in present if rid not in had)

        def has(found: _ServerTasks | None, rid: str) -> bool:
            return found is not None and self.wanted_preds[rid]["model_version"] in found.versions.get(rid, ())
        self.result.predictions = sum(1 for rid in self.wanted_preds if has(server, rid) and not has(first, rid))
        self.result.unchanged = len(self.wanted) - self.result.created - self.result.updated
        self.result.duplicates = [rid for rid in server.duplicates if rid in self.wanted
                                  and len(server.copies[rid]) - sum(t in extra for t in server.copies[rid]) > 1]
        self.state.data["tasks"] = dict(server.task_id)
        self.state.save()


def _batches(items: list, size: int):
    for start in range(0, len(items), size):
        yield items[start:start + size]
