"""The frame every training dock widget (Denoise, Segment, ..., Generate) is built on.

:class:`DockWidget` lays out a "Train" box (the task's options above a
:class:`TrainingPanel`) and a second box, keeps the layer pickers in step with the
layer list, and saves/loads the model. :class:`TaskWidget` makes the second box
"Predict", follows the dims slider for previews, and runs predictions in a worker.
A task subclass only says which options it has, how layers become a
:class:`TrainingJob`, and how a result becomes a layer.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import Any

import dask
import napari
import numpy as np
from magicgui.widgets import Container, PushButton, create_widget
from qtpy.QtCore import QEvent, QSize, Qt
from qtpy.QtWidgets import QComboBox, QFrame, QGroupBox, QPushButton, QScrollArea, QVBoxLayout, QWidget

import napari_gan as ng

from ._jobs import TrainingJob
from ._layers import check_image_layer, image_array, layer_axes
from ._persist import Persisted
from ._training import TrainingPanel


@dataclass(frozen=True)
class Placement:
    """Where a source image layer sits in the world, captured in the GUI thread, so
    results computed later in a worker go back on top of it."""

    name: str
    axes: str
    rgb: bool
    scale: tuple[float, ...]
    translate: tuple[float, ...]
    contrast_limits: tuple[float, float] | None
    colormap: Any

    @classmethod
    def of(cls, layer, axes: str) -> Placement:
        return cls(
            name=layer.name,
            axes=axes,
            rgb=bool(layer.rgb),
            scale=tuple(float(s) for s in layer.scale),
            translate=tuple(float(t) for t in layer.translate),
            contrast_limits=tuple(layer.contrast_limits) if layer.contrast_limits is not None else None,
            colormap=None if layer.rgb else layer.colormap,
        )

    def display_kwargs(self) -> dict:
        kwargs = {"scale": self.scale, "translate": self.translate, "rgb": self.rgb}
        if self.contrast_limits is not None:
            kwargs["contrast_limits"] = self.contrast_limits
        if self.colormap is not None:
            kwargs["colormap"] = self.colormap
        return kwargs

    def layer_axes(self) -> list[int]:
        """Data axes of the source that are layer (world) axes: all but an RGB channel axis."""
        n = len(self.axes)
        return [i for i in range(n) if not (self.rgb and i == n - 1)]

    def annotation_kwargs(self) -> dict:
        """scale/translate for a layer over the source without its channel axis
        (labels, points): the channel axis, if the source has one, is dropped."""
        keep = [i for i in self.layer_axes() if self.axes[i] != "C"]
        world = self.layer_axes()
        return {
            "scale": tuple(self.scale[world.index(i)] for i in keep),
            "translate": tuple(self.translate[world.index(i)] for i in keep),
        }


@dataclass(frozen=True)
class Preview:
    """A prediction on a crop computed in the worker, with where the crop starts in
    the source (data axis -> first index)."""

    data: Any
    starts: dict[int, int]


def crop_placement(placement: Placement, starts: dict[int, int], *, drop_channels: bool) -> dict:
    """scale/translate of a layer showing a crop of the source that starts at ``starts``."""
    world = placement.layer_axes()
    kept = [i for i in sorted(starts) if i in world and not (drop_channels and placement.axes[i] == "C")]
    return {
        "scale": [placement.scale[world.index(i)] for i in kept],
        "translate": [placement.translate[world.index(i)] + starts[i] * placement.scale[world.index(i)] for i in kept],
    }


def _disconnect(connections, *_: Any) -> None:
    for emitter, callback in connections:
        emitter.disconnect(callback)


def _forget_sources(state: dict, *_: Any) -> None:
    """A deleted widget lets go of the layer it trained on (and its data)."""
    for key in ("_source_layer", "_placement", "_frame"):
        state.pop(key, None)


#: characters a drop-down list shows without widening the dock (its list shows them all)
_COMBO_CHARACTERS = 16


class _ScrollArea(QScrollArea):
    """A vertical scroll area as wide as its content's widest row needs. A dock taller
    than the screen otherwise forces napari's window past it on a laptop
    (napari/napari#4579): in one, the dock keeps no minimum height of its own."""

    def __init__(self, content: QWidget) -> None:
        super().__init__()
        self.setWidgetResizable(True)
        self.setFrameShape(QFrame.Shape.NoFrame)
        self.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        self.setWidget(content)

    def eventFilter(self, watched, event) -> bool:  # noqa: N802 (Qt's name)
        # the content's minimum width changes with napari's style sheet (applied when
        # docked) and with its choices: have the dock ask for it again
        if watched is self.widget() and event.type() == QEvent.Type.LayoutRequest:
            self.updateGeometry()
        return super().eventFilter(watched, event)

    def minimumSizeHint(self) -> QSize:  # noqa: N802 (Qt's name)
        # asked at layout time, so the scroll bar's width is that of napari's style sheet
        bar = self.verticalScrollBar().sizeHint().width()
        return QSize(self.widget().minimumSizeHint().width() + bar + 2 * self.frameWidth(), 60)


class DockWidget(QWidget):
    """The frame of every training dock widget: a "Train" box (the options above a
    :class:`TrainingPanel`) and a second box (predict, generate, ...), layer pickers
    kept in step with the layer list, and the model's train/stop/save/load.

    Subclasses set :attr:`model_type`, build their options in :meth:`_build_options`
    and the second box in :meth:`_build_second_box`, and implement
    :meth:`_prepare_training` and :meth:`_show_preview`.
    """

    model_type: type = object

    def __init__(self, napari_viewer: napari.viewer.Viewer) -> None:
        super().__init__()
        self.viewer = napari_viewer
        self._checkpoint: str | None = None

        self._train_options = Container(widgets=self._build_options())
        self.panel = TrainingPanel(
            prepare=self._prepare_training,
            model_type=self.model_type,
            show_preview=self._show_preview_safely,
        )
        title, widgets = self._build_second_box()
        self._predict_options = Container(widgets=widgets)

        train_box = QGroupBox("Train")
        train_layout = QVBoxLayout(train_box)
        train_layout.addWidget(self._train_options.native)
        train_layout.addWidget(self.panel)
        second_box = QGroupBox(title)
        QVBoxLayout(second_box).addWidget(self._predict_options.native)
        self._content = QWidget()
        #: the boxes, top to bottom, inside the scroll area (subclasses may insert their own)
        self.content_layout = QVBoxLayout(self._content)
        self.content_layout.addWidget(train_box)
        self.content_layout.addWidget(second_box)
        self.content_layout.addStretch(1)
        for combo in self._content.findChildren(QComboBox):
            # a long choice (a layer's name, a dtype's description) widens its list, not the dock
            combo.setSizeAdjustPolicy(QComboBox.SizeAdjustPolicy.AdjustToMinimumContentsLengthWithIcon)
            combo.setMinimumContentsLength(_COMBO_CHARACTERS)
        self._scroll = _ScrollArea(self._content)
        outer = QVBoxLayout(self)
        outer.setContentsMargins(0, 0, 0, 0)
        outer.addWidget(self._scroll)

        self.panel.model_changed.connect(self._on_model_changed)
        self.panel.training_finished.connect(self._on_training_finished)

        events = self.viewer.layers.events
        # not named reset_choices: napari would connect that too when docking, and
        # rebuilding the pickers twice per layer change is wasted GUI time
        layer_changes = (events.inserted, events.removed, events.reordered, events.renamed)
        connections = [(emitter, self.refresh_layer_choices) for emitter in layer_changes]
        connections += self._extra_connections()
        for emitter, callback in connections:
            emitter.connect(callback)
        # the viewer may outlive this widget: never leave it calling into a deleted one
        self.destroyed.connect(partial(_disconnect, connections))
        self.destroyed.connect(partial(_forget_sources, self.__dict__))
        self.refresh_layer_choices()
        # options remembered when napari restarts; what depends on the current model is not
        fine_tune = getattr(self, "fine_tune", None)
        self.persisted = Persisted(
            type(self).__name__,
            [self._train_options, self._predict_options],
            exclude=[fine_tune] if fine_tune is not None else [],
        )
        self.defaults_button = QPushButton("Restore defaults")
        self.defaults_button.setToolTip("Set this widget's options back to their defaults (they are remembered)")
        self.defaults_button.clicked.connect(self.persisted.restore_defaults)
        train_layout.addWidget(self.defaults_button)

    def sizeHint(self) -> QSize:  # noqa: N802 (Qt's name)
        """The whole content where the window has room for it (napari opens a dock at
        its preferred size); a smaller window scrolls it."""
        hint = self._content.sizeHint()
        return QSize(self._scroll.minimumSizeHint().width(), hint.height())

    # ----------------------------------------------------------------- to implement

    def _build_options(self) -> list:
        raise NotImplementedError

    def _build_second_box(self) -> tuple[str, list]:
        """(title, widgets) of the box under the training panel."""
        raise NotImplementedError

    def _prepare_training(self, current) -> TrainingJob:
        raise NotImplementedError

    def _show_preview(self, preview) -> None:
        raise NotImplementedError

    def _extra_connections(self) -> list:
        """More (event emitter, callback) pairs to connect for the widget's life."""
        return []

    # ----------------------------------------------------------------- public API

    @property
    def model(self):
        """The trained or loaded model, else None."""
        return self.panel.model

    def train(self) -> bool:
        """Start training with the chosen layers and options (what Train does).

        Returns True if training started; problems are shown as notifications.
        """
        return self.panel.start_training()

    def stop(self) -> None:
        """Stop training after the current step; the model keeps what it learned."""
        self.panel.stop_training()

    def save_model(self, path: str | Path) -> Path | None:
        """Save the current model (what Save does, without the dialog)."""
        saved = self.panel.save_model(path)
        if saved is not None:
            self._checkpoint = str(saved)
        return saved

    def load_model(self, path: str | Path):
        """Load a saved model of this widget's kind (what Load does, without the dialog)."""
        model = self.panel.load_model(path)
        if model is not None:
            self._checkpoint = str(path)
        return model

    def refresh_layer_choices(self, *_: Any) -> None:
        """Refresh the layer pickers (called whenever the layer list changes)."""
        self._train_options.reset_choices()
        self._predict_options.reset_choices()

    # --------------------------------------------------------------- internals

    def _fitted_model(self):
        model = self.model
        if model is None or not model.is_fitted:
            raise ng.InputError("no model yet: train one or load a saved model first")
        return model

    def _layers_of(self, kind) -> list[tuple[str, Any]]:
        return [(layer.name, layer) for layer in self.viewer.layers if isinstance(layer, kind)]

    def _image_layers(self, *_: Any) -> list[tuple[str, napari.layers.Image]]:
        return self._layers_of(napari.layers.Image)

    def _show_preview_safely(self, preview) -> None:
        self._show_preview(preview)

    def _on_training_finished(self) -> None:
        pass

    def _on_model_changed(self, model) -> None:
        pass

    def _model_metadata(self, model, **extra) -> dict:
        """What a layer made by ``model`` records about how it was made (``layer.metadata``)."""
        return {
            "napari_gan": {
                "model": type(model).__name__,
                "steps_trained": model.steps_trained,
                "config": dataclasses.asdict(model.config),
                "checkpoint": self._checkpoint,
                **extra,
            }
        }

    def _replace_or_add(self, kind: str, name: str, data, *, same_shape: bool = True, **kwargs):
        """Update our own layer ``name`` of ``kind`` in place when it fits, else add a
        new one (so re-running a prediction or preview does not pile up layers)."""
        existing = self.viewer.layers[name] if name in self.viewer.layers else None
        cls = getattr(napari.layers, kind.capitalize())
        fits = isinstance(existing, cls) and "napari_gan" in existing.metadata
        if fits and same_shape:
            fits = np.shape(existing.data) == np.shape(data) if kind != "points" else existing.ndim == data.shape[1]
        if fits:
            existing.data = data
            for key in ("metadata", "scale", "translate"):
                if key in kwargs and (key == "metadata" or not np.allclose(getattr(existing, key), kwargs[key])):
                    setattr(existing, key, kwargs[key])
            return existing
        if existing is not None and "napari_gan" in existing.metadata:
            self.viewer.layers.remove(existing)
        return getattr(self.viewer, f"add_{kind}")(data, name=name, **kwargs)


class TaskWidget(DockWidget):
    """Base of the task dock widgets that predict on a layer; see the module docstring.

    Subclasses set :attr:`model_type`, :attr:`predict_label`, build their option
    widgets in :meth:`_build_options` and implement :meth:`_prepare_training`,
    :meth:`_show_preview` and :meth:`_prediction`.
    """

    predict_label = "Predict on"

    def __init__(self, napari_viewer: napari.viewer.Viewer) -> None:
        self._placement: Placement | None = None
        self._source_layer = None  # the layer being trained on, only to follow the dims slider
        self._frame: dict[str, int] = {}  # read by the worker's preview: S/T/Z index to show
        super().__init__(napari_viewer)

    def _build_second_box(self) -> tuple[str, list]:
        self.predict_picker = create_widget(
            annotation=napari.layers.Image,
            label=self.predict_label,
            options={"choices": self._image_layers},
        )
        self.predict_button = PushButton(text="Predict")
        self.predict_button.enabled = False
        self.predict_button.changed.connect(lambda *_: self.predict())
        self.panel.add_busy_sensitive(self.predict_button.native)
        return "Predict", [self.predict_picker, *self._build_predict_options(), self.predict_button]

    def _extra_connections(self) -> list:
        return [(self.viewer.dims.events.current_step, self._follow_dims)]

    # ----------------------------------------------------------------- to implement

    def _build_predict_options(self) -> list:
        return []

    def _show_preview(self, preview: Preview) -> None:
        raise NotImplementedError

    def _prediction(self, model, layer, data, axes: str, placement: Placement):
        """Return ``(func(progress) -> result, on_result(result), description)``."""
        raise NotImplementedError

    # ----------------------------------------------------------------- public API

    def predict(self, layer=None) -> bool:
        """Apply the model to ``layer`` (default: the one chosen under Predict) in a
        worker and add the result as a new layer. Returns True if it started."""
        try:
            model = self._fitted_model()
            layer = check_image_layer(layer if layer is not None else self.predict_picker.value)
            # the axes option describes the training image; another layer may differ
            axes = layer_axes(layer, self._axes_choice(), model_axes=model.axes, strict=False)
            data = image_array(layer)
            func, on_result, description = self._prediction(model, layer, data, axes, Placement.of(layer, axes))
        except Exception as exc:
            self.panel.error(exc, context="Cannot predict")
            return False
        # a dask layer (e.g. zarr) gives a lazy result: compute it in the worker, not
        # when the GUI thread adds the layer
        return self.panel.run_job(lambda progress: dask.compute(func(progress))[0], on_result, description=description)

    # --------------------------------------------------------------- internals

    def _axes_choice(self) -> str:
        picker = getattr(self, "axes_picker", None)
        return picker.value if picker is not None else "auto"

    def _begin(self, layer, axes: str, model, current) -> None:
        """Remember what is being trained on (GUI thread, when Train is clicked)."""
        self._placement = Placement.of(layer, axes)
        self._source_layer = layer
        self._frame = {}
        self._follow_dims()
        self._checkpoint = None if model is not current else self._checkpoint

    def _follow_dims(self, *_: Any) -> None:
        """Keep the preview on the frame/plane the user is looking at (GUI thread)."""
        layer, placement = self._source_layer, self._placement
        if layer is None or placement is None or layer not in self.viewer.layers:
            return
        try:
            coords = layer.world_to_data(self.viewer.dims.point)
        except Exception:  # transforms napari cannot invert: keep the last frame
            return
        frame = {}
        for i, letter in enumerate(placement.axes[: len(coords)]):
            if letter in "STZ":
                frame[letter] = int(round(float(coords[i])))
        self._frame = frame  # one assignment: the worker reads a consistent dict

    def _show_preview_safely(self, preview: Preview) -> None:
        if self._placement is not None:
            self._show_preview(preview)

    def _on_training_finished(self) -> None:
        self._source_layer = None

    def _on_model_changed(self, model) -> None:
        self.predict_button.enabled = model is not None and not self.panel.is_busy

    def _show_heatmap(self, preview: Preview, suffix: str) -> None:
        """Show a detector's 0-1 heatmap preview over the source layer."""
        placement = self._placement
        where = crop_placement(placement, preview.starts, drop_channels=True)
        self._replace_or_add(
            "image",
            placement.name + suffix,
            preview.data,
            metadata={"napari_gan": {"preview_of": placement.name}},
            colormap="magma",
            blending="additive",
            contrast_limits=(0.0, 1.0),
            **where,
        )

    def _result_metadata(self, model, placement: Placement, **extra) -> dict:
        """What a result layer records about how it was made (``layer.metadata``)."""
        return self._model_metadata(model, source=placement.name, axes=placement.axes, **extra)


def to_image_coords(coords: np.ndarray, layer, image_layer) -> np.ndarray:
    """Coordinates in ``layer``'s data space -> ``image_layer``'s data space (the
    trailing axes of both correspond; only scale and translate are undone, which is
    how napari places layers added over an image)."""
    coords = np.asarray(coords, dtype=np.float64)
    d = coords.shape[1]
    s_scale, s_translate = np.asarray(layer.scale)[-d:], np.asarray(layer.translate)[-d:]
    world_axes = len(image_layer.scale)
    if d > world_axes:
        raise ng.InputError(f"layer {layer.name!r} has {d} dimensions but image {image_layer.name!r} {world_axes}")
    i_scale = np.asarray(image_layer.scale)[world_axes - d :]
    i_translate = np.asarray(image_layer.translate)[world_axes - d :]
    return (coords * s_scale + s_translate - i_translate) / i_scale


def shapes_region(shapes, image_layer, annotation_shape: tuple[int, ...]) -> tuple[slice, ...]:
    """The bounding box of all shapes in a Shapes layer, as slices of the annotation
    (the image without channels): leading axes the shapes do not span stay whole."""
    if shapes is None:
        return None
    if len(shapes.data) == 0:
        raise ng.InputError(f"Shapes layer {shapes.name!r} has no shapes: draw a rectangle around the annotated part")
    vertices = to_image_coords(np.concatenate([np.asarray(v)[:, -2:] for v in shapes.data]), shapes, image_layer)
    lo = np.floor(vertices.min(0)).astype(int)
    hi = np.ceil(vertices.max(0)).astype(int) + 1
    sl = [slice(None)] * (len(annotation_shape) - 2)
    for a, b, size in zip(lo, hi, annotation_shape[-2:]):
        a, b = max(a, 0), min(b, size)
        if b <= a:
            raise ng.InputError(f"the shapes in {shapes.name!r} lie outside the image")
        sl.append(slice(a, b))
    return tuple(sl)


def dtype_picker():
    """The "Result type" choice: float32, or the source layer's own integer type (see
    :mod:`napari_gan.core.dtypes`)."""
    from magicgui.widgets import ComboBox

    return ComboBox(
        choices=[("float32", "float32"), ("same as the image (8/16-bit: clipped, rounded)", "input")],
        value="float32",
        label="Result type",
        tooltip="float32 keeps every value; 'same as the image' gives an 8- or 16-bit image back in its own "
        "type (clipped to its range and rounded), e.g. to save it as such; float images stay float32",
    )
