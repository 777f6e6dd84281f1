"""Texture synthesis from one example's patches, at any size.

The same coarse-to-fine patch search and vote as the textured hole fill
(:mod:`napari_gan.core.patchfill`), run on a canvas that holds the example and a
new, empty image: every patch of the new image is made to look like some patch of
the example (Wexler et al. 2007, with PatchMatch's search, Barnes et al. 2009).

Where the coarse layout comes from decides how much is copied. From a mosaic of
random patches, large areas end up copied whole; from ``start``, a layout made by
something that does not copy (a texture GAN, or patch-distribution matching at a
coarse level), the patches only supply detail to that layout.
"""

from __future__ import annotations

import numpy as np
import torch
from skimage.transform import resize

from .errors import InputError
from .patchfill import PATCH, _fill_region, _levels_for


def synthesize(
    source: np.ndarray,
    size: tuple[int, int],
    *,
    start: np.ndarray | None = None,
    levels: int | None = None,
    patch: int = PATCH,
    iterations: int = 4,
    seed: int = 0,
    progress=None,
) -> np.ndarray:
    """A new ``size`` image made of the patches of ``source``.

    Parameters
    ----------
    source : ndarray, (C, Y, X) float
        The example, every channel on a comparable scale.
    size : (int, int)
        The output's (Y, X).
    start : ndarray, (C, y, x), optional
        The layout to follow, of any size (resized to ``size``); used at the
        coarsest of ``levels`` levels. None: a mosaic of random patches.
    levels : int, optional
        Pyramid levels (default: enough that the coarsest output is about two
        patches thick).
    patch, iterations, seed
        As for :func:`napari_gan.core.patchfill.patch_fill`.
    progress : callable, optional
        Called with (levels done, levels) after every pyramid level.

    Returns
    -------
    ndarray, (C, Y, X) float32
    """
    src = np.asarray(source, dtype=np.float32)
    if src.ndim != 3:
        raise InputError(f"source must be (C, Y, X), got shape {src.shape}")
    h, w = int(size[0]), int(size[1])
    c, sy, sx = src.shape
    if min(sy, sx) < 2 * patch:
        raise InputError(f"the example must be at least {2 * patch} pixels per side")
    if min(h, w) < 1:
        raise InputError(f"size must be positive, got {size!r}")
    m = 2 * patch  # margin around the output, cropped away: no edge effects, no continuation of the example
    hh, ww = h + 2 * m, w + 2 * m
    canvas = np.zeros((c, max(sy, hh), sx + ww), np.float32)
    canvas[:, :sy, :sx] = src
    hole = np.ones(canvas.shape[1:], bool)
    hole[:sy, :sx] = False
    guess = None
    if start is not None:
        start = np.asarray(start, dtype=np.float32)
        if start.ndim != 3 or start.shape[0] != c:
            raise InputError(f"start must be ({c}, y, x), got shape {start.shape}")
        guess = np.broadcast_to(src.mean(axis=(1, 2))[:, None, None], canvas.shape).copy()
        guess[:, :hh, sx:] = resize(start, (c, hh, ww), order=1, anti_aliasing=True)
    if levels is None:
        out_hole = np.zeros((hh, ww), bool)
        out_hole[m:-m, m:-m] = True
        levels = _levels_for(out_hole, canvas.shape[1:], patch)
    levels = int(levels)
    # the coarsest level must still hold whole patches of the example
    while levels > 1 and min(sy, sx) / 2 ** (levels - 1) < 2 * patch:
        levels -= 1
    gen = torch.Generator().manual_seed(int(seed))
    filled, _ = _fill_region(
        canvas, hole, int(patch), int(iterations), gen, levels=levels, start=guess, heal=False, progress=progress
    )
    return np.ascontiguousarray(filled[:, m : m + h, sx + m : sx + m + w])
