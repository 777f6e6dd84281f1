"""Normalisation, input checks, patch sampling and augmentation (numpy + torch)."""

from __future__ import annotations

import os
from dataclasses import dataclass

import numpy as np
import torch

from .errors import InputError

#: dtypes a user array may have; anything else (complex, object, bool, strings) is refused.
_SUPPORTED_KINDS = "uif"


def memory_bytes() -> int | None:
    """This machine's physical memory in bytes (None where the system does not say)."""
    try:
        return int(os.sysconf("SC_PHYS_PAGES")) * int(os.sysconf("SC_PAGE_SIZE"))
    except (AttributeError, OSError, ValueError):
        return None


def _gib(nbytes: float) -> str:
    return f"{nbytes / 2**30:,.1f} GiB"


def check_memory(nbytes: float, *, what: str, hint: str) -> None:
    """Refuse to make ``what`` (``nbytes`` bytes) when it would take more than half of
    this machine's memory: numpy would raise MemoryError at best, or the system
    would swap or kill the process (and napari with it)."""
    total = memory_bytes()
    if total is not None and nbytes > total / 2:
        raise InputError(
            f"{what} would take {_gib(nbytes)}, more than half of this machine's memory ({_gib(total)}); {hint}"
        )


def read_array(data, *, name: str = "image") -> np.ndarray:
    """Read numpy/dask/array-likes (and lists of arrays of one shape) into a numpy array.

    A lazy array (dask, zarr) is read whole only when it fits in memory; a list of
    arrays of different shapes is refused by name (numpy's own message names neither
    the argument nor the shapes).
    """
    if data is None:
        raise InputError(f"{name} is None")
    if not isinstance(data, np.ndarray) and hasattr(data, "shape") and hasattr(data, "dtype"):
        try:
            itemsize = np.dtype(data.dtype).itemsize
        except TypeError:  # e.g. a torch dtype
            itemsize = 4
        size = float(np.prod([float(s) for s in data.shape]))
        # training makes float32 copies, so smaller dtypes count as 4 bytes a pixel
        check_memory(
            size * max(itemsize, 4),
            what=f"{name} (a lazy array of shape {tuple(data.shape)}) read into memory",
            hint="give a crop of it",
        )
    if hasattr(data, "compute") and not isinstance(data, np.ndarray):
        data = data.compute()
    try:
        return np.asarray(data)
    except ValueError as exc:
        if isinstance(data, (list, tuple)):
            shapes = sorted({str(getattr(a, "shape", type(a).__name__)) for a in data})
            raise InputError(
                f"{name} is a list of arrays of different shapes ({', '.join(shapes)}); "
                "give one array, or arrays of one shape"
            ) from None
        raise InputError(f"{name} cannot be read as an array: {exc}") from None


def array_like(data, *, name: str = "image"):
    """``data`` itself if it is an array (numpy, dask, zarr: shape and dtype known
    without reading it), else ``data`` read into a numpy array (lists, sequences)."""
    return data if hasattr(data, "ndim") and hasattr(data, "dtype") else read_array(data, name=name)


def as_array(image, *, name: str = "image") -> np.ndarray:
    """Turn numpy/dask/array-likes into a numpy array and refuse unsupported dtypes."""
    arr = read_array(image, name=name)
    if arr.dtype.kind not in _SUPPORTED_KINDS:
        raise InputError(f"{name} has unsupported dtype {arr.dtype}; use an integer or floating-point image")
    if arr.size == 0:
        raise InputError(f"{name} is empty (shape {arr.shape})")
    return arr


def lazy_or_array(image):
    """numpy stays numpy; dask/zarr/h5py are wrapped in dask so reordering stays lazy."""
    lazy = not isinstance(image, np.ndarray) and all(hasattr(image, a) for a in ("shape", "dtype", "__getitem__"))
    if lazy:
        import dask.array as da

        if not isinstance(image, da.Array):
            image = da.from_array(image, chunks=getattr(image, "chunks", None) or "auto")
        return image, True
    return as_array(image, name="image"), False


def check_finite(arr: np.ndarray, *, name: str = "image", hint: str = "") -> None:
    """Refuse NaN or infinite values; ``hint`` ends the message (what else the user can do)."""
    if arr.dtype.kind == "f" and not np.isfinite(arr).all():
        bad = int(np.count_nonzero(~np.isfinite(arr)))
        raise InputError(f"{name} contains {bad} NaN or infinite values; replace them first{hint}")


