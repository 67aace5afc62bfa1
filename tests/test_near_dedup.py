"""The near-dedup step in the pipeline: planted near duplicates found, explained and kept out of
other splits; odd text does not crash it."""

import json

import numpy as np
import pandas as pd
import pytest
import yaml

import curator
from curator.config import parse_config
from curator.near_dedup import CLUSTER, NearDedupStep
from curator.steps import Context, Runner

from conftest import SAMPLE, make_table

SPLITS = ("train", "val", "test")


@pytest.fixture(scope="module")
def text_run(tmp_path_factory):
    return curator.run(SAMPLE / "text" / "curator.yaml", out=tmp_path_factory.mktemp("near") / "out")


def test_every_planted_near_duplicate_is_found_and_names_its_match(text_run):
    planted = json.loads((SAMPLE / "text" / "planted.json").read_text())
    dropped = text_run.read("dropped")
    near = dropped[dropped["reason"] == "near_duplicate"].set_index("source")
    for original, variant in planted["near_duplicate_pairs"]:
        hit = [s for s in (f"tickets.csv:{original}", f"tickets.csv:{variant}") if s in near.index]
        assert len(hit) == 1, (original, variant)
        row = near.loc[hit[0]]
        assert row["detail"].startswith(f"near duplicate of {row['related_id']} (similarity ")
        assert 0.7 <= float(row["detail"].split("similarity ")[1].split(")")[0]) <= 1.0
    assert len(near) == len(planted["near_duplicate_pairs"])  # nothing unplanted was matched


def test_near_duplicate_matches_are_in_no_other_split(text_run):
    kept = pd.concat([text_run.read(s) for s in SPLITS])
    dropped = text_run.read("dropped")
    near = dropped[dropped["reason"] == "near_duplicate"]
    # Every match a dropped row names is a kept row (its cluster's survivor), in exactly one split.
    assert near["related_id"].isin(kept["id"]).all()
    assert not kept[CLUSTER].dropna().duplicated().any()


def test_clusters_are_linked_as_split_groups():
    from curator.split import SPLIT, split_table
    cfg = parse_config({"input": {"path": "x"}, "seed": 5})
    t = make_table([f"row {i}" for i in range(400)]).assign(content_hash=[f"h{i}" for i in range(400)],
                                                           cluster=[f"c{i // 4}" for i in range(400)])
    out = split_table(t, cfg, ["content_hash"])
    assert (out.groupby(CLUSTER)[SPLIT].nunique() == 1).all() and out[SPLIT].nunique() == 3


def run_step(texts, labels=None, **params):
    cfg = parse_config({"input": {"path": "x"}, "steps": {"dedup_near": params}})
    runner = Runner(Context(cfg))
    out = runner.run(make_table(texts, labels), [NearDedupStep.from_config(cfg)])
    return out, runner.ledger.to_frame()


BASE = ("the parcel with my new laptop was marked as delivered on monday but it never arrived "
        "at my door and the courier does not answer the phone at all")


def test_near_duplicate_label_conflict_is_flagged():
    edited = BASE.replace("monday", "tuesday")
    out, ledger = run_step([BASE, edited, "something else entirely about a refund for my card"],
                           ["shipping", "billing", "billing"], threshold=0.6)
    assert out["id"].tolist() == ["r0", "r2"]
    flagged = ledger[ledger.action == "flagged"]
    assert flagged["reason"].tolist() == ["label_conflict"] and flagged["id"].tolist() == ["r0"]


def test_containment_finds_a_pasted_copy_that_jaccard_misses():
    longer = BASE + " " + " ".join(f"extra{i} words{i} here{i}" for i in range(40))
    _, jac = run_step([BASE, longer], threshold=0.8)
    assert jac[jac.action == "dropped"].empty
    out, ledger = run_step([BASE, longer], threshold=0.8, measure="containment")
    dropped = ledger[ledger.action == "dropped"]
    assert len(dropped) == 1 and dropped["reason"].iloc[0] == "near_duplicate"


GREETING = "thank you for contacting support"


