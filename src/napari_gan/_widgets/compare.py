"""The "Compare layers" dock widget: score a segmentation or a detection against a
reference drawn or loaded in napari.

Two Labels layers are compared object by object (:func:`napari_gan.metrics.segmentation_scores`);
two Points layers are matched one-to-one within a radius (:func:`napari_gan.metrics.match_points`).
The maths is the core's; this widget only turns layers into arrays and shows the numbers.
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

from ._training import image_array, report_error, report_warning

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
}
_POINT_KEYS = ("f1", "precision", "recall", "tp", "fp", "fn", "n_true", "n_pred", "mean_distance", "radius")


class CompareWidget(QWidget):
    """Score a prediction layer against a reference layer of the same kind.

    * two Labels layers: foreground IoU, object F1/precision/recall at IoU >= 0.5 and
      the score averaged over IoU 0.5-0.9 (see :func:`napari_gan.metrics.segmentation_scores`);
    * two Points layers: precision, recall and F1 of a one-to-one matching within
      ``radius`` (see :func:`napari_gan.metrics.match_points`).

    Both layers are compared in their data coordinates (``layer.data``): pixel
    indices for Labels, point coordinates for Points, so the two must share one
    coordinate system (same shape and placement; e.g. points picked on the image the
    labels were drawn on). Layers with different scale or translate give a warning.

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
            options={"choices": self._comparable_layers, "tooltip": "Ground truth: a Labels or a Points layer"},
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

        self.summary_label = QLabel("Choose two Labels or two Points layers")
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
            The scores (keys as in :func:`napari_gan.metrics.segmentation_scores` for
            Labels, or precision, recall, f1, tp, fp, fn, n_true, n_pred,
            mean_distance and radius for Points); None after showing an error.
        """
        reference = reference if reference is not None else self.reference_picker.value
        prediction = prediction if prediction is not None else self.prediction_picker.value
        try:
            kind = _check_pair(reference, prediction)
            if kind == "Labels":
                scores = metrics.segmentation_scores(
                    np.asarray(image_array(reference)), np.asarray(image_array(prediction))
                )
            else:
                match = metrics.match_points(
                    np.asarray(reference.data), np.asarray(prediction.data), radius=self.radius.value
                )
                everything = match.as_dict()
                scores = {key: everything[key] for key in _POINT_KEYS}
        except Exception as exc:
            report_error(exc, context="Cannot compare")
            return None
        if not _same_placement(reference, prediction):
            report_warning(
                f"{reference.name!r} and {prediction.name!r} are placed differently (scale or translate); "
                "they were compared in data coordinates"
            )
        self.scores = scores
        self._show(scores, f"{kind}: {prediction.name!r} against reference {reference.name!r}")
        return scores

    def refresh_layer_choices(self, *_: Any) -> None:
        """Refresh the layer pickers (called whenever the layer list changes)."""
        self._options.reset_choices()
        self._update_radius()

    # ----------------------------------------------------------------- internals

    def _comparable_layers(self, *_: Any) -> list[tuple[str, napari.layers.Layer]]:
        kinds = (napari.layers.Labels, napari.layers.Points)
        return [(layer.name, layer) for layer in self.viewer.layers if isinstance(layer, kinds)]

    def _update_radius(self, *_: Any) -> None:
        chosen = (self.reference_picker.value, self.prediction_picker.value)
        self.radius.enabled = any(isinstance(layer, napari.layers.Points) for layer in chosen)

    def _show(self, scores: dict[str, float | int], summary: str) -> None:
        self.summary_label.setText(summary)
        self.result_table.setRowCount(len(scores))
        for row, (key, value) in enumerate(scores.items()):
            title = QTableWidgetItem(_TITLES.get(key, key))
            title.setToolTip(key)
            self.result_table.setItem(row, 0, title)
            self.result_table.setItem(row, 1, QTableWidgetItem(_format(value)))


def _check_pair(reference, prediction) -> str:
    """The kind shared by the two layers ("Labels" or "Points"), else an InputError."""
    if reference is None or prediction is None:
        raise ng.InputError("choose a reference and a prediction layer: add Labels or Points layers first")
    kinds = []
    for role, layer in (("reference", reference), ("prediction", prediction)):
        if isinstance(layer, napari.layers.Labels):
            kinds.append("Labels")
        elif isinstance(layer, napari.layers.Points):
            kinds.append("Points")
        else:
            raise ng.InputError(
                f"the {role} {layer.name!r} is a {type(layer).__name__} layer; compare Labels or Points layers"
            )
    if kinds[0] != kinds[1]:
        raise ng.InputError(
            f"the reference {reference.name!r} is a {kinds[0]} layer but the prediction {prediction.name!r} "
            f"is a {kinds[1]} layer: compare two Labels or two Points layers"
        )
    return kinds[0]


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