@dataclass(frozen=True)
class Normalization:
    """Percentile normalisation: ``(x - low) / (high - low)``.

    Robust to outliers (hot pixels, saturated spots) because it uses
    percentiles rather than min/max.
    """

    low: float
    high: float

    @classmethod
    def fit(
        cls,
        arr: np.ndarray,
        *,
        pmin: float = 1.0,
        pmax: float = 99.8,
        name: str = "image",
        max_samples: int = 4_000_000,
    ) -> Normalization:
        flat = arr.reshape(-1)
        if flat.size > max_samples:
            # A strided subsample gives the same percentiles to well under 1% of the range
            # and keeps huge images from being sorted whole.
            flat = flat[:: flat.size // max_samples + 1]
        low, high = np.percentile(flat, [pmin, pmax]).astype(float)
        if not high > low:
            low, high = float(flat.min()), float(flat.max())
        if not high > low:
            raise InputError(f"{name} is constant (every pixel is {low:g}); there is nothing to learn")
        return cls(float(low), float(high))

    def apply(self, arr: np.ndarray) -> np.ndarray:
        return ((np.asarray(arr, dtype=np.float32) - np.float32(self.low)) / np.float32(self.high - self.low)).astype(
            np.float32, copy=False
        )

    def invert(self, arr: np.ndarray) -> np.ndarray:
        return (arr * np.float32(self.high - self.low) + np.float32(self.low)).astype(np.float32, copy=False)


def fit_patch_shape(
    patch: tuple[int, ...], spatial: tuple[int, ...], multiple: int, *, name: str = "image", minimum: int = 0
) -> tuple[int, ...]:
    """Shrink the requested patch to the image where needed, keeping ``multiple``.

    Refuses images with fewer than ``max(minimum, multiple)`` pixels along an axis:
    patches smaller than that teach the network too little context.
    """
    minimum = max(minimum, multiple)
    out = []
    for p, s in zip(patch, spatial):
        q = min(p, s) // multiple * multiple
        if q < minimum:
            raise InputError(
                f"{name} of spatial shape {spatial} is smaller than the training patch {patch}; "
                f"use an image of at least {minimum} pixels per axis"
            )
        out.append(q)
    return tuple(out)


def flip_rot(crops: list[np.ndarray], rng: np.random.Generator, *, rotate: bool = True) -> list[np.ndarray]:
    """The same random flips (each spatial axis) and rot90 (last two axes) of
    (C, *spatial) crops cut at one place (e.g. an input and its target)."""
    for ax in range(1, crops[0].ndim):
        if rng.random() < 0.5:
            crops = [np.flip(c, axis=ax) for c in crops]
    if rotate:
        k = int(rng.integers(4))
        crops = [np.rot90(c, k, axes=(-2, -1)) for c in crops]
    return crops


class PatchSampler:
    """Random patches from (N, C, *spatial) arrays with flip/rot90 augmentation.

    Several arrays of the same shape (e.g. noisy and clean) are cut at the same
    place and augmented the same way.
    """

    def __init__(
        self,
        arrays: list[np.ndarray],
        patch: tuple[int, ...],
        *,
        seed: int = 0,
        augment: bool = True,
        centers: np.ndarray | None = None,
    ):
        """``centers``, optional (M, 1 + spatial dims) integer array of (sample, *position):
        patches are then placed to contain one of these positions, drawn at random
        (e.g. the annotated pixels of sparse scribbles), instead of anywhere."""
        self.arrays = arrays
        self.centers = None if centers is None or len(centers) == 0 else np.asarray(centers)
        self.patch = tuple(patch)
        self.rng = np.random.default_rng(seed)
        self.augment = augment
        spatial = arrays[0].shape[2:]
        # rot90 only keeps the patch shape when Y and X sizes agree
        self.can_rotate = self.patch[-1] == self.patch[-2]
        self.n = arrays[0].shape[0]
        self.spatial = spatial

    def sample(self, batch_size: int) -> list[torch.Tensor]:
        outs = [[] for _ in self.arrays]
        for _ in range(batch_size):
            if self.centers is None:
                i = self.rng.integers(self.n)
                start = [self.rng.integers(s - p + 1) for s, p in zip(self.spatial, self.patch)]
            else:
                i, *pos = self.centers[self.rng.integers(len(self.centers))]
                # anywhere in the patch, so the annotated pixel is not always at its centre
                start = [
                    int(np.clip(c - self.rng.integers(p), 0, s - p)) for c, s, p in zip(pos, self.spatial, self.patch)
                ]
            sl = (i, slice(None)) + tuple(slice(a, a + p) for a, p in zip(start, self.patch))
            crops = [a[sl] for a in self.arrays]
            if self.augment:
                crops = flip_rot(crops, self.rng, rotate=self.can_rotate)
            for o, c in zip(outs, crops):
                o.append(np.ascontiguousarray(c))
        return [torch.from_numpy(np.stack(o)) for o in outs]
