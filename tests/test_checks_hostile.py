"""Hostile input never crashes a check or a fixer: a 10 MB string in one cell, NaN, numbers where text
was expected, binary junk, lone surrogates, huge markup. Every registered check is covered."""

import time

import numpy as np
import pandas as pd
import pytest

from curator.checks import REGISTRY, CheckContext

HOSTILE = [
    "x" * 10_000_000,                      # 10 MB in one cell
    "a " * 2_000_000 + "Ã©" * 1000,        # long, with mojibake at the end
    float("nan"),
    None,
    42,
    3.14,
    True,
    b"\xff\xfe\x00binary\x80junk\x00",     # undecodable bytes
    "lone \ud800 surrogate",
    "\x00\x01\x02" * 1000,
    "<" * 100_000 + "<b>" * 1000,
    "4111 1111 1111 1111 " * 1000,
    ["a", "list"],
    "normal text, fine",
]

#: check -> (field, params) to run it with; every registered check must be here.
PARAMS = {
    "required_columns": (None, {"columns": ["text", "value"]}),
    "not_null": ("value", {}),
    "unique": ("value", {}),
    "dtype": ("value", {"type": "float"}),
    "value_range": ("value", {"min": 0, "max": 10}),
    "allowed_values": ("value", {"values": ["a", "b"]}),
    "label_in_set": ("label", {"labels": ["a", "b"]}),
    "expression": (None, {"expr": "len(text) > 3 and num(value) > 1 or value.isna()"}),
    "not_empty": ("text", {}),
    "min_length": ("text", {"chars": 3, "words": 2}),
    "max_length": ("text", {"chars": 100, "words": 10}),
    "token_length": ("text", {"tokenizer": "<set by the test>", "max_tokens": 64}),
    "regex": ("text", {"pattern": "[0-9]+", "max_matches": 2}),
    "word_list": ("text", {"words": ["junk", "list"]}),
    "mojibake": ("text", {}),
    "html_residue": ("text", {}),
    "control_chars": ("text", {}),
    "repeated_chars": ("text", {"max_run": 5, "max_ratio": 0.5}),
    "repeated_words": ("text", {}),
    "caps_ratio": ("text", {}),
    "language": ("text", {"languages": ["en"], "among": ["en", "de", "fr"]}),
    "pii": ("text", {}),
    "decodable": ("image", {}),
    "min_size": ("image", {"width": 2, "height": 2}),
    "max_size": ("image", {"width": 100}),
    "aspect_ratio": ("image", {"min": 0.5, "max": 2.0}),
    "image_formats": ("image", {"formats": ["PNG"]}),
    "low_information": ("image", {}),
    "brightness": ("image", {}),
    "blurry": ("image", {}),
    "grayscale": ("image", {}),
    "exif_orientation": ("image", {}),
    "animated": ("image", {}),
}


@pytest.fixture(scope="module")
def hostile_table():
    n = len(HOSTILE)
    col = pd.Series(HOSTILE, dtype=object)
    return pd.DataFrame({"id": [f"r{i}" for i in range(n)], "text": col, "label": col, "value": col,
                         "image": col, "source": "hostile"})


def test_every_registered_check_is_covered():
    assert set(REGISTRY) <= set(PARAMS), sorted(set(REGISTRY) - set(PARAMS))


@pytest.mark.parametrize("name", sorted(PARAMS))
def test_hostile_input_does_not_crash_a_check_or_its_fixer(hostile_table, tmp_path, name):
    chk = REGISTRY[name]
    field, params = PARAMS[name]
    if name == "token_length":
        tokenizers = pytest.importorskip("tokenizers")
        tok = tokenizers.Tokenizer(tokenizers.models.WordLevel({"[UNK]": 0, "x": 1}, unk_token="[UNK]"))
        tok.pre_tokenizer = tokenizers.pre_tokenizers.Whitespace()
        tok.save(str(tmp_path / "tokenizer.json"))
        params = {**params, "tokenizer": str(tmp_path / "tokenizer.json")}
    table = hostile_table
    values = table[field] if field else None
    ctx = CheckContext(root=tmp_path, labels=["a", "b"])
    start = time.perf_counter()
    failed, detail = chk(values, table, params, ctx)
    assert failed.dtype == bool and len(failed) == len(table) and failed.index.equals(table.index)
    if isinstance(detail, pd.Series):
        assert detail.index.isin(table.index).all()
    if chk.fix is not None and field is not None:
        rows = failed.index[failed.to_numpy()]
        repaired = chk.repair(table.loc[rows, field], table.loc[rows], params, ctx)
        for column, new in repaired.items():
            assert len(pd.Series(new).reindex(rows)) == len(rows)
    assert time.perf_counter() - start < 30, f"{name} took too long on hostile input"


def test_the_normal_row_passes_the_text_checks(hostile_table, tmp_path):
    normal = len(HOSTILE) - 1
    for name in ("not_empty", "mojibake", "html_residue", "control_chars", "pii", "repeated_chars", "caps_ratio"):
        field, params = PARAMS[name]
        failed, _ = REGISTRY[name](hostile_table[field], hostile_table, params, CheckContext(root=tmp_path))
        assert not failed.iloc[normal], name
    failed, _ = REGISTRY["not_empty"](hostile_table["text"], hostile_table, {}, CheckContext())
    assert failed.tolist()[2:4] == [True, True]  # NaN and None are empty
    assert np.asarray(failed).sum() == 2
