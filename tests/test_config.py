from pathlib import Path

import pytest

from curator.config import Config, load_config, parse_config, starter_config
from curator.label_issues import LabelIssuesConfig
from curator.errors import ConfigError


def test_minimal_config_gets_defaults(tmp_path):
    cfg = parse_config({"input": {"path": "data.csv"}}, base_dir=tmp_path)
    assert cfg.modality == "text" and cfg.columns.text == "text" and cfg.columns.label == "label"
    assert cfg.split.ratios == {"train": 0.8, "val": 0.1, "test": 0.1}
    assert cfg.input_path == tmp_path / "data.csv"
    assert cfg.output_dir == tmp_path / "out"


def test_image_modality_defaults_the_image_column():
    cfg = parse_config({"input": {"path": "imgs"}, "modality": "image"})
    assert cfg.columns.image == "image" and cfg.columns.text is None


@pytest.mark.parametrize("data, expected", [
    ({"input": {"path": "x"}, "splitt": {}}, "unknown key 'splitt' (did you mean 'split'?); expected one of:"),
    ({"input": {"path": "x"}, "split": {"ratio": {}}}, "unknown key 'split.ratio' (did you mean 'ratios'?)"),
    ({"input": {"path": "x", "fromat": "csv"}}, "unknown key 'input.fromat' (did you mean 'format'?)"),
    ({"input": {"path": "x"}, "split": {"ratios": {"train": 0.5, "test": 0.2}}}, "split.ratios: expected ratios that sum to 1"),
    ({"input": {"path": "x"}, "split": {"ratios": {"val": 0.5, "test": 0.5}}}, "expected a 'train' ratio"),
    ({"input": {"path": "x"}, "seed": "abc"}, "seed: Input should be a valid integer"),
    ({"input": {"path": "x"}, "modality": "audio"}, "modality: Input should be 'text' or 'image', got 'audio'"),
    ({"input": {"path": "x", "format": "xlsx"}}, "input.format:"),
    ({"modality": "text"}, "missing required key 'input'"),
    ({"input": {"path": "x"}, "steps": {"dedup_exact": {"keep": "random"}}}, "steps.dedup_exact.keep:"),
    ({"input": {"path": "x"}, "labels": ["a", "a"]}, "labels: expected each label once"),
    ({"input": {"path": "x"}, "seed": -1}, "seed: Input should be greater than or equal to 0, got -1"),
    ({"input": {"path": "x"}, "seed": 2 ** 32}, "seed: Input should be less than 4294967296"),
    ({"input": {"path": "x"}, "split": {"ratios": {"train": float("nan")}}},
     "split.ratios: expected finite ratios >= 0, got {'train': nan}"),
    ({"input": {"path": "x"}, "augment": {"text": [{"name": "ocr", "bogus": 1}]}},
     "unknown key 'augment.text.0.bogus'; expected one of: name, p, params"),
    ({"input": {"path": "x"}, "augment": {"image": {"transforms": [{"name": "Rotate", "prams": {}}]}}},
     "unknown key 'augment.image.transforms.0.prams' (did you mean 'params'?); expected one of: name, params"),
    ({"input": {"path": "x"}, "modality": "image", "steps": {"dedup_near": {"against": "test.csv"}}},
     "run.yaml: steps.dedup_near.against: expected null for modality image (only text is checked against a "
     "reference), got 'test.csv'"),
])
def test_bad_config_is_one_line_naming_the_key(data, expected):
    with pytest.raises(ConfigError) as err:
        parse_config(data, source="run.yaml")
    message = str(err.value)
    assert "\n" not in message
    assert message.startswith("run.yaml: ")
    assert expected in message


def test_unknown_key_lists_the_valid_keys():
    valid = sorted(f.alias or name for name, f in Config.model_fields.items() if not f.exclude)
    assert {"input", "steps", "split", "seed"} <= set(valid)
    with pytest.raises(ConfigError) as err:
        parse_config({"input": {"path": "x"}, "sead": 1})
    assert str(err.value).endswith("(did you mean 'seed'?); expected one of: " + ", ".join(valid))


def test_yaml_syntax_error_names_file_and_line(tmp_path):
    path = tmp_path / "c.yaml"
    path.write_text("input:\n  path: [unclosed\nseed: 1\n")
    with pytest.raises(ConfigError, match=r"c.yaml: not valid YAML at line \d+"):
        load_config(path)


def test_duplicate_yaml_key_names_the_key_and_line(tmp_path):
    path = tmp_path / "c.yaml"
    path.write_text("input: {path: x}\nsplit:\n  ratios: {train: 1.0}\nseed: 1\nsplit: {}\n")
    with pytest.raises(ConfigError) as err:
        load_config(path)
    assert str(err.value) == f"{path}: not valid YAML at line 5, column 1: duplicate key 'split'"
    path.write_text("base: &b {path: x}\ninput:\n  <<: *b\n  path: y\n")   # a merge key may be overridden
    with pytest.raises(ConfigError, match="unknown key 'base'"):
        load_config(path)


def test_missing_and_non_mapping_config(tmp_path):
    with pytest.raises(ConfigError, match="config file not found"):
        load_config(tmp_path / "nope.yaml")
    (tmp_path / "list.yaml").write_text("- a\n- b\n")
    with pytest.raises(ConfigError, match="expected a mapping of keys at the top level, got list"):
        load_config(tmp_path / "list.yaml")


@pytest.mark.parametrize("modality", ["text", "image"])
def test_starter_configs_are_valid_and_commented(tmp_path, modality):
    text = starter_config(modality)
    assert text.count("#") > 10
    path = tmp_path / "curator.yaml"
    path.write_text(text)
    cfg = load_config(path)
    assert cfg.modality == modality
    assert cfg.base_dir == Path(tmp_path).resolve()
    # The label-issues and Label Studio sections are spelled out, with comments, at their defaults.
    section = text[text.index("  label_issues:"):text.index("\nsplit:")]
    assert section.count("#") >= 8 and "drop_above" in section and "predictions" in section
    assert cfg.steps.label_issues == LabelIssuesConfig() and cfg.steps.validate_.unknown_label == "drop"
    assert "labelstudio:" in text and cfg.labelstudio.policy == "majority"


def test_starter_config_rejects_unknown_modality():
    with pytest.raises(ConfigError, match="expected 'text' or 'image', got 'audio'"):
        starter_config("audio")


def test_engine_is_local_or_ray():
    assert parse_config({"input": {"path": "x"}}).engine == "local"
    cfg = parse_config({"input": {"path": "x"}, "engine": "ray", "ray": {"address": "ray://head:10001"}})
    assert (cfg.engine, cfg.ray.address) == ("ray", "ray://head:10001")
    with pytest.raises(ConfigError, match="engine: Input should be 'local' or 'ray'"):
        parse_config({"input": {"path": "x"}, "engine": "spark"})
