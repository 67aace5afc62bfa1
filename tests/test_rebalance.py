"""Rebalance and augment in real runs: train only, val/test byte-identical, exact goals, parents in
train, seeded, redundant rows undersampled first, multi-label, images, the report and the CLI."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from PIL import Image
from typer.testing import CliRunner

import curator
from curator.augment.api import augment_dataset
from curator.augment.derive import Recipe, RowMaker
from curator.augment.image import ImageAugmenter, build_pipeline, PRESETS
from curator.augment.steps import AugmentStep, RebalanceStep, TrainContext
from curator.cli import app
from curator.config import Normalize, parse_config
from curator.errors import ConfigError, InputError
from curator.rebalance import first_plain_label, label_lists, multilabel_batches
from curator.steps import Context, Runner

from conftest import write_csv

WORDS = "the my a it was is and to please again today this order we you card parcel late refund great".split()


def rows(n: int = 240, every: int = 8, seed: int = 0) -> list[dict]:
    rng = np.random.default_rng(seed)
    return [{"text": " ".join(rng.choice(WORDS, 9)) + f" n{i}", "label": "minor" if i % every == 0 else "major"}
            for i in range(n)]


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    """One plain run and two rebalanced + augmented runs with the same seed, on the same data."""
    root = tmp_path_factory.mktemp("rebalance")
    write_csv(root / "data.csv", rows())
    base = {"input": {"path": str(root / "data.csv")}, "modality": "text", "seed": 3}
    extra = {"rebalance": {"enabled": True, "strategy": "both", "target": {"major": 100, "minor": 60}},
             "augment": {"enabled": True, "text": [{"name": "char_swap"}, {"name": "word_swap", "p": 0.5}]}}
    return {"plain": curator.run(base, out=root / "plain"), "a": curator.run({**base, **extra}, out=root / "a"),
            "b": curator.run({**base, **extra}, out=root / "b")}


def test_val_and_test_are_byte_identical_with_and_without_rebalance_and_augment(runs):
    for name in ("val.parquet", "test.parquet"):
        assert runs["plain"].paths[name].read_bytes() == runs["a"].paths[name].read_bytes()


def test_rebalance_meets_the_target_counts_exactly_then_augment_adds_a_copy_per_original(runs):
    flow = {s["name"]: s for s in runs["a"].report["flow"]}
    rebalance = runs["a"].report["augmentation"][0]
    assert rebalance["step"] == "rebalance" and rebalance["after"] == {"major": 100, "minor": 60}
    assert flow["rebalance"]["rows_out"] == 160
    train = runs["a"].read("train")
    originals = train[train["parent_id"].isna()]
    assert flow["augment"]["rows_out"] == 160 + (flow["augment"]["added"] - flow["augment"]["dropped"])
    assert len(train) == flow["augment"]["rows_out"] and len(originals) == 100 + (train["label"].eq("minor") & train["parent_id"].isna()).sum()


def test_every_added_row_has_its_parent_in_train_with_the_same_label_and_group(runs):
    train = runs["a"].read("train")
    plain_train = runs["plain"].read("train").set_index("id")
    new = train[train["parent_id"].notna()]
    assert len(new) > 0 and (new["split"] == "train").all()
    parents = plain_train.loc[new["parent_id"]]
    assert (parents["label"].to_numpy() == new["label"].to_numpy()).all()
    assert (parents["group"].to_numpy() == new["group"].to_numpy()).all()
    ledger = runs["a"].read("ledger")
    added = ledger[ledger["action"] == "added"].set_index("id")
    assert set(new["id"]) <= set(added.index)
    assert set(added["reason"]) >= {"rebalance:oversample", "augment:char_swap"}
    detail = json.loads(added.loc[new["id"].iloc[0], "detail"])
    assert detail["parent"] == new["parent_id"].iloc[0] and "char_swap" in detail["params"]


def test_seeded_runs_are_identical(runs):
    for name in ("train.parquet", "dropped.parquet", "ledger.parquet"):
        assert runs["a"].paths[name].read_bytes() == runs["b"].paths[name].read_bytes()


def test_run_accounting_holds_and_undersampled_rows_are_dropped_with_reason(runs):
    c = runs["a"].counts
    assert c["rows_read"] + c["rows_added"] == c["rows_kept"] + c["rows_dropped"]
    dropped = runs["a"].read("dropped")
    under = dropped[dropped["reason"] == "rebalance:undersample"]
    assert len(under) == runs["a"].report["augmentation"][0]["undersampled"] > 0
    assert (under["label"] == "major").all()
    html = runs["a"].paths["report.html"].read_text()
    assert "Rebalance and augment" in html and "<ins>" in html and "by augmentation" in html


def _step_run(table: pd.DataFrame, rebalance: dict, seed: int = 0, modality: str = "text"):
    cfg = parse_config({"input": {"path": "x"}, "modality": modality, "seed": seed,
                        "rebalance": {"enabled": True, **rebalance}, "steps": {"validate": {"enabled": False}}})
    runner = Runner(Context(cfg, seed))
    out = runner.run(table, [RebalanceStep(TrainContext(cfg, table.iloc[0:0]))])
    return out, runner


def _table(labels: list[str], texts: list[str] | None = None) -> pd.DataFrame:
    texts = texts or [f"row {i} " + " ".join(WORDS[(i * k) % len(WORDS)] for k in range(1, 8)) for i in range(len(labels))]
    return pd.DataFrame({"id": [f"r{i}" for i in range(len(labels))], "text": texts, "label": labels}, dtype=object)


def test_undersampling_removes_near_duplicates_first_and_keeps_one_of_each_pair():
    unique = [f"unique sentence number {i} about " + " ".join(WORDS[i % 7:i % 7 + 6]) + f" tail{i}" for i in range(20)]
    base = [f"shared complaint about the parcel number {i} arriving late again and again" for i in range(6)]
    near = [t + " !" for t in base]
    texts = unique + base + near + ["a small class row"] * 0 + [f"minor text {i}" for i in range(8)]
    labels = ["major"] * 32 + ["minor"] * 8
    out, runner = _step_run(_table(labels, texts), {"strategy": "undersample", "target": {"major": 26}})
    removed = set(runner.dropped_rows()["id"])
    assert len(removed) == 6
    pair_of = {f"r{20 + i}": f"r{26 + i}" for i in range(6)}
    assert all((a in removed) != (b in removed) for a, b in pair_of.items())  # exactly one of each pair


def test_max_ratio_and_plain_duplicates_are_labelled():
    out, runner = _step_run(_table(["a"] * 40 + ["b"] * 5), {"max_ratio": 2, "method": "duplicate"})
    counts = out["label"].value_counts()
    assert counts["a"] / counts["b"] <= 2 and counts["b"] == 20
    new = out[out["parent_id"].notna()]
    assert (new["augmenter"] == "duplicate").all()
    parents = out.set_index("id").loc[new["parent_id"], "text"]
    assert (parents.to_numpy() == new["text"].to_numpy()).all()


def test_multilabel_rows_rebalance_by_label_frequency_without_inflating_common_labels():
    # "rare" appears alone in 5 rows and with "common" in 5 more; "common" is in 100 rows.
    labels = ['["common"]'] * 95 + ['["rare"]'] * 5 + ['["common", "rare"]'] * 5
    out, _ = _step_run(_table(labels), {"target": {"rare": 60}, "method": "duplicate"}, seed=1)
    lists = out["label"].map(json.loads)
    rare = lists.map(lambda x: "rare" in x).sum()
    common = lists.map(lambda x: "common" in x).sum()
    assert rare >= 60
    assert common - 100 < 0.25 * (rare - 10)  # most new rows carry the rare label alone


def _many_labels(n: int, labels: int, seed: int) -> np.ndarray:
    """A (rows, labels) matrix with label frequencies from 50% down to 0.2%, every row carrying one."""
    rng = np.random.default_rng(seed)
    matrix = rng.random((n, labels)) < np.geomspace(0.5, 0.002, labels)
    matrix[~matrix.any(axis=1), 0] = True
    return matrix


def test_multilabel_rebalance_meets_every_goal_with_many_labels():
    matrix = _many_labels(600, 12, seed=4)
    names = np.array([f"l{k:02d}" for k in range(12)])
    labels = [json.dumps(names[row].tolist()) for row in matrix]
    out, runner = _step_run(_table(labels), {"method": "duplicate"}, seed=5)
    section = runner.ctx.artifacts["rebalance"]
    assert section["multi_label"] and section["shortfall"] == {}
    assert all(section["after"][k] >= v for k, v in section["goal"].items())
    assert set(section["goal"].values()) == {int(matrix.sum(axis=0).max())}  # every label up to the largest
    again, _ = _step_run(_table(labels), {"method": "duplicate"}, seed=5)
    assert again["id"].tolist() == out["id"].tolist()


def test_multilabel_oversampling_takes_few_passes_over_a_large_table():
    matrix = _many_labels(20_000, 40, seed=0)
    counts = matrix.sum(axis=0)
    wanted = np.full(40, counts.max())
    batches = list(multilabel_batches(matrix, wanted, seed=0, max_rows=int(wanted.sum())))
    gained = np.bincount(np.concatenate(batches), minlength=len(matrix)) @ matrix
    assert (counts + gained >= wanted).all()
    assert len(batches) <= 2 * np.log2((wanted - counts).sum())  # one pass per halving, not per row


def test_a_bracketed_label_that_is_not_json_is_a_plain_label():
    assert label_lists(pd.Series(["[urgent]", '["a"]'])) is None
    lists = label_lists(pd.Series(['["a", "b"]', "[]", '["c"]', '["a", "b"]']))
    assert lists.values.tolist() == ["a", "b", "c", "a", "b"] and lists.lengths.tolist() == [2, 0, 1, 2]
    labels = ["[urgent]"] * 6 + ['["billing", "late"]'] * 3
    out, runner = _step_run(_table(labels), {"method": "duplicate"})
    section = runner.ctx.artifacts["rebalance"]
    assert not section["multi_label"] and section["after"] == {"[urgent]": 6, '["billing", "late"]': 6}
    with pytest.raises(ConfigError, match=r"does not hold lists \(JSON arrays such as \[\"a\", \"b\"\]\): row \S+ has '\[urgent\]'"):
        _step_run(_table(labels), {"multi_label": "yes"})
    assert first_plain_label(pd.Series(['["a"]', ["b"], '["a"]', "[urgent]"])) == 3
    assert first_plain_label(pd.Series([["a"], None])) == 1 and first_plain_label(pd.Series(['["a"]', ("b",)])) is None


def test_augment_alone_reports_bracketed_plain_labels():
    cfg = parse_config({"input": {"path": "x"}, "modality": "text", "seed": 0, "steps": {"validate": {"enabled": False}},
                        "augment": {"enabled": True, "text": [{"name": "char_swap"}]}})
    table = _table(["[urgent]", "[later]", '["a"]'] * 2)
    runner = Runner(Context(cfg, 0))
    runner.run(table, [AugmentStep(TrainContext(cfg, table.iloc[0:0]))])
    assert runner.ctx.artifacts["augment"]["before"] == {"[later]": 2, "[urgent]": 2, '["a"]': 2}


def test_multilabel_undersampling_is_a_clear_error():
    with pytest.raises(ConfigError, match="multi-label rows can only be oversampled"):
        _step_run(_table(['["a"]'] * 4 + ['["b"]']), {"strategy": "undersample"})


@settings(max_examples=20, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(sizes=st.lists(st.integers(1, 30), min_size=2, max_size=4), strategy=st.sampled_from(["oversample", "undersample", "both"]),
       seed=st.integers(0, 1000))
def test_rebalancing_conserves_rows_and_meets_its_goals(sizes, strategy, seed):
    labels = [f"c{k}" for k, n in enumerate(sizes) for _ in range(n)]
    out, runner = _step_run(_table(labels), {"strategy": strategy, "method": "duplicate"}, seed=seed)
    stats = runner.stats[-1]
    assert stats.rows_in + stats.added == stats.rows_out + stats.dropped == len(out) + stats.dropped
    counts = out["label"].value_counts()
    level = {"oversample": max(sizes), "undersample": min(sizes), "both": int(round(float(np.median(sizes))))}[strategy]
    for k, n in enumerate(sizes):
        want = {"oversample": max(n, level), "undersample": min(n, level), "both": level}[strategy]
        assert counts[f"c{k}"] == want


# -- images ------------------------------------------------------------------------------------------

def _png(path: Path, colour: tuple[int, int, int], seed: int) -> None:
    rng = np.random.default_rng(seed)
    pixels = np.clip(np.array(colour) + rng.integers(-40, 40, (48, 64, 3)), 0, 255).astype(np.uint8)
    pixels[: 10 + seed % 20, : 8 + seed % 30] = 255  # an asymmetric patch, so a flip changes pixels
    Image.fromarray(pixels).save(path)


@pytest.mark.parametrize("preset", sorted(PRESETS))
def test_each_image_preset_changes_pixels_keeps_the_label_and_writes_files(tmp_path, preset):
    for i in range(4):
        _png(tmp_path / f"p{i}.png", (30 * i, 90, 160), i)
    table = pd.DataFrame({"id": [f"i{i}" for i in range(4)], "image": [f"p{i}.png" for i in range(4)],
                          "label": ["cat", "dog", "cat", "dog"], "image_hash": [f"h{i}" for i in range(4)]})
    out = tmp_path / "run"
    maker = RowMaker(Recipe("image", image=ImageAugmenter(preset, PRESETS[preset])), "image", Normalize(), 0,
                     root=tmp_path, out_dir=out)
    accepted, rejected = maker.make(table, np.zeros(4, dtype=int), "augment")
    assert len(accepted) + len(rejected) == 4 and len(accepted) >= 3
    for row in accepted.to_dict("records"):
        assert row["image"] == f"augmented/{row['id']}.png" and (out / row["image"]).is_file()
        before = np.asarray(Image.open(tmp_path / table.set_index("id").loc[row["parent_id"], "image"]).convert("RGB"))
        after = np.asarray(Image.open(out / row["image"]).convert("RGB"))
        assert before.shape != after.shape or (before != after).any()
        assert row["label"] == table.set_index("id").loc[row["parent_id"], "label"]


def test_a_corrupt_or_escaping_source_image_is_skipped_with_a_reason(tmp_path):
    _png(tmp_path / "good.png", (10, 200, 10), 1)
    (tmp_path / "bad.png").write_bytes(b"\x89PNG\r\n\x1a\nnot really")
    table = pd.DataFrame({"id": ["g", "b", "e"], "image": ["good.png", "bad.png", "../outside.png"],
                          "label": ["x", "x", "x"], "image_hash": ["h1", "h2", "h3"]})
    maker = RowMaker(Recipe("image", image=ImageAugmenter("medium", PRESETS["medium"])), "image", Normalize(), 0,
                     root=tmp_path, out_dir=tmp_path / "run")
    accepted, rejected = maker.make(table, np.zeros(3, dtype=int), "augment")
    assert list(accepted["parent_id"]) == ["g"]
    why = rejected.set_index("parent_id")
    assert set(why["rejected_reason"]) == {"augment:image_unreadable"}
    assert why.loc["b", "rejected_detail"].startswith("cannot decode bad.png")
    assert "leaves the dataset root" in why.loc["e", "rejected_detail"]


def test_a_transform_or_write_that_fails_on_one_image_rejects_that_row_only(tmp_path):
    _png(tmp_path / "big.png", (10, 200, 10), 1)  # 64x48
    Image.fromarray(np.zeros((8, 8, 3), dtype=np.uint8)).save(tmp_path / "tiny.png")
    crop = ImageAugmenter("crop", [{"name": "CenterCrop", "params": {"height": 32, "width": 32}}])
    table = pd.DataFrame({"id": ["b", "t"], "image": ["big.png", "tiny.png"], "label": ["x", "x"],
                          "image_hash": ["h1", "h2"]})
    maker = RowMaker(Recipe("image", image=crop), "image", Normalize(), 0, root=tmp_path, out_dir=tmp_path / "run")
    accepted, rejected = maker.make(table, np.zeros(2, dtype=int), "augment")
    assert list(accepted["parent_id"]) == ["b"] and list(rejected["parent_id"]) == ["t"]
    assert list(rejected["rejected_reason"]) == ["augment:image_transform_failed"]
    assert rejected["rejected_detail"].iloc[0].startswith("tiny.png (8x8): CropSizeError")
    assert not (tmp_path / "run" / rejected["image"].iloc[0]).exists()

    (tmp_path / "out" / "augmented" / "w1.png").mkdir(parents=True)  # a directory where the file goes
    outcome = crop.augment(tmp_path, ["big.png", "big.png"], [1, 2], tmp_path / "out", ["w1", "w2"])
    assert outcome[0][0] == "image_write_failed" and outcome[1] is None


@pytest.mark.parametrize("specs, message", [
    ([{"name": "Flipp"}], "unknown albumentations transform 'Flipp'; valid: "),
    ([{"name": "Rotate", "params": {"limit": "x"}}], "transform 1 (Rotate): bad params"),
])
def test_bad_image_pipelines_are_one_line_errors(specs, message):
    with pytest.raises(ConfigError) as err:
        build_pipeline(specs)
    assert message in str(err.value) and "\n" not in str(err.value)


def test_image_run_rebalances_train_with_augmented_files_inside_the_run_dir(tmp_path):
    for label, colour, n in (("red", (200, 30, 30), 16), ("blue", (30, 30, 200), 4)):
        (tmp_path / "imgs" / label).mkdir(parents=True)
        for i in range(n):
            _png(tmp_path / "imgs" / label / f"{i}.png", colour, i)
    cfg = {"input": {"path": str(tmp_path / "imgs")}, "modality": "image", "seed": 1,
           "split": {"ratios": {"train": 0.8, "test": 0.2}},
           "rebalance": {"enabled": True}, "augment": {"image": {"preset": "medium"}}}
    result = curator.run(cfg, out=tmp_path / "out")
    train = result.read("train")
    new = train[train["parent_id"].notna()]
    assert len(new) > 0 and train["label"].value_counts().nunique() == 1
    assert all((tmp_path / "out" / p).is_file() for p in new["image"])
    assert "data:image/" in result.paths["report.html"].read_text()
    from trainer.rundir import load_run  # the trainer finds the augmented files through the manifest

    paths = load_run(tmp_path / "out").splits["train"].content
    assert sum(p.startswith(str(tmp_path / "out" / "augmented")) for p in paths) == len(new)


def test_cli_augment_works_on_a_run_directory(tmp_path, runs):
    result = CliRunner().invoke(app, ["augment", str(runs["plain"].out_dir), "--augmenter", "char_delete",
                                      "--copies", "2", "--out", str(tmp_path / "aug"), "-q"])
    assert result.exit_code == 0, result.output
    table = pd.read_parquet(tmp_path / "aug" / "augmented.parquet")
    train = runs["plain"].read("train")
    new = table[table["parent_id"].notna()]
    assert table["parent_id"].isna().sum() == len(train) and len(new) == 2 * len(train)
    assert set(new["parent_id"]) == set(train["id"])


def test_augmenting_a_run_directory_discards_a_new_row_identical_to_a_val_row(tmp_path, runs):
    run = tmp_path / "run"
    shutil.copytree(runs["plain"].out_dir, run)
    first = augment_dataset(run, out=tmp_path / "first", augmenters=["char_delete"], seed=4)
    made = pd.read_parquet(first.out_dir / "augmented.parquet").dropna(subset=["parent_id"]).iloc[0]
    val = pd.read_parquet(run / "val.parquet")
    val.loc[0, ["text", "content_hash"]] = [made["text"], made["content_hash"]]  # val holds that very text
    val.to_parquet(run / "val.parquet", index=False)
    again = augment_dataset(run, out=tmp_path / "again", augmenters=["char_delete"], seed=4)
    dropped = pd.read_parquet(again.out_dir / "dropped.parquet").set_index("id")
    assert dropped.loc[made["id"], "reason"] == "augment:duplicate"
    assert dropped.loc[made["id"], "detail"] == "exact duplicate of an existing row"
    kept = pd.read_parquet(again.out_dir / "augmented.parquet")
    assert not kept["content_hash"].isin(val["content_hash"]).any()
    val.drop(columns=["content_hash"]).to_parquet(run / "val.parquet", index=False)
    with pytest.raises(InputError, match=r"val\.parquet: no column 'content_hash'"):
        augment_dataset(run, out=tmp_path / "bad", augmenters=["char_delete"], seed=4)


def test_multilabel_jsonl_run_lifts_the_rare_label_in_train_only(tmp_path):
    lines = [{"text": f"row {i} " + " ".join(WORDS[i % 9: i % 9 + 7]), "label": labels}
             for i, labels in enumerate([["common"]] * 90 + [["rare"]] * 6 + [["common", "rare"]] * 4)]
    (tmp_path / "data.jsonl").write_text("".join(json.dumps(r) + "\n" for r in lines))
    cfg = {"input": {"path": str(tmp_path / "data.jsonl")}, "seed": 2,
           "steps": {"dedup_near": {"enabled": False}, "label_issues": {"enabled": False}},
           "rebalance": {"enabled": True, "target": {"rare": 40}, "method": "duplicate"}}
    result = curator.run(cfg, out=tmp_path / "out")
    section = result.report["augmentation"][0]
    assert section["multi_label"] and section["after"]["rare"] >= 40 > section["before"]["rare"]
    assert section["after"]["common"] - section["before"]["common"] < section["after"]["rare"] - section["before"]["rare"]
    for split in ("val", "test"):
        assert "parent_id" not in result.read(split).columns


def test_image_redundancy_ranks_a_repeated_picture_above_distinct_ones(tmp_path):
    from curator.config import NearDedupConfig
    from curator.rebalance import band_keys_for, redundancy, seeded_order

    for i in range(3):
        _png(tmp_path / f"d{i}.png", (60 * i, 255 - 60 * i, 90 * i % 255), 7 * i + 3)
    Image.open(tmp_path / "d0.png").save(tmp_path / "copy.png")
    table = pd.DataFrame({"id": ["a", "b", "c", "d"], "image": ["d0.png", "d1.png", "d2.png", "copy.png"],
                          "label": ["x"] * 4})
    score = redundancy(band_keys_for(table, "image", tmp_path, NearDedupConfig()), table["label"],
                       seeded_order(table["id"], 0))
    assert sorted(score)[-1] == 1.0 and (score == 1.0).sum() == 1  # one of the two copies, fully covered
    assert score[np.isin(table["id"], ["b", "c"])].max() < 1.0
