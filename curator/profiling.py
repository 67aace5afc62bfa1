"""``curator inspect``: a quick profile of a raw dataset, with no config file needed."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from .config import Normalize, parse_config
from .dedup import content_hash
from .ingest import ingest
from .ingest.sources import plan
from .table import ID, LABEL, SOURCE, TEXT


def guess_modality(path: Path, format: str = "auto") -> str:
    """What ingest reads as an image folder is an image dataset; anything else (a directory of data
    files too) is text. An image manifest needs the modality given."""
    found = plan(parse_config({"input": {"path": str(path.resolve()), "format": format}}, source="inspect"))
    return "image" if found.format == "imagefolder" else "text"


def inspect_dataset(path: str | Path, *, modality: str | None = None, format: str = "auto",
                    text: str | None = None, image: str | None = None, label: str = "label",
                    id: str | None = None, encoding: str = "utf-8") -> dict:
    """Rows, labels, lengths, exact duplicates and missing values of a dataset, as a dict."""
    path = Path(path)
    modality = modality or guess_modality(path, format)
    cfg = parse_config({"input": {"path": str(path.resolve()), "format": format, "encoding": encoding},
                        "modality": modality,
                        "columns": {"text": text, "image": image, "label": label, "id": id}},
                       source="inspect")
    result = ingest(cfg)
    table, bad = result.table, result.bad
    labels = table[LABEL].fillna("(missing)").astype(str).value_counts()
    key = content_hash(table, modality, Normalize())
    dup_rows = int((key.notna() & key.duplicated(keep="first")).sum())
    meta = [c for c in table.columns if c not in (ID, SOURCE)]
    profile = {
        "path": str(path),
        "modality": modality,
        "rows_read": result.rows_read,
        "rows": len(table),
        "unreadable": {str(k): int(v) for k, v in bad["reason"].value_counts().sort_index().items()},
        "columns": [str(c) for c in table.columns],
        "labels": {str(k): int(v) for k, v in labels.sort_index().items()},
        "missing": {str(c): int(table[c].isna().sum()) for c in meta if table[c].isna().any()},
        "exact_duplicates": {"extra_rows": dup_rows, "groups": int(key[key.duplicated(keep=False)].nunique())},
    }
    if modality == "text":
        lengths = table[TEXT].fillna("").astype(str).str.len().to_numpy()
        words = table[TEXT].fillna("").astype(str).str.split().str.len().to_numpy()
        if len(lengths):
            profile["lengths"] = {"chars_min": int(lengths.min()), "chars_median": float(np.median(lengths)),
                                  "chars_p95": float(np.percentile(lengths, 95)), "chars_max": int(lengths.max()),
                                  "words_mean": round(float(words.mean()), 2),
                                  "empty": int((table[TEXT].fillna("").str.strip() == "").sum())}
    else:
        decoded = table[table["image_width"].notna()]  # URLs are kept but not decoded
        w, h, formats = decoded["image_width"], decoded["image_height"], decoded["image_format"].value_counts()
        if len(decoded):
            profile["image_sizes"] = {"width_min": int(w.min()), "width_max": int(w.max()),
                                      "height_min": int(h.min()), "height_max": int(h.max()),
                                      "formats": {str(k): int(v) for k, v in formats.items()}}
    return profile
