"""Widget options are remembered when napari restarts (not the data-dependent ones),
and Restore defaults sets them back."""

from __future__ import annotations

import numpy as np

from napari_gan._widgets._persist import settings
from napari_gan._widgets.denoise import DenoiseWidget
from napari_gan._widgets.translate import TranslateWidget


def test_options_come_back_in_a_new_widget_and_defaults_restore(dock):
    viewer, first = dock(DenoiseWidget, "Denoise")
    layer = viewer.add_image(np.zeros((32, 32), np.float32), name="img")
    first.patch_size.value, first.max_steps.value, first.tta.value = 48, 123, True
    first.fine_tune.value = True  # depends on the current model: not remembered
    assert first.image_picker.value is layer

    viewer, second = dock(DenoiseWidget, "Denoise")  # as after napari restarts
    layer = viewer.add_image(np.zeros((32, 32), np.float32), name="img")
    assert (second.patch_size.value, second.max_steps.value, second.tta.value) == (48, 123, True)
    assert second.fine_tune.value is False and second.image_picker.value is layer

    second.defaults_button.click()
    assert (second.patch_size.value, second.max_steps.value, second.tta.value) == (64, 2000, False)
    _, third = dock(DenoiseWidget, "Denoise")
    assert third.patch_size.value == 64  # the defaults are what is remembered now


def test_stored_values_that_no_longer_fit_are_skipped(dock):
    store = settings()
    store.beginGroup("TranslateWidget")
    store.setValue("Task", '"no such task"')
    store.setValue("Patch size", "{not json")
    store.setValue("Batch size", '"eight"')
    store.endGroup()
    store.sync()
    _, widget = dock(TranslateWidget, "Image-to-image")
    assert widget.task_picker.value in [c for c in widget.task_picker.choices]
    assert widget.patch_size.value == 64 and widget.batch_size.value == 8
