"""Reading a run directory: the manifest, checksums, split files, labels and the leak check.

Everything here runs before any model is loaded, so a bad run directory fails in a second with one
line. The trainer never imports curator: it relies only on the manifest's shape
(``format: curator-run/1``), so any tool that writes the same shape can feed it.
"""

from __future__ import annotations

import hashlib
import json
import os
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from .errors import ChecksumError, DataError, LeakError, MissingColumnError, RunDirError

SPLITS = ("train", "val", "test")
FORMAT = "curator-run/1"
REQUIRED_KEYS = ("modality", "labels", "columns", "files")


@dataclass
class Split:
    """One split, reduced to what training needs, in file order."""

    name: str
    ids: np.ndarray                 # str ids
    content: list[str]              # texts, or absolute image paths
    targets: np.ndarray             # int64 class index (single label) or float32 N x C (multi-label)
    label_values: list              # the label column as written (str, or list of str)
    groups: np.ndarray | None = None

    def __len__(self) -> int:
        return len(self.ids)


@dataclass
class RunData:
    run_dir: Path
    manifest: dict
    modality: str
    task: str                       # single_label | multi_label
    labels: list[str]
    splits: dict[str, Split] = field(default_factory=dict)
    manifest_sha256: str = ""

    @property
    def multi_label(self) -> bool:
        return self.task == "multi_label"


def sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def read_manifest(run_dir: Path) -> dict:
    if not run_dir.is_dir():
        raise RunDirError(f"{run_dir}: not a directory (expected a curator run directory)")
    path = run_dir / "manifest.json"
    if not path.is_file():
        raise RunDirError(f"{run_dir}: no manifest.json (expected a curator run directory)")
    try:
        manifest = json.loads(path.read_text(encoding="utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as err:
        raise RunDirError(f"{path}: not valid JSON: {err}") from None
    if not isinstance(manifest, dict):
        raise RunDirError(f"{path}: expected a JSON object")
    if manifest.get("format") != FORMAT:
        raise RunDirError(f"{path}: expected format {FORMAT!r}, got {manifest.get('format')!r}")
    for key in REQUIRED_KEYS:
        if key not in manifest:
            raise RunDirError(f"{path}: missing key {key!r}")
    if manifest["modality"] not in ("text", "image"):
        raise RunDirError(f"{path}: modality: expected 'text' or 'image', got {manifest['modality']!r}")
    labels = manifest["labels"]
    if not isinstance(labels, list) or len(labels) < 2 or len(set(map(str, labels))) != len(labels):
        raise RunDirError(f"{path}: labels: expected a list of at least 2 distinct labels, got {labels!r}")
    cols = manifest["columns"]
    if not isinstance(cols, dict) or any(k not in cols for k in ("id", "content", "label")):
        raise RunDirError(f"{path}: columns: expected at least 'id', 'content' and 'label', got {cols!r}")
    if manifest.get("task", "single_label") not in ("single_label", "multi_label"):
        raise RunDirError(f"{path}: task: expected 'single_label' or 'multi_label', got {manifest['task']!r}")
    return manifest


def verify_checksums(run_dir: Path, files: dict) -> None:
    """Every file the manifest lists must exist and match its sha256."""
    if not isinstance(files, dict):
        raise RunDirError(f"{run_dir / 'manifest.json'}: files: expected a mapping of file name to sha256")
    for name, info in sorted(files.items()):
        if "/" in name or "\\" in name or name in (".", ".."):
            raise RunDirError(f"manifest.json: files: {name!r} is not a plain file name")
        path = run_dir / name
        expected = info.get("sha256") if isinstance(info, dict) else None
        if not expected:
            raise RunDirError(f"manifest.json: files.{name}: no sha256 to verify against")
        if not path.is_file():
            raise RunDirError(f"{path}: listed in manifest.json but missing")
        actual = sha256_file(path)
        if actual != expected:
            raise ChecksumError(f"{path}: sha256 mismatch (manifest {expected[:12]}..., file {actual[:12]}...): "
                                "the file changed after the run was written")


def normalise_text(text: pd.Series) -> pd.Series:
    """NFC, case-folded, whitespace collapsed: the form two 'same' texts share."""
    s = text.astype("string").str.normalize("NFC").str.casefold()
    return s.str.replace(r"\s+", " ", regex=True).str.strip()


def find_leaks(keys: dict[str, pd.Series]) -> list[tuple[str, int, str, list]]:
    """For each key kind, the values found in more than one split: (kind, count, example, its splits)."""
    found = []
    for kind, series in keys.items():
        pairs = pd.DataFrame({"key": series.values, "split": series.index.get_level_values(0)}).dropna()
        pairs = pairs[pairs["key"].astype(str) != ""].drop_duplicates()
        shared = pairs[pairs.duplicated("key", keep=False)]
        if len(shared):
            example = shared["key"].iloc[0]
            found.append((kind, int(shared["key"].nunique()), str(example),
                          sorted(shared.loc[shared["key"] == example, "split"], key=SPLITS.index)))
    return found


def check_leaks(frames: dict[str, pd.DataFrame], manifest: dict) -> None:
    cols = manifest["columns"]
    keys: dict[str, pd.Series] = {}
    def stacked(col: str, transform=None) -> pd.Series:
        parts = {n: (transform(f[col]) if transform else f[col]).reset_index(drop=True) for n, f in frames.items()}
        return pd.concat(parts)
    keys["id"] = stacked(cols["id"])
    if manifest["modality"] == "text":
        keys["normalised text"] = stacked(cols["content"], normalise_text)
    for kind, col in (("content hash", cols.get("content_hash")), ("image hash", cols.get("image_hash"))):
        if col and all(col in f for f in frames.values()):
            keys[kind] = stacked(col)
    leaks = find_leaks(keys)
    if leaks:
        counts = ", ".join(f"{n} {kind}{'s' if n > 1 else ''}" for kind, n, _, _ in leaks)
        kind, _, example, where = leaks[0]
        shown = example if len(example) <= 60 else example[:57] + "..."
        raise LeakError(f"leak between splits: {counts} in two splits (e.g. {kind} {shown!r} in "
                        f"{' and '.join(where)}); refusing to train (pass --allow-leak to train anyway)")


def _json_labels(text: str) -> list[str]:
    try:
        items = json.loads(text)
    except ValueError:
        return [text]
    return [str(x) for x in items] if isinstance(items, list) else [text]


def label_lists(values: pd.Series) -> pd.Series:
    """Each row's labels as a list of str: a list as it is; a string holding a JSON array (how curator
    writes multi-label rows) parsed, once per distinct string; any other string is one label."""
    text = values.map(type).eq(str).to_numpy()
    out = np.empty(len(values), dtype=object)
    if text.any():
        codes, uniques = pd.factorize(values[text])
        parsed = np.empty(len(uniques), dtype=object)
        for i, value in enumerate(uniques):      # one small parse per distinct label set
            parsed[i] = _json_labels(value)
        out[text] = parsed[codes]
    if not text.all():
        out[~text] = values[~text].map(lambda v: [str(x) for x in v]).to_numpy()
    return pd.Series(out, index=values.index)


def _targets(frame: pd.DataFrame, col: str, labels: list[str], multi: bool, name: str) -> tuple[np.ndarray, list]:
    values = frame[col]
    missing = values.isna()
    if missing.any():
        raise DataError(f"{name}.parquet: {int(missing.sum())} rows have no label "
                        f"(e.g. id {frame.index[missing.to_numpy()][0]!r})")
    index = {label: i for i, label in enumerate(labels)}
    if not multi:
        as_str = values.astype(str)
        codes = as_str.map(index).fillna(-1).to_numpy(dtype=np.int64)
        unknown = codes < 0
        if unknown.any():
            bad = as_str[unknown]
            raise DataError(f"{name}.parquet: label {bad.iloc[0]!r} is not in the manifest's labels {labels} "
                            f"({int(unknown.sum())} rows)")
        return codes, as_str.tolist()
    lists = label_lists(values)
    exploded = lists.explode().dropna()        # an empty list (no label applies) adds no row
    codes = exploded.astype(str).map(index).fillna(-1).to_numpy(dtype=np.int64)
    if (codes < 0).any():
        bad = exploded[codes < 0].iloc[0]
        raise DataError(f"{name}.parquet: label {bad!r} is not in the manifest's labels {labels}")
    matrix = np.zeros((len(frame), len(labels)), dtype=np.float32)
    rows = np.repeat(np.arange(len(frame)), lists.map(len).to_numpy())
    matrix[rows, codes] = 1.0
    return matrix, lists.tolist()


def _content(frame: pd.DataFrame, col: str, modality: str, root: Path | None, name: str,
             own: tuple[str, Path] | None = None) -> list[str]:
    """Text, or image paths made absolute: against the dataset root, or (``own``: a prefix such as
    ``augmented/`` and the run directory) against the run directory for images the run wrote itself."""
    values = frame[col]
    if values.isna().any():
        raise DataError(f"{name}.parquet: {int(values.isna().sum())} rows have no {col}")
    if modality == "text":
        return values.astype(str).tolist()
    if root is None:
        raise RunDirError("manifest.json: missing key 'dataset_root' (image paths are relative to it)")
    text = values.astype(str)
    ours = text.str.startswith(own[0]).to_numpy() if own else np.zeros(len(text), dtype=bool)
    # resolved (symlinks too), each must stay inside the dataset root or the run's own image folder
    paths = pd.Series([os.path.realpath(os.path.join(own[1] if mine else root, p)) for p, mine in zip(text, ours)],
                      index=text.index, dtype=object)
    inside = (root, own[1] / own[0]) if own else (root,)
    outside = ~paths.str.startswith(tuple(os.path.realpath(d).rstrip(os.sep) + os.sep for d in inside)).to_numpy()
    if outside.any():
        n = int(outside.sum())
        raise DataError(f"{name}.parquet: {n} image path{'s lead' if n > 1 else ' leads'} outside the dataset root "
                        f"{root} (e.g. {text[outside].iloc[0]!r})")
    paths = paths.tolist()
    missing = [p for p in paths if not Path(p).is_file()]
    if missing:
        raise DataError(f"{name}.parquet: {len(missing)} images not found (e.g. {missing[0]})")
    check_images(paths, name)
    return paths


def check_images(paths: list[str], name: str) -> None:
    """Every image opens and passes Pillow's verify, so a bad file fails here rather than mid-run."""
    from PIL import Image, UnidentifiedImageError

    bad = []
    for path in paths:     # file I/O: one open per file
        try:
            with Image.open(path) as img:
                img.verify()
        except (OSError, SyntaxError, ValueError, UnidentifiedImageError) as err:
            bad.append((path, err))
    if bad:
        path, err = bad[0]
        raise DataError(f"{name}.parquet: {len(bad)} image{'s' if len(bad) > 1 else ''} cannot be read "
                        f"(e.g. {path}: {' '.join(str(err).split())})")


def load_run(run_dir: str | Path, *, allow_leak: bool = False) -> RunData:
    """Read, verify and check a run directory. Raises a RunDirError subclass with one line."""
    run_dir = Path(run_dir)
    manifest = read_manifest(run_dir)
    verify_checksums(run_dir, manifest["files"])
    cols = manifest["columns"]
    labels = [str(x) for x in manifest["labels"]]
    multi = manifest.get("task", "single_label") == "multi_label"
    root = Path(manifest["dataset_root"]) if manifest.get("dataset_root") else None

    frames: dict[str, pd.DataFrame] = {}
    for name in SPLITS:
        file = f"{name}.parquet"
        if file not in manifest["files"]:
            if (run_dir / file).exists():
                raise RunDirError(f"{run_dir / file}: not listed in manifest.json's files, so it cannot be verified")
            if name == "train":
                raise RunDirError(f"{run_dir}: manifest.json lists no train.parquet")
            continue
        try:
            frame = pd.read_parquet(run_dir / file)
        except Exception as err:  # noqa: BLE001 (pyarrow raises many types; the message is what matters)
            raise RunDirError(f"{run_dir / file}: cannot read as parquet: {err}") from None
        for key in ("id", "content", "label"):
            if cols[key] not in frame.columns:
                raise MissingColumnError(f"{run_dir / file}: missing column {cols[key]!r} (manifest columns.{key}); "
                                         f"has: {', '.join(map(str, frame.columns))}")
        frames[name] = frame
    if len(frames["train"]) == 0:
        raise DataError(f"{run_dir / 'train.parquet'}: no rows to train on")
    if not allow_leak:
        check_leaks(frames, manifest)

    data = RunData(run_dir=run_dir, manifest=manifest, modality=manifest["modality"],
                   task="multi_label" if multi else "single_label", labels=labels,
                   manifest_sha256=sha256_file(run_dir / "manifest.json"))
    group_col = cols.get("group")
    own = (manifest["augmented_dir"].rstrip("/") + "/", run_dir) if manifest.get("augmented_dir") else None
    for name, frame in frames.items():
        targets, values = _targets(frame.set_index(frame[cols["id"]].astype(str)), cols["label"], labels, multi, name)
        data.splits[name] = Split(
            name=name, ids=frame[cols["id"]].astype(str).to_numpy(dtype=object),
            content=_content(frame, cols["content"], data.modality, root, name, own), targets=targets,
            label_values=values,
            groups=frame[group_col].astype(str).to_numpy(dtype=object) if group_col and group_col in frame else None)
    return data