def _tickets(seed: int = 0, count: int = 20) -> list[str]:
    rng = np.random.default_rng(seed)
    vocab = [f"w{i}" for i in range(3000)]
    return [GREETING + " " + " ".join(rng.choice(vocab, 80)) for _ in range(count)]


def test_containment_drops_a_short_row_inside_many_long_ones_and_keeps_them_all():
    tickets = _tickets()
    out, ledger = run_step([GREETING] + tickets, ["other"] + ["billing", "shipping"] * 10, threshold=0.8,
                           measure="containment", on_label_conflict="drop")
    assert out["id"].tolist() == [f"r{i}" for i in range(1, 21)]
    dropped = ledger[ledger.action == "dropped"]
    assert dropped[["id", "reason", "related_id"]].values.tolist() == [["r0", "near_duplicate", "r1"]]
    assert dropped["detail"].iloc[0] == "near duplicate of r1 (containment 1.0)"
    kept = ledger[ledger.reason == "duplicate_group_kept"]
    assert kept["id"].tolist() == ["r1"] and (ledger.reason != "label_conflict").all()


def test_containment_clusters_link_a_contained_row_to_its_one_container_only():
    cfg = parse_config({"input": {"path": "x"}, "steps": {"dedup_near": {"measure": "containment"}}})
    result = NearDedupStep.from_config(cfg).apply(make_table([GREETING] + _tickets()), Context(cfg))
    cluster = result.table[CLUSTER]
    assert cluster.iloc[0] == cluster.iloc[1] and cluster.iloc[2:].isna().all()  # restored, it joins r1's split


def test_a_containment_run_says_containment_in_the_report(tmp_path):
    from conftest import write_config, write_csv
    write_csv(tmp_path / "t.csv", [{"text": t, "label": "ab"[i % 2]} for i, t in enumerate([GREETING] + _tickets())])
    cfg = write_config(tmp_path / "c.yaml", {"input": {"path": "t.csv"}, "steps": {"dedup_near": {"measure": "containment"}}})
    result = curator.run(cfg, out=tmp_path / "out")
    near = result.read("dropped").query("reason == 'near_duplicate'")
    assert near["detail"].tolist() == [f"near duplicate of {near['related_id'].iloc[0]} (containment 1.0)"]
    html = (tmp_path / "out" / "report.html").read_text()
    assert '<span class="badge">containment 1.0</span>' in html and "similarity (containment, threshold 0.8)" in html


def test_containment_near_equal_rows_cluster_and_a_row_holding_them_wins():
    edited = BASE.replace("monday", "tuesday")
    longer = BASE + " " + " ".join(f"extra{i} words{i} here{i}" for i in range(40))
    out, ledger = run_step([BASE, edited, "another ticket about a refund for my card that never came"],
                           measure="containment", threshold=0.8)
    dropped = ledger[ledger.action == "dropped"]
    assert out["id"].tolist() == ["r0", "r2"] and dropped["related_id"].tolist() == ["r0"]
    assert dropped["detail"].iloc[0].startswith("near duplicate of r0 (containment 0.")
    out, ledger = run_step([BASE, edited, longer], measure="containment", threshold=0.8, keep="first")
    assert out["id"].tolist() == ["r2"]  # both lie inside r2: it is kept whatever the keep policy says
    assert ledger[ledger.action == "dropped"][["id", "related_id"]].values.tolist() == [["r0", "r2"], ["r1", "r2"]]


@pytest.mark.parametrize("texts, params", [
    (["", "", None, "word"], {}),
    (["one", "one", "two"], {}),
    (["東京都の天気は晴れです", "東京都の天気は晴れでした", "大阪の天気は雨です"], {"shingle": "char", "n": 3, "threshold": 0.5}),
    (["Съешь же ещё этих мягких французских булок", "Съешь же ещё этих мягких французских булок!", "другое"], {}),
])
def test_odd_text_does_not_crash(texts, params):
    out, ledger = run_step(texts, **params)
    assert len(out) + (ledger.action == "dropped").sum() == len(texts)


def test_image_near_duplicates_are_found_by_phash(tmp_path):
    result = curator.run(SAMPLE / "images" / "curator.yaml", out=tmp_path / "out")
    planted = json.loads((SAMPLE / "images" / "planted.json").read_text())
    near = set(result.read("dropped").query("reason == 'near_duplicate'")["source"])
    found = sum(1 for a, b in planted["near_duplicates"] if {a.removeprefix("data/"), b.removeprefix("data/")} & near)
    assert found == len(planted["near_duplicates"])


