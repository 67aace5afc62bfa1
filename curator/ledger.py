"""The ledger: every decision curator made about a row, as one table.

Columns: ``id, step, action, reason, detail, related_id, column, old_value, new_value``.
``action`` is one of kept, dropped, flagged, fixed, added. ``related_id`` names the row a decision
points at (the row a duplicate matched, the parent of an added row). ``column``/``old_value``/
``new_value`` are set for fixes, so a user can always see, and restore, what was changed.
"""

from __future__ import annotations

from collections.abc import Iterable

import pandas as pd

ACTIONS = ("kept", "dropped", "flagged", "fixed", "added")
COLUMNS = ["id", "step", "action", "reason", "detail", "related_id", "column", "old_value", "new_value"]
DECISION_COLUMNS = ["id", "reason", "detail", "related_id"]


def decisions(ids: Iterable, reason, detail=None, related_id=None) -> pd.DataFrame:
    """A decision frame: one row per id, with a reason code, a human detail and an optional match.

    ``reason``, ``detail`` and ``related_id`` may each be a scalar or a sequence as long as ``ids``.
    """
    ids = pd.Series(list(ids) if not isinstance(ids, pd.Series) else ids.to_numpy(), dtype=object)
    frame = pd.DataFrame({"id": ids.to_numpy()})
    for name, value in (("reason", reason), ("detail", detail), ("related_id", related_id)):
        frame[name] = value.to_numpy() if isinstance(value, pd.Series) else value
        frame[name] = frame[name].astype(object)
    return frame


def empty_decisions() -> pd.DataFrame:
    return pd.DataFrame({c: pd.Series(dtype=object) for c in DECISION_COLUMNS})


def fixes(ids, column: str, old, new, reason: str, detail=None) -> pd.DataFrame:
    """A fix frame: the column changed and its old and new values, one row per id."""
    frame = decisions(ids, reason, detail)
    frame["column"] = column
    frame["old_value"] = pd.Series(old).astype(object).to_numpy()
    frame["new_value"] = pd.Series(new).astype(object).to_numpy()
    return frame


class Ledger:
    """Append-only collection of decisions, materialised once as a DataFrame."""

    def __init__(self) -> None:
        self._parts: list[pd.DataFrame] = []

    def record(self, step: str, action: str, frame: pd.DataFrame) -> None:
        if action not in ACTIONS:
            raise ValueError(f"expected an action in {ACTIONS}, got {action!r}")
        if frame is None or frame.empty:
            return
        part = frame.reindex(columns=COLUMNS).astype(object)
        part["step"] = step
        part["action"] = action
        self._parts.append(part)

    def to_frame(self) -> pd.DataFrame:
        if not self._parts:
            return pd.DataFrame({c: pd.Series(dtype=object) for c in COLUMNS})
        frame = pd.concat(self._parts, ignore_index=True)
        # Every value is stored as a string, so the parquet schema never depends on a fix's dtype.
        return frame.astype({c: "string" for c in COLUMNS})
