"""The audit: the figures of one run, gathered into the plain dict that becomes ``report.json``
and is rendered as ``report.html``. It samples (examples, groups, thumbnails) rather than listing
every row, so the report stays small on a million rows."""

from __future__ import annotations

import base64
import io
from pathlib import Path

import numpy as np
import pandas as pd

from . import __version__
from .rebalance import label_lists
from .table import ID, IMAGE, LABEL, SOURCE, TEXT
from .validate import short_values

MISSING = "(missing)"
#: Row text in the report's examples and duplicate groups is cut to this many characters (an image
#: path is never cut: the longest path a system takes is 4096 bytes).
CONTENT_CHARS = 1000
PATH_CHARS = 4096


class RowLookup:
    """id -> content, label and source for every row the run saw (read once, looked up in bulk)."""

    def __init__(self, original: pd.DataFrame, bad: pd.DataFrame, content_col: str) -> None:
        self.text = content_col == TEXT
        parts = [original[[ID, content_col, LABEL, SOURCE]].rename(columns={content_col: "content"})]
        if len(bad):
            parts.append(bad.assign(content=bad["raw"], label=None)[[ID, "content", LABEL, SOURCE]])
        self.frame = pd.concat(parts, ignore_index=True).drop_duplicates(ID).set_index(ID)

    def rows(self, ids) -> list[dict]:
        """The rows' content (shortened for the report), label and source."""
        found = self.frame.reindex(pd.Index(list(ids), dtype=object))
        found = found.astype(object).where(found.notna(), None)
        content = short_values(found["content"], CONTENT_CHARS if self.text else PATH_CHARS)
        return [{"id": i, "content": c, "label": lab, "source": s}
                for i, c, lab, s in zip(found.index, content, found[LABEL], found[SOURCE])]


def label_counts(labels: pd.Series) -> dict[str, int]:
    """Rows per label, missing ones under :data:`MISSING`; when every present label is a list (a
    multi-label table), a row counts once for each of its labels."""
    lists = label_lists(labels.dropna())
    if lists is None:
        counts = labels.fillna(MISSING).astype(str).value_counts()
    else:
        counts = pd.concat([pd.Series(lists.values, dtype=object),
                            pd.Series([MISSING] * int(labels.isna().sum()), dtype=object)]).value_counts()
    return {str(k): int(v) for k, v in counts.sort_index().items()}


def label_names(cfg, labels: pd.Series) -> tuple[bool, list[str]]:
    """Whether every present label is a list of labels (a multi-label table, JSON-array strings), and
    the run's label names: the config's list (for a multi-label table, when it holds every single label
    present), else the labels present (the single labels of a multi-label table)."""
    present = labels.dropna()
    lists = label_lists(present)
    if lists is None:
        return False, list(cfg.labels) if cfg.labels is not None else sorted(present.astype(str).unique())
    names = sorted(set(lists.values))
    return True, list(cfg.labels) if cfg.labels is not None and set(names) <= set(cfg.labels) else names


def length_histogram(before: pd.Series, after: pd.DataFrame, split_col: str, bins: int = 20) -> dict:
    lengths = before.fillna("").astype(str).str.len().to_numpy()
    top = max(int(np.percentile(lengths, 99)) if len(lengths) else 1, 1)
    edges = np.unique(np.linspace(0, top, bins + 1).round().astype(int))
    if len(edges) < 2:
        edges = np.array([0, 1])
    edges[-1] = max(edges[-1], int(lengths.max()) + 1 if len(lengths) else 1)  # last bin is open-ended

    def hist(values: np.ndarray) -> list[int]:
        return np.histogram(np.clip(values, 0, edges[-1] - 1), bins=edges)[0].astype(int).tolist()

    after_len = after[TEXT].fillna("").astype(str).str.len()
    return {"unit": "characters", "edges": edges.tolist(), "before": hist(lengths),
            "after": {name: hist(after_len[after[split_col] == name].to_numpy())
                      for name in sorted(after[split_col].unique())}}


