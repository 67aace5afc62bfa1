"""The check registry: named, vectorised row checks that rule sets refer to.

A check is a plain function registered with :func:`check`. It receives the column it applies to
(a pandas Series, the whole column at once) and its params, and returns a boolean Series that is
True where a row FAILS, or a ``(failed, detail)`` pair whose detail is a string or a Series of
strings (a Series may cover only the failing rows). The validate step, not the check, turns
failures into ledger entries.

    @check("min_length", params={"chars": int, "words": int})
    def min_length(values, chars=0, words=0): ...

Two argument names are special and are never params: ``table`` receives the whole table and
``ctx`` a :class:`CheckContext` (the dataset root, the run's label list, a cache shared by the
checks of one validate run). A check registered with ``field=False`` works on the table, not on
one column (its first argument is then None).

A check can have a fixer, registered with :func:`fixer`. It takes the failing rows' values and the
same params, and returns their repaired values: a Series, or a ``{column: Series}`` mapping when a
fix changes more than one column (the rule's field first). Rules with ``severity: fix`` use it.

New checks are registered functions; the rule engine never needs an edit. The checks curator
ships live in :mod:`curator.checks_table`, :mod:`curator.checks_text`, :mod:`curator.checks_language`,
:mod:`curator.checks_pii` and :mod:`curator.checks_image`, imported at the end of this module.
"""

from __future__ import annotations

import inspect
import re
import typing
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from .errors import RuleError
from .text_arrays import filled_text, series, text_array  # noqa: F401 - re-exported for checks

SPECIAL_ARGS = ("table", "ctx")


class FilePath(str):
    """Param type: a file path, resolved against the rule file's folder when the rules load."""


@dataclass
class CheckContext:
    """What a check may read besides its column."""

    root: Path | None = None  # the dataset root: image paths are relative to it
    labels: list[str] | None = None  # the run's `labels:` list, if it has one
    cache: dict = field(default_factory=dict)  # shared by the checks of one validate run
    workers: int = 2  # processes for per-item work (image decoding)


@dataclass(frozen=True)
class Check:
    name: str
    fn: Callable[..., Any]
    params: dict[str, Any]
    required: frozenset[str]
    doc: str
    special: frozenset[str]
    needs_field: bool = True
    validator: Callable[[dict], str | None] | None = None
    fix: Callable[..., Any] | None = None
    fix_special: frozenset[str] = frozenset()
    #: False for a check whose verdict on a row depends on other rows (``unique``): it always sees the
    #: whole table, while row-local checks may run batch by batch on any engine.
    row_local: bool = True

    def __call__(self, values: pd.Series | None, table: pd.DataFrame, params: dict[str, Any],
                 ctx: CheckContext | None = None):
        """Run the check; always returns ``(failed mask, detail Series or str or None)``."""
        out = self.fn(values, **_special(self.special, table, ctx), **params)
        failed, detail = out if isinstance(out, tuple) else (out, None)
        failed = pd.Series(failed, index=table.index) if not isinstance(failed, pd.Series) else failed
        if failed.dtype != bool:  # a missing verdict fails
            failed = failed.astype(object).fillna(True).astype(bool)
        return failed, detail

    def repair(self, values: pd.Series, table: pd.DataFrame, params: dict[str, Any],
               ctx: CheckContext | None = None) -> dict[str, pd.Series]:
        """Run the fixer on the failing rows' values: ``{column: new values}`` (the field first)."""
        if self.fix is None:
            raise RuleError(f"check {self.name!r} has no fixer")
        out = self.fix(values, **_special(self.fix_special, table, ctx), **params)
        return dict(out) if isinstance(out, dict) else {values.name: out}


def _special(names: frozenset[str], table: pd.DataFrame, ctx: CheckContext | None) -> dict:
    given = {"table": table, "ctx": ctx if ctx is not None else CheckContext()}
    return {k: given[k] for k in names}


REGISTRY: dict[str, Check] = {}


def _signature_params(fn: Callable) -> tuple[list[inspect.Parameter], frozenset[str]]:
    sig = inspect.signature(fn)
    # The first argument is the column; `table` and `ctx`, if declared, are filled in by the engine.
    rest = list(sig.parameters.values())[1:]
    kwargs = [p for p in rest if p.name not in SPECIAL_ARGS]
    return kwargs, frozenset(p.name for p in rest if p.name in SPECIAL_ARGS)


