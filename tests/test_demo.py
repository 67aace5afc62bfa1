"""`make demo` is the README's promise: it must run, and say where the results are."""

import json
import subprocess

from conftest import REPO


def test_make_demo_curates_the_sample_data(tmp_path):
    out = tmp_path / "demo"
    proc = subprocess.run(["make", "--no-print-directory", "demo", f"DEMO={out}"], cwd=REPO,
                          capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    for name in ("text", "images"):
        assert f"{out}/{name}/report.html" in proc.stdout
        manifest = json.loads((out / name / "manifest.json").read_text())
        assert manifest["counts"]["rows_kept"] > 0
        assert (out / name / "train.parquet").stat().st_size > 0
    metrics = json.loads((out / "text-model" / "metrics.json").read_text())
    assert f"{out}/text-model/metrics.json" in proc.stdout
    assert metrics["test"]["accuracy"] > 0
