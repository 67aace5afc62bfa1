"""The review page's server over real runs: queues, paging, actions, the token, and the image route."""

from __future__ import annotations

import http.client
import http.cookiejar
import json
import os
import shutil
import urllib.error
import urllib.request
from pathlib import Path
from urllib.parse import urlsplit

import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from conftest import SAMPLE, write_config
from curator.pipeline import run
from curator.review.queues import Filters
from curator.review.server import Review, cookie_name, running


@pytest.fixture(scope="module")
def sample_run(tmp_path_factory) -> Path:
    """The sample tickets, curated once for this module (read-only here)."""
    root = tmp_path_factory.mktemp("sample")
    shutil.copytree(SAMPLE / "text", root / "text")
    return run(root / "text" / "curator.yaml", out=root / "out").out_dir


@pytest.fixture(scope="module")
def review(sample_run) -> Review:
    return Review(sample_run)


def test_queues_hold_what_the_run_found(review, sample_run):
    planted = json.loads((SAMPLE / "text" / "planted.json").read_text())
    ledger = pd.read_parquet(sample_run / "ledger.parquet")
    flagged = ledger[ledger["action"] == "flagged"]
    counts = review.counts()
    assert counts["label_errors"] == (flagged["reason"] == "label_issue").sum() > 0
    assert counts["outliers"] == (flagged["reason"] == "outlier").sum()
    assert counts["warnings"] == ((flagged["step"] == "validate")).sum()
    dropped = pd.read_parquet(sample_run / "dropped.parquet")
    assert counts["dropped"] == dropped["step"].isin(["validate"]).sum() > 0
    dup = review.queues["duplicates"]
    assert dup.reasons() == {"exact": len(planted["exact_duplicate_groups"]),
                             "near": dup.reasons()["near"]} and dup.reasons()["near"] > 0
    assert counts["conflicts"] == len(planted["label_conflict_groups"])
    _, groups = review.queues["conflicts"].page(Filters(), 0, 100)
    assert all(len(g["labels"]) > 1 and g["members"][0]["split"] != "dropped" for g in groups)
    _, errors = review.queues["label_errors"].page(Filters(), 0, 100)
    assert all(e["given"] == e["row"]["label"] and e["suggested"] and 0 <= e["score"] <= 1 for e in errors)
    assert [e["score"] for e in errors] == sorted((e["score"] for e in errors), reverse=True)


QUEUE = st.sampled_from(["duplicates", "conflicts", "label_errors", "outliers", "dropped"])
FILTERS = st.builds(Filters, label=st.sampled_from([None, "billing", "shipping", "praise"]),
                    split=st.sampled_from([None, "train", "test", "dropped"]),
                    q=st.sampled_from([None, "order", "REFUND", "zzzz"]))


@settings(max_examples=40, deadline=None)
@given(QUEUE, FILTERS, st.integers(1, 17))
def test_pages_tile_the_filtered_queue(review, name, filters, size):
    """Pages of any size, concatenated, are the filtered queue exactly once; every item matches."""
    queue = review.queues[name]
    total, everything = queue.page(filters, 0, 10**6)
    seen = []
    for offset in range(0, total + size, size):
        count, items = queue.page(filters, offset, size)
        assert count == total and len(items) <= size
        seen += items
    key = (lambda i: i["key"]) if queue.kind == "groups" else (lambda i: i["row"]["id"])
    assert [key(i) for i in seen] == [key(i) for i in everything] and len(seen) == total
    for item in everything:
        rows = item["members"]
        if filters.label:
            assert any(r["label"] == filters.label for r in rows)
        if filters.split:
            assert any(r["split"] == filters.split for r in rows)
        if filters.q:
            assert any(filters.q.lower() in (r["content"] or "").lower() for r in rows)


def test_bulk_targets_spare_the_kept_row_of_each_group(review):
    dup = review.queues["duplicates"]
    f = Filters(reason="exact")
    _, groups = dup.page(f, 0, 10**6)
    drop = set(dup.target_ids(f, "drop"))
    assert drop == {m["id"] for g in groups for m in g["members"][1:]}
    restore = set(dup.target_ids(f, "restore"))
    assert restore == {m["id"] for g in groups for m in g["members"] if m["split"] == "dropped"}


# -- over HTTP ------------------------------------------------------------------------------------

