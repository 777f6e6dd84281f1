"""Direct patch-distribution matching (GPDM, Elnekave and Weiss, "Generating natural
images with direct patch distributions matching", ECCV 2022).

No network is trained: the output's pixels are optimised, coarse to fine, so that at
every pyramid level the distribution of its 7 x 7 patches matches the source's, in
the sliced Wasserstein sense (64 random directions drawn anew each Adam step; the
sorted projections of both patch sets compared with an L1 loss). The settings are the
authors' defaults (their ``main.py``): pyramid factor 0.85 down to a coarsest height
of 21 pixels, 300 Adam steps per level at learning rate 0.01, pixels in [-1, 1], a
start of zeros plus noise of standard deviation 1.5 drawn at the output's full size
and resized (antialiased) to the coarsest level, so the noise there is faint.

It is used two ways: as the training-free baseline that texture generators are
measured against (``bench/textures.py``), and through :func:`polish`, the last step of
a texture GAN's refinement, which gives an image the source's distribution of fine
detail and, in a few steps at full resolution, its 7 x 7 patch statistics without
moving its layout.
"""

from __future__ import annotations

import itertools
import math
import time
from collections.abc import Callable

import numpy as np
import torch
import torch.nn.functional as F
from scipy import ndimage as ndi
from skimage.exposure import match_histograms
from skimage.morphology import area_opening, disk

from .errors import InputError
from .sorting import sort_order, sort_values
from .tiling import spans

PATCH = 7
PROJECTIONS = 64
FACTOR = 0.85
COARSE = 21
STEPS = 300
LR = 0.01
NOISE = 1.5
#: Adam steps of :func:`polish` (at the finest level only). With 10 (until
#: 2026-12-07), a star field refined from a layout made at a quarter of its size kept
#: too few of its faint objects of a few pixels: classifier test 0.72 on the grey
#: Hubble deep field (real vs real 0.50). With 60, and the image's coarse part kept,
#: 0.63; on six other textures the same within a row's noise or lower (a brick wall
#: seen face on 0.72 -> 0.54, gravel 0.67 -> 0.54), with as many or fewer copied
#: patches, for about 17 s more per 256 px texture on 2 CPU cores (``python
#: bench/texture_polish.py --steps 10,60``; docs/benchmarks/textures_design.md,
#: "The polish's length")
POLISH_STEPS = 60
#: :func:`polish`'s matching may add small structure, not lift whole areas: where it
#: raises a connected area of at least ``LIFT_AREA`` pixels by more than
#: ``LIFT_STEP`` (on the source's [-1, 1] scale), its change there, grown by
#: ``LIFT_GROW`` pixels, is undone (:func:`undo_area_lifts`). Without this, 60 steps
#: raise light, pitted plateaus on a few of `brick`'s dark faces: the example has
#: some lighter faces and the layout fewer, and matching the example's whole patch
#: distribution makes them up (docs/benchmarks/textures_design.md, "The plateaus on
#: brick faces, undone"). A step of 0.1 and 30 pixels failed the star-field test
#: (``test_polish_brings_back_small_sparse_objects``); undoing lowered areas as well
#: raised the Hubble field's classifier test by 0.06
LIFT_STEP, LIFT_AREA, LIFT_GROW = 0.15, 60, 3
#: :func:`polish` works on images larger than this (pixels per side) in overlapping
#: tiles of this size, so its memory is that of one tile
POLISH_TILE = 1024
#: :func:`polish` matches the histogram of the detail finer than a Gaussian of this
#: standard deviation (pixels) and leaves coarser structure to the image: the
#: refinement's layout comes from 4x coarser pixels (``_gan_texture.REFINE_LEVELS``);
#: 4 and 8 scored alike (``bench/texture_polish.py --sigmas 4,8``)
DETAIL_SIGMA = 8.0
#: :func:`match_detail` stretches the detail's values by at most this factor times the
#: ratio of the source's and the image's interquartile ranges: where the image has
#: fewer pixels of some value than the source (fewer joints of a brick wall than the
#: example, so fewer pixels between a brick's face and its mortar), exact histogram
#: matching stretches that narrow range of the face's faint grain into light flecks
#: (docs/benchmarks/textures_design.md, "The polish's stretch, limited"); None: exact matching
DETAIL_GAIN: float | None = 1.5


