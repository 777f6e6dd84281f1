"""Denoiser through the public API: shapes, dtypes, learning, stopping, errors, files."""

import dataclasses

import dask.array as da
import numpy as np
import pytest
import torch

import napari_gan as ng
from napari_gan.core.tasks.denoise import _blind_spot_mask, _neighbor_pairs

FAST = dict(patch_size=32, batch_size=4, features=8, depth=2, pretrained=False)


def _noisy(shape, sigma=0.15, seed=0):
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[: shape[-2], : shape[-1]]
    clean = 0.5 + 0.3 * np.sin(xx / 5.0) * np.cos(yy / 7.0)
    clean = np.broadcast_to(clean, shape).astype(np.float32)
    return clean, (clean + rng.normal(0, sigma, shape)).astype(np.float32)


@pytest.mark.parametrize(
    "shape, dtype, axes",
    [
        ((48, 56), np.uint8, None),
        ((48, 56), np.uint16, "YX"),
        ((40, 48, 3), np.float32, None),  # RGB-like -> YXC
        ((3, 40, 40), np.float64, None),  # stack -> SYX
        ((2, 40, 40), np.float32, "TYX"),
        ((12, 32, 32), np.float32, "ZYX"),  # 3D network
    ],
)
def test_predict_shape_and_dtype(shape, dtype, axes):
    _, noisy = _noisy(shape)
    if np.dtype(dtype).kind == "u":
        noisy = (np.clip(noisy, 0, 1) * np.iinfo(dtype).max).astype(dtype)
    else:
        noisy = noisy.astype(dtype)
    den = ng.Denoiser(**FAST).fit(noisy, axes=axes, max_steps=2, seed=0)
    out = den.predict(noisy)
    assert out.shape == noisy.shape
    assert out.dtype == np.float32
    assert np.isfinite(out).all()
    # output stays in the input's intensity units
    assert abs(float(out.mean()) - float(noisy.mean())) < 0.2 * float(np.ptp(noisy))


def test_three_d_axes_builds_three_d_network():
    _, noisy = _noisy((12, 32, 32))
    den = ng.Denoiser(**FAST).fit(noisy, axes="ZYX", max_steps=1)
    assert den.net.config.dims == 3
    den2 = ng.Denoiser(**FAST).fit(noisy, max_steps=1)  # default: frames
    assert den2.net.config.dims == 2


def test_fit_iter_records_and_stop_keeps_weights():
    _, noisy = _noisy((64, 64))
    den = ng.Denoiser(**FAST)
    it = den.fit_iter(noisy, max_steps=50, seed=0)
    records = []
    for rec in it:
        records.append(rec)
        if rec.step == 5:
            break  # a script stops by leaving the loop
    assert [r.step for r in records] == [1, 2, 3, 4, 5]
    assert all(r.total == 50 and "loss" in r.losses and r.elapsed >= 0 for r in records)
    assert all(np.isfinite(r.losses["loss"]) for r in records)
    assert den.is_fitted and den.steps_trained == 5
    with pytest.raises(dataclasses.FrozenInstanceError):
        records[0].step = 3  # records are frozen
    # continuing training resumes from the same weights
    before = {k: v.clone() for k, v in den.net.state_dict().items()}
    den.fit(noisy, max_steps=2)
    assert den.steps_trained == 7
    assert [h["step"] for h in den.history] == list(range(1, 8))  # one continuous curve
    assert any(not torch.equal(before[k], v) for k, v in den.net.state_dict().items())


def test_time_limit_ends_training_early():
    _, noisy = _noisy((64, 64))
    den = ng.Denoiser(**FAST)
    steps = [r.step for r in den.fit_iter(noisy, max_steps=100_000, time_limit=0.5)]
    assert 1 <= len(steps) < 100_000