class Client:
    """A browser-like client: follows the token redirect and keeps the cookie."""

    def __init__(self, url: str, jar: http.cookiejar.CookieJar | None = None) -> None:
        self.base = url.split("/?")[0]
        self.jar = jar if jar is not None else http.cookiejar.CookieJar()
        self.opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(self.jar))
        self.login = url

    def get(self, path: str) -> tuple[int, bytes]:
        return self._open(urllib.request.Request(self.base + path))

    def post(self, path: str, body: dict, header: bool = True) -> tuple[int, dict]:
        headers = {"Content-Type": "application/json", **({"X-Curator-Review": "1"} if header else {})}
        status, data = self._open(urllib.request.Request(self.base + path, json.dumps(body).encode(), headers))
        return status, json.loads(data) if data.startswith(b"{") else {"text": data.decode()}

    def _open(self, request) -> tuple[int, bytes]:
        try:
            with self.opener.open(request) as response:
                return response.status, response.read()
        except urllib.error.HTTPError as err:
            return err.code, err.read()


def test_token_cookie_and_header_guard_every_request(sample_run, tmp_path):
    with running(sample_run, log=None) as (rev, url):
        assert url.startswith("http://127.0.0.1:") and f"token={rev.token}" in url and len(rev.token) >= 24
        stranger = Client(url)
        assert stranger.get("/")[0] == 403
        assert stranger.get("/api/queues")[0] == 403
        assert stranger.get("/?token=wrong")[0] == 403
        with stranger.opener.open(url) as response:  # the printed URL: cookie, then a URL without the token
            assert response.status == 200 and "token=" not in response.url
            assert response.headers["Content-Security-Policy"].startswith("default-src 'none'")
        assert stranger.get("/api/queues")[0] == 200
        status, body = stranger.post("/api/undo", {}, header=False)
        assert status == 403  # a cross-site form cannot set the header


def test_each_session_has_its_own_cookie_so_two_on_one_host_both_stay_signed_in(sample_run):
    """Cookies ignore the port: one browser signed in to two sessions on 127.0.0.1 keeps both."""
    with running(sample_run) as (first, first_url), running(sample_run) as (second, second_url):
        browser = Client(first_url)
        other = Client(second_url, jar=browser.jar)
        for client, url in ((browser, first_url), (other, second_url)):
            with client.opener.open(url) as response:
                assert response.status == 200
        names = {cookie.name: cookie.value for cookie in browser.jar}
        assert names == {cookie_name(first.token): first.token, cookie_name(second.token): second.token}
        assert all(name.startswith("curator_review_") and first.token not in name and second.token not in name
                   for name in names)
        assert browser.get("/api/queues")[0] == 200 and other.get("/api/queues")[0] == 200


def test_the_token_redirect_stays_on_this_server(sample_run):
    with running(sample_run) as (review, url):
        host = urlsplit(url).netloc
        for path, expected in (("//evil.example/x", "/evil.example/x"), ("///evil.example", "/evil.example"),
                               ("/\\evil.example", "/%5Cevil.example")):
            conn = http.client.HTTPConnection(host, timeout=10)
            conn.request("GET", f"{path}?token={review.token}&queue=duplicates")
            response = conn.getresponse()
            location = response.getheader("Location")
            conn.close()
            assert response.status == 303 and location == expected + "?queue=duplicates", (path, location)


def test_a_page_number_that_is_not_ascii_digits_shows_the_first_page(sample_run):
    with running(sample_run) as (_, url):
        client = Client(url)
        client.get("/?token=" + url.split("token=")[1])
        for page in ("%C2%B2", "-1", "x"):  # "²".isdigit() is True, yet int("²") raises
            status, body = client.get(f"/?queue=duplicates&page={page}")
            assert status == 200 and b"duplicates" in body, page


