"""Synthetic nuclei and spots: shapes, determinism, ground truth that matches the image."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import ndimage as ndi
from scipy.spatial.distance import pdist

import napari_gan as ng
from napari_gan.core.metrics import match_points
from napari_gan.core.synthetic import spots, touching_nuclei


def touching_pairs(labels: np.ndarray) -> set[tuple[int, int]]:
    """Pairs of different objects that share a face between two pixels."""
    pairs = set()
    for axis in range(labels.ndim):
        a = np.moveaxis(labels, axis, 0)[:-1].ravel()
        b = np.moveaxis(labels, axis, 0)[1:].ravel()
        edge = (a > 0) & (b > 0) & (a != b)
        pairs |= {(min(x, y), max(x, y)) for x, y in zip(a[edge].tolist(), b[edge].tolist())}
    return pairs


@pytest.mark.parametrize("shape", [(128, 160), (24, 64, 64)])
def test_nuclei_shapes_dtypes_and_labels(shape):
    image, labels = touching_nuclei(shape, seed=3)
    assert image.shape == labels.shape == shape
    assert image.dtype == np.float32 and labels.dtype == np.int32
    assert np.all(np.isfinite(image))
    ids = np.unique(labels)
    assert ids[0] == 0 and np.array_equal(ids, np.arange(ids.size))  # consecutive 1..N
    assert ids.size > 5
    for index, box in enumerate(ndi.find_objects(labels), start=1):
        assert ndi.label(labels[box] == index)[1] == 1  # one connected region per nucleus
    assert len(touching_pairs(labels)) > 0
    # nuclei stand out from the background around them
    ring = ndi.binary_dilation(labels > 0, iterations=3) & (labels == 0)
    assert image[labels > 0].mean() > image[ring].mean() + 0.1


def test_nuclei_touch_often_and_follow_their_options():
    image, labels = touching_nuclei((256, 256), seed=0)
    pairs = touching_pairs(labels)
    touching = {i for pair in pairs for i in pair}
    assert len(touching) >= 0.3 * labels.max()  # a good share of nuclei touch another
    few, few_labels = touching_nuclei((256, 256), n=5, clustering=0.0, seed=0)
    assert few_labels.max() == 5
    areas = np.bincount(labels.ravel())[1:]
    assert np.median(areas) > np.pi * 7**2 * 0.8  # nominal radii 7-13 pixels
    flat, _ = touching_nuclei((64, 64), background=0.0, photons=None, noise=0.0, blur=0.0, texture=0.0, seed=1)
    assert flat.min() == pytest.approx(0.05)  # no noise, no background: the bare offset


def test_nuclei_are_deterministic_for_a_seed():
    a_image, a_labels = touching_nuclei((96, 96), seed=7)
    b_image, b_labels = touching_nuclei((96, 96), seed=7)
    np.testing.assert_array_equal(a_image, b_image)
    np.testing.assert_array_equal(a_labels, b_labels)
    c_image, _ = touching_nuclei((96, 96), seed=8)
    assert not np.array_equal(a_image, c_image)


@pytest.mark.parametrize(
    ("kwargs", "words"),
    [
        ({"shape": (64,)}, "2 .* or 3"),
        ({"shape": (8, 64)}, "at least"),
        ({"radius": (10, 5)}, "radius"),
        ({"radius": 0.5}, "radius"),
        ({"aspect": 0.5}, "aspect"),
        ({"density": 0.0}, "density"),
        ({"n": -1}, "n must"),
        ({"clustering": 2.0}, "clustering"),
        ({"noise": -1.0}, "noise"),
        ({"photons": 0.0}, "photons"),
    ],
)
def test_bad_nuclei_options_are_refused(kwargs, words):
    kwargs = {"shape": (64, 64), **kwargs}
    with pytest.raises(ng.InputError, match=words):
        touching_nuclei(**kwargs)


@pytest.mark.parametrize(("shape", "sigma"), [((96, 128), 1.5), ((20, 64, 64), (2.0, 1.2, 1.2))])
def test_spots_shapes_coords_and_separation(shape, sigma):
    image, coords = spots(shape, n=30, snr=10, sigma=sigma, seed=2)
    assert image.shape == shape and image.dtype == np.float32
    assert coords.shape == (30, len(shape)) and coords.dtype == np.float64
    sigmas = np.broadcast_to(sigma, (len(shape),))
    assert np.all(coords >= sigmas) and np.all(coords <= np.array(shape) - 1 - sigmas)
    assert pdist(coords).min() >= 4 * max(sigmas)
    assert np.any(coords != np.round(coords))  # sub-pixel positions
    # a bright spot sits at every coordinate
    peaks = image[tuple(np.round(coords).astype(int).T)]
    assert np.median(peaks) > np.median(image) + 5 * np.sqrt(11.0)


def test_spots_are_deterministic_for_a_seed():
    a = spots((64, 64), n=10, seed=1)
    b = spots((64, 64), n=10, seed=1)
    np.testing.assert_array_equal(a[0], b[0])
    np.testing.assert_array_equal(a[1], b[1])
    assert not np.array_equal(a[1], spots((64, 64), n=10, seed=2)[1])
    assert spots((32, 32), n=0, seed=0)[1].shape == (0, 2)


def test_higher_snr_lets_log_find_more_spots():
    from skimage.feature import blob_log

    found = []
    for snr in (1.5, 3.0, 8.0):
        image, coords = spots((128, 128), n=40, snr=snr, seed=0)
        z = (image - np.median(image)) / np.sqrt(10.0 + 1.0)  # noise std at the mean background
        blobs = blob_log(z, min_sigma=1, max_sigma=3, num_sigma=5, threshold=1.0)
        found.append(match_points(coords, blobs[:, :2], radius=2.0).tp)
    assert found[0] < found[1] <= found[2]
    assert found[2] >= 38


def test_gaussian_noise_option_has_the_stated_std():
    image, _ = spots((128, 128), n=0, blobs=0, structure=0.0, background=20.0, read_noise=2.0, poisson=False, seed=0)
    assert image.std() == pytest.approx(np.sqrt(20.0 + 4.0), rel=0.05)
    assert image.mean() == pytest.approx(20.0, rel=0.02)


@pytest.mark.parametrize(
    ("kwargs", "words"),
    [
        ({"n": 500, "shape": (32, 32)}, "could not place 500 spots"),
        ({"sigma": (1.0, 1.0, 1.0)}, "sigma"),
        ({"sigma": 0.0}, "sigma"),
        ({"snr": -1.0}, "snr"),
        ({"background": 0.0}, "background"),
        ({"amplitude_spread": 1.0}, "amplitude_spread"),
        ({"shape": (4, 64)}, "at least"),
    ],
)
def test_bad_spot_options_are_refused(kwargs, words):
    kwargs = {"shape": (64, 64), **kwargs}
    with pytest.raises(ng.InputError, match=words):
        spots(**kwargs)
