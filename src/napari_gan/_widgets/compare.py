"""The "Compare layers" dock widget: score a segmentation or a detection against a
reference drawn or loaded in napari.

Two Labels layers are compared object by object (:func:`napari_gan.metrics.segmentation_scores`);
two Points layers are matched one-to-one within a radius (:func:`napari_gan.metrics.match_points`,
or kind by kind with :func:`napari_gan.metrics.match_keypoints` when both have a "kind"
column); two Shapes layers of rectangles are scored as boxes
(:func:`napari_gan.metrics.box_average_precision`). The maths is the core's; this widget
only turns layers into arrays (:mod:`._compare_layers`) and shows the numbers.
"""

from __future__ import annotations

import math
from functools import partial
from typing import Any

import napari
import numpy as np
from magicgui.widgets import Container, FloatSpinBox, PushButton, create_widget
from qtpy.QtWidgets import QAbstractItemView, QHeaderView, QLabel, QTableWidget, QTableWidgetItem, QVBoxLayout, QWidget

import napari_gan as ng
from napari_gan.core import metrics

from ._compare_layers import feature, keypoint_columns, kind_column, layer_kind, rectangles_as_boxes
from ._layers import image_array
from ._report import report_error, report_warning

# table row titles for the keys of the score dicts
_TITLES = {
    "iou": "Foreground IoU",
    "f1@0.5": "F1 (IoU >= 0.5)",
    "precision@0.5": "Precision (IoU >= 0.5)",
    "recall@0.5": "Recall (IoU >= 0.5)",
    "tp@0.5": "Matched objects",
    "fp@0.5": "False positives",
    "fn@0.5": "Missed objects",
    "ap": "AP (IoU 0.5-0.9)",
    "n_true": "Reference count",
    "n_pred": "Prediction count",
    "f1": "F1",
    "precision": "Precision",
    "recall": "Recall",
    "tp": "Matched points",
    "fp": "False positives",
    "fn": "Missed points",
    "mean_distance": "Mean matched distance",
    "radius": "Match radius",
    "ap@0.5": "AP (IoU 0.5)",
    "ap@0.5:0.95": "AP (IoU 0.5-0.95)",
}
_POINT_KEYS = ("f1", "precision", "recall", "tp", "fp", "fn", "n_true", "n_pred", "mean_distance", "radius")
_KIND_KEYS = ("f1", "precision", "recall")  # shown for each kind of keypoint
_BOX_KEYS = {  # table key -> BoxAP field
    "ap@0.5": "ap50",
    "ap@0.5:0.95": "ap",
    "f1@0.5": "f1",
    "precision@0.5": "precision",
    "recall@0.5": "recall",
    "tp@0.5": "tp",
    "fp@0.5": "fp",
    "fn@0.5": "fn",
    "n_true": "n_true",
    "n_pred": "n_pred",
}


