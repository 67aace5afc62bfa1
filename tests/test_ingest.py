"""Tests for curator.ingest: every format, every reason code and every whole-file error, on tiny
files made in tmp_path."""

from __future__ import annotations

import csv
import io
import json
import re
import sys
from pathlib import Path

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from PIL import Image

import curator
from curator import progress
from curator.config import Config, parse_config
from curator.errors import ConfigError, DuplicateIdError, EmptyDatasetError, InputError, MissingColumnError
from curator.ingest import REASONS, IngestResult, ingest
from curator.ingest import decode as decode_mod
from curator.ingest import delimited
from curator.ingest.part import arrow_series

BAD_COLUMNS = ["id", "source", "reason", "detail", "raw"]


def make_cfg(path: Path | str, **extra) -> Config:
    inp = {"path": str(path), **extra.pop("input", {})}
    return parse_config({"input": inp, **extra}, base_dir=Path(path).parent if Path(path).is_absolute() else None)


def read(path: Path | str, **extra) -> IngestResult:
    result = ingest(make_cfg(path, **extra))
    assert result.rows_read == len(result.table) + len(result.bad)
    assert list(result.bad.columns) == BAD_COLUMNS
    assert set(result.bad["reason"]) <= set(REASONS)
    assert all(result.bad[c].dtype == object for c in BAD_COLUMNS)
    assert all(result.table[c].dtype == object for c in ("id", "text", "image", "label", "source")
               if c in result.table.columns)
    assert result.table["id"].is_unique and result.bad["id"].is_unique
    return result


def write(path: Path, data: str | bytes) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    if isinstance(data, str):
        data = data.encode("utf-8")
    path.write_bytes(data)
    return path


def reasons(result: IngestResult) -> dict[str, str]:
    return dict(zip(result.bad["source"], result.bad["reason"]))


# --- CSV and TSV -------------------------------------------------------------------------------------


def test_csv_columns_dtypes_and_metadata(tmp_path):
    f = write(tmp_path / "data.csv", "text,label,zip,source\nhello,pos,007,web\nbye,,,\n")
    r = read(f)
    assert list(r.table.columns) == ["id", "text", "label", "source", "zip", "meta_source"]
    for col in ("id", "text", "label", "source", "zip"):
        assert r.table[col].dtype == object
    assert r.table["zip"].tolist() == ["007", None]          # strings stay strings, empty -> None
    assert r.table["label"].tolist() == ["pos", None]
    assert r.table["source"].tolist() == ["data.csv:2", "data.csv:3"]
    assert r.table["meta_source"].tolist() == ["web", None]
    assert r.root == tmp_path
    assert r.bad.empty


def test_columns_curator_writes_are_kept_as_meta(tmp_path):
    f = write(tmp_path / "data.csv", "text,split,group,content_hash,cluster\nhi,orig,g1,h1,c1\n")
    r = read(f)
    assert list(r.table.columns) == ["id", "text", "label", "source", "meta_split", "meta_group",
                                     "meta_content_hash", "meta_cluster"]
    assert r.table.iloc[0, 4:].tolist() == ["orig", "g1", "h1", "c1"]
    f = write(tmp_path / "why.csv", "text,reason,detail,step,augmenter,related_id\nhi,r,d,s,a,x\n")
    assert read(f).table.columns.tolist()[4:] == ["meta_reason", "meta_detail", "meta_step", "meta_augmenter",
                                                  "meta_related_id"]


def test_a_users_reason_column_survives_in_the_dropped_rows_and_new_rows(tmp_path):
    rows = "".join(f"ticket number {i} about a parcel,{'a' if i % 4 else 'b'},note {i}\n" for i in range(40))
    f = write(tmp_path / "data.csv", "text,label,reason\n" + rows + "ticket number 1 about a parcel,a,dup\n")
    result = curator.run({"input": {"path": str(f)}, "modality": "text", "seed": 0,
                          "augment": {"enabled": True, "text": [{"name": "word_swap"}]}}, out=tmp_path / "out")
    dropped = result.read("dropped")
    assert dropped.loc[dropped["reason"] == "exact_duplicate", "meta_reason"].tolist() == ["dup"]
    train = result.read("train")
    new = train[train["parent_id"].notna()]
    assert len(new) and new["meta_reason"].str.startswith("note ").all()


