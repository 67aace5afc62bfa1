"""End to end on the sample data: every row accounted for, deterministic, leak-free, atomic."""

import json
import shutil

import pandas as pd
import pytest

import curator
from curator.errors import EmptyDatasetError
from curator.export import sha256_file

from conftest import write_config, write_csv

SPLITS = ("train", "val", "test")


@pytest.fixture(scope="module")
def text_result(tmp_path_factory):
    from conftest import SAMPLE
    base = tmp_path_factory.mktemp("text")
    return curator.run(SAMPLE / "text" / "curator.yaml", out=base / "out")


@pytest.fixture(scope="module")
def image_result(tmp_path_factory):
    from conftest import SAMPLE
    base = tmp_path_factory.mktemp("images")
    return curator.run(SAMPLE / "images" / "curator.yaml", out=base / "out")


def all_rows(result):
    return pd.concat([result.read(s) for s in SPLITS], ignore_index=True)


@pytest.mark.parametrize("which", ["text_result", "image_result"])
def test_every_row_is_kept_or_dropped_exactly_once(request, which):
    result = request.getfixturevalue(which)
    kept, dropped, ledger = all_rows(result), result.read("dropped"), result.read("ledger")
    counts = result.counts
    assert counts["rows_read"] + counts["rows_added"] == len(kept) + len(dropped)
    ids = pd.concat([kept["id"], dropped["id"]])
    assert not ids.duplicated().any()
    assert len(ids) == counts["rows_read"]
    # Every kept row has its split decision in the ledger; every dropped row its reason.
    final = ledger[(ledger.step == "split") & (ledger.action == "kept")]
    assert set(final["id"]) == set(kept["id"])
    assert set(ledger.loc[ledger.action == "dropped", "id"]) == set(dropped["id"])
    assert dropped["reason"].notna().all()
    for stage in result.report["flow"]:
        assert stage["rows_in"] + stage["added"] == stage["rows_out"] + stage["dropped"]


def test_text_run_drops_what_was_planted(text_result):
    from conftest import SAMPLE
    planted = json.loads((SAMPLE / "text" / "planted.json").read_text())
    dropped = text_result.read("dropped")
    by_source = dict(zip(dropped["source"], dropped["reason"]))
    for line in planted["malformed_lines"]:
        assert by_source[f"tickets.csv:{line}"] == "malformed_line"
    for group in planted["exact_duplicate_groups"]:
        reasons = [by_source.get(f"tickets.csv:{line}") for line in group]
        # One row of each group survives validation and dedup; the others are exact duplicates
        # (or were already dropped by a rule or label check).
        assert reasons.count(None) <= 1, group
        assert "exact_duplicate" in reasons or "label_conflict" in reasons or reasons.count(None) == 0
    for line in planted["empty"]:
        assert by_source[f"tickets.csv:{line}"] == "rule:not_empty"
    for line in planted["unknown_label"]:
        assert by_source.get(f"tickets.csv:{line}") in ("unknown_label", "exact_duplicate", "rule:min_length")
    assert set(dropped["reason"]) >= {"malformed_line", "rule:not_empty", "rule:min_length", "exact_duplicate",
                                      "unknown_label", "missing_label"}
    ledger = text_result.read("ledger")
    assert (ledger.loc[ledger.action == "flagged", "reason"] == "label_conflict").sum() >= 1


def test_splits_are_leak_free_and_groups_stay_together(text_result):
    kept = all_rows(text_result)
    assert (kept.groupby("user_id")["split"].nunique() == 1).all()
    assert not kept["content_hash"].duplicated().any()
    assert text_result.report["leak_check"]["passed"]
    assert set(kept["split"]) == set(SPLITS)


def test_manifest_checksums_and_counts(text_result):
    manifest = json.loads((text_result.out_dir / "manifest.json").read_text())
    for name, info in manifest["files"].items():
        assert sha256_file(text_result.out_dir / name) == info["sha256"], name
    assert manifest["labels"] == ["billing", "shipping", "account", "product_defect", "praise"]
    assert manifest["counts"]["train"] == len(text_result.read("train"))
    assert manifest["columns"]["content"] == "text" and manifest["seed"] == 0
    assert {"train.jsonl", "val.jsonl", "test.jsonl"} <= set(manifest["files"])


def test_same_input_and_seed_give_byte_identical_outputs(text_result, tmp_path):
    from conftest import SAMPLE
    again = curator.run(SAMPLE / "text" / "curator.yaml", out=tmp_path / "again")
    for name in ("train.parquet", "val.parquet", "test.parquet", "dropped.parquet", "ledger.parquet", "train.jsonl"):
        assert sha256_file(text_result.out_dir / name) == sha256_file(again.out_dir / name), name


def test_report_escapes_dataset_text(text_result):
    html = (text_result.out_dir / "report.html").read_text()
    assert "<script>alert(1)" not in html and "<img src=x" not in html
    report = json.loads((text_result.out_dir / "report.json").read_text())
    assert report["totals"]["rows_read"] == text_result.counts["rows_read"]
    assert report["lengths"]["before"] and report["duplicate_groups"]


def test_image_run_uses_pixels_not_bytes(image_result):
    from conftest import SAMPLE
    planted = json.loads((SAMPLE / "images" / "planted.json").read_text())
    dropped = image_result.read("dropped").set_index("source")
    rel = lambda path: path.removeprefix("data/")  # planted paths are relative to sample_data/images
    for path in planted["corrupt"] + planted["truncated"] + planted["zero_byte"]:
        assert dropped.loc[rel(path), "reason"] == "image_unreadable", path
    for path in planted["tiny"]:
        assert dropped.loc[rel(path), "reason"] == "rule:min_size", path
    dup_dropped = set(dropped.index[dropped["reason"] == "exact_duplicate"])
    for group in planted["exact_duplicate_groups"]:
        assert len({rel(p) for p in group} & dup_dropped) == len(group) - 1, group
    conflicts = image_result.read("ledger").query("step == 'dedup_exact' and action == 'flagged' and reason == 'label_conflict'")
    assert len(conflicts) == len(planted["label_conflicts"])
    html = (image_result.out_dir / "report.html").read_text()
    assert "data:image/jpeg;base64," in html


