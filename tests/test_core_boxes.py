"""BoxDetector, boxes_from_labels and the blobs-and-rods generator through the public
API: learning beyond an untrained net on a small synthetic image, the columns
predict returns, thresholds and non-maximum suppression, save/load, resume, 3D, and
errors on bad input."""

from __future__ import annotations

import itertools

import numpy as np
import pytest
from skimage.measure import regionprops

import napari_gan as ng
from napari_gan.core.synthetic_boxes import blobs_and_rods
from napari_gan.core.tasks._boxes_common import nms, suppress

# a small, fast network: about 10 s of training on two cores
FAST = dict(patch_size=48, batch_size=8, features=8, depth=3, learning_rate=3e-3)
TINY = dict(patch_size=32, batch_size=2, features=4, depth=2)


def iou_matrix(a, b):
    """IoU of (M, 2, D) and (K, 2, D) boxes, written out independently of the package."""
    out = np.zeros((len(a), len(b)))
    for i, j in itertools.product(range(len(a)), range(len(b))):
        inter = np.prod(np.clip(np.minimum(a[i, 1], b[j, 1]) - np.maximum(a[i, 0], b[j, 0]), 0, None))
        union = np.prod(a[i, 1] - a[i, 0]) + np.prod(b[j, 1] - b[j, 0]) - inter
        out[i, j] = inter / union
    return out


def scores(true_boxes, true_classes, det):
    """(mean over true boxes of the best IoU with a found box of its class,
    F1 of greedy class-wise matches at IoU >= 0.5)."""
    m = iou_matrix(true_boxes.astype(float), det["boxes"])
    m = np.where(true_classes[:, None] == det["class"][None, :], m, 0.0)
    best = m.max(1) if m.shape[1] else np.zeros(len(true_boxes))
    matched, tp = np.zeros(len(true_boxes), bool), 0
    for j in np.argsort(-det["score"], kind="stable"):  # by score, as detection benchmarks do
        col = np.where(matched, 0.0, m[:, j])
        i = int(np.argmax(col))
        if col[i] >= 0.5:
            matched[i], tp = True, tp + 1
    return float(best.mean()), 2 * tp / (len(true_boxes) + len(det["boxes"]))


@pytest.fixture(scope="module")
def data():
    return blobs_and_rods((96, 96), seed=0)


@pytest.fixture(scope="module")
def trained(data):
    image, boxes, classes = data
    return ng.BoxDetector(**FAST).fit(image, boxes, classes, max_steps=250, seed=0)


@pytest.fixture(scope="module")
def small():
    """A 64 x 64 image and a detector trained a few steps on it: for everything but quality."""
    image, boxes, classes = blobs_and_rods((64, 64), n=(3, 3), seed=2)
    return image, boxes, classes, ng.BoxDetector(**TINY).fit(image, boxes, classes, max_steps=3, seed=0)


# ---------------------------------------------------------------- synthetic data


def test_blobs_and_rods_boxes_are_their_objects_bounding_boxes():
    image, boxes, classes, labels = blobs_and_rods((96, 96), seed=0, return_labels=True)
    assert image.shape == (96, 96) and image.dtype == np.float32
    assert boxes.shape == (len(classes), 2, 2) and boxes.dtype == np.int64
    assert set(classes) == {"blob", "rod"} and classes.dtype.kind == "U"
    props = regionprops(labels)
    assert [p.label for p in props] == list(range(1, len(boxes) + 1))
    for p, box in zip(props, boxes):
        np.testing.assert_array_equal(np.reshape(p.bbox, (2, 2)), box)
    # the blobs are brighter than the rods
    blob = np.mean([image[labels == i + 1].mean() for i in np.flatnonzero(classes == "blob")])
    rod = np.mean([image[labels == i + 1].mean() for i in np.flatnonzero(classes == "rod")])
    assert blob > rod + 0.2
    again = blobs_and_rods((96, 96), seed=0)
    np.testing.assert_array_equal(again[0], image)
    assert not np.array_equal(blobs_and_rods((96, 96), seed=1)[0], image)
    with pytest.raises(ng.InputError, match="shape"):
        blobs_and_rods((16, 16))
    with pytest.raises(ng.InputError, match="n must be"):
        blobs_and_rods(n=(2, -1))
    with pytest.raises(ng.InputError, match="touching"):
        blobs_and_rods(touching=2.0)


