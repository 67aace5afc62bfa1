"""New rows made from parent rows, and the checks every new row must pass before it is kept.

A new row copies its parent (label, group, split, metadata), takes new content from a recipe (a
text flow, an image pipeline, or a plain copy) and gets:

- an id derived from its parent's id, the recipe, the seed and a copy number, so the same run makes
  the same ids, and a second copy of one parent gets another id;
- ``parent_id``, and ``augmenter`` (the augmenters that changed it, ``duplicate`` for a copy);
- a ledger detail holding the augmenter names and parameters as JSON.

Then it goes through the rule set again (the run's :class:`ValidateStep`): what a ``fix`` rule repairs
is kept, and the ledger gets the rule set's fixes and flags of the rows accepted, as in the main run;
the content hash is taken again. That hash is compared with its
parent's and with every existing row of every split, and with the other new rows.
A row that fails is discarded with ``augment:rule:<name>``, ``augment:duplicate``,
``augment:image_unreadable``, ``augment:image_transform_failed`` or ``augment:image_write_failed``
(returned as *rejected*: the runner counts it added, then dropped).
"""

from __future__ import annotations

import functools
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow.compute as pc

from ..dedup import CONTENT_HASH, content_hash
from ..ingest.decode import decode
from ..ledger import empty_decisions
from ..steps import Context
from ..table import ID, IMAGE, IMAGE_FORMAT, IMAGE_HASH, IMAGE_HEIGHT, IMAGE_WIDTH, PARENT_ID, TEXT, hash64, isin, to_hex
from .image import ImageAugmenter
from .text import TextFlow

AUGMENTER = "augmenter"
_SEP = "\x1f"
#: New rows per engine batch. Fixed, so a text batch (seeded from its first new id) holds the same rows
#: on every engine, and the local and Ray runs make the same texts.
AUGMENT_BATCH_ROWS = 2_048


def json_bodies(values: list[str]) -> np.ndarray:
    """Each string as ``json.dumps`` escapes it, without the quotes: one call for them all. Between two
    items the text is exactly ``", "``, which an escaped string cannot hold (its quotes are ``\\"``)."""
    if not values:
        return np.array([], dtype=object)
    return np.array(json.dumps(values)[2:-2].split('", "'), dtype=object)


def derived_ids(parent_ids: pd.Series, recipe: str, seed: int, copy: np.ndarray) -> np.ndarray:
    """16-hex ids from (parent id, recipe, seed, copy number): stable, and new for every copy."""
    keys = (parent_ids.astype(str).to_numpy() + f"{_SEP}{recipe}{_SEP}{seed}{_SEP}"
            + np.asarray(copy).astype(str).astype(object))
    return to_hex(hash64(keys))


def row_seeds(ids: np.ndarray) -> np.ndarray:
    """A 32-bit seed per new row, from its id (so a row's augmentation does not depend on its batch)."""
    return (hash64(np.asarray(ids, dtype=object), key=1) >> np.uint64(32)).astype(np.int64)


@dataclass
class Recipe:
    """How new content is made: ``text`` (a flow), ``image`` (a pipeline) or ``duplicate``."""

    kind: str
    text: TextFlow | None = None
    image: ImageAugmenter | None = None

    @property
    def name(self) -> str:
        if self.kind == "text":
            return "text:" + ",".join(s.name for s in self.text.steps)
        if self.kind == "image":
            return f"image:{self.image.name}"
        return "duplicate"


