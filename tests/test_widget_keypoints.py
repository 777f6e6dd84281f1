"""The Keypoints dock widget in a real viewer (Xvfb): one Points layer per kind (or
one layer with a kind column), train a few steps with a preview, find every kind as
one Points layer with kind and score features, save/load, and bad input."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

import napari_gan as ng
from napari_gan import _sample_data as sd
from napari_gan._widgets.keypoints import KeypointsWidget
from napari_gan.core.synthetic_landmarks import landmark_cells

SCALE = (0.5, 2.0)


@pytest.fixture
def widget(dock):
    return dock(KeypointsWidget, "Keypoints")


def wait_idle(qtbot, w, timeout=60_000):
    qtbot.waitUntil(lambda: not w.panel.is_busy, timeout=timeout)


def configure(w, steps=6, preview=3):
    w.patch_size.value, w.batch_size.value = 32, 4
    w.max_steps.value, w.preview_every.value = steps, preview


def test_layers_per_kind_train_preview_find_save(widget, qtbot, errors, tmp_path):
    viewer, w = widget
    img, pts = landmark_cells((96, 96), n_cells=6, seed=0)
    image = viewer.add_image(img, name="cells", scale=SCALE)
    heads = viewer.add_points(pts["head"], name="head", scale=SCALE)
    tails = viewer.add_points(pts["tail"], name="tail", scale=SCALE)
    w.image_picker.value = image
    w.points_picker.value = [heads, tails]
    configure(w)
    assert w.train()
    qtbot.waitUntil(lambda: "cells [keypoint heatmap preview]" in viewer.layers, timeout=30_000)
    wait_idle(qtbot, w)
    assert errors == [] and w.model.kinds == ["head", "tail"] and w.model.steps_trained == 6
    assert viewer.layers["cells [keypoint heatmap preview]"].data.shape == img.shape

    assert w.predict(image)
    qtbot.waitUntil(lambda: "cells [keypoints]" in viewer.layers, timeout=30_000)
    wait_idle(qtbot, w)
    out = viewer.layers["cells [keypoints]"]
    found = w.model.predict(img)
    np.testing.assert_array_equal(out.data, found["points"])
    assert list(out.features.columns) == ["kind", "score"]
    np.testing.assert_array_equal(out.features["kind"].astype(str), found["kind"])
    np.testing.assert_allclose(out.scale, SCALE)
    assert out.metadata["napari_gan"]["model"] == "KeypointDetector"

    path = w.save_model(tmp_path / "kp.ngan")
    loaded = w.load_model(path)
    assert isinstance(loaded, ng.KeypointDetector) and loaded.kinds == ["head", "tail"]
    assert errors == []


def test_one_layer_with_a_kind_column(widget, qtbot, errors):
    viewer, w = widget
    img, pts = landmark_cells((64, 64), n_cells=3, seed=1)
    image = viewer.add_image(img, name="cells")
    data = np.concatenate([pts["tail"], pts["head"]])
    kinds = ["tail"] * len(pts["tail"]) + ["head"] * len(pts["head"])
    marked = viewer.add_points(data, name="marked", features=pd.DataFrame({"kind": kinds}))
    w.image_picker.value = image
    w.points_picker.value = [marked]
    configure(w, steps=2, preview=0)
    assert w.train()
    wait_idle(qtbot, w)
    assert errors == [] and w.model.kinds == ["tail", "head"]


def test_bad_input_is_reported(widget, qtbot, errors):
    viewer, w = widget
    img, pts = landmark_cells((64, 64), n_cells=3, seed=1)
    image = viewer.add_image(img, name="cells")
    w.image_picker.value = image
    configure(w, steps=2, preview=0)
    w.points_picker.value = []
    w.train()
    assert "no Points layer chosen" in errors[-1]
    empty = viewer.add_points(np.zeros((0, 2)), name="empty")
    full = viewer.add_points(pts["head"], name="head")
    w.points_picker.value = [full, empty]
    w.train()
    wait_idle(qtbot, w)
    assert "'empty' has no points" in errors[-1]
    three = viewer.add_points(np.array([[1.0, 5.0, 5.0]]), name="3d")
    w.points_picker.value = [three]
    w.train()
    assert "coordinates per point" in errors[-1]
    outside = viewer.add_points(np.array([[500.0, 5.0]]), name="far")
    w.points_picker.value = [outside]
    w.train()
    wait_idle(qtbot, w)
    assert "outside the image" in errors[-1]
    assert image.data is img  # nothing written over the user's layers


def test_landmark_sample():
    (image, _, kind), (heads, hkw, hkind), (tails, tkw, tkind) = sd.cells_with_landmarks()
    assert (kind, hkind, tkind) == ("image", "points", "points")
    assert image.shape == (256, 256) and image.dtype == np.float32
    assert (hkw["name"], tkw["name"]) == ("head", "tail") and len(heads) == len(tails) > 10
