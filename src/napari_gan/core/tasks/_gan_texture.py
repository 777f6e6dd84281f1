"""Texture mode's noise fields and example: the margin around a training crop's
field, generation of a large field in overlapping tiles (the same result as one
pass), the example image a texture model keeps, and the refinement that gives the
generator's layout the example's detail."""

from __future__ import annotations

import math

import numpy as np
import torch
from skimage.transform import resize

from ..patchdist import COARSE, PATCH, STEPS, match_patches, polish
from ..patchsynth import synthesize

#: noise cells added on each side of a training crop's noise field (and cropped away from
#: the output), so the discriminator never sees the generator's outermost pixels, whose
#: convolutions reach past the field into zero padding
_MARGIN = 1
#: largest noise field (cells per side) generated in one pass; larger ones go in tiles
_TILE_CELLS = 96
#: largest example (pixels per side) kept in the model for the refinement; a larger
#: texture keeps its central crop (the patch search's memory grows with it)
_EXEMPLAR_MAX = 1024
#: pyramid levels of the refinement's patch synthesis; the generator's layout is taken
#: at 1 / 2**(levels - 1) of the output's size (docs/benchmarks/textures.md)
REFINE_LEVELS = 3
#: ``refine="example"``: the layout is made at 1 / LAYOUT_SCALE of the output's size,
#: from the example at 1 / LAYOUT_SCALE of its own
LAYOUT_SCALE = 4


class _Exemplar(torch.nn.Module):
    """The texture's example image (C, Y, X, scaled to [-1, 1]), kept with the
    networks so that a saved model can still refine what it generates."""

    def __init__(self, shape):
        super().__init__()
        self.register_buffer("image", torch.zeros(tuple(int(v) for v in shape)))


