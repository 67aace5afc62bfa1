"""The Label Studio sync against a real server (label-studio 1.23.2 on sqlite, 127.0.0.1).

The server is started once for the module from a migrated template (see labelstudio_server.py).
Annotations are made through the API as other users (``completed_by``), the way a team would.
"""

from __future__ import annotations

import csv
import json
import logging
import threading
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from curator.labelstudio import (AuthError, LabelMismatchError, LabelStudioRelabel, ProjectNotFound, ServerUnreachable,
                                 UnknownLabelError, UnsafePathError, pull, push, status)
from curator.labelstudio.source import sync_dir
from labelstudio_server import free_port, start_server

pytestmark = [pytest.mark.slow, pytest.mark.timeout(900)]
sklearn_metrics = pytest.importorskip("sklearn.metrics")
LabelStudio = pytest.importorskip("label_studio_sdk").LabelStudio


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    files_root = tmp_path_factory.mktemp("ls-files")
    srv = start_server(tmp_path_factory.mktemp("ls-server"), files_root)
    yield srv
    srv.stop()


@pytest.fixture(autouse=True)
def _clean_env(monkeypatch):
    for name in ("LABEL_STUDIO_URL", "LABEL_STUDIO_API_KEY", "LABEL_STUDIO_LOCAL_FILES_DOCUMENT_ROOT"):
        monkeypatch.delenv(name, raising=False)


@pytest.fixture
def conn(server) -> dict:
    return {"url": server.url, "api_key": server.token}


@pytest.fixture
def sdk(server):
    return LabelStudio(base_url=server.url, api_key=server.token)


@pytest.fixture(scope="module")
def annotators(server):
    """Three users besides the admin: email -> user id."""
    client = LabelStudio(base_url=server.url, api_key=server.token)
    users = {}
    for name in ("ann1", "ann2", "ann3"):
        user = client.users.create(username=name, email=f"{name}@example.com", password=f"pw-{name}-0123")
        users[user.email] = user.id
    return users


def write_csv(path: Path, rows: list[dict]) -> Path:
    with open(path, "w", newline="", encoding="utf-8") as fh:
        writer = csv.DictWriter(fh, fieldnames=list(rows[0]), lineterminator="\n")
        writer.writeheader()
        writer.writerows(rows)
    return path


def text_rows(n: int, labels=("a", "b", "c")) -> list[dict]:
    return [{"id": f"r{i}", "text": f"row number {i} says something", "label": labels[i % len(labels)]}
            for i in range(n)]


def tasks_of(sdk, title: str, include: str | None = None) -> list:
    project = next(p for p in sdk.projects.list(title=title) if p.title == title)
    out, page = [], 1
    while True:
        pager = sdk.tasks.list(project=project.id, page=page, page_size=500, fields="all", include=include)
        out.extend(pager.items)
        if len(out) >= pager.response.total or not pager.items:
            return out
        page += 1


def annotate(sdk, task_id: int, label, user_id: int, *, cancelled: bool = False, to_name: str = "text"):
    choices = label if isinstance(label, list) else [label]
    result = [{"from_name": "label", "to_name": to_name, "type": "choices", "value": {"choices": choices}}]
    return sdk.annotations.create(task_id, result=result, completed_by=user_id, was_cancelled=cancelled)


def snapshot(folder: Path) -> dict:
    return {str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()} \
        if folder.exists() else {}


