"""Texture synthesis from one example's patches, at any size.

The same coarse-to-fine patch search and vote as the textured hole fill
(:mod:`napari_gan.core.patchfill`), run on a canvas that holds the example and a
new, empty image: every patch of the new image is made to look like some patch of
the example (Wexler et al. 2007, with PatchMatch's search, Barnes et al. 2009).

Where the coarse layout comes from decides how much is copied. From a mosaic of
random patches, large areas end up copied whole; from ``start``, a layout made by
something that does not copy (a texture GAN, or patch-distribution matching at a
coarse level), the patches only supply detail to that layout.

Large outputs are made in tiles, row by row, each filled as a hole bordered by the
tiles already made, which it continues; where a tile's pixels meet theirs, the
cheapest cut through the texture decides (as in image quilting), so no straight
join shows. The memory is that of one tile, whatever the output's size.
"""

from __future__ import annotations

import itertools

import numpy as np
import torch
from scipy import ndimage as ndi
from scipy.stats import rankdata
from skimage.transform import resize

from .errors import InputError
from .patchfill import PATCH, _fill_region, _levels_for
from .tiling import spans

#: outputs larger than this (pixels per side) are synthesised in tiles of this size
TILE = 512
#: ``start_detail``: the start's detail above a Gaussian of this many pixels of the
#: coarsest level is matched to the example's there
START_SIGMA = 2.0


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
    tile: int | None = None,
    start_detail: bool = True,
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
        Pyramid levels (default: enough that the coarsest output (tile) is about two
        patches thick).
    patch, iterations, seed
        As for :func:`napari_gan.core.patchfill.patch_fill`.
    progress : callable, optional
        Called with (steps done, steps) after every pyramid level (of every tile).
    tile : int, optional
        Outputs larger than this (default :data:`TILE`) per side are made in tiles
        of about this size (see the module's text).
    start_detail : bool
        With ``start``: at the coarsest level, give the start's fine detail the
        example's histogram there before the search. A layout made by a generator
        or at a coarser scale is softer than the example (0.63-0.72 of its detail's
        RMS at that level on four textures), so its nearest patches are the
        example's soft ones and the crisp ones (blades, stones' edges) are rarely
        copied (docs/benchmarks/textures_design.md, "The layout's detail, matched before the
        search"). False: the start as it is.

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
    tile = TILE if tile is None else tile
    if int(tile) != tile or tile < 8 * patch:
        raise InputError(f"tile must be an integer of at least {8 * patch} pixels, got {tile!r}")
    m = 2 * patch  # margin around the output, cropped away: no edge effects, no continuation of the example
    hh, ww = h + 2 * m, w + 2 * m
    guess = None
    if start is not None:
        start = np.asarray(start, dtype=np.float32)
        if start.ndim != 3 or start.shape[0] != c:
            raise InputError(f"start must be ({c}, y, x), got shape {start.shape}")
        guess = resize(start, (c, hh, ww), order=1, anti_aliasing=True).astype(np.float32)
    gen = torch.Generator().manual_seed(int(seed))
    if max(h, w) <= tile:
        levels = _levels(src, (hh, ww), (h, w), levels, patch)
        blank = np.zeros((c, hh, ww), np.float32)
        out = _synthesize_region(src, blank, None, guess, levels, patch, iterations, gen, progress, start_detail)
        return np.ascontiguousarray(out[:, m : m + h, m : m + w])
    out = _tiled(src, (hh, ww), guess, levels, patch, iterations, gen, progress, int(tile), start_detail)
    return out[:, m : m + h, m : m + w]


def _levels(src, region: tuple[int, int], inner: tuple[int, int], levels, patch: int) -> int:
    """``levels``, or enough that an ``inner`` unknown block of a ``region`` beside
    the example is about two patches thick at the coarsest; at most as many as keep
    whole patches of the example there."""
    sy, sx = src.shape[1:]
    if levels is None:
        out_hole = np.zeros(region, bool)
        a, b = (region[0] - inner[0]) // 2, (region[1] - inner[1]) // 2
        out_hole[a : a + inner[0], b : b + inner[1]] = True
        levels = _levels_for(out_hole, (max(sy, region[0]), sx + region[1]), patch)
    levels = int(levels)
    while levels > 1 and min(sy, sx) / 2 ** (levels - 1) < 2 * patch:
        levels -= 1
    return levels


def _ranked(values: np.ndarray, reference: np.ndarray) -> np.ndarray:
    """``values`` given ``reference``'s distribution exactly (histogram matching by
    rank). Equal values share their mean rank, so a flat area of the start keeps one
    value (the reference's quantile at the middle of its share), not its top one."""
    q = (rankdata(values, method="average") - 0.5) / values.size
    return np.quantile(reference, q).astype(np.float32)


def _start_matcher(src: np.ndarray, rh: int, levels: int):
    """For :func:`_fill_region`'s ``prepare``: at the coarsest of ``levels`` levels of
    a canvas holding the example ``src`` at its left and a region of ``rh`` rows
    beside it, the detail of the region's hole pixels (above a Gaussian of
    :data:`START_SIGMA` pixels) given the histogram of the example's detail there
    exactly (:func:`_ranked`); the region's known pixels (tiles already made) are
    kept. A limited stretch (as :func:`~napari_gan.core.patchdist.match_detail`
    has) scored the same (``bench/texture_start.py``): the values only choose which
    of the example's patches are copied."""
    f = 2 ** (levels - 1)
    sy, sx = src.shape[1:]

    def prepare(img: torch.Tensor, hole: torch.Tensor) -> torch.Tensor:
        out = img.numpy().copy()
        region = out[:, : -(-rh // f), sx // f :]  # a view: written in place
        where = hole.numpy()[: region.shape[1], sx // f :]
        for plane, example in zip(region, out[:, : sy // f, : sx // f], strict=True):  # views of ``out``
            coarse = ndi.gaussian_filter(plane, START_SIGMA, mode="reflect")
            reference = example - ndi.gaussian_filter(example, START_SIGMA, mode="reflect")
            plane[where] = coarse[where] + _ranked((plane - coarse)[where], reference)
        return torch.from_numpy(out)

    return prepare


def _synthesize_region(
    src, region, known, guess, levels, patch, iterations, gen, progress, start_detail=True
) -> np.ndarray:
    """Fill ``region`` (C, y, x) from the example's patches, on a canvas that holds
    the example at its left. ``known``: (y, x) bool, pixels of the region to keep
    and continue (never copied from); None: all unknown. ``guess``: (C, y, x), the
    layout to start from at the coarsest level; with ``start_detail``, its detail
    there matched to the example's (:func:`_start_matcher`)."""
    c, sy, sx = src.shape
    rh, rw = region.shape[1:]
    canvas = np.zeros((c, max(sy, rh), sx + rw), np.float32)
    canvas[:, :sy, :sx] = src
    hole = np.ones(canvas.shape[1:], bool)
    hole[:sy, :sx] = False
    avoid = None
    if known is not None:
        canvas[:, :rh, sx:] = region
        hole[:rh, sx:] = ~known
        avoid = np.zeros(canvas.shape[1:], bool)
        avoid[:rh, sx:] = known
        if sy > rh:  # beside the example and below the region: a known flat strip, never copied, not filled
            canvas[:, rh:, sx:] = src.mean(axis=(1, 2))[:, None, None]
            hole[rh:, sx:] = False
            avoid[rh:, sx:] = True
    start = prepare = None
    if guess is not None:
        start = np.broadcast_to(src.mean(axis=(1, 2))[:, None, None], canvas.shape).copy()
        start[:, :rh, sx:] = guess
        prepare = _start_matcher(src, rh, levels) if start_detail else None
    filled, _ = _fill_region(
        canvas,
        hole,
        patch,
        iterations,
        gen,
        levels=levels,
        start=start,
        heal=False,
        avoid=avoid,
        prepare=prepare,
        progress=progress,
    )
    return filled[:, :rh, sx:]


def _cut(cost: np.ndarray) -> np.ndarray:
    """The cheapest path down ``cost`` (n, w), one column per row, moving at most one
    column between rows (Efros and Freeman, "Image quilting", SIGGRAPH 2001): per row,
    the column where the path crosses."""
    n, w = cost.shape
    total = cost.astype(np.float64)
    back = np.zeros((n, w), np.int64)
    for i in range(1, n):
        prev = np.pad(total[i - 1], 1, constant_values=np.inf)
        options = np.stack([prev[:-2], prev[1:-1], prev[2:]])
        pick = options.argmin(0)
        back[i] = np.arange(w) + pick - 1
        total[i] += options[pick, np.arange(w)]
    path = np.empty(n, np.int64)
    path[-1] = int(total[-1].argmin())
    for i in range(n - 1, 0, -1):
        path[i - 1] = back[i, path[i]]
    return path


def _tiled(src, shape, guess, levels, patch, iterations, gen, progress, tile, start_detail=True) -> np.ndarray:
    """The ``shape`` (Y, X) canvas made tile by tile, in rows, as in image quilting.
    Each tile is filled as a hole together with a ``band`` of the tiles before it
    (above and left), with a band of their pixels beyond that known: the fill
    continues them. Where the band's old and new pixels meet, the cheapest path
    through their differences decides which to keep, so the join follows the
    texture's own edges, not a straight line. ``2 * patch`` more rows and columns
    beyond the tile are filled and dropped, so that its own edges are no image border."""
    hh, ww = shape
    c = src.shape[0]
    ys, xs = spans(hh, tile), spans(ww, tile)
    levels = _levels(src, (tile, tile), (tile, tile), levels, patch)
    # the band holds a patch of the coarsest level, and is a small part of a tile
    band, extra = min(max(2 * patch, patch * 2 ** (levels - 1)), tile // 4), 2 * patch
    out = np.zeros((c, hh, ww), np.float32)
    done = np.zeros((hh, ww), bool)
    n = len(ys) * len(xs)
    for k, ((y0, y1), (x0, x1)) in enumerate(itertools.product(ys, xs)):
        by, bx = max(0, y0 - band), max(0, x0 - band)  # where the new pixels may start
        a, b = max(0, by - band), min(hh, y1 + extra)
        left, right = max(0, bx - band), min(ww, x1 + extra)
        redo = np.zeros((b - a, right - left), bool)
        redo[by - a :, bx - left : x1 - left] = True
        known = done[a:b, left:right] & ~redo
        tick = None if progress is None else (lambda d, t, k=k: progress(k * t + d, n * t))
        part = guess[:, a:b, left:right] if guess is not None else None
        filled = _synthesize_region(
            src, out[:, a:b, left:right], known, part, levels, patch, iterations, gen, tick, start_detail
        )
        filled = filled[:, by - a : y1 - a, bx - left : x1 - left]
        old = out[:, by:y1, bx:x1]
        cost = ((filled - old) ** 2).sum(0)
        new = np.ones(cost.shape, bool)
        rows, cols = np.arange(cost.shape[0])[:, None], np.arange(cost.shape[1])[None, :]
        if y0:  # the cut through the band above, left to right
            new &= rows >= _cut(cost[: y0 - by].T)
        if x0:  # the cut through the band at the left, top to bottom
            new &= cols >= _cut(cost[:, : x0 - bx])[:, None]
        out[:, by:y1, bx:x1] = np.where(new[None], filled, old)
        done[by:y1, bx:x1] = True
    return out
