"""Deduplication: one row per group of duplicates, explained in the ledger.

Exact dedup compares text after normalisation (NFC, case and whitespace folding, all
configurable), and images by a hash of their decoded pixels (computed at ingest), so the same
picture saved twice counts once. Near dedup (``near_dedup.py``) finds clusters by similarity.
Both hand their groups to :func:`resolve_groups`: which row a group keeps is a deterministic
policy, and a group whose labels disagree is a label conflict (flagged, dropped whole, or resolved
to the majority label).
"""

from __future__ import annotations

import functools
from dataclasses import dataclass

import numpy as np
import pandas as pd

from .ledger import decisions, empty_decisions, fixes
from .steps import Context, Step, StepResult
from .table import ID, IMAGE_HASH, LABEL, SOURCE, TEXT, isin, join_groups, normalize_text, text_hash

#: The column every later stage (split, leak check, trainer) reads as "the same content".
CONTENT_HASH = "content_hash"
_CURATOR_COLUMNS = {ID, TEXT, "image", LABEL, SOURCE, CONTENT_HASH, "group", "cluster", IMAGE_HASH,
                    "image_width", "image_height", "image_format"}


def content_hash(table: pd.DataFrame, modality: str, normalize) -> pd.Series:
    """The exact-duplicate key of every row: normalised-text hash or decoded-pixel hash (row-local:
    the batch function the engines run)."""
    if modality == "image":
        return table[IMAGE_HASH].astype(object)
    norm = normalize_text(table[TEXT], unicode=normalize.unicode, case=normalize.case,
                          whitespace=normalize.whitespace, punctuation=normalize.punctuation)
    return text_hash(norm)


def _priority(table: pd.DataFrame, keep: str) -> pd.Series:
    """Lower is better. Ties fall back to input order (the table's position)."""
    if keep == "longest" and TEXT in table:
        return -table[TEXT].fillna("").str.len()
    if keep == "most_metadata":
        meta = [c for c in table.columns if c not in _CURATOR_COLUMNS]
        return -table[meta].notna().sum(axis=1) if meta else pd.Series(0, index=table.index)
    return pd.Series(0, index=table.index)


@dataclass(frozen=True)
class GroupPolicy:
    """How a step resolves its groups, and the words its ledger entries use."""

    reason: str            # reason code of a dropped member: exact_duplicate, near_duplicate
    noun: str              # "exact duplicate", "near duplicate"
    keep: str = "first"    # first | longest | most_metadata | majority_label
    on_label_conflict: str = "flag"  # flag | drop | majority
    max_groups: int = 20   # groups sampled for the report
    score: str = "similarity"  # what the similarity in a ledger detail measures: similarity, containment


