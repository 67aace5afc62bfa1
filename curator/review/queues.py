"""The review queues: what a person works through, each built once from a :class:`RunIndex`.

Two shapes. A *group* queue (duplicate and near-duplicate clusters; label conflicts) holds groups
of rows, the kept row first. A *row* queue (suspected label errors, outliers, rule warnings,
rows dropped by rules or in review) holds single rows with a reason, a detail and a score. Both
filter by label, split, reason and text with boolean masks, and page by slicing a sorted order.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from ..audit import word_diff
from ..table import ID, LABEL
from .index import DROPPED, RunIndex

#: given 'billing', suggested 'shipping' (score 0.812): written by the label-issues step.
_LABEL_ISSUE = (r"given (['\"])(?P<given>.*?)\1, suggested (['\"])(?P<suggested>.*?)\3 "
                r"\(score (?P<score>[0-9.eE+-]+)\)")
_OUTLIER_Z = r"robust z (?P<score>-?[0-9.]+)"
#: Dropped rows other queues already hold (duplicates), or that cannot come back (unparseable lines).
_NOT_RESTORABLE_HERE = ("ingest", "dedup_exact", "dedup_near")


@dataclass(frozen=True)
class Filters:
    label: str | None = None
    split: str | None = None
    reason: str | None = None
    q: str | None = None

    @classmethod
    def from_query(cls, params) -> "Filters":
        return cls(**{k: (params.get(k) or None) for k in ("label", "split", "reason", "q")})


class RowQueue:
    """Single rows, each with a reason, detail and score, sorted by score then position."""

    kind = "rows"

    def __init__(self, name: str, title: str, index: RunIndex, items: pd.DataFrame) -> None:
        self.name, self.title, self.index = name, title, index
        items = items.sort_values(["score", "pos"], ascending=[False, True], kind="stable")
        self.items = items.reset_index(drop=True)
        self.pos = self.items["pos"].to_numpy(np.int64)

    def __len__(self) -> int:
        return len(self.items)

    def reasons(self) -> dict[str, int]:
        return {str(k): int(v) for k, v in self.items["reason"].value_counts().sort_index().items()}

    def mask(self, f: Filters) -> np.ndarray:
        rows = self.index.rows
        keep = np.ones(len(self.items), bool)
        if f.label:
            keep &= rows[LABEL].to_numpy(object)[self.pos] == f.label
        if f.split:
            keep &= rows["split"].to_numpy(object)[self.pos] == f.split
        if f.reason:
            keep &= self.items["reason"].to_numpy(object) == f.reason
        if f.q:
            keep[keep] = self.index.contains(self.pos[keep], f.q)
        return keep

    def page(self, f: Filters, offset: int, limit: int) -> tuple[int, list[dict]]:
        chosen = np.flatnonzero(self.mask(f))
        picked = chosen[offset: offset + limit]
        extra = self.items.iloc[picked].drop(columns=["pos"])
        extra = extra.astype(object).where(extra.notna(), None).to_dict("records")
        rows = self.index.take(self.pos[picked])
        return len(chosen), [{"row": r, **e, "members": [r]} for r, e in zip(rows, extra)]

    def target_ids(self, f: Filters, action: str) -> list[str]:
        pos = self.pos[self.mask(f)]
        if action == "restore":
            pos = pos[self.index.rows["split"].to_numpy(object)[pos] == DROPPED]
        return self.index.rows[ID].to_numpy(object)[np.unique(pos)].tolist()


class GroupQueue:
    """Groups of rows (duplicates), the kept row first; conflicts (several labels) first, then size."""

    kind = "groups"

    def __init__(self, name: str, title: str, index: RunIndex, members: pd.DataFrame) -> None:
        self.name, self.title, self.index = name, title, index
        rows = index.rows
        labels = rows[LABEL].to_numpy(object)[members["pos"].to_numpy(np.int64)]
        members = members.assign(label=labels,
                                 dropped=rows["split"].to_numpy(object)[members["pos"].to_numpy(np.int64)] == DROPPED)
        stats = members.groupby("key", sort=False).agg(kind=("kind", "first"), size=("pos", "size"),
                                                        n_labels=(LABEL, "nunique"))
        stats["conflict"] = stats["n_labels"] > 1
        stats = stats.sort_index(kind="stable").sort_values(["conflict", "size"], ascending=[False, False],
                                                             kind="stable")
        rank = pd.Series(np.arange(len(stats)), index=stats.index)
        members = members.assign(rank=members["key"].map(rank).to_numpy())
        members = members.sort_values(["rank", "dropped", "pos"], kind="stable").reset_index(drop=True)
        self.groups = stats.reset_index()
        self.member_rank = members["rank"].to_numpy(np.int64)
        self.member_pos = members["pos"].to_numpy(np.int64)
        self.starts = np.searchsorted(self.member_rank, np.arange(len(stats) + 1))

    def __len__(self) -> int:
        return len(self.groups)

    def reasons(self) -> dict[str, int]:
        return {str(k): int(v) for k, v in self.groups["kind"].value_counts().sort_index().items()}

    def mask(self, f: Filters) -> np.ndarray:
        """Groups with at least one member matching the label/split/text filters, of the kind asked."""
        rows = self.index.rows
        hit = np.ones(len(self.member_pos), bool)
        if f.label:
            hit &= rows[LABEL].to_numpy(object)[self.member_pos] == f.label
        if f.split:
            hit &= rows["split"].to_numpy(object)[self.member_pos] == f.split
        if f.q:
            hit[hit] = self.index.contains(self.member_pos[hit], f.q)
        keep = np.bincount(self.member_rank[hit], minlength=len(self.groups)) > 0
        if f.reason:
            keep &= self.groups["kind"].to_numpy(object) == f.reason
        return keep

    def page(self, f: Filters, offset: int, limit: int) -> tuple[int, list[dict]]:
        chosen = np.flatnonzero(self.mask(f))
        picked = chosen[offset: offset + limit]
        spans = [np.arange(self.starts[g], self.starts[g + 1]) for g in picked]  # one range per group shown
        flat = np.concatenate(spans) if spans else np.zeros(0, np.int64)
        rows = iter(self.index.take(self.member_pos[flat]))
        items = []
        for g, span in zip(picked, spans):
            info = self.groups.iloc[g]
            members = [next(rows) for _ in span]
            if self.index.modality == "text":
                for m in members[1:]:
                    m["diff"] = word_diff(members[0]["content"], m["content"])
            items.append({"key": info["key"], "reason": info["kind"], "size": int(info["size"]),
                          "conflict": bool(info["conflict"]), "row": members[0], "members": members,
                          "labels": sorted({m[LABEL] for m in members if m[LABEL] is not None})})
        return len(chosen), items

    def target_ids(self, f: Filters, action: str) -> list[str]:
        """The rows a bulk action touches: every member, but the kept row is never dropped or split
        off (``drop``, ``not_duplicate`` act on the others), and only dropped rows are restored."""
        groups = np.flatnonzero(self.mask(f))
        sel = np.zeros(len(self.member_pos), bool)
        sel[np.isin(self.member_rank, groups)] = True
        if action in ("drop", "not_duplicate"):
            sel[self.starts[groups]] = False
        pos = self.member_pos[sel]
        if action == "restore":
            pos = pos[self.index.rows["split"].to_numpy(object)[pos] == DROPPED]
        return self.index.rows[ID].to_numpy(object)[np.unique(pos)].tolist()


def build_queues(index: RunIndex) -> dict[str, RowQueue | GroupQueue]:
    """Every queue of the run, in the order the page lists them."""
    rows, flags = index.rows, index.ledger_flags
    duplicates = _duplicate_members(index)
    dup = GroupQueue("duplicates", "Duplicate clusters", index, duplicates)
    conflict_keys = dup.groups.loc[dup.groups["conflict"], "key"]
    conflicts = GroupQueue("conflicts", "Label conflicts", index, duplicates[duplicates["key"].isin(conflict_keys)])

    issues = flags[flags["reason"] == "label_issue"]
    parsed = issues["detail"].astype(str).str.extract(_LABEL_ISSUE)
    label_errors = _row_items(index, issues, parsed["score"], given=parsed["given"], suggested=parsed["suggested"])
    outliers = flags[flags["reason"] == "outlier"]
    outlier_items = _row_items(index, outliers, outliers["detail"].astype(str).str.extract(_OUTLIER_Z)["score"])
    warnings = flags[(flags["step"] == "validate") & (flags["action"] == "flagged")]
    is_dropped = ((rows["split"] == DROPPED) & ~rows["step"].isin(_NOT_RESTORABLE_HERE)).to_numpy()
    dropped = rows[is_dropped]
    dropped_items = pd.DataFrame({"pos": np.flatnonzero(is_dropped), "reason": dropped["reason"].to_numpy(object),
                                  "detail": dropped["detail"].to_numpy(object), "score": 0.0})
    return {q.name: q for q in (
        dup, conflicts,
        RowQueue("label_errors", "Suspected label errors", index, label_errors),
        RowQueue("outliers", "Outliers", index, outlier_items),
        RowQueue("warnings", "Rule warnings", index, _row_items(index, warnings, None)),
        RowQueue("dropped", "Dropped by rules", index, dropped_items),
    )}


def _duplicate_members(index: RunIndex) -> pd.DataFrame:
    """(key, kind, pos) of every row in an exact group (same content hash) or a near cluster."""
    parts = []
    for kind, col in (("exact", "content_hash"), ("near", "cluster")):
        values = index.rows[col]
        inside = (values.notna() & values.duplicated(keep=False)).to_numpy()
        parts.append(pd.DataFrame({"key": kind + ":" + values[inside].astype(str).to_numpy(object),
                                   "kind": kind, "pos": np.flatnonzero(inside)}))
    return pd.concat(parts, ignore_index=True)


def _row_items(index: RunIndex, entries: pd.DataFrame, score, **extra) -> pd.DataFrame:
    pos = index.positions(entries[ID])
    found = pos >= 0
    items = pd.DataFrame({"pos": pos[found], "reason": entries["reason"].to_numpy(object)[found],
                          "detail": entries["detail"].to_numpy(object)[found],
                          "score": (pd.to_numeric(score, errors="coerce").to_numpy(float)[found]
                                    if score is not None else 0.0)})
    for name, values in extra.items():
        items[name] = values.to_numpy(object)[found]
    return items