def test_boxes_from_labels_are_regionprops_boxes():
    image, _, _, labels = blobs_and_rods((96, 96), seed=3, return_labels=True)
    labels[labels == 2] = 0  # ids need not be consecutive
    labels[labels == 5] = 40
    out = ng.boxes_from_labels(labels)
    props = regionprops(labels)
    assert set(out) == {"boxes", "class", "score", "label"}
    assert out["boxes"].shape == (len(props), 2, 2) and out["boxes"].dtype == np.float64
    np.testing.assert_array_equal(out["boxes"], np.array([np.reshape(p.bbox, (2, 2)) for p in props]))
    np.testing.assert_array_equal(out["label"], [p.label for p in props])
    assert (out["class"] == "object").all() and (out["score"] == 1.0).all()
    with_image = ng.boxes_from_labels(labels, image=image)
    np.testing.assert_allclose(
        with_image["mean_intensity"], [image[labels == p.label].mean(dtype=np.float64) for p in props]
    )
    rgb = ng.boxes_from_labels(labels, image=np.stack([image, 2 * image], -1))
    assert rgb["mean_intensity"].shape == (len(props), 2)
    # 3D, a bool mask (one object), no object
    vol = np.zeros((8, 16, 16), np.uint16)
    vol[1:4, 2:9, 5:7] = 3
    np.testing.assert_array_equal(ng.boxes_from_labels(vol)["boxes"], [[[1, 2, 5], [4, 9, 7]]])
    np.testing.assert_array_equal(ng.boxes_from_labels(vol > 0)["boxes"], [[[1, 2, 5], [4, 9, 7]]])
    empty = ng.boxes_from_labels(np.zeros((8, 8), int))
    assert empty["boxes"].shape == (0, 2, 2) and empty["class"].shape == empty["score"].shape == (0,)
    with pytest.raises(ng.InputError, match="integer label image"):
        ng.boxes_from_labels(labels.astype(float))
    with pytest.raises(ng.InputError, match="does not fit labels"):
        ng.boxes_from_labels(labels, image=image[:50])


# ---------------------------------------------------------------- learning


def test_training_finds_the_boxes_an_untrained_net_does_not(data, trained):
    image, boxes, classes = data
    untrained = ng.BoxDetector(**FAST).fit(image, boxes, classes, max_steps=1, seed=0)
    before = scores(boxes, classes, untrained.predict(image, threshold=0.0))
    after = scores(boxes, classes, trained.predict(image))
    # AP ranks every candidate by its score: the low-floor result, not the thresholded one
    truth = {"boxes": boxes, "class": classes}
    ap_before = ng.metrics.box_average_precision(truth, untrained.predict(image, threshold=0.0)).ap50
    ap_after = ng.metrics.box_average_precision(truth, trained.predict(image, threshold=0.0)).ap50
    print(f"mean best IoU, F1@0.5, AP50: untrained {before}, {ap_before}; after 250 steps {after}, {ap_after}")
    # 250 steps of a tiny net learn the bright blobs; the dim rods take longer
    assert after[0] > 0.3 and after[0] > before[0] + 0.25
    assert after[1] >= 0.4 and after[1] > before[1] + 0.3
    assert ap_after > 0.35 and ap_after > ap_before + 0.3
    blob = classes == "blob"
    found = scores(boxes[blob], classes[blob], trained.predict(image))[0]
    assert found > 0.5
    assert trained.classes == ["blob", "rod"]
    assert 0 < trained.threshold < 1
    assert {"loss", "heatmap", "size"} <= set(trained.history[-1])
    assert trained.history[-1]["size"] < trained.history[0]["size"]


