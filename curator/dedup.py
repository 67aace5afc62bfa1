"""Exact deduplication: one row per group of identical content.

Text is compared after normalisation (NFC, case and whitespace folding, all configurable); images by
a hash of their decoded pixels (computed at ingest), so the same picture saved twice counts once.
Which row a group keeps is a deterministic policy and is explained in the ledger. A group whose
labels disagree is a label conflict: flagged, dropped whole, or resolved to the majority label.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from .ledger import decisions, empty_decisions, fixes
from .steps import Context, Step, StepResult
from .table import ID, IMAGE_HASH, LABEL, SOURCE, TEXT, isin, join_groups, normalize_text, text_hash

#: The column every later stage (split, leak check, trainer) reads as "the same content".
CONTENT_HASH = "content_hash"
_CURATOR_COLUMNS = {ID, TEXT, "image", LABEL, SOURCE, CONTENT_HASH, "group", IMAGE_HASH,
                    "image_width", "image_height", "image_format"}


def content_hash(table: pd.DataFrame, modality: str, normalize) -> pd.Series:
    """The exact-duplicate key of every row: normalised-text hash or decoded-pixel hash."""
    if modality == "image":
        return table[IMAGE_HASH].astype(object)
    norm = normalize_text(table[TEXT], unicode=normalize.unicode, case=normalize.case,
                          whitespace=normalize.whitespace, punctuation=normalize.punctuation)
    return text_hash(norm)


def _priority(table: pd.DataFrame, keep: str, modality: str) -> pd.Series:
    """Lower is better. Ties fall back to input order (the table's position)."""
    if keep == "longest" and modality == "text":
        return -table[TEXT].fillna("").str.len()
    if keep == "most_metadata":
        meta = [c for c in table.columns if c not in _CURATOR_COLUMNS]
        return -table[meta].notna().sum(axis=1) if meta else pd.Series(0, index=table.index)
    return pd.Series(0, index=table.index)


class ExactDedupStep(Step):
    name = "dedup_exact"

    def __init__(self, modality: str, normalize, keep: str = "first", on_label_conflict: str = "flag",
                 max_groups: int = 20) -> None:
        self.modality, self.normalize, self.keep = modality, normalize, keep
        self.on_label_conflict, self.max_groups = on_label_conflict, max_groups

    @classmethod
    def from_config(cls, cfg) -> "ExactDedupStep":
        p = cfg.steps.dedup_exact
        return cls(cfg.modality, p.normalize, p.keep, p.on_label_conflict, cfg.output.report.duplicate_groups)

    def apply(self, table: pd.DataFrame, ctx: Context) -> StepResult:
        table = table.copy()
        table[CONTENT_HASH] = content_hash(table, self.modality, self.normalize)
        key = table[CONTENT_HASH]
        in_group = key.notna() & key.duplicated(keep=False)
        members = table.loc[in_group, [ID, LABEL, SOURCE, CONTENT_HASH]].copy()
        if members.empty:
            return StepResult(table=table, artifacts={"groups": [], "n_groups": 0, "label_conflicts": 0})

        members["_pos"] = np.flatnonzero(in_group.to_numpy())
        members["_prio"] = _priority(table, self.keep, self.modality)[in_group].to_numpy()
        members = members.sort_values([CONTENT_HASH, "_prio", "_pos"], kind="stable")
        rep = members.drop_duplicates(CONTENT_HASH).set_index(CONTENT_HASH)[ID]
        members["rep"] = members[CONTENT_HASH].map(rep)

        # Label conflicts: more than one distinct non-missing label in a group.
        n_labels = members.groupby(CONTENT_HASH)[LABEL].nunique()
        conflict_keys = n_labels.index[n_labels > 1]
        members["conflict"] = isin(members[CONTENT_HASH], conflict_keys)
        majority = self._majority(members[members["conflict"]])

        is_rep = members[ID].eq(members["rep"])
        others = members[~is_rep]
        dropped = decisions(others[ID], "exact_duplicate", "exact duplicate of " + others["rep"], others["rep"])
        flagged, fixed = empty_decisions(), empty_decisions()
        conflicted = members[members["conflict"]]
        if len(conflicted):
            labels_txt = self._label_summary(conflicted)
            reps = conflicted[conflicted[ID].eq(conflicted["rep"])]
            rep_detail = "duplicates carry different labels: " + reps[CONTENT_HASH].map(labels_txt)
            policy = self.on_label_conflict
            tie = reps[CONTENT_HASH].map(majority).isna()
            if policy == "drop":
                dropped = pd.concat([
                    dropped[~isin(dropped["id"], conflicted[ID])],
                    decisions(conflicted[ID], "label_conflict",
                              "group dropped: its copies carry different labels: "
                              + conflicted[CONTENT_HASH].map(labels_txt), conflicted["rep"].where(~is_rep[members["conflict"]]))],
                    ignore_index=True)
            else:
                # "majority" fixes the kept row's label; a tie, or "flag", flags it for review.
                if policy == "majority":
                    winners = reps[~tie]
                    new = winners[CONTENT_HASH].map(majority)
                    change = winners[LABEL].ne(new)
                    fixed = fixes(winners[ID][change], LABEL, winners[LABEL][change], new[change],
                                  "label_conflict", "majority label of its exact duplicates")
                    table.loc[isin(table[ID], winners[ID][change]), LABEL] = \
                        table[ID].map(dict(zip(winners[ID][change], new[change])))
                flag_rows = reps if policy == "flag" else reps[tie]
                flagged = decisions(flag_rows[ID], "label_conflict", rep_detail[flag_rows.index])

        kept_notes = self._kept_notes(members, is_rep)
        artifacts = self._artifacts(table, members, is_rep, len(conflict_keys))
        return StepResult(table=table, dropped=dropped, flagged=flagged, fixed=fixed, kept=kept_notes,
                          artifacts=artifacts)

    @staticmethod
    def _majority(conflicted: pd.DataFrame) -> pd.Series:
        """Majority label per conflicted group; missing where the top count is tied."""
        if conflicted.empty:
            return pd.Series(dtype=object)
        counts = conflicted.groupby([CONTENT_HASH, LABEL]).size().rename("n").reset_index()
        counts = counts.sort_values([CONTENT_HASH, "n", LABEL], ascending=[True, False, True])
        best = counts.drop_duplicates(CONTENT_HASH).set_index(CONTENT_HASH)
        n_best = counts["n"].eq(counts[CONTENT_HASH].map(best["n"])).groupby(counts[CONTENT_HASH]).sum()
        return best[LABEL].where(n_best.reindex(best.index).eq(1), None)

    @staticmethod
    def _label_summary(conflicted: pd.DataFrame) -> pd.Series:
        """'billing (2), shipping (1)' per conflicted group."""
        counts = conflicted.groupby([CONTENT_HASH, LABEL]).size().reset_index(name="n")
        text = counts[LABEL].astype(str) + " (" + counts["n"].astype(str) + ")"
        return join_groups(counts[CONTENT_HASH], text)["joined"]

    @staticmethod
    def _kept_notes(members: pd.DataFrame, is_rep: pd.Series, limit: int = 5) -> pd.DataFrame:
        """'kept 5b92…; 2 exact duplicates of it: 0a1c…, 77e0…' for every kept representative."""
        others = members[~is_rep]
        groups = join_groups(others["rep"], others[ID], limit=limit)
        more = pd.Series(np.where(groups["count"] > limit, ", ...", ""), index=groups.index)
        plural = pd.Series(np.where(groups["count"] == 1, " exact duplicate", " exact duplicates"), index=groups.index)
        detail = ("kept " + groups.index.to_series() + "; " + groups["count"].astype(str) + plural + " of it: "
                  + groups["joined"] + more)
        return decisions(groups.index, "duplicate_group_kept", detail)

    def _artifacts(self, table: pd.DataFrame, members: pd.DataFrame, is_rep: pd.Series, n_conflicts: int) -> dict:
        """A sample of groups for the report: conflicts first, then the largest."""
        sizes = members.groupby(CONTENT_HASH).agg(size=(ID, "size"), conflict=("conflict", "first"))
        sizes = sizes.sort_values(["conflict", "size"], ascending=[False, False], kind="stable")
        chosen = sizes.head(self.max_groups)
        groups = []
        for key, row in chosen.iterrows():  # at most max_groups groups
            g = members[members[CONTENT_HASH].eq(key)]
            groups.append({"key": key, "rep": g.loc[is_rep[g.index], ID].iloc[0],
                           "ids": g[ID].tolist(), "size": int(row["size"]), "conflict": bool(row["conflict"])})
        return {"groups": groups, "n_groups": int(len(sizes)), "label_conflicts": int(n_conflicts)}
