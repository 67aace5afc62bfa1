"""The run config (``curator.yaml``), validated with pydantic.

Every model forbids unknown keys, so a typo is an error that names the key and lists the valid
ones. Relative paths in a config file are resolved against the file's own directory.
"""

from __future__ import annotations

import difflib
import math
import os
from pathlib import Path
from typing import Any, Literal, get_args

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from .augment.settings import AugmentConfig, RebalanceConfig
from .errors import ConfigError
from .label_issues import LabelIssuesConfig
from .labelstudio.settings import LabelStudioSettings

TEMPLATES = Path(__file__).parent / "templates"


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", validate_assignment=True)


class InputConfig(_Model):
    path: str = Field(description="file, directory or glob; relative to the config file")
    format: Literal["auto", "csv", "tsv", "jsonl", "parquet", "hf", "imagefolder", "labelstudio"] = "auto"
    encoding: str = "utf-8"
    delimiter: str | None = None
    #: CSV/TSV quote character; "auto": '"' for CSV, none for tab-separated text; null: none.
    quote: str | None = "auto"
    hf_split: str | None = None
    chunk_rows: int = Field(100_000, gt=0)

    @field_validator("quote")
    @classmethod
    def _quote(cls, v: str | None) -> str | None:
        if v is not None and v != "auto" and len(v) != 1:
            raise ValueError("expected 'auto', null or one character")
        return v


class Columns(_Model):
    id: str | None = None
    text: str | None = None
    image: str | None = None
    label: str | None = "label"
    #: Label Studio exports: the control whose choices hold the label.
    from_name: str | None = None


class Normalize(_Model):
    unicode: bool = True
    case: bool = True
    whitespace: bool = True
    punctuation: bool = False


class ExactDedupConfig(_Model):
    enabled: bool = True
    normalize: Normalize = Normalize()
    keep: Literal["first", "longest", "most_metadata", "majority_label"] = "first"
    on_label_conflict: Literal["flag", "drop", "majority"] = "flag"


class NearDedupConfig(_Model):
    enabled: bool = True
    # text: MinHash LSH
    threshold: float = Field(0.8, gt=0, le=1)
    measure: Literal["jaccard", "containment"] = "jaccard"
    shingle: Literal["word", "char"] = "word"
    n: int = Field(5, ge=1)
    normalize: Normalize = Normalize(punctuation=True)
    num_perm: int = Field(128, ge=8)
    seed: int = Field(1, ge=0)
    verify: Literal["exact", "estimated"] = "exact"
    # images: perceptual hashes and/or embeddings
    method: Literal["phash", "dhash", "embedding", "combined"] = "phash"
    max_distance: int = Field(10, ge=0, le=32)
    min_cosine: float = Field(0.85, gt=0, le=1)
    # combined: hash-variant pairs from max_distance to this many bits go to the embedding check
    verify_distance: int = Field(14, ge=0, le=63)
    # combined: the most files the embedding check may take, as a share of all (likeliest pairs first)
    verify_share: float = Field(0.1, gt=0, le=1)
    embedder: str | None = None
    # decontamination: drop rows that near-duplicate a reference dataset or a saved index (.npz)
    against: str | None = None
    # both
    keep: Literal["first", "longest", "most_metadata", "majority_label"] = "first"
    on_label_conflict: Literal["flag", "drop", "majority"] = "flag"


class ValidateConfig(_Model):
    enabled: bool = True
    #: Drop rows whose label is missing (otherwise they are kept, unlabelled).
    require_label: bool = True
    #: A label outside `labels:`: drop the row, fix it to its near miss ("Positve" -> "positive";
    #: dropped when there is none), or flag it for review.
    unknown_label: Literal["drop", "fix", "flag"] = "drop"


class StepsConfig(_Model):
    validate_: ValidateConfig = Field(ValidateConfig(), alias="validate")
    dedup_exact: ExactDedupConfig = ExactDedupConfig()
    dedup_near: NearDedupConfig = NearDedupConfig()
    label_issues: LabelIssuesConfig = LabelIssuesConfig()

    model_config = ConfigDict(extra="forbid", populate_by_name=True)


