"""PII: e-mail addresses, phone numbers, credit-card numbers (Luhn-checked) and IP addresses;
detected, or masked as a fix ("[EMAIL]").

All of it runs on the whole column: every candidate match is cut out with Arrow's regex kernels
(each match wrapped in a marker, then the text split on it), validated with numpy (the Luhn sum,
a phone number's digit count), and put back masked with Arrow's list kernels.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from .checks import check, filled_text, fixer, series

KINDS = ("credit_card", "email", "ip_address", "phone")  # the order they are masked in
_OCTET = r"(?:25[0-5]|2[0-4][0-9]|1[0-9][0-9]|[1-9]?[0-9])"
PATTERNS = {
    "credit_card": r"\b\d(?:[ -]?\d){12,18}\b",
    "email": r"[A-Za-z0-9._%+-]+@[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)*\.[A-Za-z]{2,}",
    "ip_address": (r"\b(?:" + _OCTET + r"\.){3}" + _OCTET + r"\b"
                   r"|\b(?:[0-9A-Fa-f]{1,4}:){7}[0-9A-Fa-f]{1,4}\b"
                   r"|\b(?:[0-9A-Fa-f]{1,4}:){1,6}:[0-9A-Fa-f]{1,4}(?::[0-9A-Fa-f]{1,4})*\b"),
    # Written as a phone number, never a bare run of digits (order numbers, timestamps, years):
    "phone": (r"(?:\+\d{1,3}[ .-]?(?:\(\d{1,5}\)[ .-]?)?\d{1,5}(?:[ .-]?\d{2,5}){1,4}"  # +44 20 7946 0958
              r"|\(\d{2,5}\)[ .-]?\d{2,5}[ .-]?\d{3,5}"  # (555) 123-4567
              r"|\b(?:1[ .-])?\d{3}[ .-]\d{3}[ .-]\d{4}"  # 555-123-4567, 555 123 4567
              r"|\b0\d{1,4}(?:[ .-]\d{2,6}){1,4}"  # a trunk 0: 020 7946 0958, 03-1234-5678
              r"|\b\d{9,12})\b"),  # a bare run: a phone only after a cue word (_PHONE_CUE)
}
#: The words that make a bare run of digits a phone number: "call 5550148812", "phone: 0791234567".
_PHONE_CUE = (r"(?i)(?:\b(?:call|phone|telephone|tel|mobile|cell|cellphone|ring|text|sms|whatsapp|fax|reach)\b"
              r"|電話)\D{0,15}$")
#: What may not come right before and after a match: a longer run of digits for cards and phones;
#: for an IP address a longer dotted number ("1.2.3.4.5") or a version cue ("version 1.2.3.4", "v1.2.3.4").
_NOT_BEFORE = {"credit_card": r"\d[ .-]?$", "phone": r"\d[ .-]?$",
               "ip_address": r"[0-9]\.$|(?i:\bv(?:er|ersion)?\.?\s*)$"}
_NOT_AFTER = {"credit_card": r"^[ .-]?\d", "phone": r"^[ .-]?\d", "ip_address": r"^\.[0-9]"}
MASKS = {kind: f"[{kind.upper()}]" for kind in KINDS}
_MARK = "\x1f\ue000"  # wraps each candidate match; rows that already hold it have it removed first


def luhn_ok(digits: pa.Array) -> np.ndarray:
    """The Luhn checksum of digit strings (13 to 19 digits), vectorised; all-same-digit numbers fail."""
    n = len(digits)
    if n == 0:
        return np.zeros(0, bool)
    padded = pc.utf8_lpad(digits, 19, "0")
    padded = padded if padded.offset == 0 else pa.concat_arrays([padded])
    data = np.frombuffer(padded.buffers()[2], dtype=np.uint8)[: 19 * n].reshape(n, 19).astype(np.int64) - 48
    doubled = data.copy()
    doubled[:, 1::2] *= 2  # from the right, every second digit (position 18 is the check digit)
    doubled[:, 1::2] -= 9 * (doubled[:, 1::2] > 9)
    length = pc.utf8_length(digits).to_numpy().clip(1, 19)
    significant = np.arange(19)[None, :] >= (19 - length)[:, None]
    same = np.where(significant, data, -1).max(axis=1) == np.where(significant, data, 10).min(axis=1)
    return (doubled.sum(axis=1) % 10 == 0) & ~same


def _validate(kind: str, pieces: pa.Array) -> np.ndarray:
    if kind not in ("credit_card", "phone"):
        return np.ones(len(pieces), bool)
    digits = pc.replace_substring_regex(pieces, r"[^0-9]", "")
    if kind == "credit_card":
        n = pc.utf8_length(digits).to_numpy()
        return luhn_ok(digits) & (n >= 13) & (n <= 19)
    n = pc.utf8_length(digits).to_numpy()
    return (n >= 9) & (n <= 15)


def scan(values: pd.Series, kinds: list[str]) -> tuple[pa.Array, dict[str, np.ndarray]]:
    """Mask every valid match of ``kinds`` (in :data:`KINDS` order); returns the masked text and,
    per kind, which rows had one."""
    text = filled_text(values)
    has_mark = pc.match_substring(text, _MARK)
    if pc.any(has_mark).as_py():
        text = pc.replace_substring(text, _MARK, "")
    found = {}
    for kind in (k for k in KINDS if k in kinds):
        text, found[kind] = _mask_kind(text, kind)
    return text, found


def _mask_kind(text: pa.Array, kind: str) -> tuple[pa.Array, np.ndarray]:
    n = len(text)
    candidate = pc.match_substring_regex(text, PATTERNS[kind]).to_numpy(zero_copy_only=False)
    if not candidate.any():
        return text, np.zeros(n, bool)
    rows = np.flatnonzero(candidate)
    sub = text.take(pa.array(rows))
    marked = pc.replace_substring_regex(sub, PATTERNS[kind], _MARK + r"\0" + _MARK)
    parts = pc.split_pattern(marked, _MARK)
    flat = pc.list_flatten(parts)
    parent = pc.list_parent_indices(parts).to_numpy()
    offsets = parts.offsets.to_numpy()
    position = np.arange(len(flat)) - offsets[:-1][parent]
    is_match = position % 2 == 1
    valid = np.zeros(len(flat), bool)
    if is_match.any():
        match_idx = np.flatnonzero(is_match)
        ok = _validate(kind, flat.take(pa.array(match_idx)))
        if kind in _NOT_BEFORE:
            before = pc.match_substring_regex(flat.take(pa.array(match_idx - 1)), _NOT_BEFORE[kind])
            after = pc.match_substring_regex(flat.take(pa.array(match_idx + 1)), _NOT_AFTER[kind])
            ok &= ~(before.to_numpy(zero_copy_only=False) | after.to_numpy(zero_copy_only=False))
        if kind == "phone":
            bare = pc.match_substring_regex(flat.take(pa.array(match_idx)), r"^\d+$").to_numpy(zero_copy_only=False)
            cued = pc.match_substring_regex(flat.take(pa.array(match_idx - 1)), _PHONE_CUE)
            ok &= ~bare | cued.to_numpy(zero_copy_only=False)
        valid[match_idx] = ok
    hit = np.zeros(n, bool)
    hit[rows[np.unique(parent[valid])]] = True
    new_flat = pc.if_else(pa.array(valid), pa.scalar(MASKS[kind], flat.type), flat)
    rebuilt = pc.binary_join(type(parts).from_arrays(parts.offsets, new_flat), pa.scalar("", flat.type))
    return _scatter(text, rows, rebuilt), hit


def _scatter(text: pa.Array, rows: np.ndarray, new: pa.Array) -> pa.Array:
    """``text`` with the strings at ``rows`` replaced by ``new`` (Arrow take on a concatenation)."""
    combined = pa.concat_arrays([text, new.cast(text.type)])
    index = np.arange(len(text))
    index[rows] = len(text) + np.arange(len(rows))
    return combined.take(pa.array(index))


def _kinds_problem(params: dict) -> str | None:
    bad = [k for k in params.get("kinds", []) if k not in KINDS]
    if bad:
        return f"param 'kinds': unknown kind {bad[0]!r}; expected some of: {', '.join(KINDS)}"
    return None


@check("pii", params={"kinds": list[str]}, validate=_kinds_problem)
def pii(values: pd.Series, kinds: list[str] | None = None):
    """Text holding an e-mail address, phone number, credit-card number (Luhn-valid) or IP
    address fails; ``kinds`` picks which (default: all).

    A phone number is written as one: a + and country code, an area code in brackets, 3-3-4 digit
    groups or a leading 0 and groups; a bare run of digits is one only after a word such as "call",
    "phone" or "mobile" (not "order 123456789"). A dotted quad after
    "version" or "v" is a version, not an IP address."""
    _, found = scan(values, kinds or list(KINDS))
    failed = np.zeros(len(values), bool)
    detail = pd.Series("", index=values.index, dtype=object)
    for kind in sorted(found):
        hit = found[kind]
        failed |= hit
        detail[hit] = detail[hit] + np.where(detail[hit].eq(""), "", ", ") + kind
    failed = pd.Series(failed, index=values.index)
    return failed, "personal data: " + detail[failed]


@fixer("pii")
def _mask_pii(values: pd.Series, kinds: list[str] | None = None):
    """Mask each match: "[EMAIL]", "[PHONE]", "[CREDIT_CARD]", "[IP_ADDRESS]"."""
    masked, _ = scan(values, kinds or list(KINDS))
    return series(masked, values.index)
