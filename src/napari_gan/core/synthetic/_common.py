"""Checks and building blocks the synthetic image makers share: shapes and ranges, smooth
random fields, camera noise."""

from __future__ import annotations

import math

import numpy as np
from scipy import ndimage as ndi

from ..errors import InputError


def _check_shape(shape, *, minimum: int) -> tuple[int, ...]:
    try:
        shape = tuple(int(s) for s in shape)
    except TypeError:
        raise InputError(f"shape must be a sequence of 2 or 3 sizes, got {shape!r}") from None
    if len(shape) not in (2, 3):
        raise InputError(f"shape must have 2 (Y, X) or 3 (Z, Y, X) sizes, got {shape}")
    if min(shape) < minimum:
        raise InputError(f"every size in shape must be at least {minimum}, got {shape}")
    return shape


def _check_range(value, name: str, *, low: float, high: float = math.inf) -> tuple[float, float]:
    try:
        a, b = (float(v) for v in np.broadcast_to(np.asarray(value, dtype=np.float64), (2,)))
    except (TypeError, ValueError):
        raise InputError(f"{name} must be a number or a (min, max) pair, got {value!r}") from None
    if not (low <= a <= b <= high):
        raise InputError(f"{name} must be a (min, max) pair with {low} <= min <= max <= {high}, got {value!r}")
    return a, b


def _nonnegative(value, name: str) -> float:
    value = float(value)
    if not (math.isfinite(value) and value >= 0):
        raise InputError(f"{name} must be a finite number >= 0, got {value}")
    return value


def _smooth_field(shape: tuple[int, ...], rng: np.random.Generator, *, cells: int = 4) -> np.ndarray:
    """A smooth random field in [0, 1]: a tilted ramp plus cubic-interpolated coarse noise.

    Built on a coarse grid and zoomed up, so it costs O(N) whatever the image size
    (a Gaussian filter this wide would not).
    """
    coarse = rng.normal(size=tuple(cells + 1 for _ in shape))
    factors = [(s - 1) / cells if s > 1 else 1 for s in shape]
    field = ndi.zoom(coarse, factors, order=3, mode="nearest", grid_mode=False)
    field = field[tuple(slice(0, s) for s in shape)]
    field = np.pad(field, [(0, s - f) for s, f in zip(shape, field.shape)], mode="edge")
    direction = rng.normal(size=len(shape))
    direction /= np.linalg.norm(direction)
    grids = np.meshgrid(*(np.linspace(-1, 1, s) for s in shape), indexing="ij", sparse=True)
    ramp = sum(d * g for d, g in zip(direction, grids))
    field = (field - field.mean()) / (field.std() + 1e-12) + 1.5 * ramp
    return (field - field.min()) / (np.ptp(field) + 1e-12)


def _add_noise(clean: np.ndarray, rng: np.random.Generator, *, photons: float | None, gaussian: float) -> np.ndarray:
    out = clean
    if photons is not None:
        out = rng.poisson(np.clip(clean, 0, None) * photons) / photons
    if gaussian > 0:
        out = out + rng.normal(0.0, gaussian, clean.shape)
    return out
