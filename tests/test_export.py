"""The output directory is swapped in atomically; files are written deterministically."""

import os
import signal
import subprocess
import sys
import textwrap

import pandas as pd
import pytest

from curator.errors import OutputError
import curator
from curator.export import MARKER, atomic_dir, recover, sha256_file, write_parquet


def test_success_replaces_the_previous_output(tmp_path):
    final = tmp_path / "out"
    with atomic_dir(final) as tmp:
        (tmp / "a.txt").write_text("one")
    with atomic_dir(final) as tmp:
        (tmp / "b.txt").write_text("two")
    assert sorted(p.name for p in final.iterdir()) == [MARKER, "b.txt"]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out"]


def test_a_directory_that_is_not_curator_output_is_never_replaced(tmp_path):
    data = tmp_path / "data"
    data.mkdir()
    (data / "train.csv").write_text("text,label\nhello there,a\n")
    with pytest.raises(OutputError, match=r"data: is not empty and is not curator output \(no \.curator-output\)"):
        with atomic_dir(data) as tmp:
            (tmp / "a.txt").write_text("one")
    assert sorted(p.name for p in data.iterdir()) == ["train.csv"]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["data"]  # no temporary directory left either
    (tmp_path / "empty").mkdir()
    with atomic_dir(tmp_path / "empty") as tmp:  # an empty directory is fine
        (tmp / "a.txt").write_text("one")
    legacy = tmp_path / "old-run"  # a run directory written before the marker: its manifest says so
    legacy.mkdir()
    (legacy / "manifest.json").write_text('{"format": "curator-run/1"}')
    with atomic_dir(legacy) as tmp:
        (tmp / "a.txt").write_text("one")
    assert (legacy / "a.txt").is_file() and not (legacy / "manifest.json").exists()


def test_a_run_refuses_an_output_that_holds_its_input_or_other_files(tmp_path):
    data = tmp_path / "data"
    data.mkdir()
    (data / "train.csv").write_text("text,label\n" + "".join(f"row number {i} here,a\n" for i in range(20)))
    (data / "NOTES.txt").write_text("mine")
    cfg = {"input": {"path": str(data / "train.csv")}, "modality": "text", "seed": 0}
    with pytest.raises(OutputError, match="is not curator output"):
        curator.run(cfg, out=data)
    assert sorted(p.name for p in data.iterdir()) == ["NOTES.txt", "train.csv"]
    out = tmp_path / "out"
    curator.run(cfg, out=out)
    (out / "train.csv").write_text((data / "train.csv").read_text())  # an input inside a run directory
    with pytest.raises(OutputError, match="holds the input .*train.csv, and writing the output replaces"):
        curator.run({**cfg, "input": {"path": str(out / "train.csv")}}, out=out)
    assert (out / "train.csv").is_file() and (out / MARKER).is_file()


def test_failure_leaves_the_previous_output_intact(tmp_path):
    final = tmp_path / "out"
    with atomic_dir(final) as tmp:
        (tmp / "a.txt").write_text("one")
    with pytest.raises(RuntimeError):
        with atomic_dir(final) as tmp:
            (tmp / "half.txt").write_text("half")
            raise RuntimeError("killed")
    assert (final / "a.txt").read_text() == "one" and not (final / "half.txt").exists()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out"]


def test_a_kill_mid_write_leaves_the_previous_output_and_the_next_run_cleans_up(tmp_path):
    final = tmp_path / "out"
    with atomic_dir(final) as tmp:
        (tmp / "a.txt").write_text("one")
    script = textwrap.dedent(f"""
        import sys, time
        from pathlib import Path
        from curator.export import atomic_dir
        with atomic_dir(Path({str(final)!r})) as tmp:
            (tmp / "half.txt").write_text("half")
            print("writing", flush=True)
            time.sleep(60)
    """)
    proc = subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE, text=True)
    assert proc.stdout.readline().strip() == "writing"
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    assert (final / "a.txt").read_text() == "one" and not (final / "half.txt").exists()
    assert any(p.name.startswith(".out.tmp-") for p in tmp_path.iterdir())  # the killed run's leftovers
    with atomic_dir(final) as tmp:
        (tmp / "c.txt").write_text("three")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out"]


def test_a_swap_interrupted_between_renames_is_recovered(tmp_path):
    final = tmp_path / "out"
    backup = tmp_path / ".out.previous"
    backup.mkdir()
    (backup / "a.txt").write_text("one")
    recover(final)
    assert (final / "a.txt").read_text() == "one" and not backup.exists()


def test_output_path_that_is_a_file_is_a_clear_error(tmp_path):
    (tmp_path / "out").write_text("not a dir")
    with pytest.raises(OutputError, match="exists and is not a directory"):
        with atomic_dir(tmp_path / "out"):
            pass


def test_parquet_bytes_are_deterministic_and_mixed_metadata_is_stored(tmp_path):
    df = pd.DataFrame({"id": ["a", "b"], "meta": [1, "x"]}, dtype=object)
    write_parquet(df, tmp_path / "1.parquet")
    write_parquet(df, tmp_path / "2.parquet")
    assert sha256_file(tmp_path / "1.parquet") == sha256_file(tmp_path / "2.parquet")
    assert pd.read_parquet(tmp_path / "1.parquet")["meta"].tolist() == ["1", "x"]
