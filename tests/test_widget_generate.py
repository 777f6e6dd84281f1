"""The Generate (GAN) dock widget in a real viewer (Xvfb): train a few steps on tiny
images with live G/D losses and a preview grid, stop and continue, generate, walk the
latent space, save/load, and bad input reported without breaking napari."""

from __future__ import annotations

import numpy as np
import pytest

import napari_gan as ng
from napari_gan._widgets.generate import GenerateWidget, grid, parse_labels


@pytest.fixture
def widget(dock):
    return dock(GenerateWidget, "Generate (GAN)")


def wait_idle(qtbot, w, timeout=60_000):
    qtbot.waitUntil(lambda: not w.panel.is_busy, timeout=timeout)


def tiny_stack(n=6, size=16):
    rng = np.random.default_rng(0)
    return (rng.random((n, size, size)) * 100).astype(np.float32)


def test_train_preview_generate_walk_save_load(widget, qtbot, errors, tmp_path):
    viewer, w = widget
    stack = viewer.add_image(tiny_stack(), name="cells", scale=(1, 0.5, 0.5))
    w.image_picker.value = stack
    w.classes_text.value = "a*3, b*3"  # runs: three images of each class
    w.max_steps.value = 4
    w.preview_every.value = 2
    assert w.train()
    qtbot.waitUntil(lambda: "cells [generated preview]" in viewer.layers, timeout=30_000)
    wait_idle(qtbot, w)
    assert errors == []
    assert w.model.steps_trained == 4 and w.model.class_names == ["a", "b"]
    assert {"g", "d"} <= set(w.panel.loss_curve.series)
    preview = viewer.layers["cells [generated preview]"]
    assert preview.data.shape == (4 * 16 + 6, 4 * 16 + 6)
    # beside the training images (at their pixel size), not over them
    assert preview.extent.world[0][-1] > stack.extent.world[1][-1]
    np.testing.assert_allclose(preview.scale, stack.scale[-2:])
    assert preview.metadata["napari_gan"]["generated"] is True

    # continue training the same model
    w.fine_tune.value = True
    w.max_steps.value = 2
    assert w.train()
    wait_idle(qtbot, w)
    assert w.model.steps_trained == 6 and errors == []

    w.count.value = 5
    w.seed.value = 3
    w.class_text.value = "b"
    viewer.dims.set_current_step(0, 5)  # the last training image: past the 5 to come
    assert w.generate()
    qtbot.waitUntil(lambda: "cells [generated]" in viewer.layers, timeout=30_000)
    wait_idle(qtbot, w)
    out = viewer.layers["cells [generated]"]
    assert out.data.shape == (5, 16, 16) and out.data.dtype == np.float32
    assert viewer.dims.current_step[0] == 0  # the first generated image is shown
    # beside the training images, where the preview was (now hidden), not over them
    assert out.extent.world[0][-1] > stack.extent.world[1][-1]
    np.testing.assert_allclose(out.scale[-2:], stack.scale[-2:])
    assert preview.visible is False and out.visible is True
    meta = out.metadata["napari_gan"]
    assert meta["generated"] is True and meta["seed"] == 3 and meta["class"] == "b"
    np.testing.assert_array_equal(out.data, w.model.generate(5, seed=3, classes="b"))

    w.frames.value = 4
    assert w.latent_walk()
    qtbot.waitUntil(lambda: "cells [generated latent walk]" in viewer.layers, timeout=30_000)
    wait_idle(qtbot, w)
    assert viewer.layers["cells [generated latent walk]"].data.shape == (4, 16, 16)

    path = w.save_model(tmp_path / "gan.ngan")
    assert path is not None
    loaded = w.load_model(path)
    assert isinstance(loaded, ng.ImageGAN) and loaded.steps_trained == 6
    assert errors == []


def test_texture_preview_says_generate_adds_detail(widget, qtbot, errors):
    """The texture preview is the generator's layout alone; when training ends the
    status says that Generate adds the image's detail (not after "generator only")."""
    viewer, w = widget
    yy, xx = np.mgrid[:96, :96]
    w.image_picker.value = viewer.add_image(np.sin(xx / 3.0) + np.cos(yy / 4.0), name="tex")
    w.mode_picker.value = "texture"
    w.max_steps.value, w.preview_every.value = 2, 1
    assert w.train()
    wait_idle(qtbot, w)
    status = w.panel.status_label.text()
    assert errors == [] and w.panel.previews_shown > 0
    assert status.startswith("Finished") and "Generate adds" in status
    w.detail.value = "generator only"  # what the preview shows is then what Generate gives
    assert w.train()
    wait_idle(qtbot, w)
    assert w.panel.status_label.text().startswith("Finished") and "Generate adds" not in w.panel.status_label.text()


