"""``napari-gan generate MODEL OUTPUT``: a saved GAN's samples and textures written to
.npy, .tif and zarr, the same as ``ImageGAN.generate``; bad options refused in one
line before anything is generated."""

from __future__ import annotations

import numpy as np
import pytest
import tifffile

import napari_gan as ng
from napari_gan.__main__ import main
from napari_gan.core.run.generate import parse_size


@pytest.fixture(scope="module")
def saved(tmp_path_factory):
    """Paths of a tiny class-conditional samples GAN and a texture GAN, saved."""
    folder = tmp_path_factory.mktemp("gans")
    rng = np.random.default_rng(0)
    stack = rng.integers(0, 255, (6, 16, 16)).astype(np.uint8)
    samples = ng.ImageGAN(features=8, latent=16, batch_size=4)
    samples.fit(stack, classes=["a", "b"] * 3, max_steps=2, seed=0)
    yy, xx = np.mgrid[:80, :96]
    stripes = (100 + 50 * np.sin(xx / 3.0 + yy / 5.0) + rng.normal(0, 5, (80, 96))).astype(np.float32)
    texture = ng.ImageGAN(mode="texture", features=4, crop_size=32, batch_size=2).fit(stripes, max_steps=2, seed=0)
    return {"samples": samples.save(folder / "samples.ngan"), "texture": texture.save(folder / "texture.ngan")}


def test_samples_to_npy_and_tif_equal_the_python_api(saved, tmp_path):
    gan = ng.load_model(saved["samples"])
    out = tmp_path / "samples.npy"
    assert main(["generate", str(saved["samples"]), str(out), "--count", "3", "--seed", "5", "--class", "b"]) == 0
    np.testing.assert_array_equal(np.load(out), gan.generate(3, seed=5, classes="b"))
    tif = tmp_path / "samples.tif"
    assert main(["generate", str(saved["samples"]), str(tif)]) == 0  # 16 by default, seed 0
    images = tifffile.imread(tif)
    assert images.shape == (16, 16, 16) and images.dtype == np.float32
    np.testing.assert_array_equal(images, gan.generate(16, seed=0))


def test_a_texture_of_any_size_with_each_detail(saved, tmp_path):
    gan = ng.load_model(saved["texture"])
    for detail, refine in (("patches", True), ("generator", False)):
        out = tmp_path / f"{detail}.npy"
        assert main(["generate", str(saved["texture"]), str(out), "--size", "40x72", "--detail", detail]) == 0
        texture = np.load(out)
        assert texture.shape == (1, 40, 72)  # one texture by default
        np.testing.assert_array_equal(texture, gan.generate(1, seed=0, size=(40, 72), refine=refine))
    zarr = pytest.importorskip("zarr")
    out = tmp_path / "texture.zarr"
    assert main(["generate", str(saved["texture"]), str(out), "--size", "48", "--count", "2", "--seed", "1"]) == 0
    np.testing.assert_array_equal(zarr.open_array(str(out))[...], gan.generate(2, seed=1, size=(48, 48)))


def test_bad_options_are_refused_in_one_line_and_nothing_is_written(saved, tmp_path, capsys):
    denoiser = ng.Denoiser(features=8, batch_size=2).fit(np.random.default_rng(0).random((48, 48)), max_steps=1)
    not_a_gan = denoiser.save(tmp_path / "den.ngan")
    existing = tmp_path / "there.npy"
    np.save(existing, np.zeros(1))

    def refused(*args) -> str:
        assert main(["generate", *map(str, args)]) == 2
        return capsys.readouterr().err

    out = tmp_path / "new.npy"
    assert "not an ImageGAN" in refused(not_a_gan, out)
    assert "already exists" in refused(saved["samples"], existing)
    assert np.load(existing).shape == (1,)  # untouched
    assert "must end in" in refused(saved["samples"], tmp_path / "out.png")
    assert "--size and --detail are for texture" in refused(saved["samples"], out, "--size", "64")
    assert "texture model" in refused(saved["texture"], out, "--class", "a")
    assert "--size must be" in refused(saved["texture"], out, "--size", "big")
    assert "class" in refused(saved["samples"], out, "--class", "zebra")
    assert "does not exist" in refused(tmp_path / "missing.ngan", out)
    assert not out.exists()
    assert parse_size("512") == (512, 512) and parse_size("384x512") == (384, 512)


def test_a_texture_too_large_to_refine_is_refused_naming_the_flag_that_works(saved, tmp_path, capsys, monkeypatch):
    from napari_gan.core import data

    monkeypatch.setattr(data, "memory_bytes", lambda: 2 * 1024**3)  # a 2 GiB machine
    out = tmp_path / "big.npy"
    assert main(["generate", str(saved["texture"]), str(out), "--size", "1024"]) == 2
    assert "--detail generator" in capsys.readouterr().err and not out.exists()
    assert main(["generate", str(saved["texture"]), str(out), "--size", "1024", "--detail", "generator"]) == 0
    assert np.load(out).shape == (1, 1024, 1024)
