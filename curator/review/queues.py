"""The review queues: what a person works through, each built once from a :class:`RunIndex`.

Two shapes. A *group* queue (duplicate and near-duplicate clusters; label conflicts) holds groups
of rows, the kept row first. A *row* queue (suspected label errors, outliers, rule warnings,
rows dropped by rules or in review) holds single rows with a reason, a detail and a score. Both
filter by label, split, reason and text with boolean masks over integer codes, and page by
slicing a precomputed order.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from ..audit import word_diff
from .index import RunIndex, codes

#: given 'billing', suggested 'shipping' (score 0.812): written by the label-issues step.
_LABEL_ISSUE = (r"given ['\"](?P<given>.*?)['\"], suggested ['\"](?P<suggested>.*?)['\"] "
                r"\(score (?P<score>[0-9.eE+-]+)\)")
_OUTLIER_Z = r"robust z (?P<score>-?[0-9.]+)"
#: Dropped rows other queues already hold (duplicates), or that cannot come back (unparseable lines).
_NOT_RESTORABLE_HERE = ["ingest", "dedup_exact", "dedup_near"]
#: Rows of one group shown on a page (the bulk bar still acts on every member).
MAX_MEMBERS = 50


@dataclass(frozen=True)
class Filters:
    label: str | None = None
    split: str | None = None
    reason: str | None = None
    q: str | None = None

    @classmethod
    def from_query(cls, params) -> "Filters":
        return cls(**{k: (str(params.get(k)) if params.get(k) else None) for k in ("label", "split", "reason", "q")})


def _row_mask(index: RunIndex, pos: np.ndarray, f: Filters) -> np.ndarray:
    keep = np.ones(len(pos), bool)
    if f.label:
        keep &= index.label_codes[pos] == index.code(index.label_values, f.label)
    if f.split:
        keep &= index.split_codes[pos] == index.code(index.split_values, f.split)
    if f.q:
        keep[keep] = index.contains(pos[keep], f.q)
    return keep


class RowQueue:
    """Single rows, each with a reason, detail and score, sorted by score (highest first), then position."""

    kind = "rows"

    def __init__(self, name: str, title: str, index: RunIndex, items: pd.DataFrame) -> None:
        self.name, self.title, self.index = name, title, index
        items = items.sort_values(["score", "pos"], ascending=[False, True], kind="stable")
        self.items = items.reset_index(drop=True)
        self.pos = self.items["pos"].to_numpy(np.int64)
        self.reason_codes, reasons = codes(pa.array(self.items["reason"].to_numpy(object), pa.string()))
        self.reason_values = reasons.to_pylist()

    def __len__(self) -> int:
        return len(self.items)

    def reasons(self) -> dict[str, int]:
        counts = np.bincount(self.reason_codes[self.reason_codes >= 0], minlength=len(self.reason_values))
        return dict(sorted((str(v), int(n)) for v, n in zip(self.reason_values, counts)))

    def mask(self, f: Filters) -> np.ndarray:
        keep = _row_mask(self.index, self.pos, f)
        if f.reason:
            keep &= self.reason_codes == self.index.code(self.reason_values, f.reason)
        return keep

    def page(self, f: Filters, offset: int, limit: int) -> tuple[int, list[dict]]:
        chosen = np.flatnonzero(self.mask(f))
        picked = chosen[offset: offset + limit]
        extra = self.items.iloc[picked].drop(columns=["pos"]).astype(object)
        extra = extra.where(extra.notna(), None).to_dict("records")
        rows = self.index.take(self.pos[picked])
        return len(chosen), [{"row": r, **e, "members": [r]} for r, e in zip(rows, extra)]

    def target_ids(self, f: Filters, action: str) -> list[str]:
        pos = self.pos[self.mask(f)]
        if action == "restore":
            pos = pos[self.index.is_dropped(pos)]
        return self.index.ids(np.unique(pos))


class GroupQueue:
    """Groups of rows (duplicates), the kept row first; conflicts (several labels) first, then size."""

    kind = "groups"

    def __init__(self, name: str, title: str, index: RunIndex, members: "Members") -> None:
        self.name, self.title, self.index = name, title, index
        gid, pos = members.gid, members.pos
        n = members.n_groups
        size = np.bincount(gid, minlength=n)
        labels = index.label_codes[pos]
        pairs = np.unique(gid[labels >= 0] * (len(index.label_values) + 1) + labels[labels >= 0])
        n_labels = np.bincount(pairs // (len(index.label_values) + 1), minlength=n)
        present = np.flatnonzero(size > 0)
        conflict = n_labels > 1
        order = present[np.lexsort((present, -size[present], ~conflict[present]))]
        rank = np.full(n, -1, np.int64)
        rank[order] = np.arange(len(order))
        member_rank = rank[gid]
        sort = np.lexsort((pos, index.is_dropped(pos), member_rank))
        self.member_rank, self.member_pos = member_rank[sort], pos[sort]
        self.starts = np.searchsorted(self.member_rank, np.arange(len(order) + 1))
        self._members, self._order = members, order
        self.group_kind = members.kind[order]
        self.size, self.conflict = size[order], conflict[order]
        kinds, counts = np.unique(self.group_kind.astype(str), return_counts=True)
        self._reasons = {str(kind): int(n) for kind, n in zip(kinds, counts)}

    def __len__(self) -> int:
        return len(self._order)

    def key(self, g: int) -> str:
        return self._members.key(int(self._order[g]))

    def reasons(self) -> dict[str, int]:
        return self._reasons

    def mask(self, f: Filters) -> np.ndarray:
        """Groups with at least one member matching the label/split/text filters, of the kind asked."""
        hit = _row_mask(self.index, self.member_pos, f)
        keep = np.bincount(self.member_rank[hit], minlength=len(self)) > 0
        if f.reason:
            keep &= self.group_kind == f.reason
        return keep

    def page(self, f: Filters, offset: int, limit: int) -> tuple[int, list[dict]]:
        chosen = np.flatnonzero(self.mask(f))
        picked = chosen[offset: offset + limit]
        # one range per group shown; a huge cluster shows its first MAX_MEMBERS rows
        spans = [np.arange(self.starts[g], min(self.starts[g + 1], self.starts[g] + MAX_MEMBERS)) for g in picked]
        flat = np.concatenate(spans) if spans else np.zeros(0, np.int64)
        rows = iter(self.index.take(self.member_pos[flat]))
        items = []
        for g, span in zip(picked, spans):
            members = [next(rows) for _ in span]
            if self.index.modality == "text":
                for m in members[1:]:
                    m["diff"] = word_diff(members[0]["content"], m["content"])
            items.append({"key": self.key(g), "reason": str(self.group_kind[g]), "size": int(self.size[g]),
                          "more": int(self.size[g]) - len(members),
                          "conflict": bool(self.conflict[g]), "row": members[0], "members": members,
                          "labels": sorted({m["label"] for m in members if m["label"] is not None})})
        return len(chosen), items

    def target_ids(self, f: Filters, action: str) -> list[str]:
        """The rows a bulk action touches: every member, but the kept row is never dropped or split
        off (``drop``, ``not_duplicate`` act on the others), and only dropped rows are restored."""
        groups = np.flatnonzero(self.mask(f))
        sel = np.isin(self.member_rank, groups)
        if action in ("drop", "not_duplicate"):
            sel[self.starts[groups]] = False
        pos = self.member_pos[sel]
        if action == "restore":
            pos = pos[self.index.is_dropped(pos)]
        return self.index.ids(np.unique(pos))


@dataclass
class Members:
    """Group membership: ``gid`` and ``pos`` per member; ``kind`` per group; the group keys are the
    distinct values of each kind's column (``values``), numbered from that kind's ``offset``."""

    gid: np.ndarray
    pos: np.ndarray
    kind: np.ndarray
    values: list[tuple[str, int, pa.Array]]

    @property
    def n_groups(self) -> int:
        return len(self.kind)

    def key(self, gid: int) -> str:
        kind, offset, values = next(v for v in reversed(self.values) if gid >= v[1])
        return f"{kind}:{values[gid - offset].as_py()}"

    def subset(self, groups: np.ndarray) -> "Members":
        keep = np.isin(self.gid, groups)
        return Members(self.gid[keep], self.pos[keep], self.kind, self.values)


def duplicate_members(index: RunIndex) -> Members:
    """Every row of an exact group (a content hash the exact dedup dropped a row for) or a near
    cluster (a cluster the near dedup dropped a row of). Only those keys are hashed; every row
    probes them."""
    gids, poss, kinds, values = [], [], [], []
    offset = 0
    step = index.table["step"]
    for kind, col, dedup in (("exact", "content_hash", "dedup_exact"), ("near", "cluster", "dedup_near")):
        column = index.table[col]
        keys = pc.unique(pc.drop_null(column.filter(pc.fill_null(pc.equal(step, dedup), False))))
        code = pc.index_in(column, value_set=keys).fill_null(-1).to_numpy(zero_copy_only=False).astype(np.int64)
        inside = np.flatnonzero(code >= 0)
        gids.append(code[inside] + offset)
        poss.append(inside)
        kinds.append(np.full(len(keys), kind, dtype=object))
        values.append((kind, offset, keys))
        offset += len(keys)
    return Members(np.concatenate(gids), np.concatenate(poss), np.concatenate(kinds), values)


def build_queues(index: RunIndex) -> dict[str, RowQueue | GroupQueue]:
    """Every queue of the run, in the order the page lists them."""
    flags = index.flags[index.flags["pos"] >= 0]
    members = duplicate_members(index)
    dup = GroupQueue("duplicates", "Duplicate clusters", index, members)
    conflicted = dup._order[dup.conflict]
    conflicts = GroupQueue("conflicts", "Label conflicts", index, members.subset(conflicted))

    issues = flags[flags["reason"] == "label_issue"]
    parsed = _extract(issues["detail"], _LABEL_ISSUE)
    outliers = flags[flags["reason"] == "outlier"]
    warnings = flags[(flags["step"] == "validate") & (flags["action"] == "flagged")]
    step = index.table["step"]
    restorable = index.is_dropped(np.arange(len(index))) & ~pc.is_in(step, pa.array(_NOT_RESTORABLE_HERE)).fill_null(
        False).to_numpy(zero_copy_only=False)
    dropped = np.flatnonzero(restorable)
    picked = index.table.take(pa.array(dropped))
    return {q.name: q for q in (
        dup, conflicts,
        RowQueue("label_errors", "Suspected label errors", index,
                 _row_items(issues, parsed["score"], given=parsed["given"], suggested=parsed["suggested"])),
        RowQueue("outliers", "Outliers", index,
                 _row_items(outliers, _extract(outliers["detail"], _OUTLIER_Z)["score"])),
        RowQueue("warnings", "Rule warnings", index, _row_items(warnings, None)),
        RowQueue("dropped", "Dropped by rules", index, pd.DataFrame({
            "pos": dropped, "reason": picked["reason"].to_numpy(zero_copy_only=False),
            "detail": picked["detail"].to_numpy(zero_copy_only=False), "score": 0.0})),
    )}


def _extract(details: pd.Series, pattern: str) -> pd.DataFrame:
    """The named groups of ``pattern`` in each detail (Arrow's regex kernel; None where it fails)."""
    found = pc.extract_regex(pa.array(details.to_numpy(object), pa.large_string()), pattern)
    names = [f.name for f in found.type]
    return pd.DataFrame({n: found.field(n).to_numpy(zero_copy_only=False) for n in names}, index=details.index)


def _row_items(entries: pd.DataFrame, score, **extra) -> pd.DataFrame:
    items = pd.DataFrame({"pos": entries["pos"].to_numpy(np.int64), "reason": entries["reason"].to_numpy(object),
                          "detail": entries["detail"].to_numpy(object),
                          "score": pd.to_numeric(score, errors="coerce").to_numpy(float) if score is not None else 0.0})
    for name, values in extra.items():
        items[name] = values.to_numpy(object)
    return items
