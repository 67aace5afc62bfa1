"""The audit report: one self-contained HTML page that accounts for every row of a run.

The pipeline builds a plain dict (the same one it saves as ``report.json``) and calls
``render_html(data, thumbnails)``. The page needs nothing outside itself: CSS is inline, charts are
inline SVG (``curator.charts``), images are ``data:`` URIs, and it reads fully without JavaScript.

Jinja2 autoescaping is on, and nothing from the dataset is marked safe: row text, labels, ids,
details, file names and config values all reach the page as escaped text. Thumbnails must be
base64 PNG or JPEG data URIs; any other value is dropped.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from functools import lru_cache
from pathlib import Path
from typing import Any

import jinja2

from curator import charts

TEMPLATES = Path(__file__).parent / "templates"
TEMPLATE = "report.html"
CLIP_CHARS = 1200  # longest row text shown in full; the rest is cut with an ellipsis
TOP_LABELS = 50  # per-label charts and tables show the largest labels; the others are summed in one row
_THUMBNAIL = re.compile(r"data:image/(?:png|jpeg);base64,[A-Za-z0-9+/]+={0,2}")

__all__ = ["render_html", "clean_thumbnails"]


def render_html(data: Mapping[str, Any], thumbnails: Mapping[str, str] | None = None) -> str:
    """The audit page for one run's report dict; ``thumbnails`` maps row id to an image data URI."""
    if not isinstance(data, Mapping):
        raise TypeError(f"expected the report dict, got {type(data).__name__}")
    if thumbnails is not None and not isinstance(thumbnails, Mapping):
        raise TypeError(
            f"expected thumbnails as a dict of row id to data URI, got {type(thumbnails).__name__}"
        )
    return _environment().get_template(TEMPLATE).render(_view(data, clean_thumbnails(thumbnails)))


def clean_thumbnails(thumbnails: Mapping[str, str] | None) -> dict[str, str]:
    """Only the base64 PNG/JPEG data URIs, keyed by row id as a string; anything else is dropped."""
    return {
        str(row_id): uri
        for row_id, uri in (thumbnails or {}).items()
        if isinstance(uri, str) and _THUMBNAIL.fullmatch(uri)
    }


@lru_cache(maxsize=1)
def _environment() -> jinja2.Environment:
    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(TEMPLATES),
        autoescape=True,
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.filters.update(num=fmt_num, pct=fmt_pct, secs=fmt_secs, clip=clip)
    return env


# ---- jinja filters -------------------------------------------------------------------------


def fmt_num(value: Any) -> str:
    """Thousands separators for counts; a dash for a missing value."""
    if value is None:
        return "—"
    if isinstance(value, bool) or not isinstance(value, int | float):
        return str(value)
    if isinstance(value, float) and not value.is_integer():
        return f"{value:,.2f}"
    return f"{int(value):,}"


def fmt_pct(part: Any, whole: Any) -> str:
    """``part`` as a share of ``whole``, one decimal; a dash when the whole is zero or missing."""
    if not isinstance(part, int | float) or not isinstance(whole, int | float) or not whole:
        return "—"
    share = 100 * part / whole
    return "<0.1%" if 0 < share < 0.1 else f"{share:.1f}%"


def fmt_secs(value: Any) -> str:
    if not isinstance(value, int | float):
        return "—"
    if value < 1:
        return f"{value * 1000:.0f} ms"
    if value < 60:
        return f"{value:.2f} s"
    return f"{int(value // 60)} min {value % 60:.0f} s"


def clip(value: Any, chars: int = CLIP_CHARS) -> str:
    text = "" if value is None else str(value)
    return text if len(text) <= chars else text[: chars - 1] + "…"


# ---- the view: the report dict made total, so the template never meets a missing key -------


