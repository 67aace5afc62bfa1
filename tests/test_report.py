"""The audit report: structure, escaping, self-containment, thumbnails, edge data, and the charts."""

from __future__ import annotations

import copy
import json
import re
from html.parser import HTMLParser

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from markupsafe import escape

from curator import charts
from curator.report import clean_thumbnails, fmt_num, fmt_pct, fmt_secs, render_html

PNG = "data:image/png;base64," + (  # a 1x1 PNG
    "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNkYPhfDwAChwGA60e6kgAAAABJRU5ErkJggg=="
)
SCRIPT = "<script>alert(1)</script>"
IMG = "<img src=x onerror=alert(1)>"
QUOTES = "\"'&"
EVIL = f"{SCRIPT} {IMG} {QUOTES}"
SECTIONS = [
    "Summary",
    "Flow",
    "Why rows were dropped or flagged",
    "Duplicate groups",
    "Label balance",
    "Leak check",
    "Outputs",
    "Config",
]
VOID = {"area", "base", "br", "col", "embed", "hr", "img", "input", "link", "meta", "source", "track", "wbr"}


class Page(HTMLParser):
    """Collects headings, attributes and tag balance; fails on any unbalanced or stray end tag."""

    def __init__(self, html: str) -> None:
        super().__init__()
        self.stack: list[str] = []
        self.h2: list[str] = []
        self.attrs: list[tuple[str, str, str | None]] = []
        self.rects: list[dict[str, str | None]] = []
        self._in_h2 = False
        self.feed(html)
        self.close()
        assert not self.stack, f"unclosed tags: {self.stack}"

    def handle_starttag(self, tag, attrs):
        self.attrs += [(tag, k, v) for k, v in attrs]
        if tag == "rect":
            self.rects.append(dict(attrs))
        if tag == "h2":
            self._in_h2, self.h2 = True, [*self.h2, ""]
        if tag not in VOID:
            self.stack.append(tag)

    def handle_startendtag(self, tag, attrs):
        self.attrs += [(tag, k, v) for k, v in attrs]
        if tag == "rect":
            self.rects.append(dict(attrs))

    def handle_endtag(self, tag):
        assert self.stack and self.stack[-1] == tag, f"</{tag}> closes {self.stack[-1:]}"
        self.stack.pop()
        if tag == "h2":
            self._in_h2 = False

    def handle_data(self, data):
        if self._in_h2:
            self.h2[-1] += data


def example(i: int, content: str, label: str = "billing", **extra) -> dict:
    return {"id": f"r{i:04d}", "content": content, "label": label, "detail": None, **extra}


