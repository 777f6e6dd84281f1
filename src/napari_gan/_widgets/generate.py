"""The "Generate (GAN)" dock widget: train an :class:`napari_gan.ImageGAN` on a stack of
images (or one texture), watch a fixed-seed preview grid improve, and generate new
images, textures of any size or a latent walk as new layers.

Every layer this widget adds says "generated" in its name and in its metadata
(``layer.metadata["napari_gan"]["generated"] is True``), so nobody mistakes it for data.
"""

from __future__ import annotations

import dataclasses
from typing import Any

import napari
import numpy as np
from magicgui.widgets import ComboBox, Container, LineEdit, PushButton, SpinBox, create_widget
from qtpy.QtWidgets import QGroupBox, QVBoxLayout, QWidget

import napari_gan as ng

from ._training import TrainingJob, TrainingPanel, budget_widgets, check_image_layer, image_array

PREVIEW_SUFFIX = " [generated preview]"
RESULT_SUFFIX = " [generated]"
WALK_SUFFIX = " [generated latent walk]"
PREVIEW_SEED = 0
PREVIEW_COUNT = 16
PREVIEW_TEXTURE = 256


def parse_labels(text: str) -> list[str] | None:
    """Comma- or whitespace-separated class labels; empty text -> None."""
    items = [t for t in text.replace(",", " ").split() if t]
    return items or None