def check(name: str, params: dict[str, Any] | None = None, *, field: bool = True,
          validate: Callable[[dict], str | None] | None = None, row_local: bool = True) -> Callable:
    """Register ``fn`` as a check called ``name``; its params must match its keyword arguments.

    ``params`` maps each param to its type (``int``, ``float``, ``str``, ``bool``, ``list[str]``,
    :class:`FilePath`, or a tuple of these). ``validate`` gets the params when a rule file loads
    and returns an error message (or None), so bad values fail before any data is read.
    ``row_local=False`` marks a check that compares rows with each other (never run batch by batch).
    """
    if not re.fullmatch(r"[a-z][a-z0-9_]*", name):
        raise ValueError(f"check names are snake_case, got {name!r}")
    params = params or {}

    def register(fn: Callable) -> Callable:
        kwargs, special = _signature_params(fn)
        names = {p.name for p in kwargs}
        if names != set(params):
            raise ValueError(f"check {name!r}: params {sorted(params)} do not match the function's "
                             f"keyword arguments {sorted(names)}")
        if name in REGISTRY:
            raise ValueError(f"check {name!r} is registered twice")
        required = frozenset(p.name for p in kwargs if p.default is inspect.Parameter.empty)
        REGISTRY[name] = Check(name, fn, dict(params), required, (fn.__doc__ or "").strip().split("\n")[0],
                               special, field, validate, row_local=row_local)
        return fn

    return register


def fixer(name: str) -> Callable:
    """Register ``fn`` as the fixer of the check ``name``; it takes the same params as the check."""
    def register(fn: Callable) -> Callable:
        if name not in REGISTRY:
            raise ValueError(f"fixer for unknown check {name!r}")
        chk = REGISTRY[name]
        if chk.fix is not None:
            raise ValueError(f"check {name!r} already has a fixer")
        kwargs, special = _signature_params(fn)
        if {p.name for p in kwargs} != set(chk.params):
            raise ValueError(f"fixer {name!r}: keyword arguments {sorted(p.name for p in kwargs)} do not match "
                             f"the check's params {sorted(chk.params)}")
        REGISTRY[name] = replace(chk, fix=fn, fix_special=special)
        return fn

    return register


def get_check(name: str, where: str) -> Check:
    if name not in REGISTRY:
        raise RuleError(f"{where}: unknown check {name!r}; known checks: {', '.join(sorted(REGISTRY))}")
    return REGISTRY[name]


def describe() -> list[dict]:
    """Every registered check: name, one-line doc, params (name -> type), whether it needs a field and
    whether it can fix. For a CLI listing and the docs."""
    return [{"name": c.name, "doc": c.doc, "params": {k: _type_name(t) if not isinstance(t, tuple) else
                                                      " or ".join(map(_type_name, t)) for k, t in c.params.items()},
             "required": sorted(c.required), "field": c.needs_field, "fix": c.fix is not None}
            for c in sorted(REGISTRY.values(), key=lambda c: c.name)]


def fixable() -> list[str]:
    """Names of the checks that have a fixer."""
    return sorted(n for n, c in REGISTRY.items() if c.fix is not None)


def _type_name(t: Any) -> str:
    if typing.get_origin(t) is list:
        return f"list of {_type_name(typing.get_args(t)[0])}"
    return "path" if t is FilePath else t.__name__


def _type_ok(value: Any, t: Any) -> bool:
    if typing.get_origin(t) is list:
        (inner,) = typing.get_args(t)
        return isinstance(value, list) and all(_type_ok(v, inner) for v in value)
    if t is FilePath:
        return isinstance(value, str)
    if t is float:
        return isinstance(value, (int, float)) and not isinstance(value, bool)
    # bool is an int in Python; a YAML `true` is never a number here.
    return isinstance(value, t) and (t is bool or not isinstance(value, bool))


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
        options = expected if isinstance(expected, tuple) else (expected,)
        if not any(_type_ok(value, t) for t in options):
            names = " or ".join(_type_name(t) for t in options)
            raise RuleError(f"{where}: param {key!r} of check {chk.name!r} expected {names}, got {value!r}")
    if chk.validator is not None:
        problem = chk.validator(params)
        if problem:
            raise RuleError(f"{where}: {problem}")


def resolve_paths(chk: Check, params: dict[str, Any], base_dir: Path, where: str) -> dict[str, Any]:
    """Params of type :class:`FilePath` made absolute against ``base_dir``; a missing file is an error."""
    out = dict(params)
    for key, value in params.items():
        if chk.params[key] is FilePath and value:
            path = Path(value).expanduser()
            path = path if path.is_absolute() else base_dir / path
            if not path.is_file():
                raise RuleError(f"{where}: param {key!r}: file {value!r} not found (looked at {path})")
            out[key] = FilePath(path)
    return out


# -- helpers the check modules share ----------------------------------------------------------------

def regex_problem(pattern: str) -> str | None:
    """An error message if Arrow's RE2 engine cannot compile ``pattern``."""
    try:
        pc.match_substring_regex(pa.array([""], pa.large_string()), pattern)
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError) as err:
        return f"bad pattern {pattern!r}: {err}; patterns use RE2 syntax (no backreferences or lookaround)"
    return None


def joined(parts: list[pd.Series | str]) -> pd.Series:
    """Concatenate string Series (and constants) element-wise."""
    out = None
    for p in parts:
        p = p.astype(str) if isinstance(p, pd.Series) else p
        out = p if out is None else out + p
    return out


# Register the shipped checks. These modules import from this one, so they come last.
from . import checks_image, checks_language, checks_pii, checks_table, checks_text  # noqa: E402,F401