def test_a_failed_run_leaves_the_previous_output_intact(tmp_path, monkeypatch):
    rows = [{"text": f"some ticket text {i}", "label": "a"} for i in range(40)]
    write_csv(tmp_path / "d.csv", rows)
    cfg = write_config(tmp_path / "c.yaml", {"input": {"path": "d.csv"}})
    first = curator.run(cfg, out=tmp_path / "out")
    before = {p.name: sha256_file(p) for p in first.out_dir.iterdir()}

    import curator.pipeline as pipeline

    def broken(*args, **kwargs):
        raise KeyboardInterrupt  # what a Ctrl-C in the middle of writing looks like
    monkeypatch.setattr(pipeline, "render_html", broken)
    write_csv(tmp_path / "d.csv", rows + [{"text": "a brand new ticket here", "label": "a"}])
    with pytest.raises(KeyboardInterrupt):
        curator.run(cfg, out=tmp_path / "out")
    after = {p.name: sha256_file(p) for p in (tmp_path / "out").iterdir()}
    assert after == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["c.yaml", "d.csv", "out"]


def test_adding_rows_does_not_move_existing_rows(tmp_path):
    rows = [{"text": f"ticket text number {i}", "label": "ab"[i % 2], "user_id": f"u{i % 37}"} for i in range(400)]
    write_csv(tmp_path / "d.csv", rows)
    cfg = write_config(tmp_path / "c.yaml", {"input": {"path": "d.csv"}, "split": {"group_by": ["user_id"]}})
    first = all_rows(curator.run(cfg, out=tmp_path / "o1")).set_index("id")["split"]
    more = rows + [{"text": f"new ticket text {i}", "label": "a", "user_id": f"u{i % 50}"} for i in range(200)]
    write_csv(tmp_path / "d.csv", more)
    second = all_rows(curator.run(cfg, out=tmp_path / "o2")).set_index("id")["split"]
    assert second.loc[first.index].equals(first)


def test_input_columns_named_like_curator_columns_are_kept_and_do_not_steer_the_split(tmp_path):
    rows = [{"text": f"ticket text number {i}", "label": "ab"[i % 2], "split": "orig", "cluster": "one"}
            for i in range(60)]
    write_csv(tmp_path / "d.csv", rows)
    cfg = write_config(tmp_path / "c.yaml", {"input": {"path": "d.csv"},
                                             "steps": {"label_issues": {"enabled": False}}})
    kept = all_rows(curator.run(cfg, out=tmp_path / "out"))
    assert len(kept) == 60 and set(kept["meta_split"]) == {"orig"} and set(kept["meta_cluster"]) == {"one"}
    assert kept["split"].nunique() > 1       # a user 'cluster' column does not tie every row together

def test_integer_labels_stored_as_floats_match_the_label_list(tmp_path):
    labels = [i % 2 for i in range(40)]
    labels[3] = None                       # one missing label makes pandas store the column as float64
    texts = [f"ticket text number {i}" for i in range(40)]
    pd.DataFrame({"text": texts, "label": labels}).to_parquet(tmp_path / "d.parquet")
    cfg = write_config(tmp_path / "c.yaml", {"input": {"path": "d.parquet"}, "labels": ["0", "1"],
                                             "steps": {"label_issues": {"enabled": False}}})
    result = curator.run(cfg, out=tmp_path / "out")
    assert set(all_rows(result)["label"]) == {"0", "1"} and len(all_rows(result)) == 39
    assert result.read("dropped")["reason"].tolist() == ["missing_label"]

def test_image_run_with_a_nul_byte_in_a_path_drops_that_row(tmp_path):
    from PIL import Image
    for i in range(6):
        Image.new("RGB", (16, 16), (40 * i, 0, 0)).save(tmp_path / f"{i}.png")
    lines = [json.dumps({"image": f"{i}.png", "label": "ab"[i % 2]}) for i in range(6)]
    (tmp_path / "m.jsonl").write_text("\n".join(lines + [json.dumps({"image": "6\x00.png", "label": "a"})]) + "\n")
    cfg = write_config(tmp_path / "c.yaml", {"input": {"path": "m.jsonl"}, "modality": "image",
                                             "steps": {"label_issues": {"enabled": False}}})
    dropped = curator.run(cfg, out=tmp_path / "out").read("dropped")
    assert dropped.loc[dropped["source"] == "m.jsonl:7", "reason"].tolist() == ["image_missing"]

def test_empty_and_fully_dropped_datasets_are_clear_errors(tmp_path):
    (tmp_path / "empty.csv").write_text("text,label\n")
    cfg = write_config(tmp_path / "c.yaml", {"input": {"path": "empty.csv"}})
    with pytest.raises(EmptyDatasetError):
        curator.run(cfg)
    write_csv(tmp_path / "d.csv", [{"text": "", "label": "a"}, {"text": "hi", "label": "a"}])
    cfg = write_config(tmp_path / "c.yaml", {"input": {"path": "d.csv"}, "rules": ["text-classification"]})
    with pytest.raises(EmptyDatasetError, match=r"d.csv: every row was dropped \(rule:.*: 1"):
        curator.run(cfg)
    assert not (tmp_path / "out").exists()
