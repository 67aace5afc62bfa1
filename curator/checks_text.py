"""Text checks: length (characters, words, tokens), regex, mojibake, markup residue, control and
zero-width characters, repetition, shouting, and word lists. (Language: :mod:`curator.checks_language`.)

Every check works on the whole column with Arrow string kernels or numpy. Where a library only
takes one string at a time (ftfy, html.unescape) it runs on the few rows a vectorised pre-filter
picked, never on the whole column. Missing values and non-text cells are treated as text
(``None`` as empty, ``3.5`` as ``"3.5"``), so hostile cells never raise.
"""

from __future__ import annotations

import functools
import html
import re
import unicodedata
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from .checks import FilePath, check, fixer, regex_problem
from .text_arrays import (ANALYSE_CHARS, chunked_codepoints, filled_text, is_cjk, is_space, letter_tables,
                          per_row_max, series, text_array)
from .errors import RuleError



def _trimmed(values: pd.Series) -> pa.Array:
    """Missing values as empty strings, trimmed (so whitespace splitting yields no empty words)."""
    return pc.utf8_trim_whitespace(filled_text(values))


# -- length ---------------------------------------------------------------------------------------

@check("not_empty")
def not_empty(values: pd.Series):
    """Missing, empty or whitespace-only values fail."""
    return series(pc.equal(pc.utf8_length(_trimmed(values)), 0), values.index), "empty or missing"


#: Chinese and Japanese characters (Han, kana): each counts as a word, as these scripts write no spaces.
#: Korean separates words with spaces, so Hangul is counted like any other script.
_IDEOGRAPH = "[\\x{3040}-\\x{30ff}\\x{3400}-\\x{4dbf}\\x{4e00}-\\x{9fff}\\x{f900}-\\x{faff}\\x{20000}-\\x{3134f}]"
_CJK_PUNCT = "[\\x{3000}-\\x{303f}\\x{ff01}-\\x{ff0f}\\x{ff1a}-\\x{ff20}]"


def _n_words(text: pa.Array, n_chars: pd.Series) -> pd.Series:
    """Whitespace-separated words, each Chinese or Japanese character counting as one (CJK
    punctuation is a separator, not a word)."""
    rest = pc.utf8_trim_whitespace(pc.replace_substring_regex(text, _IDEOGRAPH + "|" + _CJK_PUNCT, " "))
    # Splitting "" gives [""]: an empty text has no words.
    spaced = series(pc.list_value_length(pc.utf8_split_whitespace(rest)), n_chars.index)
    spaced = spaced.where(series(pc.utf8_length(rest), n_chars.index) > 0, 0)
    return (series(pc.count_substring_regex(text, _IDEOGRAPH), n_chars.index) + spaced).where(n_chars > 0, 0)


@check("min_length", params={"chars": int, "words": int})
def min_length(values: pd.Series, chars: int = 0, words: int = 0):
    """Text shorter than ``chars`` characters or ``words`` words fails (missing text counts as 0)."""
    text = _trimmed(values)
    n_chars = series(pc.utf8_length(text), values.index)
    n_words = _n_words(text, n_chars)
    failed = (n_chars < chars) | (n_words < words)
    detail = (n_chars[failed].astype(str) + " chars, " + n_words[failed].astype(str)
              + f" words (min {chars} chars, {words} words)")
    return failed, detail


@check("max_length", params={"chars": int, "words": int})
def max_length(values: pd.Series, chars: int = 0, words: int = 0):
    """Text longer than ``chars`` characters or ``words`` words fails (0 = no limit)."""
    if chars <= 0 and words <= 0:
        return pd.Series(False, index=values.index)
    n_chars = series(pc.utf8_length(filled_text(values)), values.index)
    failed = (n_chars > chars) if chars > 0 else pd.Series(False, index=values.index)
    if words > 0:
        text = _trimmed(values)
        n_words = _n_words(text, series(pc.utf8_length(text), values.index))
        failed |= n_words > words
        return failed, n_chars[failed].astype(str) + " chars, " + n_words[failed].astype(str) + \
            f" words (max {chars or '-'} chars, {words} words)"
    return failed, n_chars[failed].astype(str) + f" chars (max {chars})"


