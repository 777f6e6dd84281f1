"""The Classify dock widget in a real viewer (Xvfb): add classes, click objects, train a
few steps, see the evaluation, predict into features and a class Labels layer,
save/load, frames mode, and bad input that leaves napari running."""

from __future__ import annotations

import numpy as np
import pytest

import napari_gan as ng
from napari_gan._widgets.classify import ClassifyWidget, annotated_classes
from napari_gan.core.synthetic import two_kinds

SCALE = (0.5, 2.0)
TRANSLATE = (10.0, -4.0)


@pytest.fixture
def classify_widget(dock):
    return dock(ClassifyWidget, "Classify")


def wait_idle(qtbot, widget, timeout=60_000):
    qtbot.waitUntil(lambda: not widget.panel.is_busy, timeout=timeout)


def train_error(widget, qtbot, errors) -> str:
    """Click Train and return the error shown: bad data is refused either when Train is
    clicked or by the core's checks, which run in the worker before the first step."""
    before, model = len(errors), widget.model
    steps = model.steps_trained if model is not None else 0
    if widget.train():
        wait_idle(qtbot, widget)
    assert len(errors) > before, "no error was shown"
    assert widget.model is model and (model is None or model.steps_trained == steps)  # nothing was trained
    return errors[-1]


def small_options(widget, steps=30):
    widget.crop.value = 32
    widget.batch_size.value = 8
    widget.max_steps.value = steps
    widget.validation.value = 0.25


def test_classify_objects_end_to_end(classify_widget, qtbot, errors, tmp_path):
    viewer, widget = classify_widget
    img, lab, kinds = two_kinds((128, 128), seed=3, rim=(0.5, 0.8))
    image = viewer.add_image(img, name="cells", scale=SCALE, translate=TRANSLATE)
    labels = viewer.add_labels(lab, name="objects", scale=SCALE, translate=TRANSLATE)
    widget.image_picker.value = image
    widget.labels_picker.value = labels
    small_options(widget)

    # what a user does: type a name, Add class, click objects
    for kind, name in enumerate(("uniform", "rim")):
        widget.class_name.value = name
        points = widget.add_class()
        assert points.name == f"class: {name}" and points.mode == "add"
        for i in np.flatnonzero(kinds == kind)[:4] + 1:
            centre = np.round(np.argwhere(lab == i).mean(0)).astype(int)
            if lab[tuple(centre)] != i:
                centre = np.argwhere(lab == i)[0]
            points.add(centre)  # data coordinates: the layer shares the labels' scale
    points.add(np.argwhere(lab == 0)[0])  # a click on the background
    classes, counts, off = annotated_classes(viewer.layers, labels)
    assert counts == {"uniform": 4, "rim": 4} and off == 1 and len(classes) == 8
    assert "uniform: 4 objects" in widget.counts_label.value and "not on an object" in widget.counts_label.value

    assert widget.train()
    wait_idle(qtbot, widget)
    assert not errors, errors
    model = widget.model
    assert isinstance(model, ng.ObjectClassifier) and model.steps_trained == 30
    assert len(widget.panel.loss_curve) == 30
    assert model.evaluation is not None
    # the held-out accuracy beside the loss, its last point the final evaluation's
    assert widget.panel.loss_curve.metrics["validation accuracy"][-1] == (30, pytest.approx(model.evaluation.accuracy))
    assert "accuracy" in widget.evaluation_label.text() and "confusion" in widget.evaluation_label.text()

    widget.predict_picker.value = image
    widget.predict_labels_picker.value = labels
    assert widget.predict()
    wait_idle(qtbot, widget)
    assert not errors, errors
    feats = labels.features
    assert len(feats) == lab.max() and set(feats["class"]) <= {"uniform", "rim"}
    assert {"index", "label", "probability", "probability_rim"} <= set(feats.columns)
    result = viewer.layers["objects [classes]"]
    assert result.data.shape == lab.shape and set(np.unique(result.data)) <= {0, 1, 2}
    np.testing.assert_allclose(result.scale, SCALE)
    assert result.metadata["napari_gan"]["classes"] == ["rim", "uniform"]
    assert list(result.features["class"]) == ["rim", "uniform"]

    saved = widget.save_model(tmp_path / "clf.ngan")
    assert saved is not None and ng.load_model(saved).classes == model.classes
    assert widget.load_model(saved) is not None and "accuracy" in widget.evaluation_label.text()


def test_classify_frames_mode(classify_widget, qtbot, errors):
    viewer, widget = classify_widget
    rng = np.random.default_rng(0)
    yy, xx = np.mgrid[:24, :24]
    frames = []
    for i in range(12):
        d = np.hypot(yy - 12 - rng.uniform(-2, 2), xx - 12 - rng.uniform(-2, 2))
        frames.append((d < 6) if i % 2 == 0 else (np.abs(d - 6) < 1.5))
    stack = np.asarray(frames, np.float32) + rng.normal(0, 0.2, (12, 24, 24)).astype(np.float32)
    image = viewer.add_image(stack, name="stack")
    widget.mode_picker.value = "images"
    widget.image_picker.value = image
    widget.input_size.value = 16
    widget.batch_size.value = 8
    widget.max_steps.value = 10
    widget.validation.value = 0.0
    widget.frame_names.value = "disc, ring, disc, ring, disc, ring, *6"  # a run of 6 frames not annotated
    assert "disc: 3 frames" in widget.counts_label.value and "(12 entries for 12 frames)" in widget.counts_label.value
    assert widget.train()
    wait_idle(qtbot, widget)
    assert not errors, errors
    assert isinstance(widget.model, ng.ImageClassifier) and widget.model.steps_trained == 10
    assert "none" in widget.evaluation_label.text()
    assert widget.predict(image)
    wait_idle(qtbot, widget)
    assert not errors, errors
    out = viewer.layers["stack [class per frame]"]
    assert len(out.data) == 12 and set(out.features["class"]) <= {"disc", "ring"}

    widget.frame_names.value = "disc, ring"  # not one per frame
    assert "2 class names for 12 frames" in train_error(widget, qtbot, errors)


def test_classify_bad_input_keeps_napari_running(classify_widget, qtbot, errors):
    viewer, widget = classify_widget
    img, lab, kinds = two_kinds((96, 96), seed=1)
    image = viewer.add_image(img, name="cells")
    labels = viewer.add_labels(lab, name="objects")
    widget.image_picker.value = image
    widget.labels_picker.value = labels
    small_options(widget, steps=2)

    assert "no class yet" in train_error(widget, qtbot, errors)

    widget.class_name.value = "only"
    points = widget.add_class()
    for i in (1, 2, 3):
        points.add(np.argwhere(lab == i)[0])
    assert "only one class" in train_error(widget, qtbot, errors)

    widget.class_name.value = "other"
    other = widget.add_class()
    other.add(np.argwhere(lab == 4)[0])
    assert "single annotated object" in train_error(widget, qtbot, errors)

    other.add(np.argwhere(lab == 1)[0])  # object 1 is already "only"
    assert "marked in two classes" in train_error(widget, qtbot, errors)

    wrong = viewer.add_labels(np.zeros((50, 50), np.int32), name="wrong shape")
    widget.labels_picker.value = wrong
    assert "shape" in train_error(widget, qtbot, errors)

    widget.class_name.value = ""
    assert widget.add_class() is None and "class name" in errors[-1]
    assert not widget.predict() and "no model" in errors[-1]
    assert widget.model is None and not widget.panel.is_busy
