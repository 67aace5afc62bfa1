"""The main job: ingest -> validate -> exact dedup -> split -> export, with the ledger and report.

``curator.run(config)`` is the Python API behind ``curator run``: it returns the paths it wrote and
the counts, and raises named errors (never prints or exits).
"""

from __future__ import annotations

import platform
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa

from . import __version__, progress
from .augment.image import AUGMENTED_DIR
from .audit import augmentation_thumbnails, build_report_data, label_names, report_thumbnails
from .config import Config, load_config, parse_config
from .dedup import CONTENT_HASH, ExactDedupStep
from .engine import Engine, make_engine
from .errors import EmptyDatasetError, InvariantError
from .export import WRITERS, atomic_dir, check_output, sha256_file, write_json, write_parquet
from .ingest import ingest
from .label_issues import LabelIssuesStep
from .labelstudio.relabel import LabelStudioRelabel
from .near_dedup import CLUSTER, NearDedupStep
from .ledger import decisions
from .report import render_html
from .review.apply import ReviewStep
from .review.decisions import decisions_path
from .split import SPLIT, check_no_leak, split_table
from .steps import Context, Runner, Step, StepStats
from .table import GROUP, ID, IMAGE, IMAGE_HASH, LABEL, PARENT_ID, SOURCE, TEXT
from .validate import ValidateStep

SPLIT_NAMES = ("train", "val", "test")


@dataclass
class RunResult:
    """What a run wrote and counted. ``paths`` maps file names to their final paths."""

    out_dir: Path
    paths: dict[str, Path]
    counts: dict[str, int]
    report: dict[str, Any] = field(repr=False)

    def read(self, name: str) -> pd.DataFrame:
        """Load one of the run's tables (``train``, ``dropped``, ``ledger`` ...)."""
        return pd.read_parquet(self.paths[f"{name}.parquet"])


def coerce_config(config: Config | str | Path | dict) -> Config:
    if isinstance(config, Config):
        return config
    if isinstance(config, dict):
        return parse_config(config)
    return load_config(config)


def build_steps(cfg: Config) -> list[Step]:
    """The pre-split steps, in the order correctness needs (see DESIGN.md)."""
    steps: list[Step] = []
    if cfg.steps.validate_.enabled:
        steps.append(ValidateStep.from_config(cfg))
    if cfg.steps.dedup_exact.enabled:
        steps.append(ExactDedupStep.from_config(cfg))
    if cfg.steps.dedup_near.enabled:
        steps.append(NearDedupStep.from_config(cfg))
    if cfg.steps.label_issues.enabled:
        steps.append(LabelIssuesStep.from_config(cfg))
    return steps


def _column_order(table: pd.DataFrame, content: str) -> list[str]:
    first = [ID, content, LABEL, SPLIT, GROUP, CONTENT_HASH, CLUSTER, SOURCE,
             IMAGE_HASH, "image_width", "image_height", "image_format"]
    head = [c for c in first if c in table.columns]
    return head + [c for c in table.columns if c not in head]


def _reason_summary(stats: list[StepStats]) -> str:
    reasons: dict[str, int] = {}
    for s in stats:
        for k, v in s.reasons.items():
            reasons[k] = reasons.get(k, 0) + v
    top = sorted(reasons.items(), key=lambda kv: -kv[1])[:4]
    return ", ".join(f"{k}: {v}" for k, v in top) or "no reasons recorded"


def run(config: Config | str | Path | dict, *, out: str | Path | None = None, progress_bar: bool = False,
        engine: str | None = None, address: str | None = None) -> RunResult:
    """Run the whole curation job described by ``config`` and write the run directory.
    ``engine`` and ``address`` override the config's ``engine`` and ``ray.address``."""
    cfg = coerce_config(config)
    if engine is not None or address is not None:
        cfg = cfg.model_copy(update={"engine": engine or cfg.engine,
                                     "ray": cfg.ray.model_copy(update={"address": address or cfg.ray.address})})
    out_dir = Path(out) if out is not None else cfg.output_dir
    with progress.enabled(progress_bar or progress.is_enabled()):
        chosen = make_engine(cfg.engine, address=cfg.ray.address, num_cpus=cfg.ray.num_cpus)
        try:
            return _run(cfg, out_dir, chosen)
        finally:
            chosen.close()


