"""The textured fill: continues the image's texture into a hole, deterministic for a
seed, known pixels untouched, clear errors."""

import numpy as np
import pytest
import torch
from skimage import data
from skimage.draw import disk

import napari_gan as ng
from napari_gan.core.patchfill import patch_fill
from napari_gan.core.tasks.translate import tension_fill


@pytest.fixture(scope="module")
def grass():
    return data.grass()[:160, :160].astype(np.float32)[None] / 255


def _hole(shape, y, x, size):
    hole = np.zeros(shape, bool)
    hole[y : y + size, x : x + size] = True
    return hole


def _detail(img, hole):
    """Mean absolute difference between 4-neighbours inside the hole: what a smear lacks."""
    dy = np.abs(np.diff(img, axis=0))[hole[1:] & hole[:-1]]
    dx = np.abs(np.diff(img, axis=1))[hole[:, 1:] & hole[:, :-1]]
    return float(np.concatenate([dy, dx]).mean())


def test_texture_fill_changes_only_the_hole_and_is_deterministic(grass):
    hole = _hole(grass.shape[1:], 60, 50, 40)
    hole[5:12, 140:150] = True  # a second hole near the border
    a = patch_fill(grass, hole, seed=3)
    b = patch_fill(grass, hole, seed=3)
    c = patch_fill(grass, hole, seed=4)
    assert a.shape == grass.shape and a.dtype == np.float32
    np.testing.assert_array_equal(a, b)
    np.testing.assert_array_equal(a[:, ~hole], grass[:, ~hole])
    assert not np.array_equal(a[:, hole], c[:, hole])  # another seed, another fill
    assert np.isfinite(a).all()


def test_texture_fill_keeps_the_grain_where_the_smooth_fill_smears(grass):
    """Real grass varies about 0.09 between neighbouring pixels; the smooth fill of a
    40 px hole about 0.01 (a smear); the texture fill must be close to real."""
    hole = _hole(grass.shape[1:], 60, 60, 40)
    real = _detail(grass[0], hole)
    smooth = _detail(tension_fill(grass, hole)[0], hole)
    texture = _detail(patch_fill(grass, hole)[0], hole)
    assert smooth < 0.4 * real
    assert 0.6 * real < texture < 1.4 * real, (real, smooth, texture)
    # its grey levels come from the image: the hole's mean stays near the image's
    assert abs(patch_fill(grass, hole)[0][hole].mean() - grass[0].mean()) < 0.1


def test_texture_fill_samples_the_sources_of_a_search_too_large(grass, monkeypatch):
    """Where comparing every patch touching the hole with every known patch would be too
    much (a long thin stroke across a large image tried to allocate 32 GB), an even
    sample of the known patches is searched first; the fill still keeps the grain and
    the seed still fixes it."""
    from napari_gan.core import _patchmatch

    hole = _hole(grass.shape[1:], 60, 60, 40)
    monkeypatch.setattr(_patchmatch, "_SEARCH_MAX", 10_000_000)
    level = _patchmatch._Level(torch.from_numpy(grass), torch.from_numpy(hole), 7)
    sample = level.candidates(torch.Generator().manual_seed(0))
    assert 0 < len(sample) < len(level.sources)
    assert bool(level.source_ok[sample[:, 0], sample[:, 1]].all())
    a, b = patch_fill(grass, hole, seed=1), patch_fill(grass, hole, seed=1)
    np.testing.assert_array_equal(a, b)
    np.testing.assert_array_equal(a[:, ~hole], grass[:, ~hole])
    real = _detail(grass[0], hole)
    assert 0.6 * real < _detail(a[0], hole) < 1.4 * real


@pytest.mark.parametrize("seed", [0, 3])
def test_texture_fill_grows_what_surrounds_the_hole(seed):
    """A hole in empty background stays background though the image holds bright
    objects elsewhere, and stripes continue through a hole in phase (a fill started
    from random patches brought pieces of objects into the first and broke the second)."""
    rng = np.random.default_rng(0)
    img = 0.2 + 0.03 * rng.standard_normal((128, 128))
    for _ in range(40):
        y, x = rng.integers(0, 128), rng.integers(72, 128)
        img[disk((y, x), 6, shape=img.shape)] = 0.9
    hole = _hole(img.shape, 40, 16, 36)
    out = patch_fill(img[None].astype(np.float32), hole, seed=seed)[0]
    assert (out[hole] > 0.5).mean() < 0.005

    yy, xx = np.mgrid[:128, :128]
    stripes = np.sin(2 * np.pi * (yy + 0.3 * xx) / 13) + 0.1 * rng.standard_normal((128, 128))
    hole = _hole(stripes.shape, 44, 44, 40)
    out = patch_fill(stripes[None].astype(np.float32), hole, seed=seed)[0]
    assert np.corrcoef(out[hole], stripes[hole])[0, 1] > 0.95


