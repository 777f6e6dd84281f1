"""Synthetic images for box detection: two kinds of objects with their exact boxes.

:func:`blobs_and_rods` draws round bright blobs and elongated dimmer rods of random
sizes and orientations, some touching, on an uneven noisy background. Every object
is drawn from its own mask (objects never overlap), and its box is that mask's
bounding box, exactly as :func:`skimage.measure.regionprops` gives it. Deterministic
for a seed; used by the tests, a napari sample and the box detection benchmark.
"""

from __future__ import annotations

import math

import numpy as np
from scipy import ndimage as ndi

from .errors import InputError
from .synthetic._common import _check_range, _nonnegative

__all__ = ["CLASSES", "blobs_and_rods"]

#: the class names, in the order of ``n``
CLASSES = ("blob", "rod")


def _blob(rng, radius):
    """(profile function, half extent) of a disc with a domed profile."""
    r = rng.uniform(*radius)

    def profile(dy, dx):
        d2 = (dy**2 + dx**2) / r**2
        return np.where(d2 <= 1, 0.6 + 0.4 * np.sqrt(np.clip(1 - d2, 0, 1)), 0.0)

    return profile, r


def _rod(rng, length, width):
    """(profile function, half extent) of a capsule (a segment with a width)."""
    half = rng.uniform(*length) / 2
    w = rng.uniform(*width) / 2
    angle = rng.uniform(0, math.pi)
    uy, ux = math.sin(angle), math.cos(angle)

    def profile(dy, dx):
        t = np.clip(dy * uy + dx * ux, -half, half)
        d2 = (dy - t * uy) ** 2 + (dx - t * ux) ** 2
        return np.where(d2 <= w**2, 1.0, 0.0)

    return profile, half + w


def _place(c, profile, reach: int, labels: np.ndarray):
    """The object's min corner, window, mask and profile at centre ``c``, or None
    where it would leave the image or overlap an object already in ``labels``."""
    lo = np.floor(c).astype(int) - reach
    hi = lo + 2 * reach + 1
    if (lo < 0).any() or (hi > np.array(labels.shape)).any():
        return None
    yy, xx = np.mgrid[lo[0] : hi[0], lo[1] : hi[1]]
    value = profile(yy - c[0], xx - c[1])
    mask = value > 0
    window = (slice(lo[0], hi[0]), slice(lo[1], hi[1]))
    if not mask.any() or (labels[window][mask] > 0).any():
        return None
    return lo, window, mask, value


def blobs_and_rods(
    shape=(96, 96),
    *,
    n=(6, 6),
    radius=(3.0, 7.0),
    rod_length=(12.0, 26.0),
    rod_width=(2.5, 4.0),
    touching: float = 0.3,
    rod_level: float = 0.45,
    noise: float = 0.06,
    seed: int = 0,
    return_labels: bool = False,
):
    """A 2D image of blobs and rods with their true boxes and classes.

    Parameters
    ----------
    shape : (int, int)
        Image size (Y, X), at least 32 pixels per axis.
    n : (int, int)
        How many blobs and how many rods to place; fewer are placed when the image
        has no room left for them.
    radius : (float, float)
        Range of the blobs' radii (pixels).
    rod_length, rod_width : (float, float)
        Ranges of the rods' lengths and widths (pixels); their orientation is random.
    touching : float
        Fraction (0-1) of objects placed against an object already placed.
    rod_level : float
        Brightness of the rods; the blobs peak at 1 (above a background of about 0.1).
    noise : float
        Standard deviation of the added Gaussian noise.
    seed : int
        The same seed gives the same image.
    return_labels : bool
        Also return the objects' instance labels.

    Returns
    -------
    image : (Y, X) float32
    boxes : (M, 2, 2) int64
        Row 0 the min corner (y, x), row 1 the max corner, exclusive: the bounding box
        of object ``i``'s pixels, equal to regionprops' ``bbox`` of label ``i + 1``.
    classes : (M,) str array
        ``"blob"`` or ``"rod"`` for each box.
    labels : (Y, X) int32
        Only with ``return_labels``: object ``i`` has label ``i + 1``, 0 is background.
    """
    try:
        shape = tuple(int(s) for s in shape)
    except TypeError:
        raise InputError(f"shape must be a (Y, X) pair, got {shape!r}") from None
    if len(shape) != 2 or min(shape) < 32:
        raise InputError(f"shape must be a (Y, X) pair of sizes of at least 32, got {shape}")
    counts = np.asarray(n)
    if counts.shape != (2,) or counts.dtype.kind not in "iu" or (counts < 0).any():
        raise InputError(f"n must be a pair of non-negative integers (blobs, rods), got {n!r}")
    radius = _check_range(radius, "radius", low=1.0)
    rod_length = _check_range(rod_length, "rod_length", low=1.0)
    rod_width = _check_range(rod_width, "rod_width", low=1.0)
    touching = _nonnegative(touching, "touching")
    if touching > 1:
        raise InputError(f"touching must be a fraction between 0 and 1, got {touching}")
    noise, rod_level = _nonnegative(noise, "noise"), _nonnegative(rod_level, "rod_level")

    rng = np.random.default_rng(seed)
    kinds = np.repeat([0, 1], counts)
    rng.shuffle(kinds)
    labels = np.zeros(shape, np.int32)
    clean = np.zeros(shape, np.float32)
    centres, extents, boxes, classes = [], [], [], []
    for kind in kinds:
        profile, ext = _blob(rng, radius) if kind == 0 else _rod(rng, rod_length, rod_width)
        reach = int(math.ceil(ext)) + 1

        if centres and rng.random() < touching:
            # slide towards an object already placed and stop at the nearest free
            # position: the two masks then touch (or nearly)
            j = rng.integers(len(centres))
            angle = rng.uniform(0, 2 * math.pi)
            direction = np.array([math.sin(angle), math.cos(angle)])
            steps = (centres[j] + d * direction for d in np.arange(1.0, extents[j] + ext + 2, 0.5))
        else:
            steps = iter(())
        randoms = (rng.uniform(reach, np.array(shape) - reach) for _ in range(40))
        for c in (*steps, *randoms):
            spot = _place(c, profile, reach, labels)
            if spot is None:
                continue
            lo, window, mask, value = spot
            labels[window][mask] = len(boxes) + 1
            clean[window][mask] = (1.0 if kind == 0 else rod_level) * value[mask]
            ys, xs = np.nonzero(mask)
            boxes.append([[lo[0] + ys.min(), lo[1] + xs.min()], [lo[0] + ys.max() + 1, lo[1] + xs.max() + 1]])
            classes.append(CLASSES[kind])
            centres.append(c)
            extents.append(ext)
            break

    # a slight blur (the microscope's), an uneven background, then noise
    image = ndi.gaussian_filter(clean, 0.7)
    yy, xx = np.mgrid[: shape[0], : shape[1]] / max(shape)
    angle = rng.uniform(0, 2 * math.pi)
    image += 0.1 + 0.05 * (math.cos(angle) * yy + math.sin(angle) * xx)
    image += rng.normal(0, noise, shape).astype(np.float32)
    out = (
        image.astype(np.float32),
        np.array(boxes, dtype=np.int64).reshape(-1, 2, 2),
        np.array(classes, dtype=str),
    )
    return out + (labels,) if return_labels else out
