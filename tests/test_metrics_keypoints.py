"""Keypoints of several kinds matched kind by kind, on hand-made cases with known answers."""

from __future__ import annotations

import math

import numpy as np
import pytest

import napari_gan as ng
from napari_gan.core.metrics import KeypointMatch, PointMatch, match_keypoints, match_points

pytestmark = pytest.mark.filterwarnings("error::RuntimeWarning")

POLES = np.array([[10.0, 10.0], [30.0, 30.0]])
TIPS = np.array([[50.0, 50.0]])


def detections(points, kinds, scores=None):
    """The dict of columns a keypoint detector returns."""
    columns = {"points": np.asarray(points, dtype=float), "kind": np.asarray(kinds)}
    if scores is not None:
        columns["score"] = np.asarray(scores, dtype=float)
    return columns


def test_perfect_prediction_scores_one_per_kind_and_overall():
    truth = {"pole": POLES, "tip": TIPS}
    found = detections([[50, 50], [30, 30], [10, 10]], ["tip", "pole", "pole"], [0.9, 0.8, 0.7])
    result = match_keypoints(truth, found, radius=1)
    assert isinstance(result, KeypointMatch) and list(result) == ["pole", "tip"] and len(result) == 2
    for match in (*result.values(), result.overall):
        assert (match.precision, match.recall, match.f1, match.mean_distance) == (1.0, 1.0, 1.0, 0.0)
    assert (result.overall.tp, result.overall.n_true, result.overall.n_pred) == (3, 3, 3)
    # overall pairs index the rows: truth stacked in its order (poles, then tips), detections as given
    assert result.overall.pairs.tolist() == [[0, 2], [1, 1], [2, 0]]
    assert result["pole"].pairs.tolist() == [[0, 1], [1, 0]]  # within the kind: second pole detection first


def test_hand_made_scores_per_kind_and_micro_average():
    truth = {"pole": POLES, "tip": TIPS}
    found = detections([[11, 10], [50, 52], [80, 80], [10, 12]], ["pole", "tip", "tip", "tip"])
    result = match_keypoints(truth, found, radius=3)
    pole, tip = result["pole"], result["tip"]
    assert (pole.tp, pole.fp, pole.fn) == (1, 0, 1) and pole.recall == 0.5 and pole.f1 == pytest.approx(2 / 3)
    # a tip detection on a pole is not a hit: kinds never match each other
    assert (tip.tp, tip.fp, tip.fn) == (1, 2, 0) and tip.precision == pytest.approx(1 / 3)
    overall = result.overall
    assert (overall.tp, overall.fp, overall.fn, overall.n_true, overall.n_pred) == (2, 2, 1, 3, 4)
    assert (overall.precision, overall.recall, overall.f1) == (0.5, pytest.approx(2 / 3), pytest.approx(4 / 7))
    assert overall.mean_distance == pytest.approx(1.5)  # distances 1 and 2
    assert overall.radius == result.radius == 3.0


def test_each_kind_equals_match_points_on_its_own_points():
    rng = np.random.default_rng(0)
    true = {k: rng.uniform(0, 100, (n, 3)) for k, n in (("a", 20), ("b", 15))}
    pred_points = np.concatenate([true["a"][:15] + rng.normal(0, 1, (15, 3)), rng.uniform(0, 100, (12, 3))])
    pred_kinds = np.array(["a"] * 15 + ["b"] * 12)
    result = match_keypoints(true, detections(pred_points, pred_kinds), radius=2.5)
    for kind in ("a", "b"):
        alone = match_points(true[kind], pred_points[pred_kinds == kind], radius=2.5)
        assert result[kind] == alone
        np.testing.assert_array_equal(result[kind].pairs, alone.pairs)


def test_a_kind_on_one_side_only_is_all_missed_or_all_false():
    truth = {"pole": POLES, "tip": TIPS}
    found = {"pole": POLES, "blob": [[70.0, 70.0]]}
    result = match_keypoints(truth, found, radius=1)
    assert list(result) == ["pole", "tip", "blob"]  # reference kinds first, then the prediction's
    assert (result["tip"].recall, result["tip"].fn, result["tip"].precision) == (0.0, 1, 0.0)
    assert (result["blob"].precision, result["blob"].fp) == (0.0, 1)
    assert result["pole"].f1 == 1.0 and result.overall.f1 == pytest.approx(4 / 6)


def test_empty_sets_follow_the_package_conventions():
    nothing = match_keypoints({}, detections(np.zeros((0, 2)), []), radius=2)
    assert len(nothing) == 0 and nothing.overall.f1 == nothing.overall.precision == 1.0
    assert math.isnan(nothing.overall.mean_distance)
    missed = match_keypoints({"pole": POLES}, {}, radius=2)
    assert missed["pole"].recall == 0.0 and missed.overall.f1 == 0.0
    empty_kind = match_keypoints({"pole": []}, {"pole": np.zeros((0, 2))}, radius=2)
    assert empty_kind["pole"].f1 == 1.0


def test_kinds_may_be_numbers_and_mappings_may_use_numpy_keys():
    truth = detections([[1, 1], [5, 5]], np.array([1, 2]))
    result = match_keypoints(truth, {np.int64(1): [[1, 1]], 2: [[5, 6]]}, radius=2)
    assert list(result) == [1, 2] and result.overall.f1 == 1.0
    assert "KeypointMatch" in repr(result) and isinstance(result[1], PointMatch)


@pytest.mark.parametrize(
    ("true", "pred", "radius", "message"),
    [
        ({"pole": POLES}, {"pole": POLES}, 0, "radius must be a positive"),
        (POLES, {"pole": POLES}, 1, "true must be a mapping kind"),
        (detections(POLES, ["pole"]), {}, 1, "one kind per point: 2 points"),
        (detections(POLES, ["pole", None]), {}, 1, "the kind of row 1 is missing"),
        ({"pole": POLES}, {"pole": [[1.0, np.nan]]}, 1, r"pred\['pole'\] contains NaN"),
        ({"pole": POLES}, {"tip": np.zeros((1, 3))}, 1, "differ in dimension"),
        ({"pole": np.zeros((2, 2, 2))}, {}, 1, r"\(M, D\) array"),
    ],
)
def test_bad_input_is_refused(true, pred, radius, message):
    with pytest.raises(ng.InputError, match=message):
        match_keypoints(true, pred, radius=radius)


def test_exported_in_ng_metrics():
    for name in ("match_keypoints", "KeypointMatch", "box_iou", "box_average_precision", "BoxAP"):
        assert name in ng.metrics.__all__ and getattr(ng.metrics, name) is not None