def test_csv_line_numbers_with_blank_multiline_and_malformed_lines(tmp_path):
    f = write(tmp_path / "data.csv",
              'text,label,n\n'          # 1
              'one,a,1\n'               # 2
              '\n'                      # 3 blank: not a row
              '"two\nlines",b,2\n'      # 4-5
              'too,many,fields,here\n'  # 6
              'short,c\n'               # 7
              '"three ""q""",c,3\n'     # 8
              ',,\n'                    # 9 all empty: treated as blank
              'four,d,4\n')             # 10
    r = read(f)
    assert r.table["text"].tolist() == ["one", "two\nlines", 'three "q"', "four"]
    assert r.table["source"].tolist() == ["data.csv:2", "data.csv:4", "data.csv:8", "data.csv:10"]
    assert reasons(r) == {"data.csv:6": "malformed_line", "data.csv:7": "malformed_line"}
    assert r.bad["detail"].tolist() == ["expected 3 fields, saw 4", "expected 3 fields, saw 2"]
    assert r.bad["raw"].tolist() == ["too,many,fields,here", "short,c"]
    assert r.bad["id"].tolist()[0].startswith("bad-") and len(r.bad["id"].tolist()[0]) == 20
    assert r.rows_read == 6


def test_csv_line_numbers_across_many_blocks(tmp_path, monkeypatch):
    monkeypatch.setattr(delimited, "_MIN_BLOCK", 256)
    lines, expected, bad_lines, n = ["text,label"], [], [], 1
    for i in range(300):
        if i % 7 == 3:
            lines.append(f"bad,{i},x")
            n += 1
            bad_lines.append(n)
        elif i % 5 == 0:
            lines.append(f'"multi {i}\nline",m')
            n += 1
            expected.append((f"multi {i}\nline", n))
            n += 1
        elif i % 11 == 0:
            lines.append("")
            n += 1
        else:
            lines.append(f"row {i},l")
            n += 1
            expected.append((f"row {i}", n))
    f = write(tmp_path / "big.csv", "\n".join(lines) + "\n")
    r = read(f, input={"chunk_rows": 4})
    assert list(zip(r.table["text"], r.table["source"])) == [(t, f"big.csv:{k}") for t, k in expected]
    assert r.bad["source"].tolist() == [f"big.csv:{k}" for k in bad_lines]


def test_tsv_by_extension_and_delimiter_option(tmp_path):
    f = write(tmp_path / "data.tsv", "text\tlabel\nhi, there\tpos\n")
    assert read(f).table["text"].tolist() == ["hi, there"]
    g = write(tmp_path / "semi.csv", "text;label\nhi, there;pos\n")
    assert read(g, input={"delimiter": ";"}).table["label"].tolist() == ["pos"]
    with pytest.raises(ConfigError, match="one character"):
        read(g, input={"delimiter": ";;"})


def test_tsv_values_starting_with_a_quote_do_not_swallow_rows(tmp_path):
    f = write(tmp_path / "data.tsv", 'text\tlabel\n"Oops it never closes\tpos\nsecond\tneg\n'
                                     'third "with quote"\tpos\n"quoted fully"\tneg\n')
    r = read(f)
    assert r.table["text"].tolist() == ['"Oops it never closes', "second", 'third "with quote"', '"quoted fully"']
    assert r.table["label"].tolist() == ["pos", "neg", "pos", "neg"] and r.bad.empty
    quoted = write(tmp_path / "quoted.tsv", 'text\tlabel\n"two\nlines"\tpos\n')
    assert read(quoted, input={"quote": '"'}).table["text"].tolist() == ["two\nlines"]
    plain = write(tmp_path / "plain.csv", 'text,label\n"as is",pos\n')
    assert read(plain, input={"quote": None}).table["text"].tolist() == ['"as is"']
    with pytest.raises(ConfigError, match="input.quote: expected 'auto', null or one character, got 'ab'"):
        read(plain, input={"quote": "ab"})

def test_reading_with_progress_bars_on(tmp_path):
    f = write(tmp_path / "data.csv", "text,label\na,b\n")
    save(picture(), tmp_path / "imgs" / "c" / "a.png")
    with progress.enabled():
        assert read(f).table["text"].tolist() == ["a"]
        assert read(tmp_path / "imgs", modality="image").table["label"].tolist() == ["c"]


def test_bad_encoding_row_and_latin1_via_encoding(tmp_path):
    f = write(tmp_path / "data.csv", "text,label\nplain,a\n".encode() + "café,b\n".encode("latin-1") + b"more,c\n")
    r = read(f)
    assert r.table["text"].tolist() == ["plain", "more"]
    assert reasons(r) == {"data.csv:3": "bad_encoding"}
    assert r.bad["raw"].iloc[0] == "caf\\xe9,b"
    assert "byte 0xe9 in column 'text'" in r.bad["detail"].iloc[0]
    latin = read(f, input={"encoding": "latin-1"})
    assert latin.table["text"].tolist() == ["plain", "café", "more"]
    assert latin.bad.empty


def test_cp1252_undefined_byte_is_one_bad_row(tmp_path):
    f = write(tmp_path / "data.csv", b"text,label\n\x93quoted\x94,a\nbad \x81 byte,b\n")
    r = read(f, input={"encoding": "cp1252"})
    assert r.table["text"].tolist() == ["\u201cquoted\u201d"]
    assert reasons(r) == {"data.csv:3": "bad_encoding"}
    assert r.bad["raw"].iloc[0] == "bad \\x81 byte,b"


