"""The step that applies a dataset's review decisions on the next ``curator run``.

It runs first (after pulled Label Studio annotations, so a reviewer's word is the last one) and
records every standing decision in the ledger with reason ``review:<action>``:

- ``drop``: the row is dropped here;
- ``relabel``: the label is fixed (old and new value in the ledger);
- ``keep`` and ``restore``: recorded here, and the runner spares the row from any later step that
  would drop it (``Context.protected``), so a rule's false positive survives that rule;
- ``not_duplicate``: the dedup steps leave the row out of every group (``Context.not_duplicate``);
- ``labelstudio``: the row was sent for annotation; flagged until its labels come back.

A decision about an id the table does not hold (changed data, or a row dropped at ingest) is
counted and named in the step's artifacts and the report, never an error.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from ..ledger import decisions, fixes
from ..steps import Context, Step, StepResult
from ..table import ID, LABEL, isin
from .decisions import DecisionLog, decisions_path

MAX_NAMED = 20


def reason(action: str) -> str:
    return f"review:{action}"


class ReviewStep(Step):
    """Apply the standing decisions of ``decisions.jsonl``."""

    name = "review"

    def __init__(self, log: DecisionLog) -> None:
        self.log = log
        self.standing = log.effective()

    @classmethod
    def for_run(cls, input_path: str | Path) -> "ReviewStep | None":
        """The step for a run, or None when the dataset has no decisions file."""
        path = decisions_path(input_path)
        return cls(DecisionLog(path)) if path.is_file() else None

    def protected(self) -> dict[str, str]:
        """Row id -> ``review:keep`` / ``review:restore``, for ``Context.protected``."""
        fate = self.standing["fate"]
        kept = fate[fate.isin(["keep", "restore"])]
        return dict(zip(kept.index, "review:" + kept))

    def not_duplicate(self) -> frozenset[str]:
        return frozenset(self.standing.index[self.standing["not_duplicate"].to_numpy(bool)])

    def apply(self, table: pd.DataFrame, ctx: Context) -> StepResult:
        standing = self.standing
        known = isin(standing.index.to_series(), table[ID].astype(str))
        unknown = standing.index[~known]
        d = standing[known]
        note = (": " + d["note"].fillna("")).where(d["note"].fillna("").ne(""), "")

        dropped = d[d["fate"] == "drop"]
        old = table.set_index(table[ID].astype(str))[LABEL]
        relabel = d[d["label"].notna()].assign(old=lambda f: old.reindex(f.index).to_numpy())
        relabel = relabel[relabel["label"] != relabel["old"]]
        out = table.copy()
        hit = isin(out[ID].astype(str), relabel.index.to_series())
        out.loc[hit, LABEL] = relabel["label"].reindex(out.loc[hit, ID].astype(str)).to_numpy()

        kept = [decisions(d.index[d["fate"] == fate], reason(fate), f"{fate} in review" + note[d["fate"] == fate])
                for fate in ("keep", "restore")]
        apart = d[d["not_duplicate"].to_numpy(bool)]
        kept.append(decisions(apart.index, reason("not_duplicate"), "not a duplicate (review)" + note[apart.index]))
        sent = d[d["labelstudio"].to_numpy(bool)]
        artifacts = {"decisions_file": str(self.log.path), "rows_decided": int(len(standing)),
                     "dropped": int(len(dropped)), "relabelled": int(len(relabel)),
                     "kept": int((d["fate"] == "keep").sum()), "restored": int((d["fate"] == "restore").sum()),
                     "not_duplicate": int(len(apart)), "sent_to_labelstudio": int(len(sent)),
                     "unknown_ids": int(len(unknown)), "unknown_examples": unknown[:MAX_NAMED].tolist()}
        if len(unknown):
            artifacts["warning"] = (f"{len(unknown)} review decision(s) in {self.log.path} name ids this run does "
                                    f"not hold (changed data, or dropped at ingest), e.g. {unknown[0]}")
        return StepResult(
            table=out,
            dropped=decisions(dropped.index, reason("drop"), "dropped in review" + note[dropped.index]),
            fixed=fixes(relabel.index, LABEL, relabel["old"], relabel["label"], reason("relabel"),
                        "relabelled in review" + note[relabel.index]),
            kept=pd.concat(kept, ignore_index=True),
            flagged=decisions(sent.index, reason("labelstudio"), "sent to Label Studio for annotation"),
            artifacts=artifacts)