def exemplar_of(xn: np.ndarray) -> np.ndarray:
    """(C, Y, X) -> its central crop of at most ``_EXEMPLAR_MAX`` pixels per side."""
    c, h, w = xn.shape
    a, b = max(0, (h - _EXEMPLAR_MAX) // 2), max(0, (w - _EXEMPLAR_MAX) // 2)
    return np.ascontiguousarray(xn[:, a : a + _EXEMPLAR_MAX, b : b + _EXEMPLAR_MAX], dtype=np.float32)


def generation_margin(config) -> int:
    """Noise cells added on each side of a generated texture's field and cropped away:
    the generator's receptive field (``config.noise_halo``), so that every output
    pixel is made as the middle of a large texture is, with no zero padding in its
    reach. A margin of one cell, as in training, left the outermost pixels brighter
    or darker than the rest and of another colour (``bench/texture_margin.py``)."""
    return int(config.noise_halo)


def field_cells(size: tuple[int, int], config) -> tuple[int, int]:
    """(h, w) noise cells of the field that gives a texture of ``size`` (Y, X)."""
    s, m = config.stride, generation_margin(config)
    return tuple(-(-int(v) // s) + 2 * m for v in size)


def texture_pass(g, noise: torch.Tensor, size: tuple[int, int], config, channels: int, dev) -> np.ndarray:
    """One noise field (1, L, h, w) of :func:`field_cells` -> (1, C, *size) through the
    texture generator ``g`` of ``config`` (a TextureGANConfig), its margin of
    :func:`generation_margin` cells cropped; fields larger than ``_TILE_CELLS`` go in
    overlapping tiles, each widened by the generator's receptive field, so the
    result equals one pass (no seams)."""
    s, halo = config.stride, config.noise_halo + 1
    h, w = noise.shape[-2:]
    out = np.empty((1, channels, h * s, w * s), dtype=np.float32)
    t = _TILE_CELLS
    for y0 in range(0, h, t):
        for x0 in range(0, w, t):
            a, b = max(y0 - halo, 0), min(y0 + t + halo, h)
            c, d = max(x0 - halo, 0), min(x0 + t + halo, w)
            tile = g(noise[..., a:b, c:d].to(dev)).float().cpu().numpy()
            ty, tx = min(t, h - y0), min(t, w - x0)
            oy, ox = (y0 - a) * s, (x0 - c) * s
            out[..., y0 * s : (y0 + ty) * s, x0 * s : (x0 + tx) * s] = tile[..., oy : oy + ty * s, ox : ox + tx * s]
    m = generation_margin(config) * s
    return out[..., m : m + size[0], m : m + size[1]]


#: memory of the refinement's tiles (the largest: the polish's, 1024 px), a bound
_TILES_BYTES = 2.3e9


def refine_bytes(size: tuple[int, int], channels: int) -> float:
    """Peak memory of :func:`refine` for an output of ``size``, bytes: small outputs
    2.7 / 3.4 KB per pixel (512 x 512 gray / RGB, measured 2026-12-05); larger ones
    work in tiles (:data:`napari_gan.core.patchsynth.TILE`,
    :data:`napari_gan.core.patchdist.POLISH_TILE`), about 2.1 GB for the tiles at
    1024 x 1024 gray or RGB and 2048 x 2048 gray (``bench/texture_large.py``), plus
    the whole-size arrays of the layout and the result."""
    pixels = float(size[0]) * float(size[1])
    return min((2200.0 + 500.0 * channels) * pixels, _TILES_BYTES + (16.0 + 48.0 * channels) * pixels)


#: share of the refinement's time spent in patch synthesis (the rest: the polish), for
#: progress: 5 s and 19 s for a 256 px texture, 26 s and 135 s for a 512 px one, on 2
#: CPU cores with the polish's 60 steps (2026-12-07)
_SYNTHESIS_SHARE = 0.2
#: outputs up to this many pixels per side get a layout reorganised by patch-distribution
#: matching (:func:`example_layout`); larger ones keep the generator's, since the
#: matching's time grows with the layout's pixel count (``bench/texture_layout.py``)
LAYOUT_MAX = 1024
#: :func:`example_layout` from the generator's layout: Adam steps per pyramid level of the
#: matching (the authors' 300), and each step compared with a random subset of the
#: example's patches of the layout's count (``match_patches(subsample=True)``). Against
#: all patches (kept for a layout from noise), the same classifier test within the noise
#: on four textures, and a refined 256 px texture from a 256 x 512 example 1.6x faster
#: (outputs with more pixels than the example have no larger set to draw from); 100
#: steps scored alike too but left a barely trained generator's rows bent
#: (``bench/texture_layout_cost.py``, ``tests/test_core_texture.py``, 2026-12-07)
LAYOUT_STEPS = STEPS
LAYOUT_SUBSAMPLE = True
#: share of a refined texture's time spent making its layout, for progress: 19 s of
#: 44 s for a 256 px texture, 66 s of 227 s for a 512 px one (2026-12-07)
_LAYOUT_SHARE = 0.35


def reorganises(size: tuple[int, int]) -> bool:
    """Whether the default refinement of a texture of ``size`` reorganises the
    generator's layout (:func:`example_layout`) or keeps it as it is."""
    return max(size) <= LAYOUT_MAX


def refine(
    example: np.ndarray, layout: np.ndarray | None, seed: int, progress=None, *, size: tuple[int, int] | None = None
) -> np.ndarray:
    """A texture with the ``example``'s structure and detail (C, Y, X).

    1. The layout: the generator's ``layout`` (C, Y, X, in [-1, 1] or about),
       reorganised by patch-distribution matching at 1 / ``LAYOUT_SCALE`` of the size
       where :func:`reorganises` says so (:func:`example_layout`); ``layout`` None:
       made from the example alone, of ``size``.
    2. Patch synthesis from the layout at 1 / 2**(REFINE_LEVELS - 1) of the size.
    3. The example's fine detail and patch statistics
       (:func:`napari_gan.core.patchdist.polish`).

    Deterministic for a seed. ``progress``: called with the fraction done (0-1) as it
    goes."""
    size = tuple(layout.shape[1:]) if layout is not None else tuple(size)
    remake = layout is None or reorganises(size)
    first = _LAYOUT_SHARE if remake else 0.0
    share = first + (1 - first) * _SYNTHESIS_SHARE
    layout_progress = synth_progress = polish_progress = None
    if progress is not None:

        def layout_progress(fraction):
            progress(first * fraction)

        def synth_progress(done, total):
            progress(first + (share - first) * done / total)

        def polish_progress(fraction):
            progress(share + (1 - share) * fraction)

    if remake:
        layout = example_layout(example, size, seed, start=layout, progress=layout_progress)
    start = np.clip(layout, -1, 1)
    out = synthesize(example, size, start=start, levels=REFINE_LEVELS, seed=seed, progress=synth_progress)
    return polish(example, out, seed=seed, progress=polish_progress)


def example_layout(
    example: np.ndarray, size: tuple[int, int], seed: int, *, start: np.ndarray | None = None, progress=None
) -> np.ndarray:
    """A layout of ``size`` (C, Y, X): patch-distribution matching (GPDM,
    :func:`napari_gan.core.patchdist.match_patches`) of the example at 1 /
    ``LAYOUT_SCALE`` of its size into 1 / ``LAYOUT_SCALE`` of ``size``, resized up.
    From noise where ``start`` is None, with the authors' settings; else, with
    ``LAYOUT_STEPS`` steps per level and ``LAYOUT_SUBSAMPLE``, from ``start`` (the
    generator's layout, C x any size), taken at the pyramid level where the small
    example is ``COARSE`` pixels high, so the matching arranges the example's
    structure from there on: the generator learns no structure wider than its
    discriminator judges (40 px patches) and breaks the courses of a brick wall,
    where the matching, which sees the whole image at its coarsest level, keeps them
    straight (docs/benchmarks/textures_design.md, "The generator's layout, reorganised").
    Deterministic for a seed."""
    c, sy, sx = example.shape
    small = resize(example, (c, max(PATCH, sy // LAYOUT_SCALE), max(PATCH, sx // LAYOUT_SCALE)), anti_aliasing=True)
    small = small.astype(np.float32)
    shape = (max(PATCH, size[0] // LAYOUT_SCALE), max(PATCH, size[1] // LAYOUT_SCALE))
    first = None
    if start is not None:
        start = resize(np.clip(start, -1, 1), (c, *shape), anti_aliasing=True).astype(np.float32)
        first = min(shape[0], max(COARSE, math.ceil(shape[0] * COARSE / min(small.shape[1:]))))
    cheaper = {} if start is None else {"steps": LAYOUT_STEPS, "subsample": LAYOUT_SUBSAMPLE}
    layout = match_patches(small, shape, start=start, start_height=first, seed=seed, progress=progress, **cheaper)
    return resize(layout, (c, *size), order=1).astype(np.float32)
