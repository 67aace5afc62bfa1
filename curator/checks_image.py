"""Image checks: decodable, formats, size and aspect ratio, blank or low-information, too dark or
too bright, blurry, grayscale, EXIF orientation (fixed by writing an upright copy) and animation.

Image paths are relative to the dataset root (``ctx.root``). Each image is decoded once per
validate run, whatever the number of image rules: :func:`image_stats` measures everything the
checks need and caches it per path. Decoding is per item by nature; batches of
:data:`POOL_FROM` or more images are decoded in a pool of ``ctx.workers`` processes. The checks
themselves are numpy comparisons over those measurements. URLs are not fetched: every image check
passes them.
"""

from __future__ import annotations

import multiprocessing
import os
import re
import struct
import sys
import warnings
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import numpy as np
import pandas as pd

from .checks import CheckContext, check, fixer, series, text_array
from .pixels import eight_bit
from .table import IMAGE_FORMAT, IMAGE_HEIGHT, IMAGE_WIDTH

POOL_FROM = 64
CHUNK = 32
#: Images are measured at this size at most (longest side), never upscaled.
MEASURE_SIDE = 512
STATS = ["ok", "error", "format", "frames", "orientation", "gray_mode", "width", "height",
         "mean", "std", "entropy", "laplacian_var", "chroma"]
_URL = re.compile(r"^[A-Za-z][A-Za-z0-9+.-]*://")
_GRAY_MODES = {"1", "L", "LA", "I", "I;16", "I;16B", "I;16L", "F", "La"}


def _failure(message: str) -> tuple:
    return (False, message, "", 0, 1, False, 0, 0, np.nan, np.nan, np.nan, np.nan, np.nan)


def measure(path: str) -> tuple:
    """Decode one image fully and measure it; a file that cannot be read gives ``ok=False``."""
    from PIL import Image, ImageOps

    if len(path) > 4096 or "\x00" in path:
        return _failure("not a usable file path")
    try:
        if os.path.getsize(path) == 0:
            return _failure("empty file (0 bytes)")
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            with Image.open(path) as im:
                fmt = im.format or ""
                frames = int(getattr(im, "n_frames", 1) or 1)
                orientation = int(im.getexif().get(0x0112, 1) or 1)
                gray_mode = im.mode in _GRAY_MODES
                width, height = im.size[::-1] if orientation in (5, 6, 7, 8) else im.size  # upright size
                im.draft("RGB", (MEASURE_SIDE * 2, MEASURE_SIDE * 2))  # JPEG: reduced scale, whole stream read
                im.load()  # a truncated or corrupt file fails here
                upright = eight_bit(ImageOps.exif_transpose(im))
                if im.mode == "P" and "transparency" in im.info:
                    upright = upright.convert("RGBA")
                rgb = upright.convert("RGB")
                rgb.thumbnail((MEASURE_SIDE, MEASURE_SIDE))
        a = np.asarray(rgb, dtype=np.float32)
    except FileNotFoundError:
        return _failure("file not found")
    except (OSError, ValueError, SyntaxError, EOFError, struct.error, IndexError, KeyError, TypeError,
            Image.DecompressionBombError) as err:  # each is a bad image, not a crash
        return _failure(f"{type(err).__name__}: {err}".replace(path, os.path.basename(path))[:300])
    gray = a @ np.array([0.299, 0.587, 0.114], dtype=np.float32)
    hist = np.bincount(gray.astype(np.uint8).ravel(), minlength=256).astype(np.float64)
    p = hist[hist > 0] / hist.sum()
    lap = (gray[:-2, 1:-1] + gray[2:, 1:-1] + gray[1:-1, :-2] + gray[1:-1, 2:] - 4 * gray[1:-1, 1:-1])
    chroma = float((a.max(axis=2) - a.min(axis=2)).mean())
    std = float(a.reshape(-1, 3).std(axis=0).max())  # colour contrast counts, not only grey levels
    return (True, "", fmt, frames, orientation, gray_mode, width, height, float(gray.mean()), std,
            float(abs((p * np.log2(p)).sum())), float(lap.var()) if lap.size else 0.0, chroma)


def measure_many(paths: list[str]) -> list[tuple]:
    return [measure(p) for p in paths]


def _measure_all(paths: list[str], workers: int) -> list[tuple]:
    if len(paths) < POOL_FROM or workers < 2:
        return measure_many(paths)
    # Forked workers only decode with PIL and numpy (fork: a script without a __main__ guard is not re-run).
    method = "fork" if sys.platform == "linux" else "spawn"
    chunks = [paths[s:s + CHUNK] for s in range(0, len(paths), CHUNK)]
    with ProcessPoolExecutor(max_workers=workers, mp_context=multiprocessing.get_context(method)) as pool:
        return [r for part in pool.map(measure_many, chunks) for r in part]


def _full_path(root: Path, rel: str) -> str:
    return str(Path(rel) if os.path.isabs(rel) else root / rel)


