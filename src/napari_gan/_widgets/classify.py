"""The "Classify" dock widget: name a few objects of a Labels layer (one Points layer per
class, "class: <name>"), train a :class:`napari_gan.ObjectClassifier`, and get every
object classified into the Labels layer's features and a new Labels layer coloured by
class. In "images" mode, name frames of a stack and train an
:class:`napari_gan.ImageClassifier` instead."""

from __future__ import annotations

from typing import Any

import napari
import numpy as np
from magicgui.widgets import ComboBox, Container, FloatSpinBox, Label, LineEdit, PushButton, SpinBox, create_widget
from qtpy.QtGui import QFontDatabase
from qtpy.QtWidgets import QLabel

import napari_gan as ng
from napari_gan.core.tasks.classify import CNNClassifier

from ._budget import budget_widgets, can_resume, read_budget
from ._class_text import expand_runs, parse_frame_names
from ._jobs import TrainingJob
from ._layers import check_image_layer, image_array, layer_axes
from ._task import Placement, TaskWidget, to_image_coords
from .segment import check_layer

CLASS_PREFIX = "class: "
RESULT_SUFFIX = " [classes]"
FRAMES_SUFFIX = " [class per frame]"
COLORS = ("#00ffff", "#ff00ff", "#ffff00", "#00ff00", "#ff8000", "#4080ff", "#ff4040", "#c0c0c0")


def class_layers(layers) -> list:
    """The Points layers named ``"class: <name>"``, in layer-list order."""
    return [
        layer
        for layer in layers
        if isinstance(layer, napari.layers.Points) and layer.name.startswith(CLASS_PREFIX) and _class_name(layer)
    ]


def _class_name(layer) -> str:
    return layer.name[len(CLASS_PREFIX) :].strip()


def points_to_ids(points_layer, labels_layer) -> np.ndarray:
    """The label id under each point of ``points_layer`` (0: background or outside)."""
    data = np.asarray(points_layer.data, dtype=np.float64)
    lab = labels_layer.data
    if len(data) == 0:
        return np.zeros(0, np.int64)
    if data.shape[1] < lab.ndim:
        raise ng.InputError(
            f"points {points_layer.name!r} have {data.shape[1]} coordinates; "
            f"labels {labels_layer.name!r} need {lab.ndim}"
        )
    coords = to_image_coords(data[:, -lab.ndim :], points_layer, labels_layer)
    idx = np.round(coords).astype(np.int64)
    inside = np.all((idx >= 0) & (idx < np.asarray(lab.shape)), axis=1)
    ids = np.zeros(len(idx), np.int64)
    ids[inside] = np.asarray(lab[tuple(idx[inside].T)], np.int64)
    return ids


def annotated_classes(layers, labels_layer) -> tuple[dict[int, str], dict[str, int], int]:
    """``({label id: class}, {class: number of objects}, points off any object)`` from
    the class Points layers; an object named in two classes is an error."""
    classes: dict[int, str] = {}
    counts: dict[str, int] = {}
    off = 0
    clashes: set[int] = set()
    for layer in class_layers(layers):
        name = _class_name(layer)
        ids = points_to_ids(layer, labels_layer)
        off += int((ids == 0).sum())
        named = np.unique(ids[ids > 0]).tolist()
        for i in named:
            if classes.get(i, name) != name:
                clashes.add(i)
            classes[i] = name
        counts[name] = counts.get(name, 0) + len(named)
    if clashes:
        raise ng.InputError(f"object(s) {sorted(clashes)[:10]} are marked in two classes: remove one of the points")
    return classes, counts, off


def labels_matching(labels_layer, data, axes: str) -> np.ndarray:
    """A copy of the Labels layer's data (finest level), checked to have the image's
    shape without its channel axis (the worker must not see later edits)."""
    lab = np.array(labels_layer.data[0] if labels_layer.multiscale else labels_layer.data)
    want = tuple(s for s, a in zip(np.shape(data), axes) if a != "C")
    if lab.shape != want:
        raise ng.InputError(f"labels {labels_layer.name!r} have shape {lab.shape}; the image needs {want}")
    return lab