# -- round trips --------------------------------------------------------------------------------------------------
def test_text_round_trip_with_predictions_agreement_and_append_only_store(tmp_path, conn, sdk, annotators):
    data = write_csv(tmp_path / "tickets.csv", text_rows(12))
    probs = np.random.default_rng(0).dirichlet([1, 1, 1], size=10)
    pd.DataFrame({"id": [f"r{i}" for i in range(10)], "predicted_label": [("a", "b", "c")[k] for k in probs.argmax(1)],
                  "probabilities": list(probs)}).to_parquet(tmp_path / "predictions.parquet")

    pushed = push(data, "text round trip", predictions=tmp_path / "predictions.parquet", **conn)
    assert (pushed.created, pushed.predictions, pushed.rows) == (12, 10, 12)
    tasks = {t.data["id"]: t for t in tasks_of(sdk, "text round trip")}
    assert sorted(tasks) == sorted(f"r{i}" for i in range(12))
    pred = tasks["r3"].predictions[0]
    assert pred.model_version.startswith("predictions-") and pred.score == pytest.approx(probs[3].max())
    assert pred.result[0]["value"]["choices"] == [("a", "b", "c")[probs[3].argmax()]]
    assert tasks["r11"].predictions == []

    first = ["a", "b", "c", "a", "b", "c", "a", "b", "c", "a", "a", "b"]
    second = ["a", "b", "c", "a", "c", "c", "b", "b", "c", "a", "b", "b"]
    for i in range(12):
        annotate(sdk, tasks[f"r{i}"].id, first[i], annotators["ann1@example.com"])
        annotate(sdk, tasks[f"r{i}"].id, second[i], annotators["ann2@example.com"])
    annotate(sdk, tasks["r0"].id, "c", annotators["ann3@example.com"], cancelled=True)

    result = pull("text round trip", data, **conn)
    assert (result.annotations, result.cancelled, result.new, result.unmatched) == (24, 1, 24, 0)
    assert result.agreement.overall["annotators"] == 2
    assert result.agreement.overall["cohen_kappa"] == pytest.approx(sklearn_metrics.cohen_kappa_score(first, second))
    labels = result.labels.set_index("id")
    assert labels.loc["r0", "decision"] == "unanimous" and labels.loc["r0", "label"] == "a"
    assert labels.loc["r4", "decision"] == "conflict" and labels.loc["r4", "label"] is None  # b vs c: a tie
    assert not labels.loc["r10", "changed"]  # an a/b tie: nothing to apply
    assert labels.loc["r11", "label"] == "b" and labels.loc["r11", "changed"]  # both say b; the row says c

    store = sync_dir(data)
    parts = sorted(store.rglob("pull-*.parquet"))
    assert len(parts) == 1 and len(pd.read_parquet(parts[0])) == 24
    before = snapshot(parts[0].parent)
    assert list(before) == [parts[0].name]

    again = pull("text round trip", data, **conn)
    assert again.new == 0 and again.store is None and snapshot(parts[0].parent) == before
    listed = pull("text round trip", data, read_via="tasks", **conn)  # the task list instead of paged exports
    assert (listed.new, listed.annotations, listed.cancelled) == (0, 24, 1)
    pd.testing.assert_frame_equal(listed.labels, result.labels)

    ann = next(a for a in tasks_of(sdk, "text round trip") if a.data["id"] == "r4").annotations
    mine = next(a for a in ann if a["completed_by"] == annotators["ann2@example.com"])
    sdk.annotations.update(mine["id"], result=[{"from_name": "label", "to_name": "text", "type": "choices",
                                                 "value": {"choices": ["b"]}}])
    sdk.annotations.delete(next(a for a in ann if a["completed_by"] == annotators["ann1@example.com"])["id"])
    third = pull("text round trip", data, **conn)
    assert (third.new, third.deleted, third.annotations) == (1, 1, 23)
    parts_now = sorted(store.rglob("pull-*.parquet"))
    assert len(parts_now) == 2 and parts_now[0].read_bytes() == before[parts[0].name]
    events = pd.read_parquet(parts_now[1])
    assert sorted(events["event"]) == ["annotation", "deleted"]
    assert third.labels.set_index("id").loc["r4", "label"] == "b"


