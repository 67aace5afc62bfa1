"""Interactive review: a local page over a run's findings (``curator review RUN_DIR``), whose
decisions are appended to ``decisions.jsonl`` beside the dataset and applied by the next run."""

from .decisions import DecisionLog, decisions_path

__all__ = ["DecisionLog", "decisions_path"]