@functools.lru_cache(maxsize=4)
def load_tokenizer(name: str):
    """A fast (Rust) tokenizer: a ``tokenizer.json`` file, a model folder that has one, or a
    Hugging Face model id (loaded through transformers, so its cache and offline mode apply)."""
    from tokenizers import Tokenizer

    path = Path(name).expanduser()
    if path.is_file() or (path / "tokenizer.json").is_file():
        tok = Tokenizer.from_file(str(path if path.is_file() else path / "tokenizer.json"))
        tok.no_padding()  # a saved tokenizer.json may pad or truncate to a fixed length; count real tokens
        tok.no_truncation()
        return tok
    if path.is_absolute() or name.startswith((".", "~")) or path.suffix == ".json":
        raise RuleError(f"tokenizer {name!r} could not be loaded: no tokenizer.json at {path}")
    try:
        from transformers import AutoTokenizer
    except ImportError:  # pragma: no cover - depends on the install
        raise RuleError(f"tokenizer {name!r} is not a local tokenizer.json or model folder; loading a "
                        "model id needs transformers: pip install 'curator[train]'") from None
    try:
        tok = AutoTokenizer.from_pretrained(name)
    except (OSError, ValueError) as err:
        raise RuleError(f"tokenizer {name!r} could not be loaded: {str(err).splitlines()[0]}") from None
    if not getattr(tok, "is_fast", False):
        raise RuleError(f"tokenizer {name!r} has no fast (Rust) version; give a tokenizer.json")
    backend = tok.backend_tokenizer
    backend.no_padding()
    backend.no_truncation()
    return backend


def _tokenizer_problem(params: dict) -> str | None:
    if params.get("min_tokens", 0) <= 0 and params.get("max_tokens", 0) <= 0:
        return "check 'token_length' needs min_tokens or max_tokens"
    return None


@check("token_length", params={"tokenizer": str, "min_tokens": int, "max_tokens": int},
       validate=_tokenizer_problem)
def token_length(values: pd.Series, tokenizer: str, min_tokens: int = 0, max_tokens: int = 0):
    """Text with fewer than ``min_tokens`` or more than ``max_tokens`` tokens of ``tokenizer`` fails.

    Texts are tokenised in one batch (in Rust, on every core), without special tokens.
    """
    tok = load_tokenizer(tokenizer)
    limit = max(ANALYSE_CHARS, (max_tokens + 1) * 64)
    texts = pc.utf8_slice_codeunits(filled_text(values), 0, limit).to_pylist()
    counts = pd.Series([len(e) for e in tok.encode_batch(texts, add_special_tokens=False)],
                       index=values.index, dtype="int64")
    failed = counts < min_tokens
    if max_tokens > 0:
        failed |= counts > max_tokens
    return failed, counts[failed].astype(str) + f" tokens (min {min_tokens}, max {max_tokens or '-'})"


# -- patterns --------------------------------------------------------------------------------------

def _regex_params_problem(params: dict) -> str | None:
    return regex_problem(("(?i)" if params.get("ignore_case") else "") + params["pattern"])


@check("regex", params={"pattern": str, "must_match": bool, "ignore_case": bool, "max_matches": int},
       validate=_regex_params_problem)
def regex(values: pd.Series, pattern: str, must_match: bool = False, ignore_case: bool = False,
          max_matches: int = 0):
    """Fails where the text matches ``pattern`` more than ``max_matches`` times (or, with
    ``must_match``, where it does not match).

    Patterns use RE2 syntax (Arrow's regex engine: linear time, no backreferences).
    """
    text = filled_text(values)
    pat = ("(?i)" if ignore_case else "") + pattern
    try:
        if must_match:
            failed = ~series(pc.match_substring_regex(text, pat), values.index)
            return failed, f"does not match {pattern!r}"
        n = series(pc.count_substring_regex(text, pat), values.index)
    except pa.ArrowInvalid as err:
        raise RuleError(f"check 'regex': bad pattern {pattern!r}: {err}") from None
    failed = n > max_matches
    if max_matches == 0:
        return failed, f"matches {pattern!r}"
    return failed, n[failed].astype(str) + f" matches of {pattern!r} (max {max_matches})"


