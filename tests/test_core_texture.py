"""ImageGAN in texture mode: any size without seams, the refinement with the
example's detail, the patch-statistics loss, old checkpoints; tiny networks for a
few steps."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from gan_data import stripes

import napari_gan as ng
from napari_gan.core import metrics
from napari_gan.core.tasks import _gan_losses as gan_losses
from napari_gan.core.tasks import _gan_texture as gan_texture
from napari_gan.core.tasks import generate as generate_module


@pytest.fixture(scope="module")
def texture_gan():
    return ng.ImageGAN(mode="texture", features=4, crop_size=32, batch_size=2).fit(stripes(), max_steps=3, seed=0)


def test_texture_any_size_seamless_tiles(texture_gan, monkeypatch, tmp_path):
    gan = texture_gan
    out = gan.generate(2, seed=0, size=(70, 150), refine=False)
    assert out.shape == (2, 70, 150) and out.dtype == np.float32
    assert gan.generate(1).shape == (1, 80, 96)  # default: the training image's size
    # tiles widened by the receptive field give the same texture as one pass (no seams)
    monkeypatch.setattr(gan_texture, "_TILE_CELLS", 4)
    np.testing.assert_allclose(gan.generate(2, seed=0, size=(70, 150), refine=False), out, rtol=1e-5, atol=1e-4)
    walk = gan.interpolate(3, 0, 5, size=(40, 40))  # the generator's own walk, unrefined
    assert walk.shape == (3, 40, 40)
    np.testing.assert_allclose(walk[0], gan.generate(1, seed=0, size=(40, 40), refine=False)[0], rtol=1e-5, atol=1e-4)
    loaded = ng.load_model(gan.save(tmp_path / "tex.ngan"))
    np.testing.assert_array_equal(loaded.generate(1, seed=2, size=64), gan.generate(1, seed=2, size=64))


def test_generated_texture_edges_are_made_like_its_middle(texture_gan, monkeypatch):
    """No output pixel's convolutions reach past the noise field into zero padding:
    a texture equals the middle of the texture of a wider field around its field.
    (With the one-cell margin of training crops, the outermost pixels came out
    brighter or darker than the rest and of another colour.)"""
    gan, cfg = texture_gan, texture_gan.net_config
    gan._refresh_statistics("cpu")
    g = gan.net["generator_ema"].eval()
    size, k, s = (40, 48), 2, cfg.stride  # k: cells more on each side of the wider field

    def middle_and_wide():
        cells = gan_texture.field_cells(size, cfg)
        gen = torch.Generator().manual_seed(0)
        field = torch.randn(1, cfg.noise_channels, *cells, generator=gen)
        wide = torch.randn(1, cfg.noise_channels, cells[0] + 2 * k, cells[1] + 2 * k, generator=gen)
        wide[..., k:-k, k:-k] = field
        with torch.no_grad():
            out = gan_texture.texture_pass(g, field, size, cfg, gan.channels, "cpu")
            wide_size = (size[0] + 2 * k * s, size[1] + 2 * k * s)
            big = gan_texture.texture_pass(g, wide, wide_size, cfg, gan.channels, "cpu")
        return out, big[..., k * s : k * s + size[0], k * s : k * s + size[1]]

    out, middle = middle_and_wide()
    assert out.shape == (1, 1, *size)
    np.testing.assert_allclose(out, middle, atol=1e-5)
    monkeypatch.setattr(gan_texture, "generation_margin", lambda config: gan_texture._MARGIN)
    out, middle = middle_and_wide()
    edge = np.abs(out - middle)
    assert edge[..., :s, :].max() > 1e-3  # the margin of training crops: padding reaches the edge


def test_texture_fine_noise_is_used_seeded_and_tiles_without_seams(texture_gan, monkeypatch, tmp_path):
    gan = ng.load_model(texture_gan.save(tmp_path / "fine.ngan"))  # a copy: the fixture stays as trained
    cfg = gan.net_config
    assert cfg.fine_noise == 1 and cfg.noise_channels == cfg.latent + 4 + 16 + 64
    g = gan.net["generator_ema"]
    with torch.no_grad():  # weights far from their zero start, so the fine noise matters
        for conv in g.noise_weights:
            conv.weight.normal_(0, 1.0)
    out = gan.generate(1, seed=0, size=(70, 150), refine=False)
    np.testing.assert_array_equal(gan.generate(1, seed=0, size=(70, 150), refine=False), out)  # deterministic
    # only the fine-noise channels differ -> a different texture: the generator uses them
    z = gan._latents(1, 0, gan._cells((70, 150))[1])
    z2 = z.clone()
    z2[:, cfg.latent :] = torch.randn(z2[:, cfg.latent :].shape, generator=torch.Generator().manual_seed(1))
    a, b = (gan._decode(v, None, (70, 150)) for v in (z, z2))
    np.testing.assert_array_equal(a, out)
    assert np.abs(a - b).mean() > 1e-3 * (gan.high - gan.low)
    monkeypatch.setattr(gan_texture, "_TILE_CELLS", 4)
    np.testing.assert_allclose(gan.generate(1, seed=0, size=(70, 150), refine=False), out, rtol=1e-5, atol=1e-4)


def _patch_nn(images, example, p=5):
    """Median RMS distance of the images' p x p patches to their nearest patch of example."""
    ex = np.lib.stride_tricks.sliding_window_view(example, (p, p)).reshape(-1, p * p)
    q = np.concatenate(
        [np.lib.stride_tricks.sliding_window_view(a, (p, p))[::3, ::3].reshape(-1, p * p) for a in images]
    )
    d = torch.cdist(torch.from_numpy(q.astype(np.float32)), torch.from_numpy(ex.astype(np.float32))).min(1).values
    return float(d.median()) / p


