"""Rule sets: loading (include, overrides, errors naming file and line), severities, fixes in the
ledger, config-level label checks, the shipped rule sets, and the report artifacts."""

import json

import pandas as pd
import pytest
import yaml

from curator.checks import REGISTRY, check, fixer
from curator.config import parse_config
from curator.errors import RuleError
from curator.ingest import ingest
from curator.steps import Context, Runner
from curator.validate import RULES_DIR, ValidateStep, _set_values, load_rules

from conftest import SAMPLE, make_table


def run_rules(table, rules, tmp_path, *, root=None, labels=None, name="r.yaml", **step):
    """Run the validate step with ``rules`` (a list of rule dicts, or YAML text); returns
    (table out, ledger, artifacts)."""
    path = tmp_path / name
    path.write_text(rules if isinstance(rules, str) else yaml.safe_dump({"rules": rules}, sort_keys=False))
    cfg = parse_config({"input": {"path": "x"}, "labels": labels})
    vstep = ValidateStep(load_rules(path), labels, require_label=False, **step)
    ctx = Context(cfg, root=root)
    runner = Runner(ctx)
    out = runner.run(table, [vstep])
    return out, runner.ledger.to_frame(), ctx.artifacts.get("validate", {})


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


# -- the shipped rule sets -----------------------------------------------------------------------------

def test_shipped_text_rules_drop_empty_and_short_and_fix_markup():
    table = make_table(["", "   ", "ok", "a fine ticket text", "<p>my order</p> never came", None,
                        "caf\u00c3\u00a9 au lait was cold", "zero\u200bwidth text here"])
    cfg = parse_config({"input": {"path": "x"}, "rules": ["text-classification"]})
    runner = Runner(Context(cfg))
    out = runner.run(table, [ValidateStep.from_config(cfg)])
    ledger = runner.ledger.to_frame()
    assert reasons(ledger) == {"r0": "rule:not_empty", "r1": "rule:not_empty", "r2": "rule:min_length",
                               "r5": "rule:not_empty"}
    assert reasons(ledger, "fixed") == {"r4": "rule:html_residue", "r6": "rule:mojibake", "r7": "rule:control_chars"}
    assert out.set_index("id").loc[["r4", "r6", "r7"], "text"].tolist() == [
        "my order never came", "café au lait was cold", "zerowidth text here"]


@pytest.mark.parametrize("name", sorted(p.stem for p in RULES_DIR.glob("*.yaml")))
def test_every_shipped_rule_set_loads_and_is_commented(name):
    rules = load_rules(RULES_DIR / f"{name}.yaml")
    assert rules and all(r.reason.startswith("rule:") for r in rules)
    assert (RULES_DIR / f"{name}.yaml").read_text().startswith("#")


def test_user_generated_text_includes_and_overrides_text_classification():
    rules = {r.name: r for r in load_rules(RULES_DIR / "user-generated-text.yaml")}
    assert rules["min_length"].params == {"chars": 15, "words": 3}  # overridden
    assert rules["repeated_chars"].severity == "error"
    assert rules["not_empty"].where.split(":")[0].endswith("text-classification.yaml")  # from the include
    assert {"pii", "profanity", "spam_phrases", "many_links", "language"} <= set(rules)


def test_user_generated_text_on_sample_tickets_masks_pii():
    planted = json.loads((SAMPLE / "text" / "planted.json").read_text())
    cfg = parse_config({"input": {"path": str(SAMPLE / "text" / "tickets.csv")}, "rules": ["user-generated-text"],
                        "steps": {"validate": {"require_label": False}}})
    table = ingest(cfg).table
    runner = Runner(Context(cfg))
    out = runner.run(table, [ValidateStep.from_config(cfg)])
    ledger = runner.ledger.to_frame()
    fixed = ledger.query("action == 'fixed' and reason == 'rule:pii'")
    lines = {int(s.split(":")[1]) for s in table.set_index("id").loc[fixed["id"], "source"]}
    assert lines == set(planted["pii"])
    masked = out.set_index("id").loc[fixed["id"], "text"]
    assert not masked.str.contains("@example|4111|203\\.0\\.113", regex=True).any()
    fixed_mojibake = ledger.query("action == 'fixed' and reason == 'rule:mojibake'")
    assert {int(s.split(":")[1]) for s in table.set_index("id").loc[fixed_mojibake["id"], "source"]} == \
        set(planted["mojibake"])
    # Non-Latin tickets are flagged by the language rule, or dropped first by another rule.
    decided = ledger.query("(action == 'flagged' and reason == 'rule:language') or action == 'dropped'")
    assert {int(s.split(":")[1]) for s in table.set_index("id").loc[decided["id"], "source"]} >= \
        set(planted["non_latin"])


