"""A tiny expression language for cross-field rules, evaluated over whole columns.

Rule files get shared, so an expression is never handed to Python's ``eval`` (nor to pandas'
``eval``, which resolves attributes). It is parsed with :mod:`ast` and only this grammar is
accepted; anything else is an error that says what is allowed::

    len(text) > 0 or image.notna()
    label in ['spam', 'ham'] and not contains(lower(text), 'lorem ipsum')
    num(rating) >= 1 and num(rating) <= 5

- names are columns; literals are numbers, strings, True/False/None and lists of them;
- ``and or not``, comparisons (``== != < <= > >= in``, ``not in``), ``+ - * / %`` (``+`` also joins
  text; the others take numbers only);
- the functions in :data:`FUNCTIONS`, and ``column.isna()`` / ``column.notna()``.

Evaluation is vectorised: each node becomes a pandas Series (Arrow kernels for the string
functions), and a comparison with a missing value is False.
"""

from __future__ import annotations

import ast
import operator
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from .checks import regex_problem
from .errors import RuleError
from .text_arrays import text_array
from .table import isin


class ExpressionError(RuleError):
    """A cross-field expression is not valid in curator's expression language."""


def _text(v) -> pa.Array:
    if isinstance(v, pd.Series):
        return text_array(v)  # any cell as text: numbers as their digits, bad bytes replaced
    raise ExpressionError("string functions take a column")


def _str_fn(kernel: Callable) -> Callable:
    def fn(index, v, *args):
        if not isinstance(v, pd.Series):
            raise ExpressionError("string functions take a column as their first argument")
        for a in args:
            if not isinstance(a, str):
                raise ExpressionError(f"expected a string literal, got {a!r}")
        out = kernel(_text(v), *args)
        return pd.Series(out.to_numpy(zero_copy_only=False), index=index)
    return fn


def _num(index, v):
    if not isinstance(v, pd.Series):
        return v
    if pd.api.types.is_numeric_dtype(v.dtype) and not pd.api.types.is_bool_dtype(v.dtype):
        return v
    return pd.to_numeric(pd.Series(text_array(v).to_numpy(zero_copy_only=False), index=v.index), errors="coerce")


def _isna(index, v):
    return v.isna() if isinstance(v, pd.Series) else pd.Series(v is None, index=index)


FUNCTIONS: dict[str, Callable] = {
    "len": _str_fn(pc.utf8_length),
    "lower": _str_fn(pc.utf8_lower),
    "upper": _str_fn(pc.utf8_upper),
    "strip": _str_fn(pc.utf8_trim_whitespace),
    "contains": _str_fn(lambda a, s: pc.match_substring(a, s)),
    "startswith": _str_fn(lambda a, s: pc.starts_with(a, s)),
    "endswith": _str_fn(lambda a, s: pc.ends_with(a, s)),
    "matches": _str_fn(lambda a, s: pc.match_substring_regex(a, s)),
    "num": _num,
    "isna": _isna,
    "notna": lambda index, v: ~_isna(index, v),
    "abs": lambda index, v: _num(index, v).abs() if isinstance(v, pd.Series) else abs(v),
}
METHODS = {"isna": "isna", "notna": "notna", "isnull": "isna", "notnull": "notna"}
MAX_LENGTH = 2000
_ARITY = {"contains": 2, "startswith": 2, "endswith": 2, "matches": 2}

_COMPARE = {ast.Eq: operator.eq, ast.NotEq: operator.ne, ast.Lt: operator.lt, ast.LtE: operator.le,
            ast.Gt: operator.gt, ast.GtE: operator.ge}
_ARROW_COMPARE = {ast.Eq: pc.equal, ast.NotEq: pc.not_equal, ast.Lt: pc.less, ast.LtE: pc.less_equal,
                  ast.Gt: pc.greater, ast.GtE: pc.greater_equal}
_ARITH = {ast.Add: operator.add, ast.Sub: operator.sub, ast.Mult: operator.mul, ast.Div: operator.truediv,
          ast.Mod: operator.mod}
