"""Segmentation and detection metrics on hand-made cases with known answers."""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy.optimize import linear_sum_assignment

import napari_gan as ng
from napari_gan.core import metrics
from napari_gan.core.metrics import (
    IOU_THRESHOLDS,
    average_precision,
    class_iou,
    iou,
    match_instances,
    match_points,
    segmentation_scores,
)

pytestmark = pytest.mark.filterwarnings("error::RuntimeWarning")  # e.g. numpy division by zero


def squares(shape=(40, 40), boxes=((2, 2, 12, 12), (20, 20, 32, 30)), ids=None) -> np.ndarray:
    labels = np.zeros(shape, dtype=np.int32)
    for i, (y0, x0, y1, x1) in enumerate(boxes):
        labels[y0:y1, x0:x1] = ids[i] if ids is not None else i + 1
    return labels


def test_identical_images_score_perfectly():
    labels = squares()
    scores = segmentation_scores(labels, labels)
    assert scores == {
        "iou": 1.0,
        "f1@0.5": 1.0,
        "precision@0.5": 1.0,
        "recall@0.5": 1.0,
        "tp@0.5": 2,
        "fp@0.5": 0,
        "fn@0.5": 0,
        "ap": 1.0,
        "n_true": 2,
        "n_pred": 2,
    }
    for match in match_instances(labels, labels).values():
        assert (match.tp, match.fp, match.fn) == (2, 0, 0)
        assert match.mean_matched_iou == match.panoptic_quality == 1.0


def test_ids_permuted_non_consecutive_and_any_dtype():
    true = squares()
    pred = squares(ids=(70000, 3)).astype(np.uint32)
    assert segmentation_scores(true, pred)["f1@0.5"] == 1.0
    assert segmentation_scores(true.astype(np.uint8), pred.astype(np.float64))["ap"] == 1.0
    huge = np.where(pred > 0, pred.astype(np.int64) + 2**40, 0)  # ids far above the pixel count
    assert segmentation_scores(true, huge)["ap"] == 1.0
    assert segmentation_scores(true > 0, pred > 0)["n_pred"] == 1  # a boolean mask is one object


def test_shifted_object_matches_only_below_its_iou():
    true = squares(boxes=((10, 10, 20, 20),))
    pred = squares(boxes=((10, 12, 20, 22),))  # 80 shared of 120 pixels: IoU 2/3
    matches = match_instances(true, pred)
    assert list(matches) == list(IOU_THRESHOLDS)
    for threshold, match in matches.items():
        if threshold <= 2 / 3:
            assert (match.tp, match.fp, match.fn) == (1, 0, 0)
            assert match.mean_matched_iou == pytest.approx(2 / 3)
        else:
            assert (match.tp, match.fp, match.fn) == (0, 1, 1)
            assert math.isnan(match.mean_matched_iou) and match.f1 == 0.0
    assert average_precision(true, pred) == pytest.approx(4 / 9)  # matched at 0.5, 0.55, 0.6, 0.65
    assert iou(true, pred) == pytest.approx(2 / 3)


def test_split_and_merged_objects_count_once():
    whole = squares(boxes=((0, 0, 10, 10),))
    halves = squares(boxes=((0, 0, 10, 5), (0, 5, 10, 10)))  # each half has IoU exactly 0.5
    split = match_instances(whole, halves, thresholds=0.5)[0.5]
    assert (split.tp, split.fp, split.fn) == (1, 1, 0)
    assert split.precision == 0.5 and split.recall == 1.0 and split.f1 == pytest.approx(2 / 3)
    merged = match_instances(halves, whole, thresholds=[0.5, 0.6])
    assert (merged[0.5].tp, merged[0.5].fp, merged[0.5].fn) == (1, 0, 1)
    assert merged[0.6].tp == 0
    assert iou(whole, halves) == 1.0


def test_empty_images():
    empty = np.zeros((8, 8), dtype=np.uint16)
    both = match_instances(empty, empty)[0.5]
    assert (both.tp, both.fp, both.fn) == (0, 0, 0)
    assert both.precision == both.recall == both.f1 == both.accuracy == both.panoptic_quality == 1.0
    assert math.isnan(both.mean_matched_iou)
    assert average_precision(empty, empty) == 1.0 and iou(empty, empty) == 1.0

    labels = squares(shape=(8, 8), boxes=((1, 1, 4, 4),))
    missed = match_instances(labels, empty)[0.5]
    assert (missed.tp, missed.fp, missed.fn) == (0, 0, 1)
    assert missed.precision == missed.recall == missed.f1 == 0.0
    invented = match_instances(empty, labels)[0.5]
    assert (invented.tp, invented.fp, invented.fn) == (0, 1, 0)
    assert invented.precision == invented.recall == invented.f1 == 0.0
    assert average_precision(labels, empty) == 0.0 and iou(labels, empty) == 0.0
    assert segmentation_scores(np.zeros((0, 5), int), np.zeros((0, 5), int))["ap"] == 1.0


