"""Every dock fits a laptop's screen: docked in a 1366 x 740 window it leaves the
window that size (the options scroll instead of pushing the window past the screen,
napari/napari#4579) and the canvas most of the width."""

from __future__ import annotations

from pathlib import Path

import pytest
from npe2 import PluginManifest

from napari_gan._widgets._task import DockWidget

MANIFEST = PluginManifest.from_file(Path(__file__).resolve().parents[1] / "napari.yaml")
COMMANDS = {c.id: c.python_name for c in MANIFEST.contributions.commands}
WIDGETS = [(w.display_name, COMMANDS[w.command]) for w in MANIFEST.contributions.widgets]


def _widget_class(python_name: str):
    import importlib

    module, _, name = python_name.partition(":")
    return getattr(importlib.import_module(module), name)


@pytest.mark.parametrize(("name", "python_name"), WIDGETS, ids=[w[0] for w in WIDGETS])
def test_every_dock_fits_a_laptop_screen(name, python_name, make_napari_viewer, qtbot):
    cls = _widget_class(python_name)
    viewer = make_napari_viewer(show=True)
    window = viewer.window._qt_window
    window.resize(1366, 740)
    widget = cls(viewer)
    viewer.window.add_dock_widget(widget, name=name)
    qtbot.wait(50)
    assert window.height() <= 740, f"{name} pushed the window to {window.height()} px"
    assert widget.width() <= 520, f"{name} is {widget.width()} px wide"
    assert viewer.window._qt_viewer.canvas.native.width() >= 500
    if isinstance(widget, DockWidget):  # the training docks are taller than 740 px: they scroll
        assert widget._content.sizeHint().height() > widget.height()
        assert widget._scroll.verticalScrollBar().maximum() > 0
        # and nothing is cut at the right: the visible width comes to hold the widest row
        # (which grows when napari's style sheet applies)
        scroll, content = widget._scroll, widget._content
        qtbot.waitUntil(lambda: scroll.viewport().width() >= content.minimumSizeHint().width(), timeout=3000)
