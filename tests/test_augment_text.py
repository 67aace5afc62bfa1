"""Text augmenters: each one changes text the way it should and keeps the label; the flow, WordNet
(a tiny corpus in the real format), the masked-LM and back-translation paths on tiny local models,
and the clear errors for a missing corpus, a missing model and a bad config."""

from __future__ import annotations

import json

import nltk
import numpy as np
import pandas as pd
import pytest

from curator.augment.derive import AUGMENTER, Recipe, RowMaker
from curator.augment.settings import TextAugmenterSpec
from curator.augment.steps import AugmentStep, TrainContext
from curator.augment.text import TextFlow, build
from curator.config import Normalize, parse_config
from curator.dedup import content_hash
from curator.errors import ConfigError, MissingResourceError
from curator.steps import Context, Runner
from curator.table import ID, PARENT_ID
from curator.validate import ValidateStep

from conftest import make_table
from tiny_models import tiny_masked_lm, tiny_translator
from tiny_wordnet import write_wordnet

SENTENCES = ["the parcel arrived three days late and the courier never called back",
             "my card was charged twice for the same order last week",
             "great service from the support team thanks for the quick refund",
             "please reset my password because the login page keeps failing",
             "the screen cracked after one week and the battery drains quickly",
             "tracking says delivered but nothing arrived at my address today"]
LABELS = ["shipping", "billing", "praise", "account", "defect", "shipping"]


def words(text: str) -> list[str]:
    return text.lower().split()


def augment_rows(specs: list[TextAugmenterSpec], table: pd.DataFrame | None = None, seed: int = 0):
    table = make_table(SENTENCES, LABELS) if table is None else table
    flow = TextFlow.from_specs(specs, table["text"].tolist())
    maker = RowMaker(Recipe("text", text=flow), "text", Normalize(), seed)
    return table, *maker.make(table, np.zeros(len(table), dtype=int), "augment")


# How each augmenter must change a text (beyond "it differs"), given the old and new text.
EXPECTED = {
    "keyboard": lambda a, b: len(words(a)) == len(words(b)),
    "ocr": lambda a, b: len(words(a)) == len(words(b)),
    "char_insert": lambda a, b: len(b) > len(a),
    "char_delete": lambda a, b: len(b) < len(a),
    "char_swap": lambda a, b: sorted(a) == sorted(b),
    "word_swap": lambda a, b: sorted(words(a)) == sorted(words(b)),
    "word_delete": lambda a, b: len(words(b)) < len(words(a)),
    "word_split": lambda a, b: len(words(b)) > len(words(a)) and a.replace(" ", "") == b.replace(" ", ""),
    "spelling": lambda a, b: len(words(a)) == len(words(b)),
    "tfidf": lambda a, b: len(words(a)) == len(words(b)) and set(words(b)) <= set(" ".join(SENTENCES).split()),
}


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_each_augmenter_changes_text_as_it_should_and_keeps_the_label(name):
    params = {"aug_p": 0.3} if name in ("tfidf", "spelling", "word_swap", "word_delete", "word_split") else {}
    table, accepted, rejected = augment_rows([TextAugmenterSpec(name=name, params=params)])
    assert len(accepted) >= len(table) - 1, rejected[["rejected_reason", "rejected_detail"]]
    parents = table.set_index("id").loc[accepted[PARENT_ID]]
    assert (accepted["label"].to_numpy() == parents["label"].to_numpy()).all()
    for before, after in zip(parents["text"], accepted["text"]):
        assert before != after
        assert EXPECTED[name](before, after), (name, before, after)
    assert set(accepted[AUGMENTER]) == {name}


def test_unchanged_text_is_discarded_as_a_duplicate_of_its_parent():
    table = make_table(["ok", "fine"], ["a", "b"])  # too short for any word to be swapped
    _, accepted, rejected = augment_rows([TextAugmenterSpec(name="word_swap")], table)
    assert accepted.empty
    assert set(rejected["rejected_reason"]) == {"augment:duplicate"}
    assert set(rejected["rejected_detail"]) == {"the augmentation left the content unchanged"}