def test_utf16_file_is_refused_with_a_hint(tmp_path):
    f = write(tmp_path / "x.csv", "text,label\nhello,a\nworld,b\n".encode("utf-16"))
    with pytest.raises(InputError) as err:
        read(f)
    assert str(err.value) == "x.csv: not valid utf-8 text (first bad byte at offset 0); set input.encoding"
    assert read(f, input={"encoding": "utf-16"}).table["text"].tolist() == ["hello", "world"]


def test_utf8_bom_is_not_part_of_the_header(tmp_path):
    f = write(tmp_path / "bom.csv", b"\xef\xbb\xbftext,label\nhi,a\n")
    assert read(f).table["text"].tolist() == ["hi"]


@pytest.mark.parametrize("content", [b"", b"text,label\n", b"text,label\n\n\n"])
def test_empty_file_raises_empty_dataset(tmp_path, content):
    f = write(tmp_path / "empty.csv", content)
    with pytest.raises(EmptyDatasetError, match="no rows"):
        read(f)


def test_all_rows_bad_raises_empty_dataset_naming_the_reason(tmp_path):
    f = write(tmp_path / "d.csv", "text,label\na,b,c\n")
    with pytest.raises(EmptyDatasetError, match="malformed_line: 1"):
        read(f)


def test_missing_column_message(tmp_path):
    f = write(tmp_path / "data.csv", "a,b,c\n1,2,3\n")
    with pytest.raises(MissingColumnError) as err:
        read(f, columns={"text": "body"})
    assert str(err.value) == "data.csv: column 'body' not found; columns are: a, b, c"


def test_label_column_optional_only_at_its_default(tmp_path):
    f = write(tmp_path / "data.csv", "text,other\nhi,x\n")
    r = read(f)
    assert r.table["label"].tolist() == [None]
    assert r.table["other"].tolist() == ["x"]
    with pytest.raises(MissingColumnError, match="column 'category' not found"):
        read(f, columns={"label": "category"})
    assert read(f, columns={"label": "other"}).table["label"].tolist() == ["x"]


def test_content_ids_stable_across_reads_and_when_a_row_is_inserted_before(tmp_path):
    rows = "text,label,lang\nalpha,a,en\nbeta,b,en\nalpha,a,en\n"
    f = write(tmp_path / "one.csv", rows)
    first, second = read(f), read(f)
    assert first.table["id"].tolist() == second.table["id"].tolist()
    ids = first.table["id"].tolist()
    assert ids[2] == ids[0] + "-2"  # identical content: numbered in order of appearance
    g = write(tmp_path / "two.csv", "text,label,lang\nnew row,z,de\n" + rows.split("\n", 1)[1])
    moved = read(g)
    assert moved.table["id"].tolist()[1:] == ids
    assert moved.table["source"].tolist()[1] == "two.csv:3"
    other_label = read(write(tmp_path / "three.csv", "text,label,lang\nalpha,b,en\n"))
    assert other_label.table["id"].iloc[0] != ids[0]  # the label is content


def test_user_id_column_missing_ids_and_duplicates(tmp_path):
    f = write(tmp_path / "data.csv", "uid,text\n007,a\n,b\n8,c\n")
    r = read(f, columns={"id": "uid"})
    assert r.table["id"].tolist() == ["007", "8"]
    assert "uid" not in r.table.columns
    assert reasons(r) == {"data.csv:3": "missing_id"}
    assert r.bad["detail"].iloc[0] == "column 'uid' is empty"
    assert json.loads(r.bad["raw"].iloc[0]) == {"uid": None, "text": "b"}
    dup = write(tmp_path / "dup.csv", "uid,text\n1,a\n2,b\n1,c\n3,d\n2,e\n1,f\n")
    with pytest.raises(DuplicateIdError) as err:
        read(dup, columns={"id": "uid"})
    assert str(err.value) == "dup.csv: 2 ids appear more than once in column 'uid': 1 (3 rows), 2 (2 rows)"


def test_glob_and_directory_read_files_in_sorted_order(tmp_path):
    write(tmp_path / "in" / "b.csv", "text\nfrom b\n")
    write(tmp_path / "in" / "a.csv", "text\nfrom a\n")
    write(tmp_path / "in" / "notes.md", "ignored")
    by_glob = read(tmp_path / "in" / "*.csv")
    assert by_glob.table["text"].tolist() == ["from a", "from b"]
    assert by_glob.table["source"].tolist() == ["a.csv:2", "b.csv:2"]
    by_dir = read(tmp_path / "in")
    assert by_dir.table["source"].tolist() == ["in/a.csv:2", "in/b.csv:2"]


