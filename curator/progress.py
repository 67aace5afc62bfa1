"""Progress bars for long work (rich), off unless a caller turns them on.

The library never prints on its own: the CLI calls ``enable()``; the Python API takes
``progress=True``. Code that loops over chunks wraps them in ``track()``, or opens a ``task()``
and advances it by rows.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterable, Iterator
from typing import TypeVar

T = TypeVar("T")
_enabled = False


def enable(on: bool = True) -> None:
    global _enabled
    _enabled = on


def is_enabled() -> bool:
    return _enabled


@contextlib.contextmanager
def enabled(on: bool = True) -> Iterator[None]:
    global _enabled
    before, _enabled = _enabled, on
    try:
        yield
    finally:
        _enabled = before


class _Task:
    def __init__(self, progress, task_id) -> None:
        self._progress, self._id = progress, task_id

    def advance(self, n: float = 1) -> None:
        if self._progress is not None:
            self._progress.advance(self._id, n)

    def total(self, total: float | None) -> None:
        if self._progress is not None:
            self._progress.update(self._id, total=total)


@contextlib.contextmanager
def task(description: str, total: float | None = None, unit: str = "rows") -> Iterator[_Task]:
    """A progress bar advanced by hand; a no-op when progress is off."""
    if not _enabled:
        yield _Task(None, None)
        return
    from rich.progress import (BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn,
                               TimeRemainingColumn)
    columns = [TextColumn("[bold]{task.description}"), BarColumn(), MofNCompleteColumn(),
               TextColumn(unit), TimeElapsedColumn(), TimeRemainingColumn()]
    with Progress(*columns, transient=False) as progress:
        yield _Task(progress, progress.add_task(description, total=total))


def track(items: Iterable[T], description: str, total: float | None = None, unit: str = "chunks") -> Iterator[T]:
    """Iterate with a progress bar (when enabled)."""
    if total is None and hasattr(items, "__len__"):
        total = len(items)  # type: ignore[arg-type]
    with task(description, total, unit) as t:
        for item in items:
            yield item
            t.advance()