def reason_examples(ledger: pd.DataFrame, lookup: RowLookup, n: int) -> list[dict]:
    decided = ledger[ledger["action"].isin(["dropped", "flagged", "fixed"])]
    if decided.empty:
        return []
    counts = decided.groupby(["step", "action", "reason"], sort=False).size()
    samples = decided.groupby(["step", "action", "reason"], sort=False).head(n)
    out = []
    for (step, action, reason), count in counts.items():  # one entry per reason code
        rows = samples[(samples["step"] == step) & (samples["action"] == action) & (samples["reason"] == reason)]
        examples = []
        related = {r["id"]: r for r in lookup.rows(rows["related_id"].dropna())}
        shortened = zip(lookup.rows(rows["id"]), *(short_values(rows[c]) for c in ("detail", "old_value", "new_value")))
        for row, (info, detail, before, after) in zip(rows.itertuples(index=False), shortened):
            if action == "fixed":
                detail = f"{row.column}: {before!r} → {after!r}"
            rel = related.get(row.related_id) if isinstance(row.related_id, str) else None
            examples.append({**info, "detail": detail, "related_id": row.related_id if rel else None,
                             "related_content": rel["content"] if rel else None})
        out.append({"step": step, "action": action, "reason": reason, "count": int(count), "examples": examples})
    return out


def duplicate_groups(artifacts: dict, lookup: RowLookup) -> list[dict]:
    groups = []
    for step, art in artifacts.items():
        for g in art.get("groups", []):
            rows = {r["id"]: r for r in lookup.rows(g["ids"])}
            kept = rows[g["rep"]]
            dropped = [{**rows[i], "similarity": round(g.get("similarity", {}).get(i, 1.0), 3),
                        "score": g.get("score", "similarity")}
                       for i in g["ids"] if i != g["rep"]]
            if g.get("kind") == "near" and lookup.text:  # a bounded sample of groups, not the table
                for row in dropped:
                    row["diff"] = word_diff(kept["content"], row["content"])
            labels = sorted({r["label"] for r in rows.values() if r["label"] is not None})
            groups.append({"step": step, "kind": g.get("kind", "exact"), "size": g["size"], "labels": labels,
                           "conflict": g["conflict"], "kept": kept, "dropped": dropped})
    return groups


def word_diff(kept: str | None, other: str | None) -> list[dict]:
    """Word-level differences of ``other`` against ``kept``, for the report's side-by-side view."""
    import difflib

    a, b = str(kept or "").split(), str(other or "").split()
    out = []
    for op, i1, i2, j1, j2 in difflib.SequenceMatcher(a=a, b=b, autojunk=False).get_opcodes():
        if op in ("delete", "replace"):
            out.append({"op": "delete", "text": " ".join(a[i1:i2])})
        if op in ("insert", "replace"):
            out.append({"op": "insert", "text": " ".join(b[j1:j2])})
        if op == "equal":
            out.append({"op": "equal", "text": " ".join(b[j1:j2])})
    return out


CASCADE_STATS = ("hash_pairs", "near_pairs", "quadrant_pairs", "candidate_pairs", "unchecked_pairs", "verified_files")


def near_summary(artifacts: dict) -> dict | None:
    art = artifacts.get("dedup_near")
    if not art or "histogram" not in art:
        return None
    cascade = {k: art[k] for k in CASCADE_STATS if k in art}  # the combined image method's counts
    return {"measure": art.get("measure"), "threshold": art.get("threshold"), "histogram": art["histogram"],
            "counts_near_threshold": art.get("counts_near_threshold", []), **({"cascade": cascade} if cascade else {})}


def validation_summary(artifacts: dict) -> dict | None:
    """Per rule: rows failed, dropped, flagged, fixed, with examples and fixes before -> after; and
    the per-class table. (The validate step already bounded every list.)"""
    art = artifacts.get("validate")
    if not art:
        return None
    return {k: art.get(k) for k in ("rules", "label_checks", "per_class")}


def label_issue_summary(artifacts: dict) -> dict | None:
    """Label issues ranked by score with the given and suggested label, outliers, the per-class
    error rates and the given-versus-suggested confusion. (Ranked lists are capped by report_rows.)"""
    art = artifacts.get("label_issues")
    if not art:
        return None
    keys = ("method", "accuracy", "majority_rate", "n_issues", "n_dropped", "n_outliers", "issues", "outliers",
            "per_class", "confusion", "warning", "skipped")
    return {k: art[k] for k in keys if k in art}


def thumbnail_uri(path: Path, size: int = 112) -> str | None:
    """A small JPEG data URI of an image, or None if it cannot be read."""
    from PIL import Image, ImageOps, UnidentifiedImageError

    from .pixels import eight_bit

    try:
        with Image.open(path) as im:
            im.draft("RGB", (size * 2, size * 2))
            im = eight_bit(ImageOps.exif_transpose(im)).convert("RGB")
            im.thumbnail((size, size))
            buf = io.BytesIO()
            im.save(buf, format="JPEG", quality=80)
    except (OSError, UnidentifiedImageError, ValueError, Image.DecompressionBombError):
        return None
    return "data:image/jpeg;base64," + base64.b64encode(buf.getvalue()).decode("ascii")