def test_whole_input_errors(tmp_path):
    with pytest.raises(InputError, match="file not found"):
        read(tmp_path / "nope.csv")
    with pytest.raises(InputError, match="no files match"):
        read(tmp_path / "*.csv")
    with pytest.raises(InputError, match="unknown format '.xlsx'"):
        read(write(tmp_path / "data.xlsx", "x"))
    write(tmp_path / "mixed" / "a.csv", "text\na\n")
    write(tmp_path / "mixed" / "b.jsonl", '{"text": "b"}\n')
    with pytest.raises(InputError, match="several formats"):
        read(tmp_path / "mixed")
    with pytest.raises(InputError, match="duplicate column names: text"):
        read(write(tmp_path / "dupcol.csv", "text,text\na,b\n"))


# --- JSON Lines ----------------------------------------------------------------------------------------


def test_jsonl_rows_bad_lines_and_values(tmp_path):
    f = write(tmp_path / "data.jsonl",
              '{"text": "a", "label": 1, "n": 5, "tags": ["x", "y"], "when": "2021-01-01"}\n'  # 1
              '\n'                                                                           # 2
              '{"text": "b", "label": "neg", "extra": {"k": 1}}\n'                           # 3
              '{"text": "c", broken\n'                                                       # 4
              '[1, 2]\n'.encode() +                                                          # 5
              '{"text": "caf\xe9"}\n'.encode("latin-1") +                                    # 6
              b'{"text": "d", "label": true, "score": 0.5}')                                 # 7, no newline
    r = read(f)
    t = r.table
    assert t["text"].tolist() == ["a", "b", "d"]
    assert t["label"].tolist() == ["1", "neg", "true"]
    assert t["source"].tolist() == ["data.jsonl:1", "data.jsonl:3", "data.jsonl:7"]
    assert t["n"].tolist() == [5, None, None]
    assert t["tags"].tolist() == ['["x","y"]', None, None]
    assert t["extra"].tolist() == [None, '{"k":1}', None]
    assert t["when"].tolist() == ["2021-01-01", None, None]
    assert t["score"].tolist() == [None, None, 0.5]
    assert reasons(r) == {"data.jsonl:4": "malformed_json", "data.jsonl:5": "malformed_json",
                          "data.jsonl:6": "bad_encoding"}
    assert r.bad["detail"].iloc[1] == "expected a JSON object, got an array"
    assert r.bad["raw"].iloc[2] == '{"text": "caf\\xe9"}'


def test_jsonl_fast_and_line_by_line_paths_give_the_same_rows(tmp_path):
    lines = ['{"text": "t%d", "label": "l", "n": %d, "date": "2020-02-0%d"}' % (i, i, i % 9 + 1)
             for i in range(20)]
    clean = read(write(tmp_path / "clean.jsonl", "\n".join(lines) + "\n"))  # Arrow fast path
    broken = read(write(tmp_path / "broken.jsonl", "not json\n" + "\n".join(lines) + "\n"))  # json.loads path
    assert clean.table["id"].tolist() == broken.table["id"].tolist()
    assert clean.table["n"].tolist() == broken.table["n"].tolist() == list(range(20))
    assert broken.table["source"].iloc[0] == "broken.jsonl:2"
    floats = read(write(tmp_path / "floats.jsonl", '{"text": "a", "x": 1}\n{"text": "b", "x": 1.0}\n'))
    assert [type(v) for v in floats.table["x"]] == [int, float]  # as json.loads reads them


def test_json_extension_holding_lines_reads_as_jsonl(tmp_path):
    f = write(tmp_path / "data.json", '{"text": "a"}\n{"text": "b"}\n')
    assert read(f).table["text"].tolist() == ["a", "b"]


# --- Parquet and Hugging Face ------------------------------------------------------------------------------


def test_parquet(tmp_path):
    f = tmp_path / "data.parquet"
    pq.write_table(pa.table({"text": ["a", None, "c"], "label": [1, 2, None], "n": [1, None, 3],
                             "nested": [{"k": 1}, None, {"k": 3}]}), f)
    r = read(f, input={"chunk_rows": 2})
    assert r.table["text"].tolist() == ["a", None, "c"]
    assert r.table["label"].tolist() == ["1", "2", None]
    assert r.table["source"].tolist() == ["data.parquet:0", "data.parquet:1", "data.parquet:2"]
    assert r.table["n"].tolist()[0] == 1 and r.table["n"].tolist()[2] == 3 and pd.isna(r.table["n"].iloc[1])
    assert r.table["nested"].tolist() == ['{"k":1}', None, '{"k":3}']


def test_parquet_binary_column_that_is_not_utf8_and_no_id_column(tmp_path):
    f = tmp_path / "data.parquet"
    pq.write_table(pa.table({"text": ["a", "b", "c"], "b": pa.array([b"\xff\x00", b"ok", None], pa.binary())}), f)
    r = read(f)
    assert r.table["b"].tolist() == [b"\xff\x00", b"ok", None]      # metadata keeps its bytes
    assert r.table["id"].str.fullmatch("[0-9a-f]{16}").all()

