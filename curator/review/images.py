"""Image files for the review page, served only from inside the dataset root.

A requested path is refused unless it is relative, has no ``..`` part, names an image file, and
still lies inside the root once every symlink is resolved (so a link pointing out is refused too).
"""

from __future__ import annotations

from pathlib import Path, PurePosixPath

from ..errors import CuratorError

IMAGE_SUFFIXES = frozenset({".png", ".jpg", ".jpeg", ".gif", ".webp", ".bmp", ".tif", ".tiff"})


class ImageRefused(CuratorError):
    """An image path points outside the dataset root, or is not an image file."""


def image_file(root: Path, rel: str | None) -> Path:
    """The file ``rel`` names under ``root``; raises ImageRefused (``FileNotFoundError`` if missing)."""
    if not rel or "\x00" in rel or "\\" in rel:
        raise ImageRefused(f"image path: expected a relative path inside the dataset, got {rel!r}")
    path = PurePosixPath(rel)
    if path.is_absolute() or ".." in path.parts or (len(rel) > 1 and rel[1] == ":"):
        raise ImageRefused(f"image path: expected a relative path without '..', got {rel!r}")
    if path.suffix.lower() not in IMAGE_SUFFIXES:
        raise ImageRefused(f"image path: expected an image file ({', '.join(sorted(IMAGE_SUFFIXES))}), got {rel!r}")
    root = Path(root).resolve()
    full = (root / path).resolve()
    if not full.is_relative_to(root):
        raise ImageRefused(f"image path: {rel!r} leads outside the dataset root")
    if not full.is_file():
        raise FileNotFoundError(rel)
    return full
