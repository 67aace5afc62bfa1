"""Inter-annotator agreement and the conflict policy, on a long table of (task, annotator, label).

Overall figures:
- ``cohen_kappa``: two annotators (exactly two in the project), on the tasks both labelled;
- ``fleiss_kappa``: any number of annotators, on tasks with two or more labels. With a different
  number of annotators per task it is the usual generalisation (per-task agreement averaged);
- ``krippendorff_alpha``: nominal alpha, which also handles missing labels;
- ``percent``: the mean share of annotator pairs that agree on a task.
Each is ``None`` where it is undefined (no task with two labels, or one label used throughout).
A multi-label answer (``a|b``) counts as one category: two annotators agree when their sets match.

Per task: how many annotators, the share of agreeing pairs, the majority label and its share.
All of it is computed on count matrices (pandas crosstab and numpy), never a loop per task.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from ..errors import ConfigError

POLICIES = ("majority", "lead", "flag")


@dataclass
class Agreement:
    overall: dict = field(default_factory=dict)
    per_task: pd.DataFrame = field(default_factory=pd.DataFrame)


def cohen_kappa(a, b) -> float | None:
    """Cohen's kappa of two equal-length label sequences (matches sklearn's cohen_kappa_score)."""
    a, b = pd.Series(list(a), dtype=object), pd.Series(list(b), dtype=object)
    if len(a) != len(b):
        raise ValueError(f"expected two sequences of one length, got {len(a)} and {len(b)}")
    if len(a) == 0:
        return None
    cats = pd.Index(sorted(set(a) | set(b), key=str))
    table = pd.crosstab(pd.Categorical(a, cats), pd.Categorical(b, cats), dropna=False).to_numpy(dtype=float)
    n = table.sum()
    observed = np.trace(table) / n
    expected = float(table.sum(axis=1) @ table.sum(axis=0)) / n**2
    return None if expected == 1 else float((observed - expected) / (1 - expected))


def fleiss_kappa(counts: np.ndarray) -> float | None:
    """Fleiss' kappa of an items x categories count matrix (rows with fewer than 2 ratings ignored)."""
    counts = np.asarray(counts, dtype=float)
    n_i = counts.sum(axis=1)
    counts, n_i = counts[n_i >= 2], n_i[n_i >= 2]
    if len(counts) == 0:
        return None
    p_i = ((counts**2).sum(axis=1) - n_i) / (n_i * (n_i - 1))
    p_j = counts.sum(axis=0) / n_i.sum()
    p_bar, p_e = p_i.mean(), float((p_j**2).sum())
    return None if p_e == 1 else float((p_bar - p_e) / (1 - p_e))


def krippendorff_alpha(counts: np.ndarray) -> float | None:
    """Krippendorff's nominal alpha of an items x categories count matrix (missing labels allowed)."""
    counts = np.asarray(counts, dtype=float)
    n_u = counts.sum(axis=1)
    counts, n_u = counts[n_u >= 2], n_u[n_u >= 2]
    if len(counts) == 0:
        return None
    # coincidences: o_ck = sum_u n_uc (n_uk - [c == k]) / (n_u - 1)
    coincide = (counts / (n_u - 1)[:, None]).T @ counts - np.diag((counts / (n_u - 1)[:, None]).sum(axis=0))
    n_c = coincide.sum(axis=1)
    n = n_c.sum()
    expected = n**2 - float((n_c**2).sum())
    if expected == 0:
        return None
    return float(1 - (n - 1) * (n - np.trace(coincide)) / expected)


def latest_per_annotator(annotations: pd.DataFrame, item: str = "id", rater: str = "annotator") -> pd.DataFrame:
    """One label per (task, annotator): the most recently updated one."""
    if "updated_at" in annotations:
        annotations = annotations.sort_values("updated_at", kind="stable")
    return annotations.drop_duplicates([item, rater], keep="last")