def test_the_combined_method_finds_them_too_and_its_report_says_what_the_model_checked(tmp_path):
    cfg = parse_config({**yaml.safe_load((SAMPLE / "images" / "curator.yaml").read_text()),
                        "steps": {"dedup_near": {"method": "combined"}}}, base_dir=SAMPLE / "images")
    result = curator.run(cfg, out=tmp_path / "out")
    planted = json.loads((SAMPLE / "images" / "planted.json").read_text())
    near = set(result.read("dropped").query("reason == 'near_duplicate'")["source"])
    found = sum(1 for a, b in planted["near_duplicates"] if {a.removeprefix("data/"), b.removeprefix("data/")} & near)
    assert found == len(planted["near_duplicates"])
    cascade = json.loads((tmp_path / "out" / "report.json").read_text())["near_duplicates"]["cascade"]
    assert cascade["hash_pairs"] >= len(planted["near_duplicates"]) and cascade["unchecked_pairs"] == 0
    assert cascade["verified_files"] <= 2 * cascade["candidate_pairs"]
    assert f"checked on {cascade['verified_files']} files" in (tmp_path / "out" / "report.html").read_text()


def test_a_run_drops_rows_that_near_duplicate_a_reference(tmp_path):
    from conftest import write_config, write_csv
    texts = [f"the {t} I ordered arrived two weeks late and the box was crushed so the {t} is cracked"
             for t in ("laptop", "phone", "blender", "camera", "kettle", "monitor", "toaster", "speaker")]
    write_csv(tmp_path / "train.csv", [{"text": t, "label": "ab"[i % 2]} for i, t in enumerate(texts)])
    write_csv(tmp_path / "test_set.csv", [{"text": texts[3].upper() + "!!"}, {"text": "nothing like the others at all"}])
    cfg = write_config(tmp_path / "c.yaml", {"input": {"path": "train.csv"},
                                            "steps": {"dedup_near": {"against": "test_set.csv"}}})
    result = curator.run(cfg, out=tmp_path / "out")
    dropped = result.read("dropped")
    hit = dropped[dropped["reason"] == "reference_duplicate"]
    assert hit["text"].tolist() == [texts[3]]
    assert hit["detail"].iloc[0].startswith("near duplicate of reference row ")


def test_a_run_against_an_index_saved_at_another_threshold_finds_what_the_dataset_would(tmp_path):
    from conftest import write_config, write_csv
    from curator.config import NearDedupConfig
    from curator.decontaminate import minhash_params
    from curator.near.lsh_index import ReferenceIndex
    rng = np.random.default_rng(4)
    words = [list(rng.choice([f"w{i}" for i in range(5000)], 60)) for _ in range(40)]
    edited = [w[:20] + ["changed"] + w[21:40] + ["edited"] + w[41:] for w in words]  # Jaccard about 0.7
    others = [list(rng.choice([f"v{i}" for i in range(5000)], 60)) for _ in range(10)]
    write_csv(tmp_path / "train.csv", [{"text": " ".join(w), "label": "a"} for w in edited + others])
    write_csv(tmp_path / "ref.csv", [{"text": " ".join(w)} for w in words])
    ReferenceIndex.build([" ".join(w) for w in words], params=minhash_params(NearDedupConfig()),
                         threshold=0.9).save(tmp_path / "ref09.npz")
    dropped = {}
    for against in ("ref.csv", "ref09.npz"):
        cfg = write_config(tmp_path / "c.yaml", {"input": {"path": "train.csv"}, "steps": {
            "dedup_near": {"against": against, "threshold": 0.5}, "label_issues": {"enabled": False}}})
        out = curator.run(cfg, out=tmp_path / f"out-{against}").read("dropped")
        dropped[against] = sorted(out.loc[out["reason"] == "reference_duplicate", "id"])
    assert len(dropped["ref.csv"]) == 40 and dropped["ref09.npz"] == dropped["ref.csv"]
