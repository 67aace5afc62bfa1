"""The ``curator`` command line. Each command parses its arguments, calls one public function and
prints the result; library errors become one clear line on stderr and exit code 1."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Optional

import typer
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from . import progress
from .cli_errors import clean_errors
from .config import starter_config
from .errors import CuratorError

app = typer.Typer(add_completion=False, no_args_is_help=True, rich_markup_mode=None,
                  help="Curate a raw text or image dataset into leak-free splits with an audit report.")
out = Console()


_clean_errors = clean_errors("the previous output directory is unchanged")


@app.command()
@_clean_errors
def init(
    path: Path = typer.Argument(Path("curator.yaml"), help="Where to write the starter config."),
    modality: str = typer.Option("text", "--modality", "-m", help="text or image"),
    force: bool = typer.Option(False, "--force", help="Overwrite an existing file."),
) -> None:
    """Write a commented starter curator.yaml.

    Example: curator init --modality image my-run.yaml
    """
    text = starter_config(modality)
    if path.exists() and not force:
        raise CuratorError(f"{path}: already exists (use --force to overwrite)")
    path.write_text(text, encoding="utf-8")
    out.print(f"wrote {path}: edit input.path and labels, then run: curator run {path}")


@app.command()
@_clean_errors
def run(
    config: Path = typer.Argument(..., help="The run's curator.yaml."),
    out_dir: Optional[Path] = typer.Option(None, "--out", "-o", help="Output directory (default: output.dir)."),
    quiet: bool = typer.Option(False, "--quiet", "-q", help="No progress bars."),
    engine: Optional[str] = typer.Option(None, "--engine", help="local or ray (default: the config's engine)."),
    address: Optional[str] = typer.Option(None, "--address", help="Ray cluster address (default: a local Ray)."),
) -> None:
    """Run the curation job: ingest, validate, dedup, split, export, report.

    Example: curator run sample_data/text/curator.yaml --out out/ --engine ray
    """
    from .pipeline import run as run_pipeline

    progress.enable(not quiet)
    result = run_pipeline(config, out=out_dir, engine=engine, address=address)
    table = Table(title="curator run", show_header=True)
    table.add_column("stage")
    for col in ("in", "dropped", "flagged", "out"):
        table.add_column(col, justify="right")
    for step in result.report["flow"]:
        table.add_row(step["name"], f"{step['rows_in']:,}", f"{step['dropped']:,}", f"{step['flagged']:,}",
                      f"{step['rows_out']:,}")
    out.print(table)
    splits = ", ".join(f"{name} {result.counts[name]:,}" for name in result.report["splits"])
    out.print(f"splits: {splits}")
    review = result.report.get("review")
    if review:
        out.print(f"review decisions applied from {review['decisions_file']}: {review['rows_decided']:,} rows"
                  + (f"; {review['warning']}" if review.get("warning") else ""), highlight=False)
    out.print(f"report: {result.out_dir / 'report.html'}")
    out.print(f"output: {result.out_dir}")


@app.command()
@_clean_errors
def inspect(
    dataset: Path = typer.Argument(..., help="A CSV/TSV/JSONL/Parquet file, HF dataset dir or image folder."),
    modality: Optional[str] = typer.Option(None, "--modality", "-m", help="text or image (guessed if omitted)"),
    text: Optional[str] = typer.Option(None, "--text", help="The text column (default: text)."),
    image: Optional[str] = typer.Option(None, "--image", help="An image manifest's path column (default: image)."),
    label: str = typer.Option("label", "--label", help="The label column."),
    id_col: Optional[str] = typer.Option(None, "--id", help="The id column, if the data has one."),
    fmt: str = typer.Option("auto", "--format", help="csv, tsv, jsonl, parquet, hf, imagefolder, labelstudio"),
    encoding: str = typer.Option("utf-8", "--encoding", help="Text encoding of CSV/TSV/JSONL (input.encoding)."),
    as_json: bool = typer.Option(False, "--json", help="Print the profile as JSON."),
) -> None:
    """Profile a raw dataset: rows, labels, lengths, duplicates, missing values.

    Example: curator inspect sample_data/text/tickets.csv
    """
    from .profiling import inspect_dataset

    profile = inspect_dataset(dataset, modality=modality, format=fmt, text=text, image=image, label=label,
                              id=id_col, encoding=encoding)
    if as_json:
        sys.stdout.write(json.dumps(profile, indent=2, sort_keys=True) + "\n")
        return
    out.print(f"[bold]{escape(profile['path'])}[/] ({profile['modality']}): {profile['rows']:,} rows readable "
              f"of {profile['rows_read']:,}", highlight=False)
    for title, values in (("unreadable rows", profile["unreadable"]), ("labels", profile["labels"]),
                          ("missing values", profile["missing"]), ("exact duplicates", profile["exact_duplicates"]),
                          ("text lengths", profile.get("lengths", {})), ("image sizes", profile.get("image_sizes", {}))):
        if not values:
            continue
        t = Table(title=title, show_header=False, title_justify="left")
        t.add_column("key")
        t.add_column("value", justify="right")
        for key, value in values.items():
            t.add_row(str(key), f"{value:,}" if isinstance(value, int) else str(value))
        out.print(t)


@app.command()
@_clean_errors
def review(
    run_dir: Path = typer.Argument(..., help="A run directory written by `curator run`."),
    host: str = typer.Option("127.0.0.1", "--host", help="Interface to listen on (loopback by default)."),
    port: int = typer.Option(0, "--port", help="Port to listen on (0: any free port)."),
    project: str = typer.Option("curator review", "--project", help="Label Studio project rows are sent to."),
) -> None:
    """Review a run's findings in a local web page; the decisions apply on the next `curator run`.

    Example: curator review demo_out/text --port 8765
    """
    from .review.server import serve

    def ready(url: str) -> None:
        out.print(f"review page (Ctrl+C to stop): {url}", highlight=False, soft_wrap=True)

    serve(run_dir, host=host, port=port, project=project, on_ready=ready)


@app.command()
@_clean_errors
def augment(
    source: Path = typer.Argument(..., help="A run directory (its train split) or a dataset file (with --config)."),
    out_dir: Path = typer.Option(..., "--out", "-o", help="Directory to write (augmented.parquet, ledger, images)."),
    config: Optional[Path] = typer.Option(None, "--config", "-c", help="curator.yaml with augment:/rebalance:."),
    augmenter: Optional[list[str]] = typer.Option(None, "--augmenter", "-a", help="Text augmenter (repeat for a flow)."),
    copies: Optional[int] = typer.Option(None, "--copies", help="New rows per row."),
    preset: Optional[str] = typer.Option(None, "--preset", help="Image preset: light, medium or heavy."),
    seed: Optional[int] = typer.Option(None, "--seed", help="Seed (default: the config's)."),
    quiet: bool = typer.Option(False, "--quiet", "-q", help="No progress bars."),
) -> None:
    """Augment (and rebalance, if the config says so) a dataset or a run's train split, on its own.

    Example: curator augment out/ --augmenter keyboard --augmenter word_swap --copies 2 --out out-aug/
    """
    from .augment.api import augment_dataset

    progress.enable(not quiet)
    result = augment_dataset(source, out=out_dir, config=config, augmenters=augmenter, copies=copies,
                             preset=preset, seed=seed)
    c = result.counts
    out.print(f"{c['rows_in']:,} rows in, {c['rows_added']:,} added, {c['rows_dropped']:,} dropped, "
              f"{c['rows_out']:,} out")
    out.print(f"output: {result.out_dir}")


def _mount_labelstudio() -> None:
    from .labelstudio.cli import labelstudio_app
    app.add_typer(labelstudio_app, name="labelstudio")


_mount_labelstudio()

dedup_app = typer.Typer(no_args_is_help=False, rich_markup_mode=None)
app.add_typer(dedup_app, name="dedup")


def _near_config(command: str, **options):
    """A ``steps.dedup_near`` config from command options; a bad value is one line naming its option."""
    from pydantic import ValidationError

    from .config import NearDedupConfig

    try:
        return NearDedupConfig(**options)
    except ValidationError as exc:
        first = exc.errors()[0]
        raise CuratorError(f"{command}: --{first['loc'][0]}: {first['msg']}, got {first['input']!r}") from None


@dedup_app.callback(invoke_without_command=True)
@_clean_errors
def dedup(
    ctx: typer.Context,
    data: Optional[Path] = typer.Option(None, "--data", help="The text dataset to check (CSV, JSONL, Parquet...)."),
    against: Optional[Path] = typer.Option(None, "--against", help="Reference dataset, or an index saved by --save-index."),
    out_file: Optional[Path] = typer.Option(None, "--out", "-o", help="Write the clean rows here (.parquet)."),
    save_index: Optional[Path] = typer.Option(None, "--save-index", help="Save the reference's signatures (.npz) for reuse."),
    threshold: float = typer.Option(0.8, "--threshold", help="Similarity at or above which a row is a match."),
    measure: str = typer.Option("jaccard", "--measure", help="jaccard (resemblance) or containment"),
    shingle: str = typer.Option("word", "--shingle", help="word or char n-grams"),
    n: int = typer.Option(5, "--n", help="Shingle size."),
    text: Optional[str] = typer.Option(None, "--text", help="The text column of both datasets (default: text)."),
) -> None:
    """Remove rows that near-duplicate another dataset (decontamination); `calibrate` picks a threshold.

    Example: curator dedup --data train.csv --against benchmark_test.csv --save-index bench.npz --out clean.parquet
    """
    if ctx.invoked_subcommand is not None:
        return
    from .decontaminate import decontaminate

    if data is None or against is None:
        raise CuratorError("dedup: expected --data DATASET and --against REFERENCE (or a subcommand: calibrate)")
    params = _near_config("dedup", threshold=threshold, measure=measure, shingle=shingle, n=n)
    result = decontaminate(data, against, params, text=text, save_index=save_index)
    out.print(f"{len(result.matches):,} of {len(result.matches) + len(result.kept):,} rows match the reference "
              f"({measure} >= {threshold})")
    for name, bad in ((data, result.dropped), (against, result.reference_dropped)):
        if len(bad):
            reasons = ", ".join(f"{r} {n:,}" for r, n in bad["reason"].value_counts().sort_index().items())
            rows = "row" if len(bad) == 1 else "rows"
            out.print(f"{name}: {len(bad):,} unreadable {rows} left out ({reasons})", highlight=False, soft_wrap=True)
    if result.index_path:
        out.print(f"reference index: {result.index_path}")
    if out_file is not None:
        from .export import write_parquet
        matches, dropped = (out_file.with_name(f"{out_file.stem}.{kind}.parquet") for kind in ("matches", "dropped"))
        out_file.parent.mkdir(parents=True, exist_ok=True)
        write_parquet(result.kept, out_file)
        write_parquet(result.matches, matches)
        write_parquet(result.dropped, dropped)
        out.print(f"clean rows: {out_file}; matches: {matches}; unreadable rows: {dropped}", highlight=False,
                  soft_wrap=True)


@dedup_app.command("calibrate")
@_clean_errors
def dedup_calibrate(
    pairs: Path = typer.Argument(..., help="CSV with columns text_a, text_b, duplicate (yes/no)."),
    shingle: str = typer.Option("word", "--shingle", help="word or char n-grams"),
    n: int = typer.Option(5, "--n", help="Shingle size."),
) -> None:
    """Precision and recall per threshold on pairs a person labelled, and the threshold to use.

    Example: curator dedup calibrate labelled_pairs.csv --shingle char --n 5
    """
    from .decontaminate import minhash_params
    from .near.calibrate import calibrate, read_pairs

    if not pairs.is_file():
        raise CuratorError(f"{pairs}: file not found")
    params = minhash_params(_near_config("dedup calibrate", shingle=shingle, n=n))  # the step's normalisation
    result = calibrate(read_pairs(pairs), params)
    t = Table(title=f"{pairs.name}: {len(result.pairs)} labelled pairs")
    for col in result.table.columns:
        t.add_column(str(col), justify="right")
    for row in result.table.itertuples(index=False):
        t.add_row(*(f"{v:.3f}" if isinstance(v, float) else str(v) for v in row))
    out.print(t)
    if result.threshold is None:
        out.print(f"no threshold separates these pairs: every pair labelled duplicate scores below "
                  f"{result.table['threshold'].min():.2f}", soft_wrap=True)
    else:
        out.print(f"suggested threshold: {result.threshold:.2f}")


def main() -> None:
    app()


if __name__ == "__main__":
    main()
