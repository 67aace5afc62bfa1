"""The review page in a real headless Chromium (Debian's, driven by Playwright), on real runs.

`make test` installs chromium when it is missing; without it these tests fail, they never skip.
Screenshots of the main views go to $CURATOR_SCREENSHOTS (docs/screenshots/ was made that way) or
to the test's temporary folder.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pandas as pd
import pytest

from conftest import SAMPLE, write_config, write_csv
from curator.pipeline import run
from curator.review.server import running
from test_review_server import _image_run

CHROMIUM = Path("/usr/bin/chromium")
ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
        "--disable-background-networking", "--disable-component-update", "--disable-sync"]


@pytest.fixture(scope="module")
def browser(tmp_path_factory):
    if not CHROMIUM.exists():
        pytest.fail(f"{CHROMIUM} is missing: `make test` installs it (apt-get install -y chromium)")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        context = p.chromium.launch_persistent_context(
            str(tmp_path_factory.mktemp("chromium-profile")), executable_path=str(CHROMIUM), args=ARGS,
            headless=True, viewport={"width": 1400, "height": 900},
            # The page's Content-Security-Policy would stop an injected script anyway: bypassing it
            # here proves the escaping alone keeps dataset strings inert (and lets Playwright poll).
            bypass_csp=True)
        yield context
        context.close()


@pytest.fixture
def page(browser):
    page = browser.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    page.on("dialog", lambda dialog: dialog.accept())
    yield page
    page.close()
    assert errors == []  # no script error on any page


@pytest.fixture
def shots(tmp_path) -> Path:
    folder = Path(os.environ.get("CURATOR_SCREENSHOTS") or tmp_path / "screenshots")
    folder.mkdir(parents=True, exist_ok=True)
    return folder


def rows_of(run_dir: Path) -> pd.DataFrame:
    return pd.concat([pd.read_parquet(run_dir / f"{s}.parquet") for s in ("train", "val", "test")]).set_index("id")


def test_review_the_sample_run_then_the_next_run_applies_it(tmp_path, page, shots):
    shutil.copytree(SAMPLE / "text", tmp_path / "text")
    config = tmp_path / "text" / "curator.yaml"
    first = run(config, out=tmp_path / "out").out_dir

    with running(first) as (_, url):
        page.goto(url)
        assert "token=" not in page.url
        group = page.locator("li.item.groups").first
        assert group.locator("article.row").count() >= 2  # a duplicate cluster, side by side
        assert page.locator(".diff .insert, .diff .delete").count() > 0  # near copies show their edits
        page.screenshot(path=shots / "duplicates.png")

        # drop a kept row of a near cluster with the keyboard
        page.goto(url.split("?")[0] + "?queue=duplicates&reason=near")
        kept = page.locator("li.item.groups").first.locator("article.row").first
        dropped_id = kept.get_attribute("data-id")
        kept.locator(".meta").click()
        page.keyboard.press("d")
        page.wait_for_selector(f'body[data-ready] article.row[data-id="{dropped_id}"] .badge.fate-drop')
        page.keyboard.press("h")
        page.wait_for_selector("#history:not([hidden]) table.ledger")
        assert dropped_id in page.locator("#history h2").inner_text()
        page.screenshot(path=shots / "history.png")
        page.keyboard.press("Escape")

        # relabel a suspected label error to the suggested label
        page.goto(url.split("?")[0] + "?queue=label_errors")
        suspect = page.locator("article.row").first
        relabel_id = suspect.get_attribute("data-id")
        suggested = page.locator("li.item .suggested").first.inner_text()
        suspect.locator("select.relabel").select_option(suggested)
        page.wait_for_selector(f'body[data-ready] article.row[data-id="{relabel_id}"] .badge.relabel')
        page.screenshot(path=shots / "label-errors.png")

        # restore a row a rule dropped
        page.goto(url.split("?")[0] + "?queue=dropped&reason=rule:min_length")
        victim = page.locator("article.row").first
        restore_id = victim.get_attribute("data-id")
        victim.locator('button[data-action="restore"]').click()
        page.wait_for_selector(f'body[data-ready] article.row[data-id="{restore_id}"] .badge.fate-restore')

        # keep a row, then undo it: the keep is gone, the rest stays
        other = page.locator("article.row").nth(1)
        other_id = other.get_attribute("data-id")
        other.locator(".meta").click()
        page.keyboard.press("e")
        page.wait_for_selector(f'body[data-ready] article.row[data-id="{other_id}"] .badge.fate-keep')
        page.keyboard.press("u")
        page.wait_for_function(f'!document.querySelector(\'article.row[data-id="{other_id}"] .badge\')')
        page.screenshot(path=shots / "dropped.png")

        # a bulk restore of everything the filter selects, on every page, then undo it
        page.goto(url.split("?")[0] + "?queue=dropped&reason=rule:not_empty")
        total = int(page.locator("#total").inner_text())
        page.locator('button[data-bulk="restore"]').click()  # the confirm dialog is accepted
        page.wait_for_selector(f'body[data-ready] #status:has-text("restore: {total} rows")')
        assert page.locator(".badge.fate-restore").count() == min(total, 20) > 0
        page.locator("#undo").click()
        page.wait_for_selector(f'body[data-ready] #status:has-text("undone: {total} row(s)")')
        assert page.locator(".badge.fate-restore").count() == 0

        # reload every view: the decisions are still there
        page.goto(url.split("?")[0] + "?queue=dropped&reason=rule:min_length")
        page.reload()
        assert page.locator(f'article.row[data-id="{restore_id}"] .badge.fate-restore').count() == 1
        page.goto(url.split("?")[0] + "?queue=label_errors")
        badge = page.locator(f'article.row[data-id="{relabel_id}"] .badge.relabel')
        assert badge.inner_text() == f"relabel → {suggested}"
        page.goto(url.split("?")[0] + "?queue=duplicates&reason=near")
        assert page.locator(f'article.row[data-id="{dropped_id}"] .badge.fate-drop').count() == 1
        page.keyboard.press("?")
        assert page.locator("#help").is_visible()

    second = run(config, out=tmp_path / "out").out_dir  # the next run applies the decisions
    ledger = pd.read_parquet(second / "ledger.parquet")
    review = ledger[ledger["step"] == "review"].set_index("id")["reason"]
    assert review.to_dict() == {dropped_id: "review:drop", relabel_id: "review:relabel", restore_id: "review:restore"}
    kept_rows = rows_of(second)
    assert dropped_id not in kept_rows.index
    assert kept_rows.loc[relabel_id, "label"] == suggested
    assert restore_id in kept_rows.index
    assert pd.read_parquet(second / "dropped.parquet").set_index("id").loc[dropped_id, "reason"] == "review:drop"


PAYLOADS = ['<script>window.__pwned = 1</script> my card was charged twice',
            '<img src=x onerror="window.__pwned = 2"> where is my parcel please']


def test_dataset_strings_never_run_as_script(tmp_path, page):
    rows = [{"id": 'x"><script>window.__pwned=3</script>', "text": PAYLOADS[0], "label": "billing"},
            {"id": "plain-2", "text": PAYLOADS[0], "label": "<img src=x onerror=window.__pwned=4>"},
            {"id": "plain-3", "text": PAYLOADS[1], "label": "shipping"},
            {"id": "plain-4", "text": PAYLOADS[1], "label": "billing"},
            {"id": "plain-5", "text": "an ordinary ticket about a refund", "label": "billing"}]
    write_csv(tmp_path / "data.csv", rows)
    config = write_config(tmp_path / "curator.yaml", {
        "input": {"path": "data.csv"}, "columns": {"id": "id"}, "seed": 0, "output": {"dir": "out"},
        "steps": {"label_issues": {"enabled": False}, "validate": {"require_label": False}}})
    out = run(config).out_dir
    with running(out) as (_, url):
        page.goto(url)
        base = url.split("?")[0]
        seen = []
        for view in ("?queue=duplicates", "?queue=conflicts", "?queue=duplicates&q=%3Cscript%3E"):
            page.goto(base + view)
            seen += page.locator("article.row .text").all_inner_texts()
            assert page.evaluate("window.__pwned") is None
            assert page.evaluate("document.scripts.length") == 1  # only the page's own review.js
            assert page.locator("img[src='x']").count() == 0
        assert any("<script>window.__pwned = 1</script>" in t for t in seen)  # shown as text
        assert any('<img src=x onerror="window.__pwned = 2">' in t for t in seen)
        labels = page.locator("article.row .label").all_inner_texts()
        assert "<img src=x onerror=window.__pwned=4>" in labels
        page.locator("article.row .meta").first.click()
        page.keyboard.press("h")
        page.wait_for_selector("#history:not([hidden]) table.ledger")
        assert page.evaluate("window.__pwned") is None and page.locator("#history img[src='x']").count() == 0


def test_image_clusters_show_thumbnails_and_a_larger_view(tmp_path, page, shots):
    out = _image_run(tmp_path)
    with running(out) as (_, url):
        page.goto(url)
        thumbs = page.locator("img.thumb")
        assert thumbs.count() >= 8
        page.wait_for_function("[...document.querySelectorAll('img.thumb')]"
                               ".every(i => i.complete && i.naturalWidth > 0)")
        page.screenshot(path=shots / "image-clusters.png")
        thumbs.first.click()
        assert page.locator("#lightbox").is_visible()
        page.wait_for_function("document.getElementById('lightbox-img').naturalWidth > 0")
        page.screenshot(path=shots / "image-large.png")
        page.keyboard.press("Escape")
        assert not page.locator("#lightbox").is_visible()