def test_new_rows_get_the_rule_sets_fixes_and_are_hashed_after_them():
    cfg = parse_config({"input": {"path": "x"}, "modality": "text", "rules": ["text-classification"]})
    table = make_table([s.replace(" the ", " the\u200b ", 1) for s in SENTENCES], LABELS)  # zero-width spaces

    def run(known: pd.Series | None = None):
        flow = TextFlow.from_specs([TextAugmenterSpec(name="word_swap")], table["text"].tolist())
        maker = RowMaker(Recipe("text", text=flow), "text", Normalize(), 0, validator=ValidateStep.from_config(cfg),
                         config=cfg)
        if known is not None:
            maker.remember(known)
        return maker.make(table, np.zeros(len(table), dtype=int), "augment")

    accepted, rejected = run()
    assert len(accepted) == len(table) and rejected.empty
    assert not accepted["text"].str.contains("\u200b").any()  # the control_chars fix rule ran on them
    assert (accepted["content_hash"] == content_hash(accepted, "text", Normalize())).all()
    # The hash compared with existing rows is the repaired text's: an existing row with that text is a duplicate.
    accepted, rejected = run(known=content_hash(accepted.head(1), "text", Normalize()))
    assert rejected["rejected_reason"].tolist() == ["augment:duplicate"]
    assert rejected["rejected_detail"].tolist() == ["exact duplicate of an existing row"]


def test_the_ledger_records_what_the_rule_set_fixed_and_flagged_on_new_rows():
    cfg = parse_config({"input": {"path": "x"}, "modality": "text", "seed": 0, "rules": ["text-classification"],
                        "augment": {"enabled": True, "text": [{"name": "word_swap"}]}})
    texts = [s.replace(" the ", " the\u200b ", 1) for s in SENTENCES]  # zero-width spaces: a fix rule
    texts[0] += " sooooooooooooooo slow"  # a run of 15: the repeated_chars warn rule
    table = make_table(texts, LABELS)
    repaired = table[ID][table["text"].str.contains("\u200b")]
    runner = Runner(Context(cfg, 0))
    out = runner.run(table, [AugmentStep(TrainContext(cfg, table.iloc[0:0]))])
    new = out[out[PARENT_ID].notna()]
    assert len(new) == len(table)
    ledger = runner.ledger.to_frame()
    fixed = ledger[(ledger["action"] == "fixed") & ledger["id"].isin(new[ID])]
    assert 3 <= len(repaired) < len(table) and set(fixed["reason"]) == {"rule:control_chars"}
    assert set(new.set_index(ID).loc[fixed["id"], PARENT_ID]) == set(repaired)
    assert fixed["old_value"].str.contains("\u200b").all() and not fixed["new_value"].str.contains("\u200b").any()
    flagged = ledger[(ledger["action"] == "flagged") & ledger["id"].isin(new[ID])]
    assert flagged["reason"].tolist() == ["rule:repeated_chars"]
    assert new.set_index(ID).loc[flagged["id"].iloc[0], PARENT_ID] == table[ID].iloc[0]
    assert runner.stats[-1].fixed == len(repaired) and runner.stats[-1].flagged == 1


def test_ledger_details_are_the_canonical_json_of_each_new_row_even_for_awkward_parent_ids():
    ids = ['plain', 'quo"te', 'back\\slash', '", "', 'a\\", "b', "caf\u00e9 \u6f22", "tab\tnul\x00", ""]
    table = make_table([f"text number {i}" for i in range(len(ids))]).assign(id=ids)
    maker = RowMaker(Recipe("duplicate"), "text", Normalize(), 9)
    accepted, rejected = maker.make(table, np.arange(len(ids)) * 1_000_000, "rebalance:oversample")
    assert rejected.empty
    expected = [json.dumps({"augmenter": "duplicate", "params": {"duplicate": {}}, "seed": 9, "copy": c,
                            "parent": p}, sort_keys=True, separators=(",", ":"))
                for p, c in zip(ids, range(0, len(ids) * 1_000_000, 1_000_000))]
    assert accepted["detail"].tolist() == expected


def test_flow_draws_each_augmenter_with_its_probability_and_is_seeded():
    texts = [f"{s} number {i}" for i, s in enumerate(SENTENCES * 40)]
    specs = [TextAugmenterSpec(name="char_delete", p=0.5), TextAugmenterSpec(name="word_delete", p=0.5)]
    flow = TextFlow.from_specs(specs)
    out, applied = flow.apply(texts, seed=1)
    assert applied.any(axis=1).all()  # every row gets at least one augmenter
    share = applied.mean(axis=0)
    assert ((share > 0.5) & (share < 0.8)).all(), share  # 0.5, plus the rows that drew none
    again, applied_again = flow.apply(texts, seed=1)
    assert (again == out).all() and (applied_again == applied).all()
    other, _ = flow.apply(texts, seed=2)
    assert (other != out).any()


