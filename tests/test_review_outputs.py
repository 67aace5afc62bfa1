"""What a run hands to review, end to end through ``curator.run``: ``label_issues.parquet`` (listed in
the manifest), the report's rule and label-issue sections, ``steps.validate.unknown_label`` and the
dedup conflict ids wired into the label-issues step, the suggestions as Label Studio pre-annotations
with the flag reason shown to the annotator, and pulled annotations applied by the next run."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow.parquet as pq
import pytest

import curator
from curator.export import sha256_file
from curator.labelstudio import predictions, source
from curator.labelstudio.push_tasks import _task_data
from curator.labelstudio.state import AnnotationStore
from curator.report import render_html

from conftest import write_csv, write_config
from test_label_issues import LABELS, flipped_tickets

SHOUT = "MY ORDER NEVER ARRIVED AND NOBODY ANSWERS THE PHONE"


def review_run(root: Path) -> tuple[Path, dict]:
    """A run over 300 real sample tickets with planted review cases; returns (config, planted ids).

    - 15 labels flipped by a seed (label issues);
    - ``dup_wrong``: a copy of a clean ticket with another label, placed first, so dedup keeps it and
      flags a label conflict (the report's group sample is off: only ``conflict_ids`` carry it on);
    - ``near_miss``: label ``Biling``, fixed to ``billing`` by ``unknown_label: fix``;
    - ``shouting``: an all-caps ticket that a ``warn`` rule flags.
    """
    table, flipped = flipped_tickets()
    rows = table[["id", "text", "label"]].to_dict("records")
    clean = [i for i, row in enumerate(rows) if row["id"] not in flipped]
    twin = clean[0]
    billing = next(i for i in clean if rows[i]["label"] == "billing")
    planted = {"flipped": flipped, "dup_wrong": "dup_wrong", "dup_of": f"t{twin}",
               "near_miss": "near_miss", "shouting": "shouting"}
    other = next(k for k in LABELS if k != rows[twin]["label"])
    rows = ([{"id": "dup_wrong", "text": rows[twin]["text"], "label": other}] + rows
            + [{"id": "near_miss", "text": rows[billing]["text"] + " Please sort this out.", "label": "Biling"},
               {"id": "shouting", "text": SHOUT, "label": "shipping"}])
    write_csv(root / "tickets.csv", rows)
    (root / "shouting.yaml").write_text(
        "rules:\n  - {check: caps_ratio, field: text, name: shouting, severity: warn,\n"
        "     params: {max_ratio: 0.7, min_letters: 10}}\n", encoding="utf-8")
    config = write_config(root / "curator.yaml", {
        "input": {"path": "tickets.csv"}, "columns": {"id": "id"}, "labels": LABELS,
        "rules": ["shouting.yaml"],
        "steps": {"validate": {"unknown_label": "fix"}, "dedup_near": {"enabled": False}},
        "output": {"dir": "out", "report": {"duplicate_groups": 0}}})
    return config, planted


@pytest.fixture(scope="module")
def reviewed(tmp_path_factory):
    root = tmp_path_factory.mktemp("review")
    config, planted = review_run(root)
    return curator.run(config), planted


def ledger_of(result) -> pd.DataFrame:
    return result.read("ledger")


def test_label_issues_parquet_holds_every_suggestion_and_is_in_the_manifest(reviewed):
    result, planted = reviewed
    path = result.paths["label_issues.parquet"]
    manifest = json.loads((result.out_dir / "manifest.json").read_text())
    listed = manifest["files"]["label_issues.parquet"]
    found = pd.read_parquet(path)
    assert listed == {"rows": len(found), "sha256": sha256_file(path)}
    assert list(found.columns) == ["id", "label", "suggested_label", "score", "confidence", "issue", "outlier",
                                   "probabilities"]
    kept = pd.concat([result.read(s) for s in ("train", "val", "test")])
    assert set(found["id"]) == set(kept["id"])  # every row the step scored (all are labelled)
    order = json.loads(pq.read_schema(path).metadata[b"curator.labels"])
    assert order == LABELS
    probs = np.stack(found["probabilities"].to_numpy())
    assert (np.asarray(order, dtype=object)[probs.argmax(axis=1)] == found["suggested_label"]).all()
    assert np.allclose(probs.max(axis=1), found["confidence"], atol=1e-5)
    assert found["score"].is_monotonic_decreasing  # surest label error first
    ledger = ledger_of(result)
    issues = set(ledger.loc[ledger["reason"] == "label_issue", "id"])
    assert set(found.loc[found["issue"], "id"]) == issues
    assert set(found.loc[found["outlier"], "id"]) == set(ledger.loc[ledger["reason"] == "outlier", "id"])
    assert len(issues & planted["flipped"]) >= 10


def test_the_same_input_gives_the_same_label_issues_bytes(reviewed, tmp_path):
    result, _ = reviewed
    config, _ = review_run(tmp_path)
    again = curator.run(config)
    assert sha256_file(again.paths["label_issues.parquet"]) == sha256_file(result.paths["label_issues.parquet"])


def test_unknown_label_config_fixes_a_near_miss_in_a_run(reviewed):
    result, planted = reviewed
    ledger = ledger_of(result).set_index("id")
    fix = ledger.loc[[planted["near_miss"]]]
    fix = fix[fix["action"] == "fixed"].iloc[0]
    assert (fix["reason"], fix["old_value"], fix["new_value"]) == ("unknown_label", "Biling", "billing")
    kept = pd.concat([result.read(s) for s in ("train", "val", "test")]).set_index("id")
    assert kept.loc[planted["near_miss"], "label"] == "billing"


def test_dedup_conflicts_reach_label_issues_without_the_report_sample(reviewed):
    result, planted = reviewed
    assert result.report["duplicate_groups"] == []  # output.report.duplicate_groups: 0
    ledger = ledger_of(result)
    mine = ledger[ledger["id"] == planted["dup_wrong"]].set_index("reason")
    assert mine.loc["label_conflict", "action"] == "flagged"
    assert mine.loc["label_issue", "detail"].endswith("its duplicates carry different labels")
    dropped = result.read("dropped").set_index("id")
    assert dropped.loc[planted["dup_of"], "reason"] == "exact_duplicate"


def test_report_shows_rules_fixes_ranked_issues_and_per_class_rates(reviewed):
    result, planted = reviewed
    rules = {r["name"]: r for r in result.report["validation"]["rules"]}
    assert rules["shouting"]["flagged"] == 1 and rules["shouting"]["examples"][0]["value"] == SHOUT
    issues = result.report["label_issues"]
    scores = [i["score"] for i in issues["issues"]]
    assert scores == sorted(scores, reverse=True) and issues["n_issues"] == len(scores)
    assert sum(c["issues"] for c in issues["per_class"]) == issues["n_issues"]
    html = (result.out_dir / "report.html").read_text(encoding="utf-8")
    for text in ('id="rules"', "rule:shouting", 'id="label-issues"', "Ranked by score", "Error rate per class",
                 issues["issues"][0]["id"]):
        assert text in html


def test_report_sections_escape_dataset_text():
    evil = "<script>alert(1)</script>"
    data = {"validation": {"rules": [{"name": "r", "check": "regex", "field": "text", "severity": "fix",
                                      "failed": 1, "fixed": 1, "examples": [{"id": evil, "value": evil}],
                                      "fix_examples": [{"id": "x", "column": "text", "before": evil, "after": "ok"}]}]},
            "label_issues": {"method": {"models": [evil]}, "n_issues": 1,
                             "issues": [{"id": evil, "given": evil, "suggested": "b", "score": 0.9, "content": evil}],
                             "per_class": [{"label": evil, "rows": 2, "issues": 1}],
                             "confusion": {evil: {"b": 1}}}}
    html = render_html(data)
    assert evil not in html and html.count("&lt;script&gt;") >= 6
    assert "→" in html and "50.0%" in html  # a fix before -> after, and the class error rate


def test_suggestions_are_pre_annotations_and_flagged_tasks_say_why(reviewed):
    result, planted = reviewed
    flagged = source.load(result.out_dir, "flagged")
    assert flagged.suggestions == result.out_dir / "label_issues.parquet"
    preds = predictions.load(flagged.suggestions, predictions.label_space(flagged))
    found = pd.read_parquet(flagged.suggestions).set_index("id")
    some = preds.set_index("id").loc[planted["dup_wrong"]]
    assert some["label"] == found.loc[planted["dup_wrong"], "suggested_label"]
    assert some["score"] == pytest.approx(found.loc[planted["dup_wrong"], "confidence"])  # not the issue score
    assert some["model_version"].startswith("label_issues-")
    rows = flagged.rows
    notes = {rid: d["curator_note"] for rid, d in _task_data(rows, rows["text"], predictions.label_space(flagged)).items()}
    assert notes[planted["shouting"]].startswith("flagged: rule:shouting (")
    assert notes[planted["dup_wrong"]].startswith("flagged: label_conflict; label_issue (duplicates carry")
    issue = next(i for i in planted["flipped"] if i in notes)
    assert notes[issue].startswith("flagged: label_issue (given '") and "suggested '" in notes[issue]
    assert notes[issue].endswith(f"current label: {rows.set_index('id').loc[issue, 'label']}")


def test_the_next_run_applies_pulled_annotations(reviewed, tmp_path):
    """A pull leaves annotations beside the output; the next `curator run` relabels from them."""
    result, planted = reviewed
    config, _ = review_run(tmp_path)
    first = curator.run(config)
    target = sorted(planted["flipped"])[0]
    old = first.read("ledger").set_index("id")
    kept = pd.concat([first.read(s) for s in ("train", "val", "test")]).set_index("id")
    new_label = next(k for k in LABELS if k != kept.loc[target, "label"])
    store = AnnotationStore.of(source.sync_dir(first.out_dir), "review")
    store.append(pd.DataFrame({"event": "annotation", "project_id": 1, "project": "review", "task_id": 7,
                               "id": target, "annotation_id": [1, 2], "annotator": ["a@x", "b@x"],
                               "label": new_label, "updated_at": "2026-01-01T00:00:00Z"}), "001")
    second = curator.run(config)
    assert second.report["flow"][1]["name"] == "labelstudio"
    fixed = second.read("ledger")
    fixed = fixed[(fixed["action"] == "fixed") & (fixed["reason"] == "relabel:labelstudio")]
    assert fixed[["id", "old_value", "new_value"]].values.tolist() == [[target, kept.loc[target, "label"], new_label]]
    after = pd.concat([second.read(s) for s in ("train", "val", "test")]).set_index("id")
    assert after.loc[target, "label"] == new_label and target in old.index
