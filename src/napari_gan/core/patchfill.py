"""Textured hole filling from the image's own patches (exemplar-based completion).

A smooth fill (:func:`napari_gan.core.tasks.translate.tension_fill`) is the best
estimate in the least-squares sense, and it looks like a smear wherever the image
is textured. :func:`patch_fill` instead makes every patch that touches the hole
look like some patch of the known image, coarse to fine, as in Wexler, Shechtman
and Irani, "Space-time completion of video" (PAMI 2007), with PatchMatch's
randomised nearest-neighbour search (Barnes et al., SIGGRAPH 2009):

1. an image pyramid; at the coarsest level the hole is a few patches across. It is
   started twice, grown inward from its border (ring by ring, from the known patches
   that best match what is already there) and as a mosaic of random known patches,
   and of the two fills of that level the one made more closely of the image's own
   patches is kept (a mean or a smooth start would be flat, and flat patches
   attract flat matches);
2. per level, a few rounds of (a) finding for every patch overlapping the hole its
   nearest fully known patch (exhaustively once at the coarsest level, then with
   PatchMatch's propagation and random search, favouring matches that continue a
   neighbour's, so that the field stays coherent) and (b) setting each hole pixel
   to the value that the best-matching of those patches puts there;
3. the nearest-neighbour field is carried to the next finer level, where it copies
   fine detail straight away;
4. the hole is re-solved from the copies' differences between neighbouring pixels
   (:mod:`napari_gan.core.poisson`): pieces copied from places of different
   brightness then meet without a step, and the mismatch at the border is spread
   smoothly over the hole (a healing brush), so no seam and no straight-edged blocks
   show on smooth images; a step that the texture's own contrast hides is kept.

Nothing is trained and nothing is downloaded: the only data is the image itself.
Known pixels are never changed.
"""

from __future__ import annotations

import math

import numpy as np
import torch
import torch.nn.functional as F
from scipy import ndimage as ndi

from ._patchmatch import _hole_pyramid, _Level, _pyramid
from .errors import InputError
from .poisson import blend_copies

#: patch edge in pixels at every level (patch synthesis of textures)
PATCH = 7
#: patch edge of :func:`patch_fill` by default. Larger patches carry more of the
#: structure around the hole across its border: seam score (``ng.metrics.seam_score``;
#: real content about 1) of brick, gravel and grass fills, 384 px crops that
#: bench/fill.py does not score (top left), 64 and 128 px holes, 2 layouts x 3 seeds:
#: mean 1.33 with 7 px patches, 1.22 with 9 and 1.14 with 11, while the classifier test
#: of the hole content stayed level (0.64 / 0.65 for 7 / 11 px; 32 and 64 px holes, 2
#: seeds). It costs 2-5x the time: 24 holes of 32 px in a 384 px crop 6.9 s against
#: 1.4 s; a 150 px hole in the RGB astronaut 5.2 s against 2.4 s (2 CPU cores; measured
#: before :func:`_coarsest` filled the coarsest level twice, which adds up to 2.5x)
FILL_PATCH = 11
#: the default patch edges tried in turn where the known image around a hole is too
#: small or thin for the larger ones
_DEFAULT_PATCHES = (FILL_PATCH, PATCH, 5, 3)
#: fewest patches of known pixels the coarsest pyramid level must hold; with fewer,
#: the fill starts a level finer
_MIN_SOURCES = 16


def _levels_for(hole: np.ndarray, shape: tuple[int, int], p: int) -> int:
    """Enough levels that the hole is about two patches thick at the coarsest, while
    the image there still holds several patches of known pixels."""
    thickness = float(ndi.distance_transform_edt(hole).max()) * 2
    levels = 1 + max(0, math.ceil(math.log2(max(thickness, 1.0) / (2 * p))))
    while levels > 1 and min(shape) / 2 ** (levels - 1) < 4 * p:
        levels -= 1
    return levels


