"""Diffraction-limited spots with their sub-pixel coordinates (2D and 3D)."""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np

from ..errors import InputError
from ._common import _add_noise, _check_shape, _nonnegative, _smooth_field


def _place_points(extent_low, extent_high, n, min_distance, rng) -> np.ndarray:
    """``n`` uniform random points at least ``min_distance`` apart (dart throwing)."""
    ndim = len(extent_low)
    points = np.empty((n, ndim))
    count = 0
    attempts = 0
    limit = 100 * n + 1000
    while count < n and attempts < limit:
        batch = rng.uniform(extent_low, extent_high, size=(min(4 * (n - count) + 16, 100_000), ndim))
        for candidate in batch:
            attempts += 1
            if count and np.min(np.sum((points[:count] - candidate) ** 2, axis=1)) < min_distance**2:
                continue
            points[count] = candidate
            count += 1
            if count == n:
                break
    if count < n:
        raise InputError(
            f"could not place {n} spots at least {min_distance:g} pixels apart in this image "
            f"(placed {count}): lower n or min_distance, or use a larger shape"
        )
    return points


def _add_gaussian(image: np.ndarray, centre: np.ndarray, sigma: np.ndarray, amplitude: float) -> None:
    """Add ``amplitude * exp(-|x - centre|^2 / 2 sigma^2)`` to ``image`` in place (separable, windowed)."""
    low = np.maximum(np.floor(centre - 4 * sigma).astype(int), 0)
    high = np.minimum(np.ceil(centre + 4 * sigma).astype(int) + 1, image.shape)
    if np.any(high <= low):
        return
    profiles = [np.exp(-0.5 * ((np.arange(a, b) - c) / s) ** 2) for a, b, c, s in zip(low, high, centre, sigma)]
    patch = profiles[0]
    for profile in profiles[1:]:
        patch = np.multiply.outer(patch, profile)
    image[tuple(slice(a, b) for a, b in zip(low, high))] += amplitude * patch