def text_report() -> dict:
    return {
        "curator_version": "0.1.0",
        "modality": "text",
        "seed": 0,
        "input": {"path": "sample_data/text/tickets.csv", "format": "csv"},
        "totals": {
            "rows_read": 2010,
            "rows_added": 0,
            "rows_kept": 1700,
            "rows_dropped": 310,
            "rows_flagged": 25,
            "rows_fixed": 4,
        },
        "flow": [
            {
                "name": "ingest",
                "rows_in": 2010,
                "added": 0,
                "dropped": 5,
                "rows_out": 2005,
                "flagged": 0,
                "fixed": 0,
                "reasons": {"malformed_line": 5},
                "seconds": 0.12,
            },
            {
                "name": "validate",
                "rows_in": 2005,
                "added": 0,
                "dropped": 93,
                "rows_out": 1912,
                "flagged": 25,
                "fixed": 4,
                "reasons": {"rule:min_length": 90, "rule:empty_label": 3},
                "seconds": 0.4,
            },
            {
                "name": "dedup_exact",
                "rows_in": 1912,
                "added": 0,
                "dropped": 212,
                "rows_out": 1700,
                "flagged": 0,
                "fixed": 0,
                "reasons": {"exact_duplicate": 212},
                "seconds": 1.5,
            },
            {
                "name": "split",
                "rows_in": 1700,
                "added": 0,
                "dropped": 0,
                "rows_out": 1700,
                "flagged": 0,
                "fixed": 0,
                "reasons": {},
                "seconds": 75.0,
            },
        ],
        "splits": {"train": 1360, "val": 170, "test": 170},
        "labels": {
            "names": ["billing", "shipping", "refund"],
            "before": {"billing": 1000, "shipping": 700, "refund": 305},
            "after": {
                "train": {"billing": 680, "shipping": 480, "refund": 200},
                "val": {"billing": 85, "shipping": 60, "refund": 25},
                "test": {"billing": 85, "shipping": 60, "refund": 25},
            },
        },
        "lengths": {
            "unit": "characters",
            "edges": [0, 20, 40, 80, 160],
            "before": [90, 700, 900, 315],
            "after": {"train": [0, 500, 600, 260], "val": [0, 60, 80, 30], "test": [0, 60, 80, 30]},
        },
        "reasons": [
            {
                "step": "dedup_exact",
                "action": "dropped",
                "reason": "exact_duplicate",
                "count": 212,
                "examples": [
                    example(
                        1,
                        "my parcel never came",
                        "shipping",
                        detail="exact duplicate of r0002",
                        related_id="r0002",
                        related_content="my parcel never came",
                    )
                ],
            },
            {
                "step": "validate",
                "action": "flagged",
                "reason": "rule:short_text",
                "count": 25,
                "examples": [example(3, "hi")],
            },
            {
                "step": "validate",
                "action": "dropped",
                "reason": "rule:empty_label",
                "count": 3,
                "examples": [],
            },
        ],
        "duplicate_groups": [
            {
                "step": "dedup_exact",
                "kind": "exact",
                "size": 3,
                "labels": ["billing", "shipping"],
                "conflict": True,
                "kept": {
                    "id": "r0002",
                    "content": "my parcel never came",
                    "label": "billing",
                    "source": "tickets.csv:17",
                },
                "dropped": [
                    {
                        "id": "r0001",
                        "content": "my parcel never came",
                        "label": "shipping",
                        "source": "tickets.csv:903",
                        "similarity": 1.0,
                    },
                    {
                        "id": "r0004",
                        "content": "my parcel never came",
                        "label": "billing",
                        "source": "tickets.csv:1200",
                        "similarity": 1.0,
                    },
                ],
            },
            {
                "step": "dedup_near",
                "kind": "near",
                "size": 2,
                "labels": ["refund"],
                "conflict": False,
                "kept": {
                    "id": "r0010",
                    "content": "refund please",
                    "label": "refund",
                    "source": "tickets.csv:40",
                },
                "dropped": [
                    {
                        "id": "r0011",
                        "content": "refund please!",
                        "label": "refund",
                        "source": "tickets.csv:41",
                        "similarity": 0.91,
                    }
                ],
            },
        ],
        "label_conflicts": 1,
        "leak_check": {"passed": True, "checked": ["id", "text_hash"], "groups": 1650},
        "images": None,
        "outputs": {
            "train.parquet": {"rows": 1360, "sha256": "ab" * 32},
            "val.parquet": {"rows": 170, "sha256": "cd" * 32},
            "test.parquet": {"rows": 170, "sha256": "ef" * 32},
        },
        "config": {
            "input": {"path": "tickets.csv"},
            "steps": [{"dedup_exact": {}}, {"split": {"ratios": [0.8, 0.1, 0.1]}}],
        },
    }


def image_report() -> dict:
    data = text_report()
    data.update(
        modality="image",
        lengths=None,
        label_conflicts=0,
        input={"path": "sample_data/images", "format": "folder"},
        images={
            "examples": [
                {"id": "i1", "content": "circle/c001.png", "label": "circle", "split": "train"},
                {"id": "i2", "content": "square/s001.png", "label": "square", "split": "test"},
            ]
        },
        reasons=[
            {
                "step": "validate",
                "action": "dropped",
                "reason": "image_unreadable",
                "count": 1,
                "examples": [
                    {
                        "id": "i3",
                        "content": "circle/broken.png",
                        "label": "circle",
                        "detail": "cannot identify image file",
                    }
                ],
            }
        ],
        duplicate_groups=[
            {
                "step": "dedup_near",
                "kind": "near",
                "size": 2,
                "labels": ["circle"],
                "conflict": False,
                "kept": {"id": "i1", "content": "circle/c001.png", "label": "circle", "source": "c001.png"},
                "dropped": [
                    {
                        "id": "i4",
                        "content": "circle/c001_copy.png",
                        "label": "circle",
                        "source": "c001_copy.png",
                        "similarity": 0.98,
                    }
                ],
            }
        ],
    )
    return data


