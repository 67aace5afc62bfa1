"""Engines: the local and Ray engines give the same run, byte for byte, and a killed Ray worker's
task is retried without changing the output."""

from __future__ import annotations

import hashlib
import importlib.util
import os
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml
from hypothesis import given, settings
from hypothesis import strategies as st

from typer.testing import CliRunner

import curator
from curator import checks
from curator.cli import app
from curator.engine import concat, make_engine, partition_of, slices
from curator.engine.local import LocalEngine
from curator.errors import ConfigError, RuleError
from curator.near.lsh import band_frame, bucket_codes, candidate_pairs

from conftest import REPO, write_config

LABELS = ["billing", "shipping", "account", "product_defect", "praise"]
OUTPUTS = ("train.parquet", "val.parquet", "test.parquet", "dropped.parquet", "ledger.parquet")


def _digests(result) -> dict[str, str]:
    return {n: hashlib.sha256(result.paths[n].read_bytes()).hexdigest() for n in OUTPUTS}


def _same_runs(local, ray) -> None:
    """Identical files, and (for a readable failure) identical splits, drops and clusters."""
    for name in ("train", "val", "test"):
        pd.testing.assert_frame_equal(local.read(name), ray.read(name))
    pd.testing.assert_frame_equal(local.read("dropped"), ray.read("dropped"))
    assert _digests(local) == _digests(ray)


# -- the engine operations ------------------------------------------------------------------------------

@settings(max_examples=30, deadline=None)
@given(n=st.integers(0, 200), rows=st.integers(1, 64))
def test_slices_cover_every_row_once(n, rows):
    bounds = slices(n, rows)
    covered = np.concatenate([np.arange(lo, hi) for lo, hi in bounds])
    assert covered.tolist() == list(range(n))
    assert all(hi - lo <= rows for lo, hi in bounds)


def test_concat_joins_frames_arrays_and_dicts_in_order():
    a = {"x": np.arange(3), "y": pd.Series([1, 2], index=[0, 1])}
    b = {"x": np.arange(3, 5), "y": pd.Series([3], index=[2])}
    out = concat([a, b])
    assert out["x"].tolist() == [0, 1, 2, 3, 4] and out["y"].tolist() == [1, 2, 3]
    with pytest.raises(TypeError, match="expected batch outputs"):
        concat([object()])


def test_unknown_engine_is_a_config_error(sample_copy):
    with pytest.raises(ConfigError, match="engine: expected one of local, ray, got 'spark'"):
        make_engine("spark")
    result = CliRunner().invoke(app, ["run", str(sample_copy / "text" / "curator.yaml"), "--engine", "spark", "-q"])
    assert result.exit_code == 1 and "engine: expected one of local, ray, got 'spark'" in result.output


@settings(max_examples=20, deadline=None)
@given(seed=st.integers(0, 1000), parts=st.integers(1, 5))
def test_lsh_buckets_do_not_depend_on_the_partitioning(seed, parts):
    """The shuffle's partitions hold whole buckets, so any partition count gives the same pairs."""
    rng = np.random.default_rng(seed)
    sigs = rng.integers(0, 4, size=(60, 8)).astype(np.uint32)  # few values: many shared bands
    whole = bucket_codes(band_frame(sigs, 4, 2), n=60, max_bucket=5)
    left, right = candidate_pairs(sigs, 4, 2, max_bucket=5, engine=LocalEngine(workers=2))
    frame = band_frame(sigs, 4, 2).sample(frac=1.0, random_state=seed)  # rows in shuffled order
    which = partition_of(frame["key"].to_numpy(), parts)
    split = np.unique(np.concatenate([bucket_codes(frame[which == p], n=60, max_bucket=5) for p in range(parts)]))
    assert split.tolist() == whole.tolist() == (left * 60 + right).tolist()


# -- local against Ray ------------------------------------------------------------------------------------

def _with_train_steps(cfg: Path, train_steps: dict) -> Path:
    """The sample config with rebalance/augment added, so augmentation runs as engine batches too."""
    data = yaml.safe_load(cfg.read_text())
    data.update(train_steps)
    cfg.write_text(yaml.safe_dump(data))
    return cfg


def test_sample_data_same_on_local_and_ray(sample_copy, ray_local):
    cfg = _with_train_steps(sample_copy / "text" / "curator.yaml", {
        "rebalance": {"enabled": True, "strategy": "oversample", "target": "median"},
        "augment": {"enabled": True, "text": [{"name": "keyboard", "p": 0.6}, {"name": "word_swap", "p": 0.6}]}})
    local = curator.run(cfg, out=sample_copy / "out_local")
    ray = curator.run(cfg, out=sample_copy / "out_ray", engine="ray")
    _same_runs(local, ray)
    added = ray.read("train")
    assert added["parent_id"].notna().sum() > 1000  # augmented copies and oversampled rows, made on Ray
    dropped = ray.read("dropped")
    assert (dropped["reason"] == "near_duplicate").any() and dropped["related_id"].notna().any()
    assert ray.report["config"]["engine"] == "ray" and local.report["config"]["engine"] == "local"


def test_sample_images_same_on_local_and_ray(sample_copy, ray_local):
    """Image checks, pixel hashes and perceptual hashes run as Ray batches; the run is the same."""
    cfg = _with_train_steps(sample_copy / "images" / "curator.yaml",
                            {"augment": {"enabled": True, "image": {"preset": "light"}}})
    local = curator.run(cfg, out=sample_copy / "img_local")
    ray = curator.run(cfg, out=sample_copy / "img_ray", engine="ray")
    _same_runs(local, ray)
    assert {"near_duplicate", "exact_duplicate"} <= set(ray.read("dropped")["reason"])
    train = ray.read("train")
    made = train[train["parent_id"].notna()]
    assert len(made) > 100
    for rel in made["image"].head(5):  # the same pixels, written by Ray tasks and by the local threads
        assert (ray.out_dir / rel).read_bytes() == (local.out_dir / rel).read_bytes()


