"""How every ``curator`` command fails: a named library error becomes one line on stderr and exit
code 1, Ctrl-C a short note and exit code 130. A bug (any other exception) still shows its
traceback, so it gets reported rather than hidden."""

from __future__ import annotations

import functools
from collections.abc import Callable

import typer
from rich.console import Console
from rich.markup import escape

from .errors import CuratorError

err = Console(stderr=True)


def clean_errors(interrupted: str) -> Callable[[Callable], Callable]:
    """A decorator for commands; ``interrupted`` tells the user what a Ctrl-C left behind."""
    def decorate(fn: Callable) -> Callable:
        @functools.wraps(fn)
        def wrapper(*args, **kwargs):
            try:
                return fn(*args, **kwargs)
            except CuratorError as exc:
                err.print(f"[bold red]error:[/] {escape(str(exc))}", highlight=False, soft_wrap=True)
                raise typer.Exit(1) from None
            except KeyboardInterrupt:
                err.print(f"interrupted: {interrupted}")
                raise typer.Exit(130) from None
        return wrapper
    return decorate