class SplitConfig(_Model):
    ratios: dict[Literal["train", "val", "test"], float] = {"train": 0.8, "val": 0.1, "test": 0.1}
    stratify: bool = True
    group_by: list[str] = []
    strategy: Literal["hash", "exact"] = "hash"

    @field_validator("ratios")
    @classmethod
    def _ratios(cls, v: dict[str, float]) -> dict[str, float]:
        if "train" not in v:
            raise ValueError("expected a 'train' ratio")
        if not all(math.isfinite(r) and r >= 0 for r in v.values()):
            raise ValueError("expected finite ratios >= 0")
        total = sum(v.values())
        if abs(total - 1.0) > 1e-6:
            raise ValueError(f"expected ratios that sum to 1, got {total:g}")
        return {k: v[k] for k in ("train", "val", "test") if k in v}


class ReportConfig(_Model):
    examples_per_reason: int = Field(5, ge=0)
    duplicate_groups: int = Field(20, ge=0)
    thumbnails: int = Field(48, ge=0)


class OutputConfig(_Model):
    dir: str = "out"
    formats: list[Literal["parquet", "jsonl", "csv"]] = ["parquet"]
    report: ReportConfig = ReportConfig()


class RayConfig(_Model):
    """``ray:`` - where the Ray engine runs."""

    #: A cluster to join ("auto", "ray://head:10001", "10.0.0.5:6379"); null starts a local Ray.
    address: str | None = None
    #: CPUs of a local Ray (null: all of this machine's).
    num_cpus: int | None = Field(None, ge=1)


class Config(_Model):
    input: InputConfig
    modality: Literal["text", "image"] = "text"
    columns: Columns = Columns()
    labels: list[str] | None = None
    rules: list[str] = []
    steps: StepsConfig = StepsConfig()
    split: SplitConfig = SplitConfig()
    #: Train split only, after the split: class rebalancing, then augmentation.
    rebalance: RebalanceConfig = RebalanceConfig()
    augment: AugmentConfig = AugmentConfig()
    seed: int = Field(0, ge=0, lt=2 ** 32)
    output: OutputConfig = OutputConfig()
    labelstudio: LabelStudioSettings = LabelStudioSettings()
    #: Where batch work runs: local (in-process, both cores) or ray (Ray Data; see docs/scaling.md).
    engine: Literal["local", "ray"] = "local"
    ray: RayConfig = RayConfig()
    #: Directory relative paths are resolved against (the config file's folder).
    base_dir: Path = Field(default_factory=Path.cwd, exclude=True)

    @model_validator(mode="after")
    def _columns_for_modality(self) -> "Config":
        if self.modality == "text" and self.columns.text is None:
            self.columns.text = "text"
        if self.modality == "image" and self.columns.image is None:
            self.columns.image = "image"
        if self.labels is not None and len(set(self.labels)) != len(self.labels):
            raise ValueError("labels: expected each label once")
        if self.modality == "image" and self.steps.dedup_near.against is not None:
            raise ValueError("steps.dedup_near.against: expected null for modality image (only text is checked "
                             f"against a reference), got {self.steps.dedup_near.against!r}")
        return self

    def resolve(self, path: str | Path) -> Path:
        p = Path(path).expanduser()
        return Path(os.path.normpath(p if p.is_absolute() else self.base_dir / p))

    @property
    def input_path(self) -> Path:
        return self.resolve(self.input.path)

    @property
    def output_dir(self) -> Path:
        return self.resolve(self.output.dir)

    def public_dict(self) -> dict[str, Any]:
        """The config as plain data, for the manifest and report (paths as written)."""
        return self.model_dump(mode="json", by_alias=True)