def _with_sources(hole: np.ndarray, levels: int, p: int) -> int:
    """``levels``, or fewer where the coarsest level would hold fewer than
    :data:`_MIN_SOURCES` patches of known pixels (a hole that leaves only thin strips
    of the image: halving them leaves no whole patch)."""
    holes = _hole_pyramid(torch.from_numpy(np.ascontiguousarray(hole)), levels)
    for n in range(levels, 1, -1):
        coarse = holes[n - 1]
        q = min(p, *coarse.shape)
        if int((F.max_pool2d(coarse[None, None].float(), q, stride=1)[0, 0] == 0).sum()) >= _MIN_SOURCES:
            return n
    return 1


def _coarsest(img, hole, p, avoid, iterations, gen, new_start: bool) -> _Level:
    """The coarsest level, filled: an exhaustive search, then PatchMatch rounds. With
    ``new_start``, the hole starts both grown inward from its border and as a mosaic
    of random patches, and the fill that matches the image's patches better (lower
    :meth:`_Level.energy`) is kept: grown fills continue structure (joints, cell
    borders, empty background from the border on, where a random start brings in
    whatever the image holds elsewhere), while on stochastic textures (grass, gravel)
    neither start is clearly the better."""
    fills = []
    for begin in (_Level.onion_peel, _Level.scatter_random) if new_start else (None,):
        level = _Level(img, hole, p, avoid)
        if begin is not None:
            begin(level, gen)
        level.exact_search(gen)
        level.vote()
        for _ in range(iterations - 1):
            level.patchmatch(gen)
            level.vote()
        fills.append(level)
    return min(fills, key=_Level.energy)


