"""Fast image decoding for near-duplicate detection: reduced-size JPEG decode, EXIF orientation, and
several small "views" (e.g. a 32x32 grey image for pHash and a 224x224 RGB one for an embedder) from
one decode of each file.

Large batches are decoded in worker processes, in chunks of paths. A file that cannot be read (missing,
corrupt, truncated, empty, not an image) is reported by index with an error string and never raises:
the caller turns it into a dropped row with reason ``image_unreadable``.
"""

from __future__ import annotations

import multiprocessing
import struct
from collections import deque
from collections.abc import Iterable, Iterator, Sequence
from concurrent.futures import Executor, ProcessPoolExecutor
from dataclasses import dataclass, field
from os import PathLike

import numpy as np
from PIL import Image, ImageOps

from ..pixels import eight_bit

# What Pillow and its plug-ins raise on a bad file. Anything else is a bug and propagates.
DECODE_ERRORS = (OSError, ValueError, SyntaxError, EOFError, struct.error, IndexError, KeyError,
                 Image.DecompressionBombError)

SERIAL_BELOW = 64
"""Batches smaller than this are decoded in-process: starting workers would cost more than it saves."""


@dataclass(frozen=True)
class View:
    """One array to make from each image: ``mode`` ("L" or "RGB") resized to ``width`` x ``height``.

    ``min_source`` is the smallest side the decoded image may have before that resize: a JPEG is
    decoded at the smallest DCT scale (1/2, 1/4, 1/8) that keeps it (0 means twice the view's side).
    """

    mode: str
    width: int
    height: int
    resample: int = Image.Resampling.LANCZOS
    min_source: int = 0

    def __post_init__(self):
        if self.mode not in ("L", "RGB"):
            raise ValueError(f"expected view mode 'L' or 'RGB', got {self.mode!r}")
        if self.width < 1 or self.height < 1:
            raise ValueError(f"expected a positive view size, got {self.width}x{self.height}")
        if self.min_source < 0:
            raise ValueError(f"expected min_source >= 0, got {self.min_source}")

    @property
    def shape(self) -> tuple[int, ...]:
        """Shape of one image of this view as a numpy array."""
        return (self.height, self.width) if self.mode == "L" else (self.height, self.width, 3)

    @property
    def source_side(self) -> int:
        """The smallest side to decode at for this view."""
        return self.min_source or 2 * max(self.width, self.height)


# imagehash resizes with LANCZOS after convert("L"); these views repeat that, from at least 64 px.
PHASH_VIEW = View("L", 32, 32, min_source=64)
DHASH_VIEW = View("L", 9, 8, min_source=64)
PHASH_GRID_VIEW = View("L", 64, 64, min_source=64)
"""The whole image at 64x64: four 32x32 quadrants, and the centre views of :mod:`curator.near.grid_views`."""


def embed_view(size: int) -> View:
    """A square RGB view for an embedder (bilinear, as most image processors resize), decoded at
    no less than ``size`` px."""
    return View("RGB", size, size, Image.Resampling.BILINEAR, min_source=size)


@dataclass
class Decoded:
    """Views of a batch of images: ``arrays[name]`` has one row per path (zeros where decoding failed),
    and ``sizes`` each image's (width, height) as decoded and oriented (0, 0 where it failed)."""

    arrays: dict[str, np.ndarray]
    sizes: np.ndarray
    errors: dict[int, str] = field(default_factory=dict)

    @property
    def aspects(self) -> np.ndarray:
        """Width / height of each image (1 where it failed)."""
        w, h = self.sizes[:, 0].astype(np.float64), self.sizes[:, 1].astype(np.float64)
        return np.divide(w, h, out=np.ones(len(w)), where=h > 0)

    def __len__(self) -> int:
        return len(next(iter(self.arrays.values()))) if self.arrays else 0

    @property
    def ok(self) -> np.ndarray:
        """Boolean mask of the rows that decoded."""
        mask = np.ones(len(self), dtype=bool)
        mask[list(self.errors)] = False
        return mask


def _draft_size(views: dict[str, View]) -> tuple[int, int]:
    """The size to ask the JPEG decoder for: the largest ``source_side`` of the views, square
    (EXIF orientation may swap width and height after the draft is chosen)."""
    side = max(v.source_side for v in views.values())
    return side, side


def prepare(im: Image.Image, views: dict[str, View], draft: bool = True) -> Image.Image:
    """Draft-decode an opened image (JPEG: at a reduced scale no smaller than the views need), load it,
    apply its EXIF orientation in place, and bring 16-bit and float pixels to 8 bits (:mod:`curator.pixels`)."""
    if draft:
        want_rgb = any(v.mode == "RGB" for v in views.values())
        im.draft("RGB" if want_rgb else "L", _draft_size(views))
    im.load()
    ImageOps.exif_transpose(im, in_place=True)
    return eight_bit(im)


def make_views(im: Image.Image, views: dict[str, View]) -> dict[str, np.ndarray]:
    """Each view of a loaded image: convert the mode once per mode, then resize."""
    converted: dict[str, Image.Image] = {}
    out = {}
    for name, view in views.items():
        if view.mode not in converted:
            converted[view.mode] = im if im.mode == view.mode else im.convert(view.mode)
        out[name] = np.asarray(converted[view.mode].resize((view.width, view.height), view.resample))
    return out


