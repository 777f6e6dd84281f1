"""Synthetic images with named landmarks, for keypoint detection: tapered, slightly
bent cells with a blunt "head" and a thin "tail", both ends marked.

The two ends differ by shape only (a wide round end against a thin tip); which end is
brighter is random per cell, so intensity alone does not tell them apart.
"""

from __future__ import annotations

import numpy as np
from scipy import ndimage as ndi

from .errors import InputError
from .synthetic._common import _add_noise, _check_range, _check_shape, _smooth_field

__all__ = ["landmark_cells"]


def _cell(shape, rng, tail, head, bend, r_tail, r_head, samples: int = 48):
    """Soft mask (0-1) of one tapered cell along a quadratic Bezier from tail to head,
    and its bounding region (to keep the drawing local)."""
    mid = (tail + head) / 2
    normal = np.array([-(head - tail)[1], (head - tail)[0]]) / max(np.linalg.norm(head - tail), 1e-9)
    ctrl = mid + bend * normal
    t = np.linspace(0.0, 1.0, samples)[:, None]
    centres = (1 - t) ** 2 * tail + 2 * (1 - t) * t * ctrl + t**2 * head
    radii = r_tail + (r_head - r_tail) * t[:, 0] ** 0.7
    lo = np.maximum(np.floor(centres.min(0) - r_head - 2).astype(int), 0)
    hi = np.minimum(np.ceil(centres.max(0) + r_head + 3).astype(int), shape)
    yy, xx = np.mgrid[lo[0] : hi[0], lo[1] : hi[1]]
    d = np.sqrt((yy[None] - centres[:, 0, None, None]) ** 2 + (xx[None] - centres[:, 1, None, None]) ** 2)
    mask = (1.0 / (1.0 + np.exp(-(radii[:, None, None] - d) / 0.6))).max(0)
    return mask, (slice(lo[0], hi[0]), slice(lo[1], hi[1])), t[:, 0], centres


def landmark_cells(
    shape=(192, 192),
    *,
    n_cells: int = 14,
    length=(20.0, 36.0),
    brightness=(0.3, 1.0),
    photons: float | None = 60.0,
    gaussian: float = 0.02,
    seed: int = 0,
):
    """Tapered cells with their head and tail marked.

    Parameters
    ----------
    shape : (int, int)
        Image shape, at least 48 x 48.
    n_cells : int
        Cells to place (fewer if they do not fit without their ends crowding).
    length : (float, float)
        Range of a cell's length, tail tip to head centre (pixels).
    brightness : (float, float)
        Range of a cell's peak intensity (0-1 scale); cells vary several-fold.
    photons, gaussian
        Poisson noise (peak photon count; None: none) and Gaussian read noise.
    seed : int
        Everything is drawn from ``numpy.random.default_rng(seed)``.

    Returns
    -------
    image : float32 array of ``shape``
    points : dict
        ``{"head": (M, 2), "tail": (M, 2)}`` float64 (y, x) coordinates, one row per cell
        in the same order: the centre of the blunt end and the tip of the thin end.
    """
    shape = _check_shape(shape, minimum=48)
    if len(shape) != 2:
        raise InputError(f"landmark cells are 2D: shape must be (Y, X), got {shape}")
    lo_len, hi_len = _check_range(length, "length", low=4.0)
    lo_b, hi_b = _check_range(brightness, "brightness", low=0.0, high=1.0)
    rng = np.random.default_rng(seed)
    image = np.zeros(shape, np.float64)
    heads, tails = [], []
    margin = 8
    for _ in range(n_cells * 20):
        if len(heads) == n_cells:
            break
        length_px = rng.uniform(lo_len, hi_len)
        angle = rng.uniform(0, 2 * np.pi)
        direction = np.array([np.sin(angle), np.cos(angle)])
        tail = rng.uniform(margin, np.array(shape) - margin)
        head = tail + length_px * direction
        if (head < margin).any() or (head > np.array(shape) - margin).any():
            continue
        ends = np.array(heads + tails) if heads else np.zeros((0, 2))
        if len(ends) and (np.linalg.norm(ends[:, None] - np.array([head, tail])[None], axis=-1).min() < 10):
            continue
        r_head = rng.uniform(3.5, 5.5)
        mask, region, t, centres = _cell(
            shape, rng, tail, head, bend=rng.uniform(-0.25, 0.25) * length_px, r_tail=1.0, r_head=r_head
        )
        # which end is brighter is random: intensity does not tell head from tail
        yy, xx = np.mgrid[region]
        nearest = np.argmin(
            (yy[None] - centres[:, 0, None, None]) ** 2 + (xx[None] - centres[:, 1, None, None]) ** 2, axis=0
        )
        slope = rng.uniform(-0.5, 0.5)
        shade = 1.0 + slope * (t[nearest] - 0.5) * 2
        image[region] = np.maximum(image[region], rng.uniform(lo_b, hi_b) * mask * shade)
        heads.append(head)
        tails.append(tail)
    image = ndi.gaussian_filter(image, 1.0)
    background = 0.05 + 0.05 * _smooth_field(shape, rng)
    clean = image + background
    noisy = _add_noise(clean, rng, photons=photons, gaussian=gaussian)
    points = {"head": np.array(heads).reshape(-1, 2), "tail": np.array(tails).reshape(-1, 2)}
    return noisy.astype(np.float32), points