def test_push_twice_keeps_the_task_count_and_updates_changed_rows(tmp_path, conn, sdk):
    rows = text_rows(30)
    data = write_csv(tmp_path / "d.csv", rows)
    pd.DataFrame({"id": ["r1", "r2"], "suggested_label": ["b", "a"], "score": [0.9, 0.4]}).to_parquet(tmp_path / "s.parquet")
    assert push(data, "push twice", batch_size=7, **conn).created == 30
    again = push(data, "push twice", predictions=tmp_path / "s.parquet", model_version="cleanlab-1", **conn)
    assert (again.created, again.updated, again.unchanged, again.predictions) == (0, 0, 30, 2)
    once_more = push(data, "push twice", predictions=tmp_path / "s.parquet", model_version="cleanlab-1", **conn)
    assert (once_more.created, once_more.predictions) == (0, 0)
    rows[5]["text"] = "an edited row"
    write_csv(data, rows)
    edited = push(data, "push twice", **conn)
    assert (edited.created, edited.updated, edited.unchanged) == (0, 1, 29)
    tasks = tasks_of(sdk, "push twice")
    assert len(tasks) == 30 and len({t.data["id"] for t in tasks}) == 30
    assert next(t for t in tasks if t.data["id"] == "r5").data["text"] == "an edited row"
    assert sum(len(t.predictions) for t in tasks) == 2
    state = json.loads(next(sync_dir(data).rglob("state.json")).read_text())
    assert len(state["tasks"]) == 30 and state["tasks"]["r5"] == edited.tasks["r5"]


def _image_run(root: Path) -> Path:
    """A real curator run over a few tiny images; one duplicate picture with another label is flagged."""
    import curator
    from PIL import Image

    (root / "imgs").mkdir(parents=True)
    rows = []
    for i in range(6):  # noise: no two pictures are near-duplicates
        pixels = np.random.default_rng(i).integers(0, 256, (32, 32, 3), dtype=np.uint8)
        Image.fromarray(pixels).save(root / "imgs" / f"im{i}.png")
        rows.append({"id": f"i{i}", "image": f"imgs/im{i}.png", "label": "dog" if i % 2 else "cat"})
    rows.append({"id": "i6", "image": "imgs/im0.png", "label": "dog"})
    write_csv(root / "images.csv", rows)
    curator.run({"input": {"path": str(root / "images.csv")}, "modality": "image", "columns": {"id": "id"},
                 "split": {"ratios": {"train": 0.5, "val": 0.5}}}, out=root / "out")
    return root / "out"


def test_image_run_round_trip_flagged_first_and_relabel_step(server, conn, sdk, annotators):
    run_dir = _image_run(server.files_root / "pets")
    flagged = push(run_dir, "pets", which="flagged", files_root=server.files_root, **conn)
    assert flagged.rows == 1 and flagged.created == 1
    everything = push(run_dir, "pets", files_root=server.files_root, **conn)
    assert (everything.created, everything.unchanged) == (5, 1)  # the flagged task is the same task

    tasks = {t.data["id"]: t for t in tasks_of(sdk, "pets")}
    note = tasks["i0"].data["curator_note"]
    assert note.startswith("flagged: label_conflict") and "current label: cat" in note
    assert tasks["i1"].data["curator_note"] == ""
    import httpx
    image = httpx.get(server.url + tasks["i3"].data["image"], headers={"Authorization": f"Token {server.token}"})
    assert image.status_code == 200 and image.content.startswith(b"\x89PNG")

    users = list(annotators.values())
    for rid, votes in {"i0": ["dog", "dog", "cat"], "i1": ["dog", "dog", "dog"], "i2": ["dog", "cat", "cat"]}.items():
        for label, user in zip(votes, users):
            annotate(sdk, tasks[rid].id, label, user, to_name="image")
    result = pull("pets", run_dir, **conn)
    labels = result.labels.set_index("id")
    assert labels.loc["i0", "label"] == "dog" and labels.loc["i0", "decision"] == "majority"
    assert bool(labels.loc["i0", "changed"]) and not bool(labels.loc["i1", "changed"])
    lead = pull("pets", run_dir, policy="lead", lead="ann3@example.com", **conn).labels.set_index("id")
    assert lead.loc["i0", "label"] == "cat" and lead.loc["i0", "decision"] == "lead" and not lead.loc["i0", "changed"]

    from curator.steps import Context, Runner
    table = pd.concat([pd.read_parquet(run_dir / f"{s}.parquet") for s in ("train", "val")], ignore_index=True)
    runner = Runner(Context(config=None))
    relabelled = runner.run(table, [LabelStudioRelabel(sync_dir(run_dir))])
    assert relabelled.set_index("id").loc["i0", "label"] == "dog"
    ledger = runner.ledger.to_frame()
    fixed = ledger[ledger["action"] == "fixed"]
    assert list(fixed["id"]) == ["i0"] and list(fixed["reason"]) == ["relabel:labelstudio"]
    assert (fixed["old_value"].tolist(), fixed["new_value"].tolist()) == (["cat"], ["dog"])


