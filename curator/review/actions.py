"""What the review page's buttons do: check a request, then append it to the decision log.

Every action is validated before anything is written: the ids must be rows of this run, a
relabel must name a label of the run's label list, a restore must name dropped rows. A bulk action
resolves the filtered queue to ids on the server (:meth:`target_ids`), so what is applied is
exactly what the filters select, however many pages it spans.
"""

from __future__ import annotations

from ..errors import CuratorError
from .decisions import ACTIONS, DecisionLog
from .index import RunIndex
from .queues import Filters

MAX_NOTE = 2000


class ActionError(CuratorError):
    """A review action that cannot be applied as asked (the page shows the message)."""


class Actions:
    def __init__(self, index: RunIndex, queues: dict, log: DecisionLog, project: str) -> None:
        self.index, self.queues, self.log, self.project = index, queues, log, project

    def decide(self, ids: list, action: str, value: str | None = None, note: str | None = None) -> dict:
        """Append ``action`` for ``ids`` as one batch."""
        if action not in ACTIONS or action == "labelstudio":
            raise ActionError(f"action: expected one of keep, drop, relabel, not_duplicate, restore, got {action!r}")
        if not isinstance(ids, list) or not ids or not all(isinstance(i, str) for i in ids):
            raise ActionError("ids: expected a non-empty list of row ids")
        pos = self.index.positions(ids)
        if (pos < 0).any():
            raise ActionError(f"id {ids[int((pos < 0).argmax())]!r} is not a row of this run")
        if action == "relabel" and value not in self.index.labels:
            raise ActionError(f"relabel: expected one of {', '.join(self.index.labels)}, got {value!r}")
        if action != "relabel":
            value = None
        if action == "restore" and not self.index.is_dropped(pos).all():
            raise ActionError(f"restore: row {ids[int((~self.index.is_dropped(pos)).argmax())]!r} was not dropped")
        if note is not None and (not isinstance(note, str) or len(note) > MAX_NOTE):
            raise ActionError(f"note: expected text of at most {MAX_NOTE} characters")
        batch = self.log.append(ids, action, value, note or None)
        return {"batch": batch, "action": action, "value": value, "rows": len(ids)}

    def bulk(self, queue: str, filters: Filters, action: str, value: str | None = None,
             note: str | None = None) -> dict:
        """``action`` for every row the filtered queue selects (see the queues' ``target_ids``)."""
        if queue not in self.queues:
            raise ActionError(f"queue: expected one of {', '.join(self.queues)}, got {queue!r}")
        ids = self.queues[queue].target_ids(filters, action)
        if not ids:
            raise ActionError(f"{action}: no row of the filtered queue to apply it to")
        return self.decide(ids, action, value, note)

    def undo(self) -> dict:
        undone = self.log.undo()
        if undone is None:
            raise ActionError("undo: nothing left to undo")
        batch, ids = undone
        return {"undone": batch, "rows": len(ids)}

    def send_to_labelstudio(self, ids: list) -> dict:
        """Push rows to the Label Studio project through the sync (when a server is configured)."""
        from ..labelstudio.errors import LabelStudioError
        from ..labelstudio.push_tasks import push
        from ..labelstudio.settings import parse_settings, resolve

        if not isinstance(ids, list) or not ids:
            raise ActionError("ids: expected a non-empty list of row ids")
        settings = parse_settings(self.index.manifest.get("config", {}).get("labelstudio") or {},
                                  base_dir=self.index.root)
        try:
            resolve(settings=settings)
        except LabelStudioError as err:
            raise ActionError(f"Label Studio is not configured, so nothing was sent: {err}") from None
        pos = self.index.positions(ids)
        if (pos < 0).any() or self.index.is_dropped(pos).any():
            raise ActionError("Label Studio: only rows kept in a split can be sent (restore a dropped row first)")
        try:
            result = push(self.index.run_dir, self.project, settings=settings, ids=ids)
        except LabelStudioError as err:
            raise ActionError(f"Label Studio: {err}") from None
        batch = self.log.append(ids, "labelstudio", self.project)
        return {"batch": batch, "rows": len(ids), "project": self.project, "created": result.created,
                "updated": result.updated}