def _view(data: Mapping[str, Any], thumbs: dict[str, str]) -> dict[str, Any]:
    totals = {
        k: _int(_get(data, "totals").get(k))
        for k in ("rows_read", "rows_added", "rows_kept", "rows_dropped", "rows_flagged", "rows_fixed")
    }
    flow = [_stage(s, i) for i, s in enumerate(_list(data.get("flow")))]
    splits = {str(k): _int(v) for k, v in _get(data, "splits").items()}
    labels = _labels(_get(data, "labels"), splits)
    lengths = _lengths(data.get("lengths"), splits)
    modality = str(data.get("modality") or "text")
    return {
        "meta": {
            "version": data.get("curator_version"),
            "modality": modality,
            "seed": data.get("seed"),
            "input_path": _get(data, "input").get("path"),
            "input_format": _get(data, "input").get("format"),
        },
        "totals": totals,
        "balanced": totals["rows_read"] + totals["rows_added"]
        == totals["rows_kept"] + totals["rows_dropped"],
        "splits": splits,
        "flow": flow,
        "flow_chart": charts.flow(flow) if flow else None,
        "reasons": [_reason(r) for r in _list(data.get("reasons"))],
        "groups": [_group(g) for g in _list(data.get("duplicate_groups"))],
        "near": _near(data.get("near_duplicates")),
        "validation": _validation(data.get("validation")),
        "label_issues": _label_issues(data.get("label_issues")),
        "label_conflicts": _int(data.get("label_conflicts")),
        "labels": labels,
        "lengths": lengths,
        "images": [_row(r) for r in _list(_get(data, "images").get("examples"))],
        "show_images": modality == "image" or bool(_get(data, "images").get("examples")),
        "leak": _leak(data.get("leak_check")),
        "augmentation": [_augmentation(a) for a in _list(data.get("augmentation"))],
        "review": _review(data.get("review")),
        "outputs": [
            {"file": str(name), "rows": _get(info).get("rows"), "sha256": _get(info).get("sha256")}
            for name, info in _get(data, "outputs").items()
        ],
        "config": json.dumps(data.get("config") or {}, indent=2, ensure_ascii=False, default=str),
        "thumbs": thumbs,
    }


def _get(data: Any, key: str | None = None) -> Mapping[str, Any]:
    value = data.get(key) if key is not None and isinstance(data, Mapping) else data
    return value if isinstance(value, Mapping) else {}


def _list(value: Any) -> list:
    return list(value) if isinstance(value, list | tuple) else []


def _int(value: Any) -> int:
    return int(value) if isinstance(value, int | float) and not isinstance(value, bool) else 0


def _stage(step: Any, index: int) -> dict[str, Any]:
    step = _get(step)
    out = {k: _int(step.get(k)) for k in ("rows_in", "added", "dropped", "flagged", "fixed")}
    out["rows_out"] = (
        _int(step["rows_out"]) if "rows_out" in step else out["rows_in"] + out["added"] - out["dropped"]
    )
    out["name"] = str(step.get("name") or f"stage {index + 1}")
    out["seconds"] = step.get("seconds")
    out["reasons"] = {str(k): v for k, v in _get(step, "reasons").items()}
    return out


def _row(row: Any) -> dict[str, Any]:
    row = _get(row)
    keys = (
        "id",
        "content",
        "label",
        "detail",
        "related_id",
        "related_content",
        "source",
        "similarity",
        "score",
        "split",
    )
    out = {k: row.get(k) for k in keys}
    # Word-level differences against the kept row: [{"op": "equal"|"insert"|"delete", "text": ...}].
    out["diff"] = [
        {"op": str(_get(seg).get("op")), "text": str(_get(seg).get("text", ""))}
        for seg in _list(row.get("diff"))
        if _get(seg).get("op") in ("equal", "insert", "delete")
    ]
    out["id"] = "" if out["id"] is None else str(out["id"])
    out["related_id"] = None if out["related_id"] is None else str(out["related_id"])
    return out


def _reason(reason: Any) -> dict[str, Any]:
    reason = _get(reason)
    return {
        "step": reason.get("step"),
        "action": str(reason.get("action") or ""),
        "reason": reason.get("reason"),
        "count": _int(reason.get("count")),
        "examples": [_row(r) for r in _list(reason.get("examples"))],
    }


def _near(near: Any) -> dict[str, Any] | None:
    """The near-duplicate figures: similarity histogram and what other thresholds would do."""
    near = _get(near)
    if not near:
        return None
    hist = _get(near, "histogram")
    edges = [e for e in _list(hist.get("edges")) if isinstance(e, int | float)]
    counts = [_int(c) for c in _list(hist.get("counts"))]
    chart = None
    if len(edges) == len(counts) + 1 and counts:
        chart = charts.histogram(edges, {"verified pairs": counts}, "Similarity of near-duplicate pairs")
    cascade = {k: _int(v) for k, v in _get(near, "cascade").items()}
    return {"measure": near.get("measure"), "threshold": near.get("threshold"), "chart": chart,
            "counts": [_get(r) for r in _list(near.get("counts_near_threshold"))], "cascade": cascade or None}


def _validation(validation: Any) -> dict[str, Any] | None:
    """Per rule: its counts, failing examples, and fixes as before -> after; the per-class table."""
    validation = _get(validation)
    if not validation:
        return None
    rules = []
    for rule in _list(validation.get("rules")):
        rule = _get(rule)
        rules.append({
            "name": str(rule.get("name") or ""), "check": rule.get("check"), "field": rule.get("field"),
            "severity": str(rule.get("severity") or ""), "where": rule.get("where"),
            **{k: _int(rule.get(k)) for k in ("failed", "dropped", "flagged", "fixed")},
            "examples": [{"id": str(_get(e).get("id")), "value": _get(e).get("value"), "detail": _get(e).get("detail")}
                         for e in _list(rule.get("examples"))],
            "fixes": [{"id": str(_get(e).get("id")), "column": _get(e).get("column"), "before": _get(e).get("before"),
                       "after": _get(e).get("after")} for e in _list(rule.get("fix_examples"))],
        })
    checks = {str(k): _int(v) for k, v in _get(validation, "label_checks").items()}
    keys = ("label", "rows", "dropped", "flagged", "fixed")
    per_class, note = _top(_rows(validation.get("per_class"), keys), "rows",
                           lambda rest: {k: sum(_int(r[k]) for r in rest) for k in keys[1:]})
    return {"rules": rules, "label_checks": checks, "per_class": per_class, "per_class_note": note}


