"""Rule sets: loading errors, the spine's checks and config-level label checks."""

import pandas as pd
import pytest

from curator.checks import REGISTRY, check
from curator.config import parse_config
from curator.errors import RuleError
from curator.steps import Context, Runner
from curator.validate import ValidateStep, load_rules

from conftest import make_table


def validate(table, rules_yaml=None, tmp_path=None, **cfg_extra):
    rules = []
    if rules_yaml is not None:
        (tmp_path / "r.yaml").write_text(rules_yaml)
        rules = [str(tmp_path / "r.yaml")]
    cfg = parse_config({"input": {"path": "x"}, "rules": rules, **cfg_extra})
    runner = Runner(Context(cfg))
    out = runner.run(table, [ValidateStep.from_config(cfg)])
    return out, runner.ledger.to_frame()


def reasons(ledger, action="dropped"):
    sel = ledger[ledger.action == action]
    return dict(zip(sel["id"], sel["reason"]))


def test_shipped_text_rules_drop_empty_and_short_and_flag_markup():
    table = make_table(["", "   ", "ok", "a fine ticket text", "<p>my order</p> never came", None])
    cfg = parse_config({"input": {"path": "x"}, "rules": ["text-classification"]})
    runner = Runner(Context(cfg))
    runner.run(table, [ValidateStep.from_config(cfg)])
    ledger = runner.ledger.to_frame()
    assert reasons(ledger) == {"r0": "rule:not_empty", "r1": "rule:not_empty", "r2": "rule:min_length",
                               "r5": "rule:not_empty"}
    assert reasons(ledger, "flagged") == {"r4": "rule:regex"}


@pytest.mark.parametrize("rule, passing, failing, detail", [
    ("check: min_length\n    field: text\n    params: {words: 3}", "one two three", "one two", "2 words (min 0 chars, 3 words)"),
    ("check: max_length\n    field: text\n    params: {chars: 5}", "12345", "123456", "6 chars (max 5)"),
    ("check: regex\n    field: text\n    params: {pattern: '^[a-z ]+$', must_match: true}", "abc", "ABC", "does not match"),
    ("check: not_empty\n    field: channel", "x", None, "empty or missing"),
])
def test_each_check_passes_and_fails(tmp_path, rule, passing, failing, detail):
    table = make_table(["one two three", "t"], channel=["a", "b"])
    field = "channel" if "channel" in rule else "text"
    table[field] = [passing, failing]
    _, ledger = validate(table, f"rules:\n  - {rule}\n", tmp_path)
    dropped = ledger[ledger.action == "dropped"]
    assert dropped["id"].tolist() == ["r1"]
    assert dropped["reason"].iloc[0].startswith("rule:")
    assert detail in dropped["detail"].iloc[0]


def test_min_size_reads_image_sizes(tmp_path):
    table = make_table([None, None]).assign(image=["a.png", "b.png"], image_width=[64, 6], image_height=[64, 6])
    _, ledger = validate(table, "rules:\n  - {check: min_size, field: image, params: {width: 16, height: 16}}\n", tmp_path)
    assert reasons(ledger) == {"r1": "rule:min_size"}
    assert ledger["detail"].iloc[0] == "6x6 px (min 16x16)"


def test_warn_severity_flags_and_keeps(tmp_path):
    out, ledger = validate(make_table(["short", "long enough text"]),
                           "rules:\n  - {check: min_length, field: text, params: {chars: 10}, severity: warn}\n", tmp_path)
    assert len(out) == 2 and reasons(ledger, "flagged") == {"r0": "rule:min_length"}


def test_unknown_label_gets_a_near_miss_hint_and_missing_label_is_dropped():
    table = make_table(["t1 text", "t2 text", "t3 text", "t4 text"], ["billing", "Biling ", "other", None])
    _, ledger = validate(table, labels=["billing", "shipping"])
    assert reasons(ledger) == {"r1": "unknown_label", "r2": "unknown_label", "r3": "missing_label"}
    details = dict(zip(ledger["id"], ledger["detail"]))
    assert details["r1"] == "label 'Biling ' is not in the label list (did you mean 'billing'?)"
    assert details["r2"] == "label 'other' is not in the label list"


def test_missing_labels_can_be_kept():
    out, ledger = validate(make_table(["t1 text", "t2 text"], ["a", None]), steps={"validate": {"require_label": False}})
    assert len(out) == 2 and ledger.empty


@pytest.mark.parametrize("text, message", [
    ("rules:\n  - {check: min_lenght, field: text}\n", "r.yaml: rule 1: unknown check 'min_lenght'; known checks: "),
    ("rules:\n  - {check: not_empty, field: text}\n  - {check: min_length, field: text, params: {char: 3}}\n",
     "r.yaml: rule 2 (min_length): check 'min_length' has no param 'char'; expected: chars, words"),
    ("rules:\n  - {check: max_length, field: text}\n", "rule 1 (max_length): check 'max_length' needs param 'chars'"),
    ("rules:\n  - {check: min_length, field: text, params: {chars: 'ten'}}\n",
     "param 'chars' of check 'min_length' expected int, got 'ten'"),
    ("rules:\n  - {check: min_length, field: text, params: {chars: true}}\n", "expected int, got True"),
    ("rules:\n  - {check: not_empty, field: text, severty: warn}\n", "r.yaml: rule 1: severty: unknown key"),
    ("rules:\n  - {check: not_empty, field: text, severity: fatal}\n", "rule 1: severity:"),
    ("rulez: []\n", "r.yaml: top level"),
])
def test_rule_file_errors_name_file_position_and_what_is_valid(tmp_path, text, message):
    path = tmp_path / "r.yaml"
    path.write_text(text)
    with pytest.raises(RuleError) as err:
        load_rules(path)
    assert message in str(err.value) and "\n" not in str(err.value)


def test_unknown_field_lists_the_columns(tmp_path):
    with pytest.raises(RuleError, match="rule 1 \\(not_empty\\): field 'body' is not a column; columns are: id, text, label, source"):
        validate(make_table(["x"]), "rules:\n  - {check: not_empty, field: body}\n", tmp_path)


def test_unknown_rule_set_name():
    with pytest.raises(RuleError, match="rule set 'no-such-rules' not found"):
        ValidateStep.from_config(parse_config({"input": {"path": "x"}, "rules": ["no-such-rules"]}))


def test_registry_validates_new_checks():
    with pytest.raises(ValueError, match="do not match the function's keyword arguments"):
        @check("bad_params_check", params={"n": int})
        def bad(values, m=1):
            return values.isna()
    with pytest.raises(ValueError, match="snake_case"):
        check("Bad-Name")
    with pytest.raises(ValueError, match="registered twice"):
        check("not_empty")(lambda values: values.isna())
    assert "bad_params_check" not in REGISTRY


def test_word_counts_ignore_surrounding_and_unicode_whitespace(tmp_path):
    table = make_table(["  one\u00a0two  ", "", "one\u2003two three"])
    _, ledger = validate(table, "rules:\n  - {check: min_length, field: text, params: {words: 3}}\n", tmp_path)
    details = dict(zip(ledger["id"], ledger["detail"]))
    assert details == {"r0": "7 chars, 2 words (min 0 chars, 3 words)", "r1": "0 chars, 0 words (min 0 chars, 3 words)"}