def evil_report() -> dict:
    data = text_report()
    data["input"]["path"] = EVIL
    data["labels"] = {
        "names": [EVIL, "ok"],
        "before": {EVIL: 3, "ok": 1},
        "after": {"train": {EVIL: 2, "ok": 1}, EVIL: {EVIL: 1}},
    }
    data["splits"] = {"train": 3, EVIL: 1}
    data["lengths"]["after"] = {EVIL: [1, 2, 3, 4]}
    data["flow"][0]["name"] = EVIL
    data["flow"][0]["reasons"] = {EVIL: 5}
    row = {
        "id": EVIL,
        "content": EVIL + " see https://evil.example/x.png",
        "label": EVIL,
        "detail": EVIL,
        "related_id": EVIL,
        "related_content": EVIL,
        "source": EVIL,
    }
    data["reasons"] = [{"step": EVIL, "action": EVIL, "reason": EVIL, "count": 1, "examples": [row]}]
    data["duplicate_groups"] = [
        {
            "step": EVIL,
            "kind": EVIL,
            "size": 2,
            "labels": [EVIL],
            "conflict": True,
            "kept": row,
            "dropped": [dict(row, similarity=EVIL)],
        }
    ]
    data["leak_check"] = {"passed": False, "checked": [EVIL], "groups": 1, "leaked_ids": [EVIL]}
    data["outputs"] = {EVIL: {"rows": 1, "sha256": EVIL}}
    data["config"] = {EVIL: [EVIL, {"nested": EVIL}]}
    return data


def empty_report() -> dict:
    return {
        "curator_version": "0.1.0",
        "modality": "text",
        "seed": 0,
        "input": {"path": "x.csv", "format": "csv"},
        "totals": {
            "rows_read": 0,
            "rows_added": 0,
            "rows_kept": 0,
            "rows_dropped": 0,
            "rows_flagged": 0,
            "rows_fixed": 0,
        },
        "flow": [
            {
                "name": "ingest",
                "rows_in": 0,
                "added": 0,
                "dropped": 0,
                "rows_out": 0,
                "flagged": 0,
                "fixed": 0,
                "reasons": {},
                "seconds": 0.0,
            }
        ],
        "splits": {"train": 0, "val": 0, "test": 0},
        "labels": {"names": ["a"], "before": {"a": 0}, "after": {"train": {"a": 0}, "val": {}, "test": {}}},
        "lengths": None,
        "reasons": [],
        "duplicate_groups": [],
        "label_conflicts": 0,
        "leak_check": {"passed": True, "checked": [], "groups": 0},
        "images": None,
        "outputs": {},
        "config": {},
    }


# ---- structure -------------------------------------------------------------------------------


@pytest.mark.parametrize("make, extra", [(text_report, ["Text lengths"]), (image_report, ["Images"])])
def test_full_report_parses_and_has_every_section(make, extra):
    data = json.loads(json.dumps(make()))  # exactly what report.json holds
    html = render_html(data, {"i1": PNG, "i4": PNG})
    page = Page(html)
    assert "curator audit report" in html
    assert [h.strip() for h in page.h2] == SECTIONS[:5] + extra + SECTIONS[5:]
    assert "Text lengths" not in page.h2 if make is image_report else "Images" not in page.h2


def test_text_report_shows_the_run():
    html = render_html(text_report())
    for text in (
        "sample_data/text/tickets.csv",
        "2,010",
        "1,700",
        "1,360",
        "exact_duplicate",
        "rule:min_length",
        "label conflict",
        "tickets.csv:903",
        "every row accounted for",
        "passed",
        "text_hash",
        "1,650",
        "ab" * 32,
        "train.parquet",
        "1 min 15 s",
        "120 ms",
    ):
        assert text in html, text
    assert html.count("<details") >= 3  # one per reason, plus the length bins
    assert html.count('class="group conflict"') == 1
    assert "1 duplicate group has labels that disagree" in html


def test_image_report_uses_thumbnails_in_groups_and_grid():
    html = render_html(image_report(), {"i1": PNG, "i4": PNG})
    assert html.count(f'<img src="{PNG}"') == 3  # grid i1, group kept i1, group dropped i4
    assert "no preview" in html  # i2 has no thumbnail
    assert "circle/broken.png" in html