def resolve_groups(table: pd.DataFrame, key: pd.Series, policy: GroupPolicy, *,
                   match: pd.Series | None = None, similarity: pd.Series | None = None,
                   contained: pd.Series | None = None) -> StepResult:
    """Keep one row per group of equal ``key`` (missing key = no group) and explain every decision.

    ``match``/``similarity`` (optional, aligned with ``table``) name the row each member matched best
    and how closely; without them a member "matched" its group's kept row exactly (similarity 1).
    ``contained`` (optional, boolean, aligned) marks rows that lie inside another member: never a
    group's kept row, and their labels take no part in label conflicts (a greeting inside a ticket
    does not conflict with it), so a container is never dropped for what it contains.
    """
    in_group = (key.notna() & key.duplicated(keep=False)).to_numpy()
    members = pd.DataFrame({ID: table[ID].to_numpy()[in_group], LABEL: table[LABEL].to_numpy()[in_group],
                            "_key": key.to_numpy()[in_group], "_pos": np.flatnonzero(in_group),
                            "_prio": _priority(table, policy.keep).to_numpy()[in_group],
                            "_inside": False if contained is None else contained.to_numpy(dtype=bool)[in_group]})
    if members.empty:
        return StepResult(table=table, artifacts={"groups": [], "n_groups": 0, "label_conflicts": 0})
    if policy.keep == "majority_label":  # prefer a row that carries its group's most common label
        top = members[~members["_inside"]].groupby(["_key", LABEL]).size().rename("n").reset_index()
        top = top.sort_values(["_key", "n", LABEL], ascending=[True, False, True]).drop_duplicates("_key")
        members["_prio"] = np.where(members[LABEL].eq(members["_key"].map(top.set_index("_key")[LABEL])), 0, 1)
    members = members.sort_values(["_key", "_inside", "_prio", "_pos"], kind="stable")
    rep = members.drop_duplicates("_key").set_index("_key")[ID]
    members["rep"] = members["_key"].map(rep)
    members["match"] = members["rep"] if match is None else match.to_numpy()[members["_pos"]]
    members["match"] = members["match"].where(members["match"].notna(), members["rep"])
    members["sim"] = 1.0 if similarity is None else similarity.to_numpy()[members["_pos"]]

    n_labels = members[~members["_inside"]].groupby("_key")[LABEL].nunique()
    conflict_keys = n_labels.index[n_labels > 1]
    members["conflict"] = isin(members["_key"], conflict_keys) & ~members["_inside"]
    is_rep = members[ID].eq(members["rep"])
    others = members[~is_rep]
    note = _similarity_note(others, policy.score) if similarity is not None else ""
    detail = f"{policy.noun} of " + others["match"] + note
    detail = detail.where(others["match"].eq(others["rep"]), detail + "; its group kept " + others["rep"])
    dropped = decisions(others[ID], policy.reason, detail, others["match"])
    flagged, fixed = empty_decisions(), empty_decisions()

    conflicted = members[members["conflict"]]
    if len(conflicted):
        dropped, flagged, fixed = _label_conflicts(table, conflicted, dropped, policy)
    # a kept row's note, for the rows that are still kept (on_label_conflict: drop drops whole groups)
    return StepResult(table=table, dropped=dropped, flagged=flagged, fixed=fixed,
                      kept=_kept_notes(others[~isin(others["rep"], dropped["id"])], policy.noun),
                      artifacts=_artifacts(members, is_rep, len(conflict_keys), policy))


def _similarity_note(rows: pd.DataFrame, score: str) -> pd.Series:
    return f" ({score} " + rows["sim"].astype(float).round(3).astype(str) + ")"


def _label_conflicts(table: pd.DataFrame, conflicted: pd.DataFrame, dropped: pd.DataFrame,
                     policy: GroupPolicy) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    """Apply the label-conflict policy; may change ``table``'s labels in place (majority)."""
    labels_txt = _label_summary(conflicted)
    reps = conflicted[conflicted[ID].eq(conflicted["rep"])]
    flagged, fixed = empty_decisions(), empty_decisions()
    if policy.on_label_conflict == "drop":
        related = conflicted["rep"].where(conflicted[ID].ne(conflicted["rep"]))
        dropped = pd.concat([dropped[~isin(dropped["id"], conflicted[ID])],
                             decisions(conflicted[ID], "label_conflict",
                                       "group dropped: its copies carry different labels: "
                                       + conflicted["_key"].map(labels_txt), related)], ignore_index=True)
        return dropped, flagged, fixed
    majority = _majority(conflicted)
    tie = reps["_key"].map(majority).isna()
    if policy.on_label_conflict == "majority":
        winners = reps[~tie]
        new = winners["_key"].map(majority)
        change = winners[LABEL].ne(new)
        fixed = fixes(winners[ID][change], LABEL, winners[LABEL][change], new[change],
                      "label_conflict", f"majority label of its {policy.noun}s")
        rows = isin(table[ID], winners[ID][change])
        table.loc[rows, LABEL] = table.loc[rows, ID].map(dict(zip(winners[ID][change], new[change])))
    # "flag", and a majority tie, keep the row and flag it for review.
    flag_rows = reps if policy.on_label_conflict == "flag" else reps[tie]
    flagged = decisions(flag_rows[ID], "label_conflict",
                        "duplicates carry different labels: " + flag_rows["_key"].map(labels_txt))
    return dropped, flagged, fixed


