"""A reference index for decontamination: check new rows against a fixed set (a test set, a
benchmark) without hashing the reference again.

The index is one ``.npz`` file: the reference signatures, ids and (optionally) shingle sets, and a
JSON header with the MinHash parameters, the threshold and the bands it was built for. The header's
threshold and bands are a record only: the full signatures are stored, so a query bands them for
its own threshold. Loading it for a query made with other parameters is an
:class:`IndexMismatchError` naming each difference, since signatures made with other parameters
cannot be compared.
"""

from __future__ import annotations

import json
import os
import tempfile
import zipfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from ..errors import InputError, OutputError
from .containment import ensemble_candidates
from .lsh import WEIGHTS, band_keys, band_matches, estimated_jaccard, optimal_bands
from .minhash import MinHashParams, empty_rows, signatures
from .shingle import shingle_sets
from .shingle_sets import ShingleHashes, containment, jaccard

FORMAT = "curator.near.reference/1"


class IndexMismatchError(InputError):
    """A reference index was made with other MinHash parameters than the query."""


@dataclass(frozen=True)
class ReferenceIndex:
    """Reference rows ready to be queried: signatures, ids, optional shingle sets, parameters."""

    params: MinHashParams
    threshold: float
    bands: tuple[int, int]
    ids: np.ndarray
    signatures: np.ndarray
    sets: ShingleHashes | None = None

    @classmethod
    def build(cls, texts, ids=None, params: MinHashParams = MinHashParams(), threshold: float = 0.8, *,
              weights: tuple[float, float] = WEIGHTS, keep_sets: bool = True, workers: int = 2) -> ReferenceIndex:
        """Hash the reference texts once. ``threshold`` and the ``bands`` that ``weights`` pick for it
        (as in :func:`curator.near.lsh.near_duplicates`) are recorded, and are the defaults of
        :func:`query`; ``keep_sets`` stores the shingle sets too (needed for containment and exact
        verification; 8 bytes per distinct shingle)."""
        sigs = signatures(texts, params, workers=workers)
        ids = np.arange(len(sigs)).astype(str) if ids is None else np.asarray(ids).astype(str)
        if len(ids) != len(sigs):
            raise ValueError(f"expected one id per text, got {len(ids)} ids for {len(sigs)} texts")
        sets = shingle_sets(texts, params.shingle) if keep_sets else None
        bands = optimal_bands(threshold, params.num_perm, *weights)
        return cls(params, float(threshold), bands, ids, sigs, sets)

    def header(self) -> dict:
        """The JSON header saved with the arrays."""
        return {"format": FORMAT, "params": self.params.to_dict(), "threshold": self.threshold,
                "bands": list(self.bands), "rows": len(self.ids), "sets": self.sets is not None}

    def save(self, path: str | Path) -> Path:
        """Write the index to one ``.npz`` file (the suffix is added if missing), atomically: a
        temporary file in the same folder replaces the target only once it is whole."""
        path = Path(path)
        path = path if path.suffix == ".npz" else path.with_name(path.name + ".npz")
        arrays = {"header": np.array(json.dumps(self.header(), sort_keys=True)),
                  "signatures": self.signatures, "ids": self.ids}
        if self.sets is not None:
            arrays.update(set_hashes=self.sets.hashes, set_offsets=self.sets.offsets)
        try:
            fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
        except OSError as err:
            raise OutputError(f"{path}: cannot write the reference index: {err.strerror}") from None
        try:
            with os.fdopen(fd, "wb") as fh:
                np.savez(fh, **arrays)
            os.replace(tmp, path)
        finally:
            Path(tmp).unlink(missing_ok=True)
        return path

    @classmethod
    def load(cls, path: str | Path, expect: MinHashParams | None = None) -> ReferenceIndex:
        """Read an index; with ``expect``, refuse one made with other parameters. A file that is not
        a whole index (foreign, truncated, empty, arrays that disagree) is an :class:`InputError`
        naming the file and what was expected."""
        try:
            index = _read(Path(path))
        except (OSError, EOFError, ValueError, TypeError, KeyError, zipfile.BadZipFile) as err:
            raise InputError(f"{path}: expected a {FORMAT} index saved by `curator dedup --save-index`, "
                             f"got an unreadable file ({str(err) or type(err).__name__})") from None
        if expect is not None:
            index.check(expect)
        return index

    def check(self, params: MinHashParams) -> None:
        """Raise :class:`IndexMismatchError` unless ``params`` equal the index's."""
        diff = self.params.mismatches(params)
        if diff:
            raise IndexMismatchError("reference index and query differ in " + "; ".join(
                d.replace(" vs ", " (index) vs ") + " (query)" for d in diff))


