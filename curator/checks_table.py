"""Table and label checks: required columns, not null, unique, dtype, value range, allowed values
(labels included, with near-miss fixes) and cross-field expressions."""

from __future__ import annotations

import builtins
import difflib
import re

import numpy as np
import pandas as pd
import pyarrow.compute as pc

from . import expression
from .checks import CheckContext, check, fixer, series, text_array
from .errors import RuleError
from .table import isin


@check("required_columns", params={"columns": list[str]}, field=False)
def required_columns(values, table: pd.DataFrame, columns: list[str]):
    """Rows missing a value in any of ``columns`` fail; a column the table lacks fails every row."""
    absent = [c for c in columns if c not in table.columns]
    if absent:
        return pd.Series(True, index=table.index), f"the table has no column {absent[0]!r}"
    missing = table[columns].isna()
    failed = missing.any(axis=1)
    first = pd.Series(np.asarray(columns, dtype=object)[missing.to_numpy().argmax(axis=1)], index=table.index)
    return failed, "missing " + first[failed]


@check("not_null")
def not_null(values: pd.Series):
    """Missing values (None, NaN) fail."""
    return values.isna(), "missing value"


@check("unique", params={"ignore_case": bool}, row_local=False)
def unique(values: pd.Series, ignore_case: bool = False):
    """Values that occur more than once fail (missing values are not compared)."""
    text = text_array(values)
    if ignore_case:
        text = pc.utf8_lower(text)
    key = series(text, values.index)
    dup = key.duplicated(keep=False) & key.notna()
    counts = key[dup].map(key[dup].value_counts())
    return dup, "value occurs " + counts.astype(str) + " times"


_DTYPES = ("int", "float", "number", "bool", "string", "datetime")
_TRUE_FALSE = ["true", "false", "yes", "no", "1", "0", "t", "f", "y", "n"]


def _dtype_problem(params: dict) -> str | None:
    if params["type"] not in _DTYPES:
        return f"param 'type' of check 'dtype' expected one of {', '.join(_DTYPES)}, got {params['type']!r}"
    return None


@check("dtype", params={"type": str, "format": str}, validate=_dtype_problem)
def dtype(values: pd.Series, type: str, format: str = ""):  # noqa: A002 - the rule file's word
    """Values that are not of ``type`` (or do not parse as it) fail; missing values pass."""
    present = values.notna()
    if type in ("int", "float", "number"):
        if pd.api.types.is_bool_dtype(values.dtype):
            ok = pd.Series(False, index=values.index)
        else:
            num = pd.to_numeric(values if pd.api.types.is_numeric_dtype(values.dtype) else series(text_array(values), values.index),
                                errors="coerce")
            ok = num.notna()
            if type == "int":
                ok &= np.isfinite(num.fillna(0.5)) & num.fillna(0.5).mod(1).eq(0)
    elif type == "bool":
        if pd.api.types.is_bool_dtype(values.dtype):
            ok = pd.Series(True, index=values.index)
        else:
            text = pc.utf8_lower(pc.utf8_trim_whitespace(text_array(values)))
            ok = series(pc.is_in(text, value_set=pc.cast(_TRUE_FALSE, text.type)), values.index).astype(bool)
    elif type == "string":
        if isinstance(values.dtype, pd.StringDtype) or pd.api.types.is_string_dtype(values.dtype) and \
                pd.api.types.infer_dtype(values, skipna=True) in ("string", "empty"):
            ok = pd.Series(True, index=values.index)
        else:  # a mixed object column: which cells hold text (map with a builtin, in C)
            ok = values.map(builtins.type, na_action="ignore").eq(str) | values.isna()
    else:  # datetime
        parsed = pd.to_datetime(series(text_array(values), values.index), errors="coerce",
                                format=format or "ISO8601", utc=True)
        ok = parsed.notna()
    failed = present & ~ok
    return failed, "not " + ("an " if type == "int" else "a ") + type + ": " + _show(values[failed])


def _show(values: pd.Series, width: int = 40) -> pd.Series:
    """Short repr-like text of values, for details."""
    text = series(pc.utf8_slice_codeunits(text_array(values), 0, width), values.index)
    return "'" + text.fillna("None").astype(str) + "'"


@check("value_range", params={"min": float, "max": float})
def value_range(values: pd.Series, min: float = float("-inf"), max: float = float("inf")):  # noqa: A002
    """Numbers outside ``[min, max]`` fail, and so do values that are not numbers; missing values pass."""
    num = pd.to_numeric(values if pd.api.types.is_numeric_dtype(values.dtype) else series(text_array(values), values.index),
                        errors="coerce")
    failed = values.notna() & ~num.between(min, max)
    return failed, _show(values[failed]) + f" is not a number in [{min:g}, {max:g}]"


