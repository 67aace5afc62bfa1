"""Parquet: ``ParquetFile.iter_batches``, one batch of ``input.chunk_rows`` rows at a time.

Columns keep their types (see ``part.arrow_series``); the text or image column must hold strings
(``part.check_content_type``). ``source`` is ``<file>:<row index>``.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from .. import progress
from ..config import Config
from ..errors import InputError
from .part import Part, PartBuilder, arrow_frame, check_content_type, check_unique_names, join_sources


def read_parquet(path: Path, display: str, cfg: Config) -> Part:
    """Read one Parquet file into a Part."""
    try:
        pf = pq.ParquetFile(path)
    except (pa.ArrowInvalid, OSError) as err:
        raise InputError(f"{display}: not a readable parquet file ({str(err).splitlines()[0]})") from None
    check_unique_names(display, pf.schema_arrow.names)
    check_content_type(display, pf.schema_arrow, cfg)
    parts = PartBuilder(display)
    start = 0
    with progress.task(f"reading {display}", total=pf.metadata.num_rows) as bar:
        try:
            for batch in pf.iter_batches(batch_size=cfg.input.chunk_rows):
                index = np.arange(start, start + batch.num_rows, dtype=np.int64)
                parts.add(arrow_frame(batch), join_sources(f"{display}:", index), index)
                start += batch.num_rows
                bar.advance(batch.num_rows)
        except (pa.ArrowInvalid, OSError) as err:
            raise InputError(f"{display}: parquet read failed after row {start} "
                             f"({str(err).splitlines()[0]})") from None
    return parts.build(names=pf.schema_arrow.names)
