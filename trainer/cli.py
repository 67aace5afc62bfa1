"""The ``curator-train`` command line (also ``python -m trainer``).

    curator-train RUN_DIR --model NAME_OR_PATH [--task text|image] [options]
    curator-train search RUN_DIR --model NAME_OR_PATH --trials 20 [options]

Every training option is a flag, generated from ``TrainConfig`` so the CLI and the Python API cannot
drift apart; ``--config FILE`` reads the same options from YAML (flags win). Errors are one line
on stderr and exit code 1.
"""

from __future__ import annotations

import functools
import inspect
import json
import sys
import types
import typing
from pathlib import Path
from typing import Literal, Optional

import typer
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from .config import TrainConfig
from .errors import TrainerError

out = Console()
err = Console(stderr=True)
train_app = typer.Typer(add_completion=False, rich_markup_mode=None)
search_app = typer.Typer(add_completion=False, rich_markup_mode=None)


def _clean_errors(fn):
    """Turn the trainer's named errors into one line and exit code 1; bugs still show a traceback."""
    @functools.wraps(fn)
    def wrapper(*args, **kwargs):
        try:
            return fn(*args, **kwargs)
        except TrainerError as exc:
            err.print(f"[bold red]error:[/] {escape(str(exc))}", highlight=False, soft_wrap=True)
            raise typer.Exit(1) from None
        except KeyboardInterrupt:
            err.print("interrupted: the last checkpoint is kept; run again with --resume to continue")
            raise typer.Exit(130) from None
    return wrapper


def _option(name: str, field) -> inspect.Parameter:
    """A typer option for one TrainConfig field (default None: 'not given', so YAML values stand)."""
    flag = "--" + name.replace("_", "-")
    ann = field.annotation
    base = ann
    if typing.get_origin(ann) in (typing.Union, types.UnionType):
        base = next(a for a in typing.get_args(ann) if a is not type(None))
    help_text = field.description or name.replace("_", " ")
    if typing.get_origin(base) is Literal:
        choices = typing.get_args(base)
        help_text += f" [{'|'.join(map(str, choices))}]"
        kind, decl = Optional[str], [flag]
    elif base is bool:
        kind, decl = Optional[bool], [f"{flag}/--no-{flag[2:]}"]
    elif typing.get_origin(base) is list:
        kind, decl = Optional[list[str]], [flag]
        help_text += " (repeat the flag for several)"
    else:
        kind, decl = Optional[base], [flag]
    if field.default is not None and not field.is_required():
        help_text += f" (default: {field.default})"
    return inspect.Parameter(name, inspect.Parameter.KEYWORD_ONLY, annotation=kind,
                             default=typer.Option(None, *decl, help=help_text, show_default=False))


def _with_train_options(fn):
    """Give ``fn`` one flag per TrainConfig field; they arrive in ``**options``."""
    sig = inspect.signature(fn)
    fixed = [p for p in sig.parameters.values() if p.kind is not inspect.Parameter.VAR_KEYWORD]
    generated = [_option(name, f) for name, f in TrainConfig.model_fields.items()]
    fn.__signature__ = sig.replace(parameters=fixed + generated)
    return fn


def _summary(result) -> None:
    m = result.metrics
    table = Table(title=f"curator-train: {m['model']} ({m['mode']})")
    for col in ("split", "rows", "accuracy", "macro-F1", "majority acc", "majority F1"):
        table.add_column(col, justify="left" if col == "split" else "right")
    base = m["baseline"]["majority"]
    for name in ("val", "test", "oof"):
        if name in m and m[name].get("rows"):
            b = base.get(name, {})
            table.add_row(name, f"{m[name]['rows']:,}", f"{m[name]['accuracy']:.4f}", f"{m[name]['macro_f1']:.4f}",
                          f"{b['accuracy']:.4f}" if b else "", f"{b['macro_f1']:.4f}" if b else "")
    out.print(table)
    t = m["training"]
    speed = f"{t['samples_per_s']:,.1f} samples/s" if t["samples_per_s"] else ""
    if t["tokens_per_s"]:
        speed += f", {t['tokens_per_s']:,.0f} tokens/s"
    stop = " (stopped early)" if t["stopped_early"] else ""
    out.print(f"steps {t['steps']}{stop}, best step {t['best_step']}, {t['train_seconds']:.1f} s training, {speed}; "
              f"{t['device']} {t['precision']}, attention {t['attention']}")
    if base.get("label") is not None:
        out.print(f"majority baseline: always '{escape(str(base['label']))}'")
    for key in ("model", "metrics", "predictions", "train_log"):
        out.print(f"{key}: {result.paths[key]}")


