"""Layers as the arrays and columns the metrics take (the Compare layers widget).

Points layers give coordinates, and kinds from a "kind" (else "class") feature column;
Shapes layers of rectangles give boxes (M, 2, D) with classes and scores from the
"class" and "score" feature columns. Everything is read in data coordinates.
"""

from __future__ import annotations

import napari
import numpy as np

import napari_gan as ng

KIND_COLUMNS = ("kind", "class")


def layer_kind(layer, role: str) -> str:
    """The layer's kind (Labels, Points or Shapes), else an InputError naming the layer."""
    for kind in ("Labels", "Points", "Shapes"):
        if isinstance(layer, getattr(napari.layers, kind)):
            return kind
    raise ng.InputError(
        f"the {role} {layer.name!r} is a {type(layer).__name__} layer; compare Labels, Points or Shapes layers"
    )


def feature(layer, name: str) -> np.ndarray | None:
    """The feature column ``name`` of a layer as an array, or None when it has none."""
    features = layer.features
    if name not in features.columns:
        return None
    return features[name].to_numpy()


def kind_column(layer) -> str | None:
    """The feature column holding each point's kind: "kind", else "class", else None."""
    return next((name for name in KIND_COLUMNS if name in layer.features.columns), None)


def keypoint_columns(layer, column: str) -> dict[str, np.ndarray]:
    """A Points layer as the columns :func:`napari_gan.metrics.match_keypoints` takes."""
    return {"points": np.asarray(layer.data), "kind": np.asarray(feature(layer, column), dtype=object)}


def rectangles_as_boxes(layer) -> np.ndarray:
    """A Shapes layer of axis-aligned rectangles as boxes of shape (M, 2, D).

    Each box is (min corner, max corner) of the rectangle's vertices, so both layers
    of a comparison convert the same way. In a layer of more than two dimensions a
    rectangle lies in one plane: on the axes where its vertices agree the box is one
    pixel thick (max = min + 1, the exclusive-max convention of the box metrics).
    """
    others = sorted({t for t in layer.shape_type if t != "rectangle"})
    if others:
        first = next(i for i, t in enumerate(layer.shape_type) if t != "rectangle")
        raise ng.InputError(
            f"{layer.name!r} holds {' and '.join(others)} shapes (shape {first} is a {layer.shape_type[first]}); "
            "only rectangles can be scored as boxes: draw them with the rectangle tool"
        )
    boxes = np.zeros((len(layer.data), 2, layer.ndim))
    for i, vertices in enumerate(layer.data):
        vertices = np.asarray(vertices, dtype=float)
        low, high = vertices.min(axis=0), vertices.max(axis=0)
        on_corner = np.isclose(vertices, low) | np.isclose(vertices, high)
        if not on_corner.all():
            raise ng.InputError(
                f"{layer.name!r}: rectangle {i} is rotated; only axis-aligned rectangles can be scored as boxes"
            )
        if layer.ndim > 2:
            high = np.where(high == low, low + 1, high)
        boxes[i] = low, high
    return boxes
