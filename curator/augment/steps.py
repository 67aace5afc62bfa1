"""The two train-only steps: ``rebalance`` (undersample and/or oversample to per-class goals) and
``augment`` (``copies`` augmented rows per train row). Both run after the split, on train alone, and
hand new rows to the runner with their parents; val and test never reach them.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from .. import progress
from ..audit import word_diff
from ..dedup import CONTENT_HASH, content_hash
from ..errors import ConfigError
from ..ledger import decisions, empty_decisions
from ..rebalance import (band_keys_for, first_plain_label, goals, label_counts, label_lists, label_matrix,
                         multilabel_parents, oversample_parents, redundancy, seeded_order, undersample)
from ..steps import Context, Step, StepResult
from ..table import ID, IMAGE, LABEL, PARENT_ID, TEXT
from .derive import AUGMENTER, Recipe, RowMaker
from .image import ImageAugmenter, pipeline_specs
from .text import TextFlow

RETRY_STRIDE = 1_000_000  # copy numbers of retries: far from the first tries' numbers, so ids never collide


@dataclass
class TrainContext:
    """What the train-only steps need from the run besides the train table."""

    config: Any
    others: pd.DataFrame            # val and test rows (their content hashes are off limits)
    out_dir: Path | None = None     # the run directory being written (augmented images go here)


def make_recipe(kind: str, cfg, train: pd.DataFrame) -> Recipe:
    if kind == "duplicate":
        return Recipe("duplicate")
    if cfg.modality == "text":
        return Recipe("text", text=TextFlow.from_specs(cfg.augment.text, train[TEXT].fillna("").astype(str).tolist()))
    name, specs = pipeline_specs(cfg.augment.image, cfg.resolve)
    return Recipe("image", image=ImageAugmenter(name, specs, ext="png" if cfg.augment.image.format == "png" else "jpg"))


def make_maker(kind: str, tctx: TrainContext, train: pd.DataFrame, ctx: Context) -> RowMaker:
    from ..validate import ValidateStep

    cfg = tctx.config
    normalize = cfg.steps.dedup_exact.normalize
    maker = RowMaker(make_recipe(kind, cfg, train), cfg.modality, normalize, ctx.seed, root=ctx.root,
                     out_dir=tctx.out_dir, config=cfg, engine=ctx.engine,
                     validator=ValidateStep.from_config(cfg) if cfg.steps.validate_.enabled else None)
    for frame in (train, tctx.others):
        if len(frame):
            maker.remember(frame[CONTENT_HASH] if CONTENT_HASH in frame else content_hash(frame, cfg.modality, normalize))
    return maker


def generate(maker: RowMaker, table: pd.DataFrame, positions: np.ndarray, copies: np.ndarray, reason: str | None,
             retries: int) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Make one new row per position; a discarded one is tried again (new copy number) up to ``retries`` times."""
    accepted, rejected = [], []
    pos, cp = np.asarray(positions, dtype=int), np.asarray(copies, dtype=np.int64)
    with progress.task(f"{maker.recipe.name}: new rows", total=len(pos)) as bar:
        for attempt in range(retries + 1):
            if len(pos) == 0:
                break
            parents = table.iloc[pos].reset_index(drop=True)
            ok, bad = maker.make(parents, cp, reason or "augment")
            if reason is None:
                ok = ok.assign(reason="augment:" + ok[AUGMENTER].astype(str))
                bad = bad.assign(reason="augment:" + bad[AUGMENTER].astype(str))
            accepted.append(ok)
            rejected.append(bad)
            bar.advance(len(ok))
            pos, cp = pos[bad.index.to_numpy()], cp[bad.index.to_numpy()] + RETRY_STRIDE * (attempt + 1)
    empty = table.iloc[0:0]
    return (pd.concat(accepted, ignore_index=True) if accepted else empty,
            pd.concat(rejected, ignore_index=True) if rejected else empty)


def _pairs(accepted: pd.DataFrame, table: pd.DataFrame, content: str, n: int) -> list[dict]:
    """A few original/augmented pairs for the report, one per parent, in id order."""
    if accepted.empty or n == 0:
        return []
    sample = accepted.sort_values(ID).drop_duplicates(PARENT_ID).head(n)
    parent = table.set_index(ID).loc[sample[PARENT_ID].to_numpy()]
    pairs = []
    for row, before in zip(sample.to_dict("records"), parent[content].tolist()):  # at most n pairs
        pair = {"id": row[ID], "parent_id": row[PARENT_ID], "label": str(row[LABEL]), "augmenter": row[AUGMENTER],
                "before": before, "after": row[content]}
        if content == TEXT:
            pair["diff"] = word_diff(before, row[content])
        pairs.append(pair)
    return pairs


def _per_augmenter(accepted: pd.DataFrame, rejected: pd.DataFrame) -> dict[str, dict[str, int]]:
    out: dict[str, dict[str, int]] = {}
    for key, frame in (("added", accepted), ("discarded", rejected)):
        if AUGMENTER not in frame or frame.empty:
            continue
        names = frame[AUGMENTER].astype(str).str.split("+").explode()  # a flow row counts for each augmenter
        for name, count in names.value_counts().sort_index().items():
            out.setdefault(str(name), {"added": 0, "discarded": 0})[key] = int(count)
    return out


def _artifacts(table: pd.DataFrame, dropped: pd.DataFrame, accepted: pd.DataFrame, rejected: pd.DataFrame,
               content: str, pairs: int, **extra) -> dict:
    after = pd.concat([table[~table[ID].isin(dropped["id"])], accepted], ignore_index=True)
    return {"before": label_counts(table[LABEL]), "after": label_counts(after[LABEL]), "added": len(accepted),
            "discarded": len(rejected), "undersampled": len(dropped),
            "discard_reasons": {str(k): int(v) for k, v in
                                rejected.get("rejected_reason", pd.Series(dtype=object)).value_counts().items()},
            "per_augmenter": _per_augmenter(accepted, rejected), "pairs": _pairs(accepted, table, content, pairs),
            "modality": "text" if content == TEXT else "image", **extra}