# -- severities and the ledger ------------------------------------------------------------------------

def test_warn_severity_flags_and_keeps(tmp_path):
    out, ledger = validate(make_table(["short", "long enough text"]),
                           "rules:\n  - {check: min_length, field: text, params: {chars: 10}, severity: warn}\n", tmp_path)
    assert len(out) == 2 and reasons(ledger, "flagged") == {"r0": "rule:min_length"}


def test_fix_records_old_and_new_values_and_passes_the_new_table_on(tmp_path):
    table = make_table(["<b>bold</b> claim here", "plain text here", "&amp; more &lt;b&gt;"])
    out, ledger, art = run_rules(table, [{"check": "html_residue", "field": "text", "severity": "fix"},
                                         {"check": "regex", "field": "text", "params": {"pattern": "&"}}], tmp_path)
    fixed = ledger[ledger.action == "fixed"].set_index("id")
    assert fixed.loc["r0", ["column", "old_value", "new_value", "reason"]].tolist() == \
        ["text", "<b>bold</b> claim here", "bold claim here", "rule:html_residue"]
    assert fixed.loc["r2", "new_value"] == "& more"  # unescaped; the escaped tag is stripped too
    # The next rule saw the fixed text: only the row whose fix produced an "&" is dropped.
    assert reasons(ledger) == {"r2": "rule:regex"}
    assert out["text"].tolist() == ["bold claim here", "plain text here"]
    entry = art["rules"][0]
    assert entry["fixed"] == 2 and entry["fix_examples"][0] == {
        "id": "r0", "column": "text", "before": "<b>bold</b> claim here", "after": "bold claim here"}


def test_a_fix_that_cannot_repair_flags_the_row(tmp_path):
    table = make_table(["fine text", "lost \ufffd data here"])
    out, ledger, _ = run_rules(table, [{"check": "mojibake", "field": "text", "severity": "fix"}], tmp_path)
    assert reasons(ledger, "flagged") == {"r1": "rule:mojibake"}
    assert ledger.loc[ledger.action == "flagged", "detail"].iloc[0].startswith("could not be fixed: ")
    assert len(out) == 2 and (ledger.action == "fixed").sum() == 0


def test_fixed_values_widen_a_numeric_column():
    table = pd.DataFrame({"n": pd.Series([1, 2, 3], dtype="int64")})
    _set_values(table, pd.Index([1]), "n", pd.Series(["two"], index=[1]))
    assert table["n"].tolist() == [1, "two", 3]


def test_only_the_first_error_drops_and_warnings_on_dropped_rows_are_not_flagged(tmp_path):
    table = make_table(["x", "a good text"])
    _, ledger, art = run_rules(table, [
        {"check": "min_length", "field": "text", "params": {"chars": 3}, "severity": "warn", "name": "short_warn"},
        {"check": "min_length", "field": "text", "params": {"chars": 2}, "name": "tiny"},
        {"check": "not_empty", "field": "text"}], tmp_path)
    assert reasons(ledger) == {"r0": "rule:tiny"} and reasons(ledger, "flagged") == {}
    counts = {r["name"]: (r["failed"], r["dropped"], r["flagged"]) for r in art["rules"]}
    assert counts == {"short_warn": (1, 0, 1), "tiny": (1, 1, 0), "not_empty": (0, 0, 0)}


def test_artifacts_have_per_rule_counts_examples_and_a_per_class_table(tmp_path):
    table = make_table(["x", "a good text", "y", "another fine one"], ["a", "a", "b", "b"])
    _, _, art = run_rules(table, [{"check": "min_length", "field": "text", "params": {"chars": 2}}], tmp_path)
    rule = art["rules"][0]
    assert rule["examples"] == [{"id": "r0", "value": "x", "detail": "1 chars, 1 words (min 2 chars, 0 words)"},
                                {"id": "r2", "value": "y", "detail": "1 chars, 1 words (min 2 chars, 0 words)"}]
    assert rule["where"].endswith("r.yaml:2: rule 1 (min_length)")
    assert art["per_class"] == [{"label": "a", "rows": 2, "dropped": 1, "flagged": 0, "fixed": 0, "error_rate": 0.5},
                                {"label": "b", "rows": 2, "dropped": 1, "flagged": 0, "fixed": 0, "error_rate": 0.5}]
    json.dumps(art)  # the report writes it as JSON


# -- config-level label checks --------------------------------------------------------------------------

