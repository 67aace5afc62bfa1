"""Table and label checks, and cross-field expressions (evaluated safely, never with eval)."""

import re

import numpy as np
import pandas as pd
import pytest

from curator import expression
from curator.checks_table import suggestions
from curator.errors import RuleError

from conftest import make_table
from test_validate import run_rules


def decided(tmp_path, table, rule):
    _, ledger, _ = run_rules(table, [rule], tmp_path)
    return dict(zip(ledger["id"], zip(ledger["action"], ledger["reason"])))


def test_required_columns(tmp_path):
    table = make_table(["a text", "b text"], channel=["web", None])
    assert decided(tmp_path, table, {"check": "required_columns", "params": {"columns": ["text", "channel"]}}) == \
        {"r1": ("dropped", "rule:required_columns")}
    assert decided(tmp_path, table, {"check": "required_columns", "params": {"columns": ["user"]}}) == \
        {"r0": ("dropped", "rule:required_columns"), "r1": ("dropped", "rule:required_columns")}


def test_not_null_counts_nan_and_none(tmp_path):
    table = make_table(["a", "b", "c"], score=[1.0, np.nan, None])
    assert decided(tmp_path, table, {"check": "not_null", "field": "score"}) == \
        {"r1": ("dropped", "rule:not_null"), "r2": ("dropped", "rule:not_null")}


def test_unique(tmp_path):
    table = make_table(["a", "b", "c", "d"], ext_id=["x1", "X1", "x2", None])
    assert decided(tmp_path, table, {"check": "unique", "field": "ext_id", "severity": "warn"}) == {}
    assert decided(tmp_path, table, {"check": "unique", "field": "ext_id", "severity": "warn",
                                     "params": {"ignore_case": True}}) == \
        {"r0": ("flagged", "rule:unique"), "r1": ("flagged", "rule:unique")}


@pytest.mark.parametrize("kind, values, failing", [
    ("int", ["3", 4, "4.0", "4.5", "x", None], [3, 4]),
    ("float", ["3.5", 2, "1e3", "nan?", None, True], [3, 5]),
    ("bool", ["true", "No", "1", "maybe", None, 0], [3]),
    ("string", ["x", 3, None, 2.5, "y", b"z"], [1, 3, 5]),
    ("datetime", ["2024-01-15", "2024-01-15T10:30:00", "15/01/2024", "soon", None, "2024-13-01"], [2, 3, 5]),
])
def test_dtype(tmp_path, kind, values, failing):
    table = make_table([f"t{i}" for i in range(len(values))], value=values)
    got = decided(tmp_path, table, {"check": "dtype", "field": "value", "params": {"type": kind}})
    assert got == {f"r{i}": ("dropped", "rule:dtype") for i in failing}


def test_value_range(tmp_path):
    table = make_table(["a", "b", "c", "d"], rating=["5", 0, "six", None])
    assert decided(tmp_path, table, {"check": "value_range", "field": "rating", "params": {"min": 1, "max": 5}}) == \
        {"r1": ("dropped", "rule:value_range"), "r2": ("dropped", "rule:value_range")}


def test_allowed_values_fix_and_hint(tmp_path):
    table = make_table(["a", "b", "c"], channel=["Web", "e-mail", "fax"])
    out, ledger, _ = run_rules(table, [{"check": "allowed_values", "field": "channel", "severity": "fix",
                                        "params": {"values": ["web", "email", "chat"]}}], tmp_path)
    fixed = ledger[ledger.action == "fixed"]
    assert list(zip(fixed["id"], fixed["old_value"], fixed["new_value"])) == [("r0", "Web", "web"), ("r1", "e-mail", "email")]
    flagged = ledger[ledger.action == "flagged"]
    assert flagged["id"].tolist() == ["r2"] and "value 'fax' is not allowed" in flagged["detail"].iloc[0]
    assert out["channel"].tolist() == ["web", "email", "fax"]


def test_label_in_set_hint_in_detail(tmp_path):
    table = make_table(["a", "b"], ["positive", "Positve"])
    _, ledger, _ = run_rules(table, [{"check": "label_in_set", "field": "label",
                                      "params": {"labels": ["positive", "negative"]}}], tmp_path)
    assert ledger["detail"].tolist() == ["label 'Positve' is not allowed (did you mean 'positive'?)"]


def test_label_in_set_without_labels_is_a_rule_error(tmp_path):
    with pytest.raises(RuleError, match="rule 1 \\(label_in_set\\): check 'label_in_set' needs param 'labels'"):
        run_rules(make_table(["a"]), [{"check": "label_in_set", "field": "label"}], tmp_path)


def test_suggestions_need_one_clear_winner():
    assert suggestions(["Positve", "POSITIVE ", "neg", "pos-itive", "xyz"], ["positive", "negative"]) == \
        {"Positve": "positive", "POSITIVE ": "positive", "pos-itive": "positive"}
    assert suggestions(["cat"], ["cap", "car"]) == {}


# -- cross-field expressions ----------------------------------------------------------------------------

def test_expression_rule(tmp_path):
    table = make_table(["text", "", None, "x"], image=[None, "a.png", None, None], rating=["3", "9", "1", None])
    got = decided(tmp_path, table, {"check": "expression", "params": {"expr": "len(text) > 0 or image.notna()"}})
    assert got == {"r2": ("dropped", "rule:expression")}
    got = decided(tmp_path, table, {"check": "expression", "params": {"expr": "num(rating) >= 1 and num(rating) <= 5"}})
    assert got == {"r1": ("dropped", "rule:expression"), "r3": ("dropped", "rule:expression")}


