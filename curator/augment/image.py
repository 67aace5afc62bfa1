"""Image augmentation with albumentations 2: pipelines declared in YAML, named presets, files out.

A pipeline is a list of transforms by albumentations class name::

    - {name: HorizontalFlip, params: {p: 0.5}}
    - {name: Rotate, params: {limit: 15, p: 0.5}}

An unknown name or a bad parameter is a one-line error naming the transform (and, for a name,
listing the valid ones). Every augmented picture is written as ``<out>/augmented/<id>.<ext>`` and the
table references it by that path relative to the run directory. A source path that leaves the
dataset root or a file that cannot be decoded (``image_unreadable``), a transform that fails on a
picture, such as a crop larger than it (``image_transform_failed``), and a file that cannot be
written (``image_write_failed``) skip that row with a reason, never raised.
"""

from __future__ import annotations

from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import yaml

from ..errors import ConfigError

AUGMENTED_DIR = "augmented"

PRESETS: dict[str, list[dict[str, Any]]] = {
    "light": [{"name": "HorizontalFlip", "params": {"p": 0.5}},
              {"name": "RandomBrightnessContrast", "params": {"brightness_limit": 0.15, "contrast_limit": 0.15,
                                                               "p": 1.0}}],
    "medium": [{"name": "HorizontalFlip", "params": {"p": 0.5}},
               {"name": "Affine", "params": {"scale": [0.9, 1.1], "translate_percent": [-0.05, 0.05],
                                             "rotate": [-15, 15], "p": 0.8}},
               {"name": "ColorJitter", "params": {"brightness": 0.2, "contrast": 0.2, "saturation": 0.2,
                                                  "hue": 0.05, "p": 1.0}},
               {"name": "GaussianBlur", "params": {"blur_limit": [3, 5], "p": 0.2}}],
    "heavy": [{"name": "HorizontalFlip", "params": {"p": 0.5}},
              {"name": "RandomResizedCrop", "params": {"size": [224, 224], "scale": [0.6, 1.0], "p": 1.0}},
              {"name": "Rotate", "params": {"limit": 25, "p": 0.7}},
              {"name": "ColorJitter", "params": {"brightness": 0.3, "contrast": 0.3, "saturation": 0.3,
                                                 "hue": 0.1, "p": 1.0}},
              {"name": "GaussNoise", "params": {"std_range": [0.05, 0.15], "p": 0.5}},
              {"name": "MotionBlur", "params": {"blur_limit": 5, "p": 0.3}},
              {"name": "CoarseDropout", "params": {"num_holes_range": [1, 4], "hole_height_range": [0.05, 0.15],
                                                   "hole_width_range": [0.05, 0.15], "p": 0.5}}],
}


def transform_names() -> list[str]:
    """Every albumentations transform a pipeline may name."""
    import albumentations as A
    from albumentations.core.transforms_interface import BasicTransform

    return sorted(n for n in dir(A) if isinstance(getattr(A, n), type) and issubclass(getattr(A, n), BasicTransform)
                  and not n.startswith("_") and getattr(A, n) is not BasicTransform)


def read_pipeline(path: Path) -> list[dict[str, Any]]:
    """A pipeline YAML file: a list of {name, params} mappings (or a mapping with key ``transforms``)."""
    try:
        data = yaml.safe_load(Path(path).read_text(encoding="utf-8"))
    except OSError as err:
        raise ConfigError(f"{path}: cannot read the image pipeline: {err.strerror}") from None
    except yaml.YAMLError as err:
        raise ConfigError(f"{path}: not valid YAML: {getattr(err, 'problem', err)}") from None
    if isinstance(data, dict) and set(data) == {"transforms"}:
        data = data["transforms"]
    if not isinstance(data, list) or not all(isinstance(t, dict) and "name" in t for t in data):
        raise ConfigError(f"{path}: expected a list of transforms like {{name: HorizontalFlip, params: {{p: 0.5}}}}")
    return data


def build_pipeline(specs: Sequence[dict[str, Any]], where: str = "augment.image"):
    """An ``albumentations.Compose`` from specs; one-line ConfigError for a bad name or parameter."""
    import albumentations as A

    names = transform_names()
    transforms = []
    for i, spec in enumerate(specs):
        name, params = spec.get("name"), dict(spec.get("params") or {})
        unknown_keys = sorted(set(spec) - {"name", "params"})
        if unknown_keys:
            raise ConfigError(f"{where}: transform {i + 1}: unknown key {unknown_keys[0]!r}; expected name, params")
        if name not in names:
            raise ConfigError(f"{where}: transform {i + 1}: unknown albumentations transform {name!r}; "
                              f"valid: {', '.join(names)}")
        try:
            transforms.append(getattr(A, name)(**params))
        except (TypeError, ValueError) as err:
            first = " ".join(str(err).split())[:300]
            raise ConfigError(f"{where}: transform {i + 1} ({name}): bad params {params}: {first}") from None
    return A.Compose(transforms)