def test_whole_float_labels_and_ids_are_written_as_integers(tmp_path):
    f = tmp_path / "data.parquet"   # pandas stores integers with a missing value as float64
    pd.DataFrame({"text": ["a", "b", "c", "d"], "label": [0, 1, None, 0.5],
                  "uid": [1.0, 2.0, 3.0, 4.5]}).to_parquet(f)
    r = read(f, columns={"id": "uid"})
    assert r.table["label"].tolist() == ["0", "1", None, "0.5"]
    assert r.table["id"].tolist() == ["1", "2", "3", "4.5"]
    assert read(write(tmp_path / "d.jsonl", '{"text": "a", "label": 1.0}\n{"text": "b", "label": true}\n'))\
        .table["label"].tolist() == ["1", "true"]

@pytest.mark.parametrize("column, message", [
    (pa.array([["a", "b"], ["hello world"]]), "column 'text' is list<element: string>; expected a string"),
    (pa.array([1, 2]), "column 'text' is int64; expected a string")])
def test_parquet_text_column_that_is_not_strings_is_refused(tmp_path, column, message):
    f = tmp_path / "data.parquet"
    pq.write_table(pa.table({"text": column, "label": ["x", "y"]}), f)
    with pytest.raises(InputError, match=f"^data.parquet: {re.escape(message)}$"):
        read(f)


def test_parquet_embedded_images_are_refused(tmp_path):
    f = tmp_path / "data.parquet"
    pq.write_table(pa.table({"image": [{"bytes": b"\x89PNG" * 1000, "path": "a.png"}], "label": ["x"]}), f)
    with pytest.raises(InputError, match="^data.parquet: column 'image' holds embedded images, which curator does "
                                         "not read; save them as files"):
        read(f, modality="image")

def test_parquet_duplicate_column_names_are_refused(tmp_path):
    f = tmp_path / "data.parquet"
    pq.write_table(pa.Table.from_arrays([pa.array(["a"]), pa.array(["x"]), pa.array(["b"])],
                                        names=["text", "label", "text"]), f)
    with pytest.raises(InputError, match="^data.parquet: duplicate column names: text$"):
        read(f)

def test_hf_dataset_with_classlabel(tmp_path):
    datasets = pytest.importorskip("datasets")
    features = datasets.Features({"text": datasets.Value("string"),
                                  "label": datasets.ClassLabel(names=["neg", "pos"]),
                                  "score": datasets.Value("float32")})
    ds = datasets.Dataset.from_dict({"text": ["bad", "good"], "label": [0, 1], "score": [0.5, 1.5]},
                                    features=features)
    ds.save_to_disk(str(tmp_path / "hfds"))
    r = read(tmp_path / "hfds")
    assert r.table["label"].tolist() == ["neg", "pos"]
    assert r.table["source"].tolist() == ["hfds:0", "hfds:1"]
    assert r.table["score"].tolist() == [0.5, 1.5]


def test_hf_dataset_dict_splits(tmp_path):
    datasets = pytest.importorskip("datasets")
    dd = datasets.DatasetDict({"train": datasets.Dataset.from_dict({"text": ["a", "b"]}),
                               "test": datasets.Dataset.from_dict({"text": ["c"]})})
    dd.save_to_disk(str(tmp_path / "dd"))
    both = read(tmp_path / "dd")
    assert both.table["text"].tolist() == ["a", "b", "c"]
    assert both.table["hf_split"].tolist() == ["train", "train", "test"]
    assert both.table["source"].tolist() == ["dd/train:0", "dd/train:1", "dd/test:0"]
    one = read(tmp_path / "dd", input={"hf_split": "test"})
    assert one.table["text"].tolist() == ["c"] and "hf_split" not in one.table.columns
    with pytest.raises(InputError, match="no split 'valid'; splits are: train, test"):
        read(tmp_path / "dd", input={"hf_split": "valid"})


def test_hf_dataset_dict_with_a_split_column(tmp_path):
    datasets = pytest.importorskip("datasets")
    dd = datasets.DatasetDict({"train": datasets.Dataset.from_dict({"text": ["a"], "split": ["orig"]})})
    dd.save_to_disk(str(tmp_path / "dd"))
    r = read(tmp_path / "dd")
    assert r.table["meta_split"].tolist() == ["orig"] and r.table["hf_split"].tolist() == ["train"]

def test_hf_embedded_images_are_refused(tmp_path):
    datasets = pytest.importorskip("datasets")
    buf = io.BytesIO()
    picture().save(buf, format="PNG")
    ds = datasets.Dataset.from_dict({"image": [{"bytes": buf.getvalue(), "path": None}], "label": ["x"]},
                                    features=datasets.Features({"image": datasets.Image(),
                                                                "label": datasets.Value("string")}))
    ds.save_to_disk(str(tmp_path / "hfds"))
    with pytest.raises(InputError, match="^hfds: column 'image' holds embedded images"):
        read(tmp_path / "hfds", modality="image")

