"""KeypointDetector through the public API: several named kinds learned at once from
one image, found on another with a kind and a score per point; save/load; bad input."""

from __future__ import annotations

import numpy as np
import pytest

import napari_gan as ng
from napari_gan.core.synthetic_landmarks import landmark_cells

SMALL = dict(patch_size=48, batch_size=8, features=16)


@pytest.fixture(scope="module")
def trained():
    image, points = landmark_cells((128, 128), n_cells=10, seed=0)
    kp = ng.KeypointDetector(**SMALL).fit(image, points, max_steps=400, seed=0)
    return kp, image, points


def test_landmark_sample_marks_both_ends():
    image, points = landmark_cells((96, 96), n_cells=6, seed=3)
    assert image.dtype == np.float32 and image.shape == (96, 96)
    assert set(points) == {"head", "tail"} and len(points["head"]) == len(points["tail"]) > 0
    # the head is the blunt end: the cell is wider there than at the tail tip
    heads = image[tuple(np.round(points["head"]).astype(int).T)]
    tails = image[tuple(np.round(points["tail"]).astype(int).T)]
    assert np.median(heads) > np.median(tails)
    np.testing.assert_array_equal(landmark_cells((96, 96), n_cells=6, seed=3)[0], image)


def test_learns_each_kind_better_than_untrained(trained):
    kp, image, points = trained
    test, truth = landmark_cells((128, 128), n_cells=10, seed=7)
    found = kp.predict(test)
    assert set(found) == {"points", "kind", "score"}
    assert found["points"].shape == (len(found["kind"]), 2) and found["points"].dtype == np.float64
    assert found["score"].dtype == np.float32 and ((found["score"] >= 0) & (found["score"] <= 1)).all()
    assert set(found["kind"]) <= {"head", "tail"} and kp.kinds == ["head", "tail"]
    scores = ng.metrics.match_keypoints(truth, found, radius=4)
    untrained = ng.KeypointDetector(**SMALL).fit(image, points, max_steps=1, seed=0)
    before = ng.metrics.match_keypoints(truth, untrained.predict(test), radius=4)
    for kind in ("head", "tail"):
        assert scores[kind].f1 >= 0.4 and scores[kind].f1 > before[kind].f1 + 0.3, (kind, scores[kind], before[kind])


def test_threshold_heatmap_and_roundtrip(trained, tmp_path):
    kp, image, _ = trained
    found = kp.predict(image)
    loose = kp.predict(image, threshold=0.05)
    assert len(loose["kind"]) >= len(found["kind"])
    # a per-kind threshold applies to that kind only
    strict_head = kp.predict(image, threshold={"head": 0.99})
    assert (strict_head["kind"] == "head").sum() <= (found["kind"] == "head").sum()
    assert (strict_head["kind"] == "tail").sum() == (found["kind"] == "tail").sum()
    heat = kp.predict(image, output="heatmap")
    assert heat.shape == (2, 128, 128) and heat.dtype == np.float32
    # the score is the heatmap's value at the point
    at = np.round(found["points"]).astype(int)
    channel = np.array([kp.kinds.index(k) for k in found["kind"]])
    np.testing.assert_allclose(found["score"], heat[channel, at[:, 0], at[:, 1]], atol=1e-6)

    path = kp.save(tmp_path / "kp.ngan")
    loaded = ng.load_model(path)
    assert isinstance(loaded, ng.KeypointDetector) and loaded.kinds == kp.kinds
    assert loaded.thresholds == kp.thresholds
    again = loaded.predict(image)
    np.testing.assert_array_equal(again["points"], found["points"])
    np.testing.assert_array_equal(again["kind"], found["kind"])


def test_columns_input_close_kinds_stack_and_volume():
    image, points = landmark_cells((64, 64), n_cells=3, seed=1)
    columns = {
        "points": np.concatenate([points["head"], points["tail"]]),
        "kind": np.array(["head"] * len(points["head"]) + ["tail"] * len(points["tail"])),
    }
    kp = ng.KeypointDetector(**SMALL).fit(image, columns, max_steps=2)
    assert kp.kinds == ["head", "tail"]
    # points of two kinds one pixel apart are both kept (different channels)
    near = {"a": np.array([[20.0, 20.0]]), "b": np.array([[20.0, 21.0]])}
    ng.KeypointDetector(**SMALL).fit(image, near, max_steps=1)
    # a stack (frame column first) and a volume
    stack = np.stack([image, image])
    kp_t = ng.KeypointDetector(**SMALL).fit(stack, {"a": [[0, 10, 10], [1, 30, 30]]}, axes="TYX", max_steps=2)
    assert kp_t.predict(stack, threshold=0.01)["points"].shape[1] == 3
    vol = np.random.default_rng(0).random((16, 32, 32)).astype(np.float32)
    kp3 = ng.KeypointDetector(patch_size=16, batch_size=2, features=4).fit(
        vol, {"a": [[8, 10, 10]], "b": [[4, 20, 20]]}, axes="ZYX", max_steps=2
    )
    assert kp3.predict(vol, output="heatmap").shape == (2, 16, 32, 32)


@pytest.mark.parametrize(
    "points, message",
    [
        ({"head": np.zeros((0, 2)), "tail": [[5.0, 5.0]]}, "'head' has no points"),
        ({"head": [[5.0, 5.0, 5.0]]}, "shape (M, 2)"),
        ({"head": [[500.0, 5.0]]}, "outside the image"),
        ({"head": [[np.nan, 5.0]]}, "NaN"),
        ({}, "no kinds"),
        ({3: [[5.0, 5.0]]}, "kind names must be non-empty strings"),
        (np.zeros((3, 2)), "mapping of kind name"),
        ({"points": np.zeros((3, 2)), "kind": np.array(["a", "b"])}, "one kind per point"),
    ],
)
def test_bad_points_are_clear_errors(points, message):
    image = np.random.default_rng(0).random((48, 48)).astype(np.float32)
    with pytest.raises(ng.InputError, match=message.replace("(", r"\(").replace(")", r"\)")):
        ng.KeypointDetector(**SMALL).fit_iter(image, points)


def test_bad_thresholds_and_kinds(trained):
    kp, image, points = trained
    with pytest.raises(ng.InputError, match="unknown kind"):
        kp.predict(image, threshold={"nose": 0.5})
    with pytest.raises(ng.InputError, match="from 0 to 1"):
        kp.predict(image, threshold=1.5)
    with pytest.raises(ng.InputError, match="learned the kinds"):
        kp.fit_iter(image, {"tail": points["tail"]})
    with pytest.raises(RuntimeError, match="not been trained"):
        ng.KeypointDetector().predict(image)
