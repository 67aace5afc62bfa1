"""The centre of each image, and the centre of each image turned a few degrees, from its 64x64 grid view.

The combined method hashes these two views besides the whole image (see
:mod:`curator.near.hash_variants`). Cutting and turning each decoded image with Pillow cost more than
its pHash and quadrant views together; here both come from the grid view the quadrant pHashes already
need, for a whole batch at once: each output pixel is a fixed linear mix of grid pixels (the mean of
2x2 bilinear samples), so a view is one sparse matrix product over every image of the same shape.

Turning depends on the image's proportions: the grid squeezes a 4:3 photo into a square, and a turn
in the squeezed grid would shear the photo. So the turn is computed in the photo's own proportions,
with one matrix per aspect ratio, rounded to :data:`ASPECT_STEP` on a log scale (at most a few hundred
matrices of half a millisecond each, cached). The crop does not depend on proportions: one matrix.
"""

from __future__ import annotations

import functools

import numpy as np
import scipy.sparse

GRID = 64
"""Side of the grid view the views are cut from."""
SIDE = 32
"""Side of each view (what pHash takes)."""
CENTRE_CROP = 0.1
"""Share of each side the centre leaves out: a copy cropped by 10% at each edge is the original's centre."""
ROTATION = 5.0
"""Degrees the turned view turns the image counter-clockwise: its centre then matches the centre of a
copy rotated by about that much (measured: 3 to 7 degrees either way, see :mod:`curator.near.hash_variants`)."""
ASPECT_STEP = 0.01
"""Aspect ratios within 1% share one turning matrix (a turned 32x32 view moves by well under a pixel)."""


@functools.lru_cache(maxsize=1024)
def view_matrix(aspect: float, degrees: float, crop: float = CENTRE_CROP) -> scipy.sparse.csr_matrix:
    """(SIDE*SIDE, GRID*GRID) map from the grid of an image ``aspect`` = width / height wide to the
    centre (``crop`` cut from each side) of that image turned ``degrees`` counter-clockwise about its
    centre, as Pillow's ``Image.rotate`` turns it. Samples falling outside the image count as black."""
    if not 0 <= crop < 0.5:
        raise ValueError(f"expected crop in [0, 0.5), got {crop}")
    if aspect <= 0:
        raise ValueError(f"expected a positive aspect ratio, got {aspect}")
    t = crop + (1 - 2 * crop) * (np.arange(2 * SIDE) + 0.5) / (2 * SIDE)  # 2 samples per output pixel
    y, x = np.meshgrid(t - 0.5, (t - 0.5) * aspect, indexing="ij")  # about the centre, in image heights
    a = np.deg2rad(degrees)
    gx = ((np.cos(a) * x - np.sin(a) * y) / aspect + 0.5) * GRID - 0.5  # where each sample lies in the grid
    gy = (np.sin(a) * x + np.cos(a) * y + 0.5) * GRID - 0.5
    x0, y0 = np.floor(gx).astype(np.int64), np.floor(gy).astype(np.int64)
    fx, fy = gx - x0, gy - y0
    pixel = (np.arange(2 * SIDE)[:, None] // 2) * SIDE + np.arange(2 * SIDE)[None, :] // 2
    rows, cols, weights = [], [], []
    for dy, wy in ((0, 1 - fy), (1, fy)):
        for dx, wx in ((0, 1 - fx), (1, fx)):
            cx, cy = x0 + dx, y0 + dy
            inside = (cx >= 0) & (cx < GRID) & (cy >= 0) & (cy < GRID)
            rows.append(pixel[inside])
            cols.append((cy * GRID + cx)[inside])
            weights.append((wx * wy / 4)[inside])  # the mean of the pixel's 2x2 samples
    data = (np.concatenate(weights), (np.concatenate(rows), np.concatenate(cols)))
    return scipy.sparse.csr_matrix(data, shape=(SIDE * SIDE, GRID * GRID))


def _apply(matrix: scipy.sparse.csr_matrix, grids: np.ndarray) -> np.ndarray:
    """One matrix over a stack of grids: (n, GRID, GRID) -> (n, SIDE, SIDE) float64."""
    flat = grids.reshape(len(grids), GRID * GRID).astype(np.float64)
    return np.asarray(matrix @ flat.T).T.reshape(len(grids), SIDE, SIDE)


def centre_views(grids: np.ndarray) -> np.ndarray:
    """The centre of each (n, 64, 64) grid: :data:`CENTRE_CROP` cut from each side, as (n, 32, 32)."""
    return _apply(view_matrix(1.0, 0.0), grids)


def turned_views(grids: np.ndarray, aspects: np.ndarray, degrees: float = ROTATION) -> np.ndarray:
    """The centre of each image turned ``degrees`` counter-clockwise, from its (n, 64, 64) grid and its
    width / height: one matrix product per rounded aspect ratio present."""
    aspects = np.asarray(aspects, dtype=np.float64)
    if aspects.shape != (len(grids),) or (aspects <= 0).any():
        raise ValueError(f"expected one positive aspect ratio per grid ({len(grids)}), got {aspects.shape}")
    step = np.log1p(ASPECT_STEP)
    keys = np.round(np.log(aspects) / step).astype(np.int64)
    out = np.empty((len(grids), SIDE, SIDE))
    for key in np.unique(keys):
        rows = np.flatnonzero(keys == key)
        out[rows] = _apply(view_matrix(float(np.exp(key * step)), degrees), grids[rows])
    return out
