"""The check registry: named, vectorised row checks that rule sets refer to.

A check is a plain function registered with :func:`check`. It receives the column it applies to
(a pandas Series, the whole column at once) and its params, and returns a boolean Series that is
True where a row FAILS, or a ``(failed, detail)`` pair whose detail is a string or a Series of
strings. The validate step, not the check, turns failures into ledger entries.

    @check("min_length", params={"chars": int, "words": int})
    def min_length(values, chars=0, words=0): ...

New checks are registered functions; the rule engine never needs an edit.
"""

from __future__ import annotations

import inspect
import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from .errors import RuleError
from .table import arrow_strings


@dataclass(frozen=True)
class Check:
    name: str
    fn: Callable[..., Any]
    params: dict[str, type | tuple[type, ...]]
    required: frozenset[str]
    doc: str
    wants_table: bool

    def __call__(self, values: pd.Series, table: pd.DataFrame, params: dict[str, Any]):
        """Run the check; always returns ``(failed mask, detail Series or str or None)``."""
        out = self.fn(values, table=table, **params) if self.wants_table else self.fn(values, **params)
        failed, detail = out if isinstance(out, tuple) else (out, None)
        return failed.fillna(True).astype(bool), detail


REGISTRY: dict[str, Check] = {}


def check(name: str, params: dict[str, type | tuple[type, ...]] | None = None) -> Callable:
    """Register ``fn`` as a check called ``name``; its params must match its keyword arguments."""
    if not re.fullmatch(r"[a-z][a-z0-9_]*", name):
        raise ValueError(f"check names are snake_case, got {name!r}")
    params = params or {}

    def register(fn: Callable) -> Callable:
        sig = inspect.signature(fn)
        # The first argument is the column; a `table` argument, if declared, gets the whole table.
        kwargs = [p for p in list(sig.parameters.values())[1:] if p.name != "table"]
        names = {p.name for p in kwargs}
        if names != set(params):
            raise ValueError(f"check {name!r}: params {sorted(params)} do not match the function's "
                             f"keyword arguments {sorted(names)}")
        if name in REGISTRY:
            raise ValueError(f"check {name!r} is registered twice")
        required = frozenset(p.name for p in kwargs if p.default is inspect.Parameter.empty)
        REGISTRY[name] = Check(name, fn, dict(params), required, (fn.__doc__ or "").strip().split("\n")[0],
                               "table" in sig.parameters)
        return fn

    return register


def get_check(name: str, where: str) -> Check:
    if name not in REGISTRY:
        raise RuleError(f"{where}: unknown check {name!r}; known checks: {', '.join(sorted(REGISTRY))}")
    return REGISTRY[name]


def validate_params(chk: Check, params: dict[str, Any], where: str) -> None:
    """Raise RuleError naming ``where`` if params are unknown, missing or of the wrong type."""
    unknown = sorted(set(params) - set(chk.params))
    if unknown:
        raise RuleError(f"{where}: check {chk.name!r} has no param {unknown[0]!r}; "
                        f"expected: {', '.join(sorted(chk.params)) or 'no params'}")
    missing = sorted(chk.required - set(params))
    if missing:
        raise RuleError(f"{where}: check {chk.name!r} needs param {missing[0]!r}")
    for key, value in params.items():
        expected = chk.params[key]
        types = expected if isinstance(expected, tuple) else (expected,)
        if float in types:
            types = (*types, int)
        # bool is an int in Python; a YAML `true` is never a number here.
        ok = isinstance(value, types) and (bool in types or not isinstance(value, bool))
        if not ok:
            names = " or ".join(t.__name__ for t in (expected if isinstance(expected, tuple) else (expected,)))
            raise RuleError(f"{where}: param {key!r} of check {chk.name!r} expected {names}, got {value!r}")


def _arrow_text(values: pd.Series) -> pa.Array:
    """The column as Arrow strings with missing values as empty strings, trimmed (so whitespace
    splitting yields no empty words)."""
    return pc.utf8_trim_whitespace(pc.fill_null(arrow_strings(values), ""))


def _series(arr: pa.Array, index: pd.Index) -> pd.Series:
    return pd.Series(arr.to_numpy(zero_copy_only=False), index=index)


# -- checks shipped with the spine; the rule-set issue adds many more -----------------------------

@check("not_empty")
def not_empty(values: pd.Series):
    """Missing, empty or whitespace-only values fail."""
    return _series(pc.equal(pc.utf8_length(_arrow_text(values)), 0), values.index), "empty or missing"


@check("min_length", params={"chars": int, "words": int})
def min_length(values: pd.Series, chars: int = 0, words: int = 0):
    """Text shorter than ``chars`` characters or ``words`` words fails (missing text counts as 0)."""
    text = _arrow_text(values)
    n_chars = _series(pc.utf8_length(text), values.index)
    # Splitting "" gives [""]: an empty text has no words.
    n_words = _series(pc.list_value_length(pc.utf8_split_whitespace(text)), values.index).where(n_chars > 0, 0)
    failed = (n_chars < chars) | (n_words < words)
    detail = n_chars.astype(str) + " chars, " + n_words.astype(str) + f" words (min {chars} chars, {words} words)"
    return failed, detail


@check("max_length", params={"chars": int})
def max_length(values: pd.Series, chars: int):
    """Text longer than ``chars`` characters fails."""
    n = _series(pc.utf8_length(pc.fill_null(arrow_strings(values), "")), values.index)
    return n > chars, n.astype(str) + f" chars (max {chars})"


@check("regex", params={"pattern": str, "must_match": bool})
def regex(values: pd.Series, pattern: str, must_match: bool = False):
    """Fails where the text matches ``pattern`` (or, with ``must_match``, where it does not).

    Patterns use RE2 syntax (Arrow's regex engine: linear time, no backreferences).
    """
    try:
        matched = _series(pc.match_substring_regex(pc.fill_null(arrow_strings(values), ""), pattern), values.index)
    except pa.ArrowInvalid as err:
        raise RuleError(f"check 'regex': bad pattern {pattern!r}: {err}") from None
    return (~matched if must_match else matched), ("does not match " if must_match else "matches ") + repr(pattern)


@check("min_size", params={"width": int, "height": int})
def min_size(values: pd.Series, table: pd.DataFrame, width: int = 1, height: int = 1):
    """Images smaller than ``width`` x ``height`` pixels fail (sizes come from ingest's decode)."""
    w = pd.to_numeric(table["image_width"], errors="coerce").fillna(0) if "image_width" in table else 0 * values.isna()
    h = pd.to_numeric(table["image_height"], errors="coerce").fillna(0) if "image_height" in table else 0 * values.isna()
    detail = w.astype(int).astype(str) + "x" + h.astype(int).astype(str) + f" px (min {width}x{height})"
    return (w < width) | (h < height), detail