def _run(cfg: Config, out_dir: Path, engine: Engine) -> RunResult:
    check_output(out_dir, [cfg.input_path])
    ctx = Context(config=cfg, seed=cfg.seed, engine=engine)
    runner = Runner(ctx)
    content = TEXT if cfg.modality == "text" else IMAGE

    # 1. ingest: unreadable rows are dropped with their reason, never raised.
    start = ctx.clock()
    ingested = ingest(cfg)
    ctx.root = ingested.root
    original, bad = ingested.table, ingested.bad
    runner.record_dropped("ingest", bad, decisions(bad[ID], bad["reason"], bad["detail"]))
    runner.stats.append(StepStats("ingest", ingested.rows_read, 0, len(bad), len(original), 0, 0,
                                  {str(k): int(v) for k, v in bad["reason"].value_counts().sort_index().items()},
                                  round(ctx.clock() - start, 4)))
    if ingested.rows_read != len(original) + len(bad):
        raise InvariantError(f"ingest read {ingested.rows_read} rows but returned {len(original)} + {len(bad)} bad")
    if original.empty:
        raise EmptyDatasetError(f"{cfg.input.path}: no readable rows ({_reason_summary(runner.stats)})")

    # 2. steps on the whole dataset, before the split.
    steps = build_steps(cfg)
    relabel = LabelStudioRelabel.for_run(cfg.labelstudio, out_dir, cfg.input_path)
    if relabel:  # annotations pulled from Label Studio beside the output or input: applied first
        steps.insert(0, relabel)
    review = ReviewStep.for_run(cfg.input_path)
    if review:  # a person's decisions (curator review), after Label Studio's: theirs is the last word
        steps.insert(1 if relabel else 0, review)
        ctx.protected, ctx.not_duplicate = review.protected(), review.not_duplicate()
    table = runner.run(original, steps)
    if table.empty:
        raise EmptyDatasetError(f"{cfg.input.path}: every row was dropped ({_reason_summary(runner.stats)})")

    # 3. split, group-aware, then prove there is no leak.
    start = ctx.clock()
    content_cols = [CONTENT_HASH] if CONTENT_HASH in table else []
    table = split_table(table, cfg, content_cols, engine)
    leak = check_no_leak(table, [ID, CONTENT_HASH, IMAGE_HASH])
    runner.ledger.record("split", "kept", decisions(table[ID], "split:" + table[SPLIT], "assigned to " + table[SPLIT]))
    runner.stats.append(StepStats("split", len(table), 0, 0, len(table), 0, 0,
                                  {f"split:{k}": int(v) for k, v in table[SPLIT].value_counts().sort_index().items()},
                                  round(ctx.clock() - start, 4)))
    table = table[_column_order(table, content)]

    # 4. write everything under a temporary name, then swap it in. First the train-only steps
    # (rebalance, augment), since augmented images are written inside the new run directory.
    with atomic_dir(out_dir) as tmp:
        table, untouched, train_leak = _train_only(cfg, runner, table, tmp, content)
        leak = train_leak or leak
        # 5. the whole run's accounting.
        dropped = runner.dropped_rows()
        added = sum(s.added for s in runner.stats)
        if ingested.rows_read + added != len(table) + len(dropped):
            raise InvariantError(f"run lost rows: {ingested.rows_read} read + {added} added != "
                                 f"{len(table)} kept + {len(dropped)} dropped")
        ledger = runner.ledger.to_frame()
        totals = {"rows_read": ingested.rows_read, "rows_added": added, "rows_kept": len(table),
                  "rows_dropped": len(dropped),
                  "rows_flagged": int(ledger.loc[ledger["action"] == "flagged", "id"].nunique()),
                  "rows_fixed": int(ledger.loc[ledger["action"] == "fixed", "id"].nunique())}
        splits = {name: untouched[name] if name in untouched else table[table[SPLIT] == name].reset_index(drop=True)
                  for name in cfg.split.ratios}
        written: dict[str, Path] = {}
        with progress.task("writing outputs", total=len(splits) + 2, unit="files") as bar:
            for name, frame in splits.items():
                for fmt in dict.fromkeys(["parquet", *cfg.output.formats]):
                    path = tmp / f"{name}.{fmt}"
                    WRITERS[fmt](frame, path)
                    written[path.name] = path
                bar.advance()
            write_parquet(_dropped_frame(dropped, content), tmp / "dropped.parquet")
            written["dropped.parquet"] = tmp / "dropped.parquet"
            write_parquet(ledger, tmp / "ledger.parquet")
            written["ledger.parquet"] = tmp / "ledger.parquet"
            bar.advance(2)
            step_tables = _write_step_tables(ctx.tables, tmp, written)
        outputs = {name: {"rows": step_tables[name] if name in step_tables else _rows_of(name, splits, dropped, ledger),
                          "sha256": sha256_file(p)} for name, p in sorted(written.items())}

        report = build_report_data(cfg=cfg, original=original, bad=bad, final=table, ledger=ledger,
                                   stats=runner.stats, artifacts=ctx.artifacts, leak=leak, split_col=SPLIT,
                                   totals=totals)
        report["outputs"] = outputs
        if ReviewStep.name in ctx.artifacts:
            report["review"] = ctx.artifacts[ReviewStep.name]
        write_json(report, tmp / "report.json")
        thumbs = report_thumbnails(report, ingested.root, cfg.output.report.thumbnails)
        thumbs.update(augmentation_thumbnails(report, ingested.root, tmp))
        (tmp / "report.html").write_text(render_html(report, thumbnails=thumbs), encoding="utf-8")
        for name in ("report.json", "report.html"):
            outputs[name] = {"rows": None, "sha256": sha256_file(tmp / name)}
        manifest = _manifest(cfg, table, totals, outputs, content, Path(ingested.root).resolve())
        write_json(manifest, tmp / "manifest.json")

    names = [*written, "report.json", "report.html", "manifest.json"]
    counts = {**totals, **{name: len(frame) for name, frame in splits.items()}}
    return RunResult(out_dir=out_dir, paths={n: out_dir / n for n in names}, counts=counts, report=report)


