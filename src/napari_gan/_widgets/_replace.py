"""Object replacement in the "Generate (GAN)" widget: which objects of a Labels layer
to learn or replace, their classes, and the crops a samples GAN learns them from
(:func:`napari_gan.object_crops`, :func:`napari_gan.replace_objects`)."""

from __future__ import annotations

import numpy as np

import napari_gan as ng

#: the new layers' names: "<image> [generated: objects replaced]", "<labels> [...]"
REPLACED_SUFFIX = " [generated: objects replaced]"
REMOVED_SUFFIX = " [generated: objects removed]"


def parse_ids(text: str) -> list[int] | None:
    """Label ids separated by commas or spaces; ranges as ``3-7``; empty -> None (all)."""
    ids: list[int] = []
    for item in text.replace(",", " ").split():
        lo, sep, hi = item.partition("-")
        try:
            if sep:
                a, b = int(lo), int(hi)
                if b < a or b - a > 100_000:
                    raise ValueError
                ids.extend(range(a, b + 1))
            else:
                ids.append(int(item))
        except ValueError:
            raise ng.InputError(
                f"ids: {item!r} is not a label id or a range like 3-7; give ids separated by commas"
            ) from None
    if any(i <= 0 for i in ids):
        raise ng.InputError("ids: label ids are positive (0 is the background)")
    return ids or None


def object_classes(labels_layer) -> dict[int, str] | None:
    """``{label id: class}`` from the Labels layer's features table (a ``class``
    column, with the label ids in an ``index`` column or as the row index); None when
    it has no class column."""
    features = getattr(labels_layer, "features", None)
    if features is None or "class" not in getattr(features, "columns", ()):
        return None
    ids = features["index"] if "index" in features.columns else features.index
    out = {}
    for i, c in zip(ids, features["class"]):
        if c is None or (isinstance(c, float) and np.isnan(c)) or str(c).strip() == "":
            continue
        out[int(i)] = str(c)
    return out or None


def plain_2d(image_layer, labels_layer) -> tuple[np.ndarray, np.ndarray]:
    """The image (Y, X) or (Y, X, 3|4) and the labels (Y, X) as numpy arrays; other
    layouts (stacks, volumes, multiscale) are refused with a message."""
    from ._layers import check_image_layer, image_array

    layer = check_image_layer(image_layer, "image")
    if labels_layer is None:
        raise ng.InputError("choose the Labels layer whose objects to learn or replace")
    image = np.asarray(image_array(layer))
    labels = np.asarray(labels_layer.data[0] if getattr(labels_layer, "multiscale", False) else labels_layer.data)
    spatial = image.shape[:2] if layer.rgb else image.shape
    if len(spatial) != 2:
        raise ng.InputError(f"object replacement works on one 2D image; {layer.name!r} has shape {image.shape}")
    if labels.shape != spatial:
        raise ng.InputError(
            f"the Labels layer {labels_layer.name!r} has shape {labels.shape}; the image needs {spatial}"
        )
    return image, labels


def crops_for_training(image_layer, labels_layer, size: int):
    """(crops (N, size, size, C + 1), classes or None) of every object of the Labels
    layer, with its class where the layer's features give one."""
    image, labels = plain_2d(image_layer, labels_layer)
    classes = object_classes(labels_layer)
    if classes is None:
        return ng.object_crops(image, labels, size=size), None
    return ng.object_crops(image, labels, size=size, classes=classes)