_OP_NAMES = {ast.Sub: "-", ast.Mult: "*", ast.Div: "/", ast.Mod: "%", ast.USub: "unary -", ast.UAdd: "unary +"}
_ALLOWED = "column names, literals, and/or/not, comparisons, + - * / %, " \
           f"the functions {', '.join(sorted(FUNCTIONS))} and column.isna()/.notna()"


@dataclass(frozen=True)
class Expression:
    source: str
    tree: ast.Expression
    names: frozenset[str]

    def evaluate(self, table: pd.DataFrame) -> pd.Series:
        """The expression's value on every row, as a boolean Series (missing counts as False)."""
        missing = sorted(self.names - set(map(str, table.columns)))
        if missing:
            raise ExpressionError(f"expression {self.source!r}: unknown column {missing[0]!r}; "
                                  f"columns are: {', '.join(map(str, table.columns))}")
        try:
            with np.errstate(all="ignore"):
                return _truth(_Eval(table).visit(self.tree.body), table.index)
        except ExpressionError as err:
            raise ExpressionError(f"expression {self.source!r}: {err}") from None
        except (ArithmeticError, TypeError, ValueError, RecursionError, pa.ArrowException) as err:
            message = str(err).splitlines()[0] if str(err) else type(err).__name__
            raise ExpressionError(f"expression {self.source!r}: cannot be evaluated: {message}") from None


def parse(source: str) -> Expression:
    """Parse and check an expression; raises ExpressionError saying what is not allowed."""
    if not isinstance(source, str) or not source.strip():
        raise ExpressionError("expected a non-empty expression")
    if len(source) > MAX_LENGTH:
        raise ExpressionError(f"expression is {len(source)} characters long; the limit is {MAX_LENGTH}")
    try:
        tree = ast.parse(source.strip(), mode="eval")
        names: set[str] = set()
        _walk(tree, source, names)
    except SyntaxError as err:
        raise ExpressionError(f"expression {source!r} is not valid: {err.msg}") from None
    except RecursionError:
        raise ExpressionError(f"expression {source[:40]!r}... is nested too deeply") from None
    return Expression(source, tree, frozenset(names))


def _walk(node: ast.AST, source: str, names: set[str]) -> None:
    """Check every node, parents before children; a call's (renamed) function is not walked."""
    _check_node(node, source, names)
    children = node.args if isinstance(node, ast.Call) else ast.iter_child_nodes(node)
    for child in children:
        _walk(child, source, names)


def _check_node(node: ast.AST, source: str, names: set[str]) -> None:
    ok = (ast.Expression, ast.BoolOp, ast.And, ast.Or, ast.UnaryOp, ast.Not, ast.USub, ast.UAdd, ast.Compare,
          ast.In, ast.NotIn, ast.BinOp, ast.Constant, ast.List, ast.Tuple, ast.Load, ast.Name, ast.Call,
          ast.Attribute, *_COMPARE, *_ARITH)
    if not isinstance(node, ok):
        raise ExpressionError(f"expression {source!r}: {type(node).__name__} is not allowed; allowed: {_ALLOWED}")
    if isinstance(node, ast.Name):
        if node.id.startswith("_"):
            raise ExpressionError(f"expression {source!r}: name {node.id!r} is not allowed (names starting "
                                  "with '_' are never columns)")
        names.add(node.id)
    elif isinstance(node, ast.Constant) and not isinstance(node.value, str | int | float | bool | type(None)):
        raise ExpressionError(f"expression {source!r}: literal {node.value!r} is not allowed")
    elif isinstance(node, ast.Attribute):
        raise ExpressionError(f"expression {source!r}: attribute {node.attr!r} is not allowed; "
                              "only column.isna() and column.notna() calls")
    elif isinstance(node, ast.List | ast.Tuple):
        for elt in node.elts:
            if not _is_literal(elt):
                raise ExpressionError(f"expression {source!r}: list items are literals (numbers, strings, "
                                      f"True/False/None), got {ast.unparse(elt)!r}")
    elif isinstance(node, ast.BinOp | ast.UnaryOp) and not isinstance(node.op, ast.Add | ast.Not):
        for operand in (node.left, node.right) if isinstance(node, ast.BinOp) else (node.operand,):
            if isinstance(operand, ast.List | ast.Tuple) or (isinstance(operand, ast.Constant)
                                                             and isinstance(operand.value, str)):
                raise ExpressionError(f"expression {source!r}: {_OP_NAMES[type(node.op)]} takes numbers, "
                                      f"not text or lists, got {ast.unparse(operand)[:40]!r}")
    elif isinstance(node, ast.Call):
        _check_call(node, source)


