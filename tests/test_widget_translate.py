"""The Image-to-image dock widget in a real viewer (Xvfb): one few-step run per task
family (superres, inpaint with a Labels mask and with Shapes, colorize, paired),
generated result layers, save/load, and bad input reported without crashing."""

from __future__ import annotations

import numpy as np
import pytest
from skimage import data

import napari_gan as ng
from napari_gan._widgets.translate import TranslateWidget


@pytest.fixture
def widget(dock):
    return dock(TranslateWidget, "Image-to-image")


def shown(option) -> bool:
    """Whether the task shows this option (isVisible is False while the dock is hidden)."""
    return not option.native.isHidden()


def wait_idle(qtbot, w, timeout=60_000):
    qtbot.waitUntil(lambda: not w.panel.is_busy, timeout=timeout)


def configure(w, task, *, steps=3, preview=0):
    w.task_picker.value = task
    w.patch_size.value = 32
    w.batch_size.value = 2
    w.max_steps.value = steps
    w.preview_every.value = preview


def train(qtbot, w, errors):
    assert w.train(), errors
    wait_idle(qtbot, w)
    assert not errors, errors
    assert w.model is not None and w.model.is_fitted


def predict(qtbot, w, layer, errors):
    assert w.predict(layer), errors
    wait_idle(qtbot, w)
    assert not errors, errors


@pytest.mark.slow
def test_superres_preview_predict_generated_layers_save_load(widget, qtbot, errors, tmp_path):
    viewer, w = widget
    high = viewer.add_image(data.camera()[::4, ::4], name="hr", scale=(2.0, 2.0))
    low = viewer.add_image(data.camera()[200:264:2, 200:264:2], name="lr", scale=(2.0, 2.0), translate=(5.0, 5.0))
    assert not shown(w.target_picker) and shown(w.scale_picker)
    configure(w, "superres", steps=2, preview=2)
    w.image_picker.value = high
    train(qtbot, w, errors)
    assert "hr [generated preview]" in viewer.layers
    w.uncertainty.value = True
    predict(qtbot, w, low, errors)
    out = viewer.layers["lr [generated: super-resolution]"]
    assert out.data.shape == (64, 64)
    assert out.metadata["napari_gan"]["generated"] is True
    np.testing.assert_allclose(out.scale, (1.0, 1.0))
    np.testing.assert_allclose(out.translate, (4.5, 4.5))  # HR pixel centres inside the LR pixel
    spread = viewer.layers["lr [generated: super-resolution spread]"]
    assert spread.data.shape == (64, 64) and spread.data.min() >= 0
    path = w.save_model(tmp_path / "sr.ngan")
    assert path is not None and w.load_model(path).task == "superres"


def test_inpaint_with_labels_and_shapes_masks(widget, qtbot, errors):
    viewer, w = widget
    img = data.camera()[::4, ::4]
    image = viewer.add_image(img, name="cam")
    labels = viewer.add_labels(np.zeros(img.shape, np.int32), name="hole")
    configure(w, "inpaint")
    assert shown(w.mask_picker) and shown(w.fill_picker)
    assert w.fill_picker.value == "texture"
    w.image_picker.value = image
    train(qtbot, w, errors)
    # an empty Labels mask: a clear message, napari keeps running
    w.mask_picker.value = labels
    w.predict(image)  # the core checks the mask in the worker
    wait_idle(qtbot, w)
    assert errors and "mask is empty" in errors[-1]
    errors.clear()
    labels.paint((60, 60), 1, refresh=True)  # a brush stroke
    assert labels.data.any()
    predict(qtbot, w, image, errors)
    out = viewer.layers["cam [generated: inpainting]"].data
    known = labels.data == 0
    np.testing.assert_array_equal(out[known], img[known].astype(np.float32))
    w.fill_picker.value = "smooth"  # the other fill: same known pixels, another hole content
    predict(qtbot, w, image, errors)
    smooth = viewer.layers["cam [generated: inpainting]"].data
    np.testing.assert_array_equal(smooth[known], img[known].astype(np.float32))
    assert not np.array_equal(smooth[~known], out[~known])
    w.fill_picker.value = "texture"
    shapes = viewer.add_shapes([np.array([[10, 10], [10, 40], [30, 40], [30, 10]])], shape_type="polygon", name="box")
    w.mask_picker.value = shapes
    predict(qtbot, w, image, errors)
    out = viewer.layers["cam [generated: inpainting]"].data
    changed = out != img
    assert changed.any() and changed[:9].sum() == 0 and changed[:, :9].sum() == 0 and changed[32:, 42:].sum() == 0


