"""How visible the border of a filled hole is: :func:`seam_score` compares the
jumps across the border with the pixel differences on either side of it."""

from __future__ import annotations

import math

import numpy as np

from ..errors import InputError

__all__ = ["seam_score"]


def _pair_difference(a: np.ndarray, first: np.ndarray, second: np.ndarray) -> tuple[float, int]:
    """Sum and count of ``|a[p] - a[q]|`` (averaged over channels) over the
    4-neighbour pairs with one pixel in ``first`` and the other in ``second``."""
    total, count = 0.0, 0
    for axis in (0, 1):
        lo = (slice(None, -1), slice(None)) if axis == 0 else (slice(None), slice(None, -1))
        hi = (slice(1, None), slice(None)) if axis == 0 else (slice(None), slice(1, None))
        pick = (first[lo] & second[hi]) | (second[lo] & first[hi]) if first is not second else first[lo] & first[hi]
        total += float(np.abs(a[hi] - a[lo]).mean(-1)[pick].sum())
        count += int(pick.sum())
    return total, count


def seam_score(image, hole, *, width: int = 4, channel_axis: int | None = None) -> float:
    """How much an image jumps across the border of a filled hole, relative to how
    it varies on either side of it: 1 for real content, above 1 for a seam.

    ``seam_score = across / ((outside + inside) / 2)``, where ``across`` is the mean
    absolute difference of the 4-neighbour pixel pairs that straddle the border (one
    pixel in the hole, one out), ``outside`` that of the pairs lying wholly in the
    band 1 to ``width`` pixels outside the hole (city-block distance), and
    ``inside`` that of the pairs in the band 1 to ``width`` pixels inside it. For
    real content all three are samples of the same neighbour differences, so the
    score is about 1. A fill brighter or darker than its surroundings raises
    ``across``; a fill flatter than the texture around it lowers ``inside`` and so
    the reference, and a constant fill (``inside`` = 0) at least doubles the
    score. Differences are averaged over channels.

    Measured on 256 x 256 crops of skimage's grass / gravel / brick with round and
    rectangular holes of 8-50 px radius (12 holes each; mean, with the range):

    ====================================  =================  =================  =================
    hole holds                            grass              gravel             brick
    ====================================  =================  =================  =================
    the real content                      0.96 [0.73, 1.13]  0.99 [0.83, 1.44]  0.85 [0.42, 1.31]
    the image's mean                      3.3 [2.6, 4.7]     4.2 [3.6, 5.0]     9.4 [4.9, 17]
    real content + 0.5 std                1.34 [1.16, 1.64]  1.60 [1.29, 1.91]  3.7 [2.4, 6.5]
    real content + 0.25 std               1.06 [0.93, 1.31]  1.17 [0.95, 1.59]  2.2 [1.4, 3.3]
    Gaussian blur (sigma 2) of the image  1.72 [1.47, 2.00]  1.83 [1.53, 2.12]  2.1 [1.8, 2.8]
    biharmonic fill                       0.84 [0.71, 0.97]  0.90 [0.67, 1.02]  1.17 [0.69, 2.07]
    ====================================  =================  =================  =================

    Brick's rare mortar lines make small holes noisy; on grass, whose neighbour
    differences are large, a small brightness shift hardly shows at the border. A
    biharmonic fill (:func:`skimage.restoration.inpaint_biharmonic`) scores like real
    content: it meets the border smoothly, by construction, and its flaw, no texture
    inside, is not a seam. Judge what a fill holds with :func:`classifier_test`
    (``generated_mask=hole``); this score only tells whether it joins its
    surroundings.

    Parameters
    ----------
    image : array-like, (Y, X), or (Y, X, C) with ``channel_axis``
        The filled image; any real dtype.
    hole : array-like of bool (or 0/1), (Y, X)
        The filled pixels. Neither empty nor the whole image.
    width : int
        Width in pixels of the bands either side of the border that give the
        reference (>= 2).
    channel_axis : int, optional
        Axis of the channels in ``image``.

    Returns
    -------
    float
        >= 0; ``inf`` when the image is constant on both sides of the border but
        jumps across it, and 1.0 when it is constant everywhere near the border.
        Where one band holds no pixel pair (a hole one pixel wide, or a
        background one pixel wide), the other band alone is the reference.

    Raises
    ------
    napari_gan.InputError
        (a ValueError) If the image is not 2D (plus channels), the hole is not
        boolean or 0/1, its shape is not the image's, it is empty or covers the whole
        image, ``width`` < 2, or neither band holds a pixel pair.
    """
    from scipy import ndimage as ndi

    if isinstance(width, bool) or not isinstance(width, (int, np.integer)) or width < 2:
        raise InputError(f"width must be an integer >= 2, got {width!r}")
    a = np.asarray(image)
    if a.dtype.kind not in "uifb":
        raise InputError(f"image has unsupported dtype {a.dtype}")
    a = a.astype(np.float64)
    if channel_axis is not None:
        a = np.moveaxis(a, channel_axis, -1)
    else:
        a = a[..., None]
    if a.ndim != 3:
        raise InputError(f"image must be 2D (with channel_axis: 2D + channels), got shape {np.shape(image)}")
    if not np.isfinite(a).all():
        raise InputError("image contains NaN or infinite values")
    hole = np.asarray(hole)
    if hole.shape != a.shape[:2]:
        raise InputError(f"hole of shape {hole.shape} does not match the image's spatial shape {a.shape[:2]}")
    if hole.dtype != bool:
        if hole.dtype.kind not in "uif" or not np.isin(hole, (0, 1)).all():
            raise InputError(f"hole must be boolean (or 0/1), got dtype {hole.dtype}")
        hole = hole.astype(bool)
    if not hole.any():
        raise InputError("hole is empty: there is no border to score")
    if hole.all():
        raise InputError("hole covers the whole image: there is no border to score")

    cross = ndi.generate_binary_structure(2, 1)
    band_out = ndi.binary_dilation(hole, cross, iterations=width) & ~hole
    band_in = ndi.binary_dilation(~hole, cross, iterations=width) & hole
    across_sum, across_n = _pair_difference(a, hole, ~hole)
    refs = [s / n for s, n in (_pair_difference(a, band_out, band_out), _pair_difference(a, band_in, band_in)) if n]
    if not refs:
        raise InputError("neither side of the hole's border holds a pair of neighbouring pixels to compare with")
    across = across_sum / across_n
    reference = float(np.mean(refs))
    if reference == 0:
        return 1.0 if across == 0 else math.inf
    return float(across / reference)