def test_image_paths_must_stay_inside_the_dataset_root(server, conn, tmp_path):
    root = server.files_root / "escape"
    root.mkdir()
    write_csv(root / "d.csv", [{"id": "x", "image": "../secret.png", "label": "a"}])
    with pytest.raises(UnsafePathError, match=r"'\.\.' part"):
        push(root / "d.csv", "escape", files_root=server.files_root, **conn)
    outside = tmp_path / "outside"
    outside.mkdir()
    write_csv(outside / "d.csv", [{"id": "x", "image": "a.png", "label": "a"}])
    with pytest.raises(UnsafePathError, match="not under the server's local-files root"):
        push(outside / "d.csv", "escape", files_root=server.files_root, **conn)


def test_multi_label_config_and_pull(tmp_path, conn, sdk, annotators):
    rows = [{"id": "m0", "text": "x", "label": "a|b"}, {"id": "m1", "text": "y", "label": "c"}]
    data = write_csv(tmp_path / "multi.csv", rows)
    push(data, "multi", **conn)
    project = next(p for p in sdk.projects.list(title="multi") if p.title == "multi")
    assert 'choice="multiple"' in project.label_config
    tasks = {t.data["id"]: t for t in tasks_of(sdk, "multi")}
    annotate(sdk, tasks["m1"].id, ["c", "a"], annotators["ann1@example.com"])
    labels = pull("multi", data, **conn).labels.set_index("id")
    assert labels.loc["m1", "label"] == "a|c" and bool(labels.loc["m1", "changed"])


def test_three_annotators_fleiss_and_krippendorff_by_hand(tmp_path, conn, sdk, annotators):
    """Four tasks, three annotators: a a a | a a b | b b b | a b b.

    Fleiss: P_i = 1, 1/3, 1, 1/3 -> mean 2/3; p_a = p_b = 1/2 -> P_e = 1/2; kappa = (2/3 - 1/2) / (1/2) = 1/3.
    Krippendorff: o_aa = 3 + 1 = 4, o_bb = 3 + 1 = 4, n = 12, n_a = n_b = 6;
    alpha = 1 - (n - 1)(n - 8) / (n^2 - 72) = 1 - 11 * 4 / 72 = 7/18.
    """
    data = write_csv(tmp_path / "three.csv", text_rows(4, labels=("a", "b")))
    push(data, "three annotators", **conn)
    tasks = {t.data["id"]: t.id for t in tasks_of(sdk, "three annotators")}
    votes = {"r0": "aaa", "r1": "aab", "r2": "bbb", "r3": "abb"}
    for rid, letters in votes.items():
        for label, user in zip(letters, annotators.values()):
            annotate(sdk, tasks[rid], label, user)
    overall = pull("three annotators", data, **conn).agreement.overall
    assert overall["fleiss_kappa"] == pytest.approx(1 / 3)
    assert overall["krippendorff_alpha"] == pytest.approx(7 / 18)
    assert overall["cohen_kappa"] is None and overall["annotators"] == 3
    found = status("three annotators", data, **conn)
    assert (found["tasks"], found["annotated"], found["remaining"]) == (4, 4, 0)
    assert found["changed_since_last_pull"]["rows"] == 0
    annotate(sdk, tasks["r3"], "a", sdk.users.whoami().id)  # a fourth annotator, after the pull
    changed = status("three annotators", data, **conn)["changed_since_last_pull"]
    assert (changed["rows"], changed["annotations"], changed["deleted"]) == (1, 1, 0)


# -- tokens, faults, bad input -----------------------------------------------------------------------------------
def test_personal_access_token_works_and_is_never_logged(tmp_path, server, sdk, caplog):
    caplog.set_level(logging.DEBUG)  # every logger, the SDK's and httpx's included
    pat = sdk.tokens.create().token
    assert pat.count(".") == 2  # a JWT refresh token, exchanged by the SDK
    data = write_csv(tmp_path / "d.csv", text_rows(3))
    assert push(data, "pat", url=server.url, api_key=pat).created == 3
    assert pull("pat", data, url=server.url, api_key=pat).annotations == 0
    assert caplog.records and pat not in caplog.text and pat.split(".")[-1] not in caplog.text
    for path in sync_dir(data).rglob("*"):
        assert not path.is_file() or pat.encode() not in path.read_bytes()