def test_removing_an_object_with_the_texture_fill_needs_no_training(widget, qtbot, errors):
    """Inpaint with the texture fill reads only the image's own patches: Predict works
    before any training and gives the console's fill; the smooth fill (the network's)
    waits for a model."""
    viewer, w = widget
    img = data.brick()[::4, ::4]
    image = viewer.add_image(img, name="brick")
    hole = np.zeros(img.shape, np.int32)
    hole[50:70, 60:90] = 1
    labels = viewer.add_labels(hole, name="hole")
    assert not w.predict_button.enabled  # superres: nothing to apply yet
    w.task_picker.value = "inpaint"
    w.mask_picker.value = labels
    assert w.model is None and w.predict_button.enabled
    predict(qtbot, w, image, errors)
    out = viewer.layers["brick [generated: inpainting]"].data
    np.testing.assert_array_equal(out, ng.Translator(task="inpaint").predict(img, mask=hole > 0))
    assert w.model is None  # nothing trained, nothing to save
    w.fill_picker.value = "smooth"
    assert not w.predict_button.enabled
    assert not w.predict(image)
    assert "no model yet" in errors[-1]


def test_a_2d_labels_mask_over_a_stack_fills_every_frame(widget, qtbot, errors):
    """A hole painted on a 2D Labels layer over a stack of frames is the same hole in
    every frame, as a 2D Shapes layer is; each frame keeps its known pixels."""
    viewer, w = widget
    stack = np.stack([data.brick()[::4, ::4], data.gravel()[::4, ::4]])
    image = viewer.add_image(stack, name="frames")
    hole = np.zeros(stack.shape[1:], np.int32)
    hole[50:70, 60:90] = 1
    w.task_picker.value = "inpaint"
    w.mask_picker.value = viewer.add_labels(hole, name="hole")
    predict(qtbot, w, image, errors)
    out = viewer.layers["frames [generated: inpainting]"].data
    assert out.shape == stack.shape
    for frame, filled in zip(stack, out):
        np.testing.assert_array_equal(filled[hole == 0], frame[hole == 0])
        assert not np.array_equal(filled[hole > 0], frame[hole > 0])


def test_inpaint_with_no_mask_fills_the_missing_pixels(widget, qtbot, errors):
    """An image with NaN gaps (a failed tile, a dead detector row): no mask needed, the
    texture fill takes the gaps as the hole; with no gaps, a message asks for a mask."""
    viewer, w = widget
    img = data.brick()[::4, ::4].astype(np.float32)
    gappy = img.copy()
    gappy[40:52, 30:70] = np.nan
    image = viewer.add_image(gappy, name="gappy")
    w.task_picker.value = "inpaint"
    assert w.mask_picker.value is None and w.predict_button.enabled
    predict(qtbot, w, image, errors)
    out = viewer.layers["gappy [generated: inpainting]"].data
    assert np.isfinite(out).all()
    known = np.isfinite(gappy)
    np.testing.assert_array_equal(out[known], gappy[known])
    np.testing.assert_array_equal(out, ng.Translator(task="inpaint").predict(gappy, mask=~known))
    assert img.min() <= out[~known].min() and out[~known].max() <= img.max()
    whole = viewer.add_image(img, name="whole")
    w.predict(whole)
    wait_idle(qtbot, w)
    assert errors and "choose a mask" in errors[-1] and "has none" in errors[-1]
    assert "whole [generated: inpainting]" not in viewer.layers