def _rows(rows: Any, keys: tuple[str, ...]) -> list[dict[str, Any]]:
    """Table rows with exactly ``keys`` (missing ones None), so the template never meets a gap."""
    return [{k: _get(r).get(k) for k in keys} for r in _list(rows)]


def _label_issues(found: Any) -> dict[str, Any] | None:
    """Suspected label errors ranked by score, outliers, per-class error rates and the confusion."""
    found = _get(found)
    if not found:
        return None
    method = _get(found, "method")
    keys = ("label", "rows", "issues", "outliers", "top_suggested")
    per_class, note = _top(_rows(found.get("per_class"), keys), "rows",
                           lambda rest: {k: sum(_int(r[k]) for r in rest) for k in keys[1:4]})
    confusion = {str(g): {str(k): _int(v) for k, v in _get(row).items()} for g, row in _get(found, "confusion").items()}
    given = sorted(sorted(confusion, key=lambda g: -sum(confusion[g].values()))[:TOP_LABELS])
    totals: dict[str, int] = {}
    for row in confusion.values():
        for k, v in row.items():
            totals[k] = totals.get(k, 0) + v
    suggested = sorted(sorted(totals, key=lambda k: -totals[k])[:TOP_LABELS])
    cut = len(given) < len(confusion) or len(suggested) < len(totals)
    return {
        "skipped": found.get("skipped"), "warning": found.get("warning"),
        "models": [str(m) for m in _list(method.get("models"))], "folds": method.get("folds"),
        "rounds": method.get("rounds"), "rows": method.get("rows"), "accuracy": found.get("accuracy"),
        "majority_rate": found.get("majority_rate"),
        **{k: _int(found.get(k)) for k in ("n_issues", "n_dropped", "n_outliers")},
        "issues": _rows(found.get("issues"), ("id", "given", "suggested", "score", "confidence", "content",
                                              "conflict_with")),
        "outliers": _rows(found.get("outliers"), ("id", "label", "z", "content")),
        "per_class": per_class, "per_class_note": note,
        "confusion": {"given": given, "suggested": suggested,
                      "cells": [[confusion[g].get(k, 0) for k in suggested] for g in given],
                      "note": f"The {TOP_LABELS} labels with the most suspected errors each way are shown." if cut else None},
    }


def _group(group: Any) -> dict[str, Any]:
    group = _get(group)
    dropped = [_row(r) for r in _list(group.get("dropped"))]
    return {
        "step": group.get("step"),
        "kind": group.get("kind"),
        "size": _int(group.get("size")) or len(dropped) + 1,
        "labels": [str(x) for x in _list(group.get("labels"))],
        "conflict": bool(group.get("conflict")),
        "kept": _row(group.get("kept")),
        "dropped": dropped,
    }


def _labels(labels: Mapping[str, Any], splits: Mapping[str, int]) -> dict[str, Any] | None:
    before = {str(k): _int(v) for k, v in _get(labels, "before").items()}
    after = {
        str(s): {str(k): _int(v) for k, v in _get(counts).items()}
        for s, counts in _get(labels, "after").items()
    }
    names = list(dict.fromkeys([str(n) for n in _list(labels.get("names"))]))
    seen = set(names)
    for counts in (before, *after.values()):
        names += [n for n in counts if n not in seen]
        seen.update(counts)
    if not names:
        return None
    columns = list(after) or [s for s in splits]
    rows = [
        {"name": n, "before": before.get(n, 0), "after": [after.get(s, {}).get(n, 0) for s in columns]}
        for n in names
    ]
    rows, note = _top(rows, "before", lambda rest: {
        "before": sum(r["before"] for r in rest),
        "after": [sum(r["after"][i] for r in rest) for i in range(len(columns))]})
    shown = [r["name"] for r in rows]
    series = {"before": [r["before"] for r in rows]}
    series.update({s: [r["after"][i] for r in rows] for i, s in enumerate(columns)})
    return {
        "columns": columns,
        "rows": rows,
        "note": note,
        "total_before": sum(before.values()),
        "total_after": [sum(after.get(s, {}).values()) for s in columns],
        "chart": charts.grouped_bars(shown, series, "Rows per label: before curation and in each split"),
    }