# -- allowed values and labels, with near-miss suggestions ----------------------------------------

def _key(text: str) -> str:
    """Compare labels case-, space- and punctuation-insensitively."""
    return re.sub(r"[\W_]+", "", text.casefold())


def suggestions(unknown, allowed: list[str], cutoff: float = 0.8) -> dict:
    """The allowed value each unknown value most probably meant, where one clearly stands out.

    Case, spacing and punctuation are ignored first ("Positive " -> "positive"); then a value within
    ``cutoff`` similarity of exactly one allowed value ("Positve" -> "positive") is suggested. Runs
    once per distinct value, never per row.
    """
    keyed: dict[str, list[str]] = {}
    for a in allowed:
        keyed.setdefault(_key(a), []).append(a)
    out = {}
    for value in unknown:
        if len(str(value)) > 200:  # not a label, and too long to compare cheaply
            continue
        k = _key(str(value))
        if k in keyed and len(keyed[k]) == 1:
            out[value] = keyed[k][0]
            continue
        scores = sorted(((difflib.SequenceMatcher(None, k, ak).ratio(), ak) for ak in keyed if len(keyed[ak]) == 1),
                        reverse=True)
        if scores and scores[0][0] >= cutoff and (len(scores) == 1 or scores[0][0] - scores[1][0] >= 0.1):
            out[value] = keyed[scores[0][1]][0]
    return out


def _not_allowed(values: pd.Series, allowed: list[str], cutoff: float, what: str):
    present = values.notna()
    failed = present & ~pd.Series(isin(series(text_array(values), values.index), allowed), index=values.index)
    bad = values[failed]
    text = series(text_array(bad), bad.index)
    hints = suggestions(pd.unique(text.dropna()), allowed, cutoff)  # once per distinct value
    notes = {v: f" (did you mean {h!r}?)" for v, h in hints.items()}
    note = text.map(notes)
    return failed, what + " " + _show(bad) + " is not allowed" + note.where(note.notna(), "").astype(str)


def _suggest(values: pd.Series, allowed: list[str], cutoff: float) -> pd.Series:
    text = series(text_array(values), values.index)
    hinted = text.map(suggestions(pd.unique(text.dropna()), allowed, cutoff))
    return hinted.where(hinted.notna(), values)


def _labels(labels: list[str], ctx: CheckContext) -> list[str]:
    if labels:
        return labels
    if ctx.labels:
        return list(ctx.labels)
    raise RuleError("check 'label_in_set' needs param 'labels' or a `labels:` list in the run config")


def _cutoff_problem(params: dict) -> str | None:
    c = params.get("cutoff", 0.8)
    return None if 0 < c <= 1 else f"param 'cutoff' expected a number in (0, 1], got {c!r}"


@check("allowed_values", params={"values": list[str], "cutoff": float}, validate=_cutoff_problem)
def allowed_values(column: pd.Series, values: list[str], cutoff: float = 0.8):
    """Values outside the ``values`` list fail, with the nearest allowed value as a hint."""
    return _not_allowed(column, values, cutoff, "value")


@fixer("allowed_values")
def _fix_allowed_values(column: pd.Series, values: list[str], cutoff: float = 0.8):
    """Replace near misses by the allowed value they most probably meant."""
    return _suggest(column, values, cutoff)


@check("label_in_set", params={"labels": list[str], "cutoff": float}, validate=_cutoff_problem)
def label_in_set(values: pd.Series, ctx: CheckContext, labels: list[str] | None = None, cutoff: float = 0.8):
    """Labels outside ``labels`` (default: the run's `labels:` list) fail, with a near-miss hint."""
    return _not_allowed(values, _labels(labels, ctx), cutoff, "label")


@fixer("label_in_set")
def _fix_label(values: pd.Series, ctx: CheckContext, labels: list[str] | None = None, cutoff: float = 0.8):
    """"Positve" -> "positive": a near miss becomes the label it most probably meant."""
    return _suggest(values, _labels(labels, ctx), cutoff)


# -- cross-field expressions --------------------------------------------------------------------------

def _expr_problem(params: dict) -> str | None:
    try:
        expression.parse(params["expr"])
    except RuleError as err:
        return str(err)
    return None


@check("expression", params={"expr": str}, field=False, validate=_expr_problem)
def expression_check(values, table: pd.DataFrame, expr: str):
    """Rows where the expression is false fail, e.g. ``len(text) > 0 or image.notna()``."""
    ok = expression.parse(expr).evaluate(table)
    return ~ok, f"expression {expr!r} is false"