def patch_swd(
    x: torch.Tensor,
    y: torch.Tensor,
    directions: torch.Tensor,
    gen: torch.Generator | None = None,
    *,
    subsample: bool = False,
) -> torch.Tensor:
    """L1 distance of the sorted projections of all patches of ``x`` and ``y`` (1, C, *, *)
    onto ``directions`` (P, C, p, p); the smaller set is repeated (and topped up with
    a random subset, drawn with ``gen``) to the larger one's length. ``subsample``:
    where ``y`` has more patches, compare with a random subset of them of ``x``'s
    size instead (an unbiased estimate at a fraction of the cost: sorting dominates)."""
    px = F.conv2d(x, directions).flatten(2)[0]  # (P, Nx)
    py = F.conv2d(y, directions).flatten(2)[0]
    nx, ny = px.shape[1], py.shape[1]
    if subsample and ny > nx:
        py = py[:, torch.randperm(ny, generator=gen)[:nx]]
    elif nx != ny:
        small, big = (px, py) if nx < ny else (py, px)
        reps = big.shape[1] // small.shape[1]
        extra = big.shape[1] - reps * small.shape[1]
        idx = torch.randperm(small.shape[1], generator=gen)[:extra]
        if not small.requires_grad:
            # the same sorted values as sorting the repeated set, from a sort of the
            # small set alone (the polish of a large image: sorting dominates)
            counts = torch.full((small.shape[1],), reps, dtype=torch.long)
            counts[idx] += 1
            order = sort_order(small, 1)
            values = torch.gather(small, 1, order)
            ordered = torch.repeat_interleave(values.flatten(), counts[order].flatten()).reshape(len(small), -1)
            return (sort_values(big, 1) - ordered).abs().mean()
        small = torch.cat([small.repeat(1, reps), small[:, idx]], 1)
        px, py = (small, big) if nx < ny else (big, small)
    return (sort_values(px, 1) - sort_values(py, 1)).abs().mean()


def _directions(c: int, p: int, n: int, gen: torch.Generator) -> torch.Tensor:
    d = torch.randn(n, c * p * p, generator=gen)
    return (d / d.norm(dim=1, keepdim=True)).reshape(n, c, p, p)


def _resize(x: torch.Tensor, shape: tuple[int, int]) -> torch.Tensor:
    if tuple(x.shape[-2:]) == tuple(shape):
        return x
    return F.interpolate(x, size=shape, mode="bilinear", align_corners=False, antialias=True)


def pyramid_heights(fine: int, coarse: int = COARSE, factor: float = FACTOR) -> list[int]:
    """Heights of the levels, coarse to fine (GPDM's ``get_pyramid_scales``)."""
    n = max(1, int(math.ceil(math.log(coarse / fine) / math.log(factor))) + 1)
    heights = sorted({max(1, int(round(fine * factor**k))) for k in range(n)})
    return [h for h in heights if h >= min(coarse, fine)]


def match_patches(
    source: np.ndarray,
    size: tuple[int, int],
    *,
    seconds: float | None = None,
    steps: int = STEPS,
    start: np.ndarray | None = None,
    start_height: int | None = None,
    seed: int = 0,
    progress: Callable[[float], object] | None = None,
    subsample: bool = False,
    frozen: np.ndarray | None = None,
) -> np.ndarray:
    """Synthesise a ``size`` image whose multi-scale patch distribution is the source's.

    Parameters
    ----------
    source : ndarray, (C, Y, X) float, scaled to about [-1, 1]
    size : (int, int)
        Output (Y, X); the pyramid's finest output level.
    seconds : float, optional
        CPU-time budget: the steps per level are lowered (equally at every level) so
        the whole run takes about this long; ``steps`` is then the most per level.
    steps : int
        Adam steps per level.
    start : ndarray, (C, y, x), optional
        An initial image (e.g. a generator's output); the pyramid then starts at
        ``start_height`` (default: the level nearest a quarter of the output height)
        from ``start`` resized there, instead of from noise at the coarsest level.
    seed : int
    progress : callable, optional
        Called with the fraction done (0-1) after every step.
    subsample : bool
        Compare with a random subset of the source's patches of the output's size
        at each step (see :func:`patch_swd`); False, the authors' way, by default.
    frozen : ndarray, (Y, X) bool, optional
        Pixels that keep ``start``'s values (their patches still count), for a start
        at the output's own height (one level): the tiles of :func:`polish`.

    Returns
    -------
    ndarray, (C, Y, X) float32 in [-1, 1]
    """
    src = torch.from_numpy(np.ascontiguousarray(source, dtype=np.float32))[None]
    if src.ndim != 4:
        raise InputError(f"source must be (C, Y, X), got {tuple(source.shape)}")
    c, sh, sw = src.shape[1:]
    h, w = int(size[0]), int(size[1])
    if min(sh, sw, h, w) < PATCH:
        raise InputError(f"source and output must be at least {PATCH} pixels per side")
    gen = torch.Generator().manual_seed(int(seed))
    heights = pyramid_heights(h)
    if start is not None:
        first = start_height or min(heights, key=lambda v: abs(v - h / 4))
        heights = [v for v in heights if v >= first]
    levels = [(v, max(PATCH, round(w * v / h))) for v in heights]
    # the source at each level keeps its own aspect ratio, scaled like the output
    refs = [_resize(src, (max(PATCH, round(sh * v / h)), max(PATCH, round(sw * v / h)))) for v, _ in levels]
    if seconds is not None:
        steps = _steps_within(seconds, steps, levels, refs, c, subsample, gen)
    if start is not None:
        x = _resize(torch.from_numpy(np.ascontiguousarray(start, dtype=np.float32))[None], levels[0])
    else:  # the authors' start: zeros plus noise at full resolution, resized to the coarsest level
        x = _resize(torch.randn(1, c, h, w, generator=gen) * NOISE, levels[0])
    free = None
    if frozen is not None:
        if len(levels) != 1 or tuple(frozen.shape) != (h, w):
            raise InputError(f"frozen must be ({h}, {w}) and the start at the output's height")
        free = torch.from_numpy(~np.asarray(frozen, bool)).float()[None, None]
    for k, (shape, ref) in enumerate(zip(levels, refs)):
        x = _resize(x, shape).detach().requires_grad_(True)
        opt = torch.optim.Adam([x], lr=LR)
        for t in range(steps):
            _step(x, opt, ref, gen, subsample, free)
            if progress is not None:
                progress((k + (t + 1) / steps) / len(levels))
        x = x.detach().clamp(-1, 1)
    return x[0].numpy()


