"""The Compare layers dock widget in a real viewer: Labels against Labels, Points
against Points, and bad choices reported as notifications."""

from __future__ import annotations

import numpy as np
import pytest

from napari_gan._widgets.compare import CompareWidget


@pytest.fixture
def viewer_widget(dock):
    return dock(CompareWidget, "Compare layers")


def labels_pair():
    true = np.zeros((40, 40), dtype=np.int32)
    true[2:12, 2:12] = 1
    true[20:30, 20:30] = 2
    true[30:38, 2:10] = 3
    pred = np.zeros_like(true)
    pred[2:12, 3:13] = 7  # IoU 90 / 110
    pred[20:30, 20:30] = 5
    pred[0:4, 30:34] = 9  # a false positive; object 3 is missed
    return true, pred


def table(widget) -> dict[str, str]:
    t = widget.result_table
    return {t.item(row, 0).toolTip(): t.item(row, 1).text() for row in range(t.rowCount())}


def test_labels_against_labels(viewer_widget, errors, warnings_shown):
    viewer, widget = viewer_widget
    true, pred = labels_pair()
    reference = viewer.add_labels(true, name="truth")
    prediction = viewer.add_labels(pred, name="result")
    viewer.add_image(np.zeros((40, 40)), name="image")  # not offered
    assert widget.reference_picker.choices == (reference, prediction)
    widget.reference_picker.value = reference
    widget.prediction_picker.value = prediction
    assert not widget.radius.enabled

    widget.compare_button.native.click()
    scores = widget.scores
    assert errors == [] and warnings_shown == []
    assert (scores["tp@0.5"], scores["fp@0.5"], scores["fn@0.5"]) == (2, 1, 1)
    assert scores["n_true"] == 3 and scores["n_pred"] == 3
    assert scores["f1@0.5"] == pytest.approx(2 / 3)
    shown = table(widget)
    assert shown["f1@0.5"] == "0.667" and shown["tp@0.5"] == "2"
    assert "'result' against reference 'truth'" in widget.summary_label.text()
    assert widget.compare() == scores


def test_points_against_points(viewer_widget, errors):
    viewer, widget = viewer_widget
    truth = viewer.add_points(np.array([[5.0, 5.0], [20.0, 20.0], [30.0, 8.0]]), name="spots")
    found = viewer.add_points(np.array([[5.5, 5.0], [21.0, 21.0], [5.0, 6.0]]), name="detections")
    widget.reference_picker.value = truth
    widget.prediction_picker.value = found
    assert widget.radius.enabled
    widget.radius.value = 1.0
    scores = widget.compare()
    assert errors == []
    assert (scores["tp"], scores["fp"], scores["fn"]) == (1, 2, 2)  # one-to-one: (5, 6) is a second hit
    widget.radius.value = 1.5
    scores = widget.compare()
    assert (scores["tp"], scores["fp"], scores["fn"]) == (2, 1, 1)
    assert scores["radius"] == 1.5 and table(widget)["tp"] == "2"
    # an empty prediction is a valid (bad) result, not an error
    empty = viewer.add_points(np.zeros((0, 2)), name="nothing")
    scores = widget.compare(truth, empty)
    assert errors == [] and scores["recall"] == 0.0 and scores["fn"] == 3
    assert table(widget)["mean_distance"] == "-"


def test_no_layers_and_mixed_kinds_are_reported(viewer_widget, errors):
    viewer, widget = viewer_widget
    assert widget.reference_picker.value is None
    widget.compare_button.native.click()
    assert widget.scores is None
    assert len(errors) == 1 and "choose a reference and a prediction layer" in errors[0]

    labels = viewer.add_labels(np.zeros((16, 16), dtype=np.int32), name="labels")
    points = viewer.add_points(np.zeros((3, 2)), name="points")
    assert widget.compare(labels, points) is None
    assert "Labels layer but the prediction 'points' is a Points layer" in errors[-1]
    image = viewer.add_image(np.zeros((16, 16)), name="image")
    assert widget.compare(image, labels) is None
    assert "'image' is a Image layer" in errors[-1]


def test_bad_data_is_reported(viewer_widget, errors):
    viewer, widget = viewer_widget
    small = viewer.add_labels(np.zeros((16, 16), dtype=np.int32), name="small")
    big = viewer.add_labels(np.zeros((16, 20), dtype=np.int32), name="big")
    assert widget.compare(small, big) is None
    assert errors[-1].startswith("Cannot compare") and "differ in shape" in errors[-1]
    flat = viewer.add_points(np.zeros((2, 2)), name="2d")
    deep = viewer.add_points(np.zeros((2, 3)), name="3d")
    assert widget.compare(flat, deep) is None
    assert "dimension" in errors[-1]
    assert widget.scores is None


def test_different_placement_warns(viewer_widget, errors, warnings_shown):
    viewer, widget = viewer_widget
    true, pred = labels_pair()
    reference = viewer.add_labels(true, name="truth")
    prediction = viewer.add_labels(pred, name="result", scale=(2.0, 2.0))
    assert widget.compare(reference, prediction) is not None
    assert errors == [] and len(warnings_shown) == 1 and "data coordinates" in warnings_shown[0]


def test_pickers_follow_the_layer_list(viewer_widget):
    viewer, widget = viewer_widget
    first = viewer.add_labels(np.zeros((8, 8), dtype=np.int32), name="first")
    assert widget.reference_picker.value is first
    viewer.layers.remove(first)
    assert widget.reference_picker.value is None and widget.reference_picker.choices == ()
