"""ImageGAN in samples mode (one DCGAN, or coarse to fine), and the options and
checkpoint checks both modes share, on tiny networks for a few steps. Texture mode:
tests/test_core_texture.py."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
import torch
from gan_data import TINY, blobs_stack, stripes

import napari_gan as ng
from napari_gan.core.tasks import _gan_losses as gan_losses
from napari_gan.core.tasks import generate as generate_module


@pytest.fixture(scope="module")
def samples_gan():
    return ng.ImageGAN(**TINY).fit(blobs_stack(), max_steps=3, seed=0)


def test_samples_shapes_range_and_loss_record(samples_gan):
    gan = samples_gan
    out = gan.generate(5, seed=0)
    assert out.shape == (5, 20, 20) and out.dtype == np.float32
    # de-normalised to the data's range (40..220), not [-1, 1]
    assert out.min() >= 40 - 1e-3 and out.max() <= 220 + 1e-3
    assert gan.steps_trained == 3 and gan.net_config.size == 32
    assert [h["step"] for h in gan.history] == [1, 2, 3]
    assert all({"g", "d"} <= set(h) and np.isfinite(h["g"]) and np.isfinite(h["d"]) for h in gan.history)
    assert set(gan.net.keys()) == {"generator", "generator_ema", "discriminator"}


def test_samples_deterministic_for_a_seed(samples_gan):
    again = ng.ImageGAN(**TINY).fit(blobs_stack(), max_steps=3, seed=0)
    np.testing.assert_array_equal(again.generate(4, seed=3), samples_gan.generate(4, seed=3))
    assert not np.array_equal(samples_gan.generate(4, seed=3), samples_gan.generate(4, seed=4))
    walk = samples_gan.interpolate(5, seed_a=3, seed_b=4)
    assert walk.shape == (5, 20, 20)
    np.testing.assert_allclose(walk[0], samples_gan.generate(1, seed=3)[0], atol=1e-4)
    np.testing.assert_allclose(walk[-1], samples_gan.generate(1, seed=4)[0], atol=1e-4)


def test_differentiable_augmentation_is_deterministic_and_changes_training():
    """DiffAugment (off by default) draws from torch's global generator: still
    deterministic for a seed, and it does change what is learned."""
    runs = [ng.ImageGAN(**TINY, augment=True).fit(blobs_stack(), max_steps=3, seed=0) for _ in range(2)]
    np.testing.assert_array_equal(runs[0].generate(4, seed=3), runs[1].generate(4, seed=3))
    plain = ng.ImageGAN(**TINY, augment=False).fit(blobs_stack(), max_steps=3, seed=0)
    assert runs[0].augment is True and plain.augment is False
    assert not np.array_equal(runs[0].generate(4, seed=3), plain.generate(4, seed=3))
    # adaptive augmentation starts at probability 0: a short run is the plain one
    adaptive = ng.ImageGAN(**TINY, augment="adaptive").fit(blobs_stack(), max_steps=3, seed=0)
    assert adaptive.augment == "adaptive" and adaptive.augment_probability == 0.0
    np.testing.assert_array_equal(adaptive.generate(4, seed=3), plain.generate(4, seed=3))
    x = torch.linspace(-1, 1, 2 * 16 * 16).reshape(2, 1, 16, 16)
    torch.manual_seed(0)
    y = gan_losses.diff_augment(x)
    # every image loses a cutout box of a quarter of its area (at least a quarter of it inside)
    assert y.shape == x.shape and ((y == 0).float().mean(dim=(1, 2, 3)) >= 1 / 16).all()


def test_adaptive_augmentation_follows_the_discriminator_and_is_kept(monkeypatch, tmp_path):
    """The augmentation probability rises while the discriminator is sure of the
    training images, is saved with the model and continues in a resumed run."""
    ada = gan_losses.AdaptiveAugment
    monkeypatch.setattr(ada, "SPEED", 64)  # 4 steps of 4 images: +-0.25
    monkeypatch.setattr(ada, "TARGET", -1.0)  # every discriminator counts as overfitting
    adaptive_options = dict(TINY, augment="adaptive")
    whole = ng.ImageGAN(**adaptive_options).fit(blobs_stack(), max_steps=8, seed=1)
    assert whole.augment_probability == pytest.approx(0.5)
    plain = ng.ImageGAN(**TINY).fit(blobs_stack(), max_steps=8, seed=1)
    assert plain.augment_probability is None
    assert not np.array_equal(whole.generate(2, seed=0), plain.generate(2, seed=0))  # it augmented

    first = ng.ImageGAN(**adaptive_options)
    it = first.fit_iter(blobs_stack(), max_steps=8, seed=1)
    for _ in range(5):
        next(it)
    it.close()
    assert first.augment_probability == pytest.approx(0.25)
    resumed = ng.load_model(first.save_training_state(tmp_path / "run.state"))
    assert resumed.augment_probability == pytest.approx(0.25)
    resumed.fit(blobs_stack(), max_steps=8, seed=1, resume=True)
    assert resumed.augment_probability == pytest.approx(0.5)
    np.testing.assert_allclose(resumed.generate(2, seed=0), whole.generate(2, seed=0), rtol=1e-4, atol=1e-5)
    again = ng.load_model(whole.save(tmp_path / "gan.ngan"))
    assert again.augment_probability == pytest.approx(0.5)

    monkeypatch.setattr(ada, "TARGET", 2.0)  # never overfitting: the probability stays at 0
    assert ng.ImageGAN(**adaptive_options).fit(blobs_stack(), max_steps=8, seed=1).augment_probability == 0.0
    with pytest.raises(ValueError, match="augment must be"):
        ng.ImageGAN(augment="sometimes")


def test_samples_learn_with_the_patch_statistics_loss_by_default(samples_gan):
    """Samples learnt by one DCGAN also minimise the patch-statistics loss (it holds
    their contrast over a long run); ``patch_loss=0`` is the discriminator alone."""
    assert samples_gan.config.patch_loss is None  # chosen by the data
    assert all(h["patch"] > 0 for h in samples_gan.history)
    off = ng.ImageGAN(**TINY, patch_loss=0).fit(blobs_stack(), max_steps=3, seed=0)
    assert all("patch" not in h for h in off.history)
    assert not np.array_equal(off.generate(4, seed=3), samples_gan.generate(4, seed=3))
    on = ng.ImageGAN(**TINY, patch_loss=1).fit(blobs_stack(), max_steps=3, seed=0)
    np.testing.assert_array_equal(on.generate(4, seed=3), samples_gan.generate(4, seed=3))  # the default is 1


def test_class_conditional_samples_learn_without_the_patch_loss_unless_asked(tmp_path):
    """With classes the default leaves the patch-statistics loss off (on object crops
    it lowered the asked class's share); an explicit weight still turns it on, and a
    saved and continued model keeps choosing the same way."""
    stack, classes = blobs_stack(n=6), ["a", "b"] * 3
    gan = ng.ImageGAN(**TINY).fit(stack, classes=classes, max_steps=2, seed=0)
    assert gan.config.patch_loss is None and all("patch" not in h for h in gan.history)
    gan.save(tmp_path / "c.ngan")
    again = ng.load_model(tmp_path / "c.ngan").fit(stack, classes=classes, max_steps=2, seed=1)
    assert again.config.patch_loss is None and all("patch" not in h for h in again.history)
    asked = ng.ImageGAN(**TINY, patch_loss=0.5).fit(stack, classes=classes, max_steps=2, seed=0)
    assert all(h["patch"] > 0 for h in asked.history)
    with pytest.raises(ValueError, match="patch_loss must be None or"):
        ng.ImageGAN(patch_loss=-1)


def test_models_saved_with_the_old_default_continue_as_they_were_trained(tmp_path):
    """Before 2026-12-07 every config stored ``patch_loss=1`` and samples mode ignored
    it: such a model's history has no patch term, and loading it gives the data's
    default back, so a class-conditional one continues without the loss. A model that
    did learn with the loss keeps it."""
    stack, classes = blobs_stack(n=6), ["a", "b"] * 3
    old = ng.ImageGAN(**TINY, patch_loss=0).fit(stack, classes=classes, max_steps=2, seed=0)
    old.config = dataclasses.replace(old.config, patch_loss=1.0)  # what the old default saved
    old.save(tmp_path / "old.ngan")
    loaded = ng.load_model(tmp_path / "old.ngan")
    assert loaded.config.patch_loss is None
    assert all("patch" not in h for h in loaded.fit(stack, classes=classes, max_steps=2, seed=1).history)
    ng.ImageGAN(**TINY, patch_loss=1.0).fit(stack, classes=classes, max_steps=2, seed=0).save(tmp_path / "new.ngan")
    assert ng.load_model(tmp_path / "new.ngan").config.patch_loss == 1.0


def test_rgb_list_and_class_conditional():
    stack = blobs_stack(n=6, size=24, channels=3)
    gan = ng.ImageGAN(**TINY).fit(list(stack), classes=["a", "b"] * 3, max_steps=2)
    out = gan.generate(3, seed=0, classes="b")
    assert out.shape == (3, 24, 24, 3) and out.dtype == np.float32
    assert gan.generate(2, classes=["a", "b"]).shape == (2, 24, 24, 3)
    with pytest.raises(ng.InputError, match="unknown class"):
        gan.generate(1, classes="c")
    with pytest.raises(ng.InputError, match="one label per image"):
        ng.ImageGAN(**TINY).fit(stack, classes=["a", "b"], max_steps=1)


def test_save_load_round_trip_and_continue(samples_gan, tmp_path):
    path = samples_gan.save(tmp_path / "gan.ngan")
    loaded = ng.load_model(path)
    assert isinstance(loaded, ng.ImageGAN) and loaded.mode == "samples"
    np.testing.assert_array_equal(loaded.generate(3, seed=1), samples_gan.generate(3, seed=1))
    # training continues on the loaded model: one history, discriminator kept
    loaded.fit(blobs_stack(), max_steps=2, seed=1)
    assert loaded.steps_trained == 5 and [h["step"] for h in loaded.history][-2:] == [4, 5]
    with pytest.raises(ng.InputError, match="Create a new ImageGAN"):
        loaded.fit(blobs_stack(size=24), max_steps=1)


def test_samples_are_learnt_at_their_own_size_and_old_checkpoints_still_load(samples_gan, tmp_path):
    """Images that fit the network are not resized (a round trip 25 -> 32 -> 25 px
    blurs them): the generator's output is cropped to their size, the discriminator
    sees that size; larger images are still resized; checkpoints from before the
    option (no height/width) load as resized models. (Larger images are made coarse to fine
    by default: test_samples_larger_than_32_pixels_are_made_coarse_to_fine.)"""
    cfg = samples_gan.net_config
    assert (cfg.size, cfg.image_shape) == (32, (20, 20))
    with torch.no_grad():
        out = samples_gan.net["generator_ema"](torch.zeros(2, cfg.latent))
    assert out.shape[-2:] == (20, 20)
    wide = ng.ImageGAN(**TINY).fit(np.random.default_rng(0).random((4, 20, 28)), max_steps=1)
    assert wide.net_config.image_shape == (20, 28) and wide.generate(2).shape == (2, 20, 28)
    big = ng.ImageGAN(**TINY, image_size=64).fit(np.random.default_rng(0).random((4, 50, 70)), max_steps=1)
    assert (big.net_config.size, big.net_config.height) == (64, 0) and big.generate(1).shape == (1, 50, 70)
    assert big.pyramid is None  # an explicit image_size: one DCGAN, as before coarse-to-fine samples
    with pytest.raises(ValueError, match="height and width"):
        generate_module.DCGANConfig(size=32, height=40, width=20)

    from napari_gan.core.io import load_checkpoint, save_checkpoint

    old = ng.ImageGAN(**TINY).fit(blobs_stack(), max_steps=1, seed=0)
    old.net_config = generate_module.DCGANConfig(size=32, latent=16, features=8)  # as built before: 32 x 32
    old.net = old._build(old.net_config)
    path = old.save(tmp_path / "old.ngan")
    tensors, header = load_checkpoint(path)
    del header["net_config"]["height"], header["net_config"]["width"]
    save_checkpoint(path, tensors, {k: v for k, v in header.items() if k not in ("format", "format_version")})
    loaded = ng.load_model(path)
    assert loaded.net_config.image_shape == (32, 32)
    np.testing.assert_array_equal(loaded.generate(2, seed=3), old.generate(2, seed=3))
    assert loaded.generate(2, seed=3).shape == (2, 20, 20)


def noisy_blobs(n=8, size=48, seed=0):
    """Discs on a dark background with pixel noise: detail at the finest octave."""
    rng = np.random.default_rng(seed)
    big = blobs_stack(n, size, seed=seed).astype(np.float32)
    return np.clip(big + rng.normal(0, 25, big.shape), 0, 255).astype(np.float32)


def fine_band(images):
    """Mean absolute value of the finest band (image minus its 2 x 2 mean, upsampled)."""
    x = torch.from_numpy(np.asarray(images, np.float32))[:, None]
    up = torch.nn.functional.interpolate(torch.nn.functional.avg_pool2d(x, 2), scale_factor=2, mode="bilinear")
    return float((x - up).abs().mean())


def test_samples_larger_than_32_pixels_are_made_coarse_to_fine(tmp_path):
    """Images over 32 px: a DCGAN learns them at a coarse scale (at most 16 px) and
    one detail network per octave doubles the resolution, so the generated images
    have the data's shape and range, the fine grain of the data (which plain
    upsampling of the coarse images lacks), and are the same for a seed, after a
    save and load, and however many are generated at once."""
    data = noisy_blobs()
    gan = ng.ImageGAN(**TINY).fit(data, max_steps=60, seed=0)
    assert gan.pyramid is not None and gan.pyramid.levels == 2
    assert (gan.net_config.size, gan.net_config.image_shape) == (16, (12, 12))
    out = gan.generate(6, seed=1)
    assert out.shape == (6, 48, 48) and out.dtype == np.float32
    assert data.min() - 1e-3 <= out.min() and out.max() <= data.max() + 1e-3
    np.testing.assert_allclose(gan.generate(3, seed=1), out[:3], atol=1e-3)
    assert not np.allclose(gan.generate(3, seed=2), out[:3])
    walk = gan.interpolate(4, seed_a=1, seed_b=2)
    np.testing.assert_allclose(walk[0], out[0], atol=1e-3)  # frame 0 is seed_a's image

    # the detail networks add the finest octave's grain; upsampling the coarse images does not
    gan._refresh_statistics("cpu")
    with torch.no_grad():
        coarse = gan.net["generator_ema"](gan._latents(6, 1))
        smooth = torch.nn.functional.interpolate(coarse, scale_factor=4, mode="bilinear")[:, 0].numpy()
    real, ours, plain = fine_band((data / 127.5) - 1), fine_band((out / 127.5) - 1), fine_band(smooth)
    assert abs(ours - real) < 0.5 * abs(plain - real), (real, ours, plain)

    path = gan.save(tmp_path / "pyramid.ngan")
    loaded = ng.load_model(path)
    assert loaded.pyramid == gan.pyramid
    np.testing.assert_array_equal(loaded.generate(6, seed=1), out)
    loaded.fit(data, max_steps=2, seed=1)  # continues with the same networks
    assert loaded.steps_trained == 62 and loaded.pyramid == gan.pyramid

    # other shapes: not square, colour, larger than 128 px (resized to fit 128, then back)
    rng = np.random.default_rng(0)
    for shape in [(6, 40, 33), (6, 36, 36, 3), (4, 150, 60)]:
        g = ng.ImageGAN(**TINY).fit(rng.random(shape).astype(np.float32), max_steps=1)
        assert g.generate(2).shape == (2, *shape[1:])
    assert ng.ImageGAN(**TINY).fit(rng.random((4, 150, 60)), max_steps=1).pyramid.work_shape == (128, 51)


def grain_classes(n=16, size=40, seed=0):
    """Two classes the coarse scales cannot tell apart: discs on a dark background,
    class "b" with pixel grain whose 2 x 2 means are zero (only the finest octave
    holds it), class "a" without."""
    rng = np.random.default_rng(seed)
    base = blobs_stack(n, size, seed=seed).astype(np.float32)
    noise = rng.normal(0, 40, base.shape).astype(np.float32)
    block_means = noise.reshape(n, size // 2, 2, size // 2, 2).mean(axis=(2, 4))
    grain = noise - np.repeat(np.repeat(block_means, 2, axis=1), 2, axis=2)
    names = ["a", "b"] * (n // 2)
    images = base + grain * np.array([name == "b" for name in names], np.float32)[:, None, None]
    return images, names


def test_conditional_samples_made_coarse_to_fine_get_the_detail_of_their_class(tmp_path):
    """A class-conditional GAN over 32 px tells its detail networks the class: where
    two classes differ only at the finest octave (which the coarse generator cannot
    hold), the asked class still gets its own detail."""
    data, names = grain_classes()
    # the margin below over the 0.3 asked, 2026-12-05: 0.91 / 0.94 (seeds 0 / 1) after 100
    # steps, 0.07 / 0.50 after 60
    gan = ng.ImageGAN(**TINY).fit(data, classes=names, max_steps=100, seed=0)
    assert gan.pyramid is not None and gan.pyramid.detail.n_classes == 2
    a, b = gan.generate(16, seed=1, classes="a"), gan.generate(16, seed=1, classes="b")
    real_a = fine_band(data[[n == "a" for n in names]])
    real_b = fine_band(data[[n == "b" for n in names]])
    assert fine_band(b) > fine_band(a) + 0.3 * (real_b - real_a), (fine_band(a), fine_band(b), real_a, real_b)
    loaded = ng.load_model(gan.save(tmp_path / "conditional.ngan"))
    np.testing.assert_array_equal(loaded.generate(4, seed=1, classes="b"), b[:4])
    with pytest.raises(ng.InputError, match="c"):
        gan.generate(1, classes="c")


def test_a_checkpoint_with_a_bad_pyramid_is_refused_before_anything_is_built(tmp_path):
    from napari_gan.core.io import load_checkpoint, save_checkpoint

    gan = ng.ImageGAN(**TINY).fit(noisy_blobs(n=4), max_steps=1, seed=0)
    path = gan.save(tmp_path / "p.ngan")
    tensors, header = load_checkpoint(path)
    detail = header["pyramid"]["detail"]
    for bad, match in [
        ({"levels": 9}, "levels"),
        ({"work_shape": [10**6, 48]}, "work_shape"),
        ({"x": 1}, "x"),
        ({"detail": {**detail, "n_classes": 10**9}}, "n_classes"),  # before any embedding is built
        ({"detail": {**detail, "n_classes": 3}}, "detail networks know 3 classes and the coarse generator 0"),
    ]:
        h = dict(header, pyramid={**header["pyramid"], **bad})
        save_checkpoint(path, tensors, {k: v for k, v in h.items() if k not in ("format", "format_version")})
        with pytest.raises(ng.CheckpointError, match=match):
            ng.load_model(path)


@pytest.mark.parametrize("mode", ["samples", "texture"])
def test_averaged_generator_has_batch_statistics_of_its_own(mode):
    """generator_ema averages the generator's weights; its batch-norm statistics must
    be those of its own activations (not the training generator's, which belong to
    other weights), else every feature is shifted and scaled when it generates."""
    if mode == "samples":
        gan = ng.ImageGAN(**TINY).fit(blobs_stack(), max_steps=4, seed=0)
        inputs = torch.randn(256, gan.net_config.latent, generator=torch.Generator().manual_seed(5))
    else:
        gan = ng.ImageGAN(mode="texture", features=4, crop_size=32, batch_size=2).fit(stripes(), max_steps=4, seed=0)
        c = gan.net_config
        inputs = torch.randn(16, c.noise_channels, 6, 6, generator=torch.Generator().manual_seed(5))
    first = gan.generate(2, seed=0)
    g = gan.net["generator_ema"]
    norms = [m for m in g.modules() if isinstance(m, torch.nn.BatchNorm2d)]
    seen = {}

    def record(module, args, output):
        seen[module] = (args[0].mean(dim=(0, 2, 3)), args[0].var(dim=(0, 2, 3)))

    hooks = [m.register_forward_hook(record) for m in norms]
    with torch.no_grad():
        g(inputs)
    for h in hooks:
        h.remove()
    for m in norms:
        mean, var = seen[m]
        assert torch.all((m.running_mean - mean).abs() <= 0.25 * var.sqrt() + 1e-4), m
        assert torch.all((m.running_var - var).abs() <= 0.25 * var + 1e-4), m
    # still deterministic, and unchanged by a second call
    np.testing.assert_array_equal(gan.generate(2, seed=0), first)


@pytest.mark.parametrize(
    ("mode", "data", "message"),
    [
        ("samples", np.zeros((1, 16, 16)) + np.eye(16), "several images"),
        ("samples", np.random.rand(16, 16), "texture"),
        ("samples", [np.random.rand(16, 16), np.random.rand(16, 18)], "different shapes"),
        ("samples", np.full((4, 16, 16), np.nan), "NaN"),
        ("samples", np.random.rand(2, 10, 16, 16), "3D volumes"),
        ("samples", np.ones((4, 16, 16)), "constant"),
        ("texture", np.random.rand(20, 64, 64), "volume or a stack"),
        ("texture", np.random.rand(40, 40), "smaller than the generator's training crop"),
        ("texture", np.where(np.eye(80) > 0, np.inf, 1.0), "infinite"),
    ],
)
def test_bad_input_is_refused(mode, data, message):
    with pytest.raises(ng.InputError, match=message):
        ng.ImageGAN(mode=mode, **TINY).fit(data, max_steps=1)


def test_generate_needs_training_and_checks_options(samples_gan):
    with pytest.raises(RuntimeError, match="not been trained"):
        ng.ImageGAN().generate(1)
    with pytest.raises(ng.InputError, match="positive integer"):
        samples_gan.generate(0)
    with pytest.raises(ng.InputError, match="without classes"):
        samples_gan.generate(1, classes="a")
    with pytest.raises(ng.InputError, match="texture mode"):
        samples_gan.generate(1, size=(64, 64))
    with pytest.raises(ValueError, match="mode"):
        ng.ImageGAN(mode="video")