def _step(x: torch.Tensor, opt, ref: torch.Tensor, gen, subsample: bool, free: torch.Tensor | None = None) -> None:
    """One Adam step of ``x`` towards ``ref``'s patch distribution, along fresh random
    directions; ``free``: 1 where pixels may move, 0 where they keep their values."""
    opt.zero_grad()
    with torch.enable_grad():  # also when called under no_grad (e.g. from a model's generate)
        patch_swd(x, ref, _directions(x.shape[1], PATCH, PROJECTIONS, gen), gen, subsample=subsample).backward()
    if free is not None:  # Adam moves a pixel with no gradient not at all
        x.grad.mul_(free)
    opt.step()


def _steps_within(seconds: float, most: int, levels, refs, c: int, subsample: bool, gen) -> int:
    """Adam steps per level that fit ``seconds`` (at least 1, at most ``most``): one
    step of every level is timed, after one untimed step there, and the probe's own
    time is taken from the budget. Timing the finest level alone and scaling by pixel
    counts missed the small levels' fixed cost per step (the projections drawn, the
    optimiser), and runs overran their budget by about 35 % (docs/benchmarks/textures.md,
    "GPDM at equal time")."""
    t0 = time.perf_counter()
    per_step = 0.0
    for shape, ref in zip(levels, refs):
        x = torch.zeros(1, c, *shape, requires_grad=True)
        opt = torch.optim.Adam([x], lr=LR)
        _step(x, opt, ref, gen, subsample)  # warm-up, untimed
        t = time.perf_counter()
        _step(x, opt, ref, gen, subsample)
        per_step += time.perf_counter() - t
    left = seconds - (time.perf_counter() - t0)
    return max(1, min(most, int(left / max(per_step, 1e-9))))


