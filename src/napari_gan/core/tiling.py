"""Tiled prediction with overlap and smooth blending.

Memory stays bounded by the tile batch plus the output: each tile is read from
the source (numpy, or dask/zarr read lazily), normalised, predicted, weighted by
a window that falls smoothly to ~0 at the tile's edges and summed into the
output. Because every pixel's weights come from tiles whose centres are near
it, the CNN's poor border predictions never show and there are no seams.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable

import numpy as np


def _window_1d(n: int, overlap: int) -> np.ndarray:
    """Blending weights along one tile axis for tiles that overlap by ``overlap``.

    The outer quarter of the overlap gets ~0 weight (a CNN's zero-padded border is
    unreliable there); a raised cosine rises over the middle half. Two neighbours'
    windows then sum to exactly 1 across their overlap.
    """
    w = np.ones(n, dtype=np.float32)
    if overlap > 0:
        b = overlap // 4
        ramp = overlap - 2 * b
        r = 0.5 - 0.5 * np.cos(np.pi * (np.arange(ramp, dtype=np.float32) + 0.5) / ramp)
        # never exactly 0: a pixel covered by a single tile border (only inside the
        # mirrored margin, which is cropped away) must not divide by zero
        head = np.concatenate([np.full(b, 1e-6, np.float32), np.maximum(r, 1e-6)])
        w[: b + ramp] = head
        w[n - b - ramp :] = head[::-1]
    return w


def spans(size: int, tile: int) -> list[tuple[int, int]]:
    """``size`` cut into the fewest near-equal (start, stop) spans of at most ``tile``."""
    edges = np.linspace(0, size, -(-size // tile) + 1).round().astype(int)
    return list(zip(edges[:-1].tolist(), edges[1:].tolist()))


def _starts(size: int, tile: int, step: int) -> list[int]:
    if size <= tile:
        return [0]
    starts = list(range(0, size - tile, step))
    starts.append(size - tile)
    return starts


def _balanced_tile(size: int, tile: int, overlap: int, multiple: int) -> int:
    """The tile edge along one axis: at most ``tile``, and no larger than the fewest
    tiles that cover ``size`` need, so that they share the extent evenly.

    With a fixed edge the last tile mostly repeats its neighbour: a 1112 px extent
    in 384 px tiles takes four tiles of 384 (1.4x the extent), where four of 304
    suffice (1.1x).
    """
    tile = min(tile, -(-size // multiple) * multiple)
    o = min(overlap, tile // 2)
    if size <= tile:
        return tile
    n = -(-(size - o) // (tile - o))
    even = -(-(size - o) // n) + o
    return min(tile, -(-even // multiple) * multiple)


def _read_padded(src, n: int, lo: tuple[int, ...], hi: tuple[int, ...]) -> np.ndarray:
    """Read src[n, :, lo:hi] where lo/hi may fall outside the image: mirror-pad."""
    spatial = src.shape[2:]
    clo = [max(a, 0) for a in lo]
    chi = [min(b, s) for b, s in zip(hi, spatial)]
    block = np.asarray(src[(n, slice(None)) + tuple(slice(a, b) for a, b in zip(clo, chi))])
    pads = [(0, 0)] + [(a2 - a, b - b2) for a, a2, b, b2 in zip(lo, clo, hi, chi)]
    if any(p != (0, 0) for p in pads):
        block = np.pad(block, pads, mode="symmetric")
    return block


def predict_tiled(
    src,
    fn: Callable[[np.ndarray], np.ndarray],
    *,
    out_channels: int,
    tile: tuple[int, ...],
    overlap: int,
    multiple: int,
    batch_size: int = 4,
    progress: Callable[[int, int], None] | None = None,
) -> np.ndarray:
    """Apply ``fn`` to (B, C, *tile) batches covering ``src`` (N, C, *spatial).

    Parameters
    ----------
    src : array-like, shape (N, C, *spatial)
        Any sliceable array (numpy, dask, zarr); tiles are read one by one.
    fn : callable
        Maps a float32 batch (B, C, *tile) to (B, out_channels, *tile).
    tile : tuple of int
        Tile size per spatial axis (multiples of ``multiple``); shrunk for small images.
    overlap : int
        Pixels shared by neighbouring tiles, blended with a raised-cosine window.
        The image is also mirror-padded by half of it so its own border is never
        a tile border.

    Returns
    -------
    out : ndarray, shape (N, out_channels, *spatial), float32
    """
    n_samples = src.shape[0]
    spatial = tuple(src.shape[2:])
    margin = overlap // 2
    padded = [s + 2 * margin for s in spatial]
    tiles = [_balanced_tile(p, t, overlap, multiple) for p, t in zip(padded, tile)]
    ov = [min(overlap, t // 2) for t in tiles]
    window = np.ones((1,) * len(tiles), dtype=np.float32)
    for ax, (t, o) in enumerate(zip(tiles, ov)):
        shape = [1] * len(tiles)
        shape[ax] = t
        window = window * _window_1d(t, o).reshape(shape)

    out = np.zeros((n_samples, out_channels) + spatial, dtype=np.float32)
    weight = np.zeros(spatial, dtype=np.float32)
    grid = list(itertools.product(*[_starts(p, t, t - o) for p, t, o in zip(padded, tiles, ov)]))
    jobs = [(n, g) for n in range(n_samples) for g in grid]
    total = len(jobs)
    for b0 in range(0, total, batch_size):
        chunk = jobs[b0 : b0 + batch_size]
        batch = []
        for n, g in chunk:
            lo = tuple(a - margin for a in g)
            hi = tuple(a + t for a, t in zip(lo, tiles))
            batch.append(_read_padded(src, n, lo, hi))
        pred = fn(np.stack(batch).astype(np.float32, copy=False))
        for (n, g), p in zip(chunk, pred):
            # the tile covers padded coords [g, g+t) = image coords [g-margin, g-margin+t)
            lo = [a - margin for a in g]
            src_sl, dst_sl = [], []
            for a, t, s in zip(lo, tiles, spatial):
                d0, d1 = max(a, 0), min(a + t, s)
                dst_sl.append(slice(d0, d1))
                src_sl.append(slice(d0 - a, d1 - a))
            w = window[tuple(src_sl)]
            out[(n, slice(None)) + tuple(dst_sl)] += p[(slice(None),) + tuple(src_sl)] * w
            if n == 0:
                weight[tuple(dst_sl)] += w
        if progress is not None:
            progress(min(b0 + batch_size, total), total)
    out /= weight
    return out


def dihedral_stack(fn: Callable, x, n: int = 8):
    """Test-time augmentation: ``fn`` applied to ``n`` rotated/flipped copies of the
    tensor ``x`` (symmetries of its last two axes), each output mapped back; returns
    the ``n`` outputs stacked on a new first axis.

    ``n=4``: the identity, both flips and the 180 degree rotation (no transposes, so
    non-square pixels stay non-square); ``n=8``: all eight symmetries of the square.
    """
    import torch

    if n not in (4, 8):
        raise ValueError(f"n must be 4 or 8, got {n!r}")
    outs = []
    for k in range(4) if n == 8 else (0, 2):
        for flip in (False, True):
            xi = torch.rot90(x, k, (-2, -1)) if k else x
            y = fn(xi.flip(-1) if flip else xi)
            y = y.flip(-1) if flip else y
            outs.append(torch.rot90(y, -k, (-2, -1)) if k else y)
    return torch.stack(outs)