@dataclass
class RowMaker:
    """Makes candidate rows with a recipe and splits them into accepted and rejected."""

    recipe: Recipe
    modality: str
    normalize: Any            # the exact-dedup normalisation, so "duplicate" means what dedup means
    seed: int
    root: Path | None = None  # the dataset root (image sources)
    out_dir: Path | None = None  # the run directory being written (augmented images)
    validator: Any = None     # a ValidateStep, or None
    config: Any = None
    engine: Any = None        # where the augmenters' batches run (curator.engine); None: in this process
    known: pd.Index = field(default_factory=lambda: pd.Index([], dtype=object))  # content hashes in use
    #: What the rule set flagged and fixed on the new rows it checked ("flagged"/"fixed" -> decisions).
    ruled: dict[str, list[pd.DataFrame]] = field(default_factory=lambda: {"flagged": [], "fixed": []})

    def decisions_for(self, accepted: pd.DataFrame) -> tuple[pd.DataFrame, pd.DataFrame]:
        """(flagged, fixed) ledger decisions of the rule set on the ``accepted`` new rows, as the main
        run records them on its own rows (a rejected row's are moot: its drop is what is recorded)."""
        out = []
        for kind in ("flagged", "fixed"):
            frames = [f for f in self.ruled[kind] if len(f)]
            frame = pd.concat(frames, ignore_index=True) if frames else empty_decisions()
            out.append(frame[isin(frame["id"], accepted[ID])].reset_index(drop=True))
        return out[0], out[1]

    def remember(self, hashes: pd.Series) -> None:
        self.known = self.known.append(pd.Index(hashes.dropna().astype(str).to_numpy(), dtype=object))

    def make(self, parents: pd.DataFrame, copy: np.ndarray, reason: str) -> tuple[pd.DataFrame, pd.DataFrame]:
        """(accepted, rejected) new rows for ``parents`` (one per row; ``copy`` numbers them per parent)."""
        new = parents.copy()
        # The step (reason's prefix) is part of the id, so rebalance and augment never make the same id.
        new[ID] = derived_ids(parents[ID], f"{reason.split(':')[0]}/{self.recipe.name}", self.seed, copy)
        new[PARENT_ID] = parents[ID].to_numpy()
        new["reason"] = reason
        failed = pd.Series(None, index=new.index, dtype=object)
        names, params = self._content(new, failed)
        new[AUGMENTER] = names
        new["detail"] = self._details(new[AUGMENTER], params, copy, parents[ID])
        new[CONTENT_HASH] = self._hashes(new, failed)
        return self._check(new, parents, failed)

    def _details(self, names: pd.Series, params: dict, copy: np.ndarray, parent_ids: pd.Series) -> np.ndarray:
        """The ledger detail of each new row: JSON with its augmenters, their parameters, seed, copy, parent
        (keys sorted, compact), joined from a few pieces per flow and the parents' ids escaped in one call."""
        if names.empty:
            return np.array([], dtype=object)
        dump = functools.partial(json.dumps, sort_keys=True, separators=(",", ":"))
        flows = pd.unique(names)  # a few flows
        head = {n: '{"augmenter":' + dump(n) + ',"copy":' for n in flows}
        middle = {n: ',"params":' + dump({k: params.get(k, {}) for k in n.split("+")}) + ',"parent":"' for n in flows}
        pieces = [names.map(head).to_numpy(), np.asarray(copy, dtype=np.int64).astype(str).astype(object),
                  names.map(middle).to_numpy(), json_bodies(parent_ids.astype(str).tolist()), f'","seed":{self.seed}}}']
        return pc.binary_join_element_wise(*pieces, "").to_numpy(zero_copy_only=False)

    # -- making ---------------------------------------------------------------------------------
    def _content(self, new: pd.DataFrame, failed: pd.Series) -> tuple[list[str], dict]:
        kind = self.recipe.kind
        if kind == "duplicate":
            return ["duplicate"] * len(new), {"duplicate": {}}
        if kind == "text":
            flow = self.recipe.text
            texts, applied = self._map(new[[ID, TEXT]], functools.partial(augment_texts, flow))
            new[TEXT] = texts
            step_names = np.asarray([s.name for s in flow.steps], dtype=object)
            combos, which = np.unique(applied, axis=0, return_inverse=True)  # the few distinct flows taken
            names = np.array(["+".join(step_names[c]) for c in combos], dtype=object)[np.ravel(which)]
            return list(names), {s.name: s.params for s in flow.steps}
        image = self.recipe.image
        outcome = self._map(new[[ID, IMAGE]], functools.partial(augment_images, image, self.root, self.out_dir))
        failed[:] = pd.Series(outcome, index=failed.index, dtype=object)
        new[IMAGE] = image.relpath(new[ID])
        return [image.name] * len(new), {image.name: {"transforms": image.specs}}

    def _map(self, rows: pd.DataFrame, fn) -> Any:
        """``fn`` over fixed-size batches of ``rows``, on the run's engine (Ray tasks, or this process)."""
        if self.engine is None:
            return fn(rows)
        return self.engine.map_batches(rows, fn, heavy=True, batch_rows=AUGMENT_BATCH_ROWS)

    def _hashes(self, new: pd.DataFrame, failed: pd.Series) -> pd.Series:
        if self.modality == "text":
            return content_hash(new, "text", self.normalize)
        if self.recipe.kind == "duplicate":
            return new[IMAGE_HASH].astype(object)
        ok = failed.isna().to_numpy()
        decoded = [decode(str(Path(self.out_dir) / p)) if good else "" for p, good in zip(new[IMAGE], ok)]
        hashes = pd.Series([d[0] if isinstance(d, tuple) else None for d in decoded], index=new.index, dtype=object)
        for col, k in ((IMAGE_WIDTH, 1), (IMAGE_HEIGHT, 2), (IMAGE_FORMAT, 3)):
            if col in new:
                new[col] = [d[k] if isinstance(d, tuple) else None for d in decoded]
        new[IMAGE_HASH] = hashes
        return hashes

    # -- checking -------------------------------------------------------------------------------
    def _check(self, new: pd.DataFrame, parents: pd.DataFrame,
               failed: pd.Series) -> tuple[pd.DataFrame, pd.DataFrame]:
        reason = pd.Series(None, index=new.index, dtype=object)
        detail = pd.Series(None, index=new.index, dtype=object)

        def mark(mask, code: str, why) -> None:
            mask = pd.Series(np.asarray(mask), index=new.index) & reason.isna()
            reason[mask] = code
            detail[mask] = why[mask] if isinstance(why, pd.Series) else why

        code, why = failed.str[0], failed.str[1]
        for name in sorted(code.dropna().unique()):  # image_unreadable, image_transform_failed...
            mark(code.eq(name), f"augment:{name}", why)
        # The rules run first, so the duplicate checks compare the repaired content; their reasons come after.
        ruled = self._rules(new, reason.isna()) if self.validator is not None else None
        if self.recipe.kind != "duplicate":
            h = new[CONTENT_HASH]
            parent_hash = parents[CONTENT_HASH].to_numpy() if CONTENT_HASH in parents else \
                content_hash(parents, self.modality, self.normalize).to_numpy()
            mark(h.to_numpy() == parent_hash, "augment:duplicate", "the augmentation left the content unchanged")
            mark(isin(h, self.known), "augment:duplicate", "exact duplicate of an existing row")
            mark(h.duplicated() & reason.isna(), "augment:duplicate", "exact duplicate of another new row")
        if ruled is not None:
            mark(*ruled)
        bad = reason.notna()
        accepted = new[~bad]
        rejected = new[bad].assign(rejected_reason=reason[bad], rejected_detail=detail[bad])
        self.remember(accepted[CONTENT_HASH])
        return accepted, rejected

    def _rules(self, new: pd.DataFrame, todo: pd.Series) -> tuple[pd.Series, pd.Series, pd.Series]:
        """The rule set on the ``todo`` new rows, as in the main run: what its fix rules repair is written
        into ``new`` (content hash included). Returns a mask of failures, their reasons as
        augment:<reason>, and their details."""
        mask = pd.Series(False, index=new.index)
        why = pd.Series(None, index=new.index, dtype=object)
        rows = new[todo.to_numpy()]
        if rows.empty:
            return mask, why, why
        root = self.out_dir if self.modality == "image" and self.recipe.kind == "image" else self.root
        result = self.validator.apply(rows.drop(columns=["reason", "detail"]), Context(self.config, self.seed, root))
        self._repair(new, result)
        self.ruled["flagged"].append(result.flagged)
        self.ruled["fixed"].append(result.fixed)
        dropped = result.dropped.set_index("id")
        hit = isin(rows[ID], dropped.index)
        where = rows.index[np.asarray(hit)]
        mask[where] = True
        why[where] = dropped.loc[rows.loc[where, ID], "detail"].astype(str).to_numpy()
        codes = pd.Series("augment:" + dropped.loc[rows.loc[where, ID], "reason"].astype(str).to_numpy(), index=where)
        return mask, codes.reindex(new.index), why

    def _repair(self, new: pd.DataFrame, result) -> None:
        """Write the values the validator fixed into ``new`` and hash those rows again."""
        if result.table is None or result.fixed.empty:
            return
        columns = list(pd.unique(result.fixed["column"]))
        fixed = result.table.loc[isin(result.table[ID], result.fixed["id"]), columns]
        for column in columns:
            if column not in new or new[column].dtype != fixed[column].dtype:
                new[column] = new.get(column, pd.Series(None, index=new.index)).astype(object)
            new.loc[fixed.index, column] = fixed[column]
        new.loc[fixed.index, CONTENT_HASH] = content_hash(new.loc[fixed.index], self.modality,
                                                          self.normalize).to_numpy()


# -- batch functions (the engine runs them; row-local but for the text flow's per-batch seed) -----------
def augment_texts(flow: TextFlow, batch: pd.DataFrame) -> tuple[np.ndarray, np.ndarray]:
    """(new texts, applied augmenters) for a batch of new rows: one seed per batch, from its first id,
    so the same rows in the same batches get the same texts on any engine."""
    seed = int(row_seeds(batch[ID].to_numpy()[:1])[0]) if len(batch) else 0
    return flow.apply(batch[TEXT].fillna("").astype(str).tolist(), seed)


def augment_images(image: ImageAugmenter, root: Path | None, out_dir: Path | None, batch: pd.DataFrame) -> list:
    """Write a batch's augmented images (each seeded from its own id); per row, None or (reason code, detail)."""
    return image.augment(root, batch[IMAGE].astype(str).tolist(), row_seeds(batch[ID].to_numpy()), out_dir,
                         batch[ID].tolist())