def test_unknown_label_gets_a_near_miss_hint_and_missing_label_is_dropped():
    table = make_table(["t1 text", "t2 text", "t3 text", "t4 text"], ["billing", "Biling ", "other", None])
    _, ledger = validate(table, labels=["billing", "shipping"])
    assert reasons(ledger) == {"r1": "unknown_label", "r2": "unknown_label", "r3": "missing_label"}
    details = dict(zip(ledger["id"], ledger["detail"]))
    assert details["r1"] == "label 'Biling ' is not in the label list (did you mean 'billing'?)"
    assert details["r2"] == "label 'other' is not in the label list"


def test_unknown_labels_can_be_fixed_to_their_near_miss():
    table = make_table(["t1 text", "t2 text", "t3 text", "t4 text"], ["Positve", "NEGATIVE ", "other", "positive"])
    step = ValidateStep([], ["positive", "negative"], require_label=True, unknown_label="fix")
    runner = Runner(Context(parse_config({"input": {"path": "x"}})))
    out = runner.run(table, [step])
    ledger = runner.ledger.to_frame()
    fixed = ledger[ledger.action == "fixed"]
    assert list(zip(fixed["id"], fixed["old_value"], fixed["new_value"])) == [
        ("r0", "Positve", "positive"), ("r1", "NEGATIVE ", "negative")]
    assert reasons(ledger) == {"r2": "unknown_label"}
    assert out["label"].tolist() == ["positive", "negative", "positive"]


def test_label_in_set_rule_fixes_near_misses_before_the_label_list_is_checked(tmp_path):
    table = make_table(["t1 text", "t2 text", "t3 text"], ["Positve", "neutral", "negative"])
    out, ledger, _ = run_rules(table, [{"check": "label_in_set", "field": "label", "severity": "fix"}], tmp_path,
                               labels=["positive", "negative"])
    assert reasons(ledger, "fixed") == {"r0": "rule:label_in_set"}
    fixed = ledger[ledger["action"] == "fixed"]
    assert fixed[["column", "old_value", "new_value"]].values.tolist() == [["label", "Positve", "positive"]]
    assert reasons(ledger) == {"r1": "unknown_label"}  # no near miss: the run's label list drops it
    assert out["label"].tolist() == ["positive", "negative"]


def test_label_in_set_flags_what_it_cannot_fix(tmp_path):
    table = make_table(["t1 text", "t2 text"], ["Positve", "neutral"])
    _, ledger, _ = run_rules(table, [{"check": "label_in_set", "field": "label", "severity": "fix",
                                      "params": {"labels": ["positive", "negative"]}}], tmp_path)
    assert reasons(ledger, "fixed") == {"r0": "rule:label_in_set"}
    assert reasons(ledger, "flagged") == {"r1": "rule:label_in_set"}


def test_missing_labels_can_be_kept():
    out, ledger = validate(make_table(["t1 text", "t2 text"], ["a", None]), steps={"validate": {"require_label": False}})
    assert len(out) == 2 and ledger.empty


# -- rule-file errors -----------------------------------------------------------------------------------