def test_texture_mode_and_bad_input(widget, qtbot, errors):
    viewer, w = widget
    yy, xx = np.mgrid[:96, :96]
    texture = viewer.add_image(np.sin(xx / 3.0) + np.cos(yy / 4.0), name="tex")
    w.image_picker.value = texture
    w.mode_picker.value = "texture"
    w.max_steps.value = 2
    w.preview_every.value = 0
    assert w.train()
    wait_idle(qtbot, w)
    assert errors == [] and w.model.mode == "texture"
    # texture mode also plots its patch-statistics loss
    assert {"g", "d", "patch"} <= set(w.panel.loss_curve.series)
    w.size_y.value, w.size_x.value, w.count.value = 40, 72, 1
    assert w.generate()
    qtbot.waitUntil(lambda: "tex [generated]" in viewer.layers, timeout=30_000)
    wait_idle(qtbot, w)  # the layer is added before the job has finished
    layer = viewer.layers["tex [generated]"]
    assert layer.data.shape == (1, 40, 72)
    # the default detail is the example's patches, the same texture the console gives
    np.testing.assert_array_equal(layer.data, w.model.generate(1, seed=0, size=(40, 72), refine=True))
    assert layer.metadata["napari_gan"]["refined"] is True
    w.detail.value = "generator only"
    count = len(viewer.layers)
    assert w.generate()
    qtbot.waitUntil(lambda: len(viewer.layers) > count, timeout=30_000)
    wait_idle(qtbot, w)
    raw = viewer.layers[-1]
    assert raw.metadata["napari_gan"]["refined"] is False
    np.testing.assert_array_equal(raw.data, w.model.generate(1, seed=0, size=(40, 72), refine=False))
    w.detail.value = "example's layout and patches"  # for regular patterns: the layout from the image
    count = len(viewer.layers)
    assert w.generate()
    qtbot.waitUntil(lambda: len(viewer.layers) > count, timeout=30_000)
    wait_idle(qtbot, w)
    laid = viewer.layers[-1]
    assert laid.metadata["napari_gan"]["refined"] == "example"
    np.testing.assert_array_equal(laid.data, w.model.generate(1, seed=0, size=(40, 72), refine="example"))

    # one image in samples mode, a texture too small: clear messages, napari keeps running
    w.mode_picker.value = "samples"
    w.fine_tune.value = False
    w.train()
    wait_idle(qtbot, w)
    assert errors and "texture" in errors[-1]
    small = viewer.add_image(np.random.default_rng(0).random((20, 20)), name="small")
    w.image_picker.value = small
    w.mode_picker.value = "texture"
    w.train()
    wait_idle(qtbot, w)
    assert "smaller than the generator's training crop" in errors[-1]


def test_count_follows_the_mode_until_the_user_sets_it(widget):
    """A texture is generated at the size asked (a refined 512 x 512 one takes tens of
    seconds on a CPU): texture mode generates one by default, samples mode a grid of 16,
    and a number the user typed is kept."""
    _, w = widget
    assert w.mode_picker.value == "samples" and w.count.value == 16
    w.mode_picker.value = "texture"
    assert w.count.value == 1
    w.mode_picker.value = "samples"
    assert w.count.value == 16
    w.count.value = 5
    w.mode_picker.value = "texture"
    assert w.count.value == 5


def test_generate_before_training_is_reported(widget, errors):
    _, w = widget
    assert not w.generate()
    assert "no model" in errors[-1]


def test_helpers():
    assert parse_labels(" a, b c ") == ["a", "b", "c"] and parse_labels("  ") is None
    g = grid(np.ones((5, 3, 3)), columns=2, gap=1)
    assert g.shape == (3 * 4 - 1, 2 * 4 - 1)


def test_remove_and_replace_objects_of_a_labels_layer(widget, qtbot, errors):
    """Remove objects (no model needed), learn the objects of a Labels layer with their
    masks, put generated ones in place of some; results are new layers, the user's
    layers stay as they were, and bad ids are reported."""
    import pandas as pd

    from napari_gan.core.synthetic import two_kinds

    viewer, w = widget
    img, lab, kinds = two_kinds((96, 96), seed=0)
    image = viewer.add_image(img, name="cells")
    objects = viewer.add_labels(lab, name="objects")
    ids = [int(i) for i in np.unique(lab) if i]
    objects.features = pd.DataFrame({"index": ids, "class": [str(kinds[i - 1]) for i in ids]})
    w.image_picker.value = image
    w.objects_picker.value = objects
    chosen = ids[:2]
    w.replace_ids.value = ", ".join(map(str, chosen))
    assert not w.replace_button.enabled  # no GAN yet; removing needs none
    assert w.replace_objects(generated=False)
    qtbot.waitUntil(lambda: "objects [generated: objects removed]" in viewer.layers, timeout=30_000)
    wait_idle(qtbot, w)
    assert errors == []
    removed = viewer.layers["objects [generated: objects removed]"].data
    assert set(np.unique(removed)) == {0} | (set(ids) - set(chosen))
    filled = viewer.layers["cells [generated: objects removed]"].data
    assert filled.shape == img.shape and not np.array_equal(filled, img)
    np.testing.assert_array_equal(image.data, img)  # the user's layers are untouched
    np.testing.assert_array_equal(objects.data, lab)

    w.crop_size.value = 32
    w.max_steps.value = 3
    w.preview_every.value = 0
    assert w.train()
    wait_idle(qtbot, w)
    assert errors == [] and w.model.channels == 2  # the image and the object's mask
    assert w.model.class_names == sorted({str(k) for k in kinds})
    assert all("patch" not in h for h in w.model.history)  # a conditional GAN: the discriminator alone
    w.class_text.value = w.model.class_names[0]
    assert w.replace_objects(generated=True)
    qtbot.waitUntil(lambda: "objects [generated: objects replaced]" in viewer.layers, timeout=60_000)
    wait_idle(qtbot, w)
    assert errors == []
    replaced = viewer.layers["objects [generated: objects replaced]"].data
    assert set(np.unique(replaced)) <= {0} | set(ids)
    np.testing.assert_array_equal(objects.data, lab)

    w.replace_ids.value = "9999"
    assert w.replace_objects(generated=False)  # the ids are checked against the labels in the worker
    wait_idle(qtbot, w)
    assert errors and "9999" in errors[-1]
    errors.clear()
    w.replace_ids.value = "3, x"
    assert not w.replace_objects(generated=False)
    assert errors and "'x'" in errors[-1]