def test_predict_columns_shapes_dtypes_and_order(data, trained):
    image, _, _ = data
    det = trained.predict(image)
    assert set(det) == {"boxes", "class", "score"}
    k = len(det["score"])
    assert k > 0
    assert det["boxes"].shape == (k, 2, 2) and det["boxes"].dtype == np.float64
    assert det["class"].shape == (k,) and det["class"].dtype.kind == "U"
    assert det["score"].shape == (k,) and det["score"].dtype == np.float64
    assert set(det["class"]) <= {"blob", "rod"}
    assert (np.diff(det["score"]) <= 0).all(), "sorted by descending score"
    assert (det["score"] >= trained.threshold).all() and (det["score"] <= 1).all()
    assert (det["boxes"][:, 0] < det["boxes"][:, 1]).all()
    assert (det["boxes"] >= 0).all() and (det["boxes"][:, 1] <= image.shape).all()
    heat = trained.predict(image, output="heatmap")  # one centre heatmap per class
    assert heat.shape == (2, *image.shape) and heat.dtype == np.float32
    centre = np.round(det["boxes"].mean(axis=1)).astype(int)
    k_of = np.array([trained.classes.index(c) for c in det["class"]])
    assert np.allclose(heat[k_of, centre[:, 0], centre[:, 1]], det["score"], atol=0.15)
    with pytest.raises(ng.InputError, match="output"):
        trained.predict(image, output="masks")
    none = trained.predict(image, threshold=1.0)
    assert none["boxes"].shape == (0, 2, 2) and none["class"].shape == none["score"].shape == (0,)
    # a multichannel model is refused a single-channel image, by name
    with pytest.raises(ng.InputError, match="channel"):
        trained.predict(np.stack([image] * 3, -1))


def test_a_threshold_moved_later_gives_what_predict_gives(data, trained):
    image, _, _ = data
    every = trained.predict(image, threshold=0.0)
    assert every["score"].min() >= trained.config.min_score
    assert len(every["score"]) >= len(trained.predict(image)["score"])
    for t in (0.1, 0.3, trained.threshold):
        direct = trained.predict(image, threshold=t)
        keep = every["score"] >= t
        for column in ("boxes", "class", "score"):
            np.testing.assert_array_equal(every[column][keep], direct[column])


def test_non_maximum_suppression_removes_duplicates(data, trained):
    boxes = np.array([[[0, 0], [10, 10]], [[1, 0], [11, 10]], [[30, 30], [40, 44]], [[0, 0], [10, 10]]], float)
    scores_ = np.array([0.9, 0.8, 0.7, 0.95])
    assert nms(boxes, scores_, 0.5).tolist() == [3, 2]  # 0 and 1 duplicate 3
    assert nms(boxes, scores_, 1.0).tolist() == [3, 0, 1, 2]
    classes = np.array([0, 1, 0, 0])
    assert sorted(suppress(boxes, classes, scores_, iou=0.5, across_classes=False).tolist()) == [1, 2, 3]
    assert sorted(suppress(boxes, classes, scores_, iou=0.5, across_classes=True).tolist()) == [2, 3]

    image, _, _ = data
    kept = trained.predict(image, threshold=0.0)
    every = trained.predict(image, threshold=0.0, nms_iou=1.0)
    assert len(every["score"]) >= len(kept["score"])
    for c in np.unique(kept["class"]):
        b = kept["boxes"][kept["class"] == c]
        overlap = iou_matrix(b, b)[~np.eye(len(b), dtype=bool)]
        assert (overlap <= 0.5 + 1e-9).all()
    across = trained.predict(image, threshold=0.0, nms_across_classes=True)
    overlap = iou_matrix(across["boxes"], across["boxes"])[~np.eye(len(across["score"]), dtype=bool)]
    assert (overlap <= 0.5 + 1e-9).all()


def test_save_and_load_give_identical_predictions(tmp_path, data, trained):
    image, _, _ = data
    path = trained.save(tmp_path / "boxes.ngan")
    loaded = ng.load_model(path)
    assert isinstance(loaded, ng.BoxDetector)
    assert loaded.classes == trained.classes and loaded.threshold == trained.threshold
    assert loaded.config == trained.config
    a, b = trained.predict(image, threshold=0.0), loaded.predict(image, threshold=0.0)
    for column in ("boxes", "class", "score"):
        np.testing.assert_array_equal(a[column], b[column])