def test_the_combined_image_method_says_what_its_embedding_check_did():
    data = image_report()
    cascade = {"hash_pairs": 1175, "near_pairs": 75, "quadrant_pairs": 8, "candidate_pairs": 7, "unchecked_pairs": 0,
               "verified_files": 14}
    data["near_duplicates"] = {"measure": "combined", "threshold": 10, "cascade": cascade,
                               "histogram": {"edges": [0.0, 0.5, 1.0], "counts": [0, 3]}}
    html = render_html(data)
    assert "Combined method: 1,175 pairs close by a pHash variant, accepted; 7 candidate pairs" in html
    assert "checked on 14 files" in html and "left unchecked" not in html
    data["near_duplicates"]["cascade"] = cascade | {"unchecked_pairs": 1234}
    assert "1,234 candidate pairs were left unchecked</strong>" in render_html(data)
    del data["near_duplicates"]["cascade"]
    assert "Combined method" not in render_html(data)


def test_unbalanced_totals_are_called_out():
    data = text_report()
    data["totals"]["rows_kept"] = 1
    assert "counts do not balance" in render_html(data)


# ---- escaping --------------------------------------------------------------------------------


def test_dataset_strings_are_escaped_everywhere():
    html = render_html(evil_report())
    Page(html)
    assert "<script>alert" not in html
    assert "<img src=x" not in html
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html
    assert "&lt;img src=x onerror=alert(1)&gt;" in html
    assert str(escape(QUOTES)) in html and QUOTES not in html
    svgs = re.findall(r"<svg.*?</svg>", html, re.S)
    assert len(svgs) == 3  # flow, labels, lengths: each carries the hostile name as a category or series
    for svg in svgs:
        assert "&lt;script&gt;" in svg and "<script" not in svg
    config = re.search(r"<pre>(.*?)</pre>", html, re.S).group(1)
    assert "&lt;script&gt;" in config and "<" not in config


def test_chart_attributes_cannot_be_broken_out_of():
    svg = charts.grouped_bars([EVIL], {EVIL: [1]}, EVIL)
    (rect,) = bars(svg)
    assert rect["data-series"] == EVIL  # the whole string stayed inside the attribute
    assert set(rect) == {
        "class",
        "data-series",
        "data-index",
        "data-value",
        "x",
        "y",
        "width",
        "height",
        "fill",
    }


@settings(max_examples=60, deadline=None)
@given(st.text(min_size=1, max_size=40))
def test_any_row_text_appears_only_escaped(text):
    data = text_report()
    data["reasons"][0]["examples"][0]["content"] = text
    html = render_html(data)
    assert str(escape(text)) in html


# ---- self-contained --------------------------------------------------------------------------


@pytest.mark.parametrize("make", [text_report, image_report, evil_report])
def test_no_external_resources(make):
    html = render_html(make(), {"i1": PNG})
    for tag, name, value in Page(html).attrs:
        if name in ("src", "href", "xlink:href", "srcset", "action"):
            assert not re.match(r"\s*(https?:)?//", value or ""), (tag, name, value)
            assert not (value or "").strip().lower().startswith("javascript:"), (tag, name, value)
    assert "<link" not in html and "@import" not in html and "url(" not in html
    assert "@font-face" not in html


# ---- thumbnails ------------------------------------------------------------------------------


BAD_THUMBS = {
    "i1": "javascript:alert(1)",
    "i2": "data:text/html,<script>alert(1)</script>",
    "i3": "data:image/svg+xml;base64,PHN2Zz4=",
    "i4": 'data:image/png;base64,AAAA" onerror="alert(1)',
}


def test_bad_thumbnails_are_dropped_and_good_ones_kept():
    assert clean_thumbnails(BAD_THUMBS) == {}
    assert clean_thumbnails({1: PNG, "x": None, "y": PNG + "\n"}) == {"1": PNG}
    html = render_html(image_report(), {**BAD_THUMBS, "i2": PNG.replace("image/png", "image/jpeg")})
    assert "javascript:" not in html and "data:text/html" not in html and "svg+xml" not in html
    assert "onerror" not in html
    assert '<img src="data:image/jpeg;base64,' in html
    assert html.count("<img ") == 1


def test_render_rejects_wrong_types():
    with pytest.raises(TypeError, match="expected the report dict"):
        render_html([])
    with pytest.raises(TypeError, match="expected thumbnails"):
        render_html(text_report(), ["x"])


# ---- edge data -------------------------------------------------------------------------------


