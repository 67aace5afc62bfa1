"""decisions.jsonl and the review step: append-only, atomic, undo as a decision, applied by `curator run`."""

from __future__ import annotations

import json
import re
import threading
import time

import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from curator.pipeline import run
from curator.review.decisions import DecisionError, DecisionLog, decisions_path

ROWS = [
    {"id": "a1", "text": "my card was charged twice for one order", "label": "billing"},
    {"id": "a2", "text": "my card was charged twice for one order", "label": "billing"},  # exact copy of a1
    {"id": "a3", "text": "the parcel never arrived at my address", "label": "shipping"},
    {"id": "a4", "text": "ok", "label": "shipping"},  # dropped by min_length
    {"id": "a5", "text": "I cannot log in to my account since Monday", "label": "account"},
    {"id": "a6", "text": "the screen of the tablet arrived cracked", "label": "product_defect"},
]
RULES = "rules:\n  - check: min_length\n    field: text\n    params: {chars: 8, words: 2}\n    severity: error\n"


def make_log(path) -> DecisionLog:
    ticks, batches = iter(range(10**6)), iter(range(10**6))
    return DecisionLog(path, clock=lambda: f"t{next(ticks)}", new_batch=lambda: f"b{next(batches)}")


def test_append_read_and_undo_only_ever_grow_the_file(tmp_path):
    log = make_log(tmp_path / "decisions.jsonl")
    log.append(["a1", "a2"], "drop", note="spam")
    log.append(["a3"], "relabel", "billing")
    before = log.path.read_bytes()
    assert log.undo() == ("b1", ["a3"])
    after = log.path.read_bytes()
    assert after.startswith(before) and len(after.splitlines()) == 4
    last = json.loads(after.splitlines()[-1])
    assert last == {"id": "a3", "action": "undo", "value": "b1", "time": "t2", "note": None, "batch": "b2"}
    standing = log.effective()
    assert standing.loc["a1", "fate"] == "drop" and standing.loc["a1", "note"] == "spam"
    assert "a3" not in standing.index  # its only decision was undone
    assert log.undo()[1] == ["a1", "a2"]
    assert log.undo() is None and log.effective().empty


def test_bad_decisions_are_refused_before_writing(tmp_path):
    log = make_log(tmp_path / "decisions.jsonl")
    with pytest.raises(DecisionError, match="expected one of keep, drop"):
        log.append(["a1"], "delete")
    with pytest.raises(DecisionError, match="relabel: expected a label"):
        log.append(["a1"], "relabel")
    with pytest.raises(DecisionError, match="at least one row id"):
        log.append([], "drop")
    assert not log.path.exists()


def test_a_torn_last_line_is_skipped_and_the_next_append_starts_a_new_line(tmp_path):
    log = make_log(tmp_path / "decisions.jsonl")
    log.append(["a1"], "drop")
    with open(log.path, "ab") as fh:
        fh.write(b'{"id": "a2", "act')  # a writer killed mid-line
    assert log.read()["id"].tolist() == ["a1"]
    log.append(["a3"], "keep")
    assert log.read()["id"].tolist() == ["a1", "a3"]
    with pytest.raises(DecisionError, match="decisions.jsonl"):
        log.path.write_text('{"id": "a1", "action": "explode"}\n')
        log.read()


