"""Axis handling: map user arrays to the (N, C, *spatial) layout the networks use.

Axes are named with letters from ``STCZYX`` (S: samples, T: time, C: channels,
Z, Y, X: space). S and T are both "independent samples"; Z makes the model 3D.
"""

from __future__ import annotations

import numpy as np

from .errors import InputError

_ALLOWED = set("STCZYX")


def default_axes(shape: tuple[int, ...], *, rgb: bool | None = None) -> str:
    """Axes used when the caller gives none.

    2D -> ``YX``; 3D with a last axis of 3 or 4 (or ``rgb=True``) -> ``YXC``,
    otherwise ``SYX`` (a stack of independent 2D frames; pass ``axes="ZYX"`` for
    a volume); 4D -> ``SYXC`` if RGB-like, else ``SZYX`` (a stack of volumes).
    """
    ndim = len(shape)
    looks_rgb = rgb if rgb is not None else (ndim >= 3 and shape[-1] in (3, 4))
    if ndim == 2:
        return "YX"
    if ndim == 3:
        return "YXC" if looks_rgb else "SYX"
    if ndim == 4:
        return "SYXC" if looks_rgb else "SZYX"
    raise InputError(f"cannot guess the axes of a {ndim}D array of shape {shape}; pass axes=, e.g. axes='SZYXC'")


def check_axes(axes: str, shape: tuple[int, ...]) -> str:
    """Validate an axes string against an array shape and return it upper-cased."""
    axes = axes.upper()
    if len(axes) != len(shape):
        raise InputError(f"axes {axes!r} has {len(axes)} letters but the array has {len(shape)} dimensions {shape}")
    bad = set(axes) - _ALLOWED
    if bad:
        raise InputError(f"axes {axes!r} contains unknown letters {sorted(bad)}; use letters from 'STCZYX'")
    if len(set(axes)) != len(axes):
        raise InputError(f"axes {axes!r} repeats a letter")
    if "S" in axes and "T" in axes:
        raise InputError("use either S (samples) or T (time) in axes, not both")
    if "Y" not in axes or "X" not in axes:
        raise InputError(f"axes {axes!r} must contain Y and X")
    return axes


def spatial_dims(axes: str) -> int:
    return 3 if "Z" in axes else 2


def to_ncs(image: np.ndarray, axes: str) -> np.ndarray:
    """Reorder ``image`` (with ``axes``) to (N, C, [Z,] Y, X); missing axes get size 1."""
    src = axes.replace("T", "S")
    arr = image
    for letter in "SC":
        if letter not in src:
            arr = arr[np.newaxis]
            src = letter + src
    target = "SC" + ("ZYX" if "Z" in src else "YX")
    return np.transpose(arr, [src.index(a) for a in target])


def from_ncs(arr: np.ndarray, axes: str) -> np.ndarray:
    """Inverse of :func:`to_ncs`: (N, C, [Z,] Y, X) back to ``axes`` order."""
    src = axes.replace("T", "S")
    full = src
    for letter in "SC":
        if letter not in full:
            full = letter + full
    order = "SC" + ("ZYX" if "Z" in full else "YX")
    out = np.transpose(arr, [order.index(a) for a in full])
    drop = tuple(i for i, a in enumerate(full) if a not in src)
    return out.reshape([s for i, s in enumerate(out.shape) if i not in drop])
