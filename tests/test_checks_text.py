"""Every text check on passing and failing rows (reason codes asserted), and every text fix with
its before and after in the ledger."""

import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from curator.checks import REGISTRY
from curator.checks_text import char_runs, word_repetition
from curator.text_arrays import codepoints

from conftest import make_table
from test_validate import run_rules

TOKENIZER = "<a tokenizer.json written by the fixture>"


@pytest.fixture(scope="module")
def tokenizer_file(tmp_path_factory):
    """A small word-level tokenizer saved as tokenizer.json (what a model folder ships)."""
    tokenizers = pytest.importorskip("tokenizers")
    from tokenizers import models, pre_tokenizers

    tok = tokenizers.Tokenizer(models.WordLevel({"[UNK]": 0, "hello": 1, "world": 2}, unk_token="[UNK]"))
    tok.pre_tokenizer = pre_tokenizers.Whitespace()
    tok.enable_padding(length=128)  # as some saved tokenizers do: the check must count real tokens
    path = tmp_path_factory.mktemp("tok") / "tokenizer.json"
    tok.save(str(path))
    return str(path)


def outcome(tmp_path, texts, rule):
    """{id: (action, reason)} for the rows the rule decided on, and the table out."""
    out, ledger, _ = run_rules(make_table(texts), [{"field": "text", **rule}], tmp_path)
    return {i: (a, r) for i, a, r in zip(ledger["id"], ledger["action"], ledger["reason"])}, out, ledger


CASES = [
    # (rule, passing text, failing text)
    ({"check": "not_empty"}, "x", "  \t "),
    ({"check": "min_length", "params": {"chars": 5, "words": 2}}, "two words", "one"),
    ({"check": "max_length", "params": {"chars": 10}}, "short", "far too long a text"),
    ({"check": "max_length", "params": {"words": 3}}, "one two three", "one two three four"),
    ({"check": "token_length", "params": {"tokenizer": TOKENIZER, "max_tokens": 4}},
     "hello world", "tokenization splits, unbelievably, long words"),
    ({"check": "token_length", "params": {"tokenizer": TOKENIZER, "min_tokens": 3}},
     "three word text", "hi"),
    ({"check": "regex", "params": {"pattern": "[0-9]{5}"}}, "no digits", "order 12345"),
    ({"check": "regex", "params": {"pattern": "^[a-z ]+$", "must_match": True}}, "lower case", "Upper"),
    ({"check": "regex", "params": {"pattern": "free", "ignore_case": True}}, "paid", "FREE stuff"),
    ({"check": "regex", "params": {"pattern": "https?://", "max_matches": 1}}, "see http://a.b",
     "http://a.b http://c.d"),
    ({"check": "word_list", "params": {"words": ["darn", "heck"]}}, "darnation is fine", "well, Darn it"),
    ({"check": "mojibake"}, "café déjà vu", "cafÃ© dÃ©jÃ  vu"),
    ({"check": "html_residue"}, "a < b and c > d", "see <a href='x'>here</a>"),
    ({"check": "html_residue"}, "AT&T rocks", "fish &amp; chips"),
    ({"check": "control_chars"}, "tab\tand\nnewline", "zero\u200bwidth"),
    ({"check": "control_chars"}, "emoji \U0001F469\u200d\U0001F4BB", "bell\x07"),
    ({"check": "control_chars", "params": {"joiners": True}}, "plain", "emoji \U0001F469\u200d\U0001F4BB"),
    ({"check": "repeated_chars", "params": {"max_run": 5}}, "soooo good", "nooooooooo way"),
    ({"check": "repeated_chars", "params": {"max_ratio": 0.5}}, "a normal sentence here", "aaa bbb ccc ddd eee ok"),
    ({"check": "repeated_words", "params": {"max_ratio": 0.5, "min_words": 4}}, "every word here differs",
     "buy now buy now buy now"),
    ({"check": "caps_ratio", "params": {"max_ratio": 0.7, "min_letters": 5}}, "Hello There NASA",
     "THIS IS SO WRONG"),
    ({"check": "language", "params": {"languages": ["en"], "min_chars": 10}}, "This is clearly an English sentence.",
     "Dies ist eindeutig ein deutscher Satz über Bestellungen."),
    ({"check": "language", "params": {"languages": ["en"], "among": ["en", "ru"], "min_chars": 10}},
     "Where is my order? It never came.", "Где мой заказ? Он так и не пришёл."),
]