def test_actions_are_checked_then_appended(sample_run, tmp_path):
    ids = pd.read_parquet(sample_run / "train.parquet")["id"].tolist()
    dropped = pd.read_parquet(sample_run / "dropped.parquet")
    rule_dropped = dropped.loc[dropped["step"] == "validate", "id"].tolist()
    log_path = tmp_path / "decisions.jsonl"
    from curator.review.decisions import DecisionLog
    with running(sample_run, log=DecisionLog(log_path)) as (_, url):
        client = Client(url)
        client.get("/?token=" + url.split("token=")[1])
        assert client.post("/api/decide", {"ids": ["nope"], "action": "drop"}) == (
            400, {"error": "id 'nope' is not a row of this run"})
        status, body = client.post("/api/decide", {"ids": [ids[0]], "action": "relabel", "value": "weather"})
        assert status == 400 and "expected one of billing, shipping" in body["error"]
        status, body = client.post("/api/decide", {"ids": [ids[0]], "action": "restore"})
        assert status == 400 and "was not dropped" in body["error"]
        status, body = client.post("/api/labelstudio", {"ids": [ids[0]]})
        assert status == 400 and body["error"].startswith("Label Studio is not configured, so nothing was sent")
        assert not log_path.exists()

        assert client.post("/api/decide", {"ids": [ids[0]], "action": "relabel", "value": "praise"})[0] == 200
        status, body = client.post("/api/bulk", {"queue": "dropped", "reason": "rule:min_length", "action": "restore"})
        assert status == 200 and body["rows"] == (dropped["reason"] == "rule:min_length").sum()
        assert client.post("/api/undo", {})[1]["rows"] == body["rows"]
        standing = DecisionLog(log_path).effective()
        assert standing["label"].dropna().to_dict() == {ids[0]: "praise"}
        assert set(standing.index) == {ids[0]} and rule_dropped

        status, page = client.get(f"/history?id={ids[0]}")
        assert status == 200 and b"relabel" in page and b"split:" in page
        status, data = client.get("/api/queue/label_errors?label=billing&limit=3&offset=1")
        data = json.loads(data)
        assert status == 200 and data["offset"] == 1 and len(data["items"]) <= 3
        assert all(i["row"]["label"] == "billing" for i in data["items"])
        assert all(i["row"]["decision"] is None for i in data["items"] if i["row"]["id"] != ids[0])
        assert client.get("/api/queue/nope")[0] == 404


def _image_run(tmp_path: Path) -> Path:
    """A few sample shapes with planted exact and near copies, curated quickly."""
    planted = json.loads((SAMPLE / "images" / "planted.json").read_text())
    pick = [p for group in planted["exact_duplicate_groups"][:3] + planted["near_duplicates"][:2] for p in group]
    squares = sorted((SAMPLE / "images" / "data" / "square").glob("*.png"))[:3]
    pick += [p.relative_to(SAMPLE / "images").as_posix() for p in squares]
    for rel in pick:
        dest = tmp_path / "ds" / rel
        dest.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(SAMPLE / "images" / rel, dest)
    config = write_config(tmp_path / "ds" / "curator.yaml", {
        "input": {"path": "data"}, "modality": "image", "seed": 0, "output": {"dir": "../out"},
        "steps": {"label_issues": {"enabled": False}}})
    return run(config).out_dir


@pytest.fixture(scope="module")
def image_run(tmp_path_factory) -> Path:
    return _image_run(tmp_path_factory.mktemp("images"))


def test_the_image_route_serves_only_images_inside_the_dataset_root(image_run):
    review = Review(image_run)
    root = review.index.root
    (root / "notes.txt").write_text("not an image")
    outside = root.parent / "secret.png"
    shutil.copy(next(root.rglob("*.png")), outside)
    os.symlink(outside, root / "circle" / "link-out.png")
    inside = next(root.rglob("*.png")).relative_to(root).as_posix()
    assert len(review.queues["duplicates"]) >= 4
    with running(image_run) as (_, url):
        client = Client(url)
        client.get("/?token=" + url.split("token=")[1])
        status, body = client.get(f"/image?path={urllib.request.quote(inside)}")
        assert status == 200 and body == (root / inside).read_bytes()
        for bad in ("../secret.png", "circle/../../secret.png", str(outside), "/etc/passwd", "circle/link-out.png",
                    "notes.txt", "..%2Fsecret.png", "%2E%2E/secret.png", "C:/x.png", "circle\\..\\..\\secret.png"):
            status, body = client.get("/image?path=" + (bad if "%" in bad else urllib.request.quote(bad)))
            assert status == 403, (bad, status, body)
        assert client.get("/image?path=circle/none.png")[0] == 404
        status, page = client.get("/?queue=duplicates")
        assert status == 200 and page.count(b'class="thumb"') >= 8


def test_the_cli_prints_a_loopback_url_once_and_never_logs_the_token(sample_run):
    import re
    import signal
    import subprocess
    import sys
    import time

    proc = subprocess.Popen([sys.executable, "-m", "curator.cli", "review", str(sample_run), "--port", "0"],
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                            env={**os.environ, "COLUMNS": "400"})
    try:
        line = proc.stdout.readline()
        found = re.search(r"(http://127\.0\.0\.1:\d+/\?token=([\w-]+))", line)
        assert found, line
        url, token = found.groups()
        client = Client(url)
        assert client.get("/?token=" + token)[0] == 200
        assert client.get("/?queue=outliers")[0] == 200
        assert Client(url).get("/")[0] == 403
        time.sleep(0.3)
    finally:
        proc.send_signal(signal.SIGINT)
        rest, _ = proc.communicate(timeout=20)
    assert token not in rest  # served requests are not logged with their token
