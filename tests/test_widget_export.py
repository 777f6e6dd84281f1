"""Export config: a widget's training set-up becomes a run config that
``napari-gan train`` runs headless, and the model it writes loads back in the
widget."""

from __future__ import annotations

import numpy as np
import pytest

import napari_gan as ng
from napari_gan._widgets.denoise import DenoiseWidget
from napari_gan._widgets.segment import SegmentWidget
from napari_gan.core.run.config import read_config
from napari_gan.core.run.train import train
from napari_gan.core.synthetic import touching_nuclei


@pytest.fixture
def denoise_widget(dock):
    return dock(DenoiseWidget, "Denoise")


@pytest.fixture
def segment_widget(dock):
    return dock(SegmentWidget, "Segment")


def test_denoise_widget_config_round_trip(denoise_widget, qtbot, errors, tmp_path):
    viewer, widget = denoise_widget
    rng = np.random.default_rng(0)
    noisy = rng.normal(0.5, 0.2, (64, 64)).astype(np.float32)
    widget.image_picker.value = viewer.add_image(noisy, name="noisy")
    widget.patch_size.value, widget.batch_size.value, widget.max_steps.value = 32, 4, 5
    widget.time_limit.value = 90

    path = widget.panel.export_config(tmp_path / "run.yaml")
    assert path is not None and errors == []
    assert widget.model is None and not widget.panel.is_busy  # nothing was trained
    assert "napari-gan train run.yaml" in widget.panel.status_label.text()
    cfg = read_config(path)
    assert cfg.model == "Denoiser" and cfg.options["patch_size"] == 32 and cfg.options["batch_size"] == 4
    assert cfg.fit["max_steps"] == 5 and cfg.fit["time_limit"] == 90 and cfg.fit["seed"] == 0
    np.testing.assert_array_equal(np.load(cfg.data["image"]["path"]), noisy)

    model = train(cfg, echo=lambda line: None)
    assert model.steps_trained == 5
    loaded = widget.load_model(cfg.output / "model.ngan")
    assert loaded is not None and widget.model.steps_trained == 5
    assert errors == []

    widget.max_steps.value, widget.time_limit.value = 0, 1  # no step limit: the time limit ends the run
    path = widget.panel.export_config(tmp_path / "timed.yaml")
    cfg = read_config(path)
    assert cfg.fit["max_steps"] is None and cfg.fit["time_limit"] == 1
    assert train(cfg, echo=lambda line: None).steps_trained > 0


def test_segment_widget_exports_its_labels(segment_widget, qtbot, errors, tmp_path):
    viewer, widget = segment_widget
    img, lab = touching_nuclei((64, 64), seed=3)
    widget.image_picker.value = viewer.add_image(img, name="nuclei")
    widget.labels_picker.value = viewer.add_labels(lab.astype(np.int32), name="masks")
    widget.patch_size.value, widget.batch_size.value, widget.max_steps.value = 32, 2, 3
    cfg = read_config(widget.panel.export_config(tmp_path / "seg.yaml"))
    assert cfg.model == "Segmenter"
    np.testing.assert_array_equal(np.load(cfg.data["labels"]["path"]), lab)
    assert ng.load_model(train(cfg, echo=lambda line: None).save(tmp_path / "m.ngan")).steps_trained == 3
    assert errors == []


def test_export_with_no_image_is_a_notification(denoise_widget, errors, tmp_path):
    viewer, widget = denoise_widget
    assert widget.panel.export_config(tmp_path / "run.yaml") is None
    assert not (tmp_path / "run.yaml").exists()
    assert len(errors) == 1
    errors.clear()