def pipeline_specs(image_cfg, resolve) -> tuple[str, list[dict[str, Any]]]:
    """(name for the ledger, specs) from the config: inline transforms, a YAML file, or a preset."""
    if image_cfg.transforms:
        return "custom", [t.model_dump() for t in image_cfg.transforms]
    if image_cfg.pipeline:
        path = resolve(image_cfg.pipeline)
        return Path(path).stem, read_pipeline(path)
    return image_cfg.preset, PRESETS[image_cfg.preset]


def inside(root: Path, rel: str) -> Path | None:
    """``root / rel`` if it stays inside ``root`` (no ``..`` or absolute escape), else None."""
    root = Path(root).resolve()
    path = (root / str(rel)).resolve()
    return path if path.is_relative_to(root) else None


@dataclass
class ImageAugmenter:
    """Applies one pipeline to many images on a small thread pool (OpenCV releases the GIL)."""

    name: str
    specs: list[dict[str, Any]]
    ext: str = "png"
    workers: int = 2

    def __post_init__(self) -> None:
        build_pipeline(self.specs)  # a bad transform name or parameter fails here, before any image

    def augment(self, root: Path, sources: Sequence[str], seeds: Sequence[int], out_dir: Path,
                ids: Sequence[str]) -> list[tuple[str, str] | None]:
        """Write each augmented image to ``out_dir/augmented/<id>.<ext>``; per row, None or (reason code,
        detail) for why it failed."""
        (Path(out_dir) / AUGMENTED_DIR).mkdir(parents=True, exist_ok=True)
        jobs = list(zip(sources, seeds, ids))
        chunks = [jobs[i::self.workers] for i in range(self.workers)]
        # A pipeline per thread of this call: calls may run at once on the engine's threads.
        composes = [build_pipeline(self.specs) for _ in range(self.workers)]

        def run(k: int) -> list[tuple[str, tuple[str, str] | None]]:
            return [(row_id, self._one(composes[k], root, src, seed, out_dir, row_id)) for src, seed, row_id in chunks[k]]

        with ThreadPoolExecutor(max_workers=self.workers) as pool:
            results = dict(r for part in pool.map(run, range(self.workers)) for r in part)
        return [results[i] for i in ids]

    def relpath(self, row_id):
        """Where a new image lives, relative to the run directory (one id or a Series of them)."""
        return f"{AUGMENTED_DIR}/" + row_id + f".{self.ext}"

    def _one(self, compose, root: Path, src: str, seed: int, out_dir: Path,
             row_id: str) -> tuple[str, str] | None:
        """Augment one image; None, or (reason code, detail) when it cannot be read, transformed or written."""
        from PIL import Image, UnidentifiedImageError

        from ..pixels import eight_bit

        path = inside(root, src)
        if path is None:
            return "image_unreadable", f"image path {src!r} leaves the dataset root"
        try:
            with Image.open(path) as im:
                pixels = np.asarray(eight_bit(im).convert("RGB"))
        except (OSError, UnidentifiedImageError, ValueError, Image.DecompressionBombError) as err:
            return "image_unreadable", f"cannot decode {src}: {type(err).__name__}: {err}".replace(str(path), src)
        compose.set_random_seed(int(seed) % (1 << 32))
        try:
            out = compose(image=pixels)["image"]
        except Exception as err:  # noqa: BLE001 - albumentations and OpenCV raise their own types; a bad row
            return "image_transform_failed", f"{src} ({pixels.shape[1]}x{pixels.shape[0]}): {type(err).__name__}: {err}"
        target = Path(out_dir) / self.relpath(row_id)
        try:
            Image.fromarray(np.ascontiguousarray(out)).save(target, format="PNG" if self.ext == "png" else "JPEG")
        except (OSError, TypeError, ValueError) as err:
            if target.is_file():  # no half-written picture is left behind
                target.unlink()
            return "image_write_failed", f"cannot write the augmented {src}: {type(err).__name__}: {err}"
        return None