def image_stats(values: pd.Series, ctx: CheckContext) -> pd.DataFrame:
    """The measurements of every row's image (one row per input row; ``ok`` is None for URLs and
    missing paths are failures). Cached per path for the rest of the validate run."""
    root = Path(ctx.root) if ctx.root is not None else Path(".")
    cache: dict[str, tuple] = ctx.cache.setdefault("image_stats", {})
    keys = series(text_array(values), values.index)  # a non-text cell reads as a path that is not there
    distinct = pd.unique(keys.dropna())
    todo = [k for k in distinct if k not in cache and not _URL.match(k)]
    if todo:
        measured = _measure_all([_full_path(root, k) for k in todo], ctx.workers)
        cache.update(zip(todo, measured))
    url = (None, "", "", 1, 1, False, np.nan, np.nan, np.nan, np.nan, np.nan, np.nan, np.nan)
    per_path = pd.DataFrame.from_records([cache.get(k, url) for k in distinct], columns=STATS)  # per image
    per_path.index = pd.Index(distinct, dtype=object)
    frame = per_path.reindex(keys.to_numpy())
    missing = keys.isna().to_numpy()
    if missing.any():
        frame.iloc[np.flatnonzero(missing)] = [_failure("no image path")] * int(missing.sum())
    frame.index = values.index
    return frame


def _checked(stats: pd.DataFrame) -> pd.Series:
    """Rows whose image was decoded (URLs and unreadable files are not judged by the other checks)."""
    return stats["ok"].eq(True)


@check("decodable")
def decodable(values: pd.Series, ctx: CheckContext):
    """Images that cannot be fully decoded (missing, empty, truncated, corrupt, not an image) fail."""
    stats = image_stats(values, ctx)
    failed = stats["ok"].eq(False)
    return failed, stats["error"][failed]


def _sizes(values: pd.Series, table: pd.DataFrame, ctx: CheckContext) -> tuple[pd.Series, pd.Series]:
    """Width and height: from ingest's columns when the table has them, else measured; NaN where
    unknown (a URL), which the size checks pass."""
    if IMAGE_WIDTH in table and IMAGE_HEIGHT in table:
        return (pd.to_numeric(table[IMAGE_WIDTH], errors="coerce").astype(float),
                pd.to_numeric(table[IMAGE_HEIGHT], errors="coerce").astype(float))
    stats = image_stats(values, ctx)
    return stats["width"].astype(float), stats["height"].astype(float)


def _px(w: pd.Series, h: pd.Series) -> pd.Series:
    return w.astype(int).astype(str) + "x" + h.astype(int).astype(str) + " px"


@check("min_size", params={"width": int, "height": int})
def min_size(values: pd.Series, table: pd.DataFrame, ctx: CheckContext, width: int = 1, height: int = 1):
    """Images smaller than ``width`` x ``height`` pixels fail (sizes come from ingest's decode; an
    image of unknown size, a URL, passes)."""
    w, h = _sizes(values, table, ctx)
    failed = w.notna() & h.notna() & ((w < width) | (h < height))
    return failed, _px(w[failed], h[failed]) + f" (min {width}x{height})"


@check("max_size", params={"width": int, "height": int})
def max_size(values: pd.Series, table: pd.DataFrame, ctx: CheckContext, width: int = 0, height: int = 0):
    """Images wider than ``width`` or taller than ``height`` pixels fail (0 = no limit)."""
    w, h = _sizes(values, table, ctx)
    failed = ((w > width) if width > 0 else False) | ((h > height) if height > 0 else False)
    failed = pd.Series(failed, index=values.index) if not isinstance(failed, pd.Series) else failed
    return failed, _px(w[failed], h[failed]) + f" (max {width or '-'}x{height or '-'})"


@check("aspect_ratio", params={"min": float, "max": float})
def aspect_ratio(values: pd.Series, table: pd.DataFrame, ctx: CheckContext, min: float = 0.0,  # noqa: A002
                 max: float = float("inf")):  # noqa: A002
    """Images whose width / height is outside ``[min, max]`` fail (panoramas, slivers)."""
    w, h = _sizes(values, table, ctx)
    ratio = w / h.where(h > 0)
    failed = ratio.notna() & ~ratio.between(min, max)
    return failed, "aspect " + ratio[failed].round(2).astype(str) + f" (allowed {min:g} to {max:g})"


@check("image_formats", params={"formats": list[str]})
def image_formats(values: pd.Series, table: pd.DataFrame, ctx: CheckContext, formats: list[str]):
    """Images whose decoded format (JPEG, PNG, WEBP ...) is not in ``formats`` fail."""
    if IMAGE_FORMAT in table:
        fmt = table[IMAGE_FORMAT].astype(object)
        known = fmt.notna() & fmt.astype(str).ne("")
    else:
        stats = image_stats(values, ctx)
        fmt, known = stats["format"], _checked(stats)
    allowed = {f.upper() for f in formats}
    failed = known & ~fmt.astype(str).str.upper().isin(allowed)
    return failed, "format " + fmt[failed].astype(str) + f" (allowed {', '.join(sorted(allowed))})"


