"""The "Keypoints" dock widget: mark several kinds of landmark (one Points layer per
kind, or one layer with a "kind" feature column), train a
:class:`napari_gan.KeypointDetector`, and find every kind in any image layer as one
Points layer with the kind and a score per point in its features table."""

from __future__ import annotations

import napari
import numpy as np
import pandas as pd
from magicgui.widgets import FloatSpinBox, Select, SpinBox, create_widget

import napari_gan as ng

from ._budget import budget_widgets, can_resume, read_budget
from ._jobs import TrainingJob
from ._layers import axes_picker, central_crop, check_image_layer, image_array, layer_axes
from ._task import Placement, Preview, TaskWidget, shapes_region, to_image_coords

PREVIEW_SUFFIX = " [keypoint heatmap preview]"
RESULT_SUFFIX = " [keypoints]"
#: feature columns read as a point's kind, in this order
KIND_COLUMNS = ("kind", "class", "label")


def kind_column(layer) -> str | None:
    """The features column of ``layer`` that names each point's kind, if any."""
    features = getattr(layer, "features", None)
    for name in KIND_COLUMNS:
        if features is not None and name in features.columns:
            return name
    return None


def keypoints_from_layers(layers, image_layer, ndim: int) -> dict[str, np.ndarray]:
    """``{kind: (M, ndim) points}`` in the image's data coordinates: a layer with a
    kind column gives one kind per value, any other layer is one kind, its name."""
    if not layers:
        raise ng.InputError("no Points layer chosen: select one layer per kind, or one layer with a 'kind' column")
    out: dict[str, np.ndarray] = {}
    for layer in layers:
        if not isinstance(layer, napari.layers.Points):
            raise ng.InputError(f"layer {layer.name!r} is not a Points layer")
        pts = np.asarray(layer.data, dtype=np.float64)
        if pts.ndim != 2 or pts.shape[1] != ndim:
            raise ng.InputError(
                f"points {layer.name!r} have {pts.shape[-1] if pts.ndim == 2 else 0} coordinates per point; "
                f"the image needs {ndim}"
            )
        pts = to_image_coords(pts, layer, image_layer)
        column = kind_column(layer)
        if column is None:
            groups = {layer.name: pts}
        else:
            kinds = layer.features[column].astype(str).to_numpy()
            groups = {k: pts[kinds == k] for k in dict.fromkeys(kinds.tolist())}
        for kind, group in groups.items():
            if kind in out:
                raise ng.InputError(f"the kind {kind!r} is given twice: rename a layer or a kind")
            out[kind] = group
    return out


class KeypointsWidget(TaskWidget):
    """Train a keypoint detector from Points layers and find every kind in image layers."""

    model_type = ng.KeypointDetector
    predict_label = "Find in layer"

    def _build_options(self) -> list:
        self.image_picker = create_widget(
            annotation=napari.layers.Image, label="Image", options={"choices": self._image_layers}
        )
        self.points_picker = Select(
            label="Keypoints",
            choices=lambda *_: self._layers_of(napari.layers.Points),
            tooltip=(
                "One Points layer per kind (the layer's name is the kind), or one layer whose features have a "
                "'kind' column. Mark every point of every kind (in the image or the region): unmarked ones "
                "count as background"
            ),
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
        self.sigma = FloatSpinBox(
            value=2.0,
            min=0.5,
            max=20,
            step=0.25,
            label="Point sigma (px)",
            tooltip="How exactly a point is placed; two points of one kind are at least this far apart",
        )
        self.axes_picker = axes_picker()
        self.patch_size = SpinBox(value=64, min=16, max=1024, step=16, label="Patch size")
        self.batch_size = SpinBox(value=16, min=1, max=1024, label="Batch size")
        self.max_steps, self.time_limit, self.preview_every, self.fine_tune = budget_widgets(1000)
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
        axes = layer_axes(image, self.axes_picker.value)
        data = image_array(image)
        want = tuple(s for s, a in zip(data.shape, axes) if a != "C")
        points = keypoints_from_layers(list(self.points_picker.value), image, len(want))
        region = shapes_region(self.region_picker.value, image, want)
        if self.fine_tune.value and current is not None:
            model = current
        else:
            model = ng.KeypointDetector(
                sigma=self.sigma.value, patch_size=self.patch_size.value, batch_size=self.batch_size.value
            )
        max_steps, time_limit = read_budget(self.max_steps, self.time_limit)
        self._begin(image, axes, model, current)

        def start():
            return model.fit_iter(
                data,
                points,
                region=region,
                axes=axes,
                max_steps=max_steps,
                time_limit=time_limit,
                seed=0,
                resume=can_resume(model),
            )

        def preview() -> Preview:
            index, crop_axes, starts = central_crop(data.shape, axes, frame=self._frame)
            heat = model.predict(np.asarray(data[index]), axes=crop_axes, output="heatmap")
            return Preview(heat.max(axis=0), starts)

        return TrainingJob(
            model=model,
            start=start,
            preview=preview,
            preview_every=int(self.preview_every.value),
            description=f"keypoint training on {image.name!r} ({', '.join(points)})",
        )

    def _show_preview(self, preview: Preview) -> None:
        self._show_heatmap(preview, PREVIEW_SUFFIX)

    def _prediction(self, model, layer, data, axes, placement):
        return (
            lambda progress: model.predict(data, axes=axes, progress=progress),
            lambda result: self._add_result(result, placement, model),
            f"finding {', '.join(model.kinds)} in {layer.name!r}",
        )

    def _add_result(self, found: dict, placement: Placement, model) -> None:
        name = placement.name + RESULT_SUFFIX
        metadata = self._result_metadata(model, placement, kinds=model.kinds, thresholds=model.thresholds)
        # a categorical kind column (all of the model's kinds), so each kind keeps its
        # colour whichever kinds were found, and an empty result is a valid layer
        kind = pd.Categorical(found["kind"], categories=model.kinds)
        features = pd.DataFrame({"kind": kind, "score": found["score"]})
        existing = self.viewer.layers[name] if name in self.viewer.layers else None
        if existing is not None and "napari_gan" in existing.metadata:
            self.viewer.layers.remove(existing)  # a new features table: a new layer
        self.viewer.add_points(
            found["points"],
            name=name,
            features=features,
            metadata=metadata,
            size=max(3.0, 3 * model.config.sigma),
            feature_defaults={"kind": model.kinds[0], "score": 0.0},
            face_color="kind",
            border_color="white",
            border_width=0.05,
            **placement.annotation_kwargs(),
        )
        counts = ", ".join(f"{int((found['kind'] == k).sum())} {k}" for k in model.kinds)
        self.panel.set_status(f"{name!r}: {counts}")
