"""Pre-annotations: the trainer's ``predictions.parquet`` or the label-issue step's suggestions
(a run directory's ``label_issues.parquet``).

Accepted columns: ``id``; the label in ``predicted_label`` (or ``prediction``, ``pred_label``,
``suggested_label``; a list is a multi-label prediction); the score in ``confidence`` (or ``score``,
``suggested_score``), else the highest of ``probabilities`` (a list in label order, or a label ->
probability map) or of ``prob_<label>`` columns; and optionally ``model_version``. ``confidence``
comes first because ``label_issues.parquet`` also has a ``score``: how surely the *given* label is
wrong, which is not the suggestion's confidence. Without a ``model_version`` column or
argument the version is ``<file stem>-<first 8 hex of the file's sha256>``, so pushing the same
file again adds nothing and a new file adds a new version beside the old one. A row with no
predicted label (null, ``""``, or a multi-label ``[]``) gets no pre-annotation; the loaded frame's
``attrs["no_label"]`` counts them.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from ..table import ID, LABEL, isin
from .errors import SourceError, UnknownLabelError
from .label_config import LabelSpace, _short
from .source import Source

LABEL_COLUMNS = ("predicted_label", "prediction", "pred_label", "suggested_label", "predicted")
SCORE_COLUMNS = ("confidence", "score", "suggested_score", "suggested_label_score")
MODEL_VERSION = "model_version"


def label_space(source: Source, modality: str | None = None) -> LabelSpace:
    """The labels a project needs for this source: the run's label list, else the data's labels.

    Labels holding ``|`` mark multi-label rows (curator's spelling of several labels, sorted);
    their parts become the choices.
    """
    declared = list(source.labels or [])
    seen = source.rows[LABEL].dropna().astype(str).unique().tolist()
    everything = declared + sorted(set(seen) - set(declared))
    multi = any("|" in label for label in everything)
    if multi:
        everything = [part for label in everything for part in label.split("|")]
    labels = tuple(dict.fromkeys(label for label in everything if label != ""))
    return LabelSpace(modality=modality or source.modality, labels=labels, multi_label=multi)


def load(path: str | Path, space: LabelSpace, *, model_version: str | None = None) -> pd.DataFrame:
    """``id, label, score, model_version`` for each predicted row; labels checked against ``space``."""
    path = Path(path)
    if not path.is_file():
        raise SourceError(f"{path}: predictions file not found")
    try:
        raw = (pd.read_parquet(path) if path.suffix == ".parquet"
               else pd.read_json(path, lines=True, dtype=False) if path.suffix in (".jsonl", ".ndjson")
               else pd.read_csv(path, dtype={ID: str}))
    except (ValueError, OSError) as err:
        raise SourceError(f"{path}: cannot read the predictions ({' '.join(str(err).split())[:160]})") from None
    label_col = next((c for c in LABEL_COLUMNS if c in raw), None)
    if ID not in raw or label_col is None:
        raise SourceError(f"{path}: expected an 'id' column and a label column (one of {', '.join(LABEL_COLUMNS)})")
    try:
        out = pd.DataFrame({ID: raw[ID].astype(str).to_numpy(dtype=object),
                            LABEL: _labels(raw[label_col].astype(object))})
        out["score"] = _score(raw, path)
    except pa.ArrowInvalid as err:  # a jsonl column that mixes lists, maps and plain values
        raise SourceError(f"{path}: cannot read the predictions ({' '.join(str(err).split())[:160]})") from None
    if MODEL_VERSION in raw and model_version is None:
        out[MODEL_VERSION] = raw[MODEL_VERSION].astype(str).to_numpy(dtype=object)
    else:
        out[MODEL_VERSION] = model_version or default_version(path)
    empty = out[LABEL].isna().to_numpy() | (out[LABEL] == "").to_numpy()
    out = out[~empty].reset_index(drop=True)
    out[LABEL] = out[LABEL].astype(str)
    _check_labels(out, space, path)
    out = out.drop_duplicates([ID, MODEL_VERSION], keep="last").reset_index(drop=True)
    out.attrs["no_label"] = int(empty.sum())
    return out


def _labels(values: pd.Series) -> np.ndarray:
    """Label strings; a list of labels (the trainer's multi-label prediction) becomes ``a|b``."""
    present = values.dropna()
    if not (len(present) and isinstance(present.iloc[0], list | tuple | np.ndarray)):  # a parquet column has one type
        return values.to_numpy()
    lists = pa.array(values)
    # a null inside a list spells "None", as str() does, so the label check names it rather than drop the row
    flat = pc.fill_null(pc.cast(pc.list_flatten(lists), pa.string()), "None")
    order = pc.sort_indices(pa.table({"row": pc.list_parent_indices(lists), "label": flat}),
                            sort_keys=[("row", "ascending"), ("label", "ascending")])  # each list's labels sorted
    lists = pa.ListArray.from_arrays(lists.offsets, flat.take(order), mask=lists.is_null())
    return pc.binary_join(lists, "|").to_numpy(zero_copy_only=False)


def default_version(path: Path) -> str:
    from ..export import sha256_file
    return f"{path.stem}-{sha256_file(path)[:8]}"


def _score(raw: pd.DataFrame, path: Path) -> np.ndarray:
    col = next((c for c in SCORE_COLUMNS if c in raw), None)
    if col is not None:
        return pd.to_numeric(raw[col], errors="coerce").to_numpy(dtype=float)
    if "probabilities" in raw:
        probs = raw["probabilities"]
        if not probs.notna().any():
            return np.full(len(raw), np.nan)
        first = probs.dropna().iloc[0]
        if isinstance(first, str):
            raise SourceError(f"{path}: 'probabilities' holds text such as {first[:40]!r}; a CSV cannot carry "
                              "lists: write one prob_<label> column per label, or JSONL or Parquet")
        if isinstance(first, dict):
            return _highest_in_maps(pa.array(probs))
        return _highest_in_lists(pa.array(probs))
    prob_cols = [c for c in raw.columns if str(c).startswith("prob_")]
    if prob_cols:
        return raw[prob_cols].apply(pd.to_numeric, errors="coerce").max(axis=1).to_numpy(dtype=float)
    return np.full(len(raw), np.nan)


def _highest_in_maps(maps: pa.StructArray) -> np.ndarray:
    """Each label -> probability map's highest value; NaN for a null or empty map."""
    fields = [pc.cast(field, pa.float64()) for field in maps.flatten()]  # a null map's fields are null
    if not fields:
        return np.full(len(maps), np.nan)
    return pc.max_element_wise(*fields).to_numpy(zero_copy_only=False)


def _highest_in_lists(lists: pa.ListArray) -> np.ndarray:
    """Each probability list's highest value (NaN when it holds a NaN or a null); NaN for a null or
    empty list."""
    values = pc.cast(pc.list_flatten(lists), pa.float64()).to_numpy(zero_copy_only=False)
    lengths = pc.fill_null(pc.list_value_length(lists), 0).to_numpy()
    starts = np.cumsum(lengths) - lengths
    out = np.full(len(lists), np.nan)
    full = lengths > 0
    if full.any():
        out[full] = np.maximum.reduceat(values, starts[full])
    return out


def _check_labels(preds: pd.DataFrame, space: LabelSpace, path: Path) -> None:
    flat = preds[LABEL].str.split("|").explode() if space.multi_label else preds[LABEL]
    bad = ~isin(flat.astype(str), pd.Series(list(space.labels), dtype=object))
    if bad.any():
        i = flat[bad].index[0]
        raise UnknownLabelError(f"{path}: predicted label {flat[bad].iloc[0]!r} (row id {preds[ID].iloc[i]!r}) "
                                f"is not in the label list {_short(list(space.labels))}")


def for_tasks(preds: pd.DataFrame, ids: pd.Series) -> pd.DataFrame:
    """The predictions whose id is among ``ids`` (the rows being pushed)."""
    return preds[isin(preds[ID], ids)].reset_index(drop=True)
