"""The "Detect" dock widget: click spots into a Points layer, train a
:class:`napari_gan.SpotDetector`, and find all spots of any image layer."""

from __future__ import annotations

import napari
import numpy as np
from magicgui.widgets import FloatSpinBox, SpinBox, create_widget

import napari_gan as ng

from ._budget import budget_widgets, can_resume, read_budget
from ._jobs import TrainingJob
from ._layers import axes_picker, central_crop, check_image_layer, image_array, layer_axes
from ._task import Placement, Preview, TaskWidget, shapes_region, to_image_coords
from .segment import check_layer

PREVIEW_SUFFIX = " [spot heatmap preview]"
RESULT_SUFFIX = " [spots]"


class DetectWidget(TaskWidget):
    """Train a spot detector from a Points layer and detect spots in image layers."""

    model_type = ng.SpotDetector
    predict_label = "Detect in layer"

    def _build_options(self) -> list:
        self.image_picker = create_widget(
            annotation=napari.layers.Image, label="Image", options={"choices": self._image_layers}
        )
        self.points_picker = create_widget(
            annotation=napari.layers.Points,
            label="Spots",
            options={
                "choices": lambda *_: self._layers_of(napari.layers.Points),
                "tooltip": "A point on every spot (in the image or in the region): unmarked spots count as background",
            },
        )
        self.region_picker = create_widget(
            annotation=napari.layers.Shapes | None,
            label="Region (optional)",
            options={
                "choices": lambda *_: self._layers_of(napari.layers.Shapes),
                "nullable": True,
                "tooltip": "Only the bounding box of these shapes is annotated; the rest is ignored",
            },
        )
        self.region_picker.value = None
        self.sigma = FloatSpinBox(value=1.5, min=0.5, max=20, step=0.25, label="Spot sigma (px)")
        self.axes_picker = axes_picker()
        self.patch_size = SpinBox(value=64, min=16, max=1024, step=16, label="Patch size")
        self.batch_size = SpinBox(value=16, min=1, max=1024, label="Batch size")
        self.max_steps, self.time_limit, self.preview_every, self.fine_tune = budget_widgets(500)
        return [
            self.image_picker,
            self.points_picker,
            self.region_picker,
            self.sigma,
            self.axes_picker,
            self.patch_size,
            self.batch_size,
            self.max_steps,
            self.time_limit,
            self.preview_every,
            self.fine_tune,
        ]

    def _prepare_training(self, current) -> TrainingJob:
        image = check_image_layer(self.image_picker.value, "image")
        points_layer = check_layer(self.points_picker.value, napari.layers.Points, "spots")
        axes = layer_axes(image, self.axes_picker.value)
        data = image_array(image)
        want = tuple(s for s, a in zip(data.shape, axes) if a != "C")
        pts = np.asarray(points_layer.data, dtype=np.float64)
        if pts.ndim != 2 or pts.shape[1] != len(want):
            raise ng.InputError(
                f"points {points_layer.name!r} have {pts.shape[-1] if pts.ndim == 2 else 0} coordinates per point; "
                f"the image needs {len(want)} ({axes.replace('C', '')})"
            )
        pts = to_image_coords(pts, points_layer, image)
        region = shapes_region(self.region_picker.value, image, want)
        if self.fine_tune.value and current is not None:
            model = current
        else:
            model = ng.SpotDetector(
                sigma=self.sigma.value, patch_size=self.patch_size.value, batch_size=self.batch_size.value
            )
        max_steps, time_limit = read_budget(self.max_steps, self.time_limit)
        self._begin(image, axes, model, current)

        def start():
            return model.fit_iter(
                data,
                pts,
                region=region,
                axes=axes,
                max_steps=max_steps,
                time_limit=time_limit,
                seed=0,
                resume=can_resume(model),
            )

        def preview() -> Preview:
            index, crop_axes, starts = central_crop(data.shape, axes, frame=self._frame)
            return Preview(model.predict(np.asarray(data[index]), axes=crop_axes, output="heatmap"), starts)

        return TrainingJob(
            model=model,
            start=start,
            preview=preview,
            preview_every=int(self.preview_every.value),
            description=f"spot detector training on {image.name!r}",
        )

    def _show_preview(self, preview: Preview) -> None:
        self._show_heatmap(preview, PREVIEW_SUFFIX)

    def _prediction(self, model, layer, data, axes, placement):
        return (
            lambda progress: model.predict(data, axes=axes, progress=progress),
            lambda result: self._add_result(result, placement, model),
            f"detecting spots in {layer.name!r}",
        )

    def _add_result(self, result: np.ndarray, placement: Placement, model) -> None:
        name = placement.name + RESULT_SUFFIX
        metadata = self._result_metadata(model, placement, threshold=model.threshold)
        self._replace_or_add(
            "points",
            name,
            result,
            same_shape=False,
            metadata=metadata,
            size=max(3.0, 4 * model.config.sigma),
            face_color="transparent",
            border_color="yellow",
            **placement.annotation_kwargs(),
        )
        self.panel.set_status(f"{name!r}: {len(result)} spots")
