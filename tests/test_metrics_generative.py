"""The generative-model metrics: the two-sample classifier test and seam score on
scikit-image's bundled textures; patch SWD, memorisation, diversity and lattice
strength on small synthetic images."""

from __future__ import annotations

import numpy as np
import pytest
from gan_data import blobs_stack, stripes
from scipy import ndimage as ndi
from skimage import data
from skimage.restoration import inpaint_biharmonic

import napari_gan as ng
from napari_gan.core import metrics
from napari_gan.core.metrics import classifier_test, classifier_test_floor, seam_score

# small and quick: each classifier_test call trains for about a second on two idle cores
FAST = {"crop": 16, "steps": 60, "seeds": 1}


@pytest.fixture(scope="module")
def gravel() -> np.ndarray:
    return data.gravel()[:256, :256].astype(np.float64)


@pytest.fixture(scope="module")
def grass() -> np.ndarray:
    return data.grass()[:256, :256].astype(np.float64)


def test_exported_from_ng_metrics():
    assert ng.metrics.classifier_test is classifier_test
    assert ng.metrics.classifier_test_floor is classifier_test_floor
    assert ng.metrics.seam_score is seam_score
    assert {"classifier_test", "classifier_test_floor", "seam_score", "ClassifierTest"} <= set(ng.metrics.__all__)


def test_classifier_test_ranks_real_below_blur_and_noise(gravel):
    source = data.gravel()[256:, :256].astype(np.float64)  # pixels the real side does not hold
    floor = classifier_test_floor(gravel, **{**FAST, "seeds": 2})
    blurred = classifier_test(ndi.gaussian_filter(source, 2), gravel, **FAST)
    rng = np.random.default_rng(0)
    noise = classifier_test(rng.normal(source.mean(), source.std(), source.shape), gravel, **FAST)
    assert blurred.accuracy > 0.85
    assert noise.accuracy > 0.85
    assert floor.accuracy < min(blurred.accuracy, noise.accuracy) - 0.2
    assert len(floor.per_seed) == 2 and floor.accuracy == pytest.approx(np.mean(floor.per_seed))
    assert floor.n_test >= 8 and floor.n_train >= 8 and floor.seconds > 0
    assert set(blurred.as_dict()) == {"accuracy", "per_seed", "n_train", "n_test", "seconds", "split"}


def test_classifier_test_is_deterministic_for_a_seed(gravel):
    other = data.gravel()[256:384, :128]
    first = classifier_test(other, gravel[:128, :128], crop=16, steps=10, seeds=[3])
    again = classifier_test(other, gravel[:128, :128], crop=16, steps=10, seeds=[3])
    assert first.per_seed == again.per_seed


def test_a_deeper_classifier_sees_larger_neighbourhoods(gravel):
    """depth=5 (33 px neighbourhoods, for shapes such as whole stones) still tells
    a blurred sample at once, and is deterministic for a seed."""
    source = data.gravel()[256:, :256].astype(np.float64)
    deep = {"crop": 32, "steps": 60, "seeds": [0], "depth": 5}
    blurred = classifier_test(ndi.gaussian_filter(source, 2), gravel, **deep)
    assert blurred.accuracy > 0.85
    assert classifier_test(ndi.gaussian_filter(source, 2), gravel, **deep).per_seed == blurred.per_seed


def test_masks_restrict_crops_to_the_judged_pixels(gravel):
    generated = data.gravel()[256:, :256].astype(np.float64)
    rng = np.random.default_rng(1)
    generated[:, 64:] = rng.normal(generated.mean(), generated.std(), (256, 192))  # garbage outside the mask
    mask = np.zeros(generated.shape, dtype=bool)
    mask[:, :64] = True
    whole = classifier_test(generated, gravel, **FAST)
    masked = classifier_test(generated, gravel, generated_mask=mask, **FAST)
    assert whole.accuracy > 0.8
    assert masked.accuracy < whole.accuracy - 0.15


