"""'Send to Label Studio' from the review page, against a real Label Studio server."""

from __future__ import annotations

import pytest

from curator.pipeline import run
from curator.review.decisions import DecisionLog, decisions_path
from curator.review.server import running
from labelstudio_server import start_server
from test_review_server import Client

pytestmark = [pytest.mark.slow, pytest.mark.timeout(600)]
LabelStudio = pytest.importorskip("label_studio_sdk").LabelStudio

ROWS = [{"id": f"t{i}", "text": text, "label": label} for i, (text, label) in enumerate([
    ("my card was charged twice for one order", "billing"),
    ("the parcel never arrived at my address", "shipping"),
    ("I cannot log in to my account since Monday", "account"),
    ("the screen of the tablet arrived cracked", "product_defect"),
])]


def test_rows_sent_from_the_page_become_tasks_once(tmp_path, text_run, monkeypatch):
    server = start_server(tmp_path / "ls", tmp_path / "ls-files")
    try:
        monkeypatch.setenv("LABEL_STUDIO_URL", server.url)
        monkeypatch.setenv("LABEL_STUDIO_API_KEY", server.token)
        config = text_run(ROWS, columns={"id": "id"}, labels=["billing", "shipping", "account", "product_defect"],
                          steps={"label_issues": {"enabled": False}})
        out = run(config).out_dir
        with running(out, project="review sends") as (_, url):
            client = Client(url)
            client.get("/?token=" + url.split("token=")[1])
            for _ in range(2):  # sending again updates, never duplicates
                status, body = client.post("/api/labelstudio", {"ids": ["t0", "t2"]})
                assert status == 200, body
            assert body["project"] == "review sends" and body["rows"] == 2
        sdk = LabelStudio(base_url=server.url, api_key=server.token)
        project = next(p for p in sdk.projects.list() if p.title == "review sends")
        tasks = list(sdk.tasks.list(project=project.id, fields="all"))
        assert sorted(t.data["id"] for t in tasks) == ["t0", "t2"]
    finally:
        server.stop()

    log = DecisionLog(decisions_path(config.parent / "data.csv"))
    assert log.effective()["labelstudio"].to_dict() == {"t0": True, "t2": True}
    ledger = run(config).read("ledger")
    sent = ledger[ledger["reason"] == "review:labelstudio"]
    assert sorted(sent["id"]) == ["t0", "t2"] and set(sent["action"]) == {"flagged"}