def _top(rows: list[dict], key: str, summed: Any) -> tuple[list[dict], str | None]:
    """The :data:`TOP_LABELS` rows with the largest ``key`` (largest first) and one more row, marked
    ``other``, that ``summed(rest)`` fills for all the others; and a note saying so. Fewer rows are
    returned as they are."""
    if len(rows) <= TOP_LABELS + 1:
        return rows, None
    order = sorted(range(len(rows)), key=lambda i: -_int(rows[i].get(key)))  # stable: ties keep their order
    top, rest = [rows[i] for i in order[:TOP_LABELS]], [rows[i] for i in order[TOP_LABELS:]]
    other = {k: None for k in rows[0]} | {"name": f"{len(rest):,} other labels", "label": None, "other": True}
    note = (f"The {TOP_LABELS} largest of {len(rows):,} labels are shown one by one; the other "
            f"{len(rest):,} are summed in the last row.")
    return [*top, other | summed(rest)], note


def _lengths(lengths: Any, splits: Mapping[str, int]) -> dict[str, Any] | None:
    if not isinstance(lengths, Mapping):
        return None
    edges = [e for e in _list(lengths.get("edges")) if isinstance(e, int | float) and not isinstance(e, bool)]
    if len(edges) < 2:
        return None
    bins = len(edges) - 1
    series = {"before": _list(lengths.get("before"))}
    series.update({str(s): _list(v) for s, v in _get(lengths, "after").items()})
    series = {k: [_int(x) for x in v][:bins] + [0] * (bins - len(v)) for k, v in series.items()}
    unit = str(lengths.get("unit") or "")
    return {
        "unit": unit,
        "columns": list(series),
        "bins": [
            {"low": edges[i], "high": edges[i + 1], "counts": [series[k][i] for k in series]}
            for i in range(bins)
        ],
        "chart": charts.histogram(
            edges, series, "Text length per row: before curation and in each split", unit
        ),
    }


def _review(section: Any) -> dict[str, Any] | None:
    """The review step's counts (``curator review`` decisions applied by this run), or None."""
    found = _get(section)
    if not found:
        return None
    keys = ("rows_decided", "dropped", "relabelled", "kept", "restored", "not_duplicate", "sent_to_labelstudio",
            "unknown_ids")
    return {"decisions_file": str(found.get("decisions_file") or ""), "warning": found.get("warning"),
            **{k: _int(found.get(k)) for k in keys}}


def _augmentation(section: Any) -> dict[str, Any]:
    """One train-only step: balance before/after (chart), counts per augmenter, original/new pairs."""
    section = _get(section)
    before = {str(k): _int(v) for k, v in _get(section, "before").items()}
    after = {str(k): _int(v) for k, v in _get(section, "after").items()}
    names = list(dict.fromkeys([*before, *after]))
    step = str(section.get("step") or "augment")
    pairs = []
    for p in _list(section.get("pairs")):
        p = _get(p)
        pairs.append({"augmenter": str(p.get("augmenter") or ""),
                      "before": _row({"id": p.get("parent_id"), "content": p.get("before"), "label": p.get("label")}),
                      "after": _row({"id": p.get("id"), "content": p.get("after"), "label": p.get("label"),
                                     "diff": p.get("diff")})})
    return {
        "step": step,
        "method": str(section.get("method") or "augment"),
        "strategy": section.get("strategy"),
        "counts": {k: _int(section.get(k)) for k in ("added", "discarded", "undersampled")},
        "discard_reasons": {str(k): _int(v) for k, v in _get(section, "discard_reasons").items()},
        "shortfall": {str(k): _int(v) for k, v in _get(section, "shortfall").items()},
        "per_augmenter": [{"name": str(k), "added": _int(_get(v).get("added")), "discarded": _int(_get(v).get("discarded"))}
                          for k, v in _get(section, "per_augmenter").items()],
        "rows": [{"name": n, "before": before.get(n, 0), "after": after.get(n, 0)} for n in names],
        "chart": charts.grouped_bars(names, {"before": [before.get(n, 0) for n in names],
                                             "after": [after.get(n, 0) for n in names]},
                                     f"Train rows per label: before and after {step}") if names else None,
        "pairs": pairs,
    }


def _leak(leak: Any) -> dict[str, Any] | None:
    if not isinstance(leak, Mapping):
        return None
    known = ("passed", "checked", "groups")
    return {
        "passed": leak.get("passed"),
        "checked": [str(x) for x in _list(leak.get("checked"))],
        "groups": leak.get("groups"),
        "extra": {
            str(k): json.dumps(v, ensure_ascii=False, default=str) if not isinstance(v, str) else v
            for k, v in leak.items()
            if k not in known
        },
    }