class ClassifyWidget(TaskWidget):
    """Train an object (or image) classifier from a few named examples and classify
    every object (or frame)."""

    model_type = CNNClassifier
    predict_label = "Image"

    def __init__(self, napari_viewer: napari.viewer.Viewer) -> None:
        self._watched: set[int] = set()
        super().__init__(napari_viewer)
        self.evaluation_label = QLabel("Evaluation: train with a validation fraction > 0 to see it here")
        self.evaluation_label.setFont(QFontDatabase.systemFont(QFontDatabase.SystemFont.FixedFont))
        self.evaluation_label.setWordWrap(True)  # a sentence until there is a table to show
        self.content_layout.insertWidget(1, self.evaluation_label)
        self.mode_picker.changed.connect(self._on_mode_changed)
        self._on_mode_changed()

    # ----------------------------------------------------------------- options

    def _build_options(self) -> list:
        self.mode_picker = ComboBox(
            choices=("objects", "images"),
            value="objects",
            label="Classify",
            tooltip="objects: each object of a Labels layer; images: each frame of a stack",
        )
        self.image_picker = create_widget(
            annotation=napari.layers.Image, label="Image", options={"choices": self._image_layers}
        )
        self.labels_picker = create_widget(
            annotation=napari.layers.Labels,
            label="Objects",
            options={
                "choices": lambda *_: self._layers_of(napari.layers.Labels),
                "tooltip": "Segmented objects, each its own id",
            },
        )
        self.class_name = LineEdit(value="", label="Class name")
        self.class_name.native.setPlaceholderText("class name, e.g. dividing")
        self.add_class_button = PushButton(text="Add class")
        self.add_class_button.changed.connect(lambda *_: self.add_class())
        self.counts_label = Label(value="")
        self.counts_label.native.setWordWrap(True)
        self.frame_names = LineEdit(
            value="",
            label="Frame classes",
            tooltip="One class name per frame, comma-separated, or runs as name*count (e.g. 'mitotic*20, "
            "interphase*80'); leave an entry empty (or *count) for frames not annotated",
        )
        self.frame_names.changed.connect(lambda *_: self.update_counts())
        self.validation = FloatSpinBox(
            value=0.2,
            min=0.0,
            max=0.5,
            step=0.05,
            label="Hold out",
            tooltip="Fraction of the annotated examples of each class kept out of training to evaluate the model",
        )
        self.crop = SpinBox(value=48, min=8, max=1024, label="Crop (px)", tooltip="Window around each object")
        self.input_size = SpinBox(
            value=0,
            min=0,
            max=512,
            label="Input size (px)",
            tooltip="Frames resized to (0 = automatic: the frames' own size, up to 64 px)",
        )
        self.batch_size = SpinBox(value=32, min=2, max=1024, label="Batch size")
        self.max_steps, self.time_limit, _preview, self.fine_tune = budget_widgets(300)
        return [
            self.mode_picker,
            self.image_picker,
            self.labels_picker,
            Container(widgets=[self.class_name, self.add_class_button], layout="horizontal", labels=False),
            self.counts_label,
            self.frame_names,
            self.validation,
            self.crop,
            self.input_size,
            self.batch_size,
            self.max_steps,
            self.time_limit,
            self.fine_tune,
        ]

    def _build_predict_options(self) -> list:
        self.predict_labels_picker = create_widget(
            annotation=napari.layers.Labels,
            label="Objects",
            options={"choices": lambda *_: self._layers_of(napari.layers.Labels)},
        )
        return [self.predict_labels_picker]

    def _on_mode_changed(self, *_: Any) -> None:
        objects = self.mode_picker.value == "objects"
        for w in (self.labels_picker, self.class_name, self.add_class_button, self.crop, self.predict_labels_picker):
            w.visible = objects
        for w in (self.frame_names, self.input_size):
            w.visible = not objects
        self.update_counts()

    # ----------------------------------------------------------------- annotation

    def add_class(self, name: str | None = None):
        """What "Add class" does: a Points layer "class: <name>" over the objects, in
        add mode, where clicking an object names it. Returns the layer (or None)."""
        name = (name if name is not None else self.class_name.value).strip()
        try:
            if not name:
                raise ng.InputError("type a class name first")
            labels = check_layer(self.labels_picker.value, napari.layers.Labels, "objects")
        except ValueError as exc:
            self.panel.error(exc, context="Cannot add a class")
            return None
        layer_name = CLASS_PREFIX + name
        if layer_name in self.viewer.layers:
            layer = self.viewer.layers[layer_name]
        else:
            color = COLORS[len(class_layers(self.viewer.layers)) % len(COLORS)]
            layer = self.viewer.add_points(
                np.zeros((0, labels.ndim)),
                name=layer_name,
                ndim=labels.ndim,
                scale=labels.scale,
                translate=labels.translate,
                size=max(4.0, 6 * float(np.min(labels.scale[-2:]))),
                face_color=color,
                border_color="white",
            )
        self.viewer.layers.selection.active = layer
        layer.mode = "add"
        self.class_name.value = ""
        self.update_counts()
        return layer

    def refresh_layer_choices(self, *_: Any) -> None:
        super().refresh_layer_choices()
        for layer in class_layers(self.viewer.layers):
            if id(layer) not in self._watched:
                self._watched.add(id(layer))
                layer.events.data.connect(self._on_points_changed)
        self.update_counts()

    def _on_points_changed(self, *_: Any) -> None:
        try:
            self.update_counts()
        except RuntimeError:  # the widget was closed; the layer outlives it
            pass

    def update_counts(self) -> str:
        """Refresh (and return) the per-class counts line."""
        if not hasattr(self, "counts_label"):
            return ""
        text = ""
        try:
            if self.mode_picker.value == "objects":
                labels = self.labels_picker.value
                layers = class_layers(self.viewer.layers)
                if not layers:
                    text = "No classes yet: type a class name, Add class, then click objects of that class"
                elif labels is not None:
                    _, counts, off = annotated_classes(self.viewer.layers, labels)
                    text = " · ".join(f"{name}: {k} objects" for name, k in counts.items())
                    if off:
                        text += f" · {off} point(s) not on an object (ignored)"
            else:
                image = self.image_picker.value
                if image is not None and self.frame_names.value.strip():
                    names = expand_runs(self.frame_names.value.split(","))
                    counts: dict[str, int] = {}
                    for n in names:
                        if n:
                            counts[n] = counts.get(n, 0) + 1
                    text = " · ".join(f"{n}: {k} frames" for n, k in counts.items())
                    text += f" ({len(names)} entries for {image_array(image).shape[0]} frames)"
        except ValueError as exc:
            text = f"⚠ {exc}"
        self.counts_label.value = text
        return text

    # ----------------------------------------------------------------- training

    def _prepare_training(self, current) -> TrainingJob:
        image = check_image_layer(self.image_picker.value, "image")
        data = image_array(image)
        axes = layer_axes(image, "auto")
        fine = self.fine_tune.value and current is not None
        max_steps, time_limit = read_budget(self.max_steps, self.time_limit)
        common = {"validation_fraction": float(self.validation.value), "batch_size": int(self.batch_size.value)}
        if self.mode_picker.value == "objects":
            labels = check_layer(self.labels_picker.value, napari.layers.Labels, "objects")
            lab = labels_matching(labels, data, axes)
            classes, _, _ = annotated_classes(self.viewer.layers, labels)
            if not class_layers(self.viewer.layers):
                raise ng.InputError("no class yet: type a class name, click Add class, then click objects")
            if fine and isinstance(current, ng.ObjectClassifier):
                model = current
            else:
                model = ng.ObjectClassifier(crop=int(self.crop.value), **common)

            def start():
                return model.fit_iter(
                    data,
                    lab,
                    classes,
                    axes=axes,
                    max_steps=max_steps,
                    time_limit=time_limit,
                    seed=0,
                    resume=can_resume(model),
                )

            what = f"object classifier training on {labels.name!r}"
        else:
            names = parse_frame_names(self.frame_names.value, int(np.shape(data)[0]))
            if fine and isinstance(current, ng.ImageClassifier):
                model = current
            else:
                model = ng.ImageClassifier(input_size=int(self.input_size.value) or None, **common)

            def start():
                return model.fit_iter(
                    data, names, axes=axes, max_steps=max_steps, time_limit=time_limit, seed=0, resume=can_resume(model)
                )

            what = f"image classifier training on {image.name!r}"
        self._begin(image, axes, model, current)
        return TrainingJob(model=model, start=start, description=what)

    def _show_preview(self, preview) -> None:  # no preview: the result is a table
        pass

    def _on_training_finished(self) -> None:
        super()._on_training_finished()
        self.show_evaluation()

    def _on_model_changed(self, model) -> None:
        super()._on_model_changed(model)
        if model is not None and not self.panel.is_training:
            self.mode_picker.value = "images" if isinstance(model, ng.ImageClassifier) else "objects"
            self.show_evaluation()

    def show_evaluation(self) -> str:
        """Show (and return) the held-out evaluation of the current model."""
        model = self.model
        report = getattr(model, "evaluation", None)
        if report is None:
            text = "Evaluation: none (no examples held out: set Hold out > 0)"
        else:
            text = "Evaluation on held-out examples\n" + report.as_text()
        self.evaluation_label.setWordWrap(report is None)  # a table keeps its columns
        self.evaluation_label.setText(text)
        return text

    # ----------------------------------------------------------------- prediction

    def _prediction(self, model, layer, data, axes, placement):
        if isinstance(model, ng.ImageClassifier):
            return (
                lambda progress: model.predict_proba(data, axes=axes, progress=progress),
                lambda proba: self._add_frame_classes(proba, layer, data, axes, placement, model),
                f"classifying the frames of {layer.name!r}",
            )
        labels = check_layer(self.predict_labels_picker.value, napari.layers.Labels, "objects")
        lab = labels_matching(labels, data, axes)
        return (
            lambda progress: model.predict(data, lab, axes=axes, progress=progress),
            lambda table: self._add_object_classes(table, lab, labels, placement, model),
            f"classifying the objects of {labels.name!r}",
        )

    def _add_object_classes(self, table: dict, lab: np.ndarray, labels_layer, placement: Placement, model) -> None:
        if labels_layer in self.viewer.layers:
            labels_layer.features = {"index": table["label"], **table}
        colored = model.class_labels(lab, table)
        k = len(model.classes)
        colors = self._class_colors(model.classes)
        colormap = napari.utils.colormaps.DirectLabelColormap(
            color_dict={None: "transparent", 0: "transparent", **{i + 1: c for i, c in enumerate(colors)}}
        )
        name = labels_layer.name + RESULT_SUFFIX
        metadata = self._result_metadata(model, placement, classes=list(model.classes), labels=labels_layer.name)
        layer = self._replace_or_add(
            "labels",
            name,
            colored,
            metadata=metadata,
            scale=labels_layer.scale,
            translate=labels_layer.translate,
        )
        layer.colormap = colormap
        layer.features = {"index": np.arange(1, k + 1), "class": np.array(model.classes, dtype=object)}
        counts = {c: int(np.sum(np.asarray(table["class"]) == c)) for c in model.classes}
        self.panel.set_status(f"{name!r}: " + ", ".join(f"{c}: {n}" for c, n in counts.items()))

    def _class_colors(self, classes) -> list:
        """Each class in the colour of its "class: <name>" points, else from a fixed palette."""
        colors = []
        for i, name in enumerate(classes):
            layer = self.viewer.layers[CLASS_PREFIX + name] if CLASS_PREFIX + name in self.viewer.layers else None
            if isinstance(layer, napari.layers.Points) and len(layer.face_color):
                colors.append(np.asarray(layer.face_color[0]))
            else:
                colors.append(COLORS[i % len(COLORS)])
        return colors

    def _add_frame_classes(self, proba: np.ndarray, layer, data, axes: str, placement: Placement, model) -> None:
        best = proba.argmax(1)
        classes = np.array([model.classes[i] for i in best], dtype=object)
        shape = [s for s, a in zip(np.shape(data), axes) if a != "C"]
        n = len(classes)
        points = np.stack([np.arange(n), np.full(n, shape[-2] * 0.08), np.full(n, shape[-1] / 2)], 1)
        features = {"class": classes, "probability": proba[np.arange(n), best].astype(np.float32)}
        for k, c in enumerate(model.classes):
            features[f"probability_{c}"] = proba[:, k].astype(np.float32)
        existing = self._replace_or_add(
            "points",
            placement.name + FRAMES_SUFFIX,
            points,
            same_shape=False,
            metadata=self._result_metadata(model, placement, classes=list(model.classes)),
            features=features,
            text={"string": "{class} ({probability:.2f})", "color": "yellow", "size": 12},
            size=1,
            face_color="transparent",
            border_color="transparent",
            **placement.annotation_kwargs(),
        )
        existing.features = features
        counts = {c: int(np.sum(classes == c)) for c in model.classes}
        self.panel.set_status(f"{n} frames: " + ", ".join(f"{c}: {k}" for c, k in counts.items()))
