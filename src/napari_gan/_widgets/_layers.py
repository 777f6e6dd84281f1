"""From napari layers to what the core takes: the array behind an image layer, the
axes of its data, the Axes picker, and where to crop a quick preview."""

from __future__ import annotations

from typing import Any

import numpy as np

import napari_gan as ng
from napari_gan.core.axes import default_axes

__all__ = ["AXES_CHOICES", "axes_picker", "central_crop", "check_image_layer", "image_array", "layer_axes"]


def image_array(layer) -> Any:
    """The full-resolution array behind an image layer (level 0 of a multiscale one).

    The array object itself, not a copy: a worker keeps it alive even if the layer is
    deleted, and the core copies what it needs while normalising.
    """
    return layer.data[0] if getattr(layer, "multiscale", False) else layer.data


def check_image_layer(layer, role: str = "image"):
    """Raise :class:`napari_gan.InputError` unless ``layer`` is a napari Image layer."""
    from napari.layers import Image

    if layer is None:
        raise ng.InputError(f"no {role} layer chosen: add or open an image layer first")
    if not isinstance(layer, Image):
        raise ng.InputError(
            f"layer {layer.name!r} is a {type(layer).__name__} layer; the {role} must be an Image layer"
        )
    return layer


def central_crop(
    shape: tuple[int, ...],
    axes: str,
    *,
    frame: dict[str, int] | None = None,
    max_yx: int = 256,
    max_z: int = 32,
) -> tuple[tuple[slice | int, ...], str, dict[int, int]]:
    """Where to take a quick preview of an image with ``axes``.

    S/T axes are reduced to one index (``frame``, else the middle), Z to at most
    ``max_z`` planes around ``frame['Z']``, Y and X to a central window of at most
    ``max_yx``; channels are kept. Returns the index tuple, the axes of the crop and
    ``{data axis: start}`` for the kept axes (to place the preview over its source).
    """
    frame = frame or {}
    index: list[slice | int] = []
    kept_axes = ""
    starts: dict[int, int] = {}
    for i, (letter, size) in enumerate(zip(axes, shape)):
        if letter in "ST":
            index.append(int(np.clip(frame.get(letter, size // 2), 0, size - 1)))
            continue
        if letter in "YXZ":
            width = min(size, max_z if letter == "Z" else max_yx)
            centre = frame.get(letter, size // 2) if letter == "Z" else size // 2
            start = int(np.clip(centre - width // 2, 0, size - width))
        else:  # channels
            width, start = size, 0
        index.append(slice(start, start + width))
        kept_axes += letter
        starts[i] = start
    return tuple(index), kept_axes, starts


#: what the axes pickers offer; "auto" resolves with :func:`layer_axes`
AXES_CHOICES = ("auto", "YX", "YXC", "SYX", "TYX", "ZYX", "SYXC", "TYXC", "SZYX", "TZYX", "CYX", "CZYX")


def layer_axes(layer, choice: str = "auto", *, model_axes: str | None = None, strict: bool = True) -> str:
    """The axes string to pass to the core for ``layer``'s data.

    An explicit ``choice`` is returned as is when ``strict`` (the core then refuses
    one of the wrong length with a clear message); otherwise only when it has one
    letter per dimension. ``"auto"`` follows napari: RGB layers end in C; otherwise
    the axes a model was trained with are reused when their length fits, else the
    core's default for the shape.
    """
    shape = tuple(image_array(layer).shape)
    if choice and choice != "auto" and (strict or len(choice) == len(shape)):
        return choice
    rgb = bool(getattr(layer, "rgb", False))
    if not rgb and model_axes and len(model_axes) == len(shape):
        return model_axes
    if not rgb and model_axes and "Z" in model_axes and len(shape) in (3, 4):
        return "ZYX" if len(shape) == 3 else "SZYX"
    return default_axes(shape, rgb=rgb)


def axes_picker():
    """The Axes option every task widget has."""
    from magicgui.widgets import ComboBox

    return ComboBox(
        choices=AXES_CHOICES,
        value="auto",
        label="Axes",
        tooltip="Letters from STCZYX: S samples, T time, C channels, Z depth (3D network). "
        "auto: YX, YXC for RGB layers, SYX for other 3D stacks.",
    )