_HEADER_KEYS = ("format", "params", "threshold", "bands", "rows", "sets")


def _read(path: Path) -> ReferenceIndex:
    """The index in ``path``, every array checked against the header and the others."""
    def bad(what: str) -> InputError:
        return InputError(f"{path}: expected a {FORMAT} index, {what}")

    with np.load(path, allow_pickle=False) as data:
        if not isinstance(data, np.lib.npyio.NpzFile):
            raise bad(f"got a single {type(data).__name__} (not an .npz archive)")
        missing = [k for k in ("header", "signatures", "ids") if k not in data.files]
        if missing:
            raise bad(f"got no {missing[0]!r} array (arrays: {', '.join(data.files) or 'none'})")
        header = json.loads(str(data["header"]))
        if not isinstance(header, dict) or header.get("format") != FORMAT:
            raise bad(f"got format {header.get('format') if isinstance(header, dict) else header!r}")
        missing = [k for k in _HEADER_KEYS if k not in header]
        if missing:
            raise bad(f"got a header without {missing[0]!r}")
        params, rows = MinHashParams.from_dict(header["params"]), int(header["rows"])
        sigs, ids = data["signatures"], data["ids"]
        sets = None
        if header["sets"]:
            if "set_hashes" not in data.files or "set_offsets" not in data.files:
                raise bad("got a header that promises shingle sets, and no set_hashes/set_offsets arrays")
            sets = ShingleHashes(data["set_hashes"], data["set_offsets"])
        index = ReferenceIndex(params, float(header["threshold"]), tuple(int(b) for b in header["bands"]), ids,
                               sigs, sets)
    if not 0.0 < index.threshold <= 1.0:
        raise bad(f"got threshold {index.threshold!r} (expected one in (0, 1])")
    if sigs.ndim != 2 or sigs.shape != (rows, params.num_perm) or sigs.dtype != np.dtype(params.dtype):
        raise bad(f"with {rows} signatures of {params.num_perm} {np.dtype(params.dtype).name} values, "
                  f"got signatures {sigs.shape} {sigs.dtype}")
    if ids.ndim != 1 or len(ids) != rows or ids.dtype.kind != "U":
        raise bad(f"with {rows} text ids (one per signature), got ids {ids.shape} {ids.dtype}")
    if sets is not None:
        off, hashes = sets.offsets, sets.hashes
        if (hashes.ndim != 1 or hashes.dtype != np.uint64 or off.ndim != 1 or off.dtype.kind not in "iu"
                or len(off) != rows + 1 or off[0] != 0 or off[-1] != len(hashes) or np.any(np.diff(off) < 0)):
            raise bad(f"with shingle sets for {rows} rows (uint64 hashes, {rows + 1} rising offsets from 0 to "
                      f"their count), got hashes {hashes.shape} {hashes.dtype} and offsets {off.shape} {off.dtype}")
    return index


def _jaccard_candidates(index: ReferenceIndex, new_sigs: np.ndarray, bands: tuple[int, int], max_bucket: int):
    b, r = bands
    ref_live, new_live = np.flatnonzero(~empty_rows(index.signatures)), np.flatnonzero(~empty_rows(new_sigs))
    ref_keys, new_keys = band_keys(index.signatures[ref_live], b, r), band_keys(new_sigs[new_live], b, r)
    codes = []
    for i in range(b):
        new, ref = band_matches(ref_keys[:, i], new_keys[:, i], max_bucket)
        codes.append(new_live[new] * len(index.ids) + ref_live[ref])
    code = np.unique(np.concatenate(codes))
    return code // max(len(index.ids), 1), code % max(len(index.ids), 1)


