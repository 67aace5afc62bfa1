"""Exact dedup: normalisation, which row is kept and why, and label conflicts."""

import pytest

from curator.config import parse_config
from curator.steps import Context, Runner
from curator.dedup import ExactDedupStep

from conftest import make_table


def run_dedup(table, **params):
    cfg = parse_config({"input": {"path": "x"}, "steps": {"dedup_exact": params}})
    runner = Runner(Context(cfg))
    out = runner.run(table, [ExactDedupStep.from_config(cfg)])
    return out, runner.ledger.to_frame(), runner


def test_duplicates_after_nfc_case_and_whitespace_folding():
    table = make_table(["Café au lait", "cafe\u0301  AU lait ", "café au lait!", "other"])
    out, ledger, _ = run_dedup(table)
    assert out["id"].tolist() == ["r0", "r2", "r3"]  # punctuation is kept by default
    drop = ledger[ledger.action == "dropped"].iloc[0]
    assert (drop["id"], drop["reason"], drop["related_id"], drop["detail"]) == \
        ("r1", "exact_duplicate", "r0", "exact duplicate of r0")


def test_each_normalisation_can_be_turned_off():
    table = make_table(["Hello world", "hello world", "hello  world", "hello, world"])
    out, _, _ = run_dedup(table, normalize={"case": False, "whitespace": False})
    assert out["id"].tolist() == ["r0", "r1", "r2", "r3"]
    out, _, _ = run_dedup(table, normalize={"punctuation": True})
    assert out["id"].tolist() == ["r0"]


def test_kept_row_is_explained_in_the_ledger():
    table = make_table(["same text", "other", "same text", "Same Text"])
    _, ledger, _ = run_dedup(table)
    kept = ledger[ledger.action == "kept"]
    assert kept["id"].tolist() == ["r0"]
    assert kept["detail"].iloc[0] == "kept r0; 2 exact duplicates of it: r2, r3"
    assert kept["reason"].iloc[0] == "duplicate_group_kept"


@pytest.mark.parametrize("keep, expected", [("first", "r0"), ("longest", "r1"), ("most_metadata", "r2"),
                                           ("majority_label", "r1")])
def test_keep_policy(keep, expected):
    table = make_table(["the text", " the  text   ", "THE TEXT", "the  text"], ["x", "y", "z", "y"],
                       channel=[None, None, "web", None])
    out, _, _ = run_dedup(table, keep=keep)
    assert out["id"].tolist() == [expected]


def test_label_conflict_is_flagged_not_silently_collapsed():
    table = make_table(["refund please", "Refund please", "refund  please", "fine"], ["billing", "shipping", "billing", "x"])
    out, ledger, runner = run_dedup(table)
    assert out["id"].tolist() == ["r0", "r3"]
    flag = ledger[ledger.action == "flagged"].iloc[0]
    assert (flag["id"], flag["reason"]) == ("r0", "label_conflict")
    assert flag["detail"] == "duplicates carry different labels: billing (2), shipping (1)"
    assert runner.stats[0].flagged == 1


def test_label_conflict_drop_policy_drops_the_whole_group():
    table = make_table(["refund please", "Refund please", "fine"], ["billing", "shipping", "x"])
    out, ledger, _ = run_dedup(table, on_label_conflict="drop")
    assert out["id"].tolist() == ["r2"]
    dropped = ledger[ledger.action == "dropped"].set_index("id")
    assert set(dropped.index) == {"r0", "r1"} and set(dropped["reason"]) == {"label_conflict"}
    assert (ledger.action != "kept").all()  # no "kept r0" note for a row the policy dropped


def test_label_conflict_drop_policy_keeps_the_notes_of_groups_it_keeps():
    table = make_table(["refund please", "Refund please", "fine", "FINE"], ["billing", "shipping", "x", "x"])
    out, ledger, _ = run_dedup(table, on_label_conflict="drop")
    assert out["id"].tolist() == ["r2"]
    assert ledger[ledger.action == "kept"][["id", "detail"]].values.tolist() == [
        ["r2", "kept r2; 1 exact duplicate of it: r3"]]


def test_label_conflict_majority_fixes_the_kept_label_and_records_the_old_one():
    table = make_table(["refund please", "Refund please", "refund please "], ["shipping", "billing", "billing"])
    out, ledger, _ = run_dedup(table, on_label_conflict="majority")
    assert out[["id", "label"]].values.tolist() == [["r0", "billing"]]
    fix = ledger[ledger.action == "fixed"].iloc[0]
    assert (fix["id"], fix["column"], fix["old_value"], fix["new_value"]) == ("r0", "label", "shipping", "billing")


def test_majority_tie_is_flagged_instead():
    table = make_table(["refund please", "Refund please"], ["shipping", "billing"])
    out, ledger, _ = run_dedup(table, on_label_conflict="majority")
    assert out["label"].tolist() == ["shipping"]
    assert ledger[ledger.action == "flagged"]["id"].tolist() == ["r0"]
    assert ledger[ledger.action == "fixed"].empty


def test_missing_text_is_never_a_duplicate_of_itself():
    table = make_table([None, None, "x"])
    out, _, _ = run_dedup(table)
    assert len(out) == 3


def test_image_duplicates_use_the_decoded_pixel_hash():
    table = make_table([None] * 3).drop(columns="text").assign(image=["a.png", "b.png", "c.jpg"],
                                                                  image_hash=["h1", "h1", "h2"])
    cfg = parse_config({"input": {"path": "x"}, "modality": "image"})
    runner = Runner(Context(cfg))
    out = runner.run(table, [ExactDedupStep.from_config(cfg)])
    assert out["image"].tolist() == ["a.png", "c.jpg"]


def test_long_duplicate_lists_are_shortened_in_the_explanation():
    table = make_table(["same"] * 8)
    _, ledger, _ = run_dedup(table)
    kept = ledger[ledger.action == "kept"]["detail"].iloc[0]
    assert kept == "kept r0; 7 exact duplicates of it: r1, r2, r3, r4, r5, ..."
