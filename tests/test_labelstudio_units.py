"""The Label Studio sync's offline parts: settings, labelling configs, agreement maths, image paths,
predictions, sources, the relabel step and the CLI's help. No server needed."""

from __future__ import annotations

import json
import os

import numpy as np
import pandas as pd
import pytest

from curator.labelstudio import LabelMismatchError, SettingsError, SourceError, UnknownLabelError, UnsafePathError
from curator.labelstudio import images, label_config, metrics, predictions, settings, source
from curator.labelstudio.label_config import LabelSpace
from curator.labelstudio.state import AnnotationStore, SyncState

TOKEN = "secret-token-abcdef123456"


# -- settings ---------------------------------------------------------------------------------------------------
def test_flags_beat_environment_beat_config(tmp_path):
    cfg = tmp_path / "curator.yaml"
    (tmp_path / "key.txt").write_text("file-token-123\n")
    cfg.write_text("input: {path: x.csv}\nlabelstudio:\n  url: http://config:8080\n  api_key_file: key.txt\n")
    found = settings.load_settings(cfg)
    assert settings.resolve(settings=found, env={}).url == "http://config:8080"
    assert settings.resolve(settings=found, env={}).api_key.get_secret_value() == "file-token-123"
    env = {"LABEL_STUDIO_URL": "http://env:1", "LABEL_STUDIO_API_KEY": "env-token-123"}
    conn = settings.resolve(settings=found, env=env)
    assert (conn.url, conn.api_key.get_secret_value()) == ("http://env:1", "env-token-123")
    conn = settings.resolve("http://flag:2/", "flag-token-123", settings=found, env=env)
    assert (conn.url, conn.api_key.get_secret_value()) == ("http://flag:2", "flag-token-123")
    named = settings.parse_settings({"url": "http://x", "api_key_env": "MY_LS_KEY"})
    assert settings.resolve(settings=named, env={"MY_LS_KEY": TOKEN}).api_key.get_secret_value() == TOKEN


def test_token_never_shows_in_reprs_or_messages():
    conn = settings.resolve("http://x:1", TOKEN, env={})
    assert TOKEN not in repr(conn) and TOKEN not in str(conn) and TOKEN not in repr(conn.api_key)
    with pytest.raises(SettingsError, match="no Label Studio API token") as err:
        settings.resolve("http://x:1", None, env={})
    assert "\n" not in str(err.value)
    with pytest.raises(SettingsError, match="no Label Studio URL"):
        settings.resolve(None, TOKEN, env={})
    with pytest.raises(SettingsError, match="expected http"):
        settings.resolve("localhost:8080", TOKEN, env={})
    with pytest.raises(SettingsError, match=r"labelstudio\.token"):
        settings.parse_settings({"token": TOKEN})


def test_session_redacts_the_token_and_names_a_down_server(tmp_path):
    from curator.labelstudio.client import Session
    from curator.labelstudio.errors import ServerUnreachable, redact
    assert redact(f"bad {TOKEN} here", TOKEN) == "bad *** here"
    session = Session(settings.resolve("http://127.0.0.1:9", TOKEN, env={}), timeout=2)
    assert TOKEN not in repr(session)
    with pytest.raises(ServerUnreachable, match=r"not reachable \(checking the token\)") as err:
        session.call("checking the token", session.sdk.users.whoami, request_options={"max_retries": 0})
    assert TOKEN not in str(err.value)


# -- labelling configs -------------------------------------------------------------------------------------------
@pytest.mark.parametrize("modality,multi", [("text", False), ("image", False), ("text", True)])
def test_generated_config_parses_back(modality, multi):
    space = LabelSpace(modality=modality, labels=("a & b", 'say "hi"', "<c>"), multi_label=multi)
    xml = label_config.generate(space)
    back = label_config.parse(xml)
    assert (back.modality, back.labels, back.multi_label) == (modality, space.labels, multi)
    assert (back.from_name, back.object_name, back.data_key) == ("label", modality, modality)
    assert "$curator_note" in xml


def test_config_compatibility_messages():
    have = LabelSpace("text", ("a", "b"))
    label_config.check_compatible(have, LabelSpace("text", ("b",)), "p")
    with pytest.raises(LabelMismatchError, match=r"offers labels \[a, b\] but the dataset has \[a, c\]: missing \[c\]"):
        label_config.check_compatible(have, LabelSpace("text", ("a", "c")), "p")
    with pytest.raises(LabelMismatchError, match="labels text but the dataset is image"):
        label_config.check_compatible(have, LabelSpace("image", ("a",)), "p")
    with pytest.raises(LabelMismatchError, match="no <Choices> control"):
        label_config.parse('<View><Text name="t" value="$t"/></View>', "p")


