"""The gradient-domain blend of a patch fill: pieces copied from places of different
brightness meet without a step, texture copied whole is kept exactly, and a smooth
image's fill has no blocks."""

import numpy as np
import pytest
from scipy import ndimage as ndi

from napari_gan.core import patchfill, poisson
from napari_gan.core.patchfill import patch_fill


def _owner_shifted(hole, shifts):
    """Owner map copying each hole pixel from ``shift`` columns away; ``shifts`` is a
    (Y, X) int array (one value per piece)."""
    h, w = hole.shape
    ys, xs = np.mgrid[:h, :w]
    return np.where(hole, ys * w + xs + shifts, -1)


def test_pieces_of_different_brightness_meet_without_a_step():
    """A horizontal ramp; the hole's left half copied from 30 px further left (darker),
    its right half from 30 px further right (brighter): the plain copies step at the
    border and in the middle, the blend gives back the ramp itself."""
    ramp = np.tile(np.linspace(0.1, 0.9, 120, dtype=np.float32), (80, 1))[None]
    hole = np.zeros((80, 120), bool)
    hole[20:60, 40:80] = True
    shifts = np.where(np.arange(120)[None] < 60, -30, 30) * np.ones((80, 1), int)
    owner = _owner_shifted(hole, shifts)
    copies = np.where(hole, ramp[0].ravel()[np.maximum(owner, 0)], ramp[0])
    assert np.abs(np.diff(copies, axis=1)).max() > 0.3  # the steps a user would see
    out = poisson.blend_copies(copies[None].astype(np.float32), hole, owner)
    np.testing.assert_allclose(out, ramp, atol=1e-4)


def test_texture_copied_whole_is_kept_exactly():
    """Stripes of period 8 px: copying the hole from one period away reproduces it, and
    the blend must not change a pixel of that."""
    rng = np.random.default_rng(0)
    period = np.tile(rng.random((2, 8)), (1, 12))  # (2, 96): two channels, period 8
    img = np.repeat(period[:, None, :], 64, axis=1).astype(np.float32)
    img += 0.1 * np.sin(np.arange(64) / 3.0)[None, :, None].astype(np.float32)
    hole = np.zeros((64, 96), bool)
    hole[16:48, 24:72] = True
    owner = _owner_shifted(hole, np.full((64, 96), 8))
    flat = img.reshape(2, -1)
    copies = np.where(hole[None], flat[:, np.maximum(owner.ravel(), 0)].reshape(img.shape), img)
    out = poisson.blend_copies(copies, hole, owner)
    np.testing.assert_allclose(out, img, atol=1e-5)
    assert out.dtype == np.float32


def test_a_hole_too_large_falls_back_to_healing(monkeypatch):
    grass = np.random.default_rng(1).random((1, 64, 64)).astype(np.float32)
    hole = np.zeros((64, 64), bool)
    hole[20:40, 20:40] = True
    assert poisson.blend_copies(grass, hole, np.full((64, 64), -1)) is not None
    monkeypatch.setattr(poisson, "MAX_UNKNOWNS", 100)
    assert poisson.blend_copies(grass, hole, np.full((64, 64), -1)) is None
    healed = []
    monkeypatch.setattr(patchfill, "_heal", lambda img, h, c: healed.append(1) or img)
    out = patch_fill(grass, hole, seed=0)
    assert healed and np.array_equal(out[:, ~hole], grass[:, ~hole])


def _smooth(seed):
    rng = np.random.default_rng(seed)
    field = ndi.gaussian_filter(rng.standard_normal((160, 160)), 12)
    img = (field - field.min()) / np.ptp(field) * 0.8 + 0.1 + 0.01 * rng.standard_normal((160, 160))
    return img.astype(np.float32)[None]


def _differences(a, hole):
    return np.concatenate(
        [np.abs(np.diff(a, axis=0))[hole[1:] & hole[:-1]], np.abs(np.diff(a, axis=1))[hole[:, 1:] & hole[:, :-1]]]
    )


@pytest.mark.parametrize("seed", [0, 1])
def test_a_fill_of_a_smooth_image_has_no_blocks(seed):
    """A smooth field with faint grain (fur, skin, a retina): pieces copied from
    elsewhere carry other brightnesses, and as copies they leave steps 2-2.5x the
    real neighbour differences (99th percentile); blended, the fill's differences are
    those of the real content."""
    img = _smooth(seed)
    hole = np.zeros((160, 160), bool)
    hole[50:100, 60:110] = True
    real = np.percentile(_differences(img[0], hole), 99)
    blended = patch_fill(img, hole, seed=0)
    copies = patch_fill(img, hole, seed=0, blend=False)
    assert np.percentile(_differences(copies[0], hole), 99) > 1.6 * real  # what blending removes
    assert np.percentile(_differences(blended[0], hole), 99) < 1.3 * real
    assert _differences(blended[0], hole).max() < 2 * _differences(img[0], hole).max()
    np.testing.assert_array_equal(blended[:, ~hole], img[:, ~hole])
    np.testing.assert_array_equal(blended, patch_fill(img, hole, seed=0))  # deterministic