def test_small_mask_falls_back_to_halves_and_too_small_raises(gravel):
    hole = np.zeros(gravel.shape, dtype=bool)
    hole[120:140, 40:220] = True  # a strip 20 px high: with seed 0, blocks leave too few whole crops
    result = classifier_test(gravel, gravel, crop=16, steps=5, seeds=[0], generated_mask=hole)
    assert result.split == "halves"
    tiny = np.zeros(gravel.shape, dtype=bool)
    tiny[:20, :20] = True
    with pytest.raises(ValueError, match="too few 16x16 crops"):
        classifier_test(gravel, gravel, crop=16, steps=5, generated_mask=tiny)


def test_crops_nearly_the_images_size_judge_whole_images():
    """A crop one pixel short of small images (whole faces) leaves two start rows and
    columns per image, fewer than the random offset of the test grid: the test still
    scores held-out crops, and tells mirror-image stripes from upright ones."""
    upright = np.stack([stripes(shape=(25, 25), seed=k) for k in range(40)])
    mirrored = upright[..., ::-1]
    result = classifier_test(mirrored, upright, crop=24, depth=5, steps=60, seeds=3, augment=False)
    assert result.n_test >= 8 and len(result.per_seed) == 3
    assert result.accuracy > 0.8
    same = classifier_test(upright[::2], upright[1::2], crop=24, depth=5, steps=60, seeds=3, augment=False)
    assert same.accuracy < result.accuracy


def test_classifier_test_colour_and_lists(gravel):
    rgb = np.stack([gravel, gravel * 0.5, 255 - gravel], axis=-1)
    result = classifier_test([rgb[:128], rgb[128:]], rgb, crop=16, steps=5, seeds=1, channel_axis=-1)
    assert 0.0 <= result.accuracy <= 1.0


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"generated": np.zeros((64, 64, 3)), "channel_axis": -1, "real": np.zeros((64, 64, 1))}, "channels"),
        ({"generated_mask": np.ones((10, 10), bool)}, "does not match"),
        ({"generated_mask": np.full((64, 64), 2)}, "boolean"),
        ({"real_mask": np.zeros((64, 64), bool)}, "selects no pixel"),
        ({"crop": 80}, "too few"),
        ({"steps": 0}, "steps"),
        ({"batch": 7}, "even"),
        ({"seeds": 0}, "seeds"),
        ({"depth": 1}, "depth"),
        ({"depth": 6}, "depth"),
        ({"generated": np.zeros((2, 3, 64, 64))}, "generated"),
    ],
)
def test_classifier_test_rejects_bad_input(kwargs, message):
    args = {"generated": np.zeros((64, 64)), "real": np.ones((64, 64)), "crop": 16, "steps": 1}
    args.update(kwargs)
    with pytest.raises(ValueError, match=message):
        classifier_test(args.pop("generated"), args.pop("real"), **args)


def disk(shape=(256, 256), centre=(128, 128), radius=40) -> np.ndarray:
    yy, xx = np.mgrid[: shape[0], : shape[1]]
    return (yy - centre[0]) ** 2 + (xx - centre[1]) ** 2 < radius**2


def test_seam_score_is_about_one_on_real_content(grass, gravel):
    hole = disk()
    for image in (grass, gravel):
        assert 0.7 < seam_score(image, hole) < 1.4
    square = np.zeros(grass.shape, dtype=bool)
    square[60:120, 90:170] = True
    assert 0.7 < seam_score(grass, square) < 1.4


def test_seam_score_flags_constant_and_shifted_fills(grass, gravel):
    hole = disk()
    real = seam_score(grass, hole)
    constant = grass.copy()
    constant[hole] = grass.mean()
    assert seam_score(constant, hole) > 2.5 * real
    brighter = gravel.copy()
    brighter[hole] += 0.5 * gravel.std()
    assert seam_score(brighter, hole) > 1.5 * seam_score(gravel, hole)
    # a biharmonic fill joins its border smoothly: no seam, whatever it holds (see docstring)
    smooth = inpaint_biharmonic(grass / 255, hole) * 255
    assert 0.6 < seam_score(smooth, hole) < 1.2


def test_seam_score_channels_and_edge_cases(grass):
    hole = disk()
    rgb = np.stack([grass] * 3, axis=0)
    assert seam_score(rgb, hole, channel_axis=0) == pytest.approx(seam_score(grass, hole))
    assert seam_score(grass, hole.astype(np.uint8)) == seam_score(grass, hole)
    flat = np.zeros((32, 32))
    square = np.zeros((32, 32), dtype=bool)
    square[8:20, 8:20] = True
    assert seam_score(flat, square) == 1.0
    flat[square] = 1.0
    assert seam_score(flat, square) == np.inf