def test_colorize_from_rgb_onto_gray(widget, qtbot, errors):
    viewer, w = widget
    rgb = viewer.add_image(data.astronaut()[::8, ::8], name="astro", rgb=True)
    gray = viewer.add_image(data.astronaut()[::8, ::8].mean(-1).astype(np.uint8), name="gray")
    configure(w, "colorize", preview=2)
    assert w.adversarial.value == 0  # colorize's own default: the discriminator measured worse
    # a grayscale layer as the colour source is refused with a message
    w.image_picker.value = gray
    assert not w.train()
    assert errors and "RGB" in errors[-1]
    errors.clear()
    w.image_picker.value = rgb
    train(qtbot, w, errors)
    predict(qtbot, w, gray, errors)
    out = viewer.layers["gray [generated: colorized]"]
    assert out.rgb and out.data.shape == (64, 64, 3)
    # only inside a Labels layer's objects: the rest stays the gray image
    assert shown(w.mask_picker) and w.mask_picker.label == "Only inside (optional)"
    objects = np.zeros((64, 64), np.int32)
    objects[8:24, 8:24] = 2
    w.mask_picker.value = viewer.add_labels(objects, name="objects")
    viewer.layers.remove(out)
    predict(qtbot, w, gray, errors)
    inside = viewer.layers["gray [generated: colorized]"].data
    far = np.ones((64, 64), bool)
    far[:30, :30] = False
    np.testing.assert_allclose(inside[far], np.repeat(gray.data[far][:, None], 3, -1) / 255, atol=1e-5)
    w.mask_picker.value = None
    assert not w.predict(rgb)  # colouring an RGB layer is refused
    assert errors and "grayscale" in errors[-1]


def test_paired_and_bad_shapes(widget, qtbot, errors):
    viewer, w = widget
    src = data.camera()[::4, ::4].astype(np.float32)
    source = viewer.add_image(src, name="source")
    target = viewer.add_image(255 - src, name="target")
    wrong = viewer.add_image(src[:64], name="wrong")
    configure(w, "paired")
    assert shown(w.target_picker)
    w.image_picker.value = source
    w.target_picker.value = wrong
    assert w.train()  # validation runs in the worker; the error comes back as a message
    wait_idle(qtbot, w)
    assert errors and "same shape" in errors[-1]
    errors.clear()
    w.target_picker.value = target
    train(qtbot, w, errors)
    predict(qtbot, w, source, errors)
    assert viewer.layers["source [generated: translated]"].data.shape == src.shape
    assert isinstance(w.model, ng.Translator) and set(w.model.history[-1]) >= {"l1", "g_adv", "d"}


def test_unpaired_two_layers_both_directions_change_map_and_bad_input(widget, qtbot, errors):
    viewer, w = widget
    rgb = data.astronaut()[::4, ::4]
    a = viewer.add_image(rgb[:, :64], name="A", rgb=True)
    b = viewer.add_image((255 - rgb[16:, 64:]).astype(np.uint8), name="B", rgb=True)  # another size, no pairs
    gray = viewer.add_image(rgb[..., 0], name="gray")
    before = {layer.name: np.array(layer.data, copy=True) for layer in viewer.layers}
    configure(w, "unpaired")
    assert shown(w.target_picker) and shown(w.direction_picker) and not shown(w.scale_picker)
    assert w.adversarial.value == pytest.approx(0.1)  # the task's default
    assert "change map" in w.uncertainty.text
    # B with other channels than A: a clear message from the worker, napari keeps running
    w.image_picker.value, w.target_picker.value = a, gray
    assert w.train()
    wait_idle(qtbot, w)
    assert errors and "same channels" in errors[-1]
    errors.clear()
    w.target_picker.value = a
    assert not w.train()
    assert errors and "same layer" in errors[-1]
    errors.clear()
    w.target_picker.value = b
    train(qtbot, w, errors)
    assert w.model.task == "unpaired" and set(w.model.history[-1]) >= {"cycle", "g_adv", "d"}
    w.uncertainty.value = True
    predict(qtbot, w, a, errors)
    out = viewer.layers["A [generated: translated to B]"]
    assert out.data.shape == rgb[:, :64].shape and out.rgb and out.metadata["napari_gan"]["generated"]
    # shown with the source's range (0-255), not stretched to the result's own
    np.testing.assert_allclose(out.contrast_limits, a.contrast_limits)
    change = viewer.layers["A [generated: translated to B change map]"]
    assert change.data.shape == (128, 64) and change.data.min() >= 0
    w.direction_picker.value = "b2a"
    w.uncertainty.value = False
    predict(qtbot, w, b, errors)
    assert viewer.layers["B [generated: translated to A]"].data.shape == b.data.shape
    # a one-channel layer cannot be translated by an RGB model
    assert w.predict(gray)
    wait_idle(qtbot, w)
    assert errors and "expects 3 channel" in errors[-1]
    errors.clear()
    for name, arr in before.items():  # nothing was written over the user's layers
        np.testing.assert_array_equal(viewer.layers[name].data, arr)