class CompareWidget(QWidget):
    """Score a prediction layer against a reference layer of the same kind.

    * two Labels layers: foreground IoU, object F1/precision/recall at IoU >= 0.5 and
      the score averaged over IoU 0.5-0.9 (see :func:`napari_gan.metrics.segmentation_scores`);
    * two Points layers: precision, recall and F1 of a one-to-one matching within
      ``radius`` (see :func:`napari_gan.metrics.match_points`). When both layers have a
      "kind" (or "class") feature column, points only match points of their kind, and
      F1, precision and recall of each kind follow the overall (micro-averaged) rows
      (see :func:`napari_gan.metrics.match_keypoints`);
    * two Shapes layers of axis-aligned rectangles (boxes): COCO-style AP at IoU 0.5 and
      averaged over IoU 0.5-0.95, and F1/precision/recall of all boxes at IoU 0.5 (see
      :func:`napari_gan.metrics.box_average_precision`). The prediction's "score"
      feature column ranks the boxes (without it all are equally confident); when both
      layers have a "class" column, boxes only match boxes of their class and each
      class's AP is shown. Other shapes (ellipses, polygons, ...) are refused.

    Both layers are compared in their data coordinates (``layer.data``): pixel
    indices for Labels, point coordinates for Points, rectangle vertices for Shapes,
    so the two must share one coordinate system (same shape and placement; e.g. points
    picked on the image the labels were drawn on). Layers with different scale or
    translate give a warning.

    Public methods (also what the tests drive): :meth:`compare`; the last result is
    :attr:`scores`.
    """

    def __init__(self, napari_viewer: napari.viewer.Viewer) -> None:
        super().__init__()
        self.viewer = napari_viewer
        self.scores: dict[str, float | int] | None = None

        self.reference_picker = create_widget(
            annotation=napari.layers.Layer,
            label="Reference",
            options={
                "choices": self._comparable_layers,
                "tooltip": "Ground truth: a Labels, a Points or a Shapes layer of rectangles",
            },
        )
        self.prediction_picker = create_widget(
            annotation=napari.layers.Layer,
            label="Prediction",
            options={
                "choices": self._comparable_layers,
                "tooltip": "Result to score: a layer of the same kind as the reference",
            },
        )
        self.radius = FloatSpinBox(
            value=3.0,
            min=0.01,
            max=1e6,
            step=0.5,
            label="Match radius",
            tooltip="Points only: largest distance (data units, e.g. pixels) at which a detection counts as a hit",
        )
        self.compare_button = PushButton(text="Compare")
        self._options = Container(
            widgets=[self.reference_picker, self.prediction_picker, self.radius, self.compare_button]
        )

        self.summary_label = QLabel("Choose two Labels, two Points or two Shapes (rectangle) layers")
        self.summary_label.setWordWrap(True)
        self.result_table = QTableWidget(0, 2)
        self.result_table.setHorizontalHeaderLabels(["Score", "Value"])
        self.result_table.verticalHeader().setVisible(False)
        self.result_table.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.result_table.horizontalHeader().setSectionResizeMode(0, QHeaderView.ResizeMode.Stretch)
        self.result_table.horizontalHeader().setSectionResizeMode(1, QHeaderView.ResizeMode.ResizeToContents)

        layout = QVBoxLayout(self)
        layout.addWidget(self._options.native)
        layout.addWidget(self.summary_label)
        layout.addWidget(self.result_table)

        self.compare_button.changed.connect(lambda *_: self.compare())
        self.reference_picker.changed.connect(self._update_radius)
        self.prediction_picker.changed.connect(self._update_radius)

        events = self.viewer.layers.events
        # not named reset_choices: napari would connect that too when docking
        connections = [
            (emitter, self.refresh_layer_choices)
            for emitter in (events.inserted, events.removed, events.reordered, events.renamed)
        ]
        for emitter, callback in connections:
            emitter.connect(callback)
        # the viewer may outlive this widget: never leave it calling into a deleted one
        self.destroyed.connect(partial(_disconnect, connections))
        self.refresh_layer_choices()

    # ----------------------------------------------------------------- public API

    def compare(self, reference=None, prediction=None) -> dict[str, float | int] | None:
        """Score ``prediction`` against ``reference`` (default: the chosen layers) and
        show the result (what Compare does).

        Returns
        -------
        dict or None
            The scores; None after showing an error. Keys as in
            :func:`napari_gan.metrics.segmentation_scores` for Labels; precision,
            recall, f1, tp, fp, fn, n_true, n_pred, mean_distance and radius for Points,
            plus ``"f1[KIND]"``, ``"precision[KIND]"``, ``"recall[KIND]"`` per kind; for
            boxes ``"ap@0.5"``, ``"ap@0.5:0.95"``, f1/precision/recall/tp/fp/fn at
            ``@0.5``, n_true, n_pred, plus ``"ap@0.5[CLASS]"`` and
            ``"ap@0.5:0.95[CLASS]"`` per class.
        """
        reference = reference if reference is not None else self.reference_picker.value
        prediction = prediction if prediction is not None else self.prediction_picker.value
        warnings: list[str] = []
        try:
            kind = _check_pair(reference, prediction)
            if kind == "Labels":
                scores = metrics.segmentation_scores(
                    np.asarray(image_array(reference)), np.asarray(image_array(prediction))
                )
                summary = f"Labels: {prediction.name!r} against reference {reference.name!r}"
            elif kind == "Points":
                scores, summary = self._score_points(reference, prediction, warnings)
            else:
                scores, summary = _score_boxes(reference, prediction, warnings)
        except Exception as exc:
            report_error(exc, context="Cannot compare")
            return None
        if not _same_placement(reference, prediction):
            warnings.append(
                f"{reference.name!r} and {prediction.name!r} are placed differently (scale or translate); "
                "they were compared in data coordinates"
            )
        for message in warnings:
            report_warning(message)
        self.scores = scores
        self._show(scores, summary)
        return scores

    def refresh_layer_choices(self, *_: Any) -> None:
        """Refresh the layer pickers (called whenever the layer list changes)."""
        self._options.reset_choices()
        self._update_radius()

    # ----------------------------------------------------------------- internals

    def _score_points(self, reference, prediction, warnings: list[str]) -> tuple[dict, str]:
        summary = f"Points: {prediction.name!r} against reference {reference.name!r}"
        columns = kind_column(reference), kind_column(prediction)
        if None in columns:
            if columns != (None, None):
                warnings.append(_one_sided(reference, prediction, columns) + "; points of all kinds matched")
            match = metrics.match_points(
                np.asarray(reference.data), np.asarray(prediction.data), radius=self.radius.value
            )
            everything = match.as_dict()
            return {key: everything[key] for key in _POINT_KEYS}, summary
        result = metrics.match_keypoints(
            keypoint_columns(reference, columns[0]), keypoint_columns(prediction, columns[1]), radius=self.radius.value
        )
        everything = result.overall.as_dict()
        scores = {key: everything[key] for key in _POINT_KEYS}
        for name, match in result.items():
            scores.update({f"{key}[{name}]": getattr(match, key) for key in _KIND_KEYS})
        return scores, f"{summary}; {len(result)} kinds, matched kind by kind"

    def _comparable_layers(self, *_: Any) -> list[tuple[str, napari.layers.Layer]]:
        kinds = (napari.layers.Labels, napari.layers.Points, napari.layers.Shapes)
        return [(layer.name, layer) for layer in self.viewer.layers if isinstance(layer, kinds)]

    def _update_radius(self, *_: Any) -> None:
        chosen = (self.reference_picker.value, self.prediction_picker.value)
        self.radius.enabled = any(isinstance(layer, napari.layers.Points) for layer in chosen)

    def _show(self, scores: dict[str, float | int], summary: str) -> None:
        self.summary_label.setText(summary)
        self.result_table.setRowCount(len(scores))
        for row, (key, value) in enumerate(scores.items()):
            title = QTableWidgetItem(_title(key))
            title.setToolTip(key)
            self.result_table.setItem(row, 0, title)
            self.result_table.setItem(row, 1, QTableWidgetItem(_format(value)))