def test_texture_fill_colour_and_error_map():
    rgb = np.moveaxis(data.astronaut()[::4, ::4].astype(np.float32) / 255, -1, 0)  # (3, 128, 128)
    hole = _hole(rgb.shape[1:], 70, 20, 24)
    out, err = patch_fill(rgb, hole, return_error=True)
    assert out.shape == rgb.shape and err.shape == hole.shape
    np.testing.assert_array_equal(out[:, ~hole], rgb[:, ~hole])
    assert (err[~hole] == 0).all() and (err[hole] >= 0).all() and err[hole].max() > 0


def test_texture_fill_refuses_bad_input(grass):
    hole = _hole(grass.shape[1:], 10, 10, 10)
    with pytest.raises(ng.InputError, match="hole has shape"):
        patch_fill(grass, hole[:50])
    with pytest.raises(ng.InputError, match="empty"):
        patch_fill(grass, np.zeros_like(hole))
    with pytest.raises(ng.InputError, match="whole image"):
        patch_fill(grass, np.ones_like(hole))
    with pytest.raises(ng.InputError, match="odd integer"):
        patch_fill(grass, hole, patch=4)
    with pytest.raises(ng.InputError, match=r"\(C, Y, X\)"):
        patch_fill(grass[0], hole)
    bad = grass.copy()
    bad[0, 0, 0] = np.nan
    with pytest.raises(ng.InputError, match="NaN"):
        patch_fill(bad, hole)
    with pytest.raises(ng.InputError, match="no patch of known pixels"):
        almost = np.ones_like(hole)
        almost[:2, :2] = False  # no whole 3 x 3 patch is known
        patch_fill(grass, almost)
    with pytest.raises(ng.InputError, match="avoid must be"):
        patch_fill(grass, hole, avoid=hole[:50])
    # nothing left to copy from but what is to be avoided: the fill takes it rather than fail
    np.testing.assert_array_equal(patch_fill(grass, hole, avoid=~hole), patch_fill(grass, hole))


def test_texture_fill_default_patch_shrinks_to_a_small_image(grass):
    """The default patch (11 px) gives way to smaller ones where the known image
    around the hole is too small for it; a patch the caller names is used as asked, or
    refused if it does not fit."""
    small = grass[:, :9, :9]
    hole = _hole(small.shape[1:], 3, 3, 3)
    out = patch_fill(small, hole)
    assert out.shape == small.shape and np.isfinite(out).all()
    np.testing.assert_array_equal(out[:, ~hole], small[:, ~hole])
    with pytest.raises(ng.InputError, match="smaller than one 11 px patch"):
        patch_fill(small, hole, patch=11)
    with pytest.raises(ng.InputError, match="no patch of known pixels"):
        patch_fill(small, hole, patch=7)  # fits the image, but every 7 px patch touches the hole


def test_translator_fills_texture_by_default_and_smooth_on_request(grass):
    img = grass[0]
    inp = ng.Translator(task="inpaint", features=8, depth=2, patch_size=32, batch_size=2).fit(img, max_steps=1)
    hole = _hole(img.shape, 60, 60, 40)
    texture = inp.predict(img * 255, mask=hole)
    smooth = inp.predict(img * 255, mask=hole, fill="smooth")
    np.testing.assert_array_equal(texture[~hole], img[~hole] * 255)
    np.testing.assert_array_equal(inp.predict(img * 255, mask=hole), texture)  # deterministic (seed 0)
    assert _detail(texture, hole) > 2 * _detail(smooth, hole)
    with pytest.raises(ng.InputError, match="fill must be one of"):
        inp.predict(img, mask=hole, fill="magic")
    with pytest.raises(ng.InputError, match="fill must be one of"):  # a typo, not "train first"
        ng.Translator(task="inpaint").predict(img, mask=hole, fill="magic")


def test_texture_fill_of_a_hole_that_leaves_only_thin_strips(grass):
    """A hole over most of the image leaves strips of known pixels a few pixels wide:
    the pyramid stops where halving them would leave no whole patch, rather than fail
    (at the commit before, an 8 px frame around a 144 px hole was refused with "no
    patch of known pixels is left")."""
    hole = _hole(grass.shape[1:], 8, 8, 144)
    out = patch_fill(grass, hole, seed=0)
    np.testing.assert_array_equal(out[:, ~hole], grass[:, ~hole])
    real = _detail(grass[0], hole)
    assert 0.5 * real < _detail(out[0], hole) < 1.5 * real  # grain, not a smear


def test_translator_fills_holes_marked_by_missing_values(grass):
    """Pixels the mask covers may be NaN (missing data is what a hole often is); they
    are never read. A NaN outside the mask is still refused."""
    img = grass[0] * 255
    inp = ng.Translator(task="inpaint", features=8, depth=2, patch_size=32, batch_size=2).fit(img, max_steps=1)
    hole = _hole(img.shape, 60, 60, 30)
    gappy = img.copy()
    gappy[hole] = np.nan
    for fill in ("texture", "smooth"):
        out = inp.predict(gappy, mask=hole, fill=fill)
        assert np.isfinite(out).all()
        np.testing.assert_array_equal(out, inp.predict(img, mask=hole, fill=fill))
    gappy[0, 0] = np.nan
    with pytest.raises(ng.InputError, match="NaN"):
        inp.predict(gappy, mask=hole)
