"""``curator augment``: rebalance and/or augment a dataset, or a run directory's train split, on its own.

The result is a directory (written atomically): ``augmented.parquet`` (the input rows that stay,
plus the new rows with ``parent_id`` and ``augmenter``), ``dropped.parquet`` (undersampled rows and
discarded augmentations, with reasons), ``ledger.parquet``, ``summary.json``, and ``augmented/`` for
new images. Of a run directory's val and test, only the content hashes are read: a new row that
repeats one of them is discarded (``augment:duplicate``), so augmenting cannot leak them into train.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import pandas as pd
import pyarrow.parquet as pq

from ..config import Config, load_config, parse_config
from ..dedup import CONTENT_HASH
from ..errors import EmptyDatasetError, InputError, InvariantError
from ..export import atomic_dir, check_output, write_json, write_parquet
from ..steps import Context, Runner
from .steps import TrainContext, train_steps

HELD_OUT = ("val", "test")  # the run splits no new row may repeat


@dataclass
class AugmentResult:
    out_dir: Path
    counts: dict[str, int]
    summary: dict


def _read(source: Path, cfg: Config | None) -> tuple[Config, pd.DataFrame, Path, pd.DataFrame]:
    """(config, rows to augment, dataset root, held-out content hashes) from a run directory or a dataset file."""
    manifest = source / "manifest.json"
    if source.is_dir() and manifest.is_file():
        info = json.loads(manifest.read_text(encoding="utf-8"))
        run_cfg = cfg or parse_config(info["config"], base_dir=source)
        return (run_cfg, pd.read_parquet(source / "train.parquet"), Path(info.get("dataset_root") or source),
                _held_out(source, info.get("columns", {}).get("content_hash", CONTENT_HASH)))
    if cfg is None:
        raise InputError(f"{source}: not a run directory (no manifest.json); give --config for a dataset file")
    from ..ingest import ingest

    cfg = cfg.model_copy(update={"input": cfg.input.model_copy(update={"path": str(source.resolve())})})
    ingested = ingest(cfg)
    return cfg, ingested.table, Path(ingested.root), ingested.table.iloc[0:0]  # no held-out splits


def _held_out(source: Path, column: str) -> pd.DataFrame:
    """The content hashes of a run directory's val and test rows, as column ``content_hash``."""
    frames = []
    for path in (source / f"{name}.parquet" for name in HELD_OUT):
        if not path.is_file():
            continue  # a run split without this part
        if column not in pq.read_schema(path).names:
            raise InputError(f"{path}: no column {column!r}; expected the content hashes of a curator run")
        frames.append(pd.read_parquet(path, columns=[column]).rename(columns={column: CONTENT_HASH}))
    return pd.concat(frames, ignore_index=True) if frames else pd.DataFrame(columns=[CONTENT_HASH])


def augment_dataset(source: str | Path, *, out: str | Path, config: str | Path | Config | None = None,
                    augmenters: list[str] | None = None, copies: int | None = None, preset: str | None = None,
                    seed: int | None = None) -> AugmentResult:
    """Augment (and rebalance, when the config says so) the rows of ``source``; see the module docstring."""
    source = Path(source)
    if not source.exists():
        raise InputError(f"{source}: not found")
    check_output(Path(out), [source])
    cfg = load_config(config) if isinstance(config, (str, Path)) else config
    cfg, table, root, held_out = _read(source, cfg)
    if table.empty:
        raise EmptyDatasetError(f"{source}: no rows to augment")
    overrides = {"enabled": True}
    if augmenters:
        overrides["text"] = [{"name": n} for n in augmenters]
    if copies is not None:
        overrides["copies"] = copies
    data = cfg.public_dict()
    data["augment"] = {**data["augment"], **overrides}
    if preset:
        data["augment"]["image"] = {**data["augment"]["image"], "preset": preset, "transforms": [], "pipeline": None}
    if seed is not None:
        data["seed"] = seed
    cfg = parse_config(data, base_dir=cfg.base_dir, source="augment")

    ctx = Context(config=cfg, seed=cfg.seed, root=root)
    runner = Runner(ctx)
    with atomic_dir(Path(out)) as tmp:
        result = runner.run(table.reset_index(drop=True), train_steps(TrainContext(cfg, held_out, tmp)))
        dropped = runner.dropped_rows()
        added = sum(s.added for s in runner.stats)
        if len(table) + added != len(result) + len(dropped):
            raise InvariantError(f"augment lost rows: {len(table)} in + {added} added != "
                                 f"{len(result)} out + {len(dropped)} dropped")
        write_parquet(result, tmp / "augmented.parquet")
        write_parquet(dropped, tmp / "dropped.parquet")
        write_parquet(runner.ledger.to_frame(), tmp / "ledger.parquet")
        counts = {"rows_in": len(table), "rows_added": added, "rows_out": len(result), "rows_dropped": len(dropped)}
        summary = {"source": str(source), "counts": counts, "steps": ctx.artifacts, "seed": cfg.seed,
                   "augment": data["augment"], "rebalance": data["rebalance"]}
        write_json(summary, tmp / "summary.json")
    return AugmentResult(Path(out), counts, summary)
