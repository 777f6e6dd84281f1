"""The Boxes dock widget in a real viewer (Xvfb): rectangles with a class column train
a few steps with a preview, found boxes come back as rectangles with class and score
features, the score threshold filters them without predicting again, labels become
boxes, save/load, bad input, and the sample."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from skimage.measure import regionprops

import napari_gan as ng
from napari_gan import _sample_data as sd
from napari_gan._widgets._boxes_layers import boxes_to_rectangles, rectangles_to_boxes
from napari_gan._widgets._hooks import WIDGET_OF_KIND
from napari_gan._widgets.boxes import BoxesWidget
from napari_gan.core.synthetic_boxes import blobs_and_rods

SCALE = (0.5, 2.0)
SQUARE = np.array([[2.0, 2.0], [2.0, 9.0], [9.0, 9.0], [9.0, 2.0]])


@pytest.fixture
def widget(dock):
    return dock(BoxesWidget, "Boxes")


def wait_idle(qtbot, w, timeout=60_000):
    qtbot.waitUntil(lambda: not w.panel.is_busy, timeout=timeout)


def configure(w, steps=6, preview=3):
    w.patch_size.value, w.batch_size.value = 32, 4
    w.max_steps.value, w.preview_every.value = steps, preview


def add_rectangles(viewer, boxes, classes=None, **kwargs):
    features = None if classes is None else pd.DataFrame({"class": classes})
    return viewer.add_shapes(boxes_to_rectangles(boxes), shape_type="rectangle", features=features, **kwargs)


def test_train_preview_predict_threshold_save(widget, qtbot, errors, tmp_path, monkeypatch):
    viewer, w = widget
    img, boxes, classes = blobs_and_rods((64, 64), n=(3, 3), seed=0)
    image = viewer.add_image(img, name="objects", scale=SCALE)
    drawn = add_rectangles(viewer, boxes, classes, name="drawn", scale=SCALE)
    np.testing.assert_allclose(rectangles_to_boxes(drawn, image), boxes)
    w.image_picker.value, w.boxes_picker.value = image, drawn
    configure(w)
    assert w.train()
    qtbot.waitUntil(lambda: "objects [box centre heatmap preview]" in viewer.layers, timeout=30_000)
    wait_idle(qtbot, w)
    model = w.model
    assert errors == [] and model.classes == ["blob", "rod"] and model.steps_trained == 6
    preview = viewer.layers["objects [box centre heatmap preview]"]
    assert preview.data.shape == img.shape and 0 <= preview.data.min() <= preview.data.max() <= 1
    assert w.threshold.value == pytest.approx(model.threshold)

    w.threshold.value = 0.0
    assert w.predict(image)
    qtbot.waitUntil(lambda: "objects [boxes]" in viewer.layers, timeout=30_000)
    wait_idle(qtbot, w)
    out = viewer.layers["objects [boxes]"]
    every = model.predict(img, threshold=0)
    assert len(every["score"]) > 0 and set(out.shape_type) == {"rectangle"}
    np.testing.assert_allclose(rectangles_to_boxes(out), every["boxes"], atol=1e-4)
    assert list(out.features.columns) == ["class", "score"]
    assert list(out.features["class"].cat.categories) == ["blob", "rod"]
    np.testing.assert_array_equal(out.features["class"].astype(str), every["class"])
    np.testing.assert_allclose(out.features["score"], every["score"], rtol=1e-6)
    np.testing.assert_allclose(out.scale, SCALE)
    assert out.metadata["napari_gan"]["model"] == "BoxDetector"

    # moving the threshold filters the kept candidates: no new prediction
    calls = []
    monkeypatch.setattr(model, "predict", lambda *a, **k: calls.append(1))
    kept = out.metadata["napari_gan"]["candidates"]
    counts = []
    for t in (float(np.median(every["score"])), 1.0, 0.0, float(every["score"].max())):
        w.threshold.value = t
        qtbot.waitUntil(lambda: out.metadata["napari_gan"]["threshold"] == w.threshold.value, timeout=5_000)
        keep = kept["score"] >= w.threshold.value
        counts.append(len(out.data))
        assert len(out.data) == len(out.features) == keep.sum()
        if keep.any():
            np.testing.assert_allclose(rectangles_to_boxes(out), kept["boxes"][keep], atol=1e-4)
        np.testing.assert_array_equal(out.features["class"].astype(str), kept["class"][keep])
        assert (out.features["score"] >= w.threshold.value).all()
    assert counts[1] == 0 and counts[2] == len(every["score"])
    assert calls == [] and out.metadata["napari_gan"]["threshold"] == w.threshold.value
    monkeypatch.undo()

    path = w.save_model(tmp_path / "boxes.ngan")
    w.threshold.value = 0.9
    loaded = w.load_model(path)
    assert isinstance(loaded, ng.BoxDetector) and loaded.classes == ["blob", "rod"]
    assert w.threshold.value == pytest.approx(loaded.threshold)
    assert w.panel.export_config(tmp_path / "run.yaml") is not None
    assert viewer.open(str(path), plugin="napari-gan") == []  # a .ngan BoxDetector opens in a Boxes widget
    _, docked = viewer.window.add_plugin_dock_widget("napari-gan", "Boxes")
    assert isinstance(docked, BoxesWidget) and docked.model.classes == ["blob", "rod"]
    assert errors == [] and image.data is img


def test_one_class_without_a_column(widget, qtbot, errors):
    viewer, w = widget
    img, boxes, _ = blobs_and_rods((64, 64), n=(3, 2), seed=1)
    w.image_picker.value = viewer.add_image(img, name="objects")
    w.boxes_picker.value = add_rectangles(viewer, boxes, name="drawn")
    configure(w, steps=2, preview=0)
    assert w.train()
    wait_idle(qtbot, w)
    assert errors == [] and w.model.classes == ["object"]


def test_boxes_from_labels_are_regionprops_boxes(widget, errors):
    viewer, w = widget
    _, _, _, labels = blobs_and_rods((96, 96), seed=2, return_labels=True)
    layer = viewer.add_labels(labels, name="objects", scale=SCALE)
    w.labels_picker.value = layer
    w.labels_button.clicked.emit()
    out = viewer.layers["objects [boxes]"]
    bbox = np.array([p.bbox for p in regionprops(labels)], dtype=float).reshape(-1, 2, 2)
    assert len(bbox) > 5 and set(out.shape_type) == {"rectangle"}
    np.testing.assert_allclose(rectangles_to_boxes(out), bbox)
    np.testing.assert_array_equal(out.features["label"], [p.label for p in regionprops(labels)])
    assert (out.features["class"] == "object").all() and (out.features["score"] == 1).all()
    np.testing.assert_allclose(out.scale, SCALE)
    # again: our own layer is replaced, not piled up
    assert w.boxes_from_labels(layer) is not None and len([n for n in viewer.layers if "[boxes]" in n.name]) == 1
    assert errors == []
    w.boxes_from_labels(viewer.add_labels(np.zeros((3, 8, 8), np.int32), name="volume"))
    assert "2D Labels layer" in errors[-1]
    w.labels_picker.value = None
    w.labels_button.clicked.emit()
    assert "choose a Labels layer" in errors[-1]


def test_bad_input_is_reported(widget, qtbot, errors):
    viewer, w = widget
    img, boxes, classes = blobs_and_rods((64, 64), n=(3, 3), seed=0)
    image = viewer.add_image(img, name="objects")
    w.image_picker.value = image
    configure(w, steps=2, preview=0)

    def refused(layer, message):
        w.boxes_picker.value = layer
        w.train()  # the core's own checks (outside, classes) run as training starts, in the worker
        wait_idle(qtbot, w)
        assert message in errors[-1], errors[-1]
        assert w.model is None

    refused(viewer.add_shapes(name="empty", ndim=2), "'empty' has no rectangles")
    mixed = add_rectangles(viewer, boxes[:2], name="mixed")
    mixed.add_polygons([np.array([[1.0, 1.0], [5.0, 9.0], [9.0, 2.0]])])
    mixed.add_ellipses([SQUARE])
    refused(mixed, "shape 2 of 'mixed' is a polygon")
    lines = viewer.add_shapes([SQUARE[:2]], shape_type="line", name="lines")
    refused(lines, "shape 0 of 'lines' is a line")
    rotated = viewer.add_shapes(
        [np.array([[0.0, 5.0], [5.0, 10.0], [10.0, 5.0], [5.0, 0.0]])], shape_type="rectangle", name="rotated"
    )
    refused(rotated, "rectangle 0 of 'rotated' is rotated")
    refused(add_rectangles(viewer, np.array([[[50, 50], [90, 60]]]), name="far"), "outside the image")
    unused = pd.Categorical(classes, categories=["blob", "rod", "cell"])
    refused(add_rectangles(viewer, boxes, unused, name="unused"), "['cell'] have no boxes")
    blank = add_rectangles(viewer, boxes, [None, *classes[1:]], name="blank")
    refused(blank, "rectangle 0 of 'blank' has no 'class'")
    w.boxes_picker.value = add_rectangles(viewer, boxes, classes, name="good")
    w.image_picker.value = viewer.add_image(np.zeros((4, 32, 32), np.float32), name="stack")
    w.train()
    assert "2D images" in errors[-1] and "'stack'" in errors[-1]
    assert not w.predict(image)
    assert "no model yet" in errors[-1]
    assert image.data is img and len(viewer.layers["good"].data) == len(boxes)


def test_boxes_sample(make_napari_viewer):
    assert WIDGET_OF_KIND["BoxDetector"] == "Boxes"
    (image, _, kind), (labels, _, lkind), (rects, style, skind) = sd.blobs_and_rods_with_boxes()
    assert (kind, lkind, skind) == ("image", "labels", "shapes")
    assert image.shape == labels.shape == (192, 192) and image.dtype == np.float32
    viewer = make_napari_viewer()
    viewer.open_sample("napari-gan", "blobs_and_rods_with_boxes")
    shapes = viewer.layers["blob and rod boxes"]
    assert set(shapes.shape_type) == {"rectangle"} and len(shapes.data) == labels.max() > 20
    assert set(shapes.features["class"]) == {"blob", "rod"}
    bbox = np.array([p.bbox for p in regionprops(labels)], dtype=float).reshape(-1, 2, 2)
    np.testing.assert_allclose(rectangles_to_boxes(shapes, viewer.layers["blobs and rods"]), bbox)
    _, w = viewer.window.add_plugin_dock_widget("napari-gan", "Boxes")
    assert isinstance(w, BoxesWidget)
