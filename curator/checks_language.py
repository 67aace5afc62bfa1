"""The language check: the detected language of each text is one of a set, detected offline with
lingua, in parallel over the distinct texts."""

from __future__ import annotations

import functools

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from .checks import check
from .text_arrays import chunked_codepoints, filled_text, is_cjk, letter_tables, series
from .errors import RuleError


def _lingua():
    try:
        import lingua
    except ImportError:  # pragma: no cover - depends on the install
        raise RuleError("check 'language' needs lingua: pip install lingua-language-detector") from None
    return lingua


def _language_codes() -> dict[str, object]:
    lingua = _lingua()
    return {lang.iso_code_639_1.name.lower(): lang for lang in lingua.Language.all()}


def _language_problem(params: dict) -> str | None:
    codes = _language_codes()
    for key in ("languages", "among"):
        for code in params.get(key, []):
            if code.lower() not in codes:
                return (f"param {key!r}: unknown language code {code!r}; expected ISO 639-1 codes: "
                        f"{', '.join(sorted(codes))}")
    if not params["languages"]:
        return "param 'languages' expected at least one language code"
    if params.get("accuracy", "low") not in ("low", "high"):
        return f"param 'accuracy' expected 'low' or 'high', got {params['accuracy']!r}"
    return None


@functools.lru_cache(maxsize=4)
def _detector(among: tuple[str, ...], accuracy: str, min_distance: float):
    lingua = _lingua()
    codes = _language_codes()
    builder = (lingua.LanguageDetectorBuilder.from_languages(*(codes[c] for c in among)) if len(among) > 1
               else lingua.LanguageDetectorBuilder.from_all_languages())
    if accuracy == "low":
        builder = builder.with_low_accuracy_mode()
    if min_distance > 0:
        builder = builder.with_minimum_relative_distance(min_distance)
    return builder.build()


@check("language", params={"languages": list[str], "among": list[str], "min_chars": int, "accuracy": str,
                           "min_distance": float}, validate=_language_problem)
def language(values: pd.Series, languages: list[str], among: list[str] | None = None, min_chars: int = 20,
             accuracy: str = "low", min_distance: float = 0.0):
    """Text whose detected language is not in ``languages`` (ISO 639-1 codes) fails.

    Detection is offline (lingua), in parallel over the distinct texts, on each text's first 300
    characters. Texts with fewer than ``min_chars`` letters (a CJK character counts as 3), or whose
    language is unsure (see lingua's ``min_distance``), pass. ``among`` limits the candidates (faster, and fewer confusions).
    """
    text = pc.utf8_slice_codeunits(filled_text(values), 0, 300)
    _, is_letter = letter_tables()
    letters = np.zeros(len(values))
    for _, cp, row in chunked_codepoints(series(text, values.index)):
        # A CJK character says as much as a short word: it counts as 3 letters.
        weight = is_letter[cp] * np.where(is_cjk(cp), 3.0, 1.0)
        letters += np.bincount(row, weights=weight, minlength=len(values))
    long_enough = letters >= min_chars
    sample = series(text.filter(pa.array(long_enough)), values.index[long_enough])
    distinct = pd.unique(sample)
    detector = _detector(tuple(sorted(c.lower() for c in (among or []))), accuracy, float(min_distance))
    found = detector.detect_languages_in_parallel_of(list(distinct))
    code_of = {lang: code for code, lang in _language_codes().items()}
    by_text = pd.Series(pd.Series(found, dtype=object).map(code_of).to_numpy(), index=pd.Index(distinct, dtype=object))
    detected = pd.Series(None, index=values.index, dtype=object)
    detected[long_enough] = by_text.reindex(sample.to_numpy()).to_numpy()
    wanted = {c.lower() for c in languages}
    failed = detected.notna() & ~detected.isin(wanted)
    return failed, "detected language '" + detected[failed].astype(str) + "'" + f" (expected {', '.join(sorted(wanted))})"