def test_empty_run_renders_with_none_lines():
    html = render_html(empty_report())
    page = Page(html)
    assert "Text lengths" not in page.h2 and "Images" not in page.h2
    assert "None: no row was dropped or flagged." in html
    assert "None: no duplicate groups were found." in html
    assert "None: no output files recorded." in html
    assert "every row accounted for" in html


@pytest.mark.parametrize(
    "data",
    [
        {},
        {"modality": "image", "images": {"examples": []}},
        {
            "flow": None,
            "labels": None,
            "lengths": {"edges": []},
            "reasons": None,
            "duplicate_groups": None,
            "leak_check": None,
            "outputs": None,
            "config": None,
            "totals": None,
            "splits": None,
        },
        {
            "flow": [{}],
            "reasons": [{}],
            "duplicate_groups": [{"kept": None, "dropped": None}],
            "labels": {"before": {"a": 1}},
            "lengths": {"edges": [0, 1, 2], "before": [1]},
        },
    ],
)
def test_missing_or_partial_parts_never_crash(data):
    page = Page(render_html(data))
    assert "Config" in [h.strip() for h in page.h2]


def test_fixture_is_not_mutated():
    data = text_report()
    before = copy.deepcopy(data)
    render_html(data)
    assert data == before


def test_filters():
    assert fmt_num(1234567) == "1,234,567" and fmt_num(2.0) == "2" and fmt_num(None) == "—"
    assert fmt_pct(1, 0) == "—" and fmt_pct(1, 4) == "25.0%" and fmt_pct(1, 100000) == "<0.1%"
    assert fmt_secs(0.12) == "120 ms" and fmt_secs(None) == "—"


# ---- charts ----------------------------------------------------------------------------------


def bars(svg, series=None):
    return [
        r
        for r in Page(str(svg)).rects
        if r.get("class") == "bar" and (series is None or r.get("data-series") == series)
    ]


def test_grouped_bar_heights_are_proportional():
    svg = charts.grouped_bars(["a", "b", "c"], {"before": [5, 5, 5], "train": [10, 20, 40]}, "labels")
    heights = [float(r["height"]) for r in bars(svg, "train")]
    assert heights[0] > 0
    assert heights[1] == pytest.approx(2 * heights[0], rel=1e-3)
    assert heights[2] == pytest.approx(4 * heights[0], rel=1e-3)
    assert float(bars(svg, "before")[0]["height"]) == pytest.approx(heights[0] / 2, rel=1e-3)
    assert "<title>" in svg and "before" in svg and "train" in svg  # tooltips and legend


def test_histogram_heights_are_proportional():
    svg = charts.histogram([0, 10, 20, 30], {"before": [3, 6, 9]}, "lengths", "characters")
    h = [float(r["height"]) for r in bars(svg, "before")]
    assert h[1] == pytest.approx(2 * h[0], rel=1e-3) and h[2] == pytest.approx(3 * h[0], rel=1e-3)
    assert "characters" in svg


@pytest.mark.parametrize(
    "svg",
    [
        lambda: charts.grouped_bars(["a", "b"], {"train": [0, 0], "val": [0, 0]}, "zeros"),
        lambda: charts.grouped_bars([], {}, "empty"),
        lambda: charts.grouped_bars(["a"], {}, "no series"),
        lambda: charts.histogram([0, 1], {"before": [0]}, "zeros"),
        lambda: charts.histogram([], {}, "empty"),
        lambda: charts.flow([]),
        lambda: charts.flow([{"name": "ingest", "rows_in": 0, "dropped": 0, "added": 0, "rows_out": 0}]),
    ],
)
def test_charts_handle_empty_and_zero_input(svg):
    out = svg()
    Page(str(out))
    assert all(float(r["height"]) == 0 for r in bars(out))


def test_chart_series_length_mismatch_is_a_clear_error():
    with pytest.raises(ValueError, match="expected 2 values"):
        charts.grouped_bars(["a", "b"], {"train": [1]}, "t")
    with pytest.raises(ValueError, match="expected 3 values"):
        charts.histogram([0, 1, 2, 3], {"before": [1]}, "t")


