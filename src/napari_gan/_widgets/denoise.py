"""The "Denoise" dock widget: train a :class:`napari_gan.Denoiser` on image layers,
watch it learn, and denoise any image layer into a new one.

Only layer <-> array conversion and wiring live here; the training, previews and
predictions are the core's, run in worker threads by :class:`TrainingPanel`.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import Any

import napari
import numpy as np
from magicgui.widgets import CheckBox, ComboBox, Container, PushButton, SpinBox, create_widget
from qtpy.QtWidgets import QGroupBox, QVBoxLayout, QWidget

import napari_gan as ng

from ._training import (
    AXES_CHOICES,
    TrainingJob,
    TrainingPanel,
    central_crop,
    check_image_layer,
    image_array,
    layer_axes,
)

PREVIEW_SUFFIX = " [denoised preview]"
RESULT_SUFFIX = " [denoised]"


@dataclass(frozen=True)
class _Placement:
    """Where a source layer sits in the world, captured in the GUI thread."""

    name: str
    axes: str
    rgb: bool
    scale: tuple[float, ...]
    translate: tuple[float, ...]
    contrast_limits: tuple[float, float] | None
    colormap: Any

    @classmethod
    def of(cls, layer, axes: str) -> _Placement:
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


@dataclass(frozen=True)
class _Preview:
    """A denoised crop computed in the worker, with where it goes in the source."""

    data: np.ndarray
    starts: dict[int, int]  # data axis of the source -> first index of the crop


class DenoiseWidget(QWidget):
    """Train a denoiser on an image layer (optionally with a clean target) and apply it.

    Public methods (also what the tests drive): :meth:`train`, :meth:`stop`,
    :meth:`predict`, :meth:`save_model`, :meth:`load_model`; the current model is
    :attr:`model`.
    """

    def __init__(self, napari_viewer: napari.viewer.Viewer) -> None:
        super().__init__()
        self.viewer = napari_viewer
        self._placement: _Placement | None = None
        self._source_layer = None  # the layer being trained on, only to follow the dims slider
        self._frame: dict[str, int] = {}  # read by the worker's preview: S/T/Z index to show
        self._checkpoint: str | None = None

        # --- what to train on
        self.image_picker = create_widget(
            annotation=napari.layers.Image,
            label="Image",
            options={"choices": self._image_layers, "tooltip": "Noisy image to learn from"},
        )
        self.target_picker = create_widget(
            annotation=napari.layers.Image | None,
            label="Target (optional)",
            options={
                "choices": self._image_layers,
                "nullable": True,
                "tooltip": "Clean image of the same shape: supervised (CARE) training. "
                "Leave empty for self-supervised training on the image alone.",
            },
        )
        self.target_picker.value = None
        self.axes_picker = ComboBox(
            choices=AXES_CHOICES,
            value="auto",
            label="Axes",
            tooltip="Letters from STCZYX: S samples, T time, C channels, Z depth (3D network). "
            "auto: YX, YXC for RGB layers, SYX for other 3D stacks.",
        )
        self.patch_size = SpinBox(value=64, min=8, max=1024, step=8, label="Patch size")
        self.batch_size = SpinBox(value=16, min=1, max=1024, label="Batch size")
        self.max_steps = SpinBox(value=2000, min=1, max=10_000_000, label="Max steps")
        self.time_limit = SpinBox(
            value=0, min=0, max=7 * 24 * 3600, label="Time limit (s)", tooltip="0 = no time limit"
        )
        self.preview_every = SpinBox(
            value=25,
            min=0,
            max=1_000_000,
            label="Preview every",
            tooltip="Refresh the preview layer every N steps (0 = no preview)",
        )
        self.fine_tune = CheckBox(
            value=False,
            text="Continue training the current model",
            tooltip="Fine-tune the trained or loaded model (keeping its own settings) instead of starting a new one",
        )
        self._train_options = Container(
            widgets=[
                self.image_picker,
                self.target_picker,
                self.axes_picker,
                self.patch_size,
                self.batch_size,
                self.max_steps,
                self.time_limit,
                self.preview_every,
                self.fine_tune,
            ]
        )

        self.panel = TrainingPanel(
            prepare=self._prepare_training,
            model_type=ng.Denoiser,
            show_preview=self._show_preview,
        )

        # --- apply the model
        self.predict_picker = create_widget(
            annotation=napari.layers.Image,
            label="Denoise layer",
            options={"choices": self._image_layers},
        )
        self.predict_button = PushButton(text="Predict")
        self.predict_button.enabled = False
        self._predict_options = Container(widgets=[self.predict_picker, self.predict_button])

        train_box = QGroupBox("Train")
        train_layout = QVBoxLayout(train_box)
        train_layout.addWidget(self._train_options.native)
        train_layout.addWidget(self.panel)
        predict_box = QGroupBox("Predict")
        QVBoxLayout(predict_box).addWidget(self._predict_options.native)
        layout = QVBoxLayout(self)
        layout.addWidget(train_box)
        layout.addWidget(predict_box)
        layout.addStretch(1)

        self.predict_button.changed.connect(lambda *_: self.predict())
        self.panel.add_busy_sensitive(self.predict_button.native)
        self.panel.model_changed.connect(self._on_model_changed)
        self.panel.training_finished.connect(self._on_training_finished)

        events = self.viewer.layers.events
        # not named reset_choices: napari would connect that too when docking, and
        # rebuilding the pickers twice per layer change is wasted GUI time
        layer_changes = (events.inserted, events.removed, events.reordered, events.renamed)
        connections = [(emitter, self.refresh_layer_choices) for emitter in layer_changes]
        connections.append((self.viewer.dims.events.current_step, self._follow_dims))
        for emitter, callback in connections:
            emitter.connect(callback)
        # the viewer may outlive this widget: never leave it calling into a deleted one
        self.destroyed.connect(partial(_disconnect, connections))
        self.refresh_layer_choices()

    # ----------------------------------------------------------------- public API

    @property
    def model(self) -> ng.Denoiser | None:
        """The trained or loaded Denoiser, else None."""
        return self.panel.model

    def train(self) -> bool:
        """Start training with the chosen layers and options (what Train does).

        Returns True if training started; problems are shown as notifications.
        """
        return self.panel.start_training()

    def stop(self) -> None:
        """Stop training after the current step; the model keeps what it learned."""
        self.panel.stop_training()

    def predict(self, layer=None) -> bool:
        """Denoise ``layer`` (default: the one chosen under Predict) in a worker and add
        the result as "<name> [denoised]". Returns True if the prediction started."""
        model = self.model
        try:
            if model is None or not model.is_fitted:
                raise ng.InputError("no model yet: train one or load a saved model first")
            layer = check_image_layer(layer if layer is not None else self.predict_picker.value)
            # the axes option describes the training image; another layer may differ
            axes = layer_axes(layer, self.axes_picker.value, model_axes=model.axes, strict=False)
        except Exception as exc:
            self.panel.error(exc, context="Cannot predict")
            return False
        data = image_array(layer)
        placement = _Placement.of(layer, axes)
        return self.panel.run_job(
            lambda progress: model.predict(data, axes=axes, progress=progress),
            lambda result: self._add_result(result, placement, model),
            description=f"denoising {layer.name!r}",
        )

    def save_model(self, path: str | Path) -> Path | None:
        """Save the current model (what Save does, without the dialog)."""
        saved = self.panel.save_model(path)
        if saved is not None:
            self._checkpoint = str(saved)
        return saved

    def load_model(self, path: str | Path) -> ng.Denoiser | None:
        """Load a saved Denoiser (what Load does, without the dialog)."""
        model = self.panel.load_model(path)
        if model is not None:
            self._checkpoint = str(path)
        return model

    def refresh_layer_choices(self, *_: Any) -> None:
        """Refresh the layer pickers (called whenever the layer list changes)."""
        self._train_options.reset_choices()
        self._predict_options.reset_choices()

    # ----------------------------------------------------------------- training

    def _image_layers(self, *_: Any) -> list[tuple[str, napari.layers.Image]]:
        return [(layer.name, layer) for layer in self.viewer.layers if isinstance(layer, napari.layers.Image)]

    def _prepare_training(self, current: ng.Denoiser | None) -> TrainingJob:
        """Turn the chosen layers and options into a job (GUI thread; no heavy work)."""
        image = check_image_layer(self.image_picker.value, "image")
        target = self.target_picker.value
        if target is not None:
            check_image_layer(target, "target")
            if target is image:
                raise ng.InputError("the target must be a different layer than the image")
        if self.fine_tune.value and current is not None:
            model = current
        else:
            model = ng.Denoiser(patch_size=self.patch_size.value, batch_size=self.batch_size.value)
        # the arrays themselves, not the layers: deleting a layer while training is safe
        data = image_array(image)
        target_data = image_array(target) if target is not None else None
        axes = layer_axes(image, self.axes_picker.value)
        time_limit = float(self.time_limit.value) or None
        max_steps = int(self.max_steps.value)

        self._placement = _Placement.of(image, axes)
        self._source_layer = image
        self._frame = {}
        self._follow_dims()
        self._checkpoint = None if model is not current else self._checkpoint

        def start():
            return model.fit_iter(data, target_data, axes=axes, max_steps=max_steps, time_limit=time_limit, seed=0)

        def preview() -> _Preview:
            # worker thread: only arrays here, no layer
            index, crop_axes, starts = central_crop(data.shape, axes, frame=self._frame)
            crop = np.asarray(data[index])
            return _Preview(model.predict(crop, axes=crop_axes), starts)

        kind = "supervised" if target is not None else "self-supervised"
        return TrainingJob(
            model=model,
            start=start,
            preview=preview,
            preview_every=int(self.preview_every.value),
            description=f"{kind} training on {image.name!r}",
        )

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

    def _show_preview(self, preview: _Preview) -> None:
        """GUI thread: put the denoised crop over its source in the preview layer."""
        placement = self._placement
        if placement is None:
            return
        # source axes that stay in the preview layer; an RGB channel axis is not a layer axis
        kept = [i for i in sorted(preview.starts) if not (placement.rgb and i == len(placement.axes) - 1)]
        scale = [placement.scale[i] for i in kept]
        translate = [placement.translate[i] + preview.starts[i] * placement.scale[i] for i in kept]
        name = placement.name + PREVIEW_SUFFIX
        layer = self.viewer.layers[name] if name in self.viewer.layers else None
        if (
            isinstance(layer, napari.layers.Image)
            and layer.data.ndim == preview.data.ndim
            and layer.rgb == placement.rgb
        ):
            layer.data = preview.data
            # each assignment re-renders: only move the layer when the crop moved
            if not np.allclose(layer.scale, scale) or not np.allclose(layer.translate, translate):
                layer.scale, layer.translate = scale, translate
            return
        if layer is not None:
            self.viewer.layers.remove(layer)
        kwargs = placement.display_kwargs()
        kwargs.update(scale=scale, translate=translate)
        self.viewer.add_image(
            preview.data,
            name=name,
            metadata={"napari_gan": {"preview_of": placement.name}},
            **kwargs,
        )

    def _on_training_finished(self) -> None:
        self._source_layer = None

    def _on_model_changed(self, model) -> None:
        self.predict_button.enabled = model is not None and not self.panel.is_busy

    # ----------------------------------------------------------------- results

    def _add_result(self, result: np.ndarray, placement: _Placement, model: ng.Denoiser) -> None:
        """GUI thread: show a prediction as "<source> [denoised]" (replacing our own
        earlier result of the same name and shape, so re-running does not pile up layers)."""
        name = placement.name + RESULT_SUFFIX
        metadata = {
            "napari_gan": {
                "model": type(model).__name__,
                "source": placement.name,
                "axes": placement.axes,
                "mode": model.mode,
                "steps_trained": model.steps_trained,
                "config": dataclasses.asdict(model.config),
                "checkpoint": self._checkpoint,
            }
        }
        existing = self.viewer.layers[name] if name in self.viewer.layers else None
        if (
            isinstance(existing, napari.layers.Image)
            and "napari_gan" in existing.metadata
            and existing.data.shape == result.shape
            and existing.rgb == placement.rgb
        ):
            existing.data = result
            existing.metadata = metadata
            existing.scale, existing.translate = placement.scale, placement.translate
            self.panel.set_status(f"Updated {name!r}")
            return
        self.viewer.add_image(result, name=name, metadata=metadata, **placement.display_kwargs())
        self.panel.set_status(f"Added {name!r}")


def _disconnect(connections, *_: Any) -> None:
    for emitter, callback in connections:
        emitter.disconnect(callback)