def _fill_region(
    x: np.ndarray,
    hole: np.ndarray,
    p: int,
    iterations: int,
    gen: torch.Generator,
    *,
    levels: int | None = None,
    start: np.ndarray | None = None,
    heal: bool = True,
    blend: bool = True,
    avoid: np.ndarray | None = None,
    prepare=None,
    progress=None,
) -> tuple[np.ndarray, np.ndarray]:
    """Fill ``hole`` in ``x`` (C, Y, X). ``start``: an initial guess of the hole's
    values (same shape as ``x``), used at the coarsest of ``levels`` levels instead
    of the two starts of :func:`_coarsest`. ``heal``: remove the mismatch at the
    border, by :func:`~napari_gan.core.poisson.blend_copies` with ``blend`` (and where
    the hole is too large for it), else by :func:`_heal`. ``avoid``: (Y, X) bool,
    pixels not to copy from. ``prepare``: called with the coarsest level's image
    (C, y, x, the start in its hole) and hole (y, x) before the search; returns the
    image to fill from. ``progress``: called with (levels done, levels) after every
    level."""
    levels = levels or _with_sources(hole, _levels_for(hole, hole.shape, p), p)
    img = torch.from_numpy(np.ascontiguousarray(x, dtype=np.float32))
    imgs, holes = _pyramid(img, torch.from_numpy(hole), levels)
    avoids = [None] * levels
    if avoid is not None:  # per level, the share of each pixel's fine pixels to avoid
        shares, _ = _pyramid(torch.from_numpy(avoid).float()[None], holes[0], levels)
        avoids = [a[0] for a in shares]
    if start is not None:
        first = torch.from_numpy(np.ascontiguousarray(start, dtype=np.float32))
        for _ in range(levels - 1):
            first = F.avg_pool2d(first[None], 2, ceil_mode=True)[0]
        imgs[-1] = torch.where(holes[-1][None], first, imgs[-1])
    if prepare is not None:
        imgs[-1] = prepare(imgs[-1], holes[-1])
    level = _coarsest(imgs[-1], holes[-1], min(p, *imgs[-1].shape[1:]), avoids[-1], iterations, gen, start is None)
    if progress is not None:
        progress(1, levels)
    for lvl in range(levels - 2, -1, -1):
        prev = level
        level = _Level(imgs[lvl], holes[lvl], min(p, *imgs[lvl].shape[1:]), avoids[lvl])
        # the coarser field, doubled, copies this level's detail at once
        index = torch.full((prev.ny, prev.nx), -1, dtype=torch.long)
        index[prev.targets[:, 0], prev.targets[:, 1]] = torch.arange(len(prev.targets))
        up = (level.targets // 2).clamp(max=torch.tensor([prev.ny - 1, prev.nx - 1]))
        j = index[up[:, 0], up[:, 1]]
        parent = prev.nnf[j.clamp(min=0)] * 2 + level.targets % 2
        parent[:, 0].clamp_(0, level.ny - 1)
        parent[:, 1].clamp_(0, level.nx - 1)
        bad = (j < 0) | ~level.source_ok[parent[:, 0], parent[:, 1]]
        pick = torch.randint(0, len(level.sources), (int(bad.sum()),), generator=gen)
        parent[bad] = level.sources[pick]
        level.nnf = parent
        level.dist = torch.ones(len(level.targets))
        level.vote()
        for _ in range(iterations):
            level.patchmatch(gen)
            level.vote()
        if progress is not None:
            progress(levels - lvl, levels)
    out = level.img.numpy()
    if heal:
        blended = blend_copies(out, hole, level.owner.numpy()) if blend else None
        out = _heal(out, hole, level.copied().numpy()) if blended is None else blended
    return out, level.error.numpy()


def _heal(img: np.ndarray, hole: np.ndarray, copied: np.ndarray) -> np.ndarray:
    """Remove the fill's brightness mismatch at the hole's border: the difference
    between the known pixels just outside the hole and what the copied patches had
    there, spread smoothly (harmonically) over the hole, as a healing brush does."""
    from .tasks.translate.fills import pyramid_fill

    ring = ndi.binary_dilation(hole, iterations=2) & ~hole & np.isfinite(copied).all(0)
    if not ring.any():
        return img
    diff = np.where(ring[None], img - np.nan_to_num(copied), 0.0).astype(np.float32)
    known = torch.from_numpy(ring[None, None].astype(np.float32))
    offset = pyramid_fill(torch.from_numpy(diff)[None], known)[0].numpy()
    low = img[:, ~hole].min(axis=1)[:, None, None]
    high = img[:, ~hole].max(axis=1)[:, None, None]
    return np.where(hole[None], np.clip(img + offset, low, high), img)


def patch_fill(
    image: np.ndarray,
    hole: np.ndarray,
    *,
    patch: int | None = None,
    iterations: int = 4,
    context: int | None = None,
    seed: int = 0,
    return_error: bool = False,
    avoid: np.ndarray | None = None,
    blend: bool = True,
    progress=None,
):
    """Fill ``hole`` in ``image`` with texture continued from the image's own patches.

    Parameters
    ----------
    image : ndarray, (C, Y, X) float
        The image, every channel on a comparable scale (e.g. normalised to [0, 1]).
    hole : ndarray, (Y, X) bool
        True where to fill.
    patch : int, optional
        Patch edge in pixels (odd, >= 3): about the size of the texture's smallest
        element. Default :data:`FILL_PATCH` (11), or 7, 5 or 3 where the known
        image around a hole is too small or thin to hold patches that large.
    iterations : int
        Search-and-vote rounds per pyramid level.
    context : int, optional
        Pixels around each group of holes that patches are taken from (default: the
        group's extent, at least 48). Patches further away are not used.
    seed : int
        Seed of the random search: the same seed gives the same fill.
    avoid : ndarray, (Y, X) bool, optional
        Known pixels not to copy from: a patch with more than ``AVOID_SHARE`` of
        its pixels here is no source (while enough other patches are left). When
        objects are removed, their neighbours: the fill is then made of the
        background, not of pieces of other objects.
    blend : bool
        Re-solve the hole from the differences between neighbouring copied pixels
        (:func:`napari_gan.core.poisson.blend_copies`), so pieces copied from places
        of different brightness meet without a step. False: the copies as they are,
        only the mismatch at the hole's border spread over it (the fill before
        2026-12-05).
    return_error : bool
        Also return, per pixel, the RMS difference (image units) between the patches
        through it and the known patches they were copied from: high where the fill
        resembles nothing in the image well. 0 outside the hole.
    progress : callable, optional
        ``progress(done, total)`` after each group of holes is filled (holes whose
        surroundings overlap are filled together).

    Returns
    -------
    filled : ndarray, (C, Y, X) float32
        ``image`` with the hole filled; known pixels are returned unchanged.
    error : ndarray, (Y, X) float32, only with ``return_error``

    Raises
    ------
    InputError
        If the shapes disagree, the hole is empty or covers the image, or no patch
        of known pixels is left near the hole.
    """
    x = np.asarray(image, dtype=np.float32)
    hole = np.asarray(hole)
    if x.ndim != 3:
        raise InputError(f"image must be (C, Y, X), got shape {x.shape}")
    if hole.shape != x.shape[1:]:
        raise InputError(f"hole has shape {hole.shape} but the image is {x.shape[1:]} (Y, X)")
    if hole.dtype.kind not in "bui":
        raise InputError(f"hole must be boolean or integer, got {hole.dtype}")
    hole = hole.astype(bool)
    if avoid is not None:
        avoid = np.asarray(avoid)
        if avoid.shape != hole.shape or avoid.dtype.kind not in "bui":
            raise InputError(
                f"avoid must be a boolean (Y, X) mask of shape {hole.shape}, got {avoid.dtype} {avoid.shape}"
            )
        avoid = avoid.astype(bool)
    if not hole.any():
        raise InputError("the hole is empty: nothing to fill")
    if hole.all():
        raise InputError("the hole covers the whole image: a fill needs known pixels")
    if patch is not None and (int(patch) != patch or patch < 3 or patch % 2 == 0):
        raise InputError(f"patch must be an odd integer >= 3, got {patch!r}")
    if int(iterations) != iterations or iterations < 1:
        raise InputError(f"iterations must be a positive integer, got {iterations!r}")
    if not np.isfinite(x).all():
        raise InputError("image has NaN or infinite values")
    out = x.copy()
    error = np.zeros(hole.shape, dtype=np.float32)
    gen = torch.Generator().manual_seed(int(seed))
    parts = ndi.find_objects(ndi.label(hole)[0])
    extent = max(max(b[0].stop - b[0].start, b[1].stop - b[1].start) for b in parts)
    m = int(context) if context is not None else max(48, extent)
    # holes whose context overlaps are filled together: one pyramid, one search
    near = ndi.distance_transform_cdt(~hole, metric="chessboard") <= m
    groups, n_groups = ndi.label(near)
    for i, box in enumerate(ndi.find_objects(groups), start=1):
        y0, x0, y1, x1 = box[0].start, box[1].start, box[0].stop, box[1].stop
        region = hole[y0:y1, x0:x1]  # other groups' holes in the box are no source either
        sub = region & (groups[y0:y1, x0:x1] == i)
        keep_off = None if avoid is None else avoid[y0:y1, x0:x1]
        sizes = [int(patch)] if patch is not None else [q for q in _DEFAULT_PATCHES if q <= min(sub.shape)]
        if not sizes or sizes[0] > min(sub.shape):
            raise InputError(f"the image is smaller than one {sizes[0] if sizes else 3} px patch around the hole")
        part = out[:, y0:y1, x0:x1]
        for p in sizes[:-1]:  # the default's larger patches, while the known image holds enough of them
            try:
                filled, err = _fill_region(part, region, p, int(iterations), gen, avoid=keep_off, blend=blend)
                break
            except InputError:
                continue
        else:
            filled, err = _fill_region(part, region, sizes[-1], int(iterations), gen, avoid=keep_off, blend=blend)
        out[:, y0:y1, x0:x1] = np.where(sub[None], filled, out[:, y0:y1, x0:x1])
        error[y0:y1, x0:x1] = np.where(sub, err, error[y0:y1, x0:x1])
        if progress is not None:
            progress(i, n_groups)
    return (out, error) if return_error else out