def test_texture_refinement_gives_the_example_detail_deterministically(texture_gan, tmp_path):
    """generate(refine=True), the default: the generator's layout, the example's
    patches. Its patches are near copies of the example's, where the barely trained
    generator's are not; same seed, same texture; saved models keep their example."""
    gan, example = texture_gan, stripes()
    assert gan.can_refine
    refined = gan.generate(2, seed=4, size=(48, 72))
    raw = gan.generate(2, seed=4, size=(48, 72), refine=False)
    assert refined.shape == raw.shape == (2, 48, 72) and refined.dtype == np.float32
    np.testing.assert_array_equal(gan.generate(2, seed=4, size=(48, 72)), refined)
    assert not np.array_equal(gan.generate(2, seed=5, size=(48, 72)), refined)
    assert example.min() - 1e-3 <= refined.min() and refined.max() <= example.max() + 1e-3
    assert _patch_nn(refined, example) < 0.5 * _patch_nn(raw, example)
    loaded = ng.load_model(gan.save(tmp_path / "refine.ngan"))
    assert loaded.can_refine
    np.testing.assert_array_equal(loaded.generate(2, seed=4, size=(48, 72)), refined)


def test_texture_refinement_reports_progress_as_it_goes(texture_gan):
    """A refined texture can take minutes: progress comes during each image's
    refinement (hundredths of an image), only forward, ends at the total, and does
    not change the result."""
    calls = []
    out = texture_gan.generate(2, seed=4, size=(48, 72), progress=lambda done, total: calls.append((done, total)))
    np.testing.assert_array_equal(out, texture_gan.generate(2, seed=4, size=(48, 72)))
    done = [d for d, _ in calls]
    assert {t for _, t in calls} == {200} and done[-1] == 200
    assert done == sorted(done) and len([d for d in done if d < 100]) >= 3  # several steps within the first image
    assert len(done) <= 2 * 100 + 2  # each hundredth once (the layout's matching runs hundreds of steps)
    plain = []
    texture_gan.generate(2, seed=4, size=(48, 72), refine=False, progress=lambda d, t: plain.append((d, t)))
    assert plain == [(1, 2), (2, 2)]


def test_a_refined_texture_too_large_for_memory_is_refused_before_it_starts(texture_gan, monkeypatch):
    """The refinement works in tiles (about 2 GB) plus the whole texture's arrays: a
    size this machine cannot refine is refused at once, naming refine=False; a large
    texture that fits is not refused for its area alone."""
    from napari_gan.core import data

    monkeypatch.setattr(data, "memory_bytes", lambda: 2 * 1024**3)  # a 2 GiB machine: 1 GiB allowed
    with pytest.raises(ng.InputError, match="refine=False"):
        texture_gan.generate(1, seed=0, size=(1024, 1024))
    assert texture_gan.generate(1, seed=0, size=(1024, 1024), refine=False).shape == (1, 1024, 1024)
    assert texture_gan.generate(1, seed=0, size=(96, 96)).shape == (1, 96, 96)  # small ones still refine
    monkeypatch.setattr(data, "memory_bytes", lambda: 16 * 1024**3)  # 8 GiB allowed
    asked = []
    monkeypatch.setattr(type(texture_gan), "_decode", lambda self, z, y, size, **kw: asked.append(size))
    texture_gan.generate(1, seed=0, size=(4096, 4096))  # 2.7 KB a pixel, untiled, would be 45 GB
    assert asked == [(4096, 4096)]
    with pytest.raises(ng.InputError, match="refine=False"):
        texture_gan.generate(1, seed=0, size=(12000, 12000))