def query(index: ReferenceIndex, new_signatures: np.ndarray, params: MinHashParams, *,
          measure: str = "jaccard", new_sets: ShingleHashes | None = None, threshold: float | None = None,
          weights: tuple[float, float] = WEIGHTS, max_bucket: int = 100) -> pd.DataFrame:
    """Matches of new rows in the reference: ``new_row, ref_row, ref_id, similarity, measure``
    (plus ``direction`` for containment: ``new_in_ref`` or ``ref_in_new``).

    ``threshold`` defaults to the one the index was built for; the LSH bands are always
    :func:`~curator.near.lsh.optimal_bands` of the query's threshold and ``weights``, so an index
    built at 0.9 finds the same matches at 0.5 as one built at 0.5.
    ``jaccard`` verifies LSH candidates by estimated Jaccard (exact when both sides have sets);
    ``containment`` needs ``new_sets`` and the index's sets, and looks both ways: a truncated copy
    of a reference row, and a reference row pasted into a longer new one.
    """
    index.check(params)
    if new_signatures.ndim != 2 or new_signatures.shape[1] != params.num_perm:
        raise ValueError(f"expected an (n, {params.num_perm}) signature matrix, got {new_signatures.shape}")
    if measure not in ("jaccard", "containment"):
        raise ValueError(f"expected measure 'jaccard' or 'containment', got {measure!r}")
    if new_sets is not None and len(new_sets) != len(new_signatures):
        raise ValueError(f"expected shingle sets for {len(new_signatures)} new rows, got {len(new_sets)}")
    threshold = index.threshold if threshold is None else float(threshold)
    if measure == "containment":
        return _containment_query(index, new_signatures, params, new_sets, threshold)
    bands = optimal_bands(threshold, params.num_perm, *weights)
    new, ref = _jaccard_candidates(index, new_signatures, bands, max_bucket)
    exact = new_sets is not None and index.sets is not None
    sim = jaccard(new_sets, new, index.sets, ref) if exact else \
        estimated_jaccard(new_signatures, new, ref, other=index.signatures)
    ok = sim >= threshold
    return _frame(index, new[ok], ref[ok], sim[ok], "jaccard")


def _containment_query(index, new_sigs, params, new_sets, threshold) -> pd.DataFrame:
    if new_sets is None or index.sets is None:
        raise ValueError("expected shingle sets for the new rows and in the index (keep_sets=True) "
                         "for measure='containment', got none")
    kw = {"seed": params.seed, "scheme": params.scheme}
    a_new, a_ref = ensemble_candidates(new_sigs, new_sets.sizes(), index.signatures, index.sets.sizes(),
                                       threshold, **kw)
    b_ref, b_new = ensemble_candidates(index.signatures, index.sets.sizes(), new_sigs, new_sets.sizes(),
                                       threshold, **kw)
    sim_a = containment(new_sets, a_new, index.sets, a_ref)
    sim_b = containment(index.sets, b_ref, new_sets, b_new)
    ok_a, ok_b = sim_a >= threshold, sim_b >= threshold
    inside = _frame(index, a_new[ok_a], a_ref[ok_a], sim_a[ok_a], "containment").assign(direction="new_in_ref")
    holds = _frame(index, b_new[ok_b], b_ref[ok_b], sim_b[ok_b], "containment").assign(direction="ref_in_new")
    out = pd.concat([inside, holds], ignore_index=True)
    return out.sort_values(["new_row", "ref_row", "direction"], kind="stable").reset_index(drop=True)


def _frame(index: ReferenceIndex, new: np.ndarray, ref: np.ndarray, sim: np.ndarray, measure: str) -> pd.DataFrame:
    return pd.DataFrame({"new_row": new.astype(np.int64), "ref_row": ref.astype(np.int64),
                         "ref_id": index.ids[ref].astype(object), "similarity": sim.astype(np.float64),
                         "measure": measure})
