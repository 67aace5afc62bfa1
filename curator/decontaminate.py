"""Decontamination: drop rows that near-duplicate another dataset (a benchmark's test set, last
month's training set). The reference is hashed once into an index file that later checks reuse,
so new data is checked incrementally without re-hashing the reference."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from .config import Config, parse_config
from .errors import InputError
from .ingest import ingest
from .ingest.assemble import BAD_COLUMNS
from .near.lsh_index import ReferenceIndex, query
from .near.minhash import MinHashParams, signatures
from .near.shingle import ShingleConfig, shingle_sets
from .table import ID, TEXT


def minhash_params(p) -> MinHashParams:
    """MinHash parameters from a ``steps.dedup_near`` config."""
    return MinHashParams(num_perm=p.num_perm, seed=p.seed, shingle=ShingleConfig(p.shingle, p.n, p.normalize))


def _dataset_config(path: Path, text: str | None) -> Config:
    return parse_config({"input": {"path": str(Path(path).resolve())}, "modality": "text",
                         "columns": {"text": text, "label": "label"}}, source=str(path))


def load_reference(path: str | Path, p, *, text: str | None = None) -> tuple[ReferenceIndex, pd.DataFrame]:
    """A reference index: loaded from a saved ``.npz`` index, or built from a text dataset; and the
    reference rows ingest could not read (``id, source, reason, detail, raw``; none for an index)."""
    path = Path(path)
    params = minhash_params(p)
    if path.suffix == ".npz":
        if not path.is_file():
            raise InputError(f"{path}: reference index not found")
        index = ReferenceIndex.load(path, expect=params)
        if p.measure == "containment" and index.sets is None:
            raise InputError(f"{path}: measure containment needs the reference's shingle sets, and this index "
                             "has none (build it with keep_sets=True)")
        return index, pd.DataFrame(columns=BAD_COLUMNS)
    ingested = ingest(_dataset_config(path, text))
    table = ingested.table
    return ReferenceIndex.build(table[TEXT].to_numpy(dtype=object), table[ID].to_numpy(dtype=object), params,
                                p.threshold), ingested.bad


def matches_against(table: pd.DataFrame, index: ReferenceIndex, p) -> pd.DataFrame:
    """Rows of ``table`` that near-duplicate the reference: ``id, ref_id, similarity, measure``,
    one row per matched id (its closest reference row)."""
    params = minhash_params(p)
    texts = table[TEXT].to_numpy(dtype=object)
    sigs = signatures(texts, params)
    sets = shingle_sets(texts, params.shingle) if (p.measure == "containment" or index.sets is not None) else None
    found = query(index, sigs, params, measure=p.measure, new_sets=sets, threshold=p.threshold)
    found = found.sort_values(["new_row", "similarity"], ascending=[True, False]).drop_duplicates("new_row")
    return pd.DataFrame({"id": table[ID].to_numpy()[found["new_row"].to_numpy()],
                         "ref_id": found["ref_id"].to_numpy(), "similarity": found["similarity"].to_numpy(),
                         "measure": found["measure"].to_numpy()})


@dataclass
class DecontaminationResult:
    """``kept``: the clean rows; ``matches``: one per matched row; ``dropped`` and
    ``reference_dropped``: the rows of the dataset and of the reference that ingest could not read,
    with ``reason`` and ``detail``, so no row is lost unseen."""

    kept: pd.DataFrame
    matches: pd.DataFrame
    index_path: Path | None
    dropped: pd.DataFrame
    reference_dropped: pd.DataFrame


def decontaminate(dataset: str | Path, against: str | Path, p, *, text: str | None = None,
                  save_index: str | Path | None = None) -> DecontaminationResult:
    """Split ``dataset`` into rows that are clean and matches of ``against`` (dataset or index);
    ``text`` names the text column of both datasets."""
    index, reference_bad = load_reference(against, p, text=text)
    saved = index.save(save_index) if save_index is not None else None
    ingested = ingest(_dataset_config(Path(dataset), text))
    table = ingested.table
    matches = matches_against(table, index, p)
    kept = table[~table[ID].isin(matches["id"])].reset_index(drop=True)
    return DecontaminationResult(kept, matches, saved, ingested.bad, reference_bad)
