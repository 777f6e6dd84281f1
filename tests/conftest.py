"""Shared test setup: torch threads to match the cores, small seeded images."""

import os

import pytest
import torch

from napari_gan._sample_data import NoisyPair, make_noisy

# CI machines have two cores; more threads than that only contend with Qt and Xvfb.
# pytest-xdist's workers (the README's command runs two) take one core each.
torch.set_num_threads(1 if os.environ.get("PYTEST_XDIST_WORKER") else 2)


@pytest.fixture(autouse=True)
def _own_widget_settings(tmp_path, monkeypatch):
    """Widget options are remembered when napari restarts: each test gets its own
    settings file, so no test sees another's (or the user's) choices."""
    monkeypatch.setenv("NAPARI_GAN_SETTINGS", str(tmp_path / "napari-gan-widgets.ini"))


@pytest.fixture
def small_pair() -> NoisyPair:
    """A 96 x 96 crop of skimage's camera (uint8) with Gaussian noise of sigma 25 (float32)."""
    from skimage.data import camera

    clean = camera()[200:296, 200:296]
    noise = {"kind": "gaussian", "sigma": 25.0, "seed": 0, "data_range": 255.0}
    return NoisyPair(make_noisy(clean, sigma=25.0, seed=0), clean, noise, "skimage.data.camera")


@pytest.fixture
def noisy_image(small_pair: NoisyPair):
    """The noisy half of `small_pair`: float32, shape (96, 96)."""
    return small_pair.noisy


def _shown(monkeypatch, show: str) -> list[str]:
    """Record the messages the widgets pass to napari's ``show``-function instead of showing them."""
    from napari_gan._widgets import _report, _training

    shown: list[str] = []
    for module in (_report, _training):
        if hasattr(module, show):
            monkeypatch.setattr(module, show, shown.append)
    return shown


@pytest.fixture
def errors(monkeypatch):
    """Every message the widgets show with napari's show_error (widget tests)."""
    return _shown(monkeypatch, "show_error")


@pytest.fixture
def warnings_shown(monkeypatch):
    """Every message the widgets show with napari's show_warning (widget tests)."""
    return _shown(monkeypatch, "show_warning")


@pytest.fixture
def dock(make_napari_viewer, qtbot):
    """``dock(WidgetClass, name) -> (viewer, widget)``: the widget docked in a real
    viewer. At teardown any training still running is stopped and waited for, so no
    worker outlives the viewer."""
    docked = []

    def make(cls, name):
        viewer = make_napari_viewer()
        widget = cls(viewer)
        viewer.window.add_dock_widget(widget, name=name)
        docked.append(widget)
        return viewer, widget

    yield make
    for widget in docked:
        if hasattr(widget, "stop"):
            widget.stop()
            qtbot.waitUntil(lambda w=widget: not w.panel.is_busy, timeout=30_000)
