"""The "Generate (GAN)" dock widget: train an :class:`napari_gan.ImageGAN` on a stack of
images (or one texture, or the objects of a Labels layer), watch a fixed-seed preview
grid improve, and generate new images, textures of any size or a latent walk as new
layers; remove the objects of a Labels layer or replace them with generated ones.

Every layer this widget adds says "generated" in its name and in its metadata
(``layer.metadata["napari_gan"]["generated"] is True``), so nobody mistakes it for data.
"""

from __future__ import annotations

from typing import Any

import napari
import numpy as np
from magicgui.widgets import ComboBox, LineEdit, PushButton, SpinBox, create_widget

import napari_gan as ng

from ..core.run.generate import COUNT
from ._budget import budget_widgets, can_resume, read_budget
from ._class_text import parse_labels
from ._jobs import TrainingJob
from ._layers import check_image_layer, image_array
from ._replace import REMOVED_SUFFIX, REPLACED_SUFFIX, crops_for_training, parse_ids, plain_2d
from ._task import DockWidget

PREVIEW_SUFFIX = " [generated preview]"
RESULT_SUFFIX = " [generated]"
WALK_SUFFIX = " [generated latent walk]"
PREVIEW_SEED = 0
PREVIEW_COUNT = 16
PREVIEW_TEXTURE = 256
#: gap between the training layer and the preview grid beside it, as a share of the layer's width
PREVIEW_GAP = 0.05
#: texture detail choices -> ImageGAN.generate(refine=...)
DETAIL = {"example's patches": True, "example's layout and patches": "example", "generator only": False}
#: said when texture training with previews ends. The preview is not refined: a refined
#: 256 x 256 took 7 s from a 256 px example and 27 s from a 1024 px one on 2 CPU cores
#: (2026-12-05), and about 3.5x that since its layout is reorganised (2026-12-07,
#: ``bench/texture_layout_cost.py``), longer than training between two previews
TEXTURE_PREVIEW_NOTE = (
    "The preview shows the generator's layout only; Generate adds the training image's own detail "
    "(Texture detail), so the result is sharper than the preview"
)


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