def _allowed_keys(model: type[BaseModel], loc: tuple) -> list[str]:
    """The keys valid at ``loc`` (the path of an unknown key), walking the model's fields."""
    for part in loc[:-1]:
        if isinstance(part, int):
            continue  # an item of a list field, whose model the field already gave
        fields = {f.alias or n: f for n, f in model.model_fields.items()}
        found = _model_of(getattr(fields.get(part), "annotation", None))
        if found is None:
            return []
        model = found
    return sorted(f.alias or n for n, f in model.model_fields.items() if not f.exclude)


def _model_of(annotation: Any) -> type[BaseModel] | None:
    """The model a field holds: itself, or the item of ``list[Model]`` or ``Model | None``."""
    args = get_args(annotation)
    if args:
        return next((m for m in map(_model_of, args) if m is not None), None)
    return annotation if isinstance(annotation, type) and issubclass(annotation, BaseModel) else None


def _one_line(err: ValidationError, source: str) -> str:
    first = err.errors()[0]
    loc = tuple(first["loc"])  # list items keep their index: augment.text.0.nme
    where = ".".join(str(p) for p in loc) or "(top level)"
    if first["type"] == "extra_forbidden":
        allowed = _allowed_keys(Config, loc)
        hint = difflib.get_close_matches(str(loc[-1]), allowed, n=1)
        msg = f"{source}: unknown key '{where}'"
        if hint:
            msg += f" (did you mean '{hint[0]}'?)"
        msg += f"; expected one of: {', '.join(allowed)}"
    elif first["type"] == "missing":
        msg = f"{source}: missing required key '{where}'"
    elif not loc:  # a check across keys: its message names them
        msg = f"{source}: {first['msg'].removeprefix('Value error, ')}"
    else:
        text = first["msg"].removeprefix("Value error, ")
        msg = f"{source}: {where}: {text}, got {first.get('input')!r}"
    more = len(err.errors()) - 1
    return msg + (f" (and {more} more problem{'s' if more > 1 else ''})" if more else "")


def parse_config(data: Any, *, base_dir: Path | None = None, source: str = "config") -> Config:
    """Validate a config mapping. Raises ConfigError with one line naming the key."""
    if not isinstance(data, dict):
        raise ConfigError(f"{source}: expected a mapping of keys at the top level, got {type(data).__name__}")
    try:
        cfg = Config.model_validate(data)
    except ValidationError as err:
        raise ConfigError(_one_line(err, source)) from None
    if base_dir is not None:
        cfg.base_dir = Path(base_dir)
        cfg.labelstudio.base_dir = cfg.base_dir
    return cfg


class _UniqueKeyLoader(yaml.SafeLoader):
    """Safe YAML that refuses a key given twice in one mapping (plain YAML silently keeps the last)."""

    def construct_mapping(self, node, deep=False):
        seen = set()
        for key_node, _ in node.value:
            if isinstance(key_node, yaml.ScalarNode) and key_node.tag != "tag:yaml.org,2002:merge":
                key = self.construct_object(key_node)
                if key in seen:
                    raise yaml.constructor.ConstructorError(None, None, f"duplicate key {key!r}",
                                                            key_node.start_mark)
                seen.add(key)
        return super().construct_mapping(node, deep=deep)


def load_config(path: str | Path) -> Config:
    """Read and validate a ``curator.yaml``."""
    path = Path(path)
    if not path.is_file():
        raise ConfigError(f"{path}: config file not found")
    try:
        data = yaml.load(path.read_text(encoding="utf-8"), Loader=_UniqueKeyLoader)
    except UnicodeDecodeError:
        raise ConfigError(f"{path}: expected a UTF-8 text file") from None
    except yaml.YAMLError as err:
        mark = getattr(err, "problem_mark", None)
        where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        raise ConfigError(f"{path}: not valid YAML{where}: {getattr(err, 'problem', err)}") from None
    return parse_config(data, base_dir=path.resolve().parent, source=str(path))


def starter_config(modality: str) -> str:
    """The commented starter ``curator.yaml`` for a modality."""
    if modality not in ("text", "image"):
        raise ConfigError(f"--modality: expected 'text' or 'image', got {modality!r}")
    return (TEMPLATES / f"curator-{modality}.yaml").read_text(encoding="utf-8")