#: What may stand next to a listed word: anything but a letter, mark, digit or underscore (RE2's \b
#: knows only ASCII, so "café" never ended at one); Chinese, Japanese and Korean characters too, as
#: these scripts write words without spaces ("这个app很好").
_NOT_WORD = r"[^\p{L}\p{M}\p{N}_]|[\p{Han}\p{Hiragana}\p{Katakana}\p{Hangul}]"
_MASKED = "\x00\ue000"  # stands for a masked word between the two masking passes


def _listed_words(words: list[str], file: str) -> list[str]:
    listed = [w for w in words if w]
    if file:
        lines = Path(file).read_text(encoding="utf-8").splitlines()
        listed += [w.strip() for w in lines if w.strip() and not w.lstrip().startswith("#")]
    if not listed:
        raise RuleError("check 'word_list' needs `words` or a `file` with one word per line")
    return sorted(set(listed), key=lambda w: (-len(w), w))


def _is_word_char(ch: str) -> bool:
    return (ch == "_" or unicodedata.category(ch)[0] in "LMN") and not is_cjk(np.array([ord(ch)]))[0]


def _word_pattern(words: list[str], file: str, case_sensitive: bool, capture: bool = True) -> tuple[str, str]:
    """A pattern for the listed words and the template that masks a match as :data:`_MASKED`.

    A word that starts (ends) with a letter, digit or underscore must have no such character before
    (after) it; one that starts or ends with punctuation or a CJK character matches as it stands. RE2
    has no lookaround, so the character beside a word is part of the match: a capture group puts it
    back (``capture=False``: no unnamed groups, as Arrow's extract wants).
    """
    open_ = "(" if capture else "(?:"
    by_edges: dict[tuple[bool, bool], list[str]] = {}
    for w in _listed_words(words, file):  # the listed words, not the rows
        by_edges.setdefault((_is_word_char(w[0]), _is_word_char(w[-1])), []).append(re.escape(w))
    parts, before, after, group = [], "", "", 0
    for (left, right), escaped in sorted(by_edges.items(), reverse=True):
        part = "(?P<w%d>%s)" % (len(parts), "|".join(escaped))
        if left:
            group += 1
            part, before = open_ + "^|" + _NOT_WORD + ")" + part, before + f"\\{group}"
        group += 1  # the word's own group
        if right:
            group += 1
            part, after = part + open_ + "$|" + _NOT_WORD + ")", after + f"\\{group}"
        parts.append(part)
    return ("" if case_sensitive else "(?i)") + "|".join(parts), before + _MASKED + after


def _word_list_problem(params: dict) -> str | None:
    if not params.get("words") and not params.get("file"):
        return "check 'word_list' needs `words` or a `file` with one word per line"
    return None


@check("word_list", params={"words": list[str], "file": FilePath, "case_sensitive": bool, "replacement": str},
       validate=_word_list_problem)
def word_list(values: pd.Series, words: list[str] | None = None, file: str = "", case_sensitive: bool = False,
              replacement: str = "***"):
    """Text containing a listed word (a profanity or spam list you supply) fails."""
    pattern, _ = _word_pattern(words or [], file, case_sensitive, capture=False)
    hits = pc.extract_regex(filled_text(values), pattern)
    word = None
    for i in range(hits.type.num_fields):  # the one class of word that matched
        found = series(pc.struct_field(hits, [i]), values.index)
        word = found if word is None else word.where(word.ne(""), found)
    failed = word.notna()
    return failed, "contains listed word " + _quote(word[failed])


@fixer("word_list")
def _mask_words(values: pd.Series, words: list[str] | None = None, file: str = "", case_sensitive: bool = False,
                replacement: str = "***"):
    """Replace each listed word by ``replacement``."""
    pattern, template = _word_pattern(words or [], file, case_sensitive)
    text = pc.replace_substring(filled_text(values), _MASKED, "")
    for _ in range(2):  # a match takes the character after it, which the next word may need before it
        text = pc.replace_substring_regex(text, pattern, template)
    return series(pc.replace_substring(text, _MASKED, replacement), values.index)


def _quote(s: pd.Series) -> pd.Series:
    return "'" + s.astype(str) + "'"


# -- encoding, markup and invisible characters -------------------------------------------------------