def test_multi_label_result_splits_choices():
    space = LabelSpace("text", ("a", "b"), multi_label=True)
    assert space.result("a|b")[0]["value"] == {"choices": ["a", "b"]}


# -- agreement ---------------------------------------------------------------------------------------------------
def test_cohen_kappa_matches_sklearn():
    sklearn_metrics = pytest.importorskip("sklearn.metrics")
    rng = np.random.default_rng(3)
    for _ in range(20):
        a = rng.choice(list("abcd"), 40)
        b = np.where(rng.random(40) < 0.6, a, rng.choice(list("abcd"), 40))
        assert metrics.cohen_kappa(a, b) == pytest.approx(sklearn_metrics.cohen_kappa_score(a, b))


def test_fleiss_kappa_on_the_textbook_example():
    # Fleiss (1971) as on Wikipedia: 10 subjects, 14 raters, 5 categories -> 0.210.
    table = [[0, 0, 0, 0, 14], [0, 2, 6, 4, 2], [0, 0, 3, 5, 6], [0, 3, 9, 2, 0], [2, 2, 8, 1, 1],
             [7, 7, 0, 0, 0], [3, 2, 6, 3, 0], [2, 5, 3, 2, 2], [6, 5, 2, 1, 0], [0, 2, 2, 3, 7]]
    assert metrics.fleiss_kappa(np.array(table)) == pytest.approx(0.20993, abs=1e-5)


def test_krippendorff_alpha_with_missing_values():
    # Krippendorff's reliability data (4 coders, 12 units, gaps): nominal alpha = 0.743.
    nan = None
    data = [[1, 2, 3, 3, 2, 1, 4, 1, 2, nan, nan, nan], [1, 2, 3, 3, 2, 2, 4, 1, 2, 5, nan, 3],
            [nan, 3, 3, 3, 2, 3, 4, 2, 2, 5, 1, nan], [1, 2, 3, 3, 2, 4, 4, 1, 2, 5, 1, nan]]
    long = pd.DataFrame([(u, c, v) for c, row in enumerate(data) for u, v in enumerate(row) if v is not None],
                        columns=["id", "annotator", "label"])
    assert metrics.compute(long).overall["krippendorff_alpha"] == pytest.approx(0.7434, abs=1e-4)


def test_agreement_per_task_and_latest_answer_per_annotator():
    long = pd.DataFrame({"id": ["t1", "t1", "t1", "t2", "t2", "t1"], "annotator": ["x", "y", "z", "x", "y", "z"],
                         "label": ["a", "a", "b", "b", "b", "a"],
                         "updated_at": ["1", "1", "1", "1", "1", "2"]})  # z changed their mind on t1
    found = metrics.compute(long)
    per = found.per_task.set_index("id")
    assert per.loc["t1", "agreement"] == 1.0 and per.loc["t1", "annotators"] == 3
    assert found.overall["percent"] == 1.0 and found.overall["fleiss_kappa"] == 1.0


def test_conflict_policies():
    long = pd.DataFrame({"id": ["t1"] * 3 + ["t2"] * 2 + ["t3"],
                         "annotator": ["lead", "y", "z", "lead", "y", "y"],
                         "label": ["a", "b", "b", "a", "b", "c"]})
    major = metrics.resolve(long).set_index("id")
    assert major.loc["t1", ["label", "decision"]].tolist() == ["b", "majority"]
    assert major.loc["t2", "decision"] == "conflict" and major.loc["t2", "label"] is None
    assert major.loc["t3", "decision"] == "single" and major.loc["t1", "agreement"] == pytest.approx(2 / 3)
    lead = metrics.resolve(long, "lead", "lead").set_index("id")
    assert lead.loc["t1", "label"] == "a" and lead.loc["t2", "label"] == "a" and lead.loc["t2", "decision"] == "lead"
    flag = metrics.resolve(long, "flag").set_index("id")
    assert flag.loc["t1", "decision"] == "conflict" and flag.loc["t3", "label"] == "c"
    with pytest.raises(Exception, match="expected one of majority, lead, flag"):
        metrics.resolve(long, "vote")


