"""The "Denoise" dock widget: train a :class:`napari_gan.Denoiser` on image layers,
watch it learn, and denoise any image layer into a new one.

Only layer <-> array conversion and wiring live here; the training, previews and
predictions are the core's, run in worker threads by the shared
:class:`~napari_gan._widgets._task.TaskWidget` frame.
"""

from __future__ import annotations

import napari
import numpy as np
from magicgui.widgets import CheckBox, SpinBox, create_widget

import napari_gan as ng

from ._budget import budget_widgets, can_resume, read_budget
from ._jobs import TrainingJob
from ._layers import axes_picker, central_crop, check_image_layer, image_array, layer_axes
from ._task import Placement, Preview, TaskWidget, crop_placement, dtype_picker

PREVIEW_SUFFIX = " [denoised preview]"
RESULT_SUFFIX = " [denoised]"


class DenoiseWidget(TaskWidget):
    """Train a denoiser on an image layer (optionally with a clean target) and apply it.

    Public methods (also what the tests drive): :meth:`train`, :meth:`stop`,
    :meth:`predict`, :meth:`save_model`, :meth:`load_model`; the current model is
    :attr:`model`.
    """

    model_type = ng.Denoiser
    predict_label = "Denoise layer"

    def _build_options(self) -> list:
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
        self.axes_picker = axes_picker()
        self.patch_size = SpinBox(value=64, min=8, max=1024, step=8, label="Patch size")
        self.batch_size = SpinBox(value=16, min=1, max=1024, label="Batch size")
        self.max_steps, self.time_limit, self.preview_every, self.fine_tune = budget_widgets(2000)
        return [
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

    # ----------------------------------------------------------------- training

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
        max_steps, time_limit = read_budget(self.max_steps, self.time_limit)
        self._begin(image, axes, model, current)

        def start():
            return model.fit_iter(
                data,
                target_data,
                axes=axes,
                max_steps=max_steps,
                time_limit=time_limit,
                seed=0,
                resume=can_resume(model),
            )

        def preview() -> Preview:
            # worker thread: only arrays here, no layer
            index, crop_axes, starts = central_crop(data.shape, axes, frame=self._frame)
            crop = np.asarray(data[index])
            return Preview(model.predict(crop, axes=crop_axes), starts)

        kind = "supervised" if target is not None else "self-supervised"
        return TrainingJob(
            model=model,
            start=start,
            preview=preview,
            preview_every=int(self.preview_every.value),
            description=f"{kind} training on {image.name!r}",
        )

    def _show_preview(self, preview: Preview) -> None:
        """GUI thread: put the denoised crop over its source in the preview layer."""
        placement = self._placement
        where = crop_placement(placement, preview.starts, drop_channels=False)
        name = placement.name + PREVIEW_SUFFIX
        layer = self.viewer.layers[name] if name in self.viewer.layers else None
        if (
            isinstance(layer, napari.layers.Image)
            and layer.data.ndim == preview.data.ndim
            and layer.rgb == placement.rgb
        ):
            layer.data = preview.data
            # each assignment re-renders: only move the layer when the crop moved
            if not np.allclose(layer.scale, where["scale"]) or not np.allclose(layer.translate, where["translate"]):
                layer.scale, layer.translate = where["scale"], where["translate"]
            return
        if layer is not None:
            self.viewer.layers.remove(layer)
        kwargs = placement.display_kwargs()
        kwargs.update(where)
        self.viewer.add_image(
            preview.data,
            name=name,
            metadata={"napari_gan": {"preview_of": placement.name}},
            **kwargs,
        )

    # ----------------------------------------------------------------- results

    def _build_predict_options(self) -> list:
        self.tta = CheckBox(
            value=False,
            text="Test-time augmentation (8x slower)",
            tooltip="Average the predictions of the eight rotations/flips of the image: a little "
            "cleaner (0.07-0.16 dB on the benchmark images), eight times the prediction time",
        )
        self.result_dtype = dtype_picker()
        return [self.tta, self.result_dtype]

    def _prediction(self, model, layer, data, axes, placement):
        tta, dtype = bool(self.tta.value), self.result_dtype.value  # read on the GUI thread
        return (
            lambda progress: model.predict(data, axes=axes, tta=tta, dtype=dtype, progress=progress),
            lambda result: self._add_result(result, placement, model, tta),
            f"denoising {layer.name!r}" + (" with test-time augmentation" if tta else ""),
        )

    def _add_result(self, result: np.ndarray, placement: Placement, model: ng.Denoiser, tta: bool = False) -> None:
        """GUI thread: show a prediction as "<source> [denoised]" (replacing our own
        earlier result of the same name and shape, so re-running does not pile up layers)."""
        name = placement.name + RESULT_SUFFIX
        metadata = self._result_metadata(model, placement, mode=model.mode, tta=tta)
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