#: A Latin-1/cp1252 lead character followed by what a UTF-8 continuation byte looks like in cp1252:
#: the signature of UTF-8 text decoded with the wrong codec ("Ã©", "â€™"). Plus U+FFFD and C1 controls.
_MOJIBAKE_HINT = ("[\\x{c2}-\\x{f4}][\\x{80}-\\x{bf}\\x{152}\\x{153}\\x{160}\\x{161}\\x{178}\\x{17d}\\x{17e}"
                  "\\x{192}\\x{2c6}\\x{2dc}\\x{2013}\\x{2014}\\x{2018}-\\x{201e}\\x{2020}-\\x{2022}\\x{2026}"
                  "\\x{2030}\\x{2039}\\x{203a}\\x{20ac}\\x{2122}]|\\x{fffd}|[\\x{80}-\\x{9f}]")


@functools.lru_cache(maxsize=1)
def _ftfy():
    try:
        import ftfy
    except ImportError:  # pragma: no cover - depends on the install
        raise RuleError("check 'mojibake' needs ftfy: pip install ftfy") from None
    # Only encoding repairs: quotes, ligatures, widths, line breaks and HTML are other checks' business.
    config = ftfy.TextFixerConfig(unescape_html=False, remove_terminal_escapes=False, fix_latin_ligatures=False,
                                  fix_character_width=False, uncurl_quotes=False, fix_line_breaks=False,
                                  remove_control_chars=False, normalization=None, explain=False)
    return functools.partial(ftfy.fix_text, config=config)


def _ftfy_fixed(values: pd.Series) -> tuple[pd.Series, pd.Series]:
    """(the suspects' mask, ftfy's repair of each suspect); ftfy runs on the suspects only."""
    text = filled_text(values)
    suspect = series(pc.match_substring_regex(text, _MOJIBAKE_HINT), values.index)
    sub = series(text.filter(pa.array(suspect.to_numpy())), values.index[suspect.to_numpy()])
    return suspect, sub.map(_ftfy())  # per suspect row: ftfy has no batch API


@check("mojibake")
def mojibake(values: pd.Series):
    """Text garbled by a wrong decode ("cafÃ©" for "café") or holding U+FFFD replacement characters fails."""
    suspect, fixed = _ftfy_fixed(values)
    original = series(text_array(values), values.index)[suspect]
    changed = fixed.ne(original)
    lost = original.str.contains("\ufffd", regex=False)
    failed = pd.Series(False, index=values.index)
    failed[changed.index[changed | lost]] = True
    detail = pd.Series("mojibake: " + _quote(fixed.str.slice(0, 60)) + " when repaired", index=fixed.index)
    detail[lost & ~changed] = "holds U+FFFD replacement characters: the original text is lost"
    return failed, detail


@fixer("mojibake")
def _fix_mojibake(values: pd.Series):
    """Repair the encoding with ftfy (encoding fixes only: quotes, widths and HTML stay as they are)."""
    suspect, fixed = _ftfy_fixed(values)
    out = values.copy()
    out[fixed.index] = fixed
    return out


_TAGS = ("a|abbr|address|area|article|aside|audio|b|base|bdi|bdo|big|blockquote|body|br|button|canvas|"
         "caption|center|cite|code|col|colgroup|dd|del|details|dfn|div|dl|dt|em|embed|fieldset|figcaption|"
         "figure|font|footer|form|h[1-6]|head|header|hr|html|i|iframe|img|input|ins|kbd|label|legend|li|link|"
         "main|mark|meta|nav|noscript|object|ol|optgroup|option|p|param|pre|q|s|samp|script|section|select|"
         "small|source|span|strike|strong|style|sub|summary|sup|svg|table|tbody|td|textarea|tfoot|th|thead|"
         "title|tr|tt|u|ul|var|video|wbr")