class RebalanceStep(Step):
    name = "rebalance"

    def __init__(self, tctx: TrainContext) -> None:
        self.tctx, self.cfg = tctx, tctx.config

    def apply(self, table: pd.DataFrame, ctx: Context) -> StepResult:
        rcfg, content = self.cfg.rebalance, TEXT if self.cfg.modality == "text" else IMAGE
        lists = None if rcfg.multi_label == "no" else label_lists(table[LABEL])
        if rcfg.multi_label == "yes" and lists is None:
            at = first_plain_label(table[LABEL])
            where = "" if at is None else f": row {table[ID].iloc[at]} has {table[LABEL].iloc[at]!r}"
            raise ConfigError("rebalance.multi_label: yes, but the label column does not hold lists "
                              f"(JSON arrays such as [\"a\", \"b\"]){where}")
        order = seeded_order(table[ID], ctx.seed)
        if lists is None:
            counts = table[LABEL].astype(str).value_counts().sort_index()
            wanted = goals(counts, rcfg.strategy, rcfg.target, rcfg.max_ratio)
            dropped = self._undersample(table, counts, wanted, order, ctx)
            positions, copies = oversample_parents(table, (wanted - counts).clip(lower=0), order)
        else:
            if rcfg.strategy != "oversample":
                raise ConfigError("rebalance.strategy: multi-label rows can only be oversampled (strategy: oversample)")
            matrix, names = label_matrix(lists)
            counts = pd.Series(matrix.sum(axis=0), index=names)
            wanted = goals(counts, "oversample", rcfg.target, rcfg.max_ratio)
            positions = multilabel_parents(matrix, wanted.to_numpy(), ctx.seed, max_rows=int(wanted.sum()))
            copies = pd.Series(positions).groupby(positions).cumcount().to_numpy()
            dropped = empty_decisions()
        if len(positions) == 0:
            return StepResult(dropped=dropped, artifacts=_artifacts(
                table, dropped, table.iloc[0:0], table.iloc[0:0], content, 0, strategy=rcfg.strategy,
                method=rcfg.method, goal={str(k): int(v) for k, v in wanted.items()}, multi_label=lists is not None))
        maker = make_maker(rcfg.method, self.tctx, table, ctx)
        accepted, rejected = generate(maker, table, positions, copies, "rebalance:oversample",
                                      self.cfg.augment.retries)
        after = label_counts(pd.concat([table[~table[ID].isin(dropped["id"])][LABEL], accepted[LABEL]]))
        short = {str(k): int(v - after.get(str(k), 0)) for k, v in wanted.items() if after.get(str(k), 0) < v}
        flagged, fixed = maker.decisions_for(accepted)
        artifacts = _artifacts(table, dropped, accepted, rejected, content, self.cfg.augment.report_pairs,
                               strategy=rcfg.strategy, method=rcfg.method, shortfall=short,
                               goal={str(k): int(v) for k, v in wanted.items()}, multi_label=lists is not None)
        return StepResult(dropped=dropped, added=accepted, rejected=rejected, flagged=flagged, fixed=fixed,
                          artifacts=artifacts)

    def _undersample(self, table: pd.DataFrame, counts: pd.Series, wanted: pd.Series, order: np.ndarray,
                     ctx: Context) -> pd.DataFrame:
        surplus = (counts - wanted).clip(lower=0)
        if not surplus.any():
            return empty_decisions()
        keys = band_keys_for(table, self.cfg.modality, ctx.root, self.cfg.steps.dedup_near)
        score = redundancy(keys, table[LABEL], order)
        pos = undersample(table, surplus, score, order)
        label = table[LABEL].astype(str).to_numpy()[pos]
        detail = ("redundancy " + pd.Series(score[pos]).round(3).astype(str) + "; class " + label + " had "
                  + pd.Series(label).map(counts).astype(str) + " rows, goal " + pd.Series(label).map(wanted).astype(str))
        return decisions(table[ID].iloc[pos], "rebalance:undersample", detail)


class AugmentStep(Step):
    name = "augment"

    def __init__(self, tctx: TrainContext) -> None:
        self.tctx, self.cfg = tctx, tctx.config

    def apply(self, table: pd.DataFrame, ctx: Context) -> StepResult:
        acfg, content = self.cfg.augment, TEXT if self.cfg.modality == "text" else IMAGE
        originals = np.flatnonzero(table[PARENT_ID].isna().to_numpy()) if PARENT_ID in table else np.arange(len(table))
        positions = np.repeat(originals, acfg.copies)
        copies = np.tile(np.arange(acfg.copies), len(originals))
        maker = make_maker("augment", self.tctx, table, ctx)
        accepted, rejected = generate(maker, table, positions, copies, None, acfg.retries)
        flagged, fixed = maker.decisions_for(accepted)
        return StepResult(added=accepted, rejected=rejected, flagged=flagged, fixed=fixed, artifacts=_artifacts(
            table, empty_decisions(), accepted, rejected, content, acfg.report_pairs, copies=acfg.copies,
            method="augment"))


def train_steps(tctx: TrainContext) -> list[Step]:
    """The train-only steps the config turns on, in order: rebalance, then augment."""
    steps: list[Step] = []
    if tctx.config.rebalance.enabled:
        steps.append(RebalanceStep(tctx))
    if tctx.config.augment.enabled:
        steps.append(AugmentStep(tctx))
    return steps
