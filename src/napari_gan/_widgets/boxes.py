"""The "Boxes" dock widget: draw rectangles around objects (a class per rectangle in
a "class" feature column, or one class), train a :class:`napari_gan.BoxDetector`,
and find the objects of any 2D image layer as a Shapes layer of rectangles with
the class and score of each in its features table.

A prediction keeps every candidate down to the model's lowest score; the "Score
threshold" slider then chooses which are shown, without predicting again. "Boxes
from labels" turns a Labels layer (e.g. a Segmenter's objects) into the same kind
of layer, so segmentation and detection can be compared.
"""

from __future__ import annotations

import weakref
from typing import Any

import napari
import numpy as np
from magicgui.widgets import FloatSlider, FloatSpinBox, PushButton, SpinBox, create_widget
from qtpy.QtCore import QTimer

import napari_gan as ng

from ._boxes_layers import add_boxes_layer, centre_heatmap, rectangle_classes, rectangles_to_boxes, show_above
from ._budget import budget_widgets, can_resume, read_budget
from ._jobs import TrainingJob
from ._layers import axes_picker, central_crop, check_image_layer, image_array, layer_axes
from ._task import Placement, Preview, TaskWidget

PREVIEW_SUFFIX = " [box centre heatmap preview]"
RESULT_SUFFIX = " [boxes]"


def check_2d(layer, axes: str) -> None:
    """Boxes are drawn as napari rectangles, which are planar: 2D images only."""
    if axes.replace("C", "") != "YX":
        raise ng.InputError(
            f"Boxes works on 2D images (YX, or YXC with channels); {layer.name!r} has axes {axes!r}. "
            "Rectangles drawn in a stack or volume lie in one plane: train on one 2D image"
        )