@pytest.mark.parametrize(
    ("image", "hole", "message"),
    [
        (np.zeros((32, 32)), np.zeros((32, 32), bool), "empty"),
        (np.zeros((32, 32)), np.ones((32, 32), bool), "whole image"),
        (np.zeros((32, 32)), np.ones((16, 16), bool), "does not match"),
        (np.zeros((32, 32)), np.full((32, 32), 0.5), "boolean"),
        (np.zeros((4, 32, 32)), np.ones((32, 32), bool), "2D"),
        (np.full((32, 32), np.nan), disk((32, 32), (16, 16), 5), "NaN"),
        (np.indices((32, 32)).sum(0) % 2, np.indices((32, 32)).sum(0) % 2 == 0, "neither side"),
    ],
)
def test_seam_score_rejects_bad_input(image, hole, message):
    with pytest.raises(ValueError, match=message):
        seam_score(image, hole)


def test_sliced_wasserstein_orders_and_is_deterministic():
    rng = np.random.default_rng(0)
    a, b = stripes((96, 96), seed=1), stripes((96, 96), seed=2)
    noise = rng.normal(a.mean(), a.std(), a.shape)
    kw = dict(n_descriptors=1024, n_projections=64, n_repeats=1, levels=2)
    same = metrics.sliced_wasserstein(a, b, **kw)
    other = metrics.sliced_wasserstein(a, noise, **kw)
    assert len(same["levels"]) == 2 and same["mean"] == pytest.approx(np.mean(same["levels"]))
    assert same["mean"] < other["mean"] / 3
    assert metrics.sliced_wasserstein(a, noise, **kw) == other
    floor = metrics.sliced_wasserstein_floor(a, **kw)
    assert floor["mean"] < other["mean"] / 3
    with pytest.raises(ng.InputError, match="too small"):
        metrics.sliced_wasserstein(a[:20, :20], b, levels=3)


def test_memorisation_flags_copies_and_diversity():
    texture = stripes((96, 96), seed=3)
    rng = np.random.default_rng(0)
    copied = metrics.memorisation_distance(texture[:48, :48], texture, n_patches=200)
    fresh = metrics.memorisation_distance(stripes((48, 48), seed=9), texture, n_patches=200)
    noise = metrics.memorisation_distance(rng.normal(100, 35, (48, 48)), texture, n_patches=200)
    assert copied["generated"] < 1e-6 and copied["copied_fraction"] == 1.0
    assert fresh["copied_fraction"] < 0.2 and fresh["ratio"] > 0.5
    assert noise["ratio"] > fresh["ratio"]
    stack = blobs_stack(n=8)
    assert metrics.diversity(np.repeat(stack[:1], 4, 0)) == 0.0
    assert 0.5 < metrics.diversity(stack) < 1.5


def test_lattice_strength_flags_a_periodic_artefact():
    """A faint 8 px lattice (a texture generator's upsampling artefact) on a random
    texture stands out at period 8 only; the texture alone scores like real data."""
    rng = np.random.default_rng(0)
    texture = ndi.gaussian_filter(rng.normal(size=(2, 160, 200)), (0, 1.5, 1.5))
    yy, xx = np.mgrid[:160, :200]
    dots = ((yy % 8 < 2) & (xx % 8 < 2)).astype(float)
    lattice = texture + 0.05 * texture.std() * dots
    clean = metrics.lattice_strength(texture, 8)
    assert clean < 4
    assert metrics.lattice_strength(lattice, 8) > 5 * clean
    assert metrics.lattice_strength(lattice, 7) < 4  # a lattice of another period is not this one
    rgb = np.stack([lattice[0]] * 3, -1)
    assert metrics.lattice_strength(rgb, 8, channel_axis=-1) == pytest.approx(metrics.lattice_strength(lattice[0], 8))
    with pytest.raises(ng.InputError, match="too small"):
        metrics.lattice_strength(texture[:, :20], 8)
    with pytest.raises(ng.InputError, match="period"):
        metrics.lattice_strength(texture, 1)