class GenerateWidget(DockWidget):
    """Train a GAN on an image layer and generate new images from it.

    Public methods (what the tests drive): :meth:`train`, :meth:`stop`,
    :meth:`generate`, :meth:`latent_walk`, :meth:`save_model`, :meth:`load_model`;
    the current model is :attr:`model`.
    """

    model_type = ng.ImageGAN

    def __init__(self, napari_viewer: napari.viewer.Viewer) -> None:
        self._source: str = "images"
        self._rgb = False
        super().__init__(napari_viewer)

    def _build_options(self) -> list:
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
            "class-conditional GAN (samples mode); a run of images of one class as name*count, e.g. "
            "'healthy*50, treated*50'. Empty: unconditional.",
        )
        self.objects_picker = create_widget(
            annotation=napari.layers.Labels | None,
            label="Objects (optional)",
            options={
                "choices": lambda *_: self._layers_of(napari.layers.Labels),
                "nullable": True,
                "tooltip": "samples mode: learn the objects of this Labels layer on the image above (a crop "
                "around each object, with its mask), to replace objects with new ones below. A 'class' column "
                "in the layer's features makes the GAN class-conditional. Empty: learn the image stack.",
            },
        )
        self.objects_picker.value = None
        self.crop_size = SpinBox(
            value=32, min=8, max=512, step=8, label="Object crop size", tooltip="crop edge in pixels around each object"
        )
        self.max_steps, self.time_limit, self.preview_every, self.fine_tune = budget_widgets(2000)
        self.preview_every.value = 100
        return [
            self.image_picker,
            self.mode_picker,
            self.classes_text,
            self.objects_picker,
            self.crop_size,
            self.max_steps,
            self.time_limit,
            self.preview_every,
            self.fine_tune,
        ]

    def _build_second_box(self) -> tuple[str, list]:
        self._count_default = COUNT[self.mode_picker.value]
        self.count = SpinBox(
            value=self._count_default,
            min=1,
            max=10_000,
            label="Count",
            tooltip="how many images (samples mode) or textures of the size below (texture mode) to generate",
        )
        self.seed = SpinBox(value=0, min=0, max=2**31 - 1, label="Seed")
        self.size_y = SpinBox(value=512, min=16, max=65_536, label="Texture height")
        self.size_x = SpinBox(value=512, min=16, max=65_536, label="Texture width")
        self.class_text = LineEdit(value="", label="Class", tooltip="Class of the generated images; empty: random")
        self.detail = ComboBox(
            choices=tuple(DETAIL),
            value="example's patches",
            label="Texture detail",
            tooltip="example's patches: the generator's layout, rearranged at a quarter of the size to match the "
            "training image's patches (straight rows on bricks, tiles and grids), then filled in with sharp detail "
            "from the image's own patches and its contrast (about 45 s per 256 x 256 on 2 CPU cores; textures "
            "over 1024 px keep the generator's layout; small pieces of the image are copied). "
            "example's layout and patches: the same with the layout made from the training image alone, without "
            "the generator. "
            "generator only: what the network alone makes (nothing copied, blurrier). The training "
            "preview shows the generator only.",
        )
        self.generate_button = PushButton(text="Generate")
        self.frames = SpinBox(value=30, min=2, max=10_000, label="Walk frames")
        self.seed_b = SpinBox(value=1, min=0, max=2**31 - 1, label="Walk to seed")
        self.walk_button = PushButton(text="Latent walk")
        self.replace_ids = LineEdit(
            value="",
            label="Ids to replace",
            tooltip="label ids of the objects (Objects layer) to remove or replace, e.g. '3, 7, 10-12'; "
            "empty: every object",
        )
        self.remove_button = PushButton(text="Remove objects")
        self.replace_button = PushButton(text="Replace with generated")
        self.mode_picker.changed.connect(self._count_follows_mode)
        self.generate_button.changed.connect(lambda *_: self.generate())
        self.walk_button.changed.connect(lambda *_: self.latent_walk())
        self.remove_button.changed.connect(lambda *_: self.replace_objects(generated=False))
        self.replace_button.changed.connect(lambda *_: self.replace_objects(generated=True))
        for button in (self.generate_button, self.walk_button, self.replace_button):
            button.enabled = False
            self.panel.add_busy_sensitive(button.native)
        self.panel.add_busy_sensitive(self.remove_button.native)
        return "Generate", [
            self.count,
            self.seed,
            self.size_y,
            self.size_x,
            self.class_text,
            self.detail,
            self.generate_button,
            self.frames,
            self.seed_b,
            self.walk_button,
            self.replace_ids,
            self.remove_button,
            self.replace_button,
        ]

    # ----------------------------------------------------------------- public API

    def generate(self) -> bool:
        """Generate ``Count`` images (or textures of the chosen size) with ``Seed`` into a
        new layer, in a worker. Returns True if it started."""
        try:
            model = self._fitted_model()
            n, seed = int(self.count.value), int(self.seed.value)
            size = (int(self.size_y.value), int(self.size_x.value)) if model.mode == "texture" else None
            label = self.class_text.value.strip() or None
            refine = DETAIL[self.detail.value] if model.mode == "texture" else None
            if refine and not model.can_refine:
                raise ng.InputError(
                    "this texture model was saved without its training image; choose Texture detail: generator only"
                )
            info = {"seed": seed, "count": n, "class": label, "size": size, "refined": refine}
        except Exception as exc:
            self.panel.error(exc, context="Cannot generate")
            return False
        return self.panel.run_job(
            lambda progress: model.generate(n, seed=seed, classes=label, size=size, progress=progress, refine=refine),
            lambda result: self._add(result, RESULT_SUFFIX, model, **info),
            description="generating",
        )

    def latent_walk(self) -> bool:
        """A latent walk of ``Walk frames`` images from ``Seed`` to ``Walk to seed`` into a
        new stack layer (scroll it with the slider). Returns True if it started."""
        try:
            model = self._fitted_model()
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

    def replace_objects(self, *, generated: bool) -> bool:
        """Remove the chosen objects of the Objects layer from the image (filled with
        the texture around them) or, with ``generated``, put objects made by the
        current GAN (trained on such objects; ``Class`` for a class-conditional one)
        in their place. The results are new layers; the user's layers are not
        touched. Returns True if it started."""
        try:
            layer, objects = self.image_picker.value, self.objects_picker.value
            image, labels = plain_2d(layer, objects)
            ids = parse_ids(self.replace_ids.value)
            model = self._fitted_model() if generated else None
            if model is not None and model.mode != "samples":
                raise ng.InputError("a texture GAN cannot make objects: train in samples mode on the Objects layer")
            label = self.class_text.value.strip() or None
            seed = int(self.seed.value)
            where = {"scale": tuple(layer.scale), "translate": tuple(layer.translate)}
            names = (layer.name, objects.name, bool(layer.rgb))
        except Exception as exc:
            self.panel.error(exc, context="Cannot replace objects")
            return False
        suffix = REPLACED_SUFFIX if generated else REMOVED_SUFFIX
        return self.panel.run_job(
            lambda progress: ng.replace_objects(
                image, labels, ids, generator=model, classes=label, seed=seed, progress=progress
            ),
            lambda result: self._add_replaced(result, names, suffix, where, ids, model),
            description="replacing objects" if generated else "removing objects",
        )

    def load_model(self, path):
        model = super().load_model(path)
        if model is not None:
            self.mode_picker.value = model.mode
        return model

    def _on_training_finished(self) -> None:
        """After texture training with previews: say that the preview is the generator's
        layout alone, where Generate (by default) adds the training image's detail, so a
        blurred preview is not taken for the result."""
        model, panel = self.model, self.panel
        if model is None or model.mode != "texture" or not panel.previews_shown or not DETAIL[self.detail.value]:
            return
        if not panel.failed:  # after a failure its message stays
            panel.set_status(f"{panel.status_label.text()}. {TEXTURE_PREVIEW_NOTE}")

    def _count_follows_mode(self, mode: str) -> None:
        """Count takes the default of ``mode``, unless the user has set a number of their own."""
        if self.count.value == self._count_default:
            self.count.value = self._count_default = COUNT[mode]

    # ----------------------------------------------------------------- training

    def _prepare_training(self, current) -> TrainingJob:
        layer = check_image_layer(self.image_picker.value, "images")
        data = image_array(layer)
        mode = self.mode_picker.value
        classes = parse_labels(self.classes_text.value) if mode == "samples" else None
        objects = self.objects_picker.value is not None
        if objects:
            if mode != "samples":
                raise ng.InputError("learning the objects of a Labels layer needs samples mode")
            data, classes = crops_for_training(layer, self.objects_picker.value, int(self.crop_size.value))
        if self.fine_tune.value and current is not None:
            model = current
            if model.mode != mode:
                raise ng.InputError(f"the current model is a {model.mode} GAN; choose mode {model.mode!r} to continue")
        else:  # the default patch_loss chooses by the data (off for class-conditional samples)
            model = ng.ImageGAN(mode=mode)
        self._source, self._rgb = layer.name, bool(layer.rgb)
        if model is not current:
            self._checkpoint = None
        max_steps, time_limit = read_budget(self.max_steps, self.time_limit)

        def start():
            return model.fit_iter(
                data, classes=classes, max_steps=max_steps, time_limit=time_limit, seed=0, resume=can_resume(model)
            )

        def preview():
            if model.mode == "texture":
                side = min(PREVIEW_TEXTURE, *model.shape) if model.shape else PREVIEW_TEXTURE
                return model.generate(1, seed=PREVIEW_SEED, size=(side, side), refine=False)[0]
            samples = model.generate(PREVIEW_COUNT, seed=PREVIEW_SEED)
            if objects:  # the objects without their mask channel
                samples = samples[..., :-1]
                samples = samples[..., 0] if samples.shape[-1] == 1 else samples
            return grid(samples)

        return TrainingJob(
            model=model,
            start=start,
            preview=preview,
            preview_every=int(self.preview_every.value),
            description=f"GAN training on {layer.name!r}",
        )

    def _show_preview(self, image: np.ndarray) -> None:
        metadata = {"napari_gan": {"generated": True, "preview_of": self._source, "seed": PREVIEW_SEED}}
        name = self._source + PREVIEW_SUFFIX
        new = name not in self.viewer.layers
        layer = self._replace_or_add("image", name, image, metadata=metadata, rgb=self._rgb, **self._beside_source())
        if new:  # bring the grid into view once; later refreshes leave the user's zoom alone
            self.viewer.reset_view()
        layer.reset_contrast_limits()  # the samples' range changes as the generator learns

    # --------------------------------------------------------------- internals

    def _beside_source(self, lead: int = 0) -> dict:
        """Where the preview grid and the generated images go: to the right of the
        training layer, with its pixel size, so they show beside the images the model
        learnt from, not over them. ``lead``: axes of the new layer before its Y, X
        (images, frames), kept at unit scale and no offset."""
        source = self.viewer.layers[self._source] if self._source in self.viewer.layers else None
        if not isinstance(source, napari.layers.Image):
            return {}
        (top, left), (_, right) = np.asarray(source.extent.world)[:, -2:]
        gap = PREVIEW_GAP * (right - left)
        return {"scale": (1.0,) * lead + tuple(source.scale[-2:]), "translate": (0.0,) * lead + (top, right + gap)}

    def _add(self, data: np.ndarray, suffix: str, model, **info: Any) -> None:
        name = self._source + suffix
        extra = {k.rstrip("_"): v for k, v in info.items()}
        metadata = self._model_metadata(model, generated=True, mode=model.mode, source=self._source, **extra)
        rgb = model.has_channel_axis and model.channels in (3, 4)
        # beside the training images, not over them, in the training preview's place
        where = self._beside_source(lead=data.ndim - (3 if rgb else 2))
        layer = self.viewer.add_image(data, name=name, metadata=metadata, rgb=rgb, **where)
        preview = self._source + PREVIEW_SUFFIX
        if preview in self.viewer.layers:
            self.viewer.layers[preview].visible = False
        # show its first image: the slider may stand past its end (at image 49 of 100 training faces)
        axis = self.viewer.dims.ndim - layer.ndim
        self.viewer.dims.set_point(axis, layer.data_to_world(np.zeros(layer.ndim))[0])
        self.panel.set_status(f"{name!r}: {data.shape[0]} generated image(s)")

    def _add_replaced(self, result, names, suffix: str, where: dict, ids, model) -> None:
        new_image, new_labels = result
        image_name, labels_name, rgb = names
        info = {"source": image_name, "labels": labels_name, "ids": ids, "generated": True}
        if model is not None:
            metadata = self._model_metadata(model, **info)
        else:
            metadata = {"napari_gan": info}
        self._replace_or_add("image", image_name + suffix, new_image, metadata=metadata, rgb=rgb, **where)
        self._replace_or_add("labels", labels_name + suffix, new_labels, metadata=metadata, **where)
        self.panel.set_status(f"{image_name + suffix!r} and {labels_name + suffix!r} added")

    def _on_model_changed(self, model) -> None:
        if model is not None:  # generation follows the model's mode (a loaded texture model: one texture)
            self._count_follows_mode(model.mode)
        ready = model is not None and not self.panel.is_busy
        self.generate_button.enabled = ready
        self.walk_button.enabled = ready
        self.replace_button.enabled = ready