@pytest.mark.parametrize("rule, passing, failing", CASES, ids=[f"{c[0]['check']}-{i}" for i, c in enumerate(CASES)])
def test_check_passes_and_fails(tmp_path, tokenizer_file, rule, passing, failing):
    if rule.get("params", {}).get("tokenizer") == TOKENIZER:
        rule = {**rule, "params": {**rule["params"], "tokenizer": tokenizer_file}}
    decided, _, ledger = outcome(tmp_path, [passing, failing], {**rule, "severity": "error"})
    assert decided == {"r1": ("dropped", f"rule:{rule['check']}")}
    assert ledger["detail"].iloc[0]


def test_language_passes_short_and_cjk_is_long_enough(tmp_path):
    decided, _, _ = outcome(tmp_path, ["ok", "注文した商品がまだ届いていません。"],
                            {"check": "language", "params": {"languages": ["en"]}})
    assert decided == {"r1": ("dropped", "rule:language")}


def test_chinese_and_japanese_characters_count_as_words(tmp_path):
    texts = ["今天天气很好", "注文した商品がまだ届いていません。", "字", "你好，", "hello 世界", "안녕하세요 세계"]
    decided, _, ledger = outcome(tmp_path, texts, {"check": "min_length", "params": {"chars": 1, "words": 2}})
    assert decided == {"r2": ("dropped", "rule:min_length")}
    assert ledger["detail"].iloc[0] == "1 chars, 1 words (min 1 chars, 2 words)"
    decided, _, _ = outcome(tmp_path, texts, {"check": "max_length", "params": {"words": 3}})
    assert decided == {"r0": ("dropped", "rule:max_length"), "r1": ("dropped", "rule:max_length")}


FIXES = [
    ({"check": "mojibake"}, "The piÃ±ata canâ€™t open", "The piñata can’t open"),
    ({"check": "html_residue"}, "<p>my order</p> never came", "my order never came"),
    ({"check": "html_residue"}, "a <b>bold</b> word<br>next", "a bold word next"),
    ({"check": "html_residue"}, "<script>alert(1)</script> charged twice", "charged twice"),
    ({"check": "html_residue"}, "fish &amp; chips &#169; &lt;3", "fish & chips © <3"),
    ({"check": "html_residue"}, "x <!-- hidden --> y", "x y"),
    ({"check": "control_chars"}, "\ufeffzero\u200bwidth\x00", "zerowidth"),
    ({"check": "control_chars"}, "page\x0cbreak, vertical\x0btab, next\x85line",
     "page\nbreak, vertical\ntab, next\nline"),
    ({"check": "control_chars"}, "field\x1fand\x1erecord\x1dgroup\x1cfile", "field and record group file"),
    ({"check": "word_list", "params": {"words": ["darn"]}}, "Darn it, darn", "*** it, ***"),
    ({"check": "word_list", "params": {"words": ["darn"], "replacement": "[x]"}}, "darn", "[x]"),
]


@pytest.mark.parametrize("rule, before, after", FIXES, ids=[f"{c[0]['check']}-{i}" for i, c in enumerate(FIXES)])
def test_fix_shows_before_and_after_in_the_ledger(tmp_path, rule, before, after):
    decided, out, ledger = outcome(tmp_path, ["clean text", before], {**rule, "severity": "fix"})
    assert decided == {"r1": ("fixed", f"rule:{rule['check']}")}
    fix = ledger.iloc[0]
    assert (fix["column"], fix["old_value"], fix["new_value"]) == ("text", before, after)
    assert out["text"].tolist() == ["clean text", after]


HTML_PIECES = ["<b>", "</b>", "<p class='x'>", "<br/>", "<input disabled>", "<script>", "</script>", "<!--", "-->",
               "&lt;", "&gt;", "&amp;", "&#x202e;", "&#60;", "&nbsp;", "<", ">", "&", ";", "lt", "amp", "#", "b",
               "p", "a", "if", " ", "\u200b", "\t", "é"]


@settings(max_examples=300, deadline=None)
@given(st.lists(st.lists(st.sampled_from(HTML_PIECES), max_size=20).map("".join), min_size=1, max_size=8))
def test_html_fix_is_stable(texts):
    fix = REGISTRY["html_residue"].fix
    once = fix(pd.Series(texts))
    assert fix(once).tolist() == once.tolist()


