"""Label Studio JSON exports: a list of tasks, each with ``data`` and ``annotations``.

A row is a task's ``data``: text from ``data[columns.text]``, image from ``data[columns.image]``
(``/data/local-files/?d=<path>`` becomes ``<path>``, checked like any image path; other URLs are
kept as they are), every other key as metadata, and ``data["id"]`` as the row id when tasks carry
one. The label comes from the annotations that were not cancelled: the ``choices`` result (of the
control ``columns.from_name`` when set; several choices are joined, sorted, with ``|``). Several
annotators give the majority label (a tie goes to the first in sorted order). Metadata added:
``ls_task_id``, ``annotators`` (how many labelled the task) and ``ls_agreement`` (the share that
agrees with the label; None when nobody did).
"""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

from ..config import Config, Columns
from ..errors import InputError
from .encoding import codec
from .part import Part, PartBuilder, compact_json, object_frame

#: The working column that holds the voted label (a name no export uses).
LABEL_KEY = "\x00ls_label"
LOCAL_FILES = "/data/local-files/"


def read_labelstudio(path: Path, display: str, cfg: Config) -> Part:
    """Read one export into a Part (the per-task loop is the format's: one JSON document)."""
    tasks = _load(path, display, cfg.input.encoding)
    parts = PartBuilder(display)
    rows: list[dict[str, Any]] = []
    sources: list[str] = []
    positions: list[int] = []
    for i, task in enumerate(tasks):
        source = f"{display}#task{task.get('id', i) if isinstance(task, dict) else i}"
        data = task.get("data") if isinstance(task, dict) else None
        if not isinstance(data, dict):
            parts.add_bad(source, "malformed_json", "task has no 'data' object", compact_json(task), i)
            continue
        row = {k: compact_json(v) if isinstance(v, (dict, list)) else v for k, v in data.items()}
        if cfg.modality == "image" and isinstance(row.get(cfg.columns.image), str):
            row[cfg.columns.image] = local_path(row[cfg.columns.image])
        label, annotators, agreement = vote(task.get("annotations") or [], cfg.columns.from_name)
        row.update({LABEL_KEY: label, "ls_task_id": task.get("id"), "annotators": annotators,
                    "ls_agreement": agreement})
        rows.append(row)
        sources.append(source)
        positions.append(i)
    names = list(dict.fromkeys(k for row in rows for k in row))
    frame = object_frame({k: [row.get(k) for row in rows] for k in names}, len(rows))
    parts.add(frame, sources, positions)
    id_column = cfg.columns.id or ("id" if "id" in names else None)
    columns = Columns(text=cfg.columns.text, image=cfg.columns.image, label=LABEL_KEY, id=id_column)
    return parts.build(columns=columns, names=names)


def _load(path: Path, display: str, encoding: str) -> list:
    try:
        tasks = json.loads(path.read_text(encoding=codec(encoding)))
    except UnicodeDecodeError as err:
        raise InputError(f"{display}: not valid {encoding} text (first bad byte at offset {err.start}); "
                         "set input.encoding") from None
    except json.JSONDecodeError as err:
        raise InputError(f"{display}: not valid JSON ({err.msg} at line {err.lineno}, column {err.colno})") from None
    if isinstance(tasks, list) and not tasks:
        return tasks  # an export of no tasks: an empty dataset
    if not isinstance(tasks, list) or not any(isinstance(t, dict) and "data" in t for t in tasks):
        raise InputError(f"{display}: not a Label Studio export (expected a list of tasks, each with 'data')")
    return tasks


def local_path(value: str) -> str:
    """``/data/local-files/?d=<path>`` to ``<path>``; anything else unchanged."""
    if not value.startswith(LOCAL_FILES):
        return value
    found = parse_qs(urlsplit(value).query).get("d")
    return found[0] if found else value


def vote(annotations: list, from_name: str | None) -> tuple[str | None, int, float | None]:
    """(label, how many annotators gave one, share agreeing with the label)."""
    labels = []
    for ann in annotations:
        if isinstance(ann, dict) and not ann.get("was_cancelled"):
            choice = _choice(ann.get("result") or [], from_name)
            if choice is not None:
                labels.append(choice)
    if not labels:
        return None, 0, None
    counts = Counter(labels)
    top = max(counts.values())
    label = min(lab for lab, n in counts.items() if n == top)
    return label, len(labels), top / len(labels)


def _choice(results: list, from_name: str | None) -> str | None:
    for result in results:
        if not isinstance(result, dict) or (from_name is not None and result.get("from_name") != from_name):
            continue
        choices = (result.get("value") or {}).get("choices")
        if result.get("type", "choices") == "choices" and choices:
            return "|".join(sorted(str(c) for c in choices))
    return None
