"""Memory over many train/predict/close cycles of the dock widgets in one napari
viewer: the resident set size (RSS) after each cycle.

    python bench/widget_memory.py                 # 20 cycles of Denoise, Segment and Generate
    python bench/widget_memory.py --cycles 5 --widgets Denoise

Each cycle docks a widget in the same viewer, trains it for a few steps with
previews (so the preview layer, loss plot and worker are all exercised),
predicts on the image, removes the result layers and closes the widget. The
target of the reliability issue: RSS growth under 200 MB over twenty cycles.
The first cycle's growth (imports, torch's and Qt's first allocations) is shown
apart from the rest. Needs a display (xvfb-run on a headless machine).
"""

from __future__ import annotations

import argparse
import gc
import time

import napari
import numpy as np
import psutil
from qtpy.QtCore import QEvent
from qtpy.QtWidgets import QApplication

from napari_gan._widgets.denoise import DenoiseWidget
from napari_gan._widgets.generate import GenerateWidget
from napari_gan._widgets.segment import SegmentWidget
from napari_gan.core.synthetic import touching_nuclei


def _wait(predicate, timeout=300.0):
    end = time.monotonic() + timeout
    while not predicate():
        QApplication.processEvents()
        time.sleep(0.01)
        if time.monotonic() > end:
            raise TimeoutError("the widget did not finish")


def _rss_mb() -> float:
    gc.collect()
    QApplication.processEvents()
    return psutil.Process().memory_info().rss / 2**20


def _denoise(viewer, widget, layers):
    widget.image_picker.value = layers["noisy"]
    widget.patch_size.value, widget.batch_size.value = 32, 4


def _segment(viewer, widget, layers):
    widget.image_picker.value = layers["nuclei"]
    widget.labels_picker.value = layers["masks"]
    widget.patch_size.value, widget.batch_size.value = 32, 4


def _generate(viewer, widget, layers):
    widget.image_picker.value = layers["noisy"]
    widget.mode_picker.value = "texture"


WIDGETS = {
    "Denoise": (DenoiseWidget, _denoise),
    "Segment": (SegmentWidget, _segment),
    "Generate": (GenerateWidget, _generate),
}


def cycle(viewer, name: str, layers: dict, steps: int) -> None:
    cls, setup = WIDGETS[name]
    widget = cls(viewer)
    dock = viewer.window.add_dock_widget(widget, name=name)
    setup(viewer, widget, layers)
    widget.max_steps.value, widget.preview_every.value = steps, 2
    before = set(viewer.layers)
    assert widget.train()
    _wait(lambda: not widget.panel.is_busy)
    if hasattr(widget, "predict_picker"):
        widget.predict(widget.image_picker.value)
        _wait(lambda: not widget.panel.is_busy)
    for layer in [layer for layer in viewer.layers if layer not in before]:
        viewer.layers.remove(layer)
    viewer.window.remove_dock_widget(dock)
    widget.deleteLater()
    # what napari's event loop does between user actions: deferred deletions run
    QApplication.sendPostedEvents(None, QEvent.Type.DeferredDelete)
    QApplication.processEvents()


def main() -> None:
    viewer = napari.Viewer(show=False)
    rng = np.random.default_rng(0)
    nuclei, masks = touching_nuclei((128, 128), seed=1)
    layers = {
        "noisy": viewer.add_image(rng.normal(0.5, 0.2, (128, 128)).astype(np.float32), name="noisy"),
        "nuclei": viewer.add_image(nuclei, name="nuclei"),
        "masks": viewer.add_labels(masks.astype(np.int32), name="masks"),
    }
    rows = []
    for name in args.widgets:
        start = _rss_mb()
        trace = []
        for _ in range(args.cycles):
            cycle(viewer, name, layers, args.steps)
            trace.append(_rss_mb())
        rows.append((name, start, trace))
        print(f"{name}: RSS after each cycle (MB): " + " ".join(f"{v:.0f}" for v in trace), flush=True)
    print()
    print(f"| widget | cycles | RSS before (MB) | after cycle 1 | after cycle {args.cycles} | growth after cycle 1 |")
    print("|---|---|---|---|---|---|")
    for name, start, trace in rows:
        print(
            f"| {name} | {len(trace)} | {start:.0f} | {trace[0]:.0f} | {trace[-1]:.0f} "
            f"| {trace[-1] - trace[0]:+.0f} MB |"
        )
    viewer.close()


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--cycles", type=int, default=20)
    parser.add_argument("--steps", type=int, default=6)
    parser.add_argument("--widgets", nargs="+", default=list(WIDGETS), choices=list(WIDGETS))
    args = parser.parse_args()
    main()