def test_a_header_whose_classes_do_not_fit_the_network_is_refused(tmp_path, small):
    import json

    from safetensors.torch import load_file, save_file

    from napari_gan.core.io import FORMAT, read_header

    path = small[3].save(tmp_path / "small.ngan")
    tensors, header = load_file(str(path)), read_header(path)
    for classes, message in [
        (["blob"], "does not fit 1 class"),
        (["blob", "blob"], "distinct"),
        ([], "distinct and at least one"),
        ([3, "rod"], r"classes\[0\] must be a string"),
    ]:
        bad = tmp_path / "bad.ngan"
        save_file(tensors, str(bad), metadata={FORMAT: json.dumps({**header, "classes": classes})})
        with pytest.raises(ng.CheckpointError, match=message):
            ng.load_model(bad)


def test_a_stopped_run_resumes_to_the_same_weights(small):
    image, boxes, classes, _ = small
    whole = ng.BoxDetector(**TINY).fit(image, boxes, classes, max_steps=6, seed=1)
    stopped = ng.BoxDetector(**TINY)
    it = stopped.fit_iter(image, boxes, classes, max_steps=6, seed=1)
    for _ in itertools.islice(it, 3):
        pass
    it.close()
    stopped.fit(image, boxes, classes, max_steps=6, seed=1, resume=True)
    assert stopped.steps_trained == 6
    for key, value in whole.net.state_dict().items():
        np.testing.assert_allclose(stopped.net.state_dict()[key].numpy(), value.numpy(), rtol=1e-4, atol=1e-6)


def test_integer_classes_one_class_and_continued_training(small):
    image, boxes, classes, _ = small
    ints = np.where(classes == "blob", 7, 12)
    det = ng.BoxDetector(**TINY).fit(image, boxes, ints, max_steps=2, seed=0)
    assert det.classes == ["7", "12"]
    assert set(det.predict(image, threshold=0.0)["class"]) <= {"7", "12"}
    one = ng.BoxDetector(**TINY).fit(image, boxes, max_steps=2, seed=0)
    assert one.classes == ["object"] and set(one.predict(image, threshold=0.0)["class"]) <= {"object"}
    ordered = ng.BoxDetector(**TINY).fit(image, boxes, classes, class_names=["rod", "blob"], max_steps=2)
    assert ordered.classes == ["rod", "blob"]
    ordered.fit(image, boxes, classes, max_steps=2)  # continues: the same classes
    assert ordered.steps_trained == 4
    with pytest.raises(ng.InputError, match="trained on the classes"):
        ordered.fit_iter(image, boxes, np.where(classes == "blob", "blob", "worm"))
    with pytest.raises(ng.InputError, match=r"\['rod'\] have no boxes"):
        ordered.fit_iter(image, boxes, np.full(len(boxes), "blob"))


def test_volumes_and_stacks():
    vol = np.random.default_rng(0).normal(0.1, 0.05, (8, 16, 16)).astype(np.float32)
    boxes = np.array([[[1, 2, 2], [4, 6, 5]], [[3, 9, 8], [7, 14, 15]]])
    for lo, hi in boxes:
        vol[tuple(slice(a, b) for a, b in zip(lo, hi))] += 1.0
    det = ng.BoxDetector(**TINY).fit(vol, boxes, axes="ZYX", max_steps=2, seed=0)
    found = det.predict(vol, threshold=0.0)
    assert found["boxes"].ndim == 3 and found["boxes"].shape[1:] == (2, 3)
    assert det.net.config.dims == 3 and det.net.config.out_channels == 1 + 3
    with pytest.raises(ng.InputError, match="not a stack"):
        ng.BoxDetector(**TINY).fit_iter(vol, boxes)  # a 3D array is a stack unless axes say ZYX


def test_stacks_are_refused(small):
    image, boxes, _, det = small
    with pytest.raises(ng.InputError, match="not a stack"):
        det.predict(np.stack([image, image]))
    with pytest.raises(ng.InputError, match="not a stack"):
        ng.BoxDetector(**TINY).fit_iter(np.stack([image, image]), boxes, axes="TYX")


# ---------------------------------------------------------------- bad input