def test_flow_marks_dropped_part_with_its_count():
    svg = str(
        charts.flow(
            [
                {"name": "ingest", "rows_in": 1000, "added": 0, "dropped": 100, "rows_out": 900},
                {"name": "augment", "rows_in": 900, "added": 50, "dropped": 0, "rows_out": 950, "flagged": 7},
            ]
        )
    )
    rects = Page(svg).rects
    dropped = [r for r in rects if r.get("class") == "seg dropped"]
    kept = [r for r in rects if r.get("class") == "seg kept"]
    assert len(dropped) == 1 and len([r for r in rects if r.get("class") == "seg added"]) == 1
    assert float(dropped[0]["width"]) == pytest.approx(float(kept[0]["width"]) / 9, rel=1e-3)
    assert "−100 dropped" in svg and "+50 added" in svg and "7 flagged" in svg and "950 out" in svg


# ---- size: a huge row or many labels keep the report small --------------------------------------


def test_a_huge_fixed_row_keeps_the_report_small(tmp_path):
    import curator
    from conftest import write_config

    rows = [{"text": f"an ordinary ticket about topic {i} here", "label": "ab"[i % 2]} for i in range(40)]
    rows.append({"text": "ctrl\u202e\u200b" + "A" * 2_000_000, "label": "a"})
    rows.append({"text": "<b>bold</b> " + "B" * 2_000_000, "label": "b"})
    (tmp_path / "d.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    cfg = write_config(tmp_path / "c.yaml", {
        "input": {"path": "d.jsonl"}, "rules": ["text-classification"],
        "steps": {"label_issues": {"enabled": False}, "dedup_near": {"enabled": False}}})
    result = curator.run(cfg, out=tmp_path / "out")
    fixed = result.read("ledger").query("action == 'fixed'")
    assert {"rule:control_chars", "rule:html_residue"} <= set(fixed["reason"])
    for name in ("report.html", "report.json"):
        assert (result.out_dir / name).stat().st_size < 300_000, name
    report = json.loads((result.out_dir / "report.json").read_text())
    fix = next(r for r in report["reasons"] if r["reason"] == "rule:control_chars")["examples"][0]
    assert fix["detail"].startswith("text: 'ctrl\\u202e\\u200bAAA") and fix["detail"].count("…") == 2
    assert len(fix["content"]) == 1001 and fix["content"].endswith("…")


def test_many_labels_show_the_largest_and_sum_the_rest():
    data = text_report()
    names = [f"label_{i:05d}" for i in range(10_000)]
    data["labels"] = {"names": names, "before": {n: 2 + (i == 7) * 50 for i, n in enumerate(names)},
                      "after": {"train": {n: 1 for n in names}, "val": {}, "test": {}}}
    data["validation"] = {"rules": [], "per_class": [{"label": n, "rows": 2, "dropped": 1, "flagged": 0, "fixed": 0}
                                                     for n in names]}
    html = render_html(data)
    assert len(html) < 300_000
    assert "The 50 largest of 10,000 labels are shown one by one; the other 9,950 are summed" in html
    assert "9,950 other labels" in html and "label_00007" in html and "label_09999" not in html
    assert re.search(r"9,950 other labels</td>\s*<td class=\"n\">19,900</td>\s*<td class=\"n\">9,950</td>", html)


def test_many_labels_in_label_issues_show_the_largest_classes_and_most_confused_labels():
    data = text_report()
    names = [f"label_{i:05d}" for i in range(2_000)]
    data["label_issues"] = {
        "method": {"models": ["tfidf_logreg"], "folds": 5, "rounds": 1, "rows": 6_000},
        "n_issues": 2_000, "n_dropped": 0, "n_outliers": 0, "issues": [], "outliers": [],
        "per_class": [{"label": n, "rows": 3 + (i == 42) * 100, "issues": 1, "outliers": 0, "top_suggested": names[0]}
                      for i, n in enumerate(names)],
        "confusion": {n: {names[(i + 1) % len(names)]: 1 + (i == 5) * 9} for i, n in enumerate(names)}}
    html = render_html(data)
    assert len(html) < 300_000
    assert "The 50 largest of 2,000 labels are shown one by one; the other 1,950 are summed" in html
    assert re.search(r"1,950 other labels</td>\s*<td class=\"n\">5,850</td>\s*<td class=\"n\">1,950</td>", html)
    assert "The 50 labels with the most suspected errors each way are shown." in html
    matrix = html[html.index("Given (rows) versus suggested"):]
    matrix = matrix[:matrix.index("</table>")]
    assert matrix.count("<tr>") == 51 and ">10<" in matrix  # a header and 50 rows; label_00005's 10 errors shown
