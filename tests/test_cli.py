"""Every CLI command, its errors, and the README promise that lists them."""

import json
import re
from pathlib import Path

import pandas as pd
import pytest
from typer.testing import CliRunner

from curator.cli import app

from conftest import REPO, SAMPLE, write_csv, write_config

runner = CliRunner()


def commands():
    import typer.main
    return typer.main.get_command(app).commands


def test_init_writes_a_starter_that_runs_after_pointing_it_at_data(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    result = runner.invoke(app, ["init", "--modality", "text"])
    assert result.exit_code == 0, result.output
    assert "wrote curator.yaml" in result.output
    again = runner.invoke(app, ["init"])
    assert again.exit_code == 1 and "already exists (use --force to overwrite)" in again.output
    text = Path("curator.yaml").read_text().replace("path: data/train.csv", "path: data.csv")
    Path("curator.yaml").write_text(text)
    write_csv(tmp_path / "data.csv", [{"text": f"ticket number {i} about billing", "label": "billing"} for i in range(30)])
    result = runner.invoke(app, ["run", "curator.yaml", "--quiet"])
    assert result.exit_code == 0, result.output
    assert (tmp_path / "out" / "report.html").exists()


def test_run_prints_the_flow_and_where_the_report_is(tmp_path):
    write_csv(tmp_path / "d.csv", [{"text": f"text row number {i}", "label": "ab"[i % 2]} for i in range(50)]
              + [{"text": "text row number 1", "label": "b"}])
    cfg = write_config(tmp_path / "c.yaml", {"input": {"path": "d.csv"}})
    result = runner.invoke(app, ["run", str(cfg), "--out", str(tmp_path / "o"), "-q"])
    assert result.exit_code == 0, result.output
    assert "dedup_exact" in result.output and "report:" in result.output
    assert (tmp_path / "o" / "manifest.json").exists()


@pytest.mark.parametrize("config, message", [
    ({"input": {"path": "d.csv"}, "splitt": {}}, "error: c.yaml: unknown key 'splitt' (did you mean 'split'?)"),
    ({"input": {"path": "missing.csv"}}, "missing.csv"),
    ({"input": {"path": "d.csv"}, "columns": {"text": "body"}}, "column 'body' not found"),
])
def test_run_errors_are_one_line_and_exit_1(tmp_path, monkeypatch, config, message):
    monkeypatch.chdir(tmp_path)
    write_csv(tmp_path / "d.csv", [{"text": "some text here", "label": "a"}])
    write_config(tmp_path / "c.yaml", config)
    result = runner.invoke(app, ["run", "c.yaml", "-q"])
    assert result.exit_code == 1
    assert message in " ".join(result.output.split())
    assert "Traceback" not in result.output
    assert len(result.output.strip().splitlines()) <= 2  # one logical line (a long one may wrap)


def test_inspect_profiles_a_dataset(tmp_path):
    rows = [{"text": "Hello there", "label": "a", "channel": ""}, {"text": "hello  there", "label": "b", "channel": "web"},
            {"text": "something else entirely", "label": "a", "channel": "web"}]
    write_csv(tmp_path / "d.csv", rows)
    result = runner.invoke(app, ["inspect", str(tmp_path / "d.csv"), "--json"])
    assert result.exit_code == 0, result.output
    profile = json.loads(result.output)
    assert profile["rows"] == 3 and profile["labels"] == {"a": 2, "b": 1}
    assert profile["exact_duplicates"] == {"extra_rows": 1, "groups": 1}
    assert profile["missing"] == {"channel": 1}
    assert profile["lengths"]["chars_max"] == 23
    human = runner.invoke(app, ["inspect", str(tmp_path / "d.csv")])
    assert human.exit_code == 0 and "3 rows readable of 3" in " ".join(human.output.split())


def test_inspect_guesses_modality_from_what_the_folder_holds_and_takes_an_encoding(tmp_path):
    from PIL import Image

    (tmp_path / "tables").mkdir()
    write_csv(tmp_path / "tables" / "a.csv", [{"text": "coffee", "label": "a"}])
    (tmp_path / "imgs" / "cat").mkdir(parents=True)
    Image.new("RGB", (4, 3)).save(tmp_path / "imgs" / "cat" / "a.png")
    (tmp_path / "urls.csv").write_text("image,label\nhttps://example.com/a.png,x\n")
    (tmp_path / "latin.csv").write_bytes("text,label\ncaf\u00e9,a\n".encode("latin-1"))

    def profile(*args):
        result = runner.invoke(app, ["inspect", *map(str, args), "--json"])
        assert result.exit_code == 0, result.output
        return json.loads(result.output)
    assert profile(tmp_path / "tables")["modality"] == "text"
    images = profile(tmp_path / "imgs")
    assert images["modality"] == "image" and images["image_sizes"]["width_max"] == 4
    urls = profile(tmp_path / "urls.csv", "-m", "image")     # URLs are not decoded: no sizes to show
    assert urls["rows"] == 1 and "image_sizes" not in urls
    assert profile(tmp_path / "latin.csv", "--encoding", "latin-1")["rows"] == 1

def test_inspect_reads_an_image_manifest_by_its_path_column():
    result = runner.invoke(app, ["inspect", str(SAMPLE / "images" / "manifest.csv"), "--modality", "image",
                                 "--image", "path", "--json"])
    assert result.exit_code == 0, result.output
    profile = json.loads(result.output)
    assert profile["modality"] == "image" and profile["rows_read"] == 40 and profile["rows"] < 40
    assert profile["unreadable"]["image_path_outside_root"] == 2


def test_inspect_missing_file_is_one_line(tmp_path):
    result = runner.invoke(app, ["inspect", str(tmp_path / "nope.csv")])
    assert result.exit_code == 1 and "nope.csv" in result.output and "Traceback" not in result.output


def test_every_command_has_help_with_an_example():
    for name, cmd in commands().items():
        assert cmd.help and "Example: curator " + name in cmd.help, name
        result = runner.invoke(app, [name, "--help"])
        assert result.exit_code == 0 and "Example" in result.output


def test_readme_documents_every_command_and_the_two_setup_commands():
    readme = (REPO / "README.md").read_text()
    for name in commands():
        assert re.search(rf"curator {name}\b", readme), f"README does not show `curator {name}`"
    assert "make demo" in readme and "make test" in readme


def _tickets(path, texts):
    write_csv(path, [{"text": t, "label": "a"} for t in texts])
    return path


TOPICS = ["laptop", "phone", "blender", "camera", "kettle", "monitor"]
LONG = [f"the {t} I ordered arrived two weeks late and the box was crushed so the {t} is cracked and broken"
        for t in TOPICS]


def test_dedup_against_a_reference_and_reuse_of_the_saved_index(tmp_path):
    data = _tickets(tmp_path / "train.csv", LONG + ["a completely different ticket about my password reset email"])
    ref = _tickets(tmp_path / "bench.csv", [LONG[2].upper() + "!", "unrelated benchmark text about cats"])
    first = runner.invoke(app, ["dedup", "--data", str(data), "--against", str(ref),
                                "--save-index", str(tmp_path / "bench.npz"), "--out", str(tmp_path / "clean.parquet")])
    assert first.exit_code == 0, first.output
    matches = pd.read_parquet(tmp_path / "clean.matches.parquet")
    assert len(matches) == 1 and matches["similarity"].iloc[0] >= 0.8
    assert len(pd.read_parquet(tmp_path / "clean.parquet")) == 6
    # The saved index answers the same without the reference file, and refuses other parameters.
    (tmp_path / "bench.csv").unlink()
    again = runner.invoke(app, ["dedup", "--data", str(data), "--against", str(tmp_path / "bench.npz")])
    assert again.exit_code == 0 and "1 of 7 rows match the reference" in " ".join(again.output.split())
    other = runner.invoke(app, ["dedup", "--data", str(data), "--against", str(tmp_path / "bench.npz"), "--n", "3"])
    assert other.exit_code == 1 and "reference index and query differ in shingle.n" in " ".join(other.output.split())


def test_dedup_reports_and_writes_the_rows_it_could_not_read(tmp_path):
    data, ref = tmp_path / "d.jsonl", tmp_path / "r.jsonl"
    data.write_text(f'{{"text": "{LONG[0]}"}}\n{{bad json\n{{"text": "{LONG[1]}"}}\n', encoding="utf-8")
    ref.write_text(f'{{"text": "{LONG[0].upper()}"}}\nnot json either\n', encoding="utf-8")
    result = runner.invoke(app, ["dedup", "--data", str(data), "--against", str(ref),
                                 "--out", str(tmp_path / "o" / "clean.parquet")])
    assert result.exit_code == 0, result.output
    said = " ".join(result.output.split())
    assert "1 of 2 rows match the reference" in said
    assert f"{data}: 1 unreadable row left out (malformed_json 1)" in said
    assert f"{ref}: 1 unreadable row left out (malformed_json 1)" in said
    dropped = pd.read_parquet(tmp_path / "o" / "clean.dropped.parquet")
    assert dropped[["source", "reason", "raw"]].values.tolist() == [["d.jsonl:2", "malformed_json", "{bad json"]]


def test_dedup_text_names_the_column_of_the_reference_too(tmp_path):
    data, ref = tmp_path / "d.csv", tmp_path / "r.csv"
    write_csv(data, [{"body": t} for t in LONG])
    write_csv(ref, [{"body": LONG[3].upper() + "!"}])
    result = runner.invoke(app, ["dedup", "--data", str(data), "--against", str(ref), "--text", "body"])
    assert result.exit_code == 0, result.output
    assert "1 of 6 rows match the reference" in " ".join(result.output.split())


@pytest.mark.parametrize("option, message", [
    (["--threshold", "2"], "dedup: --threshold: Input should be less than or equal to 1, got 2.0"),
    (["--measure", "cosine"], "dedup: --measure: Input should be 'jaccard' or 'containment', got 'cosine'"),
])
def test_dedup_option_errors_are_one_readable_line(tmp_path, option, message):
    result = runner.invoke(app, ["dedup", "--data", "d.csv", "--against", "r.csv", *option])
    assert result.exit_code == 1 and " ".join(result.output.split()) == f"error: {message}"


def test_dedup_calibrate_normalises_as_the_dedup_step_does(tmp_path):
    rows = [{"text_a": "Hello, there! How are you today, my friend?", "text_b": "hello there how are you today my friend",
             "duplicate": "yes"},
            {"text_a": "Refund please: order #123 arrived broken.", "text_b": "Refund please order 123 arrived broken",
             "duplicate": "yes"},
            {"text_a": "my parcel never arrived at the door", "text_b": "please reset the password of my account",
             "duplicate": "no"}]
    write_csv(tmp_path / "pairs.csv", rows)
    result = runner.invoke(app, ["dedup", "calibrate", str(tmp_path / "pairs.csv")])
    assert result.exit_code == 0, result.output
    assert "suggested threshold: 0.95" in result.output  # punctuation is folded: the duplicates score 1.0
    table = [line.split("│") for line in result.output.splitlines() if line.startswith("│  0.950")]
    assert [cell.strip() for cell in table[0][2:5]] == ["2", "0", "0"]  # tp, fp, fn at 0.95


def test_dedup_calibrate_says_when_no_threshold_separates_the_pairs(tmp_path):
    write_csv(tmp_path / "pairs.csv", [{"text_a": LONG[0], "text_b": LONG[1][::-1], "duplicate": "yes"},
                                       {"text_a": LONG[2], "text_b": LONG[3][::-1], "duplicate": "no"}])
    result = runner.invoke(app, ["dedup", "calibrate", str(tmp_path / "pairs.csv")])
    assert result.exit_code == 0, result.output
    assert "no threshold separates these pairs: every pair labelled duplicate scores below 0.30" in result.output
    assert "suggested threshold" not in result.output


def test_dedup_calibrate_suggests_a_threshold(tmp_path):
    base = "the parcel with my new laptop was marked as delivered on monday but it never arrived at my door today"
    words = base.split()
    rows = []
    for k in range(8):
        edited = words.copy()
        edited[k + 3] = "changed"
        rows.append({"text_a": base, "text_b": " ".join(edited), "duplicate": "yes"})
        rows.append({"text_a": base, "text_b": f"a different ticket number {k} about billing and refunds for my card", "duplicate": "no"})
    write_csv(tmp_path / "pairs.csv", rows)
    result = runner.invoke(app, ["dedup", "calibrate", str(tmp_path / "pairs.csv")])
    assert result.exit_code == 0, result.output
    suggested = float(result.output.split("suggested threshold:")[1].split()[0])
    assert 0.3 <= suggested <= 0.65  # one word in 19 changed: Jaccard about 0.58 on 5-word shingles
    bad = tmp_path / "bad.csv"
    write_csv(bad, [{"text_a": "x", "text_b": "y", "duplicate": "maybe"}])
    out = runner.invoke(app, ["dedup", "calibrate", str(bad)])
    assert out.exit_code == 1 and "maybe" in out.output