def test_wrong_token_down_server_and_bad_labels_give_one_line_errors(tmp_path, server, conn, sdk, annotators):
    data = write_csv(tmp_path / "d.csv", text_rows(6))
    wrong = "wrong-token-7f3a9c1e55"
    with pytest.raises(AuthError) as err:
        push(data, "faults", url=server.url, api_key=wrong)
    assert "rejected the API token (401" in str(err.value) and "\n" not in str(err.value)
    assert wrong not in str(err.value) and wrong not in repr(err.value)

    with pytest.raises(ServerUnreachable, match="not reachable") as down:
        push(data, "faults", url=f"http://127.0.0.1:{free_port()}", api_key=server.token)
    assert "\n" not in str(down.value)

    push(data, "faults", **conn)
    with pytest.raises(LabelMismatchError, match=r"missing \[zebra\]"):
        push(write_csv(tmp_path / "other.csv", [{"id": "z", "text": "t", "label": "zebra"}]), "faults", **conn)
    pd.DataFrame({"id": ["r1"], "predicted_label": ["nope"]}).to_parquet(tmp_path / "bad.parquet")
    with pytest.raises(UnknownLabelError, match="'nope'"):
        push(data, "faults", predictions=tmp_path / "bad.parquet", **conn)

    pull("faults", data, **conn)
    before = snapshot(sync_dir(data))
    task = next(t for t in tasks_of(sdk, "faults") if t.data["id"] == "r2")
    annotate(sdk, task.id, "ostrich", annotators["ann1@example.com"])  # the server accepts any choice
    with pytest.raises(UnknownLabelError, match=r"row 'r2'\) has label 'ostrich'"):
        pull("faults", data, **conn)
    assert snapshot(sync_dir(data)) == before  # a failed pull changes nothing local
    with pytest.raises(ProjectNotFound, match="no project titled 'nobody'"):
        pull("nobody", data, **conn)
    for path in sync_dir(data).rglob("*"):
        if path.is_file():
            assert server.token.encode() not in path.read_bytes()


# -- a killed server, a timed-out request ------------------------------------------------------------------------
def _no_duplicates(sdk, title: str, n: int) -> None:
    tasks = tasks_of(sdk, title, include="id,data,total_predictions")
    ids = [t.data["id"] for t in tasks]
    assert len(ids) == n and len(set(ids)) == n
    assert [t.total_predictions for t in tasks] == [1] * n


def test_server_killed_mid_push_then_rerun_completes_without_duplicates(tmp_path, server, conn, sdk):
    n = 500
    data = write_csv(tmp_path / "big.csv", text_rows(n))
    pd.DataFrame({"id": [f"r{i}" for i in range(n)], "predicted_label": ["a"] * n,
                  "score": [0.5] * n}).to_parquet(tmp_path / "p.parquet")

    killer = threading.Timer(0.15, server.kill)

    def kill_during_the_next_batch(done: int, total: int) -> None:
        if done == 200:
            killer.start()

    with pytest.raises(ServerUnreachable, match="re-run the push") as err:
        push(data, "killed", predictions=tmp_path / "p.parquet", batch_size=100, retries=0,
             on_batch=kill_during_the_next_batch, **conn)
    assert "\n" not in str(err.value)
    killer.join()
    server.start()
    done = push(data, "killed", predictions=tmp_path / "p.parquet", batch_size=100, **conn)
    assert done.rows == n and not done.duplicates
    _no_duplicates(LabelStudio(base_url=server.url, api_key=server.token), "killed", n)