def test_hf_without_datasets_installed_names_the_extra(tmp_path, monkeypatch):
    write(tmp_path / "hfds" / "dataset_info.json", "{}")
    monkeypatch.setitem(sys.modules, "datasets", None)
    with pytest.raises(InputError, match=r"pip install 'curator\[hf\]'"):
        read(tmp_path / "hfds")


# --- Images ------------------------------------------------------------------------------------------------


def picture(size=(8, 6), color=(200, 30, 30)) -> Image.Image:
    im = Image.new("RGB", size, color)
    im.putpixel((1, 1), (0, 0, 255))
    return im


def save(im: Image.Image, path: Path, **kw) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    im.save(path, **kw)
    return path


def test_image_folder_labels_sizes_and_pixel_hash(tmp_path):
    root = tmp_path / "imgs"
    a = save(picture(), root / "cat" / "a.png", compress_level=0)
    b = save(picture(), root / "cat" / "b.PNG", compress_level=9)
    save(picture((5, 7), (0, 255, 0)), root / "dog" / "c.jpg", quality=90)
    write(root / "dog" / "notes.txt", "not an image")
    save(picture(), root / ".cache" / "hidden.png")
    assert a.read_bytes() != b.read_bytes()
    r = read(root, modality="image")
    t = r.table
    assert list(t.columns) == ["id", "image", "label", "source", "image_hash", "image_width", "image_height",
                               "image_format"]
    assert t["image"].tolist() == ["cat/a.png", "cat/b.PNG", "dog/c.jpg"]
    assert t["source"].tolist() == t["image"].tolist()
    assert t["label"].tolist() == ["cat", "cat", "dog"]
    assert t["image_hash"].iloc[0] == t["image_hash"].iloc[1] != t["image_hash"].iloc[2]
    assert len(t["image_hash"].iloc[0]) == 32
    assert t["image_format"].tolist() == ["PNG", "PNG", "JPEG"]
    assert (t["image_width"].iloc[2], t["image_height"].iloc[2]) == (5, 7)
    assert r.root == root
    with pytest.raises(InputError, match="needs modality: image"):
        read(root)