_NAME = r"(?:" + _TAGS + r")"
#: A tag with no attributes or with valued ones ("<b>", "</p >", "<br/>", "<a href='x'>"): surely markup.
_TAG = r"</?" + _NAME + r"(?:\s*/?|\s[^<>]*=[^<>]*)>"
#: A tag whose attributes are bare words ("<input disabled>"); after a letter or digit it reads as a
#: comparison ("if a<b and c>d"), so it only counts where no word character comes before the "<".
_BARE_TAG = r"</?" + _NAME + r"\s[^<>=]*>"
_NOT_AFTER_WORD = r"(?P<pre>^|[^\p{L}\p{N}_])"
_ENTITY = r"&(?:[a-zA-Z][a-zA-Z0-9]{1,31}|#[0-9]{1,7}|#[xX][0-9a-fA-F]{1,6});"
_HTML = r"(?i)(?P<m>" + _TAG + "|<!--|" + _ENTITY + ")|" + _NOT_AFTER_WORD + "(?P<bare>" + _BARE_TAG + ")"
#: An escaped ampersand followed by more of them ("&amp;amp;lt;"): unescaped in one go, whatever the depth.
_AMP_CHAIN = r"(?i)&(?:amp;|#0*38;|#x0*26;)+"
_TAGS_RUN = r"(?:(?:" + _TAG + "|" + _BARE_TAG + r")[ \t]*)"
_STRIP_TAGS = (r"(?i)" + _NOT_AFTER_WORD + r"[ \t]*" + _TAGS_RUN + "+|[ \t]*" + _TAG + r"[ \t]*" + _TAGS_RUN + "*")
#: Rounds of the html_residue fix; markup still appearing after them is nested on purpose.
HTML_ROUNDS = 3


@check("html_residue")
def html_residue(values: pd.Series):
    """Text with HTML tags, comments or character entities left over from scraping fails."""
    hits = pc.extract_regex(filled_text(values), _HTML)
    tag = series(pc.struct_field(hits, [0]), values.index)
    hit = tag.where(tag.ne(""), series(pc.struct_field(hits, [2]), values.index))
    failed = hit.notna()
    return failed, "markup " + _quote(hit[failed].str.slice(0, 40))


def _html_round(text: pa.Array) -> pa.Array:
    """Unescape entities, then strip scripts, styles, comments and tags, then drop invisible characters."""
    text = pc.replace_substring_regex(text, _AMP_CHAIN, "&")
    rows = np.flatnonzero(pc.match_substring_regex(text, _ENTITY).to_numpy(zero_copy_only=False))
    if len(rows):  # html.unescape takes one string: only the rows that have an entity
        values = text.to_numpy(zero_copy_only=False).copy()
        values[rows] = [html.unescape(v) for v in values[rows]]
        text = pa.array(values, pa.large_string())
    text = pc.replace_substring_regex(text, r"(?is)<(script|style)\b[^>]*>.*?</(script|style)\s*>", " ")
    text = pc.replace_substring_regex(text, r"(?s)<!--.*?(-->|$)", " ")
    text = pc.replace_substring_regex(text, _STRIP_TAGS, r"\1 ")
    return _tidy(_without_invisible(text, joiners=False))


def _tidy(text: pa.Array) -> pa.Array:
    return pc.replace_substring_regex(pc.utf8_trim_whitespace(text), r"  +", " ")


@fixer("html_residue")
def _strip_html(values: pd.Series):
    """Unescape entities ("&amp;" -> "&"), then strip tags, comments, scripts and styles, and the
    invisible characters entities may spell; repeated while that uncovers more markup (escaped
    markup such as "&lt;b&gt;" is stripped too). The result is stable: fixing it again changes
    nothing. Text still changing after :data:`HTML_ROUNDS` rounds loses its "<", ">" and "&"."""
    text = filled_text(values)
    for _ in range(HTML_ROUNDS):
        fixed = _html_round(text)
        changed = pc.not_equal(fixed, text)
        text = fixed
        if not pc.any(changed).as_py():
            break
    else:
        text = pc.if_else(changed, _tidy(_without_invisible(pc.replace_substring_regex(text, "[<>&]", ""),
                                                              joiners=False)), text)
    return series(text, values.index)


_INVISIBLE = ("[\\x{00}-\\x{08}\\x{0b}\\x{0c}\\x{0e}-\\x{1f}\\x{7f}-\\x{9f}\\x{ad}\\x{200b}\\x{200e}\\x{200f}"
              "\\x{202a}-\\x{202e}\\x{2060}-\\x{2064}\\x{2066}-\\x{2069}\\x{feff}")


def _invisible(joiners: bool) -> str:
    return _INVISIBLE + ("\\x{200c}\\x{200d}]" if joiners else "]")