def test_timed_out_import_is_checked_before_it_is_retried(tmp_path, conn, sdk):
    n = 800
    data = write_csv(tmp_path / "slow.csv", text_rows(n))
    pd.DataFrame({"id": [f"r{i}" for i in range(n)], "predicted_label": ["b"] * n}).to_parquet(tmp_path / "p.parquet")
    result = push(data, "timed out", predictions=tmp_path / "p.parquet", batch_size=n, timeout=0.2, **conn)
    assert result.attempts >= 2  # the one import timed out on the client but landed on the server
    assert (result.created, result.predictions, result.duplicates) == (n, n, [])
    _no_duplicates(sdk, "timed out", n)


# -- the command line -------------------------------------------------------------------------------------------
def test_cli_push_status_pull_agreement(tmp_path, server, monkeypatch, caplog):
    import typer
    from typer.testing import CliRunner

    from curator.labelstudio.cli import labelstudio_app

    app = typer.Typer()
    app.add_typer(labelstudio_app, name="labelstudio")
    runner = CliRunner()
    caplog.set_level(logging.DEBUG)
    monkeypatch.setenv("LABEL_STUDIO_URL", server.url)
    monkeypatch.setenv("LABEL_STUDIO_API_KEY", server.token)
    data = write_csv(tmp_path / "cli.csv", text_rows(5))
    for args in (["push", str(data), "--project", "cli", "-q"], ["status", "--project", "cli", "--into", str(data)],
                 ["pull", "--project", "cli", "--into", str(data), "-q"], ["agreement", str(data)]):
        res = runner.invoke(app, ["labelstudio", *args])
        assert res.exit_code == 0, res.output
        assert server.token not in res.output
    res = runner.invoke(app, ["labelstudio", "push", str(data), "--project", "cli", "--json"])
    assert json.loads(res.output)["unchanged"] == 5
    monkeypatch.setenv("LABEL_STUDIO_API_KEY", "not-the-token-123456")
    res = runner.invoke(app, ["labelstudio", "pull", "--project", "cli", "--into", str(data)])
    assert res.exit_code == 1 and "not-the-token-123456" not in res.output
    assert res.output.startswith("error: Label Studio at") and res.output.count("\n") == 1
    assert caplog.records and server.token not in caplog.text and "not-the-token-123456" not in caplog.text
    written = [p for p in sync_dir(data).rglob("*") if p.is_file()]
    assert written and not any(server.token.encode() in p.read_bytes() for p in written)


# -- a run's review rows, with the label-issue suggestions as pre-annotations -------------------------------------
def test_run_suggestions_are_pre_annotations_and_flagged_tasks_show_why(tmp_path, conn, sdk):
    import curator
    from test_review_outputs import review_run

    config, planted = review_run(tmp_path)
    run_dir = curator.run(config).out_dir
    suggestions = pd.read_parquet(run_dir / "label_issues.parquet").set_index("id")
    ledger = pd.read_parquet(run_dir / "ledger.parquet")
    flagged = set(ledger.loc[ledger["action"] == "flagged", "id"]) - set(ledger.loc[ledger["action"] == "dropped", "id"])

    pushed = push(run_dir, "review", which="flagged", **conn)
    assert pushed.predictions_file == run_dir / "label_issues.parquet"
    tasks = {t.data["id"]: t for t in tasks_of(sdk, "review")}
    assert set(tasks) == flagged and pushed.predictions == len(flagged & set(suggestions.index)) > 10
    pred = tasks[planted["dup_wrong"]].predictions[0]
    assert pred.model_version.startswith("label_issues-")
    assert pred.score == pytest.approx(suggestions.loc[planted["dup_wrong"], "confidence"], abs=1e-5)
    assert pred.result[0]["value"]["choices"] == [suggestions.loc[planted["dup_wrong"], "suggested_label"]]
    notes = {rid: t.data["curator_note"] for rid, t in tasks.items()}
    assert notes[planted["shouting"]].startswith("flagged: rule:shouting (")
    assert notes[planted["dup_wrong"]].startswith("flagged: label_conflict; label_issue")
    assert any(notes[rid].startswith("flagged: label_issue (given '") for rid in planted["flipped"] & set(notes))

    again = push(run_dir, "review", which="flagged", **conn)
    assert (again.created, again.predictions) == (0, 0)
    plain = push(run_dir, "review, no suggestions", which="flagged", suggestions=False, **conn)
    assert plain.predictions == 0 and plain.predictions_file is None