def _is_literal(node: ast.AST) -> bool:
    if isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.USub | ast.UAdd):
        return isinstance(node.operand, ast.Constant) and _is_numberlike(node.operand.value)
    return isinstance(node, ast.Constant)


def _check_call(node: ast.Call, source: str) -> None:
    if node.keywords:
        raise ExpressionError(f"expression {source!r}: keyword arguments are not allowed")
    func = node.func
    if isinstance(func, ast.Attribute):
        if not (isinstance(func.value, ast.Name) and func.attr in METHODS and not node.args):
            raise ExpressionError(f"expression {source!r}: method {func.attr!r} is not allowed; "
                                  f"allowed: column.{'(), column.'.join(sorted(METHODS))}()")
        # column.notna() becomes notna(column): the walk then checks the column as an argument.
        node.func = ast.Name(id=f"__method_{METHODS[func.attr]}", ctx=ast.Load())
        node.args = [func.value]
        return
    if not isinstance(func, ast.Name) or func.id not in FUNCTIONS:
        name = func.id if isinstance(func, ast.Name) else ast.unparse(func)
        raise ExpressionError(f"expression {source!r}: function {name!r} is not allowed; "
                              f"allowed: {', '.join(sorted(FUNCTIONS))}")
    want = _ARITY.get(func.id, 1)
    if len(node.args) != want:
        raise ExpressionError(f"expression {source!r}: {func.id}() takes {want} argument{'s' * (want > 1)}, "
                              f"got {len(node.args)}")
    pattern = node.args[1] if func.id == "matches" else None
    if isinstance(pattern, ast.Constant) and isinstance(pattern.value, str) and regex_problem(pattern.value):
        raise ExpressionError(f"expression {source!r}: matches(): {regex_problem(pattern.value)}")
    # Rename so a column called like a function never shadows it, and vice versa.
    node.func = ast.Name(id=f"__fn_{func.id}", ctx=ast.Load())


def _truth(value: Any, index: pd.Index) -> pd.Series:
    if not isinstance(value, pd.Series):
        return pd.Series(bool(value) if value is not None else False, index=index)
    if value.dtype == bool:
        return value
    if pd.api.types.is_bool_dtype(value.dtype):
        return value.fillna(False).astype(bool)
    num = pd.to_numeric(value, errors="coerce")
    if num.notna().any() or value.isna().all():
        return num.fillna(0).ne(0)
    return value.notna() & value.astype(str).ne("")


def _is_numberlike(v: Any) -> bool:
    if isinstance(v, pd.Series):
        return pd.api.types.is_numeric_dtype(v.dtype) and not pd.api.types.is_bool_dtype(v.dtype)
    return isinstance(v, int | float) and not isinstance(v, bool)


