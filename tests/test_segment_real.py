"""Instance segmentation on a real fluorescence image (napari's own screenshot of
nuclei; masks in tests/data, see tests/real_images.py): trained on the left half,
scored on the right half, as a user who annotates part of an image would."""

from __future__ import annotations

import numpy as np
import pytest
from real_images import dim_and_defocus, halves, majority_downscale, napari_nuclei, napari_png

import napari_gan as ng

STEPS = 200
pytestmark = pytest.mark.skipif(not napari_png().exists(), reason="this napari does not ship the screenshot")


def f1_at_half(truth: np.ndarray, pred: np.ndarray) -> float:
    return ng.metrics.match_instances(truth, pred, thresholds=(0.5,))[0.5].f1


def test_reference_masks_load_and_match_the_image():
    image, masks = napari_nuclei()
    assert image.shape == masks.shape == (415, 415)
    assert image.dtype == np.float32 and masks.dtype == np.int32
    assert len(np.unique(masks)) - 1 == 26
    # the masks lie on the nuclei: inside is about 3x brighter than outside, and masks
    # moved by half a nucleus are not
    assert image[masks > 0].mean() > 2.5 * image[masks == 0].mean()
    moved = np.roll(masks, 37, axis=1)
    assert image[moved > 0].mean() < 0.8 * image[masks > 0].mean()
    small, small_masks = napari_nuclei(scale=2)
    assert small.shape == small_masks.shape == (207, 207)
    assert set(np.unique(small_masks)) <= set(np.unique(masks))


def test_majority_downscale_keeps_the_most_frequent_label():
    masks = np.array([[1, 1, 0, 0], [1, 2, 0, 3], [2, 2, 4, 4], [2, 2, 4, 0]])
    np.testing.assert_array_equal(majority_downscale(masks, 2), [[1, 0], [2, 4]])


@pytest.fixture(scope="module")
def left_right():
    image, masks = napari_nuclei(scale=2)
    return halves(image, masks)


@pytest.fixture(scope="module")
def trained(left_right):
    (lx, ly), _ = left_right
    return ng.Segmenter(mode="instance").fit(lx, ly, max_steps=STEPS, seed=0)


def test_segmenter_trained_on_the_left_half_segments_the_right_half(left_right, trained):
    _, (rx, ry) = left_right
    pred = trained.predict(rx)
    assert pred.shape == rx.shape and pred.dtype == np.int32
    # 16 nuclei on the right (10 cut by an edge); a broken design finds few or merges
    # them. 200 steps are few: seeds 0-3 give 0.970 / 0.970 / 0.970 / 0.909 with seeds
    # from the interior's shape (2026-12-04); with seeds at the distance map's peaks
    # they gave 0.72 / 0.78 / 0.83 / 0.80 (19-23 objects: touching nuclei cut up)
    assert f1_at_half(ry, pred) >= 0.85


def test_segmenter_holds_up_when_nuclei_are_dimmer_and_blurred(left_right, trained):
    """The right half with each nucleus 1-4x dimmer and a third of them blurred: the
    model trained on the unchanged left half still finds them."""
    _, (rx, ry) = left_right
    dimmed = dim_and_defocus(rx, ry)
    # seeds 0-3: 0.686 / 0.688 / 0.743 / 0.824 (2026-12-04); 0.55 / 0.57 / 0.63 / 0.80
    # with seeds at the distance map's peaks
    assert f1_at_half(ry, trained.predict(dimmed)) >= 0.6