def decode_one(path: str | PathLike, views: dict[str, View],
               draft: bool = True) -> tuple[dict[str, np.ndarray] | None, tuple[int, int], str | None]:
    """The views of one image and its decoded (width, height), or ``(None, (0, 0), error)`` where the
    file cannot be read as an image."""
    try:
        with Image.open(path) as im:
            prepared = prepare(im, views, draft)
            return make_views(prepared, views), prepared.size, None
    except DECODE_ERRORS as err:
        return None, (0, 0), f"{type(err).__name__}: {err}"


def decode_batch(paths: Sequence[str | PathLike], views: dict[str, View],
                 draft: bool = True) -> Decoded:
    """Decode ``paths`` in this process into stacked views; failures are zero rows plus an error."""
    arrays = {name: np.zeros((len(paths), *v.shape), dtype=np.uint8) for name, v in views.items()}
    sizes = np.zeros((len(paths), 2), dtype=np.int64)
    errors = {}
    for i, path in enumerate(paths):
        got, sizes[i], err = decode_one(path, views, draft)
        if err is not None:
            errors[i] = err
            continue
        for name, arr in got.items():
            arrays[name][i] = arr
    return Decoded(arrays, sizes, errors)


def _check_views(views: dict[str, View]) -> None:
    """Guard: views must be a non-empty name -> View mapping."""
    if not views or not all(isinstance(v, View) for v in views.values()):
        raise ValueError(f"expected a non-empty mapping of name -> View, got {views!r}")


def _bounded_map(pool: Executor, fn, items: Iterable, ahead: int) -> Iterator:
    """``pool.map`` in order, with at most ``ahead`` tasks in flight (so memory stays bounded)."""
    pending: deque = deque()
    for item in items:
        pending.append(pool.submit(fn, *item))
        if len(pending) >= ahead:
            yield pending.popleft().result()
    while pending:
        yield pending.popleft().result()


def _concat(parts: list[Decoded], sizes: list[int]) -> Decoded:
    """Join consecutive decoded sub-batches, re-basing their error indices."""
    arrays = {name: np.concatenate([p.arrays[name] for p in parts]) for name in parts[0].arrays}
    errors, offset = {}, 0
    for part, size in zip(parts, sizes):
        errors.update({offset + i: e for i, e in part.errors.items()})
        offset += size
    return Decoded(arrays, np.concatenate([p.sizes for p in parts]), errors)


def iter_decoded(paths: Sequence[str | PathLike], views: dict[str, View], *, batch: int = 1024,
                 workers: int = 2, task: int = 64, draft: bool = True,
                 start_method: str | None = None) -> Iterator[Decoded]:
    """Decode ``paths`` in order, yielding one :class:`Decoded` per batch of about ``batch`` paths
    (a whole number of tasks when decoding in parallel).

    With ``workers > 1`` and at least :data:`SERIAL_BELOW` paths, tasks of ``task`` paths run in a
    process pool, with a bounded number in flight, so the caller can work on one batch while the next
    is decoded. ``start_method`` defaults to "fork" where available (see :func:`_context`); "spawn"
    and "forkserver" work too, but need the caller's script under ``if __name__ == "__main__":``.
    ``draft=False`` decodes at full size (what ``imagehash`` sees), at several times the cost.
    """
    _check_views(views)
    if batch < 1 or task < 1 or workers < 1:
        raise ValueError(f"expected batch, task and workers >= 1, got {batch}, {task}, {workers}")
    paths = list(paths)
    if workers == 1 or len(paths) < SERIAL_BELOW:
        for start in range(0, len(paths), batch):
            yield decode_batch(paths[start:start + batch], views, draft)
        return
    ctx = _context(start_method)
    yield from _iter_parallel(paths, views, batch, workers, min(task, batch), draft, ctx)


def _context(start_method: str | None):
    """A multiprocessing context: ``fork`` where the platform has it, else ``spawn``.

    Forking a process that holds threads (an ONNX or torch model) is only a hazard when the child
    uses what those threads guard; a worker here runs Pillow decoding and numpy copies and nothing
    else (no BLAS, no model), as torch's DataLoader workers do. ``fork`` also needs no
    ``if __name__ == "__main__":`` guard in the caller's script and starts in milliseconds.
    """
    methods = multiprocessing.get_all_start_methods()
    start_method = start_method or ("fork" if "fork" in methods else "spawn")
    if start_method not in methods:
        raise ValueError(f"expected a start method in {methods}, got {start_method!r}")
    return multiprocessing.get_context(start_method)


def _iter_parallel(paths: list, views: dict[str, View], batch: int, workers: int, task: int,
                   draft: bool, ctx) -> Iterator[Decoded]:
    """The process-pool half of :func:`iter_decoded`."""
    chunks = [paths[s:s + task] for s in range(0, len(paths), task)]
    per_batch = max(1, batch // task)
    with ProcessPoolExecutor(max_workers=workers, mp_context=ctx) as pool:
        results = _bounded_map(pool, decode_batch, ((c, views, draft) for c in chunks),
                               ahead=max(2 * workers, per_batch + workers))
        for start in range(0, len(chunks), per_batch):
            group = chunks[start:start + per_batch]
            yield _concat([next(results) for _ in group], [len(c) for c in group])


def decode_all(paths: Sequence[str | PathLike], views: dict[str, View], **kwargs) -> Decoded:
    """All of :func:`iter_decoded` in one :class:`Decoded` (fine for small views such as hashes)."""
    paths = list(paths)
    if not paths:
        _check_views(views)
        return Decoded({name: np.zeros((0, *v.shape), dtype=np.uint8) for name, v in views.items()},
                       np.zeros((0, 2), dtype=np.int64))
    parts = list(iter_decoded(paths, views, **kwargs))
    return _concat(parts, [len(p) for p in parts])