@pytest.mark.parametrize(
    "boxes, classes, message",
    [
        (None, None, "boxes is None"),
        (np.zeros((0, 2, 2)), None, "no boxes given"),
        ([], None, "no boxes given"),
        (np.zeros((3, 2, 3)), None, r"boxes are 3D .* 2 spatial axes"),
        (np.zeros((3, 4)), None, r"must have shape \(M, 2, 2\)"),
        ([[[5, 5], [2, 9]]], None, "min corner that is not below their max corner"),
        ([[[5, 5], [5, 9]]], None, "positive extent"),
        ([[[5, 5], [90, 70]]], None, "outside the image"),
        ([[[-3, 5], [10, 20]]], None, "outside the image"),
        ([[[np.nan, 5], [10, 20]]], None, "NaN"),
        ([[["a", "b"], ["c", "d"]]], None, "unsupported dtype"),
        ([[[1, 1], [9, 9]], [[20, 20], [30, 30]]], ["a"], "1 entries but there are 2 boxes"),
        ([[[1, 1], [9, 9]]], "a", "one string"),
        ([[[1, 1], [9, 9]], [[20, 20], [30, 30]]], ["a", 3], "mix strings and integers"),
        ([[[1, 1], [9, 9]]], [1.5], r"class names \(str\) or integers, got float"),
        ([[[1, 1], [9, 9]]], [""], "empty class name"),
    ],
)
def test_bad_boxes_and_classes(boxes, classes, message):
    image = np.random.default_rng(0).normal(size=(64, 80)).astype(np.float32)
    with pytest.raises(ng.InputError, match=message):
        ng.BoxDetector(**TINY).fit_iter(image, boxes, classes)


def test_bad_class_names_and_options(small):
    image, boxes, classes, det = small
    with pytest.raises(ng.InputError, match=r"the class\(es\) \['worm'\] have no boxes"):
        ng.BoxDetector(**TINY).fit_iter(image, boxes, classes, class_names=["blob", "rod", "worm"])
    with pytest.raises(ng.InputError, match=r"\['rod'\], which are not among the classes \['blob'\]"):
        ng.BoxDetector(**TINY).fit_iter(image, boxes, classes, class_names=["blob"])
    with pytest.raises(ng.InputError, match="repeat"):
        ng.BoxDetector(**TINY).fit_iter(image, boxes, classes, class_names=["blob", "rod", "rod"])
    with pytest.raises(ng.InputError, match="edge of the image|outside the image"):
        ng.BoxDetector(**TINY).fit_iter(image, boxes + 60, classes)
    with pytest.raises(ng.InputError, match="threshold"):
        det.predict(image, threshold=1.5)
    with pytest.raises(ng.InputError, match="nms_iou"):
        det.predict(image, nms_iou=0.0)
    with pytest.raises(ValueError, match="sigma"):
        ng.BoxDetector(sigma=0.0)
    with pytest.raises(RuntimeError, match="not been trained"):
        ng.BoxDetector().predict(image)
    # a box sticking out by half a pixel (drawn by hand along the edge) is clipped
    edge = np.array([[[0, 0], [10, 10]], [[-0.4, 50], [12, 64.5]]])
    ng.BoxDetector(**TINY).fit_iter(image, edge).close()


@pytest.mark.parametrize("ndim", [2, 3])
def test_non_maximum_suppression_equals_comparing_every_pair(ndim):
    """NMS compares only boxes that overlap (a k-d tree finds them); it must keep
    exactly what comparing every box with every higher-scoring kept one keeps,
    with tied scores, touching and empty boxes, and boxes of very different sizes."""
    rng = np.random.default_rng(ndim)
    for trial in range(40):
        n = int(rng.integers(0, 80))
        lo = rng.integers(0, 24, (n, ndim)) + rng.choice([0.0, 0.5], (n, ndim))
        extent = np.where(rng.random((n, 1)) < 0.1, 20.0, rng.integers(0, 8, (n, ndim)))
        boxes = np.stack([lo, lo + extent], 1)
        scores_ = rng.choice([0.2, 0.5, 0.9], n) if trial % 2 else rng.random(n)
        every_pair = ng.metrics.box_iou(boxes, boxes) if n else np.zeros((0, 0))
        for iou in (0.05, 0.5, 1.0):
            expected = []
            for i in np.argsort(-scores_, kind="stable"):
                if all(every_pair[i, k] <= iou for k in expected):
                    expected.append(i)
            assert nms(boxes, scores_, iou).tolist() == expected