@pytest.mark.parametrize("text, message", [
    ("rules:\n  - {check: min_lenght, field: text}\n", "r.yaml:2: rule 1: unknown check 'min_lenght'; known checks: "),
    ("rules:\n  - {check: not_empty, field: text}\n  - {check: min_length, field: text, params: {char: 3}}\n",
     "r.yaml:3: rule 2 (min_length): check 'min_length' has no param 'char'; expected: chars, words"),
    ("rules:\n  - {check: regex, field: text}\n", "r.yaml:2: rule 1 (regex): check 'regex' needs param 'pattern'"),
    ("rules:\n  - {check: min_length, field: text, params: {chars: 'ten'}}\n",
     "param 'chars' of check 'min_length' expected int, got 'ten'"),
    ("rules:\n  - {check: min_length, field: text, params: {chars: true}}\n", "expected int, got True"),
    ("rules:\n  - {check: pii, field: text, params: {kinds: [email, ssn]}}\n",
     "param 'kinds': unknown kind 'ssn'; expected some of: credit_card, email, ip_address, phone"),
    ("rules:\n  - {check: not_empty, field: text, severty: warn}\n",
     "r.yaml:2: rule 1: severty: unknown key; a rule has keys check, field, name, params, severity"),
    ("rules:\n  - {check: not_empty, field: text, severity: fatal}\n", "rule 1: severity: Input should be 'error', 'warn' or 'fix'"),
    ("rules:\n  - {check: not_empty, field: text, severity: fix}\n",
     "check 'not_empty' cannot fix values, so severity 'fix' is not possible; checks that can fix: allowed_values, "),
    ("rules:\n  - {check: not_empty}\n", "check 'not_empty' needs a `field:`"),
    ("rules:\n  - {check: expression, field: text, params: {expr: 'len(text) > 0'}}\n", "takes no `field:`"),
    ("rules:\n  - {check: regex, field: text, params: {pattern: '(a'}}\n", "bad pattern '(a'"),
    ("rules:\n  - {check: regex, field: text, params: {pattern: '(a)\\1'}}\n", "RE2 syntax"),
    ("rules:\n  - {check: language, field: text, params: {languages: [english]}}\n", "unknown language code 'english'"),
    ("rules:\n  - {check: not_empty, field: text}\n  - {check: not_empty, field: label}\n",
     "rule 2 (not_empty): another rule is already named 'not_empty'"),
    ("rules:\n  - {check: not_empty, field: text, name: Not-Empty}\n", "name 'Not-Empty' is not a snake_case reason code"),
    ("rules:\n  - {check: word_list, field: text, params: {file: nope.txt}}\n", "param 'file': file 'nope.txt' not found"),
    ("rules:\n  - {check: exif_orientation, field: image, params: {dir: ../../etc}}\n",
     "param 'dir' expected a folder inside the dataset root"),
    ("rulez: []\n", "r.yaml: top level: rulez: unknown key; a rule file has keys include, overrides, rules"),
    ("rules: [\n", "r.yaml:2: not a valid YAML rule set"),
    ("- just a list\n", "top level: expected a mapping"),
    ("include: no-such-set\nrules: []\n", "r.yaml:1: include 'no-such-set': rule set 'no-such-set' not found"),
    ("include: text-classification\noverrides:\n  min_lenght: {severity: warn}\n",
     "r.yaml:3: overrides.min_lenght: no included rule is named 'min_lenght'; included rules: control_chars, "),
    ("include: text-classification\noverrides:\n  min_length: {params: {char: 3}}\n",
     "r.yaml:3: overrides.min_length: check 'min_length' has no param 'char'"),
    ("include: text-classification\noverrides:\n  min_length: {sevrity: warn}\n",
     "overrides.min_length: sevrity: unknown key; an override has keys enabled, field, params, severity"),
    ("include: text-classification\nrules:\n  - {check: min_length, field: text}\n",
     "rule 1 (min_length): another rule is already named 'min_length' ("),
])
def test_rule_file_errors_name_file_position_and_what_is_valid(tmp_path, text, message):
    path = tmp_path / "r.yaml"
    path.write_text(text)
    with pytest.raises(RuleError) as err:
        load_rules(path)
    assert message in str(err.value) and "\n" not in str(err.value)


def test_include_overrides_and_disables_single_rules(tmp_path):
    (tmp_path / "base.yaml").write_text("rules:\n  - {check: not_empty, field: text}\n"
                                        "  - {check: min_length, field: text, params: {chars: 3, words: 1}}\n"
                                        "  - {check: max_length, field: text, params: {chars: 100}}\n")
    (tmp_path / "mine.yaml").write_text("include: base.yaml\noverrides:\n  min_length: {params: {chars: 10}, severity: warn}\n"
                                        "  max_length: {enabled: false}\nrules:\n  - {check: regex, field: text, params: {pattern: x}}\n")
    rules = load_rules(tmp_path / "mine.yaml")
    assert [(r.name, r.severity) for r in rules] == [("not_empty", "error"), ("min_length", "warn"), ("regex", "error")]
    assert rules[1].params == {"chars": 10, "words": 1}  # one param overridden, the other kept
    assert rules[1].where.startswith(str(tmp_path / "mine.yaml") + ":3: overrides.min_length")


def test_a_rule_set_reached_twice_runs_its_rules_once(tmp_path):
    (tmp_path / "base.yaml").write_text("rules:\n  - {check: not_empty, field: text}\n"
                                        "  - {check: min_length, field: text, params: {chars: 3}}\n")
    (tmp_path / "a.yaml").write_text("include: base.yaml\n"
                                     "rules:\n  - {check: regex, field: text, params: {pattern: x}}\n")
    (tmp_path / "sub").mkdir()
    (tmp_path / "b.yaml").write_text("include: sub/../base.yaml\n")
    (tmp_path / "both.yaml").write_text("include: [a.yaml, b.yaml]\n")
    assert [r.name for r in load_rules(tmp_path / "both.yaml")] == ["not_empty", "min_length", "regex"]
    cfg = parse_config({"input": {"path": "x"}, "rules": [str(tmp_path / "a.yaml"), str(tmp_path / "base.yaml")]})
    assert [r.name for r in ValidateStep.from_config(cfg).rules] == ["not_empty", "min_length", "regex"]


