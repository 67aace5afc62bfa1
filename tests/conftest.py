"""Shared fixtures: small tables, configs written next to their data, and the sample data."""

from __future__ import annotations

import csv
import shutil
from pathlib import Path

import pandas as pd
import pytest
import yaml

REPO = Path(__file__).resolve().parent.parent
SAMPLE = REPO / "sample_data"


def make_table(texts, labels=None, **meta) -> pd.DataFrame:
    """A curator table with ids r0, r1, ... and the given texts, labels and metadata columns."""
    n = len(texts)
    data = {"id": [f"r{i}" for i in range(n)], "text": list(texts),
            "label": list(labels) if labels is not None else ["a"] * n,
            "source": [f"t.csv:{i + 2}" for i in range(n)]}
    data.update({k: list(v) for k, v in meta.items()})
    return pd.DataFrame(data, dtype=object)


def write_csv(path: Path, rows: list[dict]) -> Path:
    with open(path, "w", newline="", encoding="utf-8") as fh:
        writer = csv.DictWriter(fh, fieldnames=list(rows[0]), lineterminator="\n")
        writer.writeheader()
        writer.writerows(rows)
    return path


def write_config(path: Path, data: dict) -> Path:
    path.write_text(yaml.safe_dump(data, sort_keys=False), encoding="utf-8")
    return path


@pytest.fixture
def text_run(tmp_path):
    """Write a CSV and a config beside it; returns a function (rows, **config overrides) -> config path."""
    def make(rows: list[dict], **overrides) -> Path:
        write_csv(tmp_path / "data.csv", rows)
        cfg = {"input": {"path": "data.csv"}, "modality": "text", "seed": 7,
               "output": {"dir": "out"}}
        cfg.update(overrides)
        return write_config(tmp_path / "curator.yaml", cfg)
    return make


@pytest.fixture
def sample_copy(tmp_path):
    """A private copy of sample_data/ (runs write next to their config)."""
    dest = tmp_path / "sample_data"
    shutil.copytree(SAMPLE, dest, ignore=shutil.ignore_patterns("out", "*.py"))
    return dest


@pytest.fixture(scope="session")
def ray_local():
    """A local Ray with 2 CPUs, started once for the whole test session (engines join it)."""
    import ray
    import ray.data

    ray.init(num_cpus=2, object_store_memory=512 * 2**20, include_dashboard=False, log_to_driver=False)
    ray.data.DataContext.get_current().enable_progress_bars = False
    yield ray
    ray.shutdown()
