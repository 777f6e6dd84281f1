"""Take the README's screenshot: napari with the Denoise widget after a short training.

Run under a (virtual) display, e.g. ``xvfb-run -a -s "-screen 0 1600x1000x24" python scripts/screenshot.py``.
"""

from __future__ import annotations

import sys
import time

import napari
from qtpy.QtWidgets import QApplication


def main(out: str = "docs/images/denoise_widget.png", steps: int = 150) -> None:
    viewer = napari.Viewer(title="napari-gan")
    viewer.window._qt_window.resize(1500, 950)
    viewer.open_sample("napari-gan", "noisy_camera")
    _, widget = viewer.window.add_plugin_dock_widget("napari-gan", "Denoise")
    widget.max_steps.value = steps
    widget.preview_every.value = 25
    app = QApplication.instance()
    widget.train()
    deadline = time.time() + 600
    while widget.panel.is_busy and time.time() < deadline:
        app.processEvents()
        time.sleep(0.05)
    widget.predict(viewer.layers[0])
    while widget.panel.is_busy and time.time() < deadline:
        app.processEvents()
        time.sleep(0.05)
    for layer in viewer.layers[:-1]:
        layer.visible = False
    viewer.layers[-1].visible = True
    for _ in range(20):
        app.processEvents()
        time.sleep(0.05)
    viewer.window._qt_window.grab().save(out)
    print("wrote", out, [layer.name for layer in viewer.layers])
    viewer.close()


if __name__ == "__main__":
    main(*sys.argv[1:2])
