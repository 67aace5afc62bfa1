"""trainer/: what it refuses before training, and how (named errors, one-line CLI messages)."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pandas as pd
import pytest
from typer.testing import CliRunner

import curator
import trainer
from trainer.cli import main, train_app
from trainer.rundir import load_run, sha256_file

from conftest import write_csv


@pytest.fixture(scope="session")
def clean_run(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("trainer_inputs")
    rows = [{"text": f"message number {i} about {'billing' if i % 2 else 'shipping'}", "label": "ab"[i % 2]}
            for i in range(60)]
    write_csv(root / "d.csv", rows)
    curator.run({"input": {"path": str(root / "d.csv")}, "modality": "text", "seed": 0}, out=root / "run")
    return root / "run"


@pytest.fixture
def run(tmp_path, clean_run) -> Path:
    dest = tmp_path / "run"
    shutil.copytree(clean_run, dest)
    return dest


def rewrite(run: Path, split: str, frame: pd.DataFrame, *, update_manifest: bool = True) -> None:
    frame.to_parquet(run / f"{split}.parquet", index=False)
    if update_manifest:
        manifest = json.loads((run / "manifest.json").read_text())
        manifest["files"][f"{split}.parquet"]["sha256"] = sha256_file(run / f"{split}.parquet")
        (run / "manifest.json").write_text(json.dumps(manifest))


def read(run: Path, split: str) -> pd.DataFrame:
    return pd.read_parquet(run / f"{split}.parquet")


def test_a_clean_run_loads_with_labels_from_the_manifest(clean_run):
    data = load_run(clean_run)
    assert data.labels == ["a", "b"] and data.modality == "text"
    assert sum(len(s) for s in data.splits.values()) == 60
    assert set(data.splits["train"].targets) == {0, 1}


def test_a_leaked_id_is_refused_unless_allowed(run):
    test = read(run, "test")
    rewrite(run, "test", pd.concat([test, read(run, "train").head(1).assign(split="test")]))
    with pytest.raises(trainer.LeakError, match=r"leak between splits: 1 id, 1 normalised text, 1 content hash "
                                                r"in two splits .*pass --allow-leak"):
        load_run(run)
    assert len(load_run(run, allow_leak=True).splits["test"]) == len(test) + 1


def test_the_same_text_under_another_id_and_case_is_a_leak(run):
    val = read(run, "val")
    twin = read(run, "train").head(1).assign(id="other", split="val", content_hash="x")
    twin["text"] = "  " + twin["text"].str.upper() + " "
    rewrite(run, "val", pd.concat([val, twin]))
    with pytest.raises(trainer.LeakError, match="1 normalised text in two splits"):
        load_run(run)


def test_a_checksum_mismatch_is_refused(run):
    rewrite(run, "val", read(run, "val").iloc[1:], update_manifest=False)
    with pytest.raises(trainer.ChecksumError, match=r"val.parquet: sha256 mismatch .* changed after the run"):
        load_run(run)


def test_a_missing_column_is_named(run):
    rewrite(run, "train", read(run, "train").drop(columns=["text"]))
    with pytest.raises(trainer.MissingColumnError, match=r"train.parquet: missing column 'text' \(manifest columns.content\)"):
        load_run(run)


def test_a_label_outside_the_manifest_is_refused(run):
    train = read(run, "train")
    train.loc[0, "label"] = "zzz"
    rewrite(run, "train", train)
    with pytest.raises(trainer.DataError, match=r"label 'zzz' is not in the manifest's labels \['a', 'b'\]"):
        load_run(run)


def test_a_file_missing_from_the_manifest_cannot_be_verified(run):
    manifest = json.loads((run / "manifest.json").read_text())
    del manifest["files"]["test.parquet"]
    (run / "manifest.json").write_text(json.dumps(manifest))
    with pytest.raises(trainer.RunDirError, match="not listed in manifest.json's files"):
        load_run(run)


def test_config_yaml_unknown_key_and_bad_value(tmp_path):
    path = tmp_path / "t.yaml"
    path.write_text("model: m\nlrr: 0.1\n")
    with pytest.raises(trainer.ConfigError, match=r"t.yaml: unknown key 'lrr' \(did you mean 'lr'\?\)"):
        trainer.build_config(path)
    path.write_text("model: m\nbatch_size: 0\n")
    with pytest.raises(trainer.ConfigError, match="batch_size: Input should be greater than 0, got 0"):
        trainer.build_config(path)
    assert trainer.build_config(path, batch_size=8).batch_size == 8   # keywords win over the file
    with pytest.raises(trainer.ConfigError, match="options: unknown key 'epoch' \\(did you mean 'epochs'\\?\\)"):
        trainer.build_config(model="m", epoch=2)


def _leak(run: Path) -> None:
    rewrite(run, "test", pd.concat([read(run, "test"), read(run, "train").head(2)]))


def _checksum(run: Path) -> None:
    rewrite(run, "val", read(run, "val").iloc[1:], update_manifest=False)


def _column(run: Path) -> None:
    rewrite(run, "val", read(run, "val").drop(columns=["label"]))


def _no_manifest(run: Path) -> None:
    (run / "manifest.json").unlink()


@pytest.mark.parametrize("break_it, message", [
    (_leak, "leak between splits: 2 ids"),
    (_checksum, "sha256 mismatch"),
    (_column, "missing column 'label'"),
    (_no_manifest, "no manifest.json (expected a curator run directory)"),
    (None, "missing required key 'model' (pass --model NAME_OR_PATH"),
])
def test_cli_errors_are_one_line_with_exit_1(run, break_it, message):
    if break_it:
        break_it(run)
    args = [str(run)] + (["--model", "no-such-model"] if break_it else [])
    result = CliRunner().invoke(train_app, args)
    assert result.exit_code == 1, result.output
    text = " ".join(result.output.split())
    assert text.startswith("error:") and message in text
    assert "Traceback" not in result.output
    assert len(result.output.strip().splitlines()) <= 3


def test_cli_names_a_bad_model_in_one_line(run):
    result = CliRunner().invoke(train_app, [str(run), "--model", str(run / "nope"), "--quiet"])
    assert result.exit_code == 1 and "cannot load model" in result.output
    assert "Traceback" not in result.output


def test_loading_silences_the_hub_s_retry_messages():
    import logging

    from huggingface_hub.utils import logging as hub_logging

    from trainer.models import quiet_transformers

    before = hub_logging.get_verbosity()
    with quiet_transformers():
        assert hub_logging.get_verbosity() == logging.ERROR    # "Retrying in 1s [Retry 1/5]." is a warning
    assert hub_logging.get_verbosity() == before


def test_cli_rejects_a_run_dir_that_is_not_there(tmp_path):
    result = CliRunner().invoke(train_app, [str(tmp_path / "missing"), "--model", "m"])
    assert result.exit_code == 1 and "not a directory" in result.output


def test_main_dispatches_search_and_help(capsys):
    for argv, expect in ((["--help"], "curator-train search"), (["search", "--help"], "--trials")):
        with pytest.raises(SystemExit) as exit_info:
            main(argv)
        assert exit_info.value.code == 0
        assert expect in capsys.readouterr().out