def _generated(n: int, path: Path, seed: int = 0) -> Path:
    """n rows from bench/scale.py's generator (the rows the scale benchmark measures): labels that
    follow the words with 5% flipped, exact and near copies, empty texts, users of ~5 rows."""
    spec = importlib.util.spec_from_file_location("bench_scale", REPO / "bench" / "scale.py")
    bench = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(bench)
    bench.generate(n, path, seed)
    frame = pd.read_csv(path, dtype=str, keep_default_na=False)
    frame.loc[::97, "label"] = "bilingg"  # a few unknown labels
    frame.to_csv(path, index=False)
    return path


def test_generated_50k_rows_same_on_local_and_ray(tmp_path, ray_local):
    _generated(50_000, tmp_path / "rows.csv")
    cfg = write_config(tmp_path / "curator.yaml", {
        "input": {"path": "rows.csv"}, "modality": "text", "labels": LABELS,
        "rules": ["text-classification"], "split": {"group_by": ["user_id"]}, "seed": 3,
        # The label-issues models run in the driver on either engine; they are left out to keep this test short.
        "steps": {"label_issues": {"enabled": False}}})
    local = curator.run(cfg, out=tmp_path / "local")
    ray = curator.run(cfg, out=tmp_path / "ray", engine="ray")
    _same_runs(local, ray)
    reasons = set(ray.read("dropped")["reason"])
    assert {"exact_duplicate", "near_duplicate", "unknown_label"} <= reasons


# -- a worker killed mid-run --------------------------------------------------------------------------------

def _kill_once(values: pd.Series, marker: str, driver: int):
    """Fails nothing; but the first time it runs in a worker process (not the test's), it records its
    pid in ``marker`` and kills its own process, as a crashed machine would."""
    if os.getpid() != driver:
        if not os.path.exists(marker):
            Path(marker).write_text(str(os.getpid()))
            os._exit(1)
        with open(marker + ".retried", "a") as fh:
            fh.write(f"{os.getpid()}\n")
    return values.isna() & False


@pytest.fixture
def kill_check():
    import ray.cloudpickle

    ray.cloudpickle.register_pickle_by_value(sys.modules[__name__])  # workers cannot import the tests
    checks.check("kill_worker_once", params={"marker": str, "driver": int})(_kill_once)
    yield
    checks.REGISTRY.pop("kill_worker_once")


def test_killed_worker_is_retried_and_output_is_unchanged(tmp_path, ray_local, kill_check):
    (tmp_path / "rules.yaml").write_text(
        "include: text-classification\nrules:\n"
        f"  - {{check: kill_worker_once, field: text, params: {{marker: '{tmp_path / 'killed'}', driver: {os.getpid()}}}}}\n"
        # unique compares rows across batches: it must see the whole column on either engine
        "  - {check: unique, field: text, severity: warn, params: {ignore_case: true}}\n")
    _generated(3_000, tmp_path / "rows.csv", seed=1)
    cfg = write_config(tmp_path / "curator.yaml", {
        "input": {"path": "rows.csv"}, "modality": "text", "labels": LABELS,
        "rules": ["rules.yaml"], "split": {"group_by": ["user_id"]}, "seed": 3,
        "steps": {"label_issues": {"enabled": False}}})
    local = curator.run(cfg, out=tmp_path / "local")
    assert not (tmp_path / "killed").exists()
    ray = curator.run(cfg, out=tmp_path / "ray", engine="ray")
    killed = int((tmp_path / "killed").read_text())
    retried = {int(p) for p in (tmp_path / "killed.retried").read_text().split()}
    assert killed not in retried, "the killed worker's task ran again in another process"
    _same_runs(local, ray)
    assert (ray.read("ledger")["reason"] == "rule:unique").sum() > 10


def test_curator_errors_from_a_worker_arrive_as_one_line(tmp_path, ray_local):
    (tmp_path / "rules.yaml").write_text("rules:\n  - {check: expression, params: {expr: 'nope > 3'}}\n")
    cfg = write_config(tmp_path / "curator.yaml", {"input": {"path": "rows.csv"}, "modality": "text",
                                                    "rules": ["rules.yaml"]})
    _generated(200, tmp_path / "rows.csv")
    with pytest.raises(RuleError) as err:
        curator.run(cfg, out=tmp_path / "out", engine="ray")
    assert "rules.yaml" in str(err.value) and "\n" not in str(err.value)


def _fails_on_three(batch: pd.DataFrame) -> pd.Series:
    if (batch["x"] == 3).any():
        raise ValueError("bad batch: x is 3")
    return batch["x"] * 2


def test_other_errors_from_a_worker_arrive_as_their_own_type(ray_local):
    import ray.cloudpickle

    from curator.engine.ray_engine import RayEngine

    ray.cloudpickle.register_pickle_by_value(sys.modules[__name__])  # workers cannot import the tests
    table = pd.DataFrame({"x": range(10)})
    with pytest.raises(ValueError) as err:
        RayEngine().map_batches(table, _fails_on_three, batch_rows=3)
    assert type(err.value) is ValueError and str(err.value) == "bad batch: x is 3"  # as the local engine raises it
    note = "".join(err.value.__notes__)
    assert note.startswith("raised in a Ray worker:") and "in _fails_on_three" in note
