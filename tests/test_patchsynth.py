"""Texture synthesis from an example's patches (core.patchsynth) and direct
patch-distribution matching (core.patchdist, the GPDM baseline), on small images."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from scipy import ndimage as ndi

import napari_gan as ng
from napari_gan.core.patchdist import match_patches, patch_swd, polish, pyramid_heights
from napari_gan.core.patchsynth import synthesize


def two_textures(seed=0):
    """(1, 64, 128): bright fine noise on the left half, dark on the right."""
    rng = np.random.default_rng(seed)
    out = rng.normal(0, 0.08, (1, 64, 128)).astype(np.float32)
    out[:, :, :64] += 0.8
    out[:, :, 64:] += 0.2
    return out


def test_synthesis_shape_range_and_seeds():
    src = two_textures()
    a = synthesize(src, (40, 56), seed=1)
    assert a.shape == (1, 40, 56) and a.dtype == np.float32
    assert src.min() <= a.min() and a.max() <= src.max()  # every value comes from the example
    np.testing.assert_array_equal(synthesize(src, (40, 56), seed=1), a)
    assert not np.array_equal(synthesize(src, (40, 56), seed=2), a)


def test_synthesis_follows_the_start_layout():
    """Given a layout (bright top, dark bottom), the output puts the example's bright
    texture at the top and its dark texture at the bottom."""
    src = two_textures()
    start = np.full((1, 16, 16), 0.2, np.float32)
    start[:, :8] = 0.8
    out = synthesize(src, (64, 64), start=start, levels=3, seed=0)[0]
    assert out[:24].mean() > 0.7 and out[40:].mean() < 0.3
    # the detail is the example's: the fine noise keeps its strength (no smoothing)
    assert (
        abs(np.diff(out[:24], axis=1).std() - np.diff(src[0, :, :64], axis=1).std())
        < 0.3 * np.diff(src[0, :, :64], axis=1).std()
    )


def test_large_output_keeps_the_fast_patch_bank(monkeypatch):
    """The patch bank (every source patch as a row, read many times per level) holds
    the example's patches only, not the output's: a large texture from a small example
    keeps the fast path (a 2048 x 2048 texture once fell back to gathering pixels,
    several times slower), with the same result as gathering."""
    from napari_gan.core import _patchmatch

    src = two_textures()
    c, sy, sx = src.shape
    p = 7
    whole_canvas = (sy + 2 * 2 * p + 64) * (sx + 64 + 2 * 2 * p) * c * p * p
    monkeypatch.setattr(_patchmatch, "_BANK_MAX", whole_canvas // 4)  # the example fits, the canvas does not
    built = []
    real_init = _patchmatch._Level.__init__

    def spy(self, *args, **kwargs):
        real_init(self, *args, **kwargs)
        built.append(self.bank is not None)

    monkeypatch.setattr(_patchmatch._Level, "__init__", spy)
    fast = synthesize(src, (64, 64), levels=2, patch=p, seed=3)
    assert built and all(built)
    monkeypatch.setattr(_patchmatch, "_BANK_MAX", 0)  # gather every patch's pixels instead
    np.testing.assert_array_equal(synthesize(src, (64, 64), levels=2, patch=p, seed=3), fast)


def test_synthesis_bad_input():
    src = two_textures()
    with pytest.raises(ng.InputError, match="C, Y, X"):
        synthesize(src[0], (32, 32))
    with pytest.raises(ng.InputError, match="start must be"):
        synthesize(src, (32, 32), start=np.zeros((3, 8, 8), np.float32))
    with pytest.raises(ng.InputError, match="at least"):
        synthesize(src[:, :8, :8], (32, 32))


def test_patch_distribution_matching_lowers_the_patch_distance():
    rng = np.random.default_rng(0)
    yy, xx = np.mgrid[:48, :48]
    src = np.clip(np.sin(xx / 2.0) * 0.8 + rng.normal(0, 0.05, (48, 48)), -1, 1).astype(np.float32)[None]
    out = match_patches(src, (32, 32), steps=40, seed=0)
    assert out.shape == (1, 32, 32) and out.dtype == np.float32
    assert -1 <= out.min() and out.max() <= 1
    np.testing.assert_array_equal(match_patches(src, (32, 32), steps=40, seed=0), out)
    # another seed, another texture (the start's noise and the projections come from the seed)
    assert np.abs(match_patches(src, (32, 32), steps=40, seed=1) - out).mean() > 0.1
    torch.manual_seed(0)
    d = torch.randn(64, 1, 7, 7)
    d = d / d.flatten(1).norm(dim=1)[:, None, None, None]
    noise = torch.from_numpy(rng.normal(0, 0.5, (1, 1, 32, 32)).astype(np.float32)).clamp(-1, 1)
    matched = patch_swd(torch.from_numpy(out)[None], torch.from_numpy(src)[None], d)
    assert matched < 0.5 * patch_swd(noise, torch.from_numpy(src)[None], d)


def test_match_patches_seconds_lowers_the_steps_equally_per_level():
    """A budget sets the steps of every level: none left gives one step per level, a
    generous one the most asked for (``steps``); the progress calls count them."""
    src = two_textures()[:, :40, :40]
    levels = len(pyramid_heights(32))

    def steps_run(**options):
        calls = []
        match_patches(src, (32, 32), seed=0, progress=calls.append, **options)
        return len(calls) / levels

    assert steps_run(seconds=0.0, steps=5) == 1
    assert steps_run(seconds=1e6, steps=5) == 5


def test_pyramid_heights_follow_the_authors_settings():
    heights = pyramid_heights(256)
    assert heights[-1] == 256 and heights[0] >= 21 and heights == sorted(heights)
    assert all(b / a < 1 / 0.85 + 0.02 for a, b in zip(heights, heights[1:]))


def test_polish_restores_the_source_contrast_and_keeps_the_layout():
    """A flattened copy of a layout (what nearest-neighbour synthesis tends to give)
    gets the source's fine contrast and patch statistics back, without moving its
    bright and dark areas; deterministic for a seed, and usable under no_grad (as a
    model's generate calls it)."""
    src = two_textures()
    flat = np.full((1, 96, 96), 0.35, np.float32)
    flat[:, :48] = 0.65  # the layout: brighter top, darker bottom, a third of the contrast
    flat += np.random.default_rng(1).normal(0, 0.02, flat.shape).astype(np.float32)
    with torch.no_grad():
        out = polish(src, flat, seed=3)
    assert out.shape == flat.shape and out.dtype == np.float32
    assert src.min() <= out.min() and out.max() <= src.max()
    np.testing.assert_array_equal(polish(src, flat, seed=3), out)
    assert out[:, :24].mean() > 0.6 and out[:, 72:].mean() < 0.4  # layout kept
    # the fine noise of the source is back (neighbour differences near the source's,
    # away from the edges between the bright and dark areas)
    fine = lambda a: np.diff(a[0], axis=1).std()  # noqa: E731
    grain = fine(src[:, :, :40])
    for part in (out[:, :24], out[:, 72:]):
        assert abs(fine(part) - grain) < 0.25 * grain < abs(fine(flat[:, :24]) - grain)
    with pytest.raises(ng.InputError, match="same C"):
        polish(src, np.zeros((3, 16, 16), np.float32))
    with pytest.raises(ng.InputError, match="steps"):
        polish(src, flat, steps=-1)


def test_polish_keeps_the_layouts_share_of_dark_areas():
    """An image with fewer dark areas than the source (a generator's layout seldom has
    the example's exact shares) keeps its background bright: only the detail's
    histogram is matched. Matching the whole histogram would darken a quarter of the
    background into blotches (the fern-like patches once seen on small examples)."""
    from scipy import ndimage as ndi
    from skimage.exposure import match_histograms

    def discs(n, grain, size, seed):
        rng = np.random.default_rng(seed)
        image = 0.5 + ndi.gaussian_filter(rng.normal(0, 1, (size, size)), 1) * grain
        yy, xx = np.mgrid[:size, :size]
        dark = np.zeros((size, size), bool)
        for cy, cx in rng.integers(12, size - 12, (n, 2)):
            dark |= (yy - cy) ** 2 + (xx - cx) ** 2 < 144
        image[dark] -= 1.0
        return image[None].astype(np.float32), dark

    src, src_dark = discs(14, 0.25, 128, 0)
    image, dark = discs(2, 0.08, 96, 1)
    assert src_dark.mean() > 0.3 and dark.mean() < 0.1
    background = ~ndi.binary_dilation(dark, iterations=4)
    whole = match_histograms(image, src, channel_axis=0)[0][background]
    assert (whole < 0).mean() > 0.2  # what the whole histogram does here
    out = polish(src, image, seed=0)[0]
    assert (out[background] < 0).mean() < 0.1 and out[background].mean() > 0.35
    assert out[dark].mean() < 0  # the dark areas stay dark


def test_polish_does_not_stretch_faint_grain_into_flecks():
    """An image with half the source's share of bright lines (a brick layout with
    fewer joints than its example) and fainter grain on the faces between them: exact
    matching of the detail's histogram maps the brightest tenth of the faces' grain
    onto line values, light flecks on a dark face; the polish's limited stretch keeps
    the faces dark and even, still gives them more of the source's grain than they
    had, and keeps the lines bright."""
    from napari_gan.core.patchdist import match_detail

    def lines(every, grain, size, seed):
        rng = np.random.default_rng(seed)
        image = -0.4 + rng.normal(0, grain, (size, size))
        line = np.zeros((size, size), bool)
        line[:, ::every] = line[:, 1::every] = True
        image[line] = 0.6
        return image[None].astype(np.float32), line

    src, _ = lines(8, 0.04, 128, 0)
    image, line = lines(16, 0.01, 96, 1)
    faces = ~ndi.binary_dilation(line, iterations=3)
    fleck = lambda a: (a[0][faces] > 0.1).mean()  # noqa: E731  halfway between a face and a line
    assert fleck(match_detail(image, src, gain=None)) > 0.05  # what exact matching does here
    out = polish(src, image, seed=0)
    assert fleck(out) < 0.01
    assert out[0][faces].std() > 1.5 * image[0][faces].std()  # the grain is raised
    assert out[0][line].mean() > 0.3
    with pytest.raises(ng.InputError, match="gain"):
        match_detail(image, src, gain=0.5)


def test_polish_brings_back_small_sparse_objects():
    """A layout with a quarter of the example's small faint objects (a star field
    made by a coarse layout, where objects of a few pixels vanish): the polish gives it
    about the example's density of them again, not a few more, and not noise peaks
    instead."""
    from skimage.feature import peak_local_max

    def field(size, dots, seed):
        rng = np.random.default_rng(seed)
        image = np.zeros((size, size))
        ys, xs = rng.integers(0, size, (2, dots))
        image[ys, xs] = rng.uniform(0.6, 1.4, dots)
        image = ndi.gaussian_filter(image, 0.8) * 2 * np.pi * 0.64  # blobs of about the dots' heights
        return (image + rng.normal(0, 0.04, (size, size)) - 0.8)[None].astype(np.float32)

    objects = lambda a: len(peak_local_max(a[0], min_distance=2, threshold_abs=-0.5))  # noqa: E731
    src, image = field(96, 120, 0), field(96, 30, 1)
    assert objects(image) < 0.35 * objects(src)
    out = polish(src, image, seed=0)
    assert 0.7 * objects(src) <= objects(out) <= 1.3 * objects(src)


def test_polish_does_not_raise_plateaus_on_dark_faces(monkeypatch):
    """A brick layout with dark faces only, polished against an example where a fifth
    of the faces are lighter and pitted: the matching alone raises light plateaus on
    the dark faces (what 60 steps did to `brick`); the polish undoes the lifts of whole
    areas, so the faces stay dark and the joints bright."""
    from napari_gan.core import patchdist

    def wall(size, light, seed):
        rng = np.random.default_rng(seed)
        yy, xx = np.mgrid[:size, :size]
        row = yy // 16
        col = (xx + 16 * (row % 2)) // 32
        joint = (yy % 16 < 3) | ((xx + 16 * (row % 2)) % 32 < 3)
        image = -0.5 + rng.normal(0, 0.04, (size, size))
        lit = (rng.random((row.max() + 1) * 100) < light)[row * 100 + col] & ~joint
        image[lit] = -0.05 + rng.normal(0, 0.04, lit.sum())
        image[lit & (rng.random((size, size)) < 0.12)] = -0.55  # pits
        image[joint] = 0.6
        return image[None].astype(np.float32), joint, lit

    src, _, lit = wall(128, 0.27, 0)
    image, joint, _ = wall(96, 0.0, 1)
    assert lit.mean() > 0.15
    faces = ~ndi.binary_dilation(joint, iterations=2)
    raised = lambda a: ((a - image)[0][faces] > 0.2).mean()  # noqa: E731
    out = polish(src, image, seed=0)
    assert raised(out) < 0.03
    assert out[0][joint].mean() > 0.4
    with monkeypatch.context() as m:
        m.setattr(patchdist, "undo_area_lifts", lambda change: change)
        assert raised(polish(src, image, seed=0)) > 0.1  # what the matching alone does here


def test_undo_area_lifts_keeps_small_pieces_and_lowerings():
    """A raised square with pits is undone, pits and rim included; a small raised
    object, a lowered area and a faint change of any size keep their change."""
    from napari_gan.core.patchdist import undo_area_lifts

    change = np.full((1, 48, 48), 0.05, np.float32)
    change[0, 5:25, 5:25] = 0.4
    change[0, 10:20:3, 10:20:3] = -0.1  # pits: the square stays one area
    change[0, 35:38, 35:38] = 0.6
    change[0, 5:25, 32:46] = -0.4
    out = undo_area_lifts(change.copy())
    assert (out[0, 3:27, 3:27] == 0).all()
    assert (out[0, 35:38, 35:38] == 0.6).all() and (out[0, 5:25, 32:46] == -0.4).all()
    assert (out[0, 30:, 5:30] == 0.05).all()


def test_patch_distance_to_a_smaller_source_set_is_the_repeated_sets_distance():
    """Against a source with fewer patches than the image (the polish of a large
    image), the source's sorted projections are repeated from one sort of the source
    alone; the distance and its gradient equal those of sorting the repeated set."""
    rng = np.random.default_rng(0)
    x = torch.from_numpy(rng.normal(size=(1, 2, 40, 37)).astype(np.float32))
    y = torch.from_numpy(rng.normal(size=(1, 2, 19, 23)).astype(np.float32))
    dirs = torch.nn.functional.normalize(torch.randn(8, 2 * 7 * 7), dim=1).reshape(8, 2, 7, 7)
    values, grads = [], []
    for source_needs_grad in (False, True):  # True: the general path, which sorts the repeated set
        xi = x.clone().requires_grad_(True)
        yi = y.clone().requires_grad_(source_needs_grad)
        d = patch_swd(xi, yi, dirs, torch.Generator().manual_seed(3))
        d.backward()
        values.append(d.item())
        grads.append(xi.grad)
    assert values[0] == values[1] > 0
    torch.testing.assert_close(grads[0], grads[1], rtol=0, atol=0)


def _boundary_excess(out: np.ndarray, tile: int, margin: int, band: int) -> float:
    """How far the mean row-to-row (and column-to-column) difference across each
    tile border of the padded canvas, and across the edge of the band before it,
    departs from the image's median difference, as a ratio (0: like any other row)."""
    img = out[0]
    worst = 0.0
    for axis in (0, 1):
        n = img.shape[axis] + 2 * margin
        borders = np.linspace(0, n, -(-n // tile) + 1).round().astype(int)[1:-1] - margin
        diffs = np.abs(np.diff(img, axis=axis)).mean(axis=1 - axis)
        med = np.median(diffs)
        worst = max([worst, *(abs(diffs[b - 1 - off] / med - 1) for b in borders for off in (0, band))])
    return worst


def test_tiled_synthesis_joins_tiles_without_straight_seams(monkeypatch):
    """An output larger than ``tile`` is made tile by tile, each tile no larger than a
    tile plus its bands, from the example's own pixels, deterministically; where tiles
    meet, the join follows the cheapest cut through the texture, so no tile border is
    a row or column unlike the others, where a straight join is."""
    from skimage import data

    from napari_gan.core import patchsynth

    src = (data.gravel()[:128, :128].astype(np.float32) / 127.5 - 1)[None]
    start = np.random.default_rng(0).normal(0, 0.5, (1, 45, 45)).astype(np.float32)
    regions = []
    real = patchsynth._synthesize_region

    def spy(src_, region, *args):
        regions.append(region.shape[1:])
        return real(src_, region, *args)

    monkeypatch.setattr(patchsynth, "_synthesize_region", spy)
    out = synthesize(src, (256, 256), start=start, levels=3, seed=0, tile=96)
    assert out.shape == (1, 256, 256) and out.dtype == np.float32
    assert np.isin(out, src).all()  # every pixel a copy of an example pixel, none left empty
    band, extra = 24, 14  # a quarter of the tile; two patches
    assert len(regions) == 9 and max(max(r) for r in regions) <= 96 + 2 * band + extra
    quilted = _boundary_excess(out, 96, 14, band)
    monkeypatch.setattr(patchsynth, "_cut", lambda cost: np.zeros(len(cost), np.int64))  # straight joins
    straight = _boundary_excess(synthesize(src, (256, 256), start=start, levels=3, seed=0, tile=96), 96, 14, band)
    # measured 2026-12-05: 0.294 against 0.522
    assert quilted < 0.35 < straight


def test_tiled_synthesis_is_deterministic_and_checks_its_tile():
    src = two_textures()
    a = synthesize(src, (70, 90), seed=5, tile=56)
    np.testing.assert_array_equal(synthesize(src, (70, 90), seed=5, tile=56), a)
    assert not np.array_equal(synthesize(src, (70, 90), seed=6, tile=56), a)
    with pytest.raises(ng.InputError, match="tile"):
        synthesize(src, (70, 90), tile=20)


def test_tiled_polish_matches_untiled_statistics():
    """The polish of an image larger than its tile works tile by tile, each against
    the finished pixels of the tiles before; on a texture it gives the contrast and
    fine statistics that the polish of the whole image gives."""
    from scipy import ndimage as ndi

    rng = np.random.default_rng(0)

    def grain(shape, strength):
        field = ndi.gaussian_filter(rng.normal(size=shape), 1.0)
        return (field / field.std() * strength).astype(np.float32)[None]

    src = grain((96, 96), 0.3)
    flat = grain((150, 130), 0.1)  # a third of the contrast
    whole = polish(src, flat, seed=3)
    tiled = polish(src, flat, seed=3, tile=56)
    assert tiled.shape == flat.shape and tiled.dtype == np.float32
    np.testing.assert_array_equal(polish(src, flat, seed=3, tile=56), tiled)
    assert not np.array_equal(tiled, whole)  # it did work in tiles
    assert abs(tiled.std() - whole.std()) < 0.05 * whole.std()
    fine = lambda a: np.diff(a[0], axis=1).std()  # noqa: E731
    assert abs(fine(tiled) - fine(whole)) < 0.05 * fine(whole) and fine(tiled) > 1.5 * fine(flat)
    with pytest.raises(ng.InputError, match="tile"):
        polish(src, flat, tile=8)


def test_a_soft_start_still_gets_the_examples_crisp_patches():
    """A layout softer than the example (a generator's, or one made at a coarser
    scale) finds its nearest patches in the example's soft regions. With
    ``start_detail`` (the default) its detail is given the example's histogram at the
    coarsest level first, so the output holds the example's strong structure; without,
    it is made of the flat half only (test_synthesis_follows_the_start_layout: a flat
    layout is still followed)."""
    rng = np.random.default_rng(0)
    src = np.full((1, 64, 128), 0.5, np.float32)
    src[0, :, :64] += rng.normal(0, 0.02, (64, 64))  # flat, faint grain
    blobs = ndi.gaussian_filter(rng.normal(0, 1, (64, 64)), 2)
    src[0, :, 64:] += 0.2 * blobs / blobs.std()  # strong structure
    soft = 0.5 + 0.06 * ndi.gaussian_filter(rng.normal(0, 1, (16, 16)), 1)
    start = soft[None].astype(np.float32)
    plain = synthesize(src, (64, 64), start=start, levels=3, seed=0, start_detail=False)[0]
    sharp = synthesize(src, (64, 64), start=start, levels=3, seed=0)[0]
    assert (np.abs(plain - 0.5) > 0.1).mean() < 0.005
    assert (np.abs(sharp - 0.5) > 0.1).mean() > 0.02
    assert sharp.std() > 2 * plain.std()
    np.testing.assert_array_equal(synthesize(src, (64, 64), start=start, levels=3, seed=0)[0], sharp)
