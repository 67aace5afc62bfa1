"""Where the input is and what format it has: ``plan(cfg)`` resolves ``input.path`` (a file, a
directory or a glob) to a sorted list of files of one format, the dataset root, and the folder
that file names in ``source`` are relative to.
"""

from __future__ import annotations

import glob as globlib
from dataclasses import dataclass
from pathlib import Path

from ..config import Config
from ..errors import InputError

FORMATS = ("csv", "tsv", "jsonl", "parquet", "hf", "imagefolder", "labelstudio")
BY_EXTENSION = {".csv": "csv", ".tsv": "tsv", ".tab": "tsv", ".jsonl": "jsonl", ".ndjson": "jsonl",
                ".parquet": "parquet", ".pq": "parquet", ".json": "json"}
IMAGE_EXTENSIONS = frozenset({".png", ".jpg", ".jpeg", ".gif", ".bmp", ".webp", ".tif", ".tiff"})
HF_MARKERS = ("dataset_info.json", "dataset_dict.json", "state.json")


@dataclass(frozen=True)
class Plan:
    """What to read: the format, its files (or one directory for ``hf`` and ``imagefolder``)."""

    format: str
    files: tuple[Path, ...]
    root: Path      # image paths are relative to it
    base: Path      # file names in ``source`` are relative to it

    def display(self, path: Path) -> str:
        try:
            return path.relative_to(self.base).as_posix()
        except ValueError:
            return path.as_posix()


def is_image_file(path: Path) -> bool:
    return path.suffix.lower() in IMAGE_EXTENSIONS and not path.name.startswith(".")


def plan(cfg: Config) -> Plan:
    """Resolve the config's input to a ``Plan``; InputError names the path when it cannot."""
    path = cfg.input_path
    if globlib.has_magic(str(path)):
        base = _glob_base(path)
        files = sorted(Path(p) for p in globlib.glob(str(path), recursive=True) if Path(p).is_file())
        if not files:
            raise InputError(f"{path}: no files match")
        return Plan(_one_format(cfg, files, str(path)), tuple(files), base, base)
    if path.is_dir():
        return _plan_directory(cfg, path)
    if path.is_file():
        return Plan(_one_format(cfg, [path], str(path)), (path,), path.parent, path.parent)
    raise InputError(f"{path}: file not found")


def _glob_base(path: Path) -> Path:
    parts = []
    for part in path.parts:
        if globlib.has_magic(part):
            break
        parts.append(part)
    return Path(*parts) if parts else Path(".")


def _plan_directory(cfg: Config, path: Path) -> Plan:
    fmt = cfg.input.format
    if fmt == "hf" or (fmt == "auto" and any((path / m).is_file() for m in HF_MARKERS)):
        return Plan("hf", (path,), path, path.parent)
    if fmt == "imagefolder":
        return Plan("imagefolder", (path,), path, path.parent)
    files = sorted(p for p in path.iterdir() if p.is_file() and not p.name.startswith(".")
                   and (p.suffix.lower() in BY_EXTENSION if fmt == "auto" else _fits(p, fmt)))
    if files:
        return Plan(_one_format(cfg, files, str(path)), tuple(files), path, path.parent)
    if fmt == "auto" and _holds_images(path):
        return Plan("imagefolder", (path,), path, path.parent)
    raise InputError(f"{path}: no data files or image folders found; set input.format or input.path")


def _fits(path: Path, fmt: str) -> bool:
    ext = BY_EXTENSION.get(path.suffix.lower())
    return ext == fmt or (fmt == "labelstudio" and ext == "json")


def _holds_images(path: Path) -> bool:
    return any(is_image_file(p) for p in path.rglob("*") if p.is_file())


def _one_format(cfg: Config, files: list[Path], where: str) -> str:
    if cfg.input.format != "auto":
        if cfg.input.format in ("hf", "imagefolder"):
            raise InputError(f"{where}: format '{cfg.input.format}' expects a directory")
        return cfg.input.format
    found = {_detect(p) for p in files}
    if len(found) > 1:
        raise InputError(f"{where}: files of several formats ({', '.join(sorted(found))}); "
                         "point input.path at one format")
    return found.pop()


def _detect(path: Path) -> str:
    ext = BY_EXTENSION.get(path.suffix.lower())
    if ext is None:
        raise InputError(f"{path}: unknown format '{path.suffix or path.name}'; set input.format to one of "
                         f"{', '.join(FORMATS)}")
    if ext != "json":
        return ext
    with open(path, "rb") as f:
        head = f.read(4096).lstrip(b"\xef\xbb\xbf \t\r\n")
    return "jsonl" if head.startswith(b"{") else "labelstudio"
