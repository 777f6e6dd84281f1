"""The dtype of an image result: float32, or the input's own integer type.

A denoised or restored 8- or 16-bit image can come back in its own dtype,
clipped to that type's range and rounded (what saving it as a TIFF of that type
needs, and half or a quarter of float32's memory), or as float32 in the input's
units (the default: nothing is lost to rounding).
"""

from __future__ import annotations

import numpy as np

from .errors import InputError

#: what ``dtype=`` accepts besides a numpy dtype
CHOICES = ("float32", "input")


def source_dtype(image) -> np.dtype:
    """An input's dtype without reading a lazy (dask, zarr) array."""
    dtype = getattr(image, "dtype", None)
    return np.dtype(dtype) if dtype is not None else np.asarray(image).dtype


def output_dtype(dtype, source_dtype) -> np.dtype:
    """The result's dtype for ``dtype=`` (``"float32"``, ``"input"``, or a numpy
    integer or float dtype) and the input's dtype. ``"input"`` keeps an integer
    input's type; float inputs give float32."""
    if isinstance(dtype, str) and dtype == "input":
        src = np.dtype(source_dtype)
        return src if src.kind in "ui" else np.dtype(np.float32)
    try:
        out = np.dtype(dtype)
    except TypeError:
        raise InputError(f"dtype={dtype!r} is not a dtype: use 'float32', 'input', or e.g. np.uint16") from None
    if out.kind not in "uif" or out.itemsize > 8:
        raise InputError(f"dtype={dtype!r}: a result can be float32/float64 or an integer type, not {out}")
    return out


def cast_image(result, dtype: np.dtype):
    """``result`` (float) as ``dtype``: integers clipped to the type's range and
    rounded half to even; floats converted. Works on numpy and dask arrays."""
    dtype = np.dtype(dtype)
    if dtype.kind == "f":
        return result.astype(dtype, copy=False)
    info = np.iinfo(dtype)
    return (result.clip(info.min, info.max).round()).astype(dtype)