def _score_boxes(reference, prediction, warnings: list[str]) -> tuple[dict, str]:
    true, pred = rectangles_as_boxes(reference), rectangles_as_boxes(prediction)
    classes = feature(reference, "class"), feature(prediction, "class")
    if (classes[0] is None) != (classes[1] is None):
        present = tuple(None if c is None else "class" for c in classes)
        warnings.append(_one_sided(reference, prediction, present) + "; boxes of all classes matched")
        classes = (None, None)
    scores = feature(prediction, "score")
    result = metrics.box_average_precision(true, pred, scores, true_classes=classes[0], pred_classes=classes[1])
    table = {key: getattr(result, field) for key, field in _BOX_KEYS.items()}
    if classes[0] is not None:
        for name in result.class_ap:
            table[f"ap@0.5[{name}]"] = result.class_ap50[name]
            table[f"ap@0.5:0.95[{name}]"] = result.class_ap[name]
    summary = f"Boxes: {prediction.name!r} against reference {reference.name!r}"
    if scores is None:
        summary += f"; {prediction.name!r} has no 'score' column: AP counts every box as equally confident"
    return table, summary


def _one_sided(reference, prediction, columns: tuple[str | None, str | None]) -> str:
    """The warning for a kind or class column that only one of the two layers has."""
    has, lacks = (reference, prediction) if columns[0] is not None else (prediction, reference)
    return f"only {has.name!r} has a {columns[0] or columns[1]!r} column, {lacks.name!r} has none"


def _check_pair(reference, prediction) -> str:
    """The kind shared by the two layers ("Labels", "Points" or "Shapes"), else an InputError."""
    if reference is None or prediction is None:
        raise ng.InputError("choose a reference and a prediction layer: add Labels, Points or Shapes layers first")
    kinds = layer_kind(reference, "reference"), layer_kind(prediction, "prediction")
    if kinds[0] != kinds[1]:
        raise ng.InputError(
            f"the reference {reference.name!r} is a {kinds[0]} layer but the prediction {prediction.name!r} "
            f"is a {kinds[1]} layer: compare two layers of the same kind"
        )
    return kinds[0]


def _title(key: str) -> str:
    """The table title of a score key; ``"f1[pole]"`` reads "pole: F1"."""
    base, bracket, name = key.partition("[")
    if bracket and key.endswith("]") and base in _TITLES:
        return f"{name[:-1]}: {_TITLES[base]}"
    return _TITLES.get(key, key)


def _same_placement(a, b) -> bool:
    if len(a.scale) != len(b.scale):
        return True  # different dimensionality: the core already refused or compared what it could
    return bool(np.allclose(a.scale, b.scale) and np.allclose(a.translate, b.translate))


def _format(value: float | int) -> str:
    if isinstance(value, (int, np.integer)):
        return str(int(value))
    if math.isnan(value):
        return "-"
    return f"{value:.3f}"


def _disconnect(connections, *_: Any) -> None:
    for emitter, callback in connections:
        emitter.disconnect(callback)