def polish(
    source: np.ndarray,
    image: np.ndarray,
    *,
    steps: int = POLISH_STEPS,
    seed: int = 0,
    progress: Callable[[float], object] | None = None,
    tile: int | None = None,
) -> np.ndarray:
    """``image`` with ``source``'s fine detail and patch statistics, its layout kept.

    Patch synthesis (:mod:`napari_gan.core.patchsynth`) matches each output patch to
    its nearest source patch, and the nearest neighbours of an upsampled, smoother
    estimate are the source's flatter patches: its textures come out with less
    contrast than the source, which a fresh classifier picks up at once
    (docs/benchmarks/textures.md). This splits every channel into a coarse part (a
    Gaussian of :data:`DETAIL_SIGMA` pixels) and the detail above it, maps the
    detail's histogram onto that of the source's detail, stretching no range of its
    values by more than :data:`DETAIL_GAIN` times the overall stretch
    (:func:`match_detail`, :func:`limited_match`), then runs ``steps``
    steps of patch-distribution matching at full resolution only, with the image as
    the start (source patches subsampled to the image's count each step), and keeps
    of that only the detail, on the image's own coarse part: the matching gives the
    image the example's density of small structure (the faint objects of a few
    pixels that a layout made at a quarter of the size has too few of), while the
    layout's shares of dark and bright areas stay. Where the matching raises a whole
    area (:data:`LIFT_AREA` pixels or more, by over :data:`LIFT_STEP`), that change
    is undone (:func:`undo_area_lifts`). An image
    larger than ``tile`` per side is matched tile by tile, each tile against the
    finished pixels of the tiles before it (:func:`_polish_tiles`), so its memory is
    that of one tile.

    Parameters
    ----------
    source : ndarray, (C, Y, X) float, scaled to about [-1, 1]
    image : ndarray, (C, y, x) float, on the same scale
    steps : int
        Adam steps (0: the detail's histogram only).
    seed : int
    progress : callable, optional
        Called with the fraction done (0-1) after every step.
    tile : int, optional
        Edge of the tiles (pixels) for images larger than it (default :data:`POLISH_TILE`).

    Returns
    -------
    ndarray, (C, y, x) float32, within the source's range per channel
    """
    src = np.asarray(source, dtype=np.float32)
    img = np.asarray(image, dtype=np.float32)
    if src.ndim != 3 or img.ndim != 3 or src.shape[0] != img.shape[0]:
        raise InputError(f"source and image must be (C, Y, X) with the same C, got {src.shape} and {img.shape}")
    if not isinstance(steps, int) or isinstance(steps, bool) or steps < 0:
        raise InputError(f"steps must be an integer >= 0, got {steps!r}")
    tile = POLISH_TILE if tile is None else tile
    if not isinstance(tile, int) or isinstance(tile, bool) or tile < 8 * PATCH:
        raise InputError(f"tile must be an integer of at least {8 * PATCH} pixels, got {tile!r}")
    out = match_detail(img, src)
    if steps and min(img.shape[1:]) >= PATCH and min(src.shape[1:]) >= PATCH:
        if max(img.shape[1:]) <= tile:
            out = _match_tile(src, out, steps, seed, progress)
        else:
            out = _polish_tiles(src, out, steps, seed, progress, tile)
        out = _keep_coarse(out, img)
    low, high = src.min(axis=(1, 2))[:, None, None], src.max(axis=(1, 2))[:, None, None]
    return np.clip(out, low, high).astype(np.float32)


def _smooth(plane: np.ndarray, sigma: float) -> np.ndarray:
    """One channel's coarse part: a Gaussian of ``sigma`` pixels, float32."""
    return ndi.gaussian_filter(plane.astype(np.float32), sigma, mode="reflect")


def _keep_coarse(out: np.ndarray, image: np.ndarray, sigma: float = DETAIL_SIGMA) -> np.ndarray:
    """``out``'s detail above a Gaussian of ``sigma`` pixels on ``image``'s coarse part
    (both (C, y, x)), in place in ``out``, a channel at a time: the polish's matching
    may add the example's fine structure, not change the layout's shares of dark and
    bright areas."""
    for c in range(out.shape[0]):
        out[c] += _smooth(image[c], sigma) - _smooth(out[c], sigma)
    return out


def match_detail(
    image: np.ndarray, source: np.ndarray, sigma: float = DETAIL_SIGMA, gain: float | None = DETAIL_GAIN
) -> np.ndarray:
    """``image`` (C, y, x) with the histogram of its detail per channel (the image less
    a Gaussian of ``sigma`` pixels) mapped onto that of ``source``'s (C, Y, X) detail;
    the coarse part is kept. Matching the whole histogram instead would also force the
    source's shares of dark and bright areas onto an image whose layout holds other
    shares, stretching a smooth background into dark or bright blotches where it has
    less of the source's dark or bright structure (docs/benchmarks/textures_design.md, "The polish
    matches detail, not the whole histogram"). ``gain``: the most the mapping may
    stretch any range of values, as a multiple of the overall stretch (the ratio of
    the interquartile ranges; :func:`limited_match`); None: exact histogram matching.
    One channel at a time: besides the result, its memory is a few copies of one
    channel."""
    out = np.empty(image.shape, np.float32)
    for c in range(image.shape[0]):
        coarse = _smooth(image[c], sigma)
        source_detail = source[c] - _smooth(source[c], sigma)
        if gain is None:
            out[c] = coarse + match_histograms(image[c] - coarse, source_detail)
        else:
            out[c] = coarse + limited_match(image[c] - coarse, source_detail, gain)
    return out