@check("low_information", params={"min_std": float, "min_entropy": float})
def low_information(values: pd.Series, ctx: CheckContext, min_std: float = 3.0, min_entropy: float = 1.0):
    """Blank or nearly blank images fail: pixel standard deviation (the largest of the three
    channels') under ``min_std``, or grey-level histogram entropy (bits) under ``min_entropy``."""
    stats = image_stats(values, ctx)
    failed = _checked(stats) & ((stats["std"] < min_std) | (stats["entropy"] < min_entropy))
    return failed, ("blank or low-information: std " + stats["std"][failed].round(1).astype(str)
                    + ", entropy " + stats["entropy"][failed].round(2).astype(str) + " bits")


@check("brightness", params={"min_mean": float, "max_mean": float})
def brightness(values: pd.Series, ctx: CheckContext, min_mean: float = 20.0, max_mean: float = 235.0):
    """Images too dark (mean grey level under ``min_mean``) or too bright (over ``max_mean``) fail."""
    stats = image_stats(values, ctx)
    mean = stats["mean"]
    dark, bright = _checked(stats) & (mean < min_mean), _checked(stats) & (mean > max_mean)
    failed = dark | bright
    detail = pd.Series("too dark", index=values.index).where(dark, "too bright")[failed]
    return failed, detail + ": mean grey level " + mean[failed].round(1).astype(str)


@check("blurry", params={"min_variance": float})
def blurry(values: pd.Series, ctx: CheckContext, min_variance: float = 60.0):
    """Images whose variance of the Laplacian (at most 512 px on the longest side) is under
    ``min_variance`` fail: few sharp edges."""
    stats = image_stats(values, ctx)
    failed = _checked(stats) & (stats["laplacian_var"] < min_variance)
    return failed, "blurry: Laplacian variance " + stats["laplacian_var"][failed].round(1).astype(str) + \
        f" (min {min_variance:g})"


@check("grayscale", params={"max_chroma": float})
def grayscale(values: pd.Series, ctx: CheckContext, max_chroma: float = 2.0):
    """Grayscale images where colour is expected fail: a grey mode, or mean channel spread under
    ``max_chroma`` (of 255)."""
    stats = image_stats(values, ctx)
    failed = _checked(stats) & (stats["gray_mode"].astype(bool) | (stats["chroma"] < max_chroma))
    return failed, "grayscale: mean channel spread " + stats["chroma"][failed].round(2).astype(str)


@check("animated")
def animated(values: pd.Series, ctx: CheckContext):
    """Animated or multi-frame files (GIF, APNG, WebP, multi-page TIFF) fail."""
    stats = image_stats(values, ctx)
    failed = _checked(stats) & (stats["frames"] > 1)
    return failed, stats["frames"][failed].astype(int).astype(str) + " frames"


def _dir_problem(params: dict) -> str | None:
    folder = Path(params.get("dir", ".curator/upright"))
    if folder.is_absolute() or ".." in folder.parts or not folder.parts:
        return f"param 'dir' expected a folder inside the dataset root (relative, no '..'), got {params['dir']!r}"
    return None


@check("exif_orientation", params={"dir": str}, validate=_dir_problem)
def exif_orientation(values: pd.Series, ctx: CheckContext, dir: str = ".curator/upright"):  # noqa: A002
    """Images stored sideways or mirrored with an EXIF orientation tag fail; the fix writes an
    upright copy (under ``dir`` in the dataset root) and points the row at it."""
    stats = image_stats(values, ctx)
    failed = _checked(stats) & (stats["orientation"] != 1)
    return failed, "EXIF orientation " + stats["orientation"][failed].astype(int).astype(str)


@fixer("exif_orientation")
def _write_upright(values: pd.Series, table: pd.DataFrame, ctx: CheckContext,
                   dir: str = ".curator/upright"):  # noqa: A002
    """Write each image with its EXIF orientation applied, as a lossless PNG named by the source's
    content, and point the row at it. A copy that cannot be written leaves the row as it was (and
    flagged)."""
    root = Path(ctx.root) if ctx.root is not None else Path(".")
    out = values.copy()
    for idx, rel in values.items():  # per image by nature; only the rows that failed
        new = _upright_copy(root, str(rel), dir)
        if new is not None:
            out[idx] = new
    if IMAGE_FORMAT not in table:
        return out
    fmt = table[IMAGE_FORMAT].where(out.eq(values), "PNG")
    return {values.name: out, IMAGE_FORMAT: fmt}


def _upright_copy(root: Path, rel: str, folder: str) -> str | None:
    import xxhash
    from PIL import Image, ImageOps

    src = Path(_full_path(root, rel))
    try:
        data = src.read_bytes()
        dest_rel = Path(folder) / f"{xxhash.xxh3_64_hexdigest(data)}.png"
        dest = root / dest_rel
        if not dest.is_file():
            with Image.open(src) as im:
                upright = ImageOps.exif_transpose(im)
                exif = upright.getexif()
                exif.pop(0x0112, None)
                dest.parent.mkdir(parents=True, exist_ok=True)
                tmp = dest.with_name(f".{dest.name}.tmp")
                upright.save(tmp, format="PNG", exif=exif.tobytes())
            os.replace(tmp, dest)
    except (OSError, ValueError, SyntaxError, struct.error, Image.DecompressionBombError):
        return None
    return dest_rel.as_posix()
