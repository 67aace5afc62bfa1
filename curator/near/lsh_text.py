"""One call from raw texts to near-duplicate clusters, by Jaccard or by containment.

    result = find_near_duplicates(table["text"], MinHashParams(), threshold=0.8)
    result.cluster, result.match, result.similarity, result.pairs, result.measure
"""

from __future__ import annotations

from .containment import contained_duplicates
from .lsh import NearDuplicates, near_duplicates
from .minhash import MinHashParams, signatures
from .shingle import as_arrow, shingle_sets

MEASURES = ("jaccard", "containment")


def find_near_duplicates(texts, params: MinHashParams = MinHashParams(), threshold: float = 0.8, *,
                         measure: str = "jaccard", exact: bool = True, workers: int = 2) -> NearDuplicates:
    """Near-duplicate clusters of texts.

    ``jaccard``: LSH candidates verified by exact Jaccard on shingle sets (``exact=True``, only
    for rows in a candidate pair) or by the MinHash estimate (``exact=False``, no re-hashing).
    ``containment``: LSH Ensemble candidates verified by exact containment (a row inside a
    longer one); this always hashes every row's shingle set.
    """
    if measure not in MEASURES:
        raise ValueError(f"expected measure in {MEASURES}, got {measure!r}")
    arr = as_arrow(texts)
    sigs = signatures(arr, params, workers=workers)
    if measure == "containment":
        return contained_duplicates(sigs, shingle_sets(arr, params.shingle), threshold, seed=params.seed,
                                    scheme=params.scheme)
    return near_duplicates(sigs, threshold, texts=arr if exact else None, shingle=params.shingle)
