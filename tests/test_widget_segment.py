"""The Segment and Detect dock widgets in a real viewer (Xvfb): paint labels / click
points, train a few steps, see the preview, predict, save/load, and bad input."""

from __future__ import annotations

import numpy as np
import pytest

import napari_gan as ng
from napari_gan._widgets.detect import DetectWidget
from napari_gan._widgets.segment import SegmentWidget
from napari_gan.core.synthetic import spots, touching_nuclei

SCALE = (0.5, 2.0)
TRANSLATE = (10.0, -4.0)


def wait_idle(qtbot, widget, timeout=30_000):
    qtbot.waitUntil(lambda: not widget.panel.is_busy, timeout=timeout)


def configure(widget, *, steps=8, preview=2):
    widget.patch_size.value = 32
    widget.batch_size.value = 4
    widget.max_steps.value = steps
    widget.preview_every.value = preview


@pytest.fixture
def segment_widget(dock):
    return dock(SegmentWidget, "Segment")


def paint_scribbles(labels_layer, masks):
    """What a user does with the brush: a stroke across a few nuclei (2) and a few
    strokes over the background (1), through napari's painting API."""
    labels_layer.brush_size = 2
    for i in range(1, 6):
        ys, xs = np.nonzero(masks == i)
        y = int(np.median(ys))
        row = xs[ys == y]
        for x in range(row.min() + 2, row.max() - 1):
            labels_layer.paint((y, x), 2, refresh=False)
    bg = np.argwhere(masks == 0)
    for y, x in bg[:: max(1, len(bg) // 40)]:
        labels_layer.paint((y, x), 1, refresh=False)
    labels_layer.refresh()


def test_segment_scribbles_train_preview_predict(segment_widget, qtbot, errors, tmp_path):
    viewer, widget = segment_widget
    img, masks = touching_nuclei((96, 96), seed=3)
    image = viewer.add_image(img, name="nuclei", scale=SCALE, translate=TRANSLATE)
    labels = viewer.add_labels(np.zeros(img.shape, np.int32), name="scribbles", scale=SCALE, translate=TRANSLATE)
    paint_scribbles(labels, masks)
    assert set(np.unique(labels.data)) == {0, 1, 2}
    widget.image_picker.value = image
    widget.labels_picker.value = labels
    configure(widget, steps=8, preview=2)

    assert widget.train()
    qtbot.waitUntil(lambda: "nuclei [segmentation preview]" in viewer.layers, timeout=20_000)
    wait_idle(qtbot, widget)
    assert errors == []
    assert widget.model.mode == "semantic" and widget.model.steps_trained == 8
    assert "loss" in widget.panel.loss_curve.series
    preview = viewer.layers["nuclei [segmentation preview]"]
    assert preview.data.shape == img.shape and preview.data.dtype == np.int32
    np.testing.assert_allclose(preview.scale, SCALE)

    widget.predict_picker.value = image
    widget.output_picker.value = "instances"
    assert widget.predict()
    qtbot.waitUntil(lambda: "nuclei [segmented]" in viewer.layers, timeout=20_000)
    wait_idle(qtbot, widget)
    out = viewer.layers["nuclei [segmented]"]
    assert out.data.shape == img.shape and out.data.dtype == np.int32
    np.testing.assert_allclose(out.scale, SCALE)
    np.testing.assert_allclose(out.translate, TRANSLATE)
    assert out.metadata["napari_gan"]["model"] == "Segmenter"
    assert out.metadata["napari_gan"]["output"] == "instances"

    path = widget.save_model(tmp_path / "seg.ngan")
    assert path is not None
    assert isinstance(widget.load_model(path), ng.Segmenter)
    assert errors == []


def test_segment_instance_masks_with_region_on_rgb(segment_widget, qtbot, errors):
    viewer, widget = segment_widget
    img, masks = touching_nuclei((64, 64), seed=4)
    rgb = np.stack([img, img, img], -1)
    image = viewer.add_image(rgb, name="rgb", rgb=True)
    partial = np.where(np.arange(64)[:, None] < 40, masks, 0).astype(np.int32)
    labels = viewer.add_labels(partial, name="masks")
    shapes = viewer.add_shapes([np.array([[0, 0], [39, 63]])], shape_type="rectangle", name="annotated")
    widget.image_picker.value = image
    widget.labels_picker.value = labels
    widget.region_picker.value = shapes
    configure(widget, steps=3, preview=0)
    assert widget.train()
    wait_idle(qtbot, widget)
    assert errors == []
    assert widget.model.mode == "instance" and widget.model.net.config.in_channels == 3
    assert widget.predict(image)
    qtbot.waitUntil(lambda: "rgb [segmented]" in viewer.layers, timeout=20_000)
    wait_idle(qtbot, widget)
    assert viewer.layers["rgb [segmented]"].data.shape == (64, 64)


def test_segment_bad_input_is_reported(segment_widget, qtbot, errors, tmp_path):
    viewer, widget = segment_widget
    image = viewer.add_image(np.random.default_rng(0).random((64, 64), dtype=np.float32), name="img")
    empty = viewer.add_labels(np.zeros((64, 64), np.int32), name="empty")
    widget.image_picker.value = image
    widget.labels_picker.value = empty
    configure(widget, steps=2)
    widget.train()
    wait_idle(qtbot, widget)
    assert errors and "no annotation" in errors[-1]

    wrong = viewer.add_labels(np.ones((32, 32), np.int32), name="wrong shape")
    widget.labels_picker.value = wrong
    assert not widget.train()
    assert "shape" in errors[-1]

    # a Denoiser checkpoint is not a Segmenter
    den = ng.Denoiser(patch_size=32, batch_size=2, features=8, pretrained=False)
    den.fit(np.random.default_rng(0).random((64, 64), dtype=np.float32), max_steps=1)
    path = den.save(tmp_path / "den.ngan")
    assert widget.load_model(path) is None
    assert "not a Segmenter" in errors[-1]
    assert not widget.predict(image)  # nothing trained
    assert "no model" in errors[-1]


# --------------------------------------------------------------------------- Detect


@pytest.fixture
def detect_widget(dock):
    return dock(DetectWidget, "Detect")


def test_detect_train_preview_predict(detect_widget, qtbot, errors):
    viewer, widget = detect_widget
    img, pts = spots((96, 96), n=20, snr=8, seed=1)
    image = viewer.add_image(img, name="spots", scale=SCALE, translate=TRANSLATE)
    # points added over the image with the same placement share its data coordinates
    points = viewer.add_points(pts, name="clicked", scale=SCALE, translate=TRANSLATE)
    widget.image_picker.value = image
    widget.points_picker.value = points
    configure(widget, steps=6, preview=2)
    assert widget.train()
    qtbot.waitUntil(lambda: "spots [spot heatmap preview]" in viewer.layers, timeout=20_000)
    wait_idle(qtbot, widget)
    assert errors == []
    assert widget.model.threshold is not None
    heat = viewer.layers["spots [spot heatmap preview]"]
    assert heat.data.shape == img.shape

    assert widget.predict(image)
    qtbot.waitUntil(lambda: "spots [spots]" in viewer.layers, timeout=20_000)
    wait_idle(qtbot, widget)
    out = viewer.layers["spots [spots]"]
    assert out.ndim == 2
    np.testing.assert_allclose(out.scale, SCALE)
    assert out.metadata["napari_gan"]["model"] == "SpotDetector"


def test_detect_points_outside_image_reported(detect_widget, qtbot, errors):
    viewer, widget = detect_widget
    img, pts = spots((64, 64), n=10, snr=8, seed=1)
    image = viewer.add_image(img, name="spots")
    points = viewer.add_points(np.vstack([pts, [[200.0, 10.0]]]), name="clicked")
    widget.image_picker.value = image
    widget.points_picker.value = points
    configure(widget, steps=2)
    widget.train()
    wait_idle(qtbot, widget)
    assert errors and "outside the image" in errors[-1]
    viewer.add_labels(np.zeros((64, 64), np.int32), name="not points")
    # only Points layers are offered as spots
    assert [layer.name for layer in widget.points_picker.choices] == ["clicked"]