def test_no_step_limit_trains_until_the_time_limit():
    _, noisy = _noisy((64, 64))
    den = ng.Denoiser(**FAST)
    records = list(den.fit_iter(noisy, max_steps=None, time_limit=1.0))
    assert records[-1].elapsed >= 1.0 and all(r.by_time for r in records)
    assert records[-1].step == len(records) == den.steps_trained
    with pytest.raises(ValueError, match="needs a time_limit"):
        next(ng.Denoiser(**FAST).fit_iter(noisy, max_steps=None))
    for bad in (0, -3, True, 2.5, "10"):
        with pytest.raises(ValueError, match="max_steps must be a positive integer"):
            next(ng.Denoiser(**FAST).fit_iter(noisy, max_steps=bad))


def test_same_seed_same_model():
    _, noisy = _noisy((64, 64))
    a = ng.Denoiser(**FAST).fit(noisy, max_steps=3, seed=1).predict(noisy)
    b = ng.Denoiser(**FAST).fit(noisy, max_steps=3, seed=1).predict(noisy)
    np.testing.assert_array_equal(a, b)


@pytest.mark.parametrize("method", ["neighbor2neighbor", "n2v2"])
def test_self_supervised_improves_over_noisy(method):
    clean, noisy = _noisy((96, 96), sigma=0.2)
    den = ng.Denoiser(**{**FAST, "features": 16}, self_supervised=method)
    den.fit(noisy, max_steps=150, seed=0)
    out = den.predict(noisy)
    assert ng.metrics.psnr(clean, out, data_range=1) > ng.metrics.psnr(clean, noisy, data_range=1) + 3


def test_supervised_improves_over_noisy():
    clean, noisy = _noisy((96, 96), sigma=0.2)
    den = ng.Denoiser(**{**FAST, "features": 16}).fit(noisy, target=clean, max_steps=100, seed=0)
    assert den.mode == "supervised"
    # measured on a new noise realisation, not the training one
    _, noisy2 = _noisy((96, 96), sigma=0.2, seed=5)
    gain = ng.metrics.psnr(clean, den.predict(noisy2), data_range=1) - ng.metrics.psnr(clean, noisy2, data_range=1)
    assert gain > 4


def test_supervised_model_continues_self_supervised_on_a_new_image():
    """Train on pairs, then adapt to the image to denoise without its clean version:
    the second fit continues from the supervised weights (one training curve)."""
    clean, noisy = _noisy((96, 96), sigma=0.2)
    den = ng.Denoiser(**{**FAST, "features": 16}).fit(noisy, target=clean, max_steps=20, seed=0)
    supervised = {k: v.clone() for k, v in den.net.state_dict().items()}
    _, other = _noisy((80, 88), sigma=0.2, seed=3)
    den.fit(other, max_steps=1, seed=0)
    assert den.mode == "neighbor2neighbor" and den.steps_trained == 21
    assert [h["step"] for h in den.history] == list(range(1, 22))
    moved = sum((v - supervised[k]).float().norm() ** 2 for k, v in den.net.state_dict().items()) ** 0.5
    size = sum(v.float().norm() ** 2 for v in supervised.values()) ** 0.5
    assert 0 < moved < 0.05 * size  # one small step from the supervised weights, not a new network


def test_save_load_round_trip(tmp_path):
    _, noisy = _noisy((64, 64))
    den = ng.Denoiser(**FAST).fit(noisy, max_steps=3)
    path = den.save(tmp_path / "den.ngan")
    loaded = ng.load_model(path)
    assert isinstance(loaded, ng.Denoiser)
    assert loaded.config == den.config and loaded.axes == den.axes and loaded.mode == den.mode
    assert loaded.steps_trained == 3 and len(loaded.history) == 3
    np.testing.assert_allclose(loaded.predict(noisy), den.predict(noisy), atol=1e-5)
    assert ng.Denoiser.load(path).is_fitted


