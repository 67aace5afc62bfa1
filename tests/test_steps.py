"""The runner's bookkeeping: conservation of rows, and loud failures when a step breaks it."""

import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from curator.config import parse_config
from curator.dedup import ExactDedupStep
from curator.errors import InvariantError
from curator.ledger import decisions
from curator.steps import Context, Runner, Step, StepResult
from curator.validate import ValidateStep

from conftest import make_table


class ScriptedStep(Step):
    """Drops, flags and adds exactly what it is told."""

    name = "scripted"

    def __init__(self, drop=(), flag=(), add_parents=()):
        self.drop, self.flag, self.add_parents = list(drop), list(flag), list(add_parents)

    def apply(self, table, ctx):
        added = None
        if self.add_parents:
            parents = table.set_index("id").loc[self.add_parents].reset_index()
            added = parents.assign(parent_id=parents["id"], id=[f"new{i}" for i in range(len(parents))],
                                   reason="scripted:add")
        return StepResult(dropped=decisions(self.drop, "scripted_drop"), flagged=decisions(self.flag, "scripted_flag"),
                          added=added)


def ctx():
    return Context(parse_config({"input": {"path": "x"}}))


@st.composite
def tables_and_scripts(draw):
    n = draw(st.integers(0, 40))
    table = make_table([f"text {i}" for i in range(n)])
    ids = table["id"].tolist()
    drop = draw(st.lists(st.sampled_from(ids), unique=True)) if ids else []
    flag = draw(st.lists(st.sampled_from(ids), unique=True)) if ids else []
    parents = draw(st.lists(st.sampled_from(ids), max_size=10)) if ids else []
    return table, drop, flag, parents


@given(tables_and_scripts())
@settings(max_examples=150, deadline=None)
def test_rows_are_conserved_through_any_step(case):
    table, drop, flag, parents = case
    runner = Runner(ctx())
    out = runner.run(table, [ScriptedStep(drop, flag, parents)])
    stat = runner.stats[0]
    assert stat.rows_in + stat.added == stat.rows_out + stat.dropped
    assert len(out) == len(table) - len(drop) + len(parents)
    assert set(out["id"]) == (set(table["id"]) - set(drop)) | {f"new{i}" for i in range(len(parents))}
    ledger = runner.ledger.to_frame()
    assert sorted(ledger.loc[ledger.action == "dropped", "id"]) == sorted(drop)
    assert (ledger.loc[ledger.action == "added", "related_id"].tolist() == parents)
    assert sorted(runner.dropped_rows()["id"]) == sorted(drop)


texts = st.lists(st.sampled_from(["hello world", "Hello  World", "", "   ", "short", "a longer sentence here",
                                  "café au lait", "cafe\u0301 au lait", "x"]), max_size=30)


@given(texts, st.lists(st.sampled_from(["a", "b", None, "zzz"]), min_size=30, max_size=30),
       st.sampled_from(["flag", "drop", "majority"]))
@settings(max_examples=100, deadline=None)
def test_real_steps_account_for_every_row(texts, labels, policy):
    cfg = parse_config({"input": {"path": "x"}, "labels": ["a", "b"], "rules": ["text-classification"],
                        "steps": {"dedup_exact": {"on_label_conflict": policy}}})
    table = make_table(texts, labels[: len(texts)])
    runner = Runner(Context(cfg))
    out = runner.run(table, [ValidateStep.from_config(cfg), ExactDedupStep.from_config(cfg)])
    dropped = runner.dropped_rows()
    # Every input row is either out or dropped, exactly once.
    assert sorted(out["id"].tolist() + dropped["id"].tolist()) == sorted(table["id"])
    for s in runner.stats:
        assert s.rows_in + s.added == s.rows_out + s.dropped
    # No two kept rows are exact duplicates.
    assert not out["content_hash"].dropna().duplicated().any()


@pytest.mark.parametrize("result, message", [
    (StepResult(dropped=decisions(["nope"], "x")), "dropped ids that were not in its input"),
    (StepResult(dropped=decisions(["r0", "r0"], "x")), "dropped the same id twice"),
    (StepResult(flagged=decisions(["ghost"], "x")), "flagged ids that were neither in its input nor added"),
    (StepResult(added=make_table(["new"]).assign(id="n1", parent_id="r0"), fixed=decisions(["n2"], "x")),
     "fixed ids that were neither in its input nor added"),
    (StepResult(table=make_table(["only one"])), "returned a table whose rows differ"),
    (StepResult(added=make_table(["new"]).assign(id="n1")), "added rows without a parent_id"),
    (StepResult(added=make_table(["new"]).assign(id="r1", parent_id="r0")), "not new and unique"),
    (StepResult(added=make_table(["new"]).assign(id="n1", parent_id="ghost")), "parent is not in its input"),
])
def test_a_broken_step_stops_the_run(result, message):
    class Broken(Step):
        name = "broken"

        def apply(self, table, ctx):
            return result

    with pytest.raises(InvariantError, match=message):
        Runner(ctx()).run(make_table(["one", "two", "three"]), [Broken()])


def test_dropped_rows_keep_their_content_and_reason():
    runner = Runner(ctx())
    runner.run(make_table(["keep me", "drop me"], channel=["web", "chat"]), [ScriptedStep(drop=["r1"])])
    dropped = runner.dropped_rows()
    row = dropped.iloc[0]
    assert (row["id"], row["text"], row["channel"], row["step"], row["reason"]) == \
        ("r1", "drop me", "chat", "scripted", "scripted_drop")
