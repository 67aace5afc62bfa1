"""Pillow images with more than 8 bits a channel, brought to 8 bits before any ``convert``.

Pillow's ``convert("L")`` and ``convert("RGB")`` clip 16-bit, 32-bit and float pixels to 0-255, so a
normal 16-bit scan (medical, depth, scientific data) reads as white and a float image in 0..1 as black:
its hash, thumbnail, features and checks would all see a flat picture.
"""

from __future__ import annotations

import numpy as np
from PIL import Image


def eight_bit(im: Image.Image) -> Image.Image:
    """``im`` as 8-bit grey when its mode is 16-bit, 32-bit or float; other modes as they are.

    16-bit values are divided by 257; float values within 0..1 are scaled by 255; other 32-bit and
    float images are stretched from their minimum to their maximum (NaN and infinities count as 0).
    """
    if im.mode.startswith("I;16"):
        a = np.asarray(im, dtype=np.float32) / 257
    elif im.mode in ("I", "F"):
        a = np.nan_to_num(np.asarray(im, dtype=np.float32), nan=0.0, posinf=0.0, neginf=0.0)
        lo, hi = (float(a.min()), float(a.max())) if a.size else (0.0, 0.0)
        if im.mode == "F" and lo >= 0 and hi <= 1:
            a = a * 255
        else:
            a = (a - lo) * (255 / (hi - lo)) if hi > lo else np.zeros_like(a)
    else:
        return im
    return Image.fromarray(np.clip(np.rint(a), 0, 255).astype(np.uint8), "L")
