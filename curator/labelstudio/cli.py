"""``curator labelstudio ...``: thin commands over the Python API. Errors are one line on stderr and
exit code 1; the token is never printed."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Optional

import typer
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from .. import progress
from ..cli_errors import clean_errors, err

labelstudio_app = typer.Typer(add_completion=False, no_args_is_help=True, rich_markup_mode=None,
                              help="Sync with a Label Studio server: push tasks with pre-annotations, pull "
                                   "annotations, measure agreement.\n\n"
                                   "Example: curator labelstudio push out/ --project \"tickets review\"")
out = Console()

URL = typer.Option(None, "--url", help="Server URL (default: LABEL_STUDIO_URL, then labelstudio.url in --config).")
API_KEY = typer.Option(None, "--api-key", help="API token, legacy or personal access token (default: "
                       "LABEL_STUDIO_API_KEY, then --config). Prefer the environment: a flag shows in the process list.")
CONFIG = typer.Option(None, "--config", "-c", help="A curator.yaml whose labelstudio: section gives url, "
                      "api_key_env, api_key_file, local_files_root.")
PROJECT = typer.Option(..., "--project", "-p", help="The project's title (created by push if missing).")
AS_JSON = typer.Option(False, "--json", help="Print the result as JSON.")


_clean_errors = clean_errors("re-run the same command to finish; nothing will be duplicated")


def _settings(config: Optional[Path]):
    from .settings import load_settings
    return load_settings(config)


def _dump(data) -> None:
    sys.stdout.write(json.dumps(data, indent=2, sort_keys=True, default=str) + "\n")


def _fmt(value) -> str:
    if value is None:
        return "-"
    return f"{value:.3f}" if isinstance(value, float) else f"{value:,}" if isinstance(value, int) else str(value)


def _table(title: str, rows: dict) -> Table:
    table = Table(title=title, show_header=False, title_justify="left")
    table.add_column("key")
    table.add_column("value", justify="right")
    for key, value in rows.items():
        table.add_row(key, _fmt(value))
    return table


@labelstudio_app.command()
@_clean_errors
def push(
    source: Path = typer.Argument(..., help="A curator run directory or a CSV/JSONL/Parquet file with id, text|image, label."),
    project: str = PROJECT,
    which: str = typer.Option("all", "--which", "-w", help="all, train, val, test, or flagged (rows to review, "
                              "with their reason shown to the annotator)."),
    predictions: Optional[Path] = typer.Option(None, "--predictions", help="predictions.parquet (id, predicted_label, "
                                               "confidence or probabilities) or suggested labels, as pre-annotations "
                                               "(default for a run directory: its label_issues.parquet)."),
    suggestions: bool = typer.Option(True, "--suggestions/--no-suggestions", help="Without --predictions, push a "
                                     "run's label-issue suggestions (label_issues.parquet) as pre-annotations."),
    model_version: Optional[str] = typer.Option(None, "--model-version", help="Name of the predictions' model "
                                                "(default: the file's name and checksum)."),
    files_root: Optional[Path] = typer.Option(None, "--files-root", help="The server's "
                                              "LABEL_STUDIO_LOCAL_FILES_DOCUMENT_ROOT (images; default: the environment "
                                              "variable, else the dataset root)."),
    batch_size: int = typer.Option(500, "--batch-size", help="Tasks per import request."),
    url: Optional[str] = URL,
    api_key: Optional[str] = API_KEY,
    config: Optional[Path] = CONFIG,
    quiet: bool = typer.Option(False, "--quiet", "-q", help="No progress bars."),
    as_json: bool = AS_JSON,
) -> None:
    """Push rows as tasks (with pre-annotations); pushing again updates tasks and never duplicates them.

    Example: curator labelstudio push out/ --project "tickets review" --which flagged --predictions model/predictions.parquet
    """
    from .push_tasks import push as run_push

    progress.enable(not quiet and not as_json)
    result = run_push(source, project, url=url, api_key=api_key, settings=_settings(config), which=which,
                      predictions=predictions, model_version=model_version, suggestions=suggestions,
                      files_root=files_root, batch_size=batch_size)
    if as_json:
        return _dump(result.summary())
    out.print(_table(f"pushed to {result.project!r} (project {result.project_id})", {
        "rows": result.rows, "created": result.created, "updated": result.updated, "unchanged": result.unchanged,
        "predictions added": result.predictions,
        "predictions with no label (skipped)": result.predictions_no_label,
        "pre-annotations from": result.predictions_file.name if result.predictions_file else None,
        "seconds": result.seconds}))
    if result.duplicates:
        err.print(f"warning: {len(result.duplicates)} rows have more than one task on the server (made outside "
                  f"curator), e.g. {escape(result.duplicates[0])}; curator updates the oldest")
    out.print(f"open: {result.url}/projects/{result.project_id}/data", highlight=False)


@labelstudio_app.command()
@_clean_errors
def pull(
    project: str = PROJECT,
    into: Path = typer.Option(..., "--into", "-i", help="The run directory or dataset file the annotations belong to."),
    policy: str = typer.Option("majority", "--policy", help="Conflict policy: majority (a tie is a conflict), lead "
                               "(--lead wins), or flag (any disagreement is a conflict)."),
    lead: Optional[str] = typer.Option(None, "--lead", help="The lead annotator's email, for --policy lead."),
    url: Optional[str] = URL,
    api_key: Optional[str] = API_KEY,
    config: Optional[Path] = CONFIG,
    quiet: bool = typer.Option(False, "--quiet", "-q", help="No progress bars."),
    as_json: bool = AS_JSON,
) -> None:
    """Pull annotations (cancelled ones skipped), join them to rows by id, report agreement, and append
    them to the local store beside the dataset.

    Example: curator labelstudio pull --project "tickets review" --into out/ --policy majority
    """
    from .pull_annotations import pull as run_pull

    progress.enable(not quiet and not as_json)
    result = run_pull(project, into, url=url, api_key=api_key, settings=_settings(config), policy=policy, lead=lead)
    summary = result.summary()
    if as_json:
        return _dump(summary)
    out.print(_table(f"pulled from {result.project!r} (project {result.project_id})", {
        "annotated tasks": result.tasks, "annotations": result.annotations, "cancelled (skipped)": result.cancelled,
        "new or changed": result.new, "deleted since last pull": result.deleted, "rows not in dataset": result.unmatched,
        "rows relabelled": summary["relabelled"], "conflicts": len(result.conflicts)}))
    out.print(_agreement_table(result.agreement.overall))
    out.print(f"store: {result.store.parent if result.store else 'unchanged (nothing new)'}", highlight=False)


@labelstudio_app.command()
@_clean_errors
def status(
    project: str = PROJECT,
    into: Optional[Path] = typer.Option(None, "--into", "-i", help="Also count rows changed since the last pull into "
                                        "this run directory or dataset file."),
    url: Optional[str] = URL,
    api_key: Optional[str] = API_KEY,
    config: Optional[Path] = CONFIG,
    as_json: bool = AS_JSON,
) -> None:
    """Tasks, annotated, remaining, agreement, and rows changed since the last pull.

    Example: curator labelstudio status --project "tickets review" --into out/
    """
    from .pull_annotations import status as run_status

    found = run_status(project, into, url=url, api_key=api_key, settings=_settings(config))
    if as_json:
        return _dump(found)
    rows = {k: found[k] for k in ("tasks", "annotated", "remaining", "annotations", "cancelled")}
    if "changed_since_last_pull" in found:
        changed = found["changed_since_last_pull"]
        rows.update({"rows changed since last pull": changed["rows"],
                     "annotations new or changed": changed["annotations"], "annotations deleted": changed["deleted"],
                     "last pull": found["last_pull"] or "never"})
    out.print(_table(f"{project!r} (project {found['project_id']})", rows))
    out.print(_agreement_table(found["agreement"]))


@labelstudio_app.command()
@_clean_errors
def agreement(
    into: Path = typer.Argument(..., help="The run directory or dataset file annotations were pulled into."),
    project: Optional[str] = typer.Option(None, "--project", "-p", help="One project (default: all pulled there)."),
    worst: int = typer.Option(10, "--worst", help="How many of the least-agreed tasks to list."),
    as_json: bool = AS_JSON,
) -> None:
    """Agreement of the pulled annotations, offline: overall and the tasks annotators agree on least.

    Example: curator labelstudio agreement out/ --project "tickets review" --worst 20
    """
    from .pull_annotations import agreement as run_agreement

    found = run_agreement(into, project)
    tasks = found.per_task.dropna(subset=["agreement"]).sort_values(["agreement", "id"]).head(worst)
    if as_json:
        return _dump({"overall": found.overall, "worst": tasks.to_dict("records")})
    out.print(_agreement_table(found.overall))
    if len(tasks):
        table = Table(title="least agreement", title_justify="left")
        for col in ("id", "annotators", "agreement", "majority"):
            table.add_column(col)
        for row in tasks.itertuples(index=False):
            table.add_row(escape(str(row.id)), str(row.annotators), f"{row.agreement:.2f}", escape(str(row.majority)))
        out.print(table)


def _agreement_table(overall: dict) -> Table:
    return _table("agreement", {"tasks with 2+ annotators": overall.get("tasks_multi"),
                                "annotators": overall.get("annotators"), "percent agreement": overall.get("percent"),
                                "Cohen's kappa (2 annotators)": overall.get("cohen_kappa"),
                                "Fleiss' kappa": overall.get("fleiss_kappa"),
                                "Krippendorff's alpha": overall.get("krippendorff_alpha")})