def test_3d_label_images():
    true = np.zeros((10, 20, 20), dtype=np.int32)
    true[1:5, 2:8, 2:8] = 4
    true[5:9, 10:18, 10:18] = 9
    pred = np.zeros_like(true)
    pred[1:5, 2:8, 3:9] = 1  # IoU 120 / 168 = 0.714
    pred[0:2, 15:20, 0:3] = 2  # a false positive
    match = match_instances(true, pred, thresholds=0.7)[0.7]
    assert (match.tp, match.fp, match.fn) == (1, 1, 1)
    assert match.mean_matched_iou == pytest.approx(120 / 168)
    assert segmentation_scores(true, pred)["n_pred"] == 2


def test_arange_thresholds_give_round_keys():
    labels = squares()
    keys = list(match_instances(labels, labels, thresholds=np.arange(0.5, 0.95, 0.05)))
    assert keys == [0.5, 0.55, 0.6, 0.65, 0.7, 0.75, 0.8, 0.85, 0.9]
    assert list(match_instances(labels, labels, thresholds=0.75)) == [0.75]


def _dense_reference(true, pred, threshold):
    """StarDist's formulation: LSA on the full IoU matrix, most pairs first, then IoU."""
    t_ids = [i for i in np.unique(true) if i]
    p_ids = [i for i in np.unique(pred) if i]
    scores = np.zeros((len(t_ids), len(p_ids)))
    for a, i in enumerate(t_ids):
        for b, j in enumerate(p_ids):
            inter = np.sum((true == i) & (pred == j))
            scores[a, b] = inter / np.sum((true == i) | (pred == j))
    if not scores.size:
        return 0
    k = min(scores.shape)
    cost = -(scores >= threshold).astype(float) - scores / (2 * k)
    rows, cols = linear_sum_assignment(cost)
    return int(np.sum(scores[rows, cols] >= threshold))


@pytest.mark.parametrize("seed", range(4))
def test_matching_agrees_with_a_dense_assignment(seed):
    rng = np.random.default_rng(seed)
    true = rng.integers(0, 6, size=(12, 12)) * (rng.random((12, 12)) < 0.8)
    # a prediction partly copying the truth (relabelled), partly random: many competing overlaps
    pred = rng.integers(0, 7, size=(12, 12)) * (rng.random((12, 12)) < 0.8)
    pred = np.where(rng.random((12, 12)) < 0.6, true * 3 + 1, pred)
    for threshold in (0.1, 0.2, 0.3, 0.5):
        got = match_instances(true, pred, thresholds=threshold)[threshold].tp
        assert got == _dense_reference(true, pred, threshold), threshold


def test_class_iou():
    true = np.array([[0, 0, 1, 1], [0, 2, 2, 1], [9, 9, 9, 9]])
    pred = np.array([[0, 1, 1, 1], [0, 2, 2, 2], [0, 0, 2, 9]])
    result = class_iou(true, pred, ignore=9)
    assert list(result) == [0, 1, 2]
    assert result[0] == pytest.approx(2 / 3)  # true 0 at 3 pixels, pred 0 at 2 of them
    assert result[1] == pytest.approx(2 / 4)
    assert result[2] == pytest.approx(2 / 3)
    assert class_iou(true, pred, ignore=[9, 0]).keys() == {1, 2}
    assert set(class_iou(true, true)) == {0, 1, 2, 9} and all(v == 1.0 for v in class_iou(true, true).values())


@pytest.mark.parametrize(
    ("true", "pred", "words"),
    [
        (np.zeros((4, 4), int), np.zeros((4, 5), int), "differ in shape"),
        (np.zeros((4, 4)), np.full((4, 4), 0.5), "non-integer"),
        (np.zeros((4, 4)), np.full((4, 4), np.nan), "NaN"),
        (np.full((4, 4), -1), np.zeros((4, 4), int), "negative"),
        (np.zeros((4, 4), complex), np.zeros((4, 4), int), "dtype"),
        (np.int32(3), np.int32(3), "scalar"),
    ],
)
def test_bad_label_images_are_refused(true, pred, words):
    for func in (iou, match_instances, average_precision, segmentation_scores, class_iou):
        with pytest.raises(ng.InputError, match=words):
            func(true, pred)


def test_bad_thresholds_are_refused():
    labels = squares()
    for bad in (0.0, 1.5, [], [0.5, -0.1]):
        with pytest.raises(ng.InputError, match="threshold"):
            match_instances(labels, labels, thresholds=bad)


# --------------------------------------------------------------------------- points