@pytest.mark.parametrize("expr, expected", [
    ("len(text) > 3", [True, True, False, False]),
    ("label in ['a', 'b'] and not contains(lower(text), 'spam')", [True, False, False, True]),
    ("label not in ['a']", [False, True, True, True]),
    ("matches(text, '^[a-z]+$')", [True, False, False, True]),
    ("startswith(text, 'SP') or endswith(text, 'ok')", [False, True, False, True]),
    ("num(n) * 2 + 1 >= 5", [True, False, False, True]),
    ("-num(n) < -1 and abs(num(n)) != 4.5", [True, False, False, False]),
    ("n == '2' or strip(upper(text)) == 'OK'", [True, False, False, True]),
    ("text.isna() or label.isnull()", [False, False, True, False]),
    ("1 < num(n) < 3", [True, False, False, False]),
    ("label + '-x' == 'a-x'", [True, False, False, False]),
    ("True", [True, True, True, True]),
    ("num(n)", [True, True, False, True]),
])
def test_expression_language(expr, expected):
    table = pd.DataFrame({"text": ["hello", "SPAM now", None, "ok"], "label": ["a", "b", "c", "b"],
                          "n": ["2", "1", None, "4.5"]}, dtype=object)
    assert expression.parse(expr).evaluate(table).tolist() == expected


@pytest.mark.parametrize("expr, message", [
    ("__import__('os').system('echo pwned')", "function '__import__(\\'os\\').system' is not allowed|name '__import__' is not allowed|method 'system' is not allowed"),
    ("__import__('os')", "function '__import__' is not allowed; allowed: abs, contains"),
    ("text.__class__.__mro__", "attribute '__mro__' is not allowed"),
    ("open('/etc/passwd')", "function 'open' is not allowed"),
    ("eval('1')", "function 'eval' is not allowed"),
    ("(lambda: 1)()", "function 'lambda: 1' is not allowed"),
    ("lambda: 1", "Lambda is not allowed"),
    ("[x for x in text]", "ListComp is not allowed"),
    ("text[0]", "Subscript is not allowed"),
    ("text.str.len()", "attribute 'str' is not allowed|method 'len' is not allowed"),
    ("len(text, text)", r"len\(\) takes 1 argument, got 2"),
    ("len(text=1)", "keyword arguments are not allowed"),
    ("_private > 1", "name '_private' is not allowed"),
    ("x := 1", "not valid"),
    ("", "expected a non-empty expression"),
    ("-" * 1900 + "1", "nested too deeply|not valid"),
    ("a" * 3000, "the limit is 2000"),
    ('matches(text, "(a")', r"matches\(\): bad pattern '\(a'"),
    ('"ab" * 2000000000 == "x"', r"\* takes numbers, not text or lists, got \"'ab'\""),
    ("[1, 2] * 900000000 == [1]", r"\* takes numbers, not text or lists, got '\[1, 2\]'"),
    ('-"abc" > 0', "unary - takes numbers, not text or lists"),
    ("[text] < [text]", "list items are literals .* got 'text'"),
])
def test_unsafe_or_invalid_expressions_are_refused(expr, message):
    with pytest.raises(RuleError, match=message):
        expression.parse(expr)


@pytest.mark.parametrize("expr, message", [
    ("1 / 0 > 0", "cannot be evaluated: division by zero"),
    ("num(n) % 0 == 0 or 1 % 0 == 0", "cannot be evaluated: integer modulo by zero"),
    ('abs("x") == 1', "cannot be evaluated: bad operand type for abs"),
    ('("a" + "b") * 1000000000 == "x"', "\\* takes numbers, got 'ab'"),
    ("text + [1] == 1", "\\+ takes numbers, got \\[1\\]"),
])
def test_expression_errors_at_run_time_name_the_rule(tmp_path, expr, message):
    table = make_table(["a", None], n=["1", "x"])
    with pytest.raises(RuleError, match="rule 1 \\(expression\\): expression '.*': " + message):
        run_rules(table, [{"check": "expression", "params": {"expr": expr}}], tmp_path)


def test_unsafe_expression_in_a_rule_file_names_the_rule(tmp_path):
    path = tmp_path / "r.yaml"
    path.write_text("rules:\n  - check: expression\n    params: {expr: \"__import__('os').system('touch /tmp/pwned')\"}\n")
    from curator.validate import load_rules
    with pytest.raises(RuleError, match=r"r.yaml:2: rule 1 \(expression\): expression .* is not allowed"):
        load_rules(path)


def test_expression_names_unknown_columns(tmp_path):
    with pytest.raises(RuleError, match=re.escape("rule 1 (expression): expression 'len(body) > 0': unknown column "
                                                  "'body'; columns are: id, text, label, source")):
        run_rules(make_table(["a"]), [{"check": "expression", "params": {"expr": "len(body) > 0"}}], tmp_path)


@pytest.mark.parametrize("rule, field, passing, failing", [
    ({"check": "allowed_values", "params": {"values": ["web", "email"]}}, "channel", "web", "fax"),
    ({"check": "label_in_set", "params": {"labels": ["positive", "negative"]}}, "label", "negative", "Positve"),
    ({"check": "pii"}, "text", "my order 12917 is late", "mail me at chen.wei@example.com"),
])
def test_value_checks_pass_and_fail_with_their_reason_code(tmp_path, rule, field, passing, failing):
    table = make_table(["t one", "t two"], ["positive", "positive"])
    table[field] = [passing, failing]
    assert decided(tmp_path, table, {**rule, "field": field, "severity": "error"}) == {"r1": ("dropped", f"rule:{rule['check']}")}