def test_refined_textures_larger_than_a_tile_are_made_in_tiles(texture_gan, monkeypatch):
    """A refined texture larger than the synthesis's and the polish's tiles is made
    tile by tile: the same size, the example's range, the same texture for a seed."""
    from napari_gan.core import patchdist, patchsynth

    monkeypatch.setattr(patchsynth, "TILE", 64)
    monkeypatch.setattr(patchdist, "POLISH_TILE", 64)
    tiles = []
    real = patchsynth._synthesize_region
    monkeypatch.setattr(patchsynth, "_synthesize_region", lambda *a: tiles.append(1) or real(*a))
    out = texture_gan.generate(1, seed=2, size=(100, 120))
    assert out.shape == (1, 100, 120) and out.dtype == np.float32 and len(tiles) == 6
    example = stripes()
    assert example.min() - 1e-3 <= out.min() and out.max() <= example.max() + 1e-3
    np.testing.assert_array_equal(texture_gan.generate(1, seed=2, size=(100, 120)), out)


def test_texture_layout_is_reorganised_so_regular_rows_stay_straight(monkeypatch):
    """The default refinement reorganises the generator's layout by patch-distribution
    matching at a quarter of the size, and refine="example" makes one from the example
    alone. On horizontal bands, a regular pattern, both keep the rows straight (most of
    the variance is between rows) where the barely trained generator's layout, refined
    as it is (what outputs over LAYOUT_MAX get), breaks them; deterministic for a seed,
    in the example's range."""
    rng = np.random.default_rng(0)
    yy = np.mgrid[:128, :160][0]
    bands = (100 + 60 * (np.sin(2 * np.pi * yy / 32.0) > 0) + rng.normal(0, 5, yy.shape)).astype(np.float32)
    gan = ng.ImageGAN(mode="texture", features=4, crop_size=32, batch_size=2).fit(bands, max_steps=2, seed=0)

    def straight(image):
        return image.mean(1).var() / image.var()

    default = gan.generate(2, seed=3, size=(96, 96))
    from_example = gan.generate(2, seed=3, size=(96, 96), refine="example")
    monkeypatch.setattr(gan_texture, "LAYOUT_MAX", 95)  # 96 px is then too large to reorganise
    as_generated = gan.generate(2, seed=3, size=(96, 96))
    monkeypatch.undo()
    for out in (default, from_example):
        assert out.shape == (2, 96, 96) and out.dtype == np.float32
        assert bands.min() - 1e-3 <= out.min() and out.max() <= bands.max() + 1e-3
        assert min(map(straight, out)) > 0.65
        assert np.mean([straight(o) for o in out]) > np.mean([straight(o) for o in as_generated]) + 0.1
    assert not np.array_equal(default, from_example)  # the generator's layout is the default's start
    np.testing.assert_array_equal(gan.generate(2, seed=3, size=(96, 96)), default)
    np.testing.assert_array_equal(gan.generate(2, seed=3, size=(96, 96), refine="example"), from_example)
    with pytest.raises(ng.InputError, match="refine must be True, False or 'example'"):
        gan.generate(1, refine="layout")


def test_texture_model_without_its_example_generates_unrefined(texture_gan, tmp_path):
    """A texture model saved before the example was kept: refine=None falls back to
    the generator alone; asking for refine=True is a clear error."""
    gan = ng.load_model(texture_gan.save(tmp_path / "copy.ngan"))
    del gan.net["exemplar"]
    old = ng.load_model(gan.save(tmp_path / "old.ngan"))
    assert not old.can_refine
    np.testing.assert_array_equal(
        old.generate(1, seed=2, size=40), texture_gan.generate(1, seed=2, size=40, refine=False)
    )
    with pytest.raises(ng.InputError, match="refine=False"):
        old.generate(1, refine=True)


def test_texture_checkpoint_without_fine_noise_still_loads(tmp_path):
    """Texture models saved before fine noise existed have no such weights or setting."""
    from napari_gan.core.io import load_checkpoint, save_checkpoint

    gan = ng.ImageGAN(mode="texture", features=4, crop_size=32, batch_size=2).fit(stripes(), max_steps=1, seed=0)
    # the networks as an older version built them (same layers, no fine noise)
    gan.net_config = generate_module.TextureGANConfig(channels=1, features=4, fine_noise=0, upsample="nearest")
    gan.net = gan._build(gan.net_config)
    assert not any("noise_weights" in k for k in gan.net.state_dict())
    assert gan.net_config.noise_channels == gan.net_config.latent
    path = gan.save(tmp_path / "old.ngan")
    tensors, header = load_checkpoint(path)
    del header["net_config"]["fine_noise"], header["net_config"]["upsample"]
    save_checkpoint(path, tensors, {k: v for k, v in header.items() if k not in ("format", "format_version")})
    loaded = ng.load_model(path)
    assert loaded.net_config.fine_noise == 0 and loaded.net_config.upsample == "nearest"
    np.testing.assert_array_equal(
        loaded.generate(1, seed=3, size=48, refine=False), gan.generate(1, seed=3, size=48, refine=False)
    )