class BoxesWidget(TaskWidget):
    """Train a box detector from rectangles and find boxes in image layers."""

    model_type = ng.BoxDetector
    predict_label = "Find in layer"

    def __init__(self, napari_viewer: napari.viewer.Viewer) -> None:
        self._result = None  # weak reference to the latest prediction's layer
        self._syncing = False
        super().__init__(napari_viewer)

    def _build_options(self) -> list:
        self.image_picker = create_widget(
            annotation=napari.layers.Image, label="Image", options={"choices": self._image_layers}
        )
        self.boxes_picker = create_widget(
            annotation=napari.layers.Shapes,
            label="Boxes",
            options={
                "choices": lambda *_: self._layers_of(napari.layers.Shapes),
                "tooltip": "A Shapes layer of rectangles, one around every object (unboxed objects count as "
                "background), with an optional 'class' feature column (else one class)",
            },
        )
        self.sigma = FloatSpinBox(
            value=0.25,
            min=0.05,
            max=1.0,
            step=0.05,
            label="Centre sigma",
            tooltip="Width of the Gaussian at each box's centre, as a fraction of the box's size",
        )
        self.axes_picker = axes_picker()
        self.patch_size = SpinBox(value=96, min=16, max=1024, step=16, label="Patch size")
        self.batch_size = SpinBox(value=8, min=1, max=1024, label="Batch size")
        self.max_steps, self.time_limit, self.preview_every, self.fine_tune = budget_widgets(1000)
        return [
            self.image_picker,
            self.boxes_picker,
            self.sigma,
            self.axes_picker,
            self.patch_size,
            self.batch_size,
            self.max_steps,
            self.time_limit,
            self.preview_every,
            self.fine_tune,
        ]

    def _build_predict_options(self) -> list:
        self.threshold = FloatSlider(
            value=0.5,
            min=0.0,
            max=1.0,
            step=0.01,
            label="Score threshold",
            tooltip="Show the boxes scoring at least this (set to the model's calibrated threshold when a model "
            "is trained or loaded); moving it filters the last result without predicting again",
        )
        # a slider drag emits every step, and a thousand rectangles take most of a
        # second to rebuild: refilter once the slider rests
        self._refilter = QTimer(self)
        self._refilter.setSingleShot(True)
        self._refilter.setInterval(150)
        self._refilter.timeout.connect(self._on_threshold)
        self.threshold.changed.connect(self._threshold_moved)
        self.labels_picker = create_widget(
            annotation=napari.layers.Labels | None,
            label="Labels",
            options={
                "choices": lambda *_: self._layers_of(napari.layers.Labels),
                "nullable": True,
                "tooltip": "Objects (e.g. a Segmenter's) to turn into boxes: the bounding box of each label",
            },
        )
        self.labels_button = PushButton(text="Boxes from labels")
        self.labels_button.changed.connect(lambda *_: self.boxes_from_labels())
        return [self.threshold, self.labels_picker, self.labels_button]

    # ----------------------------------------------------------------- training

    def _prepare_training(self, current) -> TrainingJob:
        image = check_image_layer(self.image_picker.value, "image")
        axes = layer_axes(image, self.axes_picker.value)
        check_2d(image, axes)
        data = image_array(image)
        shapes = self.boxes_picker.value
        boxes = rectangles_to_boxes(shapes, image)
        classes, class_names = rectangle_classes(shapes)
        if classes is not None:
            classes = np.asarray(classes)
        if self.fine_tune.value and current is not None:
            model = current
        else:
            model = ng.BoxDetector(
                sigma=self.sigma.value, patch_size=self.patch_size.value, batch_size=self.batch_size.value
            )
        max_steps, time_limit = read_budget(self.max_steps, self.time_limit)
        self._begin(image, axes, model, current)

        def start():
            return model.fit_iter(
                data,
                boxes,
                classes,
                class_names=class_names,
                axes=axes,
                max_steps=max_steps,
                time_limit=time_limit,
                seed=0,
                resume=can_resume(model),
            )

        def preview() -> Preview:
            index, crop_axes, starts = central_crop(data.shape, axes, frame=self._frame)
            return Preview(centre_heatmap(model, np.asarray(data[index]), crop_axes), starts)

        return TrainingJob(
            model=model,
            start=start,
            preview=preview,
            preview_every=int(self.preview_every.value),
            description=f"box detector training on {image.name!r} ({len(boxes)} box{'es' if len(boxes) != 1 else ''})",
        )

    def _show_preview(self, preview: Preview) -> None:
        self._show_heatmap(preview, PREVIEW_SUFFIX)

    def _on_model_changed(self, model) -> None:
        super()._on_model_changed(model)
        threshold = getattr(model, "threshold", None)
        if threshold is not None:
            self._syncing = True  # a new model's threshold is not a request to refilter
            try:
                self.threshold.value = float(threshold)
            finally:
                self._syncing = False

    # ----------------------------------------------------------------- prediction

    def _prediction(self, model, layer, data, axes, placement):
        check_2d(layer, axes)
        return (
            # every candidate: the threshold slider filters them afterwards
            lambda progress: model.predict(data, axes=axes, threshold=0, progress=progress),
            lambda result: self._add_result(result, placement, model),
            f"finding boxes in {layer.name!r}",
        )

    def _add_result(self, found: dict, placement: Placement, model) -> None:
        name = placement.name + RESULT_SUFFIX
        metadata = self._result_metadata(
            model, placement, classes=list(model.classes), calibrated_threshold=model.threshold, candidates=found
        )
        self._remove_own(name)
        threshold = float(self.threshold.value)
        shown = {k: v[found["score"] >= threshold] for k, v in found.items()}
        layer = add_boxes_layer(
            self.viewer, name, shown, list(model.classes), metadata=metadata, **placement.annotation_kwargs()
        )
        layer.metadata["napari_gan"]["threshold"] = threshold
        self._result = weakref.ref(layer)
        self._report(layer)

    def _threshold_moved(self, *_: Any) -> None:
        if not self._syncing:
            self._refilter.start()

    def _on_threshold(self, *_: Any) -> None:
        layer = self._result() if self._result is not None else None
        if layer is None or layer not in self.viewer.layers:
            return
        info = layer.metadata.get("napari_gan", {})
        if "candidates" not in info:
            return
        try:
            show_above(layer, info["candidates"], info["classes"], float(self.threshold.value))
        except Exception as exc:
            self.panel.error(exc, context="Cannot filter the boxes")
            return
        self._report(layer)

    def _report(self, layer) -> None:
        info = layer.metadata["napari_gan"]
        classes = layer.features["class"].astype(str).to_numpy()
        counts = ", ".join(f"{int((classes == c).sum())} {c}" for c in info["classes"])
        total = len(info["candidates"]["score"])
        self.panel.set_status(f"{layer.name!r}: {counts} (score >= {info['threshold']:.2f}; {total} candidates)")

    # ----------------------------------------------------------------- labels -> boxes

    def boxes_from_labels(self, layer=None):
        """What "Boxes from labels" does: the bounding box of every object of a 2D
        Labels layer as a Shapes layer "<labels> [boxes]"; returns it, or None."""
        layer = layer if layer is not None else self.labels_picker.value
        try:
            if not isinstance(layer, napari.layers.Labels):
                what = "no layer" if layer is None else f"{layer.name!r}, a {type(layer).__name__} layer"
                raise ng.InputError(f"choose a Labels layer of objects to turn into boxes (got {what})")
            data = layer.data[0] if layer.multiscale else layer.data
            if data.ndim != 2:
                raise ng.InputError(
                    f"Labels {layer.name!r} are {data.ndim}D; boxes from labels are 2D rectangles: "
                    "use a 2D Labels layer"
                )
            found = ng.boxes_from_labels(np.asarray(data))
            name = layer.name + RESULT_SUFFIX
            self._remove_own(name)
            result = add_boxes_layer(
                self.viewer,
                name,
                found,
                ["object"],
                text=False,
                metadata={"napari_gan": {"boxes_from_labels": layer.name}},
                scale=tuple(layer.scale[-2:]),
                translate=tuple(layer.translate[-2:]),
            )
        except Exception as exc:
            self.panel.error(exc, context="Cannot make boxes from labels")
            return None
        self.panel.set_status(f"{name!r}: {len(found['boxes'])} boxes from the objects of {layer.name!r}")
        return result

    def _remove_own(self, name: str) -> None:
        """Remove our own earlier layer ``name`` (a new features table: a new layer);
        a user's layer of that name stays, and napari names the new one apart."""
        existing = self.viewer.layers[name] if name in self.viewer.layers else None
        if existing is not None and "napari_gan" in existing.metadata:
            self.viewer.layers.remove(existing)
