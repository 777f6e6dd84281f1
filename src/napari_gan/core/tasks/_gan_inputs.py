"""What ImageGAN learns from, checked and brought to (N or 1, C, Y, X) float32:
a stack of same-sized images (samples mode, optionally with a class per image) or
one image (texture mode)."""

from __future__ import annotations

import numpy as np

from ..data import as_array, check_finite
from ..errors import InputError


def _prepare_samples(images) -> tuple[np.ndarray, bool]:
    """(N, Y, X[, C]) or a list of same-shaped 2D images -> (N, C, Y, X) float32, has C."""
    if isinstance(images, (list, tuple)):
        if len(images) == 0:
            raise InputError("images is an empty list")
        arrays = [as_array(a, name=f"images[{i}]") for i, a in enumerate(images)]
        shapes = {a.shape for a in arrays}
        if len(shapes) > 1:
            raise InputError(
                f"the images have different shapes {sorted(shapes)}; resize or crop them to one size first"
            )
        arr = np.stack(arrays)
    else:
        arr = as_array(images, name="images")
    check_finite(arr, name="images")
    if arr.ndim < 2:
        raise InputError(
            f"samples mode needs a stack of images (N, Y, X[, C]); got a {arr.ndim}D array of shape {arr.shape}"
        )
    if arr.ndim == 2:
        raise InputError(
            f"samples mode needs a stack of images (N, Y, X[, C]); got one 2D image of shape {arr.shape}. "
            "Use mode='texture' to learn from a single image"
        )
    if arr.ndim == 4 and arr.shape[-1] > 4:
        raise InputError(
            f"images of shape {arr.shape} look like a stack of 3D volumes; ImageGAN generates 2D images "
            "(N, Y, X) or (N, Y, X, C) with at most 4 channels"
        )
    if arr.ndim > 4:
        raise InputError(f"ImageGAN generates 2D images; got a {arr.ndim}D array of shape {arr.shape}")
    has_c = arr.ndim == 4
    x = arr[..., None] if not has_c else arr
    if x.shape[0] < 2:
        raise InputError(
            f"samples mode needs several images to learn what varies between them; got {x.shape[0]}. "
            "Use mode='texture' to learn from a single image"
        )
    if min(x.shape[1:3]) < 8:
        raise InputError(f"images of {x.shape[1]} x {x.shape[2]} pixels are too small (at least 8 x 8)")
    return np.ascontiguousarray(np.moveaxis(x, -1, 1), dtype=np.float32), has_c


def _prepare_texture(image, crop: int) -> tuple[np.ndarray, bool]:
    """(Y, X[, C]) -> (C, Y, X) float32, has C."""
    arr = as_array(image, name="image")
    check_finite(arr)
    if arr.ndim == 3 and arr.shape[-1] > 4:
        raise InputError(
            f"texture mode needs one 2D image (Y, X) or (Y, X, C); got a 3D array of shape {arr.shape}, "
            "a volume or a stack. Pass one plane, or use mode='samples' for a stack of images"
        )
    if arr.ndim not in (2, 3):
        raise InputError(f"texture mode needs one 2D image (Y, X) or (Y, X, C); got shape {arr.shape}")
    has_c = arr.ndim == 3
    x = arr if has_c else arr[..., None]
    if min(x.shape[:2]) < crop:
        raise InputError(
            f"the texture of {x.shape[0]} x {x.shape[1]} pixels is smaller than the generator's training crop "
            f"({crop} x {crop} pixels, what its receptive field learns from); use a larger image or a smaller "
            "crop_size (at least 16)"
        )
    return np.ascontiguousarray(np.moveaxis(x, -1, 0), dtype=np.float32), has_c


def _class_indices(classes, n: int) -> tuple[np.ndarray, list]:
    labels = list(np.asarray(classes).tolist()) if not isinstance(classes, (list, tuple)) else list(classes)
    if len(labels) != n:
        raise InputError(f"classes must give one label per image: {len(labels)} labels for {n} images")
    names = sorted(set(labels), key=lambda v: (str(type(v)), v))
    if len(names) < 2:
        raise InputError(f"classes has a single class {names[0]!r}; class-conditional training needs at least two")
    lookup = {v: i for i, v in enumerate(names)}
    return np.array([lookup[v] for v in labels], dtype=np.int64), names
