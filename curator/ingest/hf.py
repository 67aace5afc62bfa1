"""Hugging Face ``datasets`` saved with ``save_to_disk``: a Dataset or a DatasetDict.

``datasets`` is imported only here, when such a directory is read. A DatasetDict gives the split
``input.hf_split`` names, or else every split in order with a metadata column ``hf_split``. A
``ClassLabel`` label column becomes the class names. ``source`` is ``<dir>[/<split>]:<row index>``.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from .. import progress
from ..config import Config
from ..errors import InputError
from .part import Part, PartBuilder, arrow_frame, check_content_type, join_sources

SPLIT_COLUMN = "hf_split"


def read_hf(path: Path, display: str, cfg: Config) -> list[Part]:
    """One Part per split read."""
    try:
        import datasets
    except ImportError:
        raise InputError(f"{display}: reading a Hugging Face dataset needs the datasets package; "
                         "pip install 'curator[hf]'") from None
    try:
        ds = datasets.load_from_disk(str(path))
    except (FileNotFoundError, ValueError, OSError) as err:
        raise InputError(f"{display}: not a dataset saved with save_to_disk ({str(err).splitlines()[0]})") from None
    if not isinstance(ds, datasets.DatasetDict):
        return [_read_split(ds, display, cfg, None)]
    if cfg.input.hf_split is not None:
        if cfg.input.hf_split not in ds:
            raise InputError(f"{display}: no split '{cfg.input.hf_split}'; splits are: {', '.join(ds)}")
        return [_read_split(ds[cfg.input.hf_split], f"{display}/{cfg.input.hf_split}", cfg, None)]
    return [_read_split(split, f"{display}/{name}", cfg, name) for name, split in ds.items()]


def _read_split(ds, display: str, cfg: Config, split: str | None) -> Part:
    import datasets

    label = cfg.columns.label
    names = ds.features[label].names if isinstance(ds.features.get(label), datasets.ClassLabel) else None
    check_content_type(display, ds.features.arrow_schema, cfg)
    parts = PartBuilder(display)
    start = 0
    with progress.task(f"reading {display}", total=len(ds)) as bar:
        for table in ds.with_format("arrow").iter(batch_size=cfg.input.chunk_rows):
            frame = arrow_frame(table)
            if names is not None:
                frame[label] = _class_names(table.column(label), names)
            if split is not None:
                frame[SPLIT_COLUMN] = pd.Series([split] * len(frame), dtype=object)
            index = np.arange(start, start + table.num_rows, dtype=np.int64)
            parts.add(frame, join_sources(f"{display}:", index), index)
            start += table.num_rows
            bar.advance(table.num_rows)
    return parts.build()


def _class_names(col: pa.ChunkedArray, names: list[str]) -> pd.Series:
    """ClassLabel ints to their names; -1 (no label) and nulls to None."""
    ints = pc.fill_null(col, -1).to_numpy().astype(np.int64)
    valid = (ints >= 0) & (ints < len(names))
    out = np.full(len(ints), None, dtype=object)
    out[valid] = np.array(names, dtype=object)[ints[valid]]
    return pd.Series(out, dtype=object)
