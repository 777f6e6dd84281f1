"""Two kinds of objects in one image, with their labels and kinds."""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
from scipy import ndimage as ndi

from ..errors import InputError
from ._common import _add_noise, _check_range, _check_shape, _nonnegative


def two_kinds(
    shape: Sequence[int] = (256, 256),
    *,
    n: int | None = None,
    radius: float | tuple[float, float] = (6.0, 11.0),
    aspect: float | tuple[float, float] = (1.0, 1.8),
    brightness: float | tuple[float, float] = (0.4, 1.0),
    rim: float | tuple[float, float] = (0.15, 0.7),
    difference: str = "rim",
    elongated: float | tuple[float, float] = (1.4, 2.4),
    background: float = 0.1,
    blur: float = 1.0,
    photons: float | None = 60.0,
    noise: float = 0.03,
    seed: int | None = 0,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Separate objects of two kinds, for classification tests and benchmarks.

    ``difference="rim"``: they differ in texture only, uniform (kind 0) and
    bright-rimmed with a dimmer inside (kind 1). ``difference="shape"``: both are
    uniform, kind 1 draws its elongation from ``elongated`` instead of ``aspect``
    (overlapping ranges), so only shape tells them apart.

    Both kinds draw size, elongation, orientation and brightness from the same
    ranges, and the rim is of random strength (``rim``: fraction of the brightness moved
    from the inside to a band about 2 pixels wide along the edge), so mean intensity
    and shape overlap and weak rims are hard to tell from uniform objects in noise.

    Parameters
    ----------
    shape : (Y, X)
    n : int, optional
        Number of objects (default: about one per 700 pixels); fewer if they do not fit.
    radius, aspect, brightness, rim : float or (min, max)
        Object radius (pixels, geometric mean of the semi-axes), elongation, peak
        brightness above background, rim strength of kind 1.
    difference : {"rim", "shape"}
        What tells the kinds apart (see above).
    elongated : float or (min, max)
        Elongation of kind 1 when ``difference="shape"``.
    background, blur, photons, noise, seed
        Background level, optics blur (sigma, pixels), shot noise (photons at
        intensity 1; None: none), Gaussian read noise, random seed.

    Returns
    -------
    image : ndarray of float32, shape ``shape``
    labels : ndarray of int32, shape ``shape``
        Each object its own id 1..M, 0 background.
    kinds : ndarray of int64, shape (M,)
        ``kinds[i - 1]`` is the kind (0 uniform, 1 rim) of object ``i``.
    """
    from skimage.draw import ellipse

    shape = _check_shape(shape, minimum=32)
    if len(shape) != 2:
        raise InputError(f"two_kinds draws 2D images; got shape {shape}")
    radius = _check_range(radius, "radius", low=1.0)
    aspect = _check_range(aspect, "aspect", low=1.0)
    brightness = _check_range(brightness, "brightness", low=0.0)
    rim = _check_range(rim, "rim", low=0.0, high=1.0)
    elongated = _check_range(elongated, "elongated", low=1.0)
    if difference not in ("rim", "shape"):
        raise InputError(f"difference must be 'rim' or 'shape', got {difference!r}")
    rng = np.random.default_rng(seed)
    if n is None:
        n = max(2, int(shape[0] * shape[1] / 700))
    labels = np.zeros(shape, np.int32)
    clean = np.full(shape, float(background))
    centres: list[np.ndarray] = []
    sizes: list[float] = []
    kinds: list[int] = []
    attempts = 0
    while len(kinds) < n and attempts < 100 * n:
        attempts += 1
        kind = int(rng.integers(2))
        r = rng.uniform(*radius)
        a = rng.uniform(*(elongated if kind == 1 and difference == "shape" else aspect))
        c = rng.uniform(r * math.sqrt(a) + 2, np.asarray(shape) - r * math.sqrt(a) - 2)
        if centres:
            gap = np.linalg.norm(np.asarray(centres) - c, axis=1) - (np.asarray(sizes) + r * math.sqrt(a))
            if gap.min() < 3:
                continue
        rr, cc = ellipse(c[0], c[1], r * math.sqrt(a), r / math.sqrt(a), shape, rotation=rng.uniform(0, math.pi))
        if len(rr) < 8:
            continue
        index = len(kinds) + 1
        labels[rr, cc] = index
        lo = np.maximum([rr.min() - 1, cc.min() - 1], 0)
        hi = [rr.max() + 2, cc.max() + 2]
        box = (slice(lo[0], hi[0]), slice(lo[1], hi[1]))
        inside = labels[box] == index
        depth = ndi.distance_transform_edt(inside)  # 1 on the edge pixels
        level = rng.uniform(*brightness)
        if kind == 1 and difference == "rim":
            s = rng.uniform(*rim)
            band = np.exp(-((depth - 1.0) ** 2) / 2.0)
            profile = (1 - s) + s * 2.5 * band
        else:
            profile = np.ones_like(depth)
        clean[box][inside] += (level * profile)[inside]
        centres.append(c)
        sizes.append(r * math.sqrt(a))
        kinds.append(kind)
    clean = ndi.gaussian_filter(clean, blur) if blur > 0 else clean
    image = _add_noise(clean, rng, photons=photons, gaussian=_nonnegative(noise, "noise"))
    return image.astype(np.float32), labels, np.asarray(kinds, np.int64)