@train_app.command()
@_clean_errors
@_with_train_options
def train(
    run_dir: Path = typer.Argument(..., help="A curator run directory (with manifest.json)."),
    config: Optional[Path] = typer.Option(None, "--config", "-c", help="YAML file of training options; flags win."),
    quiet: bool = typer.Option(False, "--quiet", "-q", help="No progress bar."),
    as_json: bool = typer.Option(False, "--json", help="Print metrics.json instead of the summary."),
    **options,
) -> None:
    """Fine-tune a transformers classifier on a curator run's splits.

    Example: curator-train out/ --model sentence-transformers/all-MiniLM-L6-v2 --epochs 2 --mode lora

    Also: curator-train search RUN_DIR --model M --trials 20 (see curator-train search --help).
    """
    from .api import train as train_api

    given = {k: v for k, v in options.items() if v is not None}     # flags not given leave YAML values
    result = train_api(run_dir, config=config, progress=not quiet and not as_json, **given)
    if as_json:
        out.print_json(json.dumps(result.metrics))
    else:
        _summary(result)


@search_app.command()
@_clean_errors
@_with_train_options
def search(
    run_dir: Path = typer.Argument(..., help="A curator run directory (with manifest.json)."),
    trials: int = typer.Option(20, "--trials", help="The trial budget."),
    timeout: Optional[float] = typer.Option(None, "--timeout", help="Stop starting trials after this many seconds."),
    pruning: bool = typer.Option(True, "--pruning/--no-pruning", help="Stop trials below the median early."),
    space: Optional[Path] = typer.Option(None, "--space", help="YAML file of ranges: lr, batch_size, epochs, "
                                         "warmup_ratio, dropout, freeze_layers."),
    config: Optional[Path] = typer.Option(None, "--config", "-c", help="YAML file of base training options."),
    quiet: bool = typer.Option(False, "--quiet", "-q", help="No progress bars."),
    **options,
) -> None:
    """Search learning rate, batch size, epochs, warmup, dropout and freeze depth with optuna.

    Example: curator-train search out/ --model sentence-transformers/all-MiniLM-L6-v2 --trials 20 --max-steps 200

    Writes trials.csv, best_config.yaml and search.json (default: <run_dir>-search/).
    """
    from .hpsearch import search as search_api

    given = {k: v for k, v in options.items() if v is not None}
    result = search_api(run_dir, trials=trials, timeout=timeout, pruning=pruning, space=space, config=config,
                        progress=not quiet, **given)
    table = Table(title=f"search: best val macro-F1 {result.best_value:.4f}")
    table.add_column("option")
    table.add_column("value", justify="right")
    for key, value in result.best_params.items():
        table.add_row(key, f"{value:.3g}" if isinstance(value, float) else str(value))
    out.print(table)
    states = result.trials["state"].value_counts().to_dict()
    out.print(f"trials: {', '.join(f'{v} {k.lower()}' for k, v in states.items())}")
    for key, path in result.paths.items():
        out.print(f"{key}: {path}")
    out.print(f"train with it: curator-train {run_dir} --config {result.paths['best_config']}")


def main(argv: list[str] | None = None) -> None:
    """Entry point: ``curator-train search ...`` runs the search; anything else trains."""
    args = list(sys.argv[1:] if argv is None else argv)
    if args and args[0] == "search":
        search_app(args=args[1:], prog_name="curator-train search")
    else:
        if args and args[0] == "train":
            args = args[1:]
        train_app(args=args, prog_name="curator-train")