def grid(stack: np.ndarray, columns: int = 4, gap: int = 2) -> np.ndarray:
    """(n, Y, X[, C]) -> one image with the samples side by side (gaps at the minimum)."""
    n, h, w = stack.shape[:3]
    rows = -(-n // columns)
    shape = (rows * (h + gap) - gap, columns * (w + gap) - gap) + stack.shape[3:]
    out = np.full(shape, stack.min(), dtype=stack.dtype)
    for i, im in enumerate(stack):
        r, c = divmod(i, columns)
        out[r * (h + gap) : r * (h + gap) + h, c * (w + gap) : c * (w + gap) + w] = im
    return out


class GenerateWidget(QWidget):
    """Train a GAN on an image layer and generate new images from it.

    Public methods (what the tests drive): :meth:`train`, :meth:`stop`,
    :meth:`generate`, :meth:`latent_walk`, :meth:`save_model`, :meth:`load_model`;
    the current model is :attr:`model`.
    """

    def __init__(self, napari_viewer: napari.viewer.Viewer) -> None:
        super().__init__()
        self.viewer = napari_viewer
        self._source: str = "images"
        self._rgb = False
        self._checkpoint: str | None = None

        self.image_picker = create_widget(
            annotation=napari.layers.Image,
            label="Images",
            options={
                "choices": self._image_layers,
                "tooltip": "samples: a stack (N, Y, X[, C]) of example images; texture: one image",
            },
        )
        self.mode_picker = ComboBox(
            choices=("samples", "texture"),
            value="samples",
            label="Mode",
            tooltip="samples: new images like the stack's; texture: seamless textures of any size from one image",
        )
        self.classes_text = LineEdit(
            value="",
            label="Classes (optional)",
            tooltip="One class label per image of the stack, separated by commas or spaces, for a "
            "class-conditional GAN (samples mode). Empty: unconditional.",
        )
        self.max_steps, self.time_limit, self.preview_every, self.fine_tune = budget_widgets(2000)
        self.preview_every.value = 100
        self._train_options = Container(
            widgets=[
                self.image_picker,
                self.mode_picker,
                self.classes_text,
                self.max_steps,
                self.time_limit,
                self.preview_every,
                self.fine_tune,
            ]
        )
        self.panel = TrainingPanel(prepare=self._prepare_training, model_type=ng.ImageGAN, show_preview=self._show)

        self.count = SpinBox(value=16, min=1, max=10_000, label="Count")
        self.seed = SpinBox(value=0, min=0, max=2**31 - 1, label="Seed")
        self.size_y = SpinBox(value=512, min=16, max=65_536, label="Texture height")
        self.size_x = SpinBox(value=512, min=16, max=65_536, label="Texture width")
        self.class_text = LineEdit(value="", label="Class", tooltip="Class of the generated images; empty: random")
        self.generate_button = PushButton(text="Generate")
        self.frames = SpinBox(value=30, min=2, max=10_000, label="Walk frames")
        self.seed_b = SpinBox(value=1, min=0, max=2**31 - 1, label="Walk to seed")
        self.walk_button = PushButton(text="Latent walk")
        self._generate_options = Container(
            widgets=[
                self.count,
                self.seed,
                self.size_y,
                self.size_x,
                self.class_text,
                self.generate_button,
                self.frames,
                self.seed_b,
                self.walk_button,
            ]
        )
        for button in (self.generate_button, self.walk_button):
            button.enabled = False
            self.panel.add_busy_sensitive(button.native)

        train_box = QGroupBox("Train")
        train_layout = QVBoxLayout(train_box)
        train_layout.addWidget(self._train_options.native)
        train_layout.addWidget(self.panel)
        generate_box = QGroupBox("Generate")
        QVBoxLayout(generate_box).addWidget(self._generate_options.native)
        layout = QVBoxLayout(self)
        layout.addWidget(train_box)
        layout.addWidget(generate_box)
        layout.addStretch(1)

        self.generate_button.changed.connect(lambda *_: self.generate())
        self.walk_button.changed.connect(lambda *_: self.latent_walk())
        self.panel.model_changed.connect(self._on_model_changed)
        events = self.viewer.layers.events
        self._connections = [(e, self._refresh) for e in (events.inserted, events.removed, events.renamed)]
        for emitter, callback in self._connections:
            emitter.connect(callback)
        self.destroyed.connect(lambda *_: self._disconnect())
        self._refresh()

    # ----------------------------------------------------------------- public API

    @property
    def model(self):
        return self.panel.model

    def train(self) -> bool:
        """Start training (what Train does). Returns True if it started."""
        return self.panel.start_training()

    def stop(self) -> None:
        self.panel.stop_training()

    def generate(self) -> bool:
        """Generate ``Count`` images (or textures of the chosen size) with ``Seed`` into a
        new layer, in a worker. Returns True if it started."""
        try:
            model = self._fitted()
            n, seed = int(self.count.value), int(self.seed.value)
            size = (int(self.size_y.value), int(self.size_x.value)) if model.mode == "texture" else None
            label = self.class_text.value.strip() or None
            info = {"seed": seed, "count": n, "class": label, "size": size}
        except Exception as exc:
            self.panel.error(exc, context="Cannot generate")
            return False
        return self.panel.run_job(
            lambda progress: model.generate(n, seed=seed, classes=label, size=size, progress=progress),
            lambda result: self._add(result, RESULT_SUFFIX, model, **info),
            description="generating",
        )

    def latent_walk(self) -> bool:
        """A latent walk of ``Walk frames`` images from ``Seed`` to ``Walk to seed`` into a
        new stack layer (scroll it with the slider). Returns True if it started."""
        try:
            model = self._fitted()
            n, a, b = int(self.frames.value), int(self.seed.value), int(self.seed_b.value)
            size = (int(self.size_y.value), int(self.size_x.value)) if model.mode == "texture" else None
            label = self.class_text.value.strip() or None
        except Exception as exc:
            self.panel.error(exc, context="Cannot walk the latent space")
            return False
        return self.panel.run_job(
            lambda progress: model.interpolate(n, a, b, classes=label, size=size),
            lambda result: self._add(result, WALK_SUFFIX, model, seed_a=a, seed_b=b, frames=n, class_=label),
            description="walking the latent space",
        )

    def save_model(self, path):
        saved = self.panel.save_model(path)
        if saved is not None:
            self._checkpoint = str(saved)
        return saved

    def load_model(self, path):
        model = self.panel.load_model(path)
        if model is not None:
            self._checkpoint = str(path)
            self._rgb = model.has_channel_axis and model.channels in (3, 4)
            self.mode_picker.value = model.mode
        return model

    # ----------------------------------------------------------------- training

    def _prepare_training(self, current) -> TrainingJob:
        layer = check_image_layer(self.image_picker.value, "images")
        data = image_array(layer)
        mode = self.mode_picker.value
        classes = parse_labels(self.classes_text.value) if mode == "samples" else None
        if self.fine_tune.value and current is not None:
            model = current
            if model.mode != mode:
                raise ng.InputError(f"the current model is a {model.mode} GAN; choose mode {model.mode!r} to continue")
        else:
            model = ng.ImageGAN(mode=mode)
        self._source, self._rgb = layer.name, bool(layer.rgb)
        if model is not current:
            self._checkpoint = None
        max_steps, time_limit = int(self.max_steps.value), float(self.time_limit.value) or None

        def start():
            return model.fit_iter(data, classes=classes, max_steps=max_steps, time_limit=time_limit, seed=0)

        def preview():
            if model.mode == "texture":
                side = min(PREVIEW_TEXTURE, *model.shape) if model.shape else PREVIEW_TEXTURE
                return model.generate(1, seed=PREVIEW_SEED, size=(side, side))[0]
            return grid(model.generate(PREVIEW_COUNT, seed=PREVIEW_SEED))

        return TrainingJob(
            model=model,
            start=start,
            preview=preview,
            preview_every=int(self.preview_every.value),
            description=f"GAN training on {layer.name!r}",
        )

    def _show(self, image: np.ndarray) -> None:
        name = self._source + PREVIEW_SUFFIX
        metadata = {"napari_gan": {"generated": True, "preview_of": self._source, "seed": PREVIEW_SEED}}
        existing = self.viewer.layers[name] if name in self.viewer.layers else None
        if existing is not None and "napari_gan" in existing.metadata and existing.data.shape == image.shape:
            existing.data = image
            existing.metadata = metadata
            existing.reset_contrast_limits()
            return
        if existing is not None and "napari_gan" in existing.metadata:
            self.viewer.layers.remove(existing)
        self.viewer.add_image(image, name=name, metadata=metadata, rgb=self._rgb)

    # ----------------------------------------------------------------- helpers

    def _fitted(self):
        model = self.model
        if model is None or not model.is_fitted:
            raise ng.InputError("no model yet: train one or load a saved model first")
        return model

    def _add(self, data: np.ndarray, suffix: str, model, **info: Any) -> None:
        name = self._source + suffix
        metadata = {
            "napari_gan": {
                "generated": True,
                "model": type(model).__name__,
                "mode": model.mode,
                "source": self._source,
                "steps_trained": model.steps_trained,
                "config": dataclasses.asdict(model.config),
                "checkpoint": self._checkpoint,
                **{k.rstrip("_"): v for k, v in info.items()},
            }
        }
        rgb = model.has_channel_axis and model.channels in (3, 4)
        self.viewer.add_image(data, name=name, metadata=metadata, rgb=rgb)
        self.panel.set_status(f"{name!r}: {data.shape[0]} generated image(s)")

    def _image_layers(self, *_: Any):
        return [(layer.name, layer) for layer in self.viewer.layers if isinstance(layer, napari.layers.Image)]

    def _refresh(self, *_: Any) -> None:
        self._train_options.reset_choices()

    def _on_model_changed(self, model) -> None:
        ready = model is not None and not self.panel.is_busy
        self.generate_button.enabled = ready
        self.walk_button.enabled = ready

    def _disconnect(self) -> None:
        for emitter, callback in self._connections:
            emitter.disconnect(callback)