def test_points_within_and_outside_the_radius():
    true = np.array([[10.0, 10.0], [30.0, 30.0], [50.0, 50.0]])
    pred = np.array([[10.0, 12.0], [30.0, 33.5], [80.0, 80.0]])
    result = match_points(true, pred, radius=3.0)
    assert (result.tp, result.fp, result.fn) == (1, 2, 2)
    assert result.precision == result.recall == result.f1 == pytest.approx(1 / 3)
    assert result.mean_distance == pytest.approx(2.0)
    np.testing.assert_array_equal(result.pairs, [[0, 0]])
    assert match_points(true, pred, radius=2.0).tp == 1  # the radius is inclusive
    assert match_points(true, pred, radius=3.5).tp == 2
    assert match_points(true, true, radius=0.1).f1 == 1.0
    assert result.as_dict()["tp"] == 1 and "pairs" not in result.as_dict()


def test_points_are_matched_one_to_one_and_optimally():
    # greedy nearest-first matching pairs t0 with p0 and leaves t1 alone; the optimum pairs both
    true = np.array([[0.0, 0.0], [0.0, 1.8]])
    pred = np.array([[0.0, 0.9], [0.0, -0.9]])
    result = match_points(true, pred, radius=1.0)
    assert (result.tp, result.fp, result.fn) == (2, 0, 0)
    np.testing.assert_array_equal(result.pairs, [[0, 1], [1, 0]])
    # two detections of one spot: one is a false positive, not a second hit
    double = match_points([[5.0, 5.0]], [[5.0, 5.5], [5.5, 5.0], [5.1, 5.1]], radius=1.0)
    assert (double.tp, double.fp, double.fn) == (1, 2, 0)
    np.testing.assert_array_equal(double.pairs, [[0, 2]])  # the closest one


def test_points_in_3d_and_empty_sets():
    true = np.array([[1.0, 2.0, 3.0], [10.0, 10.0, 10.0]])
    assert match_points(true, true + [0.5, 0.5, 0.5], radius=1.0).tp == 2
    none = match_points(np.zeros((0, 3)), [], radius=1.0)
    assert (none.tp, none.fp, none.fn) == (0, 0, 0) and none.f1 == 1.0 and math.isnan(none.mean_distance)
    missed = match_points(true, np.zeros((0, 3)), radius=1.0)
    assert (missed.tp, missed.fn, missed.recall, missed.precision, missed.f1) == (0, 2, 0.0, 0.0, 0.0)
    invented = match_points([], true, radius=1.0)
    assert (invented.fp, invented.precision, invented.f1) == (2, 0.0, 0.0)
    assert invented.pairs.shape == (0, 2)


@pytest.mark.parametrize(
    ("true", "pred", "radius", "words"),
    [
        ([[0.0, 0.0]], [[0.0, 0.0]], 0.0, "radius"),
        ([[0.0, 0.0]], [[0.0, 0.0]], -1.0, "radius"),
        ([[0.0, 0.0]], [[0.0, 0.0]], np.nan, "radius"),
        ([[0.0, np.nan]], [[0.0, 0.0]], 1.0, "NaN or infinite"),
        ([[0.0, 0.0]], [[np.inf, 0.0]], 1.0, "NaN or infinite"),
        ([[0.0, 0.0]], [[0.0, 0.0, 0.0]], 1.0, "dimension"),
        ([0.0, 0.0], [[0.0, 0.0]], 1.0, r"\(M, D\)"),
    ],
)
def test_bad_points_are_refused(true, pred, radius, words):
    with pytest.raises(ng.InputError, match=words):
        match_points(true, pred, radius=radius)


def test_many_objects_are_fast():
    """A 1024 x 1024 image of ~30,000 objects: the IoU table comes from one pass over the pixels."""
    import time

    from skimage.measure import label

    rng = np.random.default_rng(0)
    true = label(rng.random((1024, 1024)) > 0.6)
    pred = np.roll(true, 1, axis=1)
    started = time.perf_counter()
    scores = segmentation_scores(true, pred)
    assert time.perf_counter() - started < 5.0
    assert scores["n_true"] == scores["n_pred"] == true.max()
    assert metrics.iou(true, true) == 1.0


def test_fidelity_scores_refuse_mismatched_or_constant_references():
    ref = np.linspace(0, 1, 64).reshape(8, 8)
    assert ng.metrics.psnr(ref, ref + 0.01) == pytest.approx(40.0)
    with pytest.raises(ng.InputError, match="must match"):
        ng.metrics.psnr(ref, ref[:7])
    with pytest.raises(ng.InputError, match="must match"):
        ng.metrics.ssim(ref, ref.T[:, :7])
    with pytest.raises(ng.InputError, match="constant reference"):
        ng.metrics.psnr(np.zeros((8, 8)), ref)  # every score would be -inf
    assert ng.metrics.psnr(np.zeros((8, 8)), np.full((8, 8), 0.1), data_range=1.0) == pytest.approx(20.0)