# -- images ------------------------------------------------------------------------------------------------------
def test_image_paths_stay_inside_the_root(tmp_path):
    root = tmp_path / "files" / "ds"
    (root / "imgs").mkdir(parents=True)
    (root / "imgs" / "a b.png").write_bytes(b"x")
    ids = pd.Series(["r1", "r2"])
    urls = images.task_urls(pd.Series(["imgs/a b.png", "https://x/y.png"]), ids, root, tmp_path / "files")
    assert urls.tolist() == ["/data/local-files/?d=ds/imgs/a%20b.png", "https://x/y.png"]
    with pytest.raises(UnsafePathError, match=r"row 'r1': image path '\.\./x\.png' has a '\.\.' part"):
        images.task_urls(pd.Series(["../x.png"]), ids[:1], root, tmp_path / "files")
    os.symlink(tmp_path, root / "link")
    with pytest.raises(UnsafePathError, match="outside the dataset root"):
        images.task_urls(pd.Series(["link/other.png"]), ids[:1], root, tmp_path / "files")
    with pytest.raises(UnsafePathError, match="not under the server's local-files root"):
        images.task_urls(pd.Series(["imgs/a b.png"]), ids[:1], root, tmp_path / "elsewhere")


# -- predictions and sources ------------------------------------------------------------------------------------
def test_predictions_from_probabilities_and_suggestions(tmp_path):
    space = LabelSpace("text", ("a", "b"))
    pd.DataFrame({"id": [1, 2], "predicted_label": ["a", "b"], "probabilities": [[0.7, 0.3], [0.2, 0.8]]}
                 ).to_parquet(tmp_path / "predictions.parquet")
    found = predictions.load(tmp_path / "predictions.parquet", space)
    assert found["id"].tolist() == ["1", "2"] and found["score"].tolist() == [0.7, 0.8]
    assert found["model_version"].iloc[0].startswith("predictions-")
    assert found["model_version"].iloc[0] == predictions.load(tmp_path / "predictions.parquet", space)["model_version"].iloc[0]
    pd.DataFrame({"id": ["x"], "suggested_label": ["b"], "score": [0.4]}).to_csv(tmp_path / "s.csv", index=False)
    assert predictions.load(tmp_path / "s.csv", space, model_version="m")[["label", "model_version"]].values.tolist() == [["b", "m"]]
    pd.DataFrame({"id": ["x"], "predicted_label": ["zzz"]}).to_parquet(tmp_path / "bad.parquet")
    with pytest.raises(UnknownLabelError, match=r"predicted label 'zzz' \(row id 'x'\) is not in the label list \[a, b\]"):
        predictions.load(tmp_path / "bad.parquet", space)
    with pytest.raises(SourceError, match="expected an 'id' column"):
        pd.DataFrame({"x": [1]}).to_parquet(tmp_path / "noid.parquet")
        predictions.load(tmp_path / "noid.parquet", space)


def test_multi_label_predictions_and_confidence_before_an_issue_score(tmp_path):
    space = LabelSpace("text", ("a", "b", "c"), multi_label=True)
    pd.DataFrame({"id": ["1", "2"], "predicted_label": [["b", "a"], ["c"]], "confidence": [0.6, 0.9],
                  "score": [0.1, 0.2]}).to_parquet(tmp_path / "multi.parquet")  # the trainer's multi-label shape
    found = predictions.load(tmp_path / "multi.parquet", space)
    assert found[["label", "score"]].values.tolist() == [["a|b", 0.6], ["c", 0.9]]


def test_a_row_with_no_predicted_label_gets_no_pre_annotation_and_is_counted(tmp_path):
    space = LabelSpace("text", ("a", "b", "c"), multi_label=True)
    pd.DataFrame({"id": ["1", "2", "3"], "predicted_label": [["b"], [], ["c", "a"]], "confidence": [0.6, 0.7, 0.9]}
                 ).to_parquet(tmp_path / "multi.parquet")   # the trainer's multi-label rows: none >= 0.5 in row 2
    found = predictions.load(tmp_path / "multi.parquet", space)
    assert found[["id", "label"]].values.tolist() == [["1", "b"], ["3", "a|c"]] and found.attrs["no_label"] == 1
    single = LabelSpace("text", ("a", "b"))
    pd.DataFrame({"id": ["1", "2", "3"], "predicted_label": ["a", "", None]}).to_parquet(tmp_path / "single.parquet")
    found = predictions.load(tmp_path / "single.parquet", single)
    assert found["id"].tolist() == ["1"] and found.attrs["no_label"] == 2


