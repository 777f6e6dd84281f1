"""napari entry points besides the dock widgets: a reader for ``.ngan`` files and
Layers-menu commands that apply a widget's model to the selected layer.

Dropping (or File > Open) a model file docks the widget of its kind with the
model loaded; nothing is added to the layer list. Layers > Filter and Layers >
Segment get "... with napari-gan" entries that run the docked widget's model on
the active layer, as its Predict button would. (napari 0.9 does not let plugins
add to the layer list's right-click menu, only to these Layers submenus.)
"""

from __future__ import annotations

import napari
from napari.utils.notifications import show_info

from ..core.errors import CheckpointError
from ..core.io import read_header

PLUGIN = "napari-gan"
#: model kind -> the display name of the widget that trains and applies it
WIDGET_OF_KIND = {
    "Denoiser": "Denoise",
    "Segmenter": "Segment",
    "SpotDetector": "Detect",
    "KeypointDetector": "Keypoints",
    "BoxDetector": "Boxes",
    "ObjectClassifier": "Classify",
    "ImageClassifier": "Classify",
    "ImageGAN": "Generate (GAN)",
    "Translator": "Image-to-image",
}


def get_reader(path):
    """npe2 reader: a napari-gan model file opens its widget with the model loaded."""
    if not isinstance(path, str) or not path.lower().endswith(".ngan"):
        return None
    try:
        kind = read_header(path)["kind"]  # checked, cheap: no weights are read
    except CheckpointError:
        return None
    widget_name = WIDGET_OF_KIND.get(kind)
    if widget_name is None:
        return None

    def read(path):
        viewer = napari.current_viewer()
        if viewer is not None:
            _, widget = viewer.window.add_plugin_dock_widget(PLUGIN, widget_name)
            widget.load_model(path)  # problems are notifications, as with the Load button
        return [(None,)]  # napari's "read, but no layers" sentinel

    return read


def _apply(viewer, widget_name: str) -> bool:
    _, widget = viewer.window.add_plugin_dock_widget(PLUGIN, widget_name)
    if widget.model is None:
        show_info(f"Train or load a model in the {widget_name} widget first, then apply it again")
        return False
    return widget.predict(viewer.layers.selection.active)


def apply_denoiser(viewer: napari.viewer.Viewer) -> None:
    """Layers > Filter: denoise the selected layer with the Denoise widget's model."""
    _apply(viewer, "Denoise")


def apply_translator(viewer: napari.viewer.Viewer) -> None:
    """Layers > Filter: the Image-to-image widget's model on the selected layer."""
    _apply(viewer, "Image-to-image")


def apply_segmenter(viewer: napari.viewer.Viewer) -> None:
    """Layers > Segment: segment the selected layer with the Segment widget's model."""
    _apply(viewer, "Segment")