class _Eval:
    """Evaluates a checked tree over a table, node by node, on whole columns."""

    def __init__(self, table: pd.DataFrame) -> None:
        self.table = table
        self.index = table.index

    def visit(self, node: ast.AST) -> Any:
        return getattr(self, f"visit_{type(node).__name__}")(node)

    def visit_Constant(self, node: ast.Constant):
        return node.value

    def visit_List(self, node):
        return [self.visit(e) for e in node.elts]

    visit_Tuple = visit_List

    def visit_Name(self, node: ast.Name):
        return self.table[node.id]

    def visit_BoolOp(self, node: ast.BoolOp):
        values = [_truth(self.visit(v), self.index) for v in node.values]
        out = values[0]
        for v in values[1:]:
            out = (out & v) if isinstance(node.op, ast.And) else (out | v)
        return out

    def visit_UnaryOp(self, node: ast.UnaryOp):
        v = self.visit(node.operand)
        if isinstance(node.op, ast.Not):
            return ~_truth(v, self.index)
        v = _num(self.index, v)
        return -v if isinstance(node.op, ast.USub) else v

    def visit_BinOp(self, node: ast.BinOp):
        left, right = self.visit(node.left), self.visit(node.right)
        op = _ARITH[type(node.op)]
        if isinstance(node.op, ast.Add) and (isinstance(left, str) or isinstance(right, str)):
            return op(left.astype(str) if isinstance(left, pd.Series) else left,
                      right.astype(str) if isinstance(right, pd.Series) else right)
        left, right = _num(self.index, left), _num(self.index, right)
        for side in (left, right):  # "ab" * 10**9 would build the string; text and lists are not numbers
            if isinstance(side, str | list):
                raise ExpressionError(f"{_OP_NAMES.get(type(node.op), '+')} takes numbers, got {repr(side)[:40]}")
        return op(left, right)

    def visit_Compare(self, node: ast.Compare):
        left = self.visit(node.left)
        out = pd.Series(True, index=self.index)
        for op, comp in zip(node.ops, node.comparators):
            right = self.visit(comp)
            out &= self._compare(op, left, right)
            left = right
        return out

    def _compare(self, op: ast.cmpop, left, right) -> pd.Series:
        if isinstance(op, ast.In | ast.NotIn):
            if not isinstance(right, list):
                raise ExpressionError("'in' needs a list literal on its right, e.g. label in ['a', 'b']")
            if isinstance(left, pd.Series) and not _is_numberlike(left) and all(isinstance(r, str) for r in right):
                hit = pd.Series(isin(left, right), index=self.index)  # Arrow's hash set, not a loop
            elif isinstance(left, pd.Series):
                hit = left.isin(right) & left.notna()
            else:
                hit = pd.Series(left in right, index=self.index)
            return ~hit if isinstance(op, ast.NotIn) else hit
        if _is_numberlike(left) or _is_numberlike(right) or isinstance(left, bool) or isinstance(right, bool):
            left, right = _num(self.index, left), _num(self.index, right)
            try:
                result = _COMPARE[type(op)](left, right)
            except TypeError as err:
                raise ExpressionError(f"cannot compare these values: {err}") from None
        elif isinstance(left, pd.Series) or isinstance(right, pd.Series):
            # Anything else compares as text, with Arrow's kernels (never Python objects' own __lt__).
            a = _text(left) if isinstance(left, pd.Series) else pa.scalar(None if left is None else str(left),
                                                                            pa.large_string())
            b = _text(right) if isinstance(right, pd.Series) else pa.scalar(None if right is None else str(right),
                                                                             pa.large_string())
            out = _ARROW_COMPARE[type(op)](a, b)
            result = pd.Series(pc.fill_null(out, False).to_numpy(zero_copy_only=False), index=self.index)
        else:
            try:
                result = _COMPARE[type(op)](left, right)
            except TypeError as err:
                raise ExpressionError(f"cannot compare these values: {err}") from None
        result = _truth(result, self.index) if isinstance(result, pd.Series) else pd.Series(bool(result), index=self.index)
        # A comparison with a missing value is False (also for !=).
        for side in (left, right):
            if isinstance(side, pd.Series):
                result &= side.notna()
        return result

    def visit_Call(self, node: ast.Call):
        name = node.func.id
        args = [self.visit(a) for a in node.args]
        if name.startswith("__method_"):
            return FUNCTIONS[name.removeprefix("__method_")](self.index, *args)
        return FUNCTIONS[name.removeprefix("__fn_")](self.index, *args)