def test_scores_and_multi_labels_from_lists_maps_nulls_and_empties(tmp_path):
    """Lists, maps, nulls and empties score and join as they always did; a column mixing kinds is named."""
    space = LabelSpace("text", ("a", "b", "c"), multi_label=True)
    pd.DataFrame({"id": list("12345"), "predicted_label": [["b", "a"], ["c"], None, ["c", "a", "b"], ["a"]],
                  "probabilities": [[0.2, 0.7, 0.1], [0.5, np.nan], None, [], [0.9]]}
                 ).to_parquet(tmp_path / "m.parquet")
    found = predictions.load(tmp_path / "m.parquet", space)
    assert found["id"].tolist() == ["1", "2", "4", "5"] and found["label"].tolist() == ["a|b", "c", "a|b|c", "a"]
    np.testing.assert_array_equal(found["score"], [0.7, np.nan, np.nan, 0.9])
    rows = [{"id": "1", "predicted_label": "a", "probabilities": {"a": 0.25, "b": 0.5}},
            {"id": "2", "predicted_label": "b", "probabilities": {}},
            {"id": "3", "predicted_label": "b", "probabilities": None},
            {"id": "4", "predicted_label": "c", "probabilities": {"c": 1}}]
    (tmp_path / "maps.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    np.testing.assert_array_equal(predictions.load(tmp_path / "maps.jsonl", space)["score"], [0.5, np.nan, np.nan, 1.0])
    (tmp_path / "nulls.jsonl").write_text(json.dumps(rows[2]) + "\n")
    np.testing.assert_array_equal(predictions.load(tmp_path / "nulls.jsonl", space)["score"], [np.nan])
    (tmp_path / "mixed.jsonl").write_text(json.dumps(rows[0]) + "\n" + json.dumps({**rows[3], "probabilities": [1]}))
    with pytest.raises(SourceError, match="mixed.jsonl: cannot read the predictions"):
        predictions.load(tmp_path / "mixed.jsonl", space)
    (tmp_path / "lists.csv").write_text('id,predicted_label,probabilities\n1,a,"[0.9, 0.1]"\n')
    with pytest.raises(SourceError, match=r"lists.csv: 'probabilities' holds text such as '\[0.9, 0.1\]'; a CSV"):
        predictions.load(tmp_path / "lists.csv", space)
    (tmp_path / "none.jsonl").write_text(json.dumps({"id": "1", "predicted_label": ["a", None]}) + "\n")
    with pytest.raises(UnknownLabelError, match="predicted label 'None'"):
        predictions.load(tmp_path / "none.jsonl", space)


def _run_dir(tmp_path):
    run = tmp_path / "out"
    run.mkdir()
    for split, ids in (("train", ["a1", "a2"]), ("val", ["a3"]), ("test", ["a4"])):
        pd.DataFrame({"id": ids, "text": [f"t {i}" for i in ids], "label": ["x"] * len(ids), "split": split}
                     ).to_parquet(run / f"{split}.parquet")
    pd.DataFrame({"id": ["a2", "a2", "a3"], "step": "s", "action": ["flagged", "flagged", "kept"],
                  "reason": ["label_conflict", "rule:short", "split:val"], "detail": ["d1", "", "x"]}
                 ).to_parquet(run / "ledger.parquet")
    (run / "manifest.json").write_text(json.dumps({"modality": "text", "labels": ["x", "y"],
                                                   "dataset_root": str(tmp_path)}))
    return run


def test_run_directory_rows_splits_and_flagged_reasons(tmp_path):
    run = _run_dir(tmp_path)
    everything = source.load(run)
    assert sorted(everything.rows["id"]) == ["a1", "a2", "a3", "a4"] and everything.labels == ["x", "y"]
    assert source.load(run, "val").rows["id"].tolist() == ["a3"]
    flagged = source.load(run, "flagged").rows
    assert flagged["id"].tolist() == ["a2"]
    assert flagged["curator_reason"].iloc[0] == "label_conflict; rule:short"
    assert predictions.label_space(everything).labels == ("x", "y")
    assert source.sync_dir(run) == run.resolve().with_name("out.labelstudio")


def test_plain_files_and_their_errors(tmp_path):
    (tmp_path / "d.jsonl").write_text('{"id": 1, "text": "a", "label": "p|q"}\n{"id": 2, "text": "b", "label": "r"}\n')
    found = source.load(tmp_path / "d.jsonl")
    space = predictions.label_space(found)
    assert space.multi_label and space.labels == ("p", "q", "r")
    with pytest.raises(SourceError, match="needs a curator run directory"):
        source.load(tmp_path / "d.jsonl", "flagged")
    (tmp_path / "noid.csv").write_text("text,label\na,b\n")
    with pytest.raises(SourceError, match="expected an 'id' column"):
        source.load(tmp_path / "noid.csv")
    (tmp_path / "dup.csv").write_text("id,text\n1,a\n1,b\n")
    with pytest.raises(Exception, match="appears more than once"):
        source.load(tmp_path / "dup.csv")
    with pytest.raises(SourceError, match="which: expected one of"):
        source.load(tmp_path / "d.jsonl", "everything")


# -- state and store -------------------------------------------------------------------------------------------
def test_state_is_atomic_json_and_store_is_append_only(tmp_path):
    state = SyncState.load(tmp_path, "My project")
    state.bind("http://x", 3)
    state.tasks["r1"] = 10
    state.save()
    again = SyncState.load(tmp_path, "My project")
    assert again.tasks == {"r1": 10} and again.path.parent.name.startswith("my-project-")
    again.bind("http://other", 3)
    assert again.tasks == {}
    store = AnnotationStore.of(tmp_path, "My project")
    row = {"event": "annotation", "project_id": 3, "annotation_id": 1, "id": "r1", "label": "a", "updated_at": "1"}
    store.append(pd.DataFrame([row]), "001")
    store.append(pd.DataFrame([{**row, "label": "b", "updated_at": "2"}]), "002")
    assert store.current()["label"].tolist() == ["b"]
    store.append(pd.DataFrame([{**row, "event": "deleted"}]), "003")
    assert store.current().empty and len(store.read()) == 3
    with pytest.raises(FileExistsError):
        store.append(pd.DataFrame([row]), "003")


# -- the relabel step -----------------------------------------------------------------------------------------
def test_relabel_step_records_fixes_and_flags_conflicts(tmp_path):
    from curator.labelstudio import LabelStudioRelabel
    from curator.steps import Context, Runner
    store = AnnotationStore.of(tmp_path / "out.labelstudio", "p")
    store.append(pd.DataFrame({"event": "annotation", "project_id": 1, "annotation_id": [1, 2, 3, 4],
                               "id": ["r0", "r0", "r1", "r1"], "annotator": ["x", "y", "x", "y"],
                               "label": ["b", "b", "a", "b"], "updated_at": "t"}), "001")
    table = pd.DataFrame({"id": ["r0", "r1", "r2"], "text": ["x", "y", "z"], "label": ["a", "a", "a"]}, dtype=object)
    runner = Runner(Context(config=None))
    out = runner.run(table, [LabelStudioRelabel(tmp_path / "out.labelstudio")])
    assert out["label"].tolist() == ["b", "a", "a"]
    ledger = runner.ledger.to_frame()
    fixed, flagged = ledger[ledger["action"] == "fixed"], ledger[ledger["action"] == "flagged"]
    assert fixed[["id", "reason", "old_value", "new_value"]].values.tolist() == [["r0", "relabel:labelstudio", "a", "b"]]
    assert flagged[["id", "reason"]].values.tolist() == [["r1", "labelstudio_conflict"]]
    step = LabelStudioRelabel.for_run(settings.parse_settings({"policy": "flag"}), tmp_path / "out")
    assert step.policy == "flag" and step.sync_dirs == [tmp_path / "out.labelstudio"]
    assert LabelStudioRelabel.for_run(None, tmp_path / "elsewhere") is None
    assert LabelStudioRelabel.for_run(settings.parse_settings({"apply_labels": False}), tmp_path / "out") is None


# -- the command line -------------------------------------------------------------------------------------------
def test_every_command_has_help_with_an_example():
    import typer
    from typer.testing import CliRunner

    from curator.labelstudio.cli import labelstudio_app
    app = typer.Typer()
    app.add_typer(labelstudio_app, name="labelstudio")
    for command in ("push", "pull", "status", "agreement"):
        res = CliRunner().invoke(app, ["labelstudio", command, "--help"])
        assert res.exit_code == 0 and f"Example: curator labelstudio {command}" in res.output


def test_cli_error_is_one_line_without_the_token(tmp_path, monkeypatch):
    import typer
    from typer.testing import CliRunner

    from curator.labelstudio.cli import labelstudio_app
    app = typer.Typer()
    app.add_typer(labelstudio_app, name="labelstudio")
    monkeypatch.delenv("LABEL_STUDIO_URL", raising=False)
    monkeypatch.setenv("LABEL_STUDIO_API_KEY", TOKEN)
    (tmp_path / "d.csv").write_text("id,text,label\n1,a,b\n")
    res = CliRunner().invoke(app, ["labelstudio", "push", str(tmp_path / "d.csv"), "--project", "p"])
    assert res.exit_code == 1 and res.output.startswith("error: no Label Studio URL") and TOKEN not in res.output