def test_bad_checkpoints_raise_clear_errors(tmp_path):
    _, noisy = _noisy((64, 64))
    good = ng.Denoiser(**FAST).fit(noisy, max_steps=1).save(tmp_path / "good.ngan")
    junk = tmp_path / "junk.ngan"
    junk.write_bytes(b"this is not a model" * 10)
    with pytest.raises(ng.CheckpointError, match="not a napari-gan checkpoint"):
        ng.load_model(junk)
    truncated = tmp_path / "trunc.ngan"
    truncated.write_bytes(good.read_bytes()[: good.stat().st_size // 2])
    with pytest.raises(ng.CheckpointError, match="truncated|damaged"):
        ng.load_model(truncated)
    from safetensors.torch import save_file

    foreign = tmp_path / "foreign.safetensors"
    save_file({"w": torch.zeros(2)}, str(foreign))
    with pytest.raises(ng.CheckpointError, match="not a napari-gan checkpoint"):
        ng.load_model(foreign)
    with pytest.raises(ng.CheckpointError, match="does not exist"):
        ng.load_model(tmp_path / "missing.ngan")
    # a checkpoint of another model kind
    from napari_gan.core.io import read_header, save_checkpoint

    other = tmp_path / "other.ngan"
    header = read_header(good)
    header["kind"] = "Segmenter"
    save_checkpoint(other, {"w": torch.zeros(1)}, {k: v for k, v in header.items() if k != "format"})
    with pytest.raises(ng.CheckpointError, match="Segmenter"):
        ng.Denoiser.load(other)


@pytest.mark.parametrize(
    "image, message",
    [
        (np.full((64, 64), 7, np.uint8), "constant"),
        (np.zeros((0, 64), np.float32), "empty"),
        (np.ones((64, 64), np.complex64), "dtype"),
        (np.ones((64, 64), bool), "dtype"),
        (np.random.rand(12, 12).astype(np.float32), "smaller than the training patch"),
    ],
)
def test_bad_images_are_refused(image, message):
    with pytest.raises(ng.InputError, match=message):
        ng.Denoiser(**FAST).fit_iter(image, max_steps=1)


def test_nan_and_target_shape_refused():
    _, noisy = _noisy((64, 64))
    bad = noisy.copy()
    bad[3, 4] = np.nan
    with pytest.raises(ng.InputError, match="NaN"):
        ng.Denoiser(**FAST).fit_iter(bad)
    bad[3, 4] = np.inf
    with pytest.raises(ng.InputError, match="NaN or infinite"):
        ng.Denoiser(**FAST).fit_iter(bad)
    with pytest.raises(ng.InputError, match="target has shape"):
        ng.Denoiser(**FAST).fit_iter(noisy, target=noisy[:32])
    with pytest.raises(ng.InputError, match="axes"):
        ng.Denoiser(**FAST).fit_iter(noisy, axes="ZYX")
    with pytest.raises(ValueError, match="max_steps"):
        ng.Denoiser(**FAST).fit_iter(noisy, max_steps=0)
    with pytest.raises(ValueError, match="self_supervised"):
        ng.Denoiser(self_supervised="magic")


def test_predict_errors():
    _, noisy = _noisy((64, 64))
    with pytest.raises(RuntimeError, match="not been trained"):
        ng.Denoiser().predict(noisy)
    den = ng.Denoiser(**FAST).fit(noisy, max_steps=1)
    with pytest.raises(ng.InputError, match="channel"):
        den.predict(np.zeros((64, 64, 3), np.float32) + np.arange(3))
    with pytest.raises(ng.InputError, match="3D"):
        den.predict(noisy[None].repeat(8, 0), axes="ZYX")


def test_blind_spot_never_replaces_pixel_with_itself():
    gen = torch.Generator().manual_seed(0)
    x = torch.arange(2 * 1 * 30 * 30, dtype=torch.float32).reshape(2, 1, 30, 30)  # all values distinct
    xm, mask = _blind_spot_mask(x, gen)
    assert mask.sum() == 2 * 25  # one pixel per 6x6 cell
    assert (xm[mask] != x[mask]).all()
    assert torch.equal(xm[~mask], x[~mask])


def test_neighbor_pairs_are_adjacent_pixels():
    gen = torch.Generator().manual_seed(0)
    h = w = 8
    yy, xx = torch.meshgrid(torch.arange(h), torch.arange(w), indexing="ij")
    coords = torch.stack([yy, xx]).float()[None]  # (1, 2, H, W): each pixel's own coordinates
    g1, g2, _, _ = _neighbor_pairs(coords, gen)
    dist = (g1 - g2).abs().sum(1)  # Manhattan distance between the two picks per cell
    assert torch.equal(dist, torch.ones_like(dist))
    assert torch.equal(torch.div(g1, 2, rounding_mode="floor"), torch.div(g2, 2, rounding_mode="floor"))


def test_test_time_augmentation_averages_the_eight_symmetries_and_helps():
    from skimage import data

    model = ng.Denoiser.generic()
    clean = data.coins()[:96, :128].astype(np.float32)
    noisy = (clean + np.random.default_rng(0).normal(0, 25, clean.shape)).astype(np.float32)
    plain, tta = model.predict(noisy), model.predict(noisy, tta=True)
    assert tta.shape == noisy.shape and tta.dtype == np.float32
    # one tile covers the image: the same as averaging predictions on the rotated/flipped image
    manual = np.mean(
        [
            np.rot90(model.predict(np.ascontiguousarray(np.rot90(noisy, k)[:, ::f])).copy()[:, ::f], -k)
            for k in range(4)
            for f in (1, -1)
        ],
        axis=0,
    )
    np.testing.assert_allclose(tta, manual, atol=1e-3)

    def psnr(x):
        return 10 * np.log10(255**2 / np.mean((x - clean) ** 2))

    assert psnr(tta) > psnr(plain) + 0.05 > psnr(noisy) + 5


def test_predict_dask_input_matches_numpy():
    da = pytest.importorskip("dask.array")
    _, noisy = _noisy((100, 140))
    den = ng.Denoiser(**FAST).fit(noisy, max_steps=2)
    lazy = da.from_array(noisy, chunks=(50, 70))
    np.testing.assert_allclose(den.predict(lazy), den.predict(noisy), atol=1e-4)
    # fit accepts dask arrays too
    ng.Denoiser(**FAST).fit(lazy, max_steps=1)


def test_predict_zarr_input_reads_lazily(tmp_path):
    zarr = pytest.importorskip("zarr")
    _, noisy = _noisy((96, 128))
    den = ng.Denoiser(**FAST).fit(noisy, max_steps=2)
    z = zarr.open(str(tmp_path / "img.zarr"), mode="w", shape=noisy.shape, chunks=(32, 32), dtype="f4")
    z[:] = noisy
    np.testing.assert_allclose(den.predict(z), den.predict(noisy), atol=1e-4)


@pytest.mark.parametrize("dtype", [np.uint8, np.uint16])
def test_integer_images_can_come_back_in_their_own_dtype(dtype):
    rng = np.random.default_rng(0)
    top = np.iinfo(dtype).max
    img = (top * (0.5 + 0.45 * rng.uniform(-1, 1, (64, 64)))).astype(dtype)
    img[:4, :4] = top  # values at the top of the range must clip, not wrap
    den = ng.Denoiser(patch_size=32, batch_size=2, features=8, pretrained=False).fit(img, max_steps=2, seed=0)
    as_float = den.predict(img)
    same = den.predict(img, dtype="input")
    assert as_float.dtype == np.float32 and same.dtype == dtype and same.shape == img.shape
    np.testing.assert_array_equal(same, np.clip(np.round(as_float), 0, top).astype(dtype))
    assert den.predict(img, dtype=np.uint16).dtype == np.uint16
    lazy = den.predict(da.from_array(img, chunks=32), dtype="input")
    assert isinstance(lazy, da.Array) and lazy.dtype == dtype
    assert den.predict(img.astype(np.float32), dtype="input").dtype == np.float32  # float stays float32
    with pytest.raises(ng.InputError, match="dtype"):
        den.predict(img, dtype="complex64")
    with pytest.raises(ng.InputError, match="not a dtype"):
        den.predict(img, dtype="uint7")