def test_concurrent_appends_never_interleave(tmp_path):
    path = tmp_path / "decisions.jsonl"
    ids = [f"row-{i:04d}-" + "x" * 200 for i in range(40)]  # long lines: torn writes would show

    def writer(k: int) -> None:
        log = DecisionLog(path)
        for _ in range(25):
            log.append(ids, "keep", note=f"writer {k}")

    threads = [threading.Thread(target=writer, args=(k,)) for k in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    lines = path.read_bytes().splitlines()
    assert len(lines) == 6 * 25 * 40
    frame = DecisionLog(path).read()
    assert frame.groupby("batch")["id"].apply(list).map(lambda b: b == ids).all()  # each batch contiguous, whole


def test_concurrent_undos_revert_different_batches(tmp_path):
    path = tmp_path / "decisions.jsonl"
    batches = iter(range(10**6))

    def new_batch() -> str:  # one sequence for every log, so no two batches share an id
        return f"b{next(batches)}"

    log = DecisionLog(path, new_batch=new_batch)
    for k in range(8):
        log.append([f"a{k}"], "drop")

    def slow_clock() -> str:  # widens the gap between choosing a batch and appending its undo
        time.sleep(0.05)
        return "t"

    undone = []
    start = threading.Barrier(6)

    def undo() -> None:
        start.wait()
        undone.append(DecisionLog(path, clock=slow_clock, new_batch=new_batch).undo())

    threads = [threading.Thread(target=undo) for _ in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(batch for batch, _ in undone) == [f"b{k}" for k in range(2, 8)]
    assert sorted(log.effective().index) == ["a0", "a1"]


ACTION = st.sampled_from(["keep", "drop", "restore", "relabel", "not_duplicate", "undo"])


@settings(max_examples=60, deadline=None)
@given(st.lists(st.tuples(ACTION, st.sets(st.sampled_from(["a", "b", "c"]), min_size=1),
                          st.sampled_from(["x", "y"])), max_size=12))
def test_standing_decisions_match_a_simple_replay(tmp_path_factory, steps):
    """The vectorised view equals replaying the batches one by one, an undo popping the latest live batch."""
    log = make_log(tmp_path_factory.mktemp("log") / "decisions.jsonl")
    live: list[tuple[str, list[str], str | None]] = []
    for action, ids, value in steps:
        if action == "undo":
            if log.undo() is not None:
                live.pop()
            continue
        log.append(sorted(ids), action, value if action == "relabel" else None)
        live.append((action, sorted(ids), value if action == "relabel" else None))
    expect: dict[str, dict] = {}
    for action, ids, value in live:
        for i in ids:
            row = expect.setdefault(i, {"fate": None, "label": None, "not_duplicate": False})
            if action in ("keep", "drop", "restore"):
                row["fate"] = action
            elif action == "relabel":
                row["label"] = value
            else:
                row["not_duplicate"] = True
    got = log.effective()
    assert sorted(got.index) == sorted(expect)
    for i, row in expect.items():
        assert got.loc[i, "fate"] == row["fate"] and got.loc[i, "label"] == row["label"]
        assert bool(got.loc[i, "not_duplicate"]) == row["not_duplicate"]


# -- applied by the next run ---------------------------------------------------------------------

@pytest.fixture
def reviewed(tmp_path, text_run):
    (tmp_path / "rules.yaml").write_text(RULES, encoding="utf-8")
    config = text_run(ROWS, columns={"id": "id"}, rules=["rules.yaml"],
                      steps={"label_issues": {"enabled": False}, "dedup_near": {"enabled": False}})
    first = run(config)
    return config, first, DecisionLog(decisions_path(tmp_path / "data.csv"))


def _reasons(result) -> dict[str, str]:
    ledger = result.read("ledger")
    mine = ledger[ledger["reason"].str.startswith("review:")]
    return mine.groupby("id")["reason"].apply(lambda r: ",".join(sorted(set(r)))).to_dict()


def test_the_next_run_applies_drop_relabel_restore_keep_and_not_duplicate(reviewed):
    config, first, log = reviewed
    assert log.path == config.parent / "decisions.jsonl"
    dropped = first.read("dropped").set_index("id")["reason"]
    assert dropped.to_dict() == {"a2": "exact_duplicate", "a4": "rule:min_length"}
    log.append(["a3"], "drop", note="not a real ticket")
    log.append(["a5"], "relabel", "billing")
    log.append(["a4"], "restore")
    log.append(["a2"], "not_duplicate")
    log.append(["a6"], "keep")
    log.append(["gone"], "drop")  # an id the data no longer has: reported, not fatal
    second = run(config)

    kept = pd.concat([second.read(s) for s in ("train", "val", "test")]).set_index("id")
    assert set(kept.index) == {"a1", "a2", "a4", "a5", "a6"}
    assert kept.loc["a5", "label"] == "billing"
    assert second.read("dropped").set_index("id")["reason"].to_dict() == {"a3": "review:drop"}
    assert _reasons(second) == {"a2": "review:not_duplicate", "a3": "review:drop", "a4": "review:restore",
                                "a5": "review:relabel", "a6": "review:keep"}
    ledger = second.read("ledger")
    spared = ledger[(ledger["step"] == "validate") & (ledger["id"] == "a4")].iloc[0]
    assert spared["action"] == "kept" and "rule:min_length" in spared["detail"]
    fix = ledger[ledger["reason"] == "review:relabel"].iloc[0]
    assert (fix["old_value"], fix["new_value"]) == ("account", "billing")
    assert "not a real ticket" in ledger.loc[ledger["reason"] == "review:drop", "detail"].iloc[0]
    review = second.report["review"]
    assert review["unknown_ids"] == 1 and review["unknown_examples"] == ["gone"] and "gone" in review["warning"]
    html = second.paths["report.html"].read_text()
    section = html[html.index('<section id="review">'):]
    section = section[:section.index("</section>")]
    assert "decisions.jsonl" in section and "gone" in section
    cells = re.findall(r'<td class="n[^"]*">([\d,]+)</td>', section)  # dropped .. unknown ids
    assert cells == ["1", "1", "1", "1", "1", "0", "1"]

    third = run(config, out=config.parent / "again")  # the same decisions give the same bytes
    for name in ("train", "val", "test", "dropped"):
        assert third.paths[f"{name}.parquet"].read_bytes() == second.paths[f"{name}.parquet"].read_bytes()


def test_an_undone_decision_is_not_applied(reviewed):
    config, _, log = reviewed
    log.append(["a3"], "drop")
    log.undo()
    result = run(config)
    assert "a3" not in set(result.read("dropped")["id"]) and _reasons(result) == {}


def test_not_a_duplicate_splits_a_near_cluster_on_the_next_run(tmp_path, text_run):
    rows = [{"id": "n1", "text": "the courier left my parcel at the wrong house again today", "label": "shipping"},
            {"id": "n2", "text": "the courier left my parcel at the wrong house again today!", "label": "shipping"},
            {"id": "n3", "text": "please reset the password of my account, I am locked out", "label": "account"}]
    config = text_run(rows, columns={"id": "id"}, steps={"label_issues": {"enabled": False},
                                                         "dedup_near": {"shingle": "char", "n": 5, "threshold": 0.7}})
    first = run(config)
    assert first.read("dropped").set_index("id")["reason"].to_dict() == {"n2": "near_duplicate"}
    DecisionLog(decisions_path(tmp_path / "data.csv")).append(["n2"], "not_duplicate", note="different order")
    second = run(config)
    kept = pd.concat([second.read(s) for s in ("train", "val", "test")]).set_index("id")
    assert sorted(kept.index) == ["n1", "n2", "n3"] and kept["cluster"].isna().all()
    assert _reasons(second) == {"n2": "review:not_duplicate"}
