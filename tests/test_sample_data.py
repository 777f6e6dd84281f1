"""The offline samples: shapes, dtypes, reproducibility and the noise they carry."""

import subprocess
import sys

import numpy as np
import pytest

from napari_gan import _sample_data as sd

# sample function -> [(shape, dtype)] of the layers it returns
EXPECTED = {
    "noisy_camera": [((512, 512), np.float32)],
    "noisy_moon": [((512, 512), np.float32)],
    "noisy_clean_pair": [((512, 512), np.float32), ((512, 512), np.uint8)],
    "noisy_stack_3d": [((32, 128, 128), np.float32)],
    "microscopy_like": [((512, 512), np.uint16)],
}
GAUSSIAN_PAIRS = ["camera", "moon", "astronaut", "stack_3d"]


@pytest.mark.parametrize("key", EXPECTED)
def test_sample_layers(key):
    layers = getattr(sd, key)()
    assert len(layers) == len(EXPECTED[key])
    for (data, kwargs, layer_type), (shape, dtype) in zip(layers, EXPECTED[key], strict=True):
        assert layer_type == "image"
        assert data.shape == shape
        assert data.dtype == dtype
        assert isinstance(kwargs["name"], str) and kwargs["name"]
        assert kwargs["metadata"]["source"].startswith("skimage.data.")
    # The first layer is the noisy one and says how its noise was made.
    assert layers[0][1]["metadata"]["noise"]["seed"] is not None


@pytest.mark.parametrize("key", EXPECTED)
def test_samples_are_reproducible(key):
    first, second = getattr(sd, key)(), getattr(sd, key)()
    for a, b in zip(first, second, strict=True):
        np.testing.assert_array_equal(a[0], b[0])


def test_segmentation_samples():
    (image, _, kind), (masks, _, mkind), (scr, _, skind) = sd.nuclei_with_masks()
    assert (kind, mkind, skind) == ("image", "labels", "labels")
    assert image.shape == masks.shape == scr.shape == (256, 256)
    assert image.dtype == np.float32 and masks.dtype == np.int32 and masks.max() > 30
    # scribbles: 1 = background, 2 = nucleus, sparse, and consistent with the masks
    assert set(np.unique(scr)) == {0, 1, 2} and np.count_nonzero(scr) < 0.05 * scr.size
    assert (masks[scr == 2] > 0).all()
    (img, _, _), (pts, pkw, pkind), (region, _, rkind) = sd.spots_with_points()
    assert pkind == "points" and rkind == "shapes" and img.shape == (256, 256)
    assert len(pts) > 20 and (pts[:, 0] < 128).all() and pts.shape[1] == 2


def test_pair_sample_has_noisy_and_clean_layer():
    (noisy, noisy_kw, _), (clean, clean_kw, _) = sd.noisy_clean_pair()
    assert noisy_kw["metadata"]["noise"]["sigma"] == sd.SIGMA
    assert clean_kw["metadata"]["noise"] is None
    assert "clean" in clean_kw["name"] and "noisy" in noisy_kw["name"]
    np.testing.assert_array_equal(clean, sd.load_pair("astronaut").clean)


@pytest.mark.parametrize("name", GAUSSIAN_PAIRS)
def test_gaussian_noise_level(name):
    pair = sd.load_pair(name)
    residual = pair.noisy.astype(np.float64) - pair.clean
    assert pair.noise["kind"] == "gaussian" and pair.noise["sigma"] == 25.0
    assert abs(residual.mean()) < 0.5
    assert residual.std() == pytest.approx(25.0, rel=0.02)
    # About 20.2 dB: the standard starting point of sigma=25 benchmarks.
    psnr = 10 * np.log10(255.0**2 / np.mean(residual**2))
    assert psnr == pytest.approx(20.17, abs=0.2)


def test_samples_have_distinct_noise():
    # Same-shape images must not share one noise field (see _SEEDS).
    cam, moon = sd.load_pair("camera"), sd.load_pair("moon")
    corr = np.corrcoef((cam.noisy - cam.clean).ravel(), (moon.noisy - moon.clean).ravel())[0, 1]
    assert abs(corr) < 0.01


def test_poisson_gaussian_noise_level():
    pair = sd.load_pair("microscopy")
    noise = pair.noise
    assert noise["kind"] == "poisson-gaussian"
    photons = pair.clean.astype(np.float64) - noise["offset"]
    assert photons.max() == pytest.approx(noise["peak_photons"], rel=0.05)
    residual = pair.noisy.astype(np.float64) - pair.clean
    assert abs(residual.mean()) < 0.05
    # Shot noise variance equals the mean count; rounding to integers adds 1/12.
    expected_var = photons.mean() + noise["read_noise"] ** 2 + 1 / 12
    assert residual.var() == pytest.approx(expected_var, rel=0.03)
    # Shot noise grows with the signal: bright pixels are noisier than the background.
    bright = photons > 15
    assert residual[bright].var() > 2 * residual[photons < 1].var()


