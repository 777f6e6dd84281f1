"""Rectangles in Shapes layers as boxes and back, for the Boxes dock widget.

A box is (min corner, max corner), max exclusive, in pixel indices of the image
(skimage regionprops' ``bbox``), as :class:`napari_gan.BoxDetector` takes and
returns it. napari draws pixel ``i`` from ``i - 0.5`` to ``i + 0.5``, so the
rectangle that encloses a box's pixels has its corners half a pixel below the
box's: box ``[2, 5)`` is the rectangle from 1.5 to 4.5.
"""

from __future__ import annotations

import napari
import numpy as np
import pandas as pd

import napari_gan as ng

from ._task import to_image_coords

#: feature columns read as a rectangle's class, in this order
CLASS_COLUMNS = ("class", "label", "kind")
#: edge colours of the classes, in the order of the model's classes
CLASS_COLORS = ("orange", "cyan", "magenta", "yellow", "lime", "#ff5050", "#5090ff", "white")


def class_column(layer) -> str | None:
    """The features column of ``layer`` that names each rectangle's class, if any."""
    return next((name for name in CLASS_COLUMNS if name in layer.features.columns), None)


def boxes_to_rectangles(boxes: np.ndarray) -> np.ndarray:
    """(K, 2, 2) boxes -> (K, 4, 2) vertices of the rectangles around their pixels."""
    lo, hi = np.asarray(boxes, dtype=np.float64).reshape(-1, 2, 2).transpose(1, 0, 2) - 0.5
    return np.stack([lo, np.stack([lo[:, 0], hi[:, 1]], 1), hi, np.stack([hi[:, 0], lo[:, 1]], 1)], 1)


def rectangles_to_boxes(layer, image_layer=None) -> np.ndarray:
    """A Shapes layer of axis-aligned rectangles as (M, 2, 2) boxes in the pixel
    indices of ``image_layer`` (default: of the layer's own data coordinates)."""
    if layer is None:
        raise ng.InputError("no rectangles layer chosen: draw rectangles around objects in a Shapes layer")
    if not isinstance(layer, napari.layers.Shapes):
        raise ng.InputError(f"layer {layer.name!r} is a {type(layer).__name__} layer; the boxes must be a Shapes layer")
    if len(layer.data) == 0:
        raise ng.InputError(f"Shapes layer {layer.name!r} has no rectangles: draw a few around objects")
    for i, kind in enumerate(layer.shape_type):
        if kind != "rectangle":
            raise ng.InputError(
                f"shape {i} of {layer.name!r} is a {kind}; boxes are rectangles only: delete it, "
                "or draw boxes with the rectangle tool"
            )
    boxes = np.zeros((len(layer.data), 2, 2))
    for i, vertices in enumerate(layer.data):
        vertices = np.asarray(vertices, dtype=np.float64)
        if image_layer is not None:
            vertices = to_image_coords(vertices, layer, image_layer)
        if vertices.shape[1] != 2:
            raise ng.InputError(
                f"{layer.name!r} has {vertices.shape[1]}D rectangles; Boxes works on 2D images and rectangles"
            )
        low, high = vertices.min(axis=0), vertices.max(axis=0)
        if not (np.isclose(vertices, low) | np.isclose(vertices, high)).all():
            raise ng.InputError(f"rectangle {i} of {layer.name!r} is rotated; boxes are axis-aligned rectangles")
        boxes[i] = low + 0.5, high + 0.5
    return boxes


def rectangle_classes(layer) -> tuple[list | None, list | None]:
    """``(classes, class_names)`` of a Shapes layer's rectangles, for ``fit_iter``.

    Without a class column: ``(None, None)``, one class. A categorical column's
    categories are all the classes, in their order (so each keeps its colour), and
    each needs a box."""
    column = class_column(layer)
    if column is None:
        return None, None
    values = layer.features[column]
    missing = values.isna().to_numpy()
    if missing.any():
        raise ng.InputError(
            f"rectangle {int(np.argmax(missing))} of {layer.name!r} has no {column!r}: "
            f"give every rectangle a class ({int(missing.sum())} of {len(missing)} have none)"
        )
    names = list(values.cat.categories) if isinstance(values.dtype, pd.CategoricalDtype) else None
    return values.tolist(), names


def result_features(found: dict, classes: list[str]) -> pd.DataFrame:
    """The features table of found boxes: a categorical class (all the model's
    classes, so each keeps its colour whichever were found) and the score."""
    return pd.DataFrame(
        {"class": pd.Categorical(np.asarray(found["class"], dtype=str), categories=classes), "score": found["score"]}
    )


def add_boxes_layer(viewer, name: str, found: dict, classes: list[str], *, text: bool = True, **kwargs):
    """A Shapes layer of ``found``'s boxes, edges coloured by class, hollow."""
    features = result_features(found, classes)
    defaults = {"class": classes[0], "score": 0.0}
    for column in found:  # e.g. the object's label of boxes from labels
        if column not in ("boxes", *defaults) and np.ndim(found[column]) == 1:
            features[column] = found[column]
            defaults[column] = np.zeros((), dtype=np.asarray(found[column]).dtype).item()
    label = {"string": "{class} {score:.2f}", "size": 8, "color": "white", "anchor": "upper_left"}
    return viewer.add_shapes(
        [(v, "rectangle") for v in boxes_to_rectangles(found["boxes"])],
        ndim=2,
        name=name,
        features=features,
        feature_defaults=defaults,
        edge_color="class",
        edge_color_cycle=list(CLASS_COLORS),
        edge_width=1,
        face_color="transparent",
        text=label if text else None,
        **kwargs,
    )


def show_above(layer, found: dict, classes: list[str], threshold: float) -> int:
    """Show in ``layer`` the rows of ``found`` scoring at least ``threshold``;
    returns how many. Rebuilds the layer's data only when that number changes
    (rows are kept by score, so the same count means the same rows)."""
    keep = np.asarray(found["score"]) >= threshold
    n = int(keep.sum())
    if n != len(layer.data):
        rows = {k: np.asarray(v)[keep] for k, v in found.items()}
        layer.data = [(v, "rectangle") for v in boxes_to_rectangles(rows["boxes"])]
        layer.features = result_features(rows, classes)
        layer.refresh_colors(update_color_mapping=False)
        layer.refresh_text()
    layer.metadata.setdefault("napari_gan", {})["threshold"] = float(threshold)
    return n


def centre_heatmap(model, image, axes: str) -> np.ndarray:
    """The model's centre heatmap over ``image``, max over classes: (Y, X) float32."""
    return model.predict(image, axes=axes, output="heatmap").max(axis=0)
