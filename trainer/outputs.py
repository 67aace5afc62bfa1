"""Writing the results: the model directory, ``metrics.json`` and ``predictions.parquet``.

Predictions carry the run's ``id`` so curator can join them back: its label-issue step reads the
probabilities, and Label Studio takes the predicted label and its confidence as a pre-annotation.
``probabilities`` is a list in the order of ``labels`` (also stored in the file's metadata).
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from .models import plain_model, quiet_transformers


def write_json(data, path: Path) -> None:
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(json.dumps(data, indent=2, sort_keys=False, ensure_ascii=False) + "\n", encoding="utf-8")
    os.replace(tmp, path)


def prediction_frame(split: str, ids: np.ndarray, label_values: list, probs: np.ndarray, labels: list[str],
                     multi_label: bool, fold: np.ndarray | None = None) -> pd.DataFrame:
    names = np.asarray(labels, dtype=object)
    if multi_label:
        chosen = probs >= 0.5
        predicted = [list(names[row]) for row in chosen]
        confidence = np.where(chosen, probs, 1 - probs).min(axis=1) if len(probs) else np.zeros(0)
    else:
        top = probs.argmax(axis=1) if len(probs) else np.zeros(0, dtype=int)
        predicted = names[top].tolist()
        confidence = probs[np.arange(len(probs)), top] if len(probs) else np.zeros(0)
    return pd.DataFrame({
        "id": pd.array(ids, dtype="string"),
        "split": split,
        "label": label_values,
        "predicted_label": predicted,
        "confidence": confidence.astype(np.float32),
        "probabilities": list(probs.astype(np.float32)),
        "fold": pd.array(fold if fold is not None else [None] * len(ids), dtype="Int16"),
    })


def prediction_schema(multi_label: bool) -> pa.Schema:
    """The columns of ``predictions.parquet``, for a run that has no row to predict."""
    label = pa.list_(pa.string()) if multi_label else pa.string()
    return pa.schema([("id", pa.string()), ("split", pa.string()), ("label", label), ("predicted_label", label),
                      ("confidence", pa.float32()), ("probabilities", pa.list_(pa.float32())), ("fold", pa.int16())])


def write_predictions(frames: list[pd.DataFrame], labels: list[str], path: Path, multi_label: bool = False) -> None:
    if frames:
        table = pa.Table.from_pandas(pd.concat(frames, ignore_index=True), preserve_index=False)
    else:
        table = prediction_schema(multi_label).empty_table()
    meta = {**(table.schema.metadata or {}), b"trainer.labels": json.dumps(labels).encode()}
    tmp = path.with_name(path.name + ".tmp")
    pq.write_table(table.replace_schema_metadata(meta), tmp, compression="zstd")
    os.replace(tmp, path)


def save_model(model, processor, model_dir: Path) -> None:
    """``save_pretrained`` the model (LoRA merged in) with its tokenizer or image processor; the
    config carries ``id2label`` and ``label2id``."""
    model_dir.mkdir(parents=True, exist_ok=True)
    with quiet_transformers():
        plain_model(model).save_pretrained(model_dir)
        processor.save_pretrained(model_dir)