def test_a_rule_set_reached_twice_and_changed_once_says_which_to_keep(tmp_path):
    with pytest.raises(RuleError, match=r"rules: 'user-generated-text': rule 'min_length' \(.*text-classification.yaml"
                                        r":\d+: rule \d \(min_length\)\) is already in an earlier rule set, changed "
                                        r"differently .*; list only the one that changes it"):
        ValidateStep.from_config(parse_config({"input": {"path": "x"},
                                               "rules": ["text-classification", "user-generated-text"]}))
    (tmp_path / "both.yaml").write_text("include: [user-generated-text, text-classification]\n")
    with pytest.raises(RuleError, match=r"both.yaml:1: include 'text-classification': rule 'min_length' .* comes "
                                        r"twice, changed differently .*; include only the one that changes it"):
        load_rules(tmp_path / "both.yaml")


def test_include_cycles_are_errors(tmp_path):
    (tmp_path / "a.yaml").write_text("include: b.yaml\n")
    (tmp_path / "b.yaml").write_text("include: a.yaml\n")
    with pytest.raises(RuleError, match="include cycle: a.yaml -> b.yaml -> a.yaml"):
        load_rules(tmp_path / "a.yaml")


def test_word_list_files_resolve_next_to_the_rule_file(tmp_path):
    (tmp_path / "lists").mkdir()
    (tmp_path / "lists" / "bad.txt").write_text("# comment\ndarn\nheck\n")
    _, ledger, _ = run_rules(make_table(["well darn it", "all fine here"]),
                             "rules:\n  - {check: word_list, field: text, params: {file: lists/bad.txt}}\n", tmp_path)
    assert reasons(ledger) == {"r0": "rule:word_list"}


def test_unknown_field_lists_the_columns(tmp_path):
    with pytest.raises(RuleError, match="r.yaml:2: rule 1 \\(not_empty\\): field 'body' is not a column; "
                                        "columns are: id, text, label, source"):
        validate(make_table(["x"]), "rules:\n  - {check: not_empty, field: body}\n", tmp_path)


def test_unknown_rule_set_name():
    with pytest.raises(RuleError, match="rule set 'no-such-rules' not found"):
        ValidateStep.from_config(parse_config({"input": {"path": "x"}, "rules": ["no-such-rules"]}))


def test_registry_validates_new_checks_and_fixers():
    with pytest.raises(ValueError, match="do not match the function's keyword arguments"):
        @check("bad_params_check", params={"n": int})
        def bad(values, m=1):
            return values.isna()
    with pytest.raises(ValueError, match="snake_case"):
        check("Bad-Name")
    with pytest.raises(ValueError, match="registered twice"):
        check("not_empty")(lambda values: values.isna())
    with pytest.raises(ValueError, match="fixer for unknown check"):
        fixer("no_such_check")(lambda values: values)
    with pytest.raises(ValueError, match="already has a fixer"):
        fixer("html_residue")(lambda values: values)
    with pytest.raises(ValueError, match="do not match the check's params"):
        fixer("min_length")(lambda values, chars=0: values)
    assert "bad_params_check" not in REGISTRY and REGISTRY["min_length"].fix is None


def test_a_new_check_with_a_fixer_plugs_in_without_engine_changes(tmp_path):
    @check("test_shouty_suffix", params={"suffix": str})
    def shouty(values, suffix="!!"):
        """Text ending in the suffix fails."""
        return values.fillna("").str.endswith(suffix)

    @fixer("test_shouty_suffix")
    def calm(values, suffix="!!"):
        return values.str.removesuffix(suffix) + "."

    try:
        _, ledger, _ = run_rules(make_table(["hello there!!", "calm text"]),
                                 [{"check": "test_shouty_suffix", "field": "text", "severity": "fix"}], tmp_path)
        assert ledger[["id", "old_value", "new_value"]].values.tolist() == [["r0", "hello there!!", "hello there."]]
    finally:
        REGISTRY.pop("test_shouty_suffix")


def test_word_counts_ignore_surrounding_and_unicode_whitespace(tmp_path):
    table = make_table(["  one\u00a0two  ", "", "one\u2003two three"])
    _, ledger = validate(table, "rules:\n  - {check: min_length, field: text, params: {words: 3}}\n", tmp_path)
    details = dict(zip(ledger["id"], ledger["detail"]))
    assert details == {"r0": "7 chars, 2 words (min 0 chars, 3 words)", "r1": "0 chars, 0 words (min 0 chars, 3 words)"}
