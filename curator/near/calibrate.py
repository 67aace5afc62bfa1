"""Pick a near-duplicate threshold from labelled pairs.

Input: a table (or CSV) with columns ``text_a, text_b, duplicate``, duplicate one of 1/0, true/false,
yes/no (any case). For each pair we compute the estimated Jaccard (MinHash, what the dedup step
uses) and the exact Jaccard (shingle sets), then precision, recall and F1 at each threshold from
0.30 to 0.95 in steps of 0.05, and suggest the threshold of best estimated F1 (ties go to the
higher threshold, the more conservative choice). A pair with an empty side (no shingles) scores 0:
an empty text is no evidence of a duplicate. Both classes must be present, and when F1 is 0 at
every threshold there is no suggestion.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from ..errors import InputError
from .minhash import MinHashParams, signatures
from .shingle import shingle_sets
from .shingle_sets import jaccard

COLUMNS = ("text_a", "text_b", "duplicate")
THRESHOLDS = tuple(round(0.30 + 0.05 * i, 2) for i in range(14))
_TRUE, _FALSE = {"1", "true", "yes"}, {"0", "false", "no"}


class CalibrationInputError(InputError):
    """Labelled pairs are unreadable, lack a column, carry a label that is not yes/no, or lack a class."""


@dataclass(frozen=True)
class Calibration:
    """``table``: one row per threshold; ``threshold``: the suggestion, None when no threshold
    separates the pairs (F1 is 0 at every one); ``pairs``: the input with ``estimated`` and
    ``exact`` Jaccard per pair."""

    table: pd.DataFrame
    threshold: float | None
    pairs: pd.DataFrame


def read_pairs(path: str | Path) -> pd.DataFrame:
    """Read a labelled-pairs CSV (UTF-8), every column as text (empty cells stay empty strings). A
    file that is not one (empty, bad quoting, not UTF-8, a row longer than the header) is a
    :class:`CalibrationInputError` naming it."""
    expected = f"{path}: expected a UTF-8 CSV with columns {', '.join(COLUMNS)}"
    try:
        with warnings.catch_warnings():  # a row longer than the header would lose a cell quietly
            warnings.simplefilter("error", pd.errors.ParserWarning)
            return pd.read_csv(path, dtype=str, keep_default_na=False, index_col=False, encoding="utf-8")
    except pd.errors.EmptyDataError:
        raise CalibrationInputError(f"{expected}, got an empty file") from None
    except UnicodeDecodeError as err:
        raise CalibrationInputError(f"{expected}, got bytes that are not UTF-8 ({err.reason})") from None
    except (pd.errors.ParserError, pd.errors.ParserWarning) as err:
        raise CalibrationInputError(f"{expected}, got a row it cannot read: {' '.join(str(err).split())}") from None


def labels(values: pd.Series) -> np.ndarray:
    """The duplicate column as booleans; an unknown value is an error naming its row."""
    text = values.astype(object).where(values.notna(), "").astype(str).str.strip().str.lower()
    bad = ~text.isin(_TRUE | _FALSE)
    if bad.any():
        i = int(np.flatnonzero(bad.to_numpy())[0])
        raise CalibrationInputError(
            f"duplicate: expected one of 1/0, true/false, yes/no, got {values.iloc[i]!r} in row {i + 1} "
            f"(line {i + 2} of a CSV with a header)")
    return text.isin(_TRUE).to_numpy()


def _scores(truth: np.ndarray, score: np.ndarray, thresholds) -> pd.DataFrame:
    """tp, fp, fn, precision, recall, F1 of ``score >= t`` against ``truth`` at each threshold."""
    t = np.asarray(thresholds, dtype=np.float64)[:, None]
    hit = score[None, :] >= t - 1e-12
    tp = (hit & truth).sum(1)
    fp = (hit & ~truth).sum(1)
    fn = (~hit & truth).sum(1)
    with np.errstate(invalid="ignore", divide="ignore"):
        precision = np.where(tp + fp > 0, tp / (tp + fp), np.nan)
        recall = np.where(tp + fn > 0, tp / (tp + fn), np.nan)
        f1 = np.where(2 * tp + fp + fn > 0, 2 * tp / (2 * tp + fp + fn), 0.0)
    return pd.DataFrame({"tp": tp, "fp": fp, "fn": fn, "precision": precision, "recall": recall, "f1": f1})


def calibrate(pairs: pd.DataFrame, params: MinHashParams | None = None,
              thresholds=THRESHOLDS) -> Calibration:
    """Precision and recall per threshold on labelled pairs, and the threshold of best F1.

    ``params`` default to the near-dedup step's defaults, normalisation included; to tune a configured
    step pass ``curator.decontaminate.minhash_params(config.steps.dedup_near)`` (what the CLI does).
    """
    if params is None:
        from ..config import NearDedupConfig
        from ..decontaminate import minhash_params

        params = minhash_params(NearDedupConfig())
    missing = [c for c in COLUMNS if c not in pairs.columns]
    if missing:
        raise CalibrationInputError(f"expected columns {', '.join(COLUMNS)}, missing {', '.join(missing)}")
    if len(pairs) == 0:
        raise CalibrationInputError("expected at least one labelled pair, got none")
    truth = labels(pairs["duplicate"])
    if truth.all() or not truth.any():
        raise CalibrationInputError(f"duplicate: expected both duplicate and non-duplicate pairs, got {len(truth)} "
                                    f"pair{'s' if len(truth) > 1 else ''}, all labelled "
                                    + ("duplicate" if truth.any() else "not duplicate"))
    n = len(pairs)
    texts = pd.concat([pairs["text_a"], pairs["text_b"]], ignore_index=True)
    sigs = signatures(texts, params)
    a, b = np.arange(n), np.arange(n, 2 * n)
    sets = shingle_sets(texts, params.shingle)
    empty = (sets.sizes()[a] == 0) | (sets.sizes()[b] == 0)  # two empty signatures are equal: not a match
    estimated = np.where(empty, 0.0, np.count_nonzero(sigs[a] == sigs[b], axis=1) / float(params.num_perm))
    exact = jaccard(sets, a, sets, b)
    table = _scores(truth, estimated, thresholds)
    exact_table = _scores(truth, exact, thresholds).add_prefix("exact_")
    table = pd.concat([pd.DataFrame({"threshold": list(thresholds)}), table,
                       exact_table[["exact_precision", "exact_recall", "exact_f1"]]], axis=1)
    best = table["f1"] == table["f1"].max()
    suggested = float(table.loc[best, "threshold"].max()) if table["f1"].max() > 0 else None
    scored = pairs.assign(duplicate=truth, estimated=estimated, exact=exact)
    return Calibration(table, suggested, scored)