@check("control_chars", params={"joiners": bool})
def control_chars(values: pd.Series, joiners: bool = False):
    """Text with control characters (other than tab and newlines), zero-width or bidi-override
    characters, soft hyphens or a BOM fails. ``joiners`` also counts ZWJ/ZWNJ (used in emoji and
    some scripts, so off by default)."""
    n = series(pc.count_substring_regex(filled_text(values), _invisible(joiners)), values.index)
    failed = n > 0
    return failed, n[failed].astype(str) + " control or invisible characters"


#: Control characters that separate (lines and pages, fields and records): replaced, not removed,
#: so the words on either side stay apart.
_LINE_BREAKS = "[\\x{0b}\\x{0c}\\x{85}]"
_FIELD_SEPARATORS = "[\\x{1c}-\\x{1f}]"


def _without_invisible(text: pa.Array, joiners: bool) -> pa.Array:
    text = pc.replace_substring_regex(text, _LINE_BREAKS, "\n")
    text = pc.replace_substring_regex(text, _FIELD_SEPARATORS, " ")
    return pc.replace_substring_regex(text, _invisible(joiners), "")


@fixer("control_chars")
def _remove_invisible(values: pd.Series, joiners: bool = False):
    """Remove the control and invisible characters; vertical tabs, form feeds and next-line
    characters become newlines, and field and record separators spaces."""
    return series(_without_invisible(filled_text(values), joiners), values.index)


# -- repetition and shouting ---------------------------------------------------------------------------

_TRIPLE = "|".join(re.escape(c) * 3 for c in map(chr, range(33, 127))) + "|[^\\x00-\\x7f]"