def _write_step_tables(tables: dict[str, pd.DataFrame], tmp: Path, written: dict[str, Path]) -> dict[str, int]:
    """Tables steps added to the run (``label_issues.parquet``...): their ``attrs`` become the file's
    metadata, as JSON. Returns file name -> rows."""
    import json

    rows = {}
    for name, frame in sorted(tables.items()):
        path = tmp / f"{name}.parquet"
        write_parquet(frame, path, metadata={k: json.dumps(v) for k, v in frame.attrs.items()})
        written[path.name] = path
        rows[path.name] = len(frame)
    return rows


def _train_only(cfg: Config, runner: Runner, table: pd.DataFrame, out_dir: Path,
                content: str) -> tuple[pd.DataFrame, dict[str, pd.DataFrame], dict | None]:
    """Run rebalance/augment on the train rows alone; val and test come back as they went in.

    Returns the whole table, the untouched non-train splits (written from here, so their bytes cannot
    change), and the leak check redone over the new rows (None when no step ran).
    """
    from .augment.steps import TrainContext, train_steps

    is_train = table[SPLIT].eq("train").to_numpy()
    others = table[~is_train]
    steps = train_steps(TrainContext(cfg, others, out_dir))
    if not steps:
        return table, {}, None
    untouched = {name: others[others[SPLIT] == name].reset_index(drop=True) for name in cfg.split.ratios
                 if name != "train"}
    train = runner.run(table[is_train].reset_index(drop=True), steps)
    table = pd.concat([train, others], ignore_index=True)
    leak = check_no_leak(table, [ID, CONTENT_HASH, IMAGE_HASH])
    return table[_column_order(table, content)], untouched, leak


def _rows_of(name: str, splits: dict, dropped: pd.DataFrame, ledger: pd.DataFrame) -> int:
    stem = name.split(".")[0]
    if stem in splits:
        return len(splits[stem])
    return len(dropped) if stem == "dropped" else len(ledger)


def _dropped_frame(dropped: pd.DataFrame, content: str) -> pd.DataFrame:
    head = [c for c in (ID, "step", "reason", "detail", "related_id", content, LABEL, SOURCE, "raw") if c in dropped]
    frame = dropped[head + [c for c in dropped.columns if c not in head]]
    return frame.reset_index(drop=True)


def _manifest(cfg: Config, table: pd.DataFrame, totals: dict, outputs: dict, content: str, root: Path) -> dict:
    multi, labels = label_names(cfg, table[LABEL])
    return {
        "format": "curator-run/1",
        "curator_version": __version__,
        "modality": cfg.modality,
        "task": "multi_label" if multi else "single_label",
        "columns": {"id": ID, "content": content, "label": LABEL, "split": SPLIT, "group": GROUP,
                    "content_hash": CONTENT_HASH, **({"image_hash": IMAGE_HASH} if content == IMAGE else {})},
        "labels": labels,
        "seed": cfg.seed,
        "counts": {**totals, **{n: int((table[SPLIT] == n).sum()) for n in cfg.split.ratios}},
        "files": outputs,
        "dataset_root": str(root),
        "decisions": str(decisions_path(cfg.input_path)),
        # images the run wrote itself (augmentation) are under this folder of the run directory
        **({"augmented_dir": AUGMENTED_DIR} if content == IMAGE and PARENT_ID in table else {}),
        "config": cfg.public_dict(),
        "versions": {"curator": __version__, "python": platform.python_version(), "pandas": pd.__version__,
                     "pyarrow": pa.__version__, "numpy": np.__version__},
    }
