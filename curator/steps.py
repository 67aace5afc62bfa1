"""Steps and the runner that does their bookkeeping.

A step is a small object with a ``name`` and one method, ``apply(table, ctx)``, that returns a
:class:`StepResult`: which rows it dropped, flagged, fixed or added, each with a stable snake_case
reason. The runner, not the step, removes dropped rows, appends added ones, writes the ledger, keeps
the dropped rows and checks the conservation invariant::

    rows in + rows added == rows out + rows dropped

A violation is a bug in a step and stops the run with :class:`InvariantError`.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any, ClassVar

import pandas as pd

from .engine import Engine
from .engine.local import LocalEngine
from .errors import InvariantError
from .ledger import Ledger, decisions, empty_decisions
from .table import ID, PARENT_ID, isin


@dataclass
class StepResult:
    """What a step decided. Every frame is keyed by ``id``; empty frames mean "nothing"."""

    table: pd.DataFrame | None = None  # the input table with columns added or values fixed
    dropped: pd.DataFrame = field(default_factory=empty_decisions)
    flagged: pd.DataFrame = field(default_factory=empty_decisions)
    fixed: pd.DataFrame = field(default_factory=empty_decisions)  # with column/old_value/new_value
    kept: pd.DataFrame = field(default_factory=empty_decisions)  # explanations for rows kept on purpose
    added: pd.DataFrame | None = None  # new rows, each with parent_id, a `reason` and optionally a `detail`
    #: New rows the step made and threw away at once (an augmentation that failed a check): with
    #: parent_id, reason and detail. They count as added and dropped, so nothing made is unaccounted.
    rejected: pd.DataFrame | None = None
    artifacts: dict[str, Any] = field(default_factory=dict)  # figures and examples for the report
    #: Tables the run directory gains (name -> frame, written as ``<name>.parquet``), for outputs
    #: too large for the report, such as every label-issue suggestion.
    tables: dict[str, pd.DataFrame] = field(default_factory=dict)


@dataclass
class StepStats:
    name: str
    rows_in: int
    added: int
    dropped: int
    rows_out: int
    flagged: int
    fixed: int
    reasons: dict[str, int]
    seconds: float

    def as_dict(self) -> dict:
        return dict(self.__dict__)


@dataclass
class Context:
    """What a step may read besides the table: the run config, seed, dataset root, a clock, and the
    engine its batch functions run on."""

    config: Any
    seed: int = 0
    root: Any = None
    clock: Callable[[], float] = time.perf_counter
    artifacts: dict[str, dict] = field(default_factory=dict)
    tables: dict[str, pd.DataFrame] = field(default_factory=dict)  # steps' extra output tables
    #: Row id -> reason code (``review:keep``, ``review:restore``): a reviewer said keep it, so no step
    #: drops it; the runner records what the step would have done instead.
    protected: dict[str, str] = field(default_factory=dict)
    #: Row ids a reviewer marked "not a duplicate": the dedup steps leave them out of every group.
    not_duplicate: frozenset[str] = frozenset()
    engine: Engine = field(default_factory=LocalEngine)


class Step:
    """Base class: subclasses set ``name`` and implement ``apply``."""

    name: ClassVar[str] = "step"

    def apply(self, table: pd.DataFrame, ctx: Context) -> StepResult:  # pragma: no cover - abstract
        raise NotImplementedError


class Runner:
    """Runs steps in order over a table and owns the ledger, the dropped rows and the stats."""

    def __init__(self, ctx: Context, ledger: Ledger | None = None) -> None:
        self.ctx = ctx
        self.ledger = ledger or Ledger()
        self.stats: list[StepStats] = []
        self._dropped: list[pd.DataFrame] = []

    # -- bookkeeping shared by ingest and every step ------------------------------------------
    def record_dropped(self, step: str, rows: pd.DataFrame, decided: pd.DataFrame) -> None:
        """Keep the full dropped rows (with step and reason) and write them to the ledger."""
        self.ledger.record(step, "dropped", decided)
        if decided.empty:
            return
        why = decided.set_index("id")[["reason", "detail", "related_id"]]
        full = rows.set_index(ID, drop=False).loc[decided["id"].to_numpy()].reset_index(drop=True)
        full = full.drop(columns=[c for c in ("reason", "detail", "related_id", "step") if c in full])
        full["step"] = step
        full[["reason", "detail", "related_id"]] = why.loc[full[ID].to_numpy()].to_numpy()
        self._dropped.append(full)

    def dropped_rows(self) -> pd.DataFrame:
        if not self._dropped:
            return pd.DataFrame({c: pd.Series(dtype=object) for c in (ID, "step", "reason", "detail", "related_id")})
        return pd.concat(self._dropped, ignore_index=True)

    # -- running --------------------------------------------------------------------------------
    def run(self, table: pd.DataFrame, steps: Iterable[Step]) -> pd.DataFrame:
        for step in steps:
            table = self.run_one(table, step)
        return table

    def run_one(self, table: pd.DataFrame, step: Step) -> pd.DataFrame:
        start = self.ctx.clock()
        rows_in = len(table)
        result = step.apply(table, self.ctx)
        if self.ctx.protected:
            spare_protected(result, self.ctx.protected)
        current = table if result.table is None else result.table
        self._check_result(step.name, table, current, result)

        drop_ids = result.dropped["id"]
        out = current[~isin(current[ID], drop_ids)]
        added = result.added if result.added is not None else current.iloc[0:0]
        rejected = result.rejected if result.rejected is not None else current.iloc[0:0]
        if len(added):
            out = pd.concat([out, added.drop(columns=["reason", "detail"], errors="ignore")], ignore_index=True)
        out = out.reset_index(drop=True)

        n_added, n_dropped = len(added) + len(rejected), len(result.dropped) + len(rejected)
        if rows_in + n_added != len(out) + n_dropped:
            raise InvariantError(
                f"step {step.name!r} broke row accounting: {rows_in} in + {n_added} added "
                f"!= {len(out)} out + {n_dropped} dropped")

        self.record_dropped(step.name, current, result.dropped)
        self.ledger.record(step.name, "flagged", result.flagged)
        self.ledger.record(step.name, "fixed", result.fixed)
        self.ledger.record(step.name, "kept", result.kept)
        for made in (added, rejected):
            self._record_added(step.name, made)
        if len(rejected):
            why = rejected["rejected_reason"]
            self.record_dropped(step.name, rejected.drop(columns=["rejected_reason", "rejected_detail"]),
                                pd.DataFrame({"id": rejected[ID].to_numpy(), "reason": why.to_numpy(),
                                              "detail": rejected["rejected_detail"].to_numpy(),
                                              "related_id": rejected[PARENT_ID].to_numpy()}))
        reasons = pd.concat([result.dropped["reason"], result.flagged["reason"], result.fixed["reason"],
                             rejected.get("rejected_reason", pd.Series(dtype=object))])
        self.stats.append(StepStats(
            name=step.name, rows_in=rows_in, added=n_added, dropped=n_dropped, rows_out=len(out),
            flagged=int(result.flagged["id"].nunique()), fixed=int(result.fixed["id"].nunique()),
            reasons={str(k): int(v) for k, v in reasons.value_counts().sort_index().items()},
            seconds=round(self.ctx.clock() - start, 4)))
        if result.artifacts:
            self.ctx.artifacts[step.name] = result.artifacts
        self.ctx.tables.update(result.tables)
        return out

    def _record_added(self, step: str, added: pd.DataFrame) -> None:
        """An ``added`` ledger entry per new row: its reason, its detail and its parent."""
        if not len(added):
            return
        detail = added["detail"] if "detail" in added else "derived from " + added[PARENT_ID].astype(str)
        self.ledger.record(step, "added", pd.DataFrame({
            "id": added[ID].to_numpy(), "reason": added.get("reason", step),
            "detail": pd.Series(detail).to_numpy(), "related_id": added[PARENT_ID].to_numpy()}))

    @staticmethod
    def _check_result(name: str, before: pd.DataFrame, current: pd.DataFrame, result: StepResult) -> None:
        ids = before[ID]
        if len(current) != len(before) or not current[ID].reset_index(drop=True).equals(ids.reset_index(drop=True)):
            raise InvariantError(f"step {name!r} returned a table whose rows differ from its input; "
                                 "drop or add rows through the result instead")
        dropped = result.dropped["id"]
        if dropped.duplicated().any():
            raise InvariantError(f"step {name!r} dropped the same id twice")
        unknown = ~isin(dropped, ids)
        if unknown.any():
            raise InvariantError(f"step {name!r} dropped ids that were not in its input: "
                                 f"{dropped[unknown].head(3).tolist()}")
        new = result.added[ID] if result.added is not None and len(result.added) else ids.iloc[0:0]
        for label, frame in (("flagged", result.flagged), ("fixed", result.fixed)):
            bad = ~(isin(frame["id"], ids) | isin(frame["id"], new))  # a rule may flag or fix a new row too
            if bad.any():
                raise InvariantError(f"step {name!r} {label} ids that were neither in its input nor added: "
                                     f"{frame['id'][bad].head(3).tolist()}")
        made = [f for f in (result.added, result.rejected) if f is not None and len(f)]
        for added in made:
            if PARENT_ID not in added or added[PARENT_ID].isna().any():
                raise InvariantError(f"step {name!r} added rows without a parent_id")
            if not isin(added[PARENT_ID], ids).all():
                raise InvariantError(f"step {name!r} added rows whose parent is not in its input")
        if made:
            new_ids = pd.concat([f[ID] for f in made], ignore_index=True)
            if new_ids.duplicated().any() or isin(new_ids, ids).any():
                raise InvariantError(f"step {name!r} added rows whose ids are not new and unique")
        if result.rejected is not None and len(result.rejected):
            if "rejected_reason" not in result.rejected or "rejected_detail" not in result.rejected:
                raise InvariantError(f"step {name!r} rejected new rows without rejected_reason/rejected_detail")


def spare_protected(result: StepResult, protected: dict[str, str]) -> None:
    """Move the rows a reviewer kept or restored from ``result.dropped`` to ``result.kept``: a
    person's decision outranks a rule or a dedup step, and the ledger says what was overridden."""
    why = result.dropped["id"].map(protected)
    spare = why.notna().to_numpy()
    if not spare.any():
        return
    rows = result.dropped[spare]
    detail = ("kept in review; this step would drop it: " + rows["reason"].astype(str)
              + " (" + rows["detail"].fillna("").astype(str) + ")")
    result.kept = pd.concat([result.kept, decisions(rows["id"], why[spare], detail, rows["related_id"])],
                            ignore_index=True)
    result.dropped = result.dropped[~spare].reset_index(drop=True)
