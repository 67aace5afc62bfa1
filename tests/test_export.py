"""The output directory is swapped in atomically; files are written deterministically."""

import os
import signal
import subprocess
import sys
import textwrap

import pandas as pd
import pytest

from curator.errors import OutputError
from curator.export import atomic_dir, recover, sha256_file, write_parquet


def test_success_replaces_the_previous_output(tmp_path):
    final = tmp_path / "out"
    with atomic_dir(final) as tmp:
        (tmp / "a.txt").write_text("one")
    with atomic_dir(final) as tmp:
        (tmp / "b.txt").write_text("two")
    assert sorted(p.name for p in final.iterdir()) == ["b.txt"]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out"]


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