def compute(annotations: pd.DataFrame, item: str = "id", rater: str = "annotator", label: str = "label") -> Agreement:
    """Agreement per task and overall for a long table of annotations."""
    long = latest_per_annotator(annotations[annotations[label].notna()], item, rater)
    if long.empty:
        return Agreement(overall={"tasks": 0, "tasks_multi": 0, "annotators": 0, "percent": None,
                                  "cohen_kappa": None, "fleiss_kappa": None, "krippendorff_alpha": None},
                         per_task=pd.DataFrame(columns=[item, "annotators", "agreement", "majority", "majority_share"]))
    table = pd.crosstab(long[item].astype(str), long[label].astype(str))
    counts = table.to_numpy(dtype=float)
    n_i = counts.sum(axis=1)
    with np.errstate(invalid="ignore", divide="ignore"):
        pairwise = np.where(n_i >= 2, ((counts**2).sum(axis=1) - n_i) / (n_i * (n_i - 1)), np.nan)
    top = counts.argmax(axis=1)
    per_task = pd.DataFrame({item: table.index.to_numpy(dtype=object), "annotators": n_i.astype(int),
                             "agreement": pairwise, "majority": table.columns.to_numpy(dtype=object)[top],
                             "majority_share": counts.max(axis=1) / n_i})
    raters = long[rater].astype(str).unique()
    overall = {"tasks": int(len(per_task)), "tasks_multi": int((n_i >= 2).sum()), "annotators": int(len(raters)),
               "percent": None if np.isnan(pairwise).all() else float(np.nanmean(pairwise)),
               "cohen_kappa": None, "fleiss_kappa": fleiss_kappa(counts), "krippendorff_alpha": krippendorff_alpha(counts)}
    if len(raters) == 2:
        wide = long.pivot(index=item, columns=rater, values=label).dropna()
        if len(wide):
            overall["cohen_kappa"] = cohen_kappa(wide.iloc[:, 0], wide.iloc[:, 1])
    return Agreement(overall=overall, per_task=per_task)


def resolve(annotations: pd.DataFrame, policy: str = "majority", lead: str | None = None,
            item: str = "id", rater: str = "annotator", label: str = "label") -> pd.DataFrame:
    """One decision per task: ``id, label, decision, annotators, agreement, votes``.

    ``decision`` is ``single`` (one annotator), ``unanimous``, ``majority``, ``lead`` or ``conflict``. Under ``majority`` a tie is a
    conflict; under ``flag`` any disagreement is; under ``lead`` the lead annotator's label wins where
    they labelled the task, and the majority rule applies elsewhere. A conflict's label is None: the
    row keeps its old label and is flagged for review.
    """
    if policy not in POLICIES:
        raise ConfigError(f"conflict policy: expected one of {', '.join(POLICIES)}, got {policy!r}")
    if policy == "lead" and not lead:
        raise ConfigError("conflict policy 'lead': name the lead annotator (--lead EMAIL)")
    long = latest_per_annotator(annotations[annotations[label].notna()], item, rater)
    cols = [item, "label", "decision", "annotators", "agreement", "votes"]
    if long.empty:
        return pd.DataFrame(columns=cols)
    votes = long.groupby([item, label], sort=True).size().rename("n").reset_index()
    votes = votes.sort_values([item, "n", label], ascending=[True, False, True], kind="stable")
    per = votes.groupby(item, sort=True)
    total = per["n"].sum()
    best = per.head(1).set_index(item)
    tied = votes[votes["n"] == votes[item].map(best["n"])].groupby(item).size() > 1
    distinct = per.size()
    text = (votes[label].astype(str) + ":" + votes["n"].astype(str)).groupby(votes[item]).agg(", ".join)
    out = pd.DataFrame({"label": best[label], "annotators": total, "agreement": best["n"] / total,
                        "votes": text})
    out["decision"] = np.where(distinct == 1, "unanimous", "majority")
    conflict = tied.reindex(out.index, fill_value=False) if policy != "flag" else distinct > 1
    out.loc[conflict.to_numpy(), "decision"] = "conflict"
    if policy == "lead":
        lead_labels = long[long[rater].astype(str) == lead].set_index(item)[label]
        has_lead = out.index.isin(lead_labels.index) & (distinct.to_numpy() > 1)
        out.loc[has_lead, "label"] = lead_labels.reindex(out.index[has_lead]).to_numpy()
        out.loc[has_lead, "decision"] = "lead"
    out.loc[total.to_numpy() == 1, "decision"] = "single"
    out["label"] = out["label"].astype(object).where(out["decision"] != "conflict", None)
    out = out.rename_axis(item).reset_index()
    chosen = votes.set_index([item, label])["n"]
    keys = pd.MultiIndex.from_arrays([out[item], out["label"]])
    out["agreement"] = chosen.reindex(keys).to_numpy(dtype=float) / out["annotators"].to_numpy()
    out = out[cols]
    out["label"] = out["label"].astype(object).where(out["label"].notna(), None)
    return out