def spots(
    shape: Sequence[int] = (256, 256),
    *,
    n: int = 100,
    snr: float = 5.0,
    sigma: float | Sequence[float] = 1.5,
    min_distance: float | None = None,
    amplitude_spread: float = 0.2,
    background: float = 10.0,
    structure: float = 0.5,
    blobs: int | None = None,
    read_noise: float = 1.0,
    poisson: bool = True,
    seed: int | None = 0,
) -> tuple[np.ndarray, np.ndarray]:
    """Diffraction-limited spots at sub-pixel positions on a structured, noisy background.

    Each spot is a Gaussian (the usual model of a point-spread function) centred at a
    random real-valued position, at least ``min_distance`` from every other spot. The
    background varies smoothly across the image and carries faint, much wider blobs
    (out-of-focus objects) that a Laplacian-of-Gaussian detector may mistake for spots.
    Noise is Poisson shot noise (intensities are photon counts) plus Gaussian read noise.

    Parameters
    ----------
    shape : sequence of int, optional
        (Y, X) or (Z, Y, X), each at least 8.
    n : int, optional
        Number of spots.
    snr : float, optional
        Mean spot peak amplitude (above the local background) divided by the noise
        standard deviation at the mean background level,
        ``sqrt(background + read_noise**2)``. About 3 is hard, 10 easy.
    sigma : float or sequence of float, optional
        Standard deviation of the spots in pixels, one value or one per axis (e.g.
        ``(2.5, 1.5, 1.5)`` for a PSF elongated along Z).
    min_distance : float, optional
        Smallest distance between two spot centres, in pixels; default
        ``4 * max(sigma)``, so spots are resolvable.
    amplitude_spread : float, optional
        Spot amplitudes are uniform in ``[1 - spread, 1 + spread]`` times the mean, in [0, 1).
    background : float, optional
        Mean background level in photons, > 0.
    structure : float, optional
        Relative variation of the smooth background, in [0, 1] (0 = flat).
    blobs : int, optional
        Number of faint wide blobs (peak 0.5 x the mean spot amplitude, 3-6 times as
        wide); default ``n // 5``.
    read_noise : float, optional
        Standard deviation of the Gaussian read noise, in photons.
    poisson : bool, optional
        If False, signal-independent Gaussian noise of the same standard deviation
        replaces shot and read noise, so ``snr`` holds everywhere in the image.
    seed : int or None, optional
        Random seed; the same seed and options give the same image and coordinates.

    Returns
    -------
    image : ndarray of float32, shape ``shape``
        Intensities in photons.
    coords : ndarray of float64, shape (n, ndim)
        Spot centres in pixel coordinates ((row, col) or (plane, row, col), pixel
        centres at integers, as napari Points data and ``skimage.feature.blob_log``),
        each at least ``sigma`` from the image border.

    Raises
    ------
    napari_gan.InputError
        If an option is out of range or the spots do not fit at ``min_distance``.

    Examples
    --------
    >>> image, coords = spots((64, 64), n=10, snr=8, seed=0)
    >>> image.shape, coords.shape
    ((64, 64), (10, 2))
    """
    shape = _check_shape(shape, minimum=8)
    ndim = len(shape)
    sigma_axes = np.asarray(sigma, dtype=np.float64)
    if sigma_axes.ndim > 1 or sigma_axes.ndim == 1 and sigma_axes.size != ndim:
        raise InputError(f"sigma must be one number or one per axis ({ndim}), got {sigma!r}")
    sigma_axes = np.broadcast_to(sigma_axes, (ndim,)).copy()
    if not np.all(np.isfinite(sigma_axes) & (sigma_axes > 0)):
        raise InputError(f"sigma must be positive, got {sigma!r}")
    if int(n) != n or n < 0:
        raise InputError(f"n must be a whole number >= 0, got {n}")
    n = int(n)
    snr = _nonnegative(snr, "snr")
    min_distance = 4 * float(sigma_axes.max()) if min_distance is None else _nonnegative(min_distance, "min_distance")
    if not 0 <= amplitude_spread < 1:
        raise InputError(f"amplitude_spread must lie in [0, 1), got {amplitude_spread}")
    background = float(background)
    if not (math.isfinite(background) and background > 0):
        raise InputError(f"background must be a positive number of photons, got {background}")
    if not 0 <= structure <= 1:
        raise InputError(f"structure must lie in [0, 1], got {structure}")
    read_noise = _nonnegative(read_noise, "read_noise")
    blobs = n // 5 if blobs is None else blobs
    if int(blobs) != blobs or blobs < 0:
        raise InputError(f"blobs must be a whole number >= 0, got {blobs}")
    low = sigma_axes
    high = np.asarray(shape, dtype=np.float64) - 1 - sigma_axes
    if np.any(high <= low):
        raise InputError(f"shape {shape} is too small for spots of sigma {sigma!r}")
    rng = np.random.default_rng(seed)

    noise_std = math.sqrt(background + read_noise**2)
    amplitude = snr * noise_std
    coords = _place_points(low, high, n, min_distance, rng)
    clean = background * (1.0 + structure * (2.0 * _smooth_field(shape, rng) - 1.0))
    for _ in range(int(blobs)):
        centre = rng.uniform(0, np.asarray(shape) - 1)
        _add_gaussian(clean, centre, sigma_axes * rng.uniform(3.0, 6.0), 0.5 * amplitude)
    for centre in coords:
        _add_gaussian(clean, centre, sigma_axes, amplitude * rng.uniform(1 - amplitude_spread, 1 + amplitude_spread))
    if poisson:
        image = _add_noise(clean, rng, photons=1.0, gaussian=read_noise)
    else:
        image = _add_noise(clean, rng, photons=None, gaussian=noise_std)
    return image.astype(np.float32), coords