def test_unreadable_images(tmp_path):
    root = tmp_path / "imgs"
    good = save(picture((64, 64)), root / "ok" / "good.png")
    data = good.read_bytes()
    write(root / "bad" / "truncated.png", data[: len(data) // 2])
    write(root / "bad" / "corrupt.jpg", b"\xff\xd8\xff\xe0" + b"garbage" * 20)
    write(root / "bad" / "empty.png", b"")
    write(root / "bad" / "text.png", "just words")
    r = read(root, modality="image")
    assert r.table["image"].tolist() == ["ok/good.png"]
    assert reasons(r) == {f"bad/{n}": "image_unreadable"
                          for n in ("corrupt.jpg", "empty.png", "text.png", "truncated.png")}
    details = dict(zip(r.bad["source"], r.bad["detail"]))
    assert details["bad/empty.png"] == "empty file (0 bytes)"
    assert str(tmp_path) not in details["bad/text.png"]
    assert r.bad["raw"].tolist() == r.bad["source"].tolist()


def test_exif_orientation_alpha_and_animation(tmp_path):
    root = tmp_path / "imgs"
    im = picture((10, 4))
    exif = Image.Exif()
    exif[0x0112] = 6  # rotate 90 degrees
    save(im, root / "x" / "rotated.jpg", exif=exif.tobytes())
    save(Image.new("RGBA", (3, 3), (1, 2, 3, 0)), root / "x" / "clear.png")
    save(Image.new("RGBA", (3, 3), (1, 2, 3, 255)), root / "x" / "opaque.png")
    frames = [Image.new("RGB", (4, 4), c) for c in ((255, 0, 0), (0, 255, 0))]
    frames[0].save(root / "x" / "anim.gif", save_all=True, append_images=frames[1:])
    save(Image.new("RGB", (4, 4), (255, 0, 0)), root / "x" / "still.gif")
    t = read(root, modality="image").table.set_index("image")
    assert (t.loc["x/rotated.jpg", "image_width"], t.loc["x/rotated.jpg", "image_height"]) == (4, 10)
    assert t.loc["x/clear.png", "image_hash"] != t.loc["x/opaque.png", "image_hash"]
    assert t.loc["x/anim.gif", "image_hash"] == t.loc["x/still.gif", "image_hash"]


def test_decompression_bomb_is_unreadable(tmp_path, monkeypatch):
    save(picture((40, 40)), tmp_path / "imgs" / "a" / "big.png")
    save(picture((5, 5)), tmp_path / "imgs" / "a" / "small.png")
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", 100)  # 40x40 is more than twice that: an error
    r = read(tmp_path / "imgs", modality="image")
    assert r.table["image"].tolist() == ["a/small.png"]
    assert reasons(r) == {"a/big.png": "image_unreadable"}
    assert r.bad["detail"].iloc[0].startswith("decompression bomb")


def test_manifest_paths_outside_root_missing_and_urls(tmp_path):
    root = tmp_path / "ds"
    save(picture(), root / "img" / "a.png")
    save(picture(), tmp_path / "x.png")  # exists, but outside the root
    (root / "img" / "link.png").symlink_to(tmp_path / "x.png")
    f = write(root / "manifest.csv",
              "image,label\n"
              "img/a.png,cat\n"
              "./img/../img/a.png,dup\n"
              "../x.png,cat\n"
              "/etc/hosts,cat\n"
              "img/missing.png,cat\n"
              "https://example.com/a.png,dog\n"
              "img/link.png,cat\n")
    r = read(f, modality="image")
    assert r.table["image"].tolist() == ["img/a.png", "img/a.png", "https://example.com/a.png"]
    assert r.table["source"].tolist() == ["manifest.csv:2", "manifest.csv:3", "manifest.csv:7"]
    assert r.table["image_hash"].iloc[2] is None and pd.isna(r.table["image_width"].iloc[2])
    assert reasons(r) == {"manifest.csv:4": "image_path_outside_root", "manifest.csv:5": "image_path_outside_root",
                          "manifest.csv:6": "image_missing", "manifest.csv:8": "image_path_outside_root"}
    assert r.bad["raw"].tolist() == ["../x.png", "/etc/hosts", "img/missing.png", "img/link.png"]


def test_image_path_with_a_nul_byte_is_missing(tmp_path):
    save(picture(), tmp_path / "a" / "0.png")
    f = write(tmp_path / "m.jsonl", '{"image": "a/0.png"}\n{"image": "a/1\\u0000.png"}\n')
    r = read(f, modality="image")
    assert r.table["image"].tolist() == ["a/0.png"]
    assert reasons(r) == {"m.jsonl:2": "image_missing"} and "NUL" in r.bad["detail"].iloc[0]

def test_bad_row_detail_is_clipped(tmp_path):
    f = write(tmp_path / "m.jsonl", json.dumps({"image": "img/" + "a" * 2000 + ".png"}) + "\n")
    with pytest.raises(EmptyDatasetError) as err:
        read(f, modality="image")
    assert "image_missing: 1" in str(err.value) and len(str(err.value)) < 700

def test_jsonl_manifest_with_custom_image_column(tmp_path):
    save(picture(), tmp_path / "p" / "a.png")
    f = write(tmp_path / "m.jsonl", '{"path": "p/a.png", "label": "x"}\n')
    r = read(f, modality="image", columns={"image": "path"})
    assert r.table["image"].tolist() == ["p/a.png"] and r.table["image_format"].tolist() == ["PNG"]


def test_parallel_decode_matches_serial(tmp_path):
    paths = [str(save(picture((4 + i % 5, 3), (i, 2 * i, 3)), tmp_path / f"{i}.png")) for i in range(20)]
    write(tmp_path / "broken.png", b"nope")
    paths.append(str(tmp_path / "broken.png"))
    serial = decode_mod.decode_all(paths)
    parallel = decode_mod.decode_all(paths, chunk=4, serial_below=0)
    assert parallel == serial
    assert isinstance(serial[-1], str) and isinstance(serial[0], tuple)


# --- Label Studio --------------------------------------------------------------------------------------------


def ann(choice, cancelled=False, from_name="sentiment"):
    return {"was_cancelled": cancelled,
            "result": [{"from_name": from_name, "to_name": "text", "type": "choices",
                        "value": {"choices": [choice]}}]}


def test_labelstudio_export(tmp_path):
    tasks = [
        {"id": 11, "data": {"text": "two agree", "id": "r1", "lang": "en"},
         "annotations": [ann("pos"), ann("pos"), ann("neg", cancelled=True)]},
        {"id": 12, "data": {"text": "split vote", "id": "r2"},
         "annotations": [ann("pos"), ann("neg")]},
        {"id": 13, "data": {"text": "one", "id": "r3"}, "annotations": [ann("neg")]},
        {"id": 14, "data": {"text": "none", "id": "r4"}, "annotations": []},
        {"id": 15, "data": {"text": "no id"}, "annotations": [ann("pos")]},
    ]
    f = write(tmp_path / "export.json", json.dumps(tasks))
    r = read(f)
    t = r.table
    assert t["id"].tolist() == ["r1", "r2", "r3", "r4"]
    assert t["label"].tolist() == ["pos", "neg", "neg", None]
    assert t["annotators"].tolist() == [2, 2, 1, 0]
    assert t["ls_agreement"].tolist() == [1.0, 0.5, 1.0, None]
    assert t["ls_task_id"].tolist() == [11, 12, 13, 14]
    assert t["source"].tolist() == ["export.json#task11", "export.json#task12", "export.json#task13",
                                    "export.json#task14"]
    assert t["lang"].tolist() == ["en", None, None, None]
    assert reasons(r) == {"export.json#task15": "missing_id"}


def test_labelstudio_unreadable_tasks_sharing_an_id_get_distinct_ids(tmp_path):
    tasks = [{"id": 1, "data": {"text": "fine"}, "annotations": [ann("pos")]},
             {"id": 7, "data": None}, {"id": 7, "data": "oops"}]
    r = read(write(tmp_path / "ls.json", json.dumps(tasks)))
    assert r.bad["source"].tolist() == ["ls.json#task7", "ls.json#task7"]
    assert r.bad["reason"].tolist() == ["malformed_json", "malformed_json"]

def test_labelstudio_from_name_and_images(tmp_path):
    save(picture(), tmp_path / "imgs" / "a.png")
    both = {"was_cancelled": False, "result": [
        {"from_name": "quality", "type": "choices", "value": {"choices": ["blurry"]}},
        {"from_name": "animal", "type": "choices", "value": {"choices": ["cat"]}}]}
    tasks = [{"id": 1, "data": {"image": "/data/local-files/?d=imgs/a.png"}, "annotations": [both]},
             {"id": 2, "data": {"image": "https://example.com/b.png"}, "annotations": [both]},
             {"id": 3, "data": {"image": "/data/local-files/?d=../escape.png"}, "annotations": [both]}]
    f = write(tmp_path / "ls.json", json.dumps(tasks))
    r = read(f, modality="image", columns={"from_name": "animal"})
    assert r.table["image"].tolist() == ["imgs/a.png", "https://example.com/b.png"]
    assert r.table["label"].tolist() == ["cat", "cat"]
    assert r.table["image_format"].tolist() == ["PNG", None]
    assert reasons(r) == {"ls.json#task3": "image_path_outside_root"}
    assert read(f, modality="image").table["label"].tolist() == ["blurry", "blurry"]


def test_json_that_is_not_an_export_and_empty_exports(tmp_path):
    with pytest.raises(InputError, match="not a Label Studio export"):
        read(write(tmp_path / "x.json", '[{"text": "no data key"}]'))
    with pytest.raises(EmptyDatasetError, match="no rows"):
        read(write(tmp_path / "empty.json", "[]"))
    with pytest.raises(MissingColumnError) as err:
        read(write(tmp_path / "other.json", json.dumps([{"id": 1, "data": {"body": "x"}}])))
    assert str(err.value) == ("other.json: column 'text' not found; columns are: "
                              "body, ls_task_id, annotators, ls_agreement")


# --- Properties -----------------------------------------------------------------------------------------------

_TEXT = st.text(st.characters(blacklist_categories=("Cs",), blacklist_characters="\x00"
                              + "".join(chr(c) for c in range(0xFDD0, 0xFDF0))), max_size=40)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(texts=st.lists(_TEXT, min_size=1, max_size=30))
def test_every_written_csv_row_comes_back_once(tmp_path, texts):
    buf = io.StringIO()
    writer = csv.writer(buf)  # "\r\n" line ends, so a "\r" in a value gets quoted
    writer.writerow(["text", "label"])
    for i, text in enumerate(texts):
        writer.writerow([text, f"l{i}"])
    f = write(tmp_path / "prop.csv", buf.getvalue())
    r = read(f)
    assert r.rows_read == len(r.table) + len(r.bad) == len(texts)
    assert r.bad.empty
    assert r.table["label"].tolist() == [f"l{i}" for i in range(len(texts))]
    assert r.table["text"].tolist() == [t if t != "" else None for t in texts]
    first_lines = [2 + i + sum(t.count("\n") for t in texts[:i]) for i in range(len(texts))]
    assert r.table["source"].tolist() == [f"prop.csv:{n}" for n in first_lines]


@settings(max_examples=60, deadline=None)
@given(rows=st.lists(st.none() | st.lists(st.text(st.characters(blacklist_categories=("Cs",)), max_size=8)
                                          | st.none(), max_size=4), max_size=20),
       ints=st.lists(st.none() | st.lists(st.integers(-2 ** 63, 2 ** 63 - 1), max_size=4), max_size=20))
def test_lists_become_the_json_that_json_dumps_writes(rows, ints):
    for values, typ in ((rows, pa.list_(pa.string())), (ints, pa.large_list(pa.int64()))):
        arr = pa.array(values, typ)
        expected = [None if v is None else json.dumps(v, ensure_ascii=False, separators=(",", ":")) for v in values]
        assert arrow_series(arr).tolist() == expected
        assert arrow_series(pa.chunked_array([arr[:3], arr[3:]], typ)).tolist() == expected
