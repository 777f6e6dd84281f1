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


def rectangle(y0, x0, y1, x1):
    """napari rectangle vertices of the box (min (y0, x0), max (y1, x1))."""
    return np.array([[y0, x0], [y0, x1], [y1, x1], [y1, x0]], dtype=float)


def test_keypoints_are_scored_kind_by_kind(viewer_widget, errors, warnings_shown):
    viewer, widget = viewer_widget
    truth = viewer.add_points(
        np.array([[10.0, 10.0], [30.0, 30.0], [50.0, 50.0]]), features={"kind": ["pole", "pole", "tip"]}, name="truth"
    )
    found = viewer.add_points(
        np.array([[11.0, 10.0], [50.0, 52.0], [10.0, 12.0]]),
        features={"kind": ["pole", "tip", "tip"], "score": [0.9, 0.8, 0.7]},
        name="found",
    )
    widget.radius.value = 3.0
    scores = widget.compare(truth, found)
    assert errors == [] and warnings_shown == []
    # overall: 2 hits of 3 points and 3 detections; the tip detection on a pole is a false positive
    assert (scores["tp"], scores["fp"], scores["fn"]) == (2, 1, 1)
    assert (
        scores["recall[pole]"] == 0.5 and scores["precision[tip]"] == 0.5 and scores["f1[tip]"] == pytest.approx(2 / 3)
    )
    shown = table(widget)
    assert shown["f1"] == "0.667" and shown["recall[pole]"] == "0.500"
    titles = [widget.result_table.item(row, 0).text() for row in range(widget.result_table.rowCount())]
    assert "pole: Recall" in titles and "tip: F1" in titles
    assert "matched kind by kind" in widget.summary_label.text()


def test_kinds_on_one_side_only_warn_and_match_all_points(viewer_widget, errors, warnings_shown):
    viewer, widget = viewer_widget
    truth = viewer.add_points(np.array([[10.0, 10.0], [30.0, 30.0]]), features={"class": ["a", "b"]}, name="truth")
    found = viewer.add_points(np.array([[10.0, 11.0], [30.0, 30.0]]), name="found")
    scores = widget.compare(truth, found)
    assert errors == [] and scores["f1"] == 1.0 and "f1[a]" not in scores
    assert len(warnings_shown) == 1 and "only 'truth' has a 'class' column" in warnings_shown[0]


def test_boxes_from_rectangles(viewer_widget, errors, warnings_shown):
    viewer, widget = viewer_widget
    truth = viewer.add_shapes(
        [rectangle(0, 0, 10, 10), rectangle(20, 20, 30, 30), rectangle(40, 40, 50, 50)],
        shape_type="rectangle",
        features={"class": ["cell", "cell", "debris"]},
        name="truth",
    )
    found = viewer.add_shapes(
        [rectangle(0, 2, 10, 12), rectangle(20, 20, 30, 30), rectangle(40, 40, 50, 50), rectangle(60, 60, 70, 70)],
        shape_type="rectangle",
        features={"class": ["cell", "cell", "debris", "debris"], "score": [0.8, 0.9, 0.7, 0.95]},
        name="found",
    )
    assert widget.reference_picker.choices == (truth, found)
    widget.reference_picker.value, widget.prediction_picker.value = truth, found
    assert not widget.radius.enabled
    widget.compare_button.native.click()
    scores = widget.scores
    assert errors == [] and warnings_shown == []
    # cell: both found, one at IoU 2/3, so above IoU 0.65 only the first-ranked box is
    # a hit (precision 1 up to recall 1/2: 51 of the 101 recall points);
    # debris: found, after a more confident false box (precision 1/2 at every recall)
    cell = (4 + 6 * 51 / 101) / 10
    assert scores["ap@0.5[cell]"] == 1.0 and scores["ap@0.5:0.95[cell]"] == pytest.approx(cell)
    assert scores["ap@0.5[debris]"] == scores["ap@0.5:0.95[debris]"] == pytest.approx(0.5)
    assert scores["ap@0.5"] == pytest.approx(0.75) and scores["ap@0.5:0.95"] == pytest.approx((cell + 0.5) / 2)
    assert (scores["tp@0.5"], scores["fp@0.5"], scores["fn@0.5"]) == (3, 1, 0)
    assert scores["f1@0.5"] == pytest.approx(6 / 7)
    shown = table(widget)
    assert shown["ap@0.5"] == "0.750" and shown["tp@0.5"] == "3"
    titles = [widget.result_table.item(row, 0).text() for row in range(widget.result_table.rowCount())]
    assert "AP (IoU 0.5-0.95)" in titles and "debris: AP (IoU 0.5)" in titles
    assert widget.summary_label.text().startswith("Boxes: 'found' against reference 'truth'")


def test_boxes_without_scores_or_classes(viewer_widget, errors, warnings_shown):
    viewer, widget = viewer_widget
    truth = viewer.add_shapes([rectangle(0, 0, 10, 10)], shape_type="rectangle", name="truth")
    drawn = viewer.add_shapes(
        [rectangle(0, 0, 10, 10), rectangle(30, 30, 40, 40)],
        shape_type="rectangle",
        features={"class": ["cell", "cell"]},
        name="drawn",
    )
    scores = widget.compare(truth, drawn)
    assert errors == [] and scores["precision@0.5"] == 0.5 and scores["recall@0.5"] == 1.0
    assert scores["ap@0.5"] == 0.5  # one operating point: precision 1/2 up to recall 1
    assert not any("[" in key for key in scores)
    assert "no 'score' column" in widget.summary_label.text()
    assert len(warnings_shown) == 1 and "only 'drawn' has a 'class' column" in warnings_shown[0]
    empty = viewer.add_shapes(name="nothing")
    assert widget.compare(truth, empty)["ap@0.5"] == 0.0 and errors == []


def test_boxes_in_a_stack_are_one_plane_thick(viewer_widget, errors):
    viewer, widget = viewer_widget
    plane = np.array([[3, 0, 0], [3, 0, 10], [3, 10, 10], [3, 10, 0]], dtype=float)
    truth = viewer.add_shapes([plane], shape_type="rectangle", name="truth")
    same = viewer.add_shapes([plane.copy()], shape_type="rectangle", name="same")
    other = viewer.add_shapes([plane + [1, 0, 0]], shape_type="rectangle", name="next plane")
    assert widget.compare(truth, same)["ap@0.5:0.95"] == 1.0
    assert widget.compare(truth, other)["tp@0.5"] == 0 and errors == []


def test_shapes_that_are_not_boxes_are_reported(viewer_widget, errors):
    viewer, widget = viewer_widget
    boxes = viewer.add_shapes([rectangle(0, 0, 10, 10)], shape_type="rectangle", name="boxes")
    mixed = viewer.add_shapes(
        [rectangle(0, 0, 10, 10), rectangle(20, 20, 30, 30)], shape_type=["rectangle", "ellipse"], name="mixed"
    )
    assert widget.compare(boxes, mixed) is None
    assert errors[-1].startswith("Cannot compare") and "'mixed' holds ellipse shapes (shape 1" in errors[-1]
    tilted = viewer.add_shapes(
        [np.array([[0, 5], [5, 10], [10, 5], [5, 0]], dtype=float)], shape_type="rectangle", name="tilted"
    )
    assert widget.compare(tilted, boxes) is None and "rectangle 0 is rotated" in errors[-1]
    points = viewer.add_points(np.zeros((1, 2)), name="points")
    assert widget.compare(boxes, points) is None
    assert "is a Shapes layer but the prediction 'points' is a Points layer" in errors[-1]
    assert widget.scores is None
