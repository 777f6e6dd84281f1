"""The "Segment" dock widget: paint scribbles or objects in a Labels layer, train a
:class:`napari_gan.Segmenter`, and segment any image layer into a new Labels layer."""

from __future__ import annotations

import napari
import numpy as np
from magicgui.widgets import ComboBox, SpinBox, create_widget

import napari_gan as ng

from ._budget import budget_widgets, can_resume, read_budget
from ._jobs import TrainingJob
from ._layers import axes_picker, central_crop, check_image_layer, image_array, layer_axes
from ._task import Placement, Preview, TaskWidget, crop_placement, shapes_region

PREVIEW_SUFFIX = " [segmentation preview]"
RESULT_SUFFIX = " [segmented]"


def check_layer(layer, kind, role: str):
    if layer is None:
        raise ng.InputError(f"no {role} layer chosen: add a {kind.__name__} layer first")
    if not isinstance(layer, kind):
        kind_name = type(layer).__name__
        raise ng.InputError(f"layer {layer.name!r} is a {kind_name} layer; the {role} must be a {kind.__name__} layer")
    return layer


class SegmentWidget(TaskWidget):
    """Train a segmenter from a Labels layer of scribbles (1 = background, 2.. =
    classes) or of object masks, and segment image layers with it."""

    model_type = ng.Segmenter
    predict_label = "Segment layer"

    def _build_options(self) -> list:
        self.image_picker = create_widget(
            annotation=napari.layers.Image, label="Image", options={"choices": self._image_layers}
        )
        self.labels_picker = create_widget(
            annotation=napari.layers.Labels,
            label="Annotation",
            options={
                "choices": lambda *_: self._layers_of(napari.layers.Labels),
                "tooltip": "Scribbles (0 = not annotated, 1 = background, 2.. = classes) or object masks "
                "(each object its own id)",
            },
        )
        self.region_picker = create_widget(
            annotation=napari.layers.Shapes | None,
            label="Region (optional)",
            options={
                "choices": lambda *_: self._layers_of(napari.layers.Shapes),
                "nullable": True,
                "tooltip": "Object masks cover only part of the image: train only inside the bounding box "
                "of these shapes (the rest is ignored, not taken as background)",
            },
        )
        self.region_picker.value = None
        self.mode_picker = ComboBox(
            choices=("auto", "semantic", "instance"),
            value="auto",
            label="Mode",
            tooltip="semantic: scribbles -> class map; instance: object masks -> separated objects; "
            "auto: instance when a region is given or every id is one connected object",
        )
        self.axes_picker = axes_picker()
        self.patch_size = SpinBox(value=96, min=16, max=1024, step=16, label="Patch size")
        self.batch_size = SpinBox(value=8, min=1, max=1024, label="Batch size")
        self.max_steps, self.time_limit, self.preview_every, self.fine_tune = budget_widgets(1000)
        return [
            self.image_picker,
            self.labels_picker,
            self.region_picker,
            self.mode_picker,
            self.axes_picker,
            self.patch_size,
            self.batch_size,
            self.max_steps,
            self.time_limit,
            self.preview_every,
            self.fine_tune,
        ]

    def _build_predict_options(self) -> list:
        self.output_picker = ComboBox(
            choices=("labels", "instances", "classes"),
            value="labels",
            label="Output",
            tooltip="labels: objects (instance model) or classes (semantic model); instances: split "
            "every class region into objects; classes: the class map",
        )
        return [self.output_picker]

    def _prepare_training(self, current) -> TrainingJob:
        image = check_image_layer(self.image_picker.value, "image")
        labels = check_layer(self.labels_picker.value, napari.layers.Labels, "annotation")
        axes = layer_axes(image, self.axes_picker.value)
        data = image_array(image)
        lab = np.asarray(labels.data[0] if labels.multiscale else labels.data)
        want = tuple(s for s, a in zip(data.shape, axes) if a != "C")
        if lab.shape != want:
            raise ng.InputError(f"labels {labels.name!r} have shape {lab.shape}; the image needs {want}")
        lab = lab.copy()  # painting on while training must not change what is learned mid-step
        region = shapes_region(self.region_picker.value, image, want)
        if self.fine_tune.value and current is not None:
            model = current
        else:
            model = ng.Segmenter(
                mode=self.mode_picker.value, patch_size=self.patch_size.value, batch_size=self.batch_size.value
            )
        max_steps, time_limit = read_budget(self.max_steps, self.time_limit)
        self._begin(image, axes, model, current)

        def start():
            return model.fit_iter(
                data,
                lab,
                region=region,
                axes=axes,
                max_steps=max_steps,
                time_limit=time_limit,
                seed=0,
                resume=can_resume(model),
            )

        def preview() -> Preview:
            index, crop_axes, starts = central_crop(data.shape, axes, frame=self._frame)
            return Preview(model.predict(np.asarray(data[index]), axes=crop_axes), starts)

        return TrainingJob(
            model=model,
            start=start,
            preview=preview,
            preview_every=int(self.preview_every.value),
            description=f"segmentation training on {image.name!r}",
        )

    def _show_preview(self, preview: Preview) -> None:
        placement = self._placement
        where = crop_placement(placement, preview.starts, drop_channels=True)
        self._replace_or_add(
            "labels",
            placement.name + PREVIEW_SUFFIX,
            preview.data,
            metadata={"napari_gan": {"preview_of": placement.name}},
            opacity=0.5,
            **where,
        )

    def _prediction(self, model, layer, data, axes, placement):
        output = self.output_picker.value
        return (
            lambda progress: model.predict(data, axes=axes, output=output, progress=progress),
            lambda result: self._add_result(result, placement, model, output),
            f"segmenting {layer.name!r}",
        )

    def _add_result(self, result: np.ndarray, placement: Placement, model, output: str) -> None:
        name = placement.name + RESULT_SUFFIX
        metadata = self._result_metadata(model, placement, mode=model.mode, output=output)
        self._replace_or_add("labels", name, result, metadata=metadata, **placement.annotation_kwargs())
        n = len(np.unique(result)) - (1 if (result == 0).any() else 0)
        what = "objects" if output != "classes" and not (model.mode == "semantic" and output == "labels") else "classes"
        self.panel.set_status(f"{name!r}: {n} {what}")