def limited_match(values: np.ndarray, reference: np.ndarray, gain: float, knots: int = 1024) -> np.ndarray:
    """``values`` mapped monotonically onto ``reference``'s distribution, with the
    mapping's slope at most ``gain`` times the ratio of their interquartile ranges.

    The map is piecewise linear between ``knots`` quantiles of both and keeps the
    median's. Where exact histogram matching would stretch a range of ``values`` by
    more than the cap (``values`` has a crowd of pixels where ``reference`` has a
    spread: faint grain that would become flecks), that range is stretched by the cap
    only, and the rise it is denied goes to the ranges stretched less than the cap,
    in proportion to their room below it: on either side of the median, mostly the
    gaps between the image's modes (a face and its mortar). So the darkest and
    brightest values still land where exact matching puts them, unless the whole
    side lacks the room. ``gain`` >= 1."""
    if not gain >= 1:
        raise InputError(f"gain must be at least 1, got {gain!r}")
    q = np.linspace(0.0, 1.0, knots)
    xv = np.quantile(values, q)
    rv = np.quantile(reference, q)
    lo, hi, mid = knots // 4, 3 * knots // 4, knots // 2
    cap = gain * (rv[hi] - rv[lo]) / max(float(xv[hi] - xv[lo]), 1e-12)
    dx, exact = np.diff(xv), np.diff(rv)
    rise = np.minimum(exact, cap * dx)
    for side in (slice(0, mid), slice(mid, None)):  # below and above the median
        room = cap * dx[side] - rise[side]
        denied = float(exact[side].sum() - rise[side].sum())
        if denied > 0 and room.sum() > 0:
            rise[side] += room * min(1.0, denied / float(room.sum()))
    mapped = np.concatenate([[0.0], np.cumsum(rise)])
    mapped += rv[mid] - mapped[mid]
    return np.interp(values, xv, mapped).astype(np.float32)


def _match_tile(src: np.ndarray, image: np.ndarray, steps: int, seed: int, progress, frozen=None) -> np.ndarray:
    """``steps`` steps of patch-distribution matching of ``image`` at its own size,
    the ``frozen`` pixels kept, less its lifts of whole areas (:func:`undo_area_lifts`)."""
    start = np.clip(image, -1, 1).astype(np.float32)  # in the matching's range
    matched = match_patches(
        src,
        image.shape[1:],
        start=start.copy(),  # the matching moves its start in place; ``start`` is kept
        start_height=image.shape[1],
        steps=steps,
        seed=seed,
        subsample=True,
        progress=progress,
        frozen=frozen,
    )
    return start + undo_area_lifts(matched - start)


def undo_area_lifts(
    change: np.ndarray, step: float = LIFT_STEP, area: int = LIFT_AREA, grow: int = LIFT_GROW
) -> np.ndarray:
    """``change`` (C, y, x) with every connected area of at least ``area`` pixels that
    it raises by more than ``step`` set to 0, grown by ``grow`` pixels (in place, a
    channel at a time). Smaller pieces (a faint object of a few pixels, the grain) and
    every lowering keep their change. An area opening of the part beyond ``step``
    finds the areas (:func:`skimage.morphology.area_opening`): the pits in a raised
    plateau do not split it, as they would a grey opening by a shape."""
    for c in range(change.shape[0]):
        plane = change[c]
        lifted = area_opening(np.maximum(plane - step, 0), area) > 0
        if lifted.any():
            plane[ndi.binary_dilation(lifted, disk(grow))] = 0
    return change


def _polish_tiles(src: np.ndarray, image: np.ndarray, steps: int, seed: int, progress, tile: int) -> np.ndarray:
    """:func:`_match_tile` on tiles of about ``tile`` pixels, in rows, each with a
    margin of ``2 * PATCH`` pixels around it: the margin's pixels that earlier tiles
    have finished are kept as they are and seen as context, the others are matched
    with the tile and dropped; every pixel is then finished by one tile, next to
    finished pixels it was matched against."""
    c, h, w = image.shape
    margin = 2 * PATCH
    ys, xs = spans(h, tile), spans(w, tile)
    n = len(ys) * len(xs)
    out = image.copy()
    finished = np.zeros((h, w), bool)
    for k, ((y0, y1), (x0, x1)) in enumerate(itertools.product(ys, xs)):
        a, b = max(0, y0 - margin), min(h, y1 + margin)
        left, right = max(0, x0 - margin), min(w, x1 + margin)
        tick = None if progress is None else (lambda f, k=k: progress((k + f) / n))
        frozen = finished[a:b, left:right]
        part = _match_tile(src, out[:, a:b, left:right], steps, seed * 7919 + k, tick, frozen)
        out[:, y0:y1, x0:x1] = part[:, y0 - a : y1 - a, x0 - left : x1 - left]
        finished[y0:y1, x0:x1] = True
    return out
