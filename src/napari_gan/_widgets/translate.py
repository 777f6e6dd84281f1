"""The "Image-to-image" dock widget: train a :class:`napari_gan.Translator` (super-
resolution, inpainting / object removal, colorization, deblurring, paired and unpaired
translation) on image layers and apply it to any layer; results are marked as generated."""

from __future__ import annotations

import napari
import numpy as np
from magicgui.widgets import CheckBox, ComboBox, FloatSpinBox, SpinBox, create_widget

import napari_gan as ng

from ..core.tasks.translate.prediction import SAME_UNITS
from ._budget import budget_widgets, can_resume, read_budget
from ._jobs import TrainingJob
from ._layers import axes_picker, central_crop, check_image_layer, image_array, layer_axes
from ._task import Placement, Preview, TaskWidget, crop_placement, dtype_picker

PREVIEW_SUFFIX = " [generated preview]"
TASK_LABELS = {
    "superres": "super-resolution",
    "inpaint": "inpainting",
    "colorize": "colorized",
    "deblur": "deblurred",
    "paired": "translated",
    "unpaired": "unpaired translation",
}
#: the adversarial weight the task picker sets when switching to / from ``unpaired``
ADVERSARIAL_DEFAULTS = {task: ng.Translator(task=task).config.adversarial_weight for task in ("unpaired", "colorize")}
DEFAULT_ADVERSARIAL = ng.TranslatorConfig().adversarial_weight


#: (text, tooltip) of the second-layer option: the spread over flips, or (unpaired) the change map
SPREAD_TEXT = (
    "Also add the spread over flips (uncertainty)",
    "where the spread is high the model is unsure or inventing detail",
)
CHANGE_TEXT = (
    "Also add the change map (cycle error)",
    "where translating there and back does not give the image back: the model changed content "
    "(invented or removed structure) there, not only colour",
)


def mask_array(layer, image_layer, want: tuple[int, ...]) -> np.ndarray:
    """A Labels layer (nonzero = fill) or a Shapes layer (inside any shape = fill) as a
    boolean mask of the image's shape without channels; 2D labels or shapes over a
    stack mark every frame."""
    if isinstance(layer, napari.layers.Labels):
        data = np.asarray(layer.data[0] if layer.multiscale else layer.data)
        if len(want) > 2 and data.shape == want[-2:]:
            data = np.broadcast_to(data, want)
        if data.shape != want:
            raise ng.InputError(f"mask {layer.name!r} has shape {data.shape}; the image needs {want}")
        return data != 0
    if isinstance(layer, napari.layers.Shapes):
        if len(layer.data) == 0:
            raise ng.InputError(f"Shapes layer {layer.name!r} has no shapes: draw the region to fill first")
        if layer.ndim == len(want):
            masks = layer.to_masks(mask_shape=want)
            return np.asarray(masks).any(axis=0)
        masks = np.asarray(layer.to_masks(mask_shape=want[-2:])).any(axis=0)
        return np.broadcast_to(masks, want).copy()
    raise ng.InputError("the mask must be a Labels or Shapes layer")


def missing_pixels(data, axes: str) -> np.ndarray:
    """The non-finite pixels of ``data`` (any channel) as a mask without channels; an
    error that asks for a mask when there are none."""
    missing = ~np.isfinite(np.asarray(data))
    if "C" in axes:
        missing = missing.any(axis=axes.index("C"))
    if not missing.any():
        raise ng.InputError(
            "choose a mask (Labels or Shapes layer) marking the region to fill; "
            "with no mask, inpainting fills the image's missing (NaN) pixels, and this image has none"
        )
    return missing


def _shown_like_source(task: str, rgb: bool) -> bool:
    """Whether a result is displayed with its source layer's contrast limits: restored
    images are in the source's units; so are RGB translations between two stains of
    the same range (0-255), where limits fitted to the result's own range (101-258,
    say) would stretch its colours away from the source's. Colorized RGB is in [0, 1]."""
    return task in ("superres", "deblur") or (rgb and task != "colorize")