def _majority(conflicted: pd.DataFrame) -> pd.Series:
    """Majority label per conflicted group; missing where the top count is tied."""
    counts = conflicted.groupby(["_key", LABEL]).size().rename("n").reset_index()
    counts = counts.sort_values(["_key", "n", LABEL], ascending=[True, False, True])
    best = counts.drop_duplicates("_key").set_index("_key")
    n_best = counts["n"].eq(counts["_key"].map(best["n"])).groupby(counts["_key"]).sum()
    return best[LABEL].where(n_best.reindex(best.index).eq(1), None)


def _label_summary(conflicted: pd.DataFrame) -> pd.Series:
    """'billing (2), shipping (1)' per conflicted group."""
    counts = conflicted.groupby(["_key", LABEL]).size().reset_index(name="n")
    text = counts[LABEL].astype(str) + " (" + counts["n"].astype(str) + ")"
    return join_groups(counts["_key"], text)["joined"]


def _kept_notes(others: pd.DataFrame, noun: str, limit: int = 5) -> pd.DataFrame:
    """'kept 5b92…; 2 exact duplicates of it: 0a1c…, 77e0…' for every kept row of a group."""
    groups = join_groups(others["rep"], others[ID], limit=limit)
    more = pd.Series(np.where(groups["count"] > limit, ", ...", ""), index=groups.index)
    plural = pd.Series(np.where(groups["count"] == 1, f" {noun}", f" {noun}s"), index=groups.index)
    detail = ("kept " + groups.index.to_series() + "; " + groups["count"].astype(str) + plural + " of it: "
              + groups["joined"] + more)
    return decisions(groups.index, "duplicate_group_kept", detail)


def _artifacts(members: pd.DataFrame, is_rep: pd.Series, n_conflicts: int, policy: GroupPolicy) -> dict:
    """A sample of groups for the report: conflicts first, then the largest."""
    sizes = members.groupby("_key").agg(size=(ID, "size"), conflict=("conflict", "first"))
    sizes = sizes.sort_values(["conflict", "size"], ascending=[False, False], kind="stable")
    chosen = members[isin(members["_key"], sizes.index[: policy.max_groups])]
    groups = []
    for key, g in chosen.groupby("_key", sort=False):  # at most max_groups groups
        groups.append({"key": key, "rep": g["rep"].iloc[0], "ids": g[ID].tolist(), "size": len(g),
                       "conflict": bool(g["conflict"].iloc[0]), "kind": policy.noun.split()[0],
                       "similarity": dict(zip(g[ID], g["sim"].astype(float))), "score": policy.score})
    order = {k: i for i, k in enumerate(sizes.index[: policy.max_groups])}
    groups.sort(key=lambda grp: order[grp["key"]])
    # Every conflicted group's kept row, for the label-issues step (the groups above are a sample).
    conflict_ids = members.loc[is_rep & members["conflict"], ID].tolist()
    return {"groups": groups, "n_groups": int(len(sizes)), "label_conflicts": int(n_conflicts),
            "conflict_ids": conflict_ids}


class ExactDedupStep(Step):
    name = "dedup_exact"

    def __init__(self, modality: str, normalize, keep: str = "first", on_label_conflict: str = "flag",
                 max_groups: int = 20) -> None:
        self.modality, self.normalize = modality, normalize
        self.policy = GroupPolicy("exact_duplicate", "exact duplicate", keep, on_label_conflict, max_groups)

    @classmethod
    def from_config(cls, cfg) -> "ExactDedupStep":
        p = cfg.steps.dedup_exact
        return cls(cfg.modality, p.normalize, p.keep, p.on_label_conflict, cfg.output.report.duplicate_groups)

    def apply(self, table: pd.DataFrame, ctx: Context) -> StepResult:
        table = table.copy()
        content = [TEXT] if self.modality == "text" else [IMAGE_HASH]
        table[CONTENT_HASH] = ctx.engine.map_batches(
            table[content], functools.partial(content_hash, modality=self.modality, normalize=self.normalize))
        key = table[CONTENT_HASH].mask(isin(table[ID], list(ctx.not_duplicate)))  # reviewed: not duplicates
        return resolve_groups(table, key, self.policy)