def char_runs(values: pd.Series, min_run: int = 3) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Per row: the longest run of one non-space character, the characters in runs of at least
    ``min_run``, and the non-space characters (of the first :data:`ANALYSE_CHARS`)."""
    n = len(values)
    longest, in_runs, chars = np.zeros(n, np.int64), np.zeros(n), np.zeros(n)
    text = filled_text(values)
    # Only rows with a character three times in a row (or any non-ASCII) can have a long run; the
    # others are counted by Arrow alone. Most text has none, and the regex is a fast literal search.
    candidate = pc.match_substring_regex(text, _TRIPLE).to_numpy(zero_copy_only=False)
    plain = np.flatnonzero(~candidate)
    if len(plain):
        rest = text.take(pa.array(plain))
        nonspace = pc.utf8_length(pc.replace_substring_regex(rest, r"\s+", "")).to_numpy()
        chars[plain] = np.minimum(nonspace, ANALYSE_CHARS)
        longest[plain] = np.minimum(nonspace, 2)  # pairs at most ("soon"); 1 for single characters
        longest[plain[nonspace == 1]] = 1
    rows = np.flatnonzero(candidate)
    if not len(rows):
        return longest, in_runs, chars
    sub = series(text.take(pa.array(rows)), pd.RangeIndex(len(rows)))
    m = len(rows)
    sub_longest, sub_in, sub_chars = np.zeros(m, np.int64), np.zeros(m), np.zeros(m)
    for _, cp, row in chunked_codepoints(sub):
        boundary = np.ones(len(cp), bool)
        boundary[1:] = (cp[1:] != cp[:-1]) | (row[1:] != row[:-1])
        starts = np.flatnonzero(boundary)
        lengths = np.diff(np.append(starts, len(cp)))
        run_row = row[starts]
        counted = np.where(is_space(cp[starts]), 0, lengths)
        sub_longest = np.maximum(sub_longest, per_row_max(counted, run_row, m))
        sub_chars += np.bincount(run_row, weights=counted, minlength=m)
        sub_in += np.bincount(run_row, weights=np.where(counted >= min_run, counted, 0), minlength=m)
    longest[rows], in_runs[rows], chars[rows] = sub_longest, sub_in, sub_chars
    return longest, in_runs, chars


def _ratio_problem(*names: str):
    def problem(params: dict) -> str | None:
        for name in names:
            if name in params and not 0 <= params[name] <= 1:
                return f"param {name!r} expected a ratio between 0 and 1, got {params[name]!r}"
        return None
    return problem


def _repeated_chars_problem(params: dict) -> str | None:
    if params.get("max_run", 0) == 1 or params.get("max_run", 0) < 0:
        return f"param 'max_run' expected 0 (no limit) or 2 or more, got {params['max_run']!r}"
    return _ratio_problem("max_ratio")(params)


@check("repeated_chars", params={"max_run": int, "max_ratio": float, "min_chars": int},
       validate=_repeated_chars_problem)
def repeated_chars(values: pd.Series, max_run: int = 0, max_ratio: float = 1.0, min_chars: int = 10):
    """Keyboard mashing and "!!!!!!!!": text whose longest run of one character exceeds ``max_run``
    (0 = no limit), or whose share of characters in runs of 3+ exceeds ``max_ratio`` (texts of at
    least ``min_chars`` non-space characters), fails."""
    longest, in_runs, chars = char_runs(values)
    ratio = np.divide(in_runs, chars, out=np.zeros_like(in_runs), where=chars > 0)
    failed = (ratio > max_ratio) & (chars >= min_chars)
    if max_run > 0:
        failed |= longest > max_run
    failed = pd.Series(failed, index=values.index)
    detail = (pd.Series(longest, index=values.index)[failed].astype(str) + " in a row; "
              + pd.Series(np.round(ratio * 100), index=values.index)[failed].astype(int).astype(str)
              + "% of characters in runs")
    return failed, detail


def word_repetition(values: pd.Series) -> tuple[np.ndarray, np.ndarray]:
    """Per row: the number of words and of distinct words (lower-cased, edge punctuation removed)."""
    text = pc.utf8_lower(pc.utf8_slice_codeunits(filled_text(values), 0, ANALYSE_CHARS))
    words = pc.utf8_split_whitespace(text)
    flat = pc.replace_substring_regex(pc.list_flatten(words), r"^[\p{P}\p{S}]+|[\p{P}\p{S}]+$", "")
    parents = pc.list_parent_indices(words).to_numpy()
    nonempty = pc.greater(pc.utf8_length(flat), 0).to_numpy(zero_copy_only=False)
    flat, parents = flat.filter(pa.array(nonempty)), parents[nonempty]
    n = len(values)
    total = np.bincount(parents, minlength=n)
    if not len(flat):
        return total, total
    codes = pc.dictionary_encode(flat).indices.to_numpy().astype(np.int64)  # Arrow's hash table
    pairs = np.unique(parents.astype(np.int64) * (int(codes.max()) + 1) + codes)
    distinct = np.bincount(pairs // (int(codes.max()) + 1), minlength=n)
    return total, distinct


@check("repeated_words", params={"max_ratio": float, "min_words": int}, validate=_ratio_problem("max_ratio"))
def repeated_words(values: pd.Series, max_ratio: float = 0.7, min_words: int = 6):
    """Spam such as "buy now buy now buy now": text of at least ``min_words`` words whose share of
    repeated words (1 - distinct / total) exceeds ``max_ratio`` fails."""
    total, distinct = word_repetition(values)
    ratio = 1 - np.divide(distinct, total, out=np.ones(len(total)), where=total > 0)
    failed = pd.Series((total >= min_words) & (ratio > max_ratio), index=values.index)
    detail = (pd.Series(distinct, index=values.index)[failed].astype(str) + " distinct of "
              + pd.Series(total, index=values.index)[failed].astype(str) + " words")
    return failed, detail


@check("caps_ratio", params={"max_ratio": float, "min_letters": int}, validate=_ratio_problem("max_ratio"))
def caps_ratio(values: pd.Series, max_ratio: float = 0.7, min_letters: int = 12):
    """SHOUTING: text of at least ``min_letters`` letters whose share of capitals exceeds ``max_ratio`` fails."""
    is_upper, is_letter = letter_tables()
    n = len(values)
    upper, letters = np.zeros(n), np.zeros(n)
    for _, cp, row in chunked_codepoints(values):
        upper += np.bincount(row, weights=is_upper[cp], minlength=n)
        letters += np.bincount(row, weights=is_letter[cp], minlength=n)
    ratio = np.divide(upper, letters, out=np.zeros(n), where=letters > 0)
    failed = pd.Series((letters >= min_letters) & (ratio > max_ratio), index=values.index)
    return failed, pd.Series(np.round(ratio * 100), index=values.index)[failed].astype(int).astype(str) + \
        "% capital letters"