class TranslateWidget(TaskWidget):
    """Train an image-to-image model on image layers and apply it to any layer."""

    model_type = ng.Translator
    predict_label = "Apply to layer"

    def __init__(self, napari_viewer: napari.viewer.Viewer) -> None:
        self._training_task = self._shown_task = "superres"
        super().__init__(napari_viewer)
        self._update_visibility()
        for picker in (self.task_picker, self.fill_picker):
            picker.changed.connect(self._update_predict_button)
        self._update_predict_button()

    def _build_options(self) -> list:
        self.task_picker = ComboBox(
            choices=tuple(TASK_LABELS),
            value="superres",
            label="Task",
            tooltip="superres: learn to upscale from your high-resolution images; inpaint: learn to fill "
            "holes from the image itself; colorize: learn colour from RGB layers; deblur: learn to undo a "
            "Gaussian blur from sharp images; paired: learn source -> target from pairs; unpaired: learn "
            "A -> B and back from two sets of images of different scenes (no pairs)",
        )
        self.image_picker = create_widget(
            annotation=napari.layers.Image,
            label="Training image",
            options={
                "choices": self._image_layers,
                "tooltip": "paired: the source; colorize: an RGB layer; unpaired: the A image(s)",
            },
        )
        self.target_picker = create_widget(
            annotation=napari.layers.Image | None,
            label="Target",
            options={
                "choices": self._image_layers,
                "nullable": True,
                "tooltip": "paired: the target image; unpaired: the B image(s), any size, not the same scenes as A "
                "but the same kinds of structure in similar proportions",
            },
        )
        self.target_picker.value = None
        self.scale_picker = ComboBox(choices=(2, 4), value=2, label="Scale")
        self.blur = FloatSpinBox(
            value=0.0,
            min=0.0,
            max=20.0,
            step=0.5,
            label="Blur sigma",
            tooltip="deblur: the Gaussian blur to undo (0 = 2 pixels); superres: extra blur before downscaling",
        )
        self.noise = FloatSpinBox(
            value=0.0, min=0.0, max=0.5, step=0.01, label="Noise", tooltip="noise added to the degraded input"
        )
        self.adversarial = FloatSpinBox(
            value=DEFAULT_ADVERSARIAL,
            min=0.0,
            max=1.0,
            step=0.005,
            label="Adversarial weight",
            tooltip="weight of the PatchGAN loss next to L1 (unpaired: next to the cycle loss, > 0); "
            "0 trains a plain CNN (no discriminator)",
        )
        self.axes_picker = axes_picker()
        self.patch_size = SpinBox(value=64, min=16, max=1024, step=16, label="Patch size")
        self.batch_size = SpinBox(value=8, min=1, max=1024, label="Batch size")
        self.max_steps, self.time_limit, self.preview_every, self.fine_tune = budget_widgets(1000)
        self.task_picker.changed.connect(self._update_visibility)
        self.task_picker.changed.connect(self._task_defaults)
        return [
            self.task_picker,
            self.image_picker,
            self.target_picker,
            self.scale_picker,
            self.blur,
            self.noise,
            self.adversarial,
            self.axes_picker,
            self.patch_size,
            self.batch_size,
            self.max_steps,
            self.time_limit,
            self.preview_every,
            self.fine_tune,
        ]

    def _build_predict_options(self) -> list:
        self.mask_picker = create_widget(
            annotation=napari.layers.Labels | napari.layers.Shapes | None,
            label="Mask (inpaint)",
            options={
                "choices": lambda *_: self._layers_of((napari.layers.Labels, napari.layers.Shapes)),
                "nullable": True,
                "tooltip": "inpaint: the region to fill, painted in a Labels layer or drawn as shapes "
                "(none: fill the image's missing, NaN, pixels). "
                "colorize, unpaired (optional): translate only these objects or this region and keep "
                "the rest of the image as it is",
            },
        )
        self.mask_picker.value = None
        self.fill_picker = ComboBox(
            choices=[("texture (remove objects)", "texture"), ("smooth (best on average)", "smooth")],
            value="texture",
            label="Fill (inpaint)",
            tooltip="texture: continue the surrounding texture into the hole from the image's own patches, "
            "blended so that no seam or blocks show "
            "(grass stays grass; what you want to remove an object; needs no training: Predict works at once). "
            "smooth: the spline fill plus the trained "
            "network: the best estimate on average (highest PSNR), which looks smeared on textured images",
        )
        self.direction_picker = ComboBox(
            choices=[("A -> B", "a2b"), ("B -> A", "b2a")],
            value="a2b",
            label="Direction (unpaired)",
            tooltip="unpaired: translate an A image into B, or a B image into A",
        )
        self.uncertainty = CheckBox(value=False, text=SPREAD_TEXT[0], tooltip=SPREAD_TEXT[1])
        self.result_dtype = dtype_picker()
        return [self.mask_picker, self.fill_picker, self.direction_picker, self.uncertainty, self.result_dtype]

    def _texture_fill_chosen(self) -> bool:
        """Inpainting with the texture fill, which reads only the image's own patches:
        it needs no trained model."""
        return self.task_picker.value == "inpaint" and self.fill_picker.value == "texture"

    def _fitted_model(self):
        model = self.model
        if self._texture_fill_chosen() and (model is None or not model.is_fitted or model.task != "inpaint"):
            return ng.Translator(task="inpaint")  # untrained: its texture fill is all Predict uses
        return super()._fitted_model()

    def _update_predict_button(self, *_) -> None:
        model = self.model
        ready = (model is not None and model.is_fitted) or self._texture_fill_chosen()
        self.predict_button.enabled = ready and not self.panel.is_busy

    def _on_model_changed(self, model) -> None:
        super()._on_model_changed(model)
        self._update_predict_button()

    def _update_visibility(self, *_) -> None:
        task = self.task_picker.value
        self.scale_picker.visible = task == "superres"
        self.blur.visible = task in ("superres", "deblur")
        self.noise.visible = task in ("superres", "deblur")
        self.mask_picker.visible = task in ("inpaint", "colorize", "unpaired")
        self.mask_picker.label = "Mask (inpaint)" if task == "inpaint" else "Only inside (optional)"
        self.fill_picker.visible = task == "inpaint"
        unpaired = task == "unpaired"
        self.target_picker.visible = task in ("paired", "unpaired")
        self.image_picker.label = "A images" if unpaired else "Training image"
        self.target_picker.label = "B images" if unpaired else "Target"
        self.direction_picker.visible = unpaired
        self.result_dtype.visible = task in SAME_UNITS  # results in the image's own units
        self.uncertainty.text, self.uncertainty.tooltip = CHANGE_TEXT if unpaired else SPREAD_TEXT

    def _task_defaults(self, task) -> None:
        """Switching task moves the adversarial weight to the new task's default,
        unless the user had changed it from the old one's."""
        old = ADVERSARIAL_DEFAULTS.get(self._shown_task, DEFAULT_ADVERSARIAL)
        if abs(self.adversarial.value - old) < 1e-9:
            self.adversarial.value = ADVERSARIAL_DEFAULTS.get(task, DEFAULT_ADVERSARIAL)
        self._shown_task = task

    def _config(self) -> ng.TranslatorConfig:
        task = self.task_picker.value
        return ng.TranslatorConfig(
            task=task,
            scale=int(self.scale_picker.value),
            blur=float(self.blur.value) or None,
            noise=float(self.noise.value),
            adversarial_weight=float(self.adversarial.value),
            patch_size=int(self.patch_size.value),
            batch_size=int(self.batch_size.value),
        )

    def _prepare_training(self, current) -> TrainingJob:
        image = check_image_layer(self.image_picker.value, "training image")
        axes = layer_axes(image, self.axes_picker.value)
        data = image_array(image)
        target = None
        if self.fine_tune.value and current is not None:
            model = current
        else:
            model = ng.Translator(self._config())
        task = model.task
        if task in ("paired", "unpaired"):
            target_layer = check_image_layer(self.target_picker.value, "B images" if task == "unpaired" else "target")
            if task == "unpaired" and target_layer is image:
                raise ng.InputError("A and B are the same layer: choose a layer of each domain")
            target = image_array(target_layer)
            target_axes = layer_axes(target_layer, "auto")
        elif task == "colorize" and not image.rgb:
            raise ng.InputError(
                f"layer {image.name!r} is grayscale; colorize learns colour from an RGB layer "
                "(then apply the model to a grayscale layer)"
            )
        max_steps, time_limit = read_budget(self.max_steps, self.time_limit)
        self._begin(image, axes, model, current)
        self._training_task = task

        def start():
            if task in ("paired", "unpaired"):
                return model.fit_iter(
                    data,
                    target,
                    axes=axes,
                    target_axes=target_axes,
                    max_steps=max_steps,
                    time_limit=time_limit,
                    seed=0,
                    resume=can_resume(model),
                )
            return model.fit_iter(
                data, axes=axes, max_steps=max_steps, time_limit=time_limit, seed=0, resume=can_resume(model)
            )

        def preview() -> Preview:
            index, crop_axes, starts = central_crop(data.shape, axes, frame=self._frame)
            degraded, hole = model.degrade(np.asarray(data[index]), axes=crop_axes)
            in_axes = crop_axes.replace("C", "") if task == "colorize" else crop_axes
            # inpainting: the smooth fill is what training changes (the texture fill is not trained)
            extra = {"fill": "smooth"} if task == "inpaint" else {}
            out = model.predict(degraded, mask=hole, axes=in_axes, **extra)
            return Preview(out, starts)

        return TrainingJob(
            model=model,
            start=start,
            preview=preview,
            preview_every=int(self.preview_every.value),
            description=f"{task} training on {image.name!r}",
        )

    def _show_preview(self, preview: Preview) -> None:
        placement = self._placement
        data = preview.data
        rgb = data.ndim >= 3 and data.shape[-1] == 3 and (placement.rgb or self._training_task == "colorize")
        where = crop_placement(placement, preview.starts, drop_channels=True)
        if rgb and placement.contrast_limits is not None and _shown_like_source(self._training_task, rgb):
            where["contrast_limits"] = placement.contrast_limits
        self._replace_or_add(
            "image",
            placement.name + PREVIEW_SUFFIX,
            data,
            metadata={"napari_gan": {"preview_of": placement.name, "generated": True}},
            rgb=rgb,
            **where,
        )

    def _prediction(self, model, layer, data, axes, placement):
        mask = region = None
        want = tuple(s for s, a in zip(np.shape(data), axes) if a != "C")
        if model.task in ("colorize", "unpaired") and self.mask_picker.value is not None:
            region = mask_array(self.mask_picker.value, layer, want)
        if model.task == "inpaint":
            if self.mask_picker.value is not None:  # else the image's missing pixels, found in the worker
                mask = mask_array(self.mask_picker.value, layer, want)
        elif model.task == "colorize" and layer.rgb:
            raise ng.InputError(f"layer {layer.name!r} is RGB; colorize applies to a grayscale layer")
        uncertainty = bool(self.uncertainty.value)
        options = {"fill": self.fill_picker.value}
        if model.task in SAME_UNITS:
            options["dtype"] = self.result_dtype.value
        label = TASK_LABELS[model.task]
        if model.task == "unpaired":
            options = {"direction": self.direction_picker.value}
            label = "translated to " + ("B" if options["direction"] == "a2b" else "A")
        if region is not None:
            options["region"] = region
        return (
            lambda progress: model.predict(
                data,
                mask=missing_pixels(data, axes) if model.task == "inpaint" and mask is None else mask,
                axes=axes,
                return_uncertainty=uncertainty,
                progress=progress,
                **options,
            ),
            lambda result: self._add_result(result, placement, model, uncertainty, label),
            f"{label} of {layer.name!r}",
        )

    def _output_kwargs(self, placement: Placement, model, result: np.ndarray, *, spread: bool) -> dict:
        """scale/translate (and rgb) of a result over its source; super-resolution pixels
        are ``scale`` times smaller, centred on the source pixels they came from."""
        has_c = "C" in placement.axes
        if has_c:
            kwargs = placement.annotation_kwargs()
        else:
            kwargs = {"scale": placement.scale, "translate": placement.translate}
        scale, translate = list(kwargs["scale"]), list(kwargs["translate"])
        if model.task == "superres":
            s = model.config.scale
            for ax in (-2, -1):
                translate[ax] += (0.5 / s - 0.5) * scale[ax]
                scale[ax] /= s
        rgb = not spread and result.ndim >= 3 and result.shape[-1] in (3, 4) and result.ndim > len(scale)
        return {"scale": tuple(scale), "translate": tuple(translate), "rgb": rgb}

    def _add_result(self, result, placement: Placement, model, uncertainty: bool, label: str) -> None:
        spread = None
        if uncertainty:
            result, spread = result
        name = f"{placement.name} [generated: {label}]"
        metadata = self._result_metadata(model, placement, task=model.task, generated=True)
        kwargs = self._output_kwargs(placement, model, result, spread=False)
        if placement.contrast_limits is not None and _shown_like_source(model.task, kwargs["rgb"]):
            kwargs["contrast_limits"] = placement.contrast_limits
        self._replace_or_add("image", name, result, metadata=metadata, **kwargs)
        if spread is not None:
            unpaired = model.task == "unpaired"
            over = {"change_map": "cycle error"} if unpaired else {"spread_over": "flips"}
            meta = self._result_metadata(model, placement, task=model.task, generated=True, **over)
            kwargs = self._output_kwargs(placement, model, spread, spread=True)
            self._replace_or_add(
                "image",
                f"{placement.name} [generated: {label} {'change map' if unpaired else 'spread'}]",
                spread,
                metadata=meta,
                colormap="magma",
                **kwargs,
            )
        what = " and its change map" if model.task == "unpaired" else " and its spread"
        self.panel.set_status(f"added {name!r}" + (what if spread is not None else ""))
