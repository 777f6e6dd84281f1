"""napari entry points: opening a .ngan file docks its widget with the model, and
the Layers-menu commands apply a widget's model to the selected layer."""

from __future__ import annotations

import numpy as np

import napari_gan as ng
from napari_gan._widgets._hooks import apply_denoiser, get_reader


def _denoiser(tmp_path):
    img = np.random.default_rng(0).normal(0.5, 0.2, (64, 64)).astype(np.float32)
    den = ng.Denoiser(patch_size=32, batch_size=2, features=8, pretrained=False).fit(img, max_steps=2)
    return img, den.save(tmp_path / "den.ngan")


def test_opening_a_model_file_docks_its_widget_with_the_model(make_napari_viewer, qtbot, tmp_path, errors):
    viewer = make_napari_viewer()
    img, path = _denoiser(tmp_path)
    (tmp_path / "other.ngan").write_bytes(b"not a model")
    assert get_reader(str(tmp_path / "other.ngan")) is None  # not ours: napari tries other readers
    assert get_reader(str(tmp_path / "den.npy")) is None
    layers = viewer.open(str(path), plugin="napari-gan")
    assert layers == [] and len(viewer.layers) == 0
    _, widget = viewer.window.add_plugin_dock_widget("napari-gan", "Denoise")  # the docked one
    assert isinstance(widget.model, ng.Denoiser) and widget.model.steps_trained == 2
    assert errors == []


def test_layers_menu_applies_the_docked_model(make_napari_viewer, qtbot, tmp_path, errors, monkeypatch):
    from napari_gan._widgets import _hooks

    told = []
    monkeypatch.setattr(_hooks, "show_info", told.append)
    viewer = make_napari_viewer()
    img, path = _denoiser(tmp_path)
    viewer.add_image(img, name="noisy")
    apply_denoiser(viewer)  # no model yet: the user is told what to do
    assert told and "Train or load a model" in told[0]
    _, widget = viewer.window.add_plugin_dock_widget("napari-gan", "Denoise")
    widget.load_model(path)
    viewer.layers.selection.active = viewer.layers["noisy"]
    apply_denoiser(viewer)
    qtbot.waitUntil(lambda: "noisy [denoised]" in viewer.layers, timeout=30_000)
    assert viewer.layers["noisy [denoised]"].data.shape == img.shape
    assert errors == []