def image_examples(final: pd.DataFrame, split_col: str, per_label: int) -> list[dict]:
    picked = final.groupby(LABEL, dropna=False, sort=True).head(per_label)
    return [{"id": r[ID], "content": r[IMAGE], "label": r[LABEL], "split": r[split_col]}
            for r in picked[[ID, IMAGE, LABEL, split_col]].to_dict("records")]


def build_report_data(*, cfg, original: pd.DataFrame, bad: pd.DataFrame, final: pd.DataFrame,
                      ledger: pd.DataFrame, stats: list, artifacts: dict, leak: dict, split_col: str,
                      totals: dict) -> dict:
    content_col = TEXT if cfg.modality == "text" else IMAGE
    lookup = RowLookup(original, bad, content_col)
    rcfg = cfg.output.report
    _, names = label_names(cfg, final[LABEL])
    data = {
        "curator_version": __version__,
        "modality": cfg.modality,
        "seed": cfg.seed,
        "input": {"path": cfg.input.path, "format": cfg.input.format},
        "totals": totals,
        "flow": [s.as_dict() for s in stats],
        "splits": {name: int((final[split_col] == name).sum()) for name in cfg.split.ratios},
        "labels": {"names": names, "before": label_counts(original[LABEL]),
                   "after": {name: label_counts(final.loc[final[split_col] == name, LABEL])
                             for name in cfg.split.ratios}},
        "lengths": length_histogram(original[TEXT], final, split_col) if cfg.modality == "text" else None,
        "reasons": reason_examples(ledger, lookup, rcfg.examples_per_reason),
        "duplicate_groups": duplicate_groups(artifacts, lookup),
        "label_conflicts": int(sum(a.get("label_conflicts", 0) for a in artifacts.values())),
        "near_duplicates": near_summary(artifacts),
        "validation": validation_summary(artifacts),
        "label_issues": label_issue_summary(artifacts),
        "leak_check": leak,
        "augmentation": augmentation_summary(artifacts),
        "images": ({"examples": image_examples(final, split_col, max(1, rcfg.thumbnails // max(1, len(names))))}
                   if cfg.modality == "image" else None),
        "config": cfg.public_dict(),
    }
    return data


TRAIN_STEPS = ("rebalance", "augment")


def augmentation_summary(artifacts: dict) -> list[dict]:
    """The train-only steps' figures: class balance before/after, counts per augmenter, sample pairs."""
    return [{"step": name, **artifacts[name]} for name in TRAIN_STEPS if name in artifacts]


def augmentation_thumbnails(data: dict, root: Path, run_dir: Path) -> dict[str, str]:
    """Data URIs for image pairs: the original from the dataset root, the new image from the run dir."""
    out = {}
    for section in data.get("augmentation") or []:
        if section.get("modality") != "image":
            continue
        for pair in section.get("pairs", []):  # a bounded sample
            for row_id, rel, base in ((pair["parent_id"], pair["before"], root), (pair["id"], pair["after"], run_dir)):
                base = Path(base).resolve()
                path = (base / str(rel)).resolve()
                if path.is_relative_to(base) and path.is_file() and (uri := thumbnail_uri(path)):
                    out[row_id] = uri
    return out


def report_thumbnails(data: dict, root: Path, limit: int) -> dict[str, str]:
    """Data URIs for the images the report shows (examples, groups), at most ``limit`` + groups."""
    if data["modality"] != "image":
        return {}
    wanted: dict[str, str] = {}
    for ex in (data["images"] or {}).get("examples", [])[:limit]:
        wanted[ex["id"]] = ex["content"]
    for g in data["duplicate_groups"]:
        for r in [g["kept"], *g["dropped"]]:
            wanted[r["id"]] = r["content"]
    for reason in data["reasons"]:
        for ex in reason["examples"]:
            wanted[ex["id"]] = ex["content"]
    root = Path(root).resolve()
    out = {}
    for row_id, rel in wanted.items():  # a bounded sample for the report, not the table
        if not isinstance(rel, str) or "\x00" in rel:  # a NUL byte: no path at all (a dropped row's raw value)
            continue
        path = (root / rel).resolve()
        if path.is_relative_to(root) and path.is_file():
            uri = thumbnail_uri(path)
            if uri:
                out[row_id] = uri
    return out