def test_patch_statistics_loss_ranks_textures_and_can_be_minimised():
    """The texture generator's patch-statistics loss: the metric's Laplacian pyramid,
    lowest for the source's own patches, and a working objective (descent lowers it)."""
    src = stripes((96, 96), seed=4)
    x = torch.from_numpy((src - src.mean()) / src.std())[None]
    # the same bands as the benchmark metric (numpy) away from the border
    bands = gan_losses._laplacian_t(x[None].double(), 3)
    ref = metrics._laplacian_pyramid(x[0].double().numpy(), 3)
    for b, r in zip(bands, ref):
        np.testing.assert_allclose(b[0, 0, 8:-8, 8:-8].numpy(), r[8:-8, 8:-8], atol=1e-9)
    # source patches (gathered) and generated ones (unfolded) share one layout
    rgb = torch.rand(2, 3, 12, 13, generator=torch.Generator().manual_seed(0))
    gathered = gan_losses._random_patches(rgb, 50, 5, torch.Generator().manual_seed(1))
    unfolded = gan_losses._some_patches(rgb, 10**6, 5, torch.Generator().manual_seed(1))
    assert unfolded.shape == (2 * 8 * 9, 75)
    exact = torch.cdist(gathered, unfolded, compute_mode="donot_use_mm_for_euclid_dist")
    assert exact.min(dim=1).values.max() < 1e-6
    stats = gan_losses._PatchStatistics(x, levels=2, patch=5, flip=True, samples=1024, projections=32)

    def loss(img, seed=0):
        return float(stats(img, torch.Generator().manual_seed(seed)))

    crops = torch.stack([x[:, :48, :48], x[:, 48:, 48:]])
    noise = torch.randn(2, 1, 48, 48, generator=torch.Generator().manual_seed(0))
    # the source's own patches score lowest; a wrong orientation, a wrong contrast and
    # white noise score higher, in that order
    assert loss(crops) < loss(crops.transpose(-1, -2)) / 1.5
    assert loss(crops.transpose(-1, -2)) < loss(crops * 1.5) < loss(noise) / 5
    # gradient descent on the pixels of noise makes its patches more like the source's
    img = noise.clone().requires_grad_(True)
    opt = torch.optim.Adam([img], lr=0.05)
    for i in range(60):
        value = stats(img, torch.Generator().manual_seed(i))
        opt.zero_grad()
        value.backward()
        opt.step()
    assert loss(img.detach()) < loss(noise) / 3


def test_texture_training_with_patch_statistics_is_recorded_and_deterministic():
    def fit(seed):
        gan = ng.ImageGAN(mode="texture", features=4, crop_size=32, batch_size=2, patch_loss=1.0)
        return gan.fit(stripes(), max_steps=3, seed=seed)

    a, b = fit(0), fit(0)
    assert all(np.isfinite(h["patch"]) and h["patch"] > 0 for h in a.history) and len(a.history) == 3
    np.testing.assert_array_equal(a.generate(1, seed=1), b.generate(1, seed=1))
    rgb = np.stack([stripes(), stripes(seed=1)[:, ::-1], stripes((96, 80), seed=2).T], -1)
    colour = ng.ImageGAN(mode="texture", features=4, crop_size=32, batch_size=2).fit(rgb, max_steps=2, seed=0)
    assert colour.config.patch_loss is None and all(h["patch"] > 0 for h in colour.history)  # on by default
    assert colour.generate(1, seed=0, size=(40, 56)).shape == (1, 40, 56, 3)
    off = ng.ImageGAN(mode="texture", features=4, crop_size=32, batch_size=2, patch_loss=0).fit(stripes(), max_steps=3)
    assert all("patch" not in h for h in off.history)
    for bad in (-1.0, float("nan"), float("inf"), "1"):
        with pytest.raises(ValueError, match="patch_loss"):
            ng.ImageGAN(mode="texture", patch_loss=bad)


def test_texture_generator_upsampling_option():
    cfg = generate_module.TextureGANConfig()
    assert cfg.upsample == "bilinear"
    # bilinear upsampling reaches one coarse pixel further per level: a wider tile halo
    assert cfg.noise_halo > generate_module.TextureGANConfig(upsample="nearest").noise_halo
    with pytest.raises(ValueError, match="upsample"):
        generate_module.TextureGANConfig(upsample="cubic")
