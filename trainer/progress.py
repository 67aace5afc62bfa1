"""The training progress bar (rich): steps, loss, samples/s, tokens/s and ETA. A no-op when off.

The loop updates the step count every step (host-side numbers only) and the loss at logging
intervals, so the bar never forces a device sync of its own.
"""

from __future__ import annotations

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn


class TrainProgress:
    def __init__(self, enabled: bool, total: int, description: str = "training", start: int = 0) -> None:
        self._progress = None
        self._last: dict[str, float] = {}
        if not enabled:
            return
        columns = [TextColumn("[bold]{task.description}"), BarColumn(), MofNCompleteColumn(), TextColumn("steps"),
                   TextColumn("{task.fields[stats]}"), TimeElapsedColumn(), TextColumn("ETA"), TimeRemainingColumn()]
        self._progress = Progress(*columns, console=Console(stderr=True), transient=False)
        self._task = self._progress.add_task(description, total=total, completed=start, stats="")
        self._progress.start()

    def step(self, n: int = 1) -> None:
        if self._progress is not None:
            self._progress.advance(self._task, n)

    def stats(self, **values: float | None) -> None:
        """Show the latest loss, samples_per_s, tokens_per_s and val_f1 (keeps values not given)."""
        if self._progress is None:
            return
        self._last.update({k: v for k, v in values.items() if v is not None})
        formats = {"loss": "loss {:.4f}", "samples_per_s": "{:,.1f} samples/s", "tokens_per_s": "{:,.0f} tok/s",
                   "val_f1": "val F1 {:.3f}"}
        text = "  ".join(fmt.format(self._last[k]) for k, fmt in formats.items() if self._last.get(k))
        self._progress.update(self._task, stats=text)

    def close(self) -> None:
        if self._progress is not None:
            self._progress.stop()
            self._progress = None
