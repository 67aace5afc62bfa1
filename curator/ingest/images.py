"""Images: the image-folder reader, and the path checks every image source goes through.

An image folder is a directory whose subfolders hold images: the label is the top subfolder's
name and the image is the file's path relative to the folder, in sorted order. Hidden files and
folders are skipped, and so are files that are not images by extension.

``locate`` checks the paths an image manifest or a Label Studio export names: a path must be
relative, must stay inside the dataset root (also after resolving symlinks) and must exist.
URLs (``https://...``, ``s3://...``) are kept as they are and not decoded.
"""

from __future__ import annotations

import os
import posixpath
import re
from pathlib import Path

import numpy as np
import pandas as pd

from ..config import Columns
from .part import Part, bad_frame, object_frame
from .sources import IMAGE_EXTENSIONS

URL = re.compile(r"^[A-Za-z][A-Za-z0-9+.-]*://")
_DRIVE = re.compile(r"^[A-Za-z]:[\\/]")
#: The column mapping of a Part read from an image folder.
FOLDER_COLUMNS = Columns(text=None, image="image", label="label", id=None)


def read_imagefolder(path: Path, display: str) -> Part:
    """One row per image file under ``path``; label = top subfolder (None for files at the top)."""
    rels: list[str] = []
    for folder, dirs, files in os.walk(path):
        dirs[:] = [d for d in dirs if not d.startswith(".")]
        rel_folder = Path(folder).relative_to(path).as_posix()
        rels.extend(f if rel_folder == "." else f"{rel_folder}/{f}" for f in files
                    if not f.startswith(".") and os.path.splitext(f)[1].lower() in IMAGE_EXTENSIONS)
    rels.sort()
    labels = [r.split("/", 1)[0] if "/" in r else None for r in rels]
    frame = object_frame({"image": rels, "label": labels}, len(rels))
    return Part(display, frame, np.array(rels, dtype=object), np.arange(len(rels), dtype=np.int64),
                bad_frame([]), columns=FOLDER_COLUMNS)


def locate(value: str | None, base: str, root: str, real_root: str) -> tuple[str | None, str | None, str]:
    """Check one image path: ``(path relative to the root, None, "")`` or ``(None, reason, detail)``.

    A URL comes back as it is. ``base`` is the folder, relative to the root, that the path is
    relative to (the manifest's folder).
    """
    if value is None or value == "":
        return None, "image_missing", "no image path"
    if URL.match(value):
        return value, None, ""
    if "\x00" in value:
        return None, "image_missing", "not a valid path (it holds a NUL byte)"
    if value.startswith(("/", "\\")) or _DRIVE.match(value):
        return None, "image_path_outside_root", "absolute path; expected a path relative to the dataset root"
    rel = posixpath.normpath(posixpath.join(base, value) if base else value)
    if rel == ".." or rel.startswith("../"):
        return None, "image_path_outside_root", f"{value} leads outside the dataset root"
    full = os.path.join(root, rel)
    real = os.path.realpath(full)
    if real != real_root and not real.startswith(real_root.rstrip(os.sep) + os.sep):
        return None, "image_path_outside_root", f"{value} resolves outside the dataset root"
    if not os.path.isfile(full):
        return None, "image_missing", f"{rel}: file not found"
    return rel, None, ""


def locate_all(values: pd.Series, base: str, root: Path) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``locate`` over a column: (paths, reasons, details) as object arrays, None where fine."""
    root_s, real_root = str(root), os.path.realpath(root)
    checked = [locate(v, base, root_s, real_root) for v in values]
    paths = np.array([c[0] for c in checked], dtype=object)
    reasons = np.array([c[1] for c in checked], dtype=object)
    details = np.array([c[2] for c in checked], dtype=object)
    return paths, reasons, details


def is_url(value: str) -> bool:
    return URL.match(value) is not None