def test_make_noisy():
    image = np.full((40, 50), 100, dtype=np.uint8)
    noisy = sd.make_noisy(image, sigma=10.0, seed=3)
    assert noisy.dtype == np.float32 and noisy.shape == image.shape
    np.testing.assert_array_equal(noisy, sd.make_noisy(image, sigma=10.0, seed=3))
    assert not np.array_equal(noisy, sd.make_noisy(image, sigma=10.0, seed=4))
    # Not clipped: values below 0 and above 255 survive for a mid-gray image at large sigma.
    wide = sd.make_noisy(image, sigma=100.0, seed=0)
    assert wide.min() < 0 and wide.max() > 255
    np.testing.assert_array_equal(sd.make_noisy(image, sigma=0, seed=0), image)


@pytest.mark.parametrize("sigma", [-1.0, np.nan, np.inf])
def test_make_noisy_rejects_bad_sigma(sigma):
    with pytest.raises(ValueError, match="sigma"):
        sd.make_noisy(np.zeros((4, 4)), sigma=sigma)


def test_make_noisy_rejects_non_numeric():
    with pytest.raises(TypeError, match="dtype"):
        sd.make_noisy(np.array([["a"]]), sigma=1.0)


def test_make_poisson_gaussian():
    photons = np.linspace(0, 50, 64 * 64).reshape(64, 64)
    noisy = sd.make_poisson_gaussian(photons, read_noise=1.5, offset=100, seed=0)
    assert noisy.dtype == np.uint16 and noisy.shape == photons.shape
    again = sd.make_poisson_gaussian(photons, read_noise=1.5, offset=100, seed=0)
    np.testing.assert_array_equal(noisy, again)
    with pytest.raises(ValueError, match="photons"):
        sd.make_poisson_gaussian(-photons)
    with pytest.raises(ValueError, match="read_noise"):
        sd.make_poisson_gaussian(photons, read_noise=-1)


def test_blob_volume():
    volume = sd.blob_volume((8, 40, 24), seed=1)
    assert volume.shape == (8, 40, 24) and volume.dtype == np.uint8
    assert volume.min() < 60 and volume.max() > 190  # both background and blobs present
    np.testing.assert_array_equal(volume, sd.blob_volume((8, 40, 24), seed=1))
    with pytest.raises(ValueError, match="shape"):
        sd.blob_volume((8, 40))


def test_load_pair_rejects_unknown_name():
    with pytest.raises(ValueError, match="unknown sample"):
        sd.load_pair("cells3d")


def test_load_pair_seed_override():
    default, other = sd.load_pair("camera"), sd.load_pair("camera", seed=123)
    np.testing.assert_array_equal(default.clean, other.clean)
    assert not np.array_equal(default.noisy, other.noisy)
    assert other.noise["seed"] == 123


def test_sample_module_imports_without_napari():
    code = (
        "import sys, napari_gan._sample_data as sd; sd.noisy_camera(); "
        "bad = [m for m in sys.modules if m.partition('.')[0] in "
        "('napari', 'qtpy', 'PyQt5', 'PyQt6', 'PySide2', 'PySide6', 'magicgui', 'superqt')]; "
        "assert not bad, bad"
    )
    subprocess.run([sys.executable, "-c", code], check=True, timeout=120)


@pytest.mark.parametrize("key", EXPECTED)
def test_open_sample_in_viewer(make_napari_viewer, key):
    from napari.layers import Image

    viewer = make_napari_viewer()
    viewer.open_sample("napari-gan", key)
    assert len(viewer.layers) == len(EXPECTED[key])
    for layer, (shape, dtype) in zip(viewer.layers, EXPECTED[key], strict=True):
        assert isinstance(layer, Image)
        assert layer.data.shape == shape and layer.data.dtype == dtype
        assert layer.metadata["source"].startswith("skimage.data.")
    assert viewer.layers[0].metadata["noise"] is not None


def test_generate_samples():
    from napari_gan import _sample_data as sd

    ((brick, meta, kind),) = sd.brick_texture()
    assert brick.shape == (512, 512) and kind == "image" and "generate" not in meta["name"]
    ((faces, meta, kind),) = sd.faces_stack()
    assert faces.shape == (100, 25, 25) and faces.dtype == np.float32