def test_synonyms_come_from_wordnet_when_the_corpus_is_installed(tmp_path, monkeypatch):
    synsets = [["parcel", "package", "bundle"], ["courier", "messenger"], ["refund", "repayment"],
               ["screen", "display"], ["password", "passcode"], ["address", "residence"],
               ["card", "plastic"]]
    monkeypatch.setattr(nltk.data, "path", [str(write_wordnet(tmp_path / "nltk_data", synsets))])
    table, accepted, _ = augment_rows([TextAugmenterSpec(name="synonym", params={"aug_p": 0.5})])
    synonyms = {w: set(s) - {w} for s in synsets for w in s}
    assert len(accepted) == len(table)
    for before, after in zip(table.set_index("id").loc[accepted[PARENT_ID], "text"], accepted["text"]):
        changed = [(a, b) for a, b in zip(words(before), words(after)) if a != b]
        assert changed and all(b in synonyms[a] for a, b in changed), (before, after)


def test_missing_wordnet_is_one_clear_line_with_the_install_command(tmp_path, monkeypatch):
    monkeypatch.setattr(nltk.data, "path", [str(tmp_path)])
    with pytest.raises(MissingResourceError) as err:
        build("synonym", {})
    assert str(err.value) == ("synonym augmenter: the NLTK WordNet corpus is not installed; install it with: "
                              "python -m nltk.downloader wordnet omw-1.4")


@pytest.fixture(scope="module")
def tiny_models(tmp_path_factory):
    root = tmp_path_factory.mktemp("tiny_models")
    texts = SENTENCES * 5
    return {"mlm": tiny_masked_lm(root / "mlm", texts), "en_xx": tiny_translator(root / "en_xx", texts, 0),
            "xx_en": tiny_translator(root / "xx_en", texts, 1)}


def test_contextual_substitution_runs_a_masked_lm_from_a_local_path_on_transformers_5(tiny_models):
    spec = TextAugmenterSpec(name="contextual", params={"model": str(tiny_models["mlm"]), "aug_p": 0.3})
    table, accepted, _ = augment_rows([spec])
    assert len(accepted) >= len(table) - 1
    parents = table.set_index("id").loc[accepted[PARENT_ID]]
    assert (accepted["label"].to_numpy() == parents["label"].to_numpy()).all()
    assert all(a != b for a, b in zip(parents["text"], accepted["text"]))


def test_back_translation_runs_two_local_translation_models(tiny_models):
    spec = TextAugmenterSpec(name="back_translation", params={
        "from_model": str(tiny_models["en_xx"]), "to_model": str(tiny_models["xx_en"]), "max_length": 16})
    table, accepted, rejected = augment_rows([spec])
    # Random weights translate every sentence to the same junk: one is kept, the rest are its duplicates.
    assert len(accepted) >= 1 and set(rejected["rejected_reason"]) <= {"augment:duplicate"}
    parents = table.set_index("id").loc[accepted[PARENT_ID]]
    assert (accepted["text"].to_numpy() != parents["text"].to_numpy()).all()
    assert (accepted["label"].to_numpy() == parents["label"].to_numpy()).all()


def test_a_missing_model_is_one_clear_line_naming_it(tmp_path):
    missing = str(tmp_path / "no-model")
    with pytest.raises(MissingResourceError, match="contextual augmenter: model .*no-model.* is not a directory"):
        build("contextual", {"model": missing})
    with pytest.raises(MissingResourceError, match="back_translation augmenter: model .*no-model"):
        build("back_translation", {"from_model": missing, "to_model": missing})


@pytest.mark.parametrize("augment, message", [
    ({"text": [{"name": "keybord"}]}, "unknown text augmenter 'keybord'; valid: back_translation"),
    ({"text": [{"name": "keyboard", "params": {"p": 1}}]}, "text augmenter 'keyboard' has no parameter 'p'"),
    ({"copies": 0}, "augment.copies"),
])
def test_bad_augment_config_is_one_line(augment, message):
    with pytest.raises(ConfigError) as err:
        parse_config({"input": {"path": "x.csv"}, "augment": augment})
    assert message in str(err.value) and "\n" not in str(err.value)
