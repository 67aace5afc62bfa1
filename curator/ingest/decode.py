"""Decode every image once: its format, size after EXIF orientation, and a hash of its pixels.

``image_hash`` is the 32-hex ``xxh3_128`` of the decoded picture (RGBA when it has an alpha
channel, else RGB; mode, size, then pixel bytes), so the same picture saved twice with different
file bytes hashes the same. Animated files are hashed on their first frame. A file that cannot be
fully decoded (corrupt, truncated, empty, not an image, a decompression bomb) yields an error
string instead; it becomes an ``image_unreadable`` row, never an exception.

Work runs in two processes, in chunks of a few hundred paths, when there are enough images to be
worth it; fewer run here in this process. On Linux the workers are forked: the only start method
that does not re-run the caller's ``__main__`` (a script without an ``if __name__ == "__main__"``
guard would otherwise run again in each worker). The workers only decode with PIL and hash.
"""

from __future__ import annotations

import multiprocessing
import os
import sys
from collections.abc import Sequence
from concurrent.futures import ProcessPoolExecutor, as_completed

from .. import progress

#: (image_hash, width, height, format) for a decoded image, or an error detail.
Decoded = tuple[str, int, int, str] | str
CHUNK = 256
SERIAL_BELOW = 64


def decode(path: str) -> Decoded:
    """Decode one image file (see the module docstring)."""
    import xxhash
    from PIL import Image, ImageOps

    try:
        if os.path.getsize(path) == 0:
            return "empty file (0 bytes)"
        with Image.open(path) as im:
            im.load()  # decodes the pixels: a truncated file fails here
            fmt = im.format or ""
            upright = ImageOps.exif_transpose(im)
            mode = "RGBA" if upright.has_transparency_data else "RGB"
            pixels = upright.convert(mode)
            h = xxhash.xxh3_128()
            h.update(f"{mode}{pixels.width}x{pixels.height}".encode("ascii"))
            h.update(pixels.tobytes())
            return h.hexdigest(), pixels.width, pixels.height, fmt
    except Image.DecompressionBombError as err:
        return f"decompression bomb: {err}"
    except Exception as err:  # noqa: BLE001 - PIL raises many types; each is a bad row, not a crash
        return f"{type(err).__name__}: {err}".replace(path, os.path.basename(path))


def decode_chunk(paths: Sequence[str]) -> list[Decoded]:
    return [decode(p) for p in paths]


def decode_all(paths: Sequence[str], workers: int = 2, chunk: int = CHUNK,
               serial_below: int = SERIAL_BELOW) -> list[Decoded]:
    """Decode many images in order, with a progress bar; in ``workers`` processes when worth it."""
    out: list[Decoded] = [""] * len(paths)
    with progress.task("decoding images", total=len(paths), unit="images") as bar:
        if len(paths) < serial_below or workers < 2:
            for i, p in enumerate(paths):
                out[i] = decode(p)
                bar.advance()
            return out
        method = "fork" if sys.platform == "linux" else "spawn"
        with ProcessPoolExecutor(max_workers=workers, mp_context=multiprocessing.get_context(method)) as pool:
            futures = {pool.submit(decode_chunk, list(paths[s:s + chunk])): s for s in range(0, len(paths), chunk)}
            for future in as_completed(futures):
                start, results = futures[future], future.result()
                out[start:start + len(results)] = results
                bar.advance(len(results))
    return out
