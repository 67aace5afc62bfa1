"""The step that applies pulled annotations on the next ``curator run``.

It reads the annotation store beside the run's output (``out.labelstudio/``), decides one label
per annotated row with the conflict policy, and returns them as fixes: the ledger records
``relabel:labelstudio`` with the old and new label, so every change can be seen and undone. Rows
whose annotators conflict keep their label and are flagged ``labelstudio_conflict``.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from ..ledger import decisions, fixes
from ..steps import Context, Step, StepResult
from ..table import ID, LABEL, isin
from . import metrics
from .source import project_key
from .state import AnnotationStore, current_view

REASON = "relabel:labelstudio"
CONFLICT = "labelstudio_conflict"


class LabelStudioRelabel(Step):
    """Apply pulled Label Studio annotations as labels."""

    name = "labelstudio"

    def __init__(self, sync_dirs: str | Path | list[str | Path], projects: list[str] | None = None,
                 policy: str = "majority", lead: str | None = None) -> None:
        metrics.resolve(pd.DataFrame(columns=[ID, "annotator", LABEL]), policy, lead)  # a bad policy fails now
        dirs = sync_dirs if isinstance(sync_dirs, list) else [sync_dirs]
        self.sync_dirs, self.projects, self.policy, self.lead = [Path(d) for d in dirs], projects, policy, lead

    @classmethod
    def for_run(cls, settings, out_dir: str | Path, input_path: str | Path | None = None) -> "LabelStudioRelabel | None":
        """The step for a run, or None when nothing was pulled beside its output or input (or
        ``settings.apply_labels`` is off). ``settings`` is a LabelStudioSettings (or None)."""
        from .settings import LabelStudioSettings
        from .source import sync_dir
        settings = settings or LabelStudioSettings()
        places = [sync_dir(Path(out_dir))] + ([sync_dir(Path(input_path))] if input_path is not None else [])
        found = [p for p in dict.fromkeys(places) if p.is_dir()]
        if not settings.apply_labels or not found:
            return None
        return cls(found, policy=settings.policy, lead=settings.lead)

    def annotations(self) -> pd.DataFrame:
        """The current annotations of every store found (one per project and sync dir)."""
        stores = []
        for folder in (d for d in self.sync_dirs if d.is_dir()):
            keys = ([project_key(p) for p in self.projects] if self.projects is not None
                    else sorted(p.name for p in folder.iterdir() if (p / "annotations").is_dir()))
            stores += [folder / key / "annotations" for key in keys]
        frames = [f for f in (AnnotationStore(s).current() for s in stores) if len(f)]
        if not frames:
            return current_view(pd.DataFrame())
        # the same project pulled into two places holds the same annotations twice: count them once
        return pd.concat(frames, ignore_index=True).drop_duplicates(["project_id", "annotation_id"], keep="last")

    def apply(self, table: pd.DataFrame, ctx: Context) -> StepResult:
        found = self.annotations()
        if found.empty:
            return StepResult()
        resolved = metrics.resolve(found, self.policy, self.lead)
        resolved = resolved[isin(resolved[ID].astype(str), table[ID].astype(str))]
        old = table.set_index(table[ID].astype(str))[LABEL]
        resolved = resolved.assign(old=old.reindex(resolved[ID]).to_numpy())
        change = resolved[resolved["label"].notna() & (resolved["label"] != resolved["old"])]
        conflict = resolved[resolved["decision"] == "conflict"]
        detail = (change["decision"] + " of " + change["annotators"].astype(str) + " annotators (" + change["votes"] + ")")
        out = table.copy()
        new_labels = pd.Series(change["label"].to_numpy(), index=change[ID].to_numpy())
        hit = isin(out[ID].astype(str), new_labels.index.to_series())
        out.loc[hit, LABEL] = new_labels.reindex(out.loc[hit, ID].astype(str)).to_numpy()
        return StepResult(
            table=out,
            fixed=fixes(change[ID], LABEL, change["old"], change["label"], REASON, detail),
            flagged=decisions(conflict[ID], CONFLICT, "annotators disagree: " + conflict["votes"]),
            artifacts={"relabelled": int(len(change)), "conflicts": int(len(conflict)),
                       "agreement": metrics.compute(found).overall})