@pytest.mark.parametrize("before, after", [
    ("<script>alert('x')</script> hello &lt;b&gt;bold&lt;/b&gt; world here", "hello bold world here"),
    ("&amp;lt;p&amp;gt;double escaped", "double escaped"),
    ("right&#x202e;to left", "rightto left"),
    ("<td nowrap><td nowrap> cell", "cell"),
])
def test_html_fix_strips_the_markup_entities_spell(tmp_path, before, after):
    decided, out, _ = outcome(tmp_path, [before], {"check": "html_residue", "severity": "fix"})
    assert decided == {"r0": ("fixed", "rule:html_residue")} and out["text"].tolist() == [after]


def test_a_comparison_is_not_markup(tmp_path):
    decided, out, _ = outcome(tmp_path, ["if a<b and c>d then return x", "x <b and c> y"],
                              {"check": "html_residue", "severity": "fix"})
    assert decided == {"r1": ("fixed", "rule:html_residue")}
    assert out["text"].tolist() == ["if a<b and c>d then return x", "x y"]


def test_word_list_words_may_start_or_end_with_any_letter_or_symbol(tmp_path):
    words = ["café", "世界", "$$$", "école", "ne", "app"]
    texts = ["café au lait", "你好世界", "buy $$$ now", "ÉCOLE bad", "schöne dinge", "un cafébar", "这个app很好",
             "apple pie"]
    decided, _, ledger = outcome(tmp_path, texts, {"check": "word_list", "params": {"words": words}})
    assert set(decided) == {"r0", "r1", "r2", "r3", "r6"}
    assert ledger["detail"].tolist()[:4] == ["contains listed word 'café'", "contains listed word '世界'",
                                             "contains listed word '$$$'", "contains listed word 'ÉCOLE'"]
    fix = {"check": "word_list", "severity": "fix", "params": {"words": words + ["x"], "replacement": "[x]"}}
    _, out, _ = outcome(tmp_path, ["Café café, café!", "你好世界 and 这个app很好", "x [x] x", "école\x00\ue000"], fix)
    assert out["text"].tolist() == ["[x] [x], [x]!", "你好[x] and 这个[x]很好", "[x] [[x]] [x]", "[x]"]


def test_details_say_what_failed(tmp_path):
    _, _, ledger = outcome(tmp_path, ["see <b>this</b>"], {"check": "html_residue"})
    assert ledger["detail"].iloc[0] == "markup '<b>'"
    _, _, ledger = outcome(tmp_path, ["cafÃ© au lait"], {"check": "mojibake"})
    assert ledger["detail"].iloc[0] == "mojibake: 'café au lait' when repaired"
    _, _, ledger = outcome(tmp_path, ["Dies ist eindeutig ein deutscher Satz."],
                           {"check": "language", "params": {"languages": ["en", "fr"]}})
    assert ledger["detail"].iloc[0] == "detected language 'de' (expected en, fr)"


def test_codepoints_decode_utf8_with_numpy():
    import pyarrow as pa
    cp, row = codepoints(pa.array(["aé€😀", "", "z"], pa.large_string()))
    assert [chr(c) for c in cp] == ["a", "é", "€", "😀", "z"] and row.tolist() == [0, 0, 0, 0, 2]


def test_char_runs_and_word_repetition_per_row():
    longest, in_runs, chars = char_runs(pd.Series(["aaab  b", "", "xyz!!!!"]))
    assert longest.tolist() == [3, 0, 4] and in_runs.tolist() == [3, 0, 4] and chars.tolist() == [5, 0, 7]
    total, distinct = word_repetition(pd.Series(["Buy now, buy NOW!", None, "a b c"]))
    assert total.tolist() == [4, 0, 3] and distinct.tolist() == [2, 0, 3]


def test_token_length_loads_a_model_folder(tmp_path, tokenizer_file):
    import shutil
    shutil.copy(tokenizer_file, tmp_path / "tokenizer.json")
    decided, _, ledger = outcome(tmp_path, ["hello world", "one two three four five"],
                                 {"check": "token_length", "params": {"tokenizer": str(tmp_path), "max_tokens": 4}})
    assert decided == {"r1": ("dropped", "rule:token_length")}
    assert ledger["detail"].iloc[0] == "5 tokens (min 0, max 4)"


def test_an_unknown_tokenizer_is_a_rule_error(tmp_path):
    from curator.errors import RuleError
    with pytest.raises(RuleError, match="rule 1 \\(token_length\\): tokenizer '/no/such/tokenizer' could not be loaded"):
        outcome(tmp_path, ["x"], {"check": "token_length", "params": {"tokenizer": "/no/such/tokenizer", "max_tokens": 4}})
