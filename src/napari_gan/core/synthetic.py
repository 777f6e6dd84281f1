"""Synthetic microscopy-like images with exact ground truth, for tests and benchmarks.

:func:`touching_nuclei` draws crowded, touching nuclei with an instance label image;
:func:`spots` draws diffraction-limited spots with their sub-pixel coordinates. Both
work in 2D (Y, X) and 3D (Z, Y, X), are deterministic for a seed, and are meant to be
hard for the textbook pipelines (Otsu + distance-transform watershed, Laplacian of
Gaussian) while staying plainly readable by eye.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
from scipy import ndimage as ndi
from scipy.spatial.transform import Rotation
from skimage import draw, measure, segmentation
from skimage.segmentation import relabel_sequential

from .errors import InputError

__all__ = ["spots", "touching_nuclei"]


# ------------------------------------------------------------------------- internals


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


# --------------------------------------------------------------------------- nuclei


def _place_nuclei(shape, rng, n, radius, clustering):
    """Centres and nominal radii: free nuclei, and nuclei pushed against an earlier one."""
    ndim = len(shape)
    extent = np.asarray(shape, dtype=np.float64)
    centres: list[np.ndarray] = []
    radii: list[float] = []
    attempts = 0
    while len(centres) < n and attempts < 50 * n + 100:
        attempts += 1
        r = rng.uniform(*radius)
        if centres and rng.random() < clustering:
            j = rng.integers(len(centres))
            direction = rng.normal(size=ndim)
            direction /= np.linalg.norm(direction)
            # closer than the sum of the radii: the two ellipses overlap and must share a border
            c = centres[j] + direction * (r + radii[j]) * rng.uniform(0.75, 0.95)
            if np.any(c < 0) or np.any(c > extent - 1):
                continue
        else:
            c = rng.uniform(0, extent - 1)
        if centres:
            gap = np.linalg.norm(np.asarray(centres) - c, axis=1) / (np.asarray(radii) + r)
            if gap.min() < 0.7:  # each nucleus keeps most of itself visible
                continue
        centres.append(c)
        radii.append(r)
    return np.asarray(centres).reshape(-1, ndim), np.asarray(radii)


def _shape_matrix(ndim: int, r: float, aspect: float, rng: np.random.Generator) -> np.ndarray:
    """``A`` such that a point ``x`` lies in the ellipse/ellipsoid iff ``|A (x - c)| <= 1``."""
    semi = r * np.array([math.sqrt(aspect), 1 / math.sqrt(aspect), 1.0][:ndim])
    if ndim == 2:
        theta = rng.uniform(0, math.pi)
        rotation = np.array([[math.cos(theta), -math.sin(theta)], [math.sin(theta), math.cos(theta)]])
    else:
        semi = rng.permutation(semi)
        rotation = Rotation.random(random_state=rng).as_matrix()
    return np.diag(1 / semi) @ rotation.T


def _keep_largest_pieces(labels: np.ndarray) -> None:
    """Zero every piece of an object but its largest, in place: one connected region per id."""
    for index, box in enumerate(ndi.find_objects(labels), start=1):
        if box is None:
            continue
        mine = labels[box] == index
        pieces, count = ndi.label(mine)
        if count > 1:
            largest = np.argmax(np.bincount(pieces.ravel())[1:]) + 1
            labels[box][mine & (pieces != largest)] = 0


def touching_nuclei(
    shape: Sequence[int] = (256, 256),
    *,
    n: int | None = None,
    density: float = 0.35,
    radius: float | tuple[float, float] = (7.0, 13.0),
    aspect: float | tuple[float, float] = (1.0, 1.6),
    clustering: float = 0.7,
    brightness: float | tuple[float, float] = (0.35, 1.0),
    texture: float = 0.25,
    background: float = 0.45,
    blur: float = 1.0,
    photons: float | None = 100.0,
    noise: float = 0.02,
    seed: int | None = 0,
) -> tuple[np.ndarray, np.ndarray]:
    """Crowded fluorescent nuclei that touch and overlap, with their instance labels.

    Each nucleus is an ellipse (an ellipsoid in 3D) of random size, elongation,
    orientation and brightness. Where two overlap, every pixel goes to the nucleus in
    whose own shape it lies deeper (smallest normalised radius), so touching nuclei
    share a border instead of merging. The image shows them as a microscope would:
    brightness falling off towards the rim and a faint dark seam where two touch,
    chromatin-like texture, an uneven smooth background, blur and shot/read noise.
    Dim nuclei on the bright side of the background and clumps of touching nuclei
    defeat a global threshold followed by a distance-transform watershed, while the
    seams and shapes keep every nucleus distinct to the eye.

    Parameters
    ----------
    shape : sequence of int, optional
        (Y, X) or (Z, Y, X), each at least 16. Voxels are isotropic.
    n : int, optional
        Number of nuclei to place; default from ``density``. Crowded settings may
        place fewer (a new nucleus may not cover too much of an earlier one).
    density : float, optional
        Used when ``n`` is None: the fraction of the image the nuclei would cover
        without overlap, in (0, 1].
    radius : float or (float, float), optional
        Range of nominal radii in pixels (geometric mean of the semi-axes).
    aspect : float or (float, float), optional
        Range of elongation (longest / shortest semi-axis), >= 1.
    clustering : float, optional
        Probability in [0, 1] that a nucleus is placed against an earlier one, at
        75-95% of the sum of their radii, so that the two touch or overlap.
    brightness : float or (float, float), optional
        Range of nucleus brightness (above background), in [0, 10].
    texture : float, optional
        Relative amplitude of the fine interior texture (0 = flat interiors).
    background : float, optional
        Peak-to-peak amplitude of the smooth background (0 = flat, dark background).
    blur : float, optional
        Standard deviation of the Gaussian point-spread function in pixels (0 = none).
    photons : float or None, optional
        Expected photon count at intensity 1, for Poisson noise; None for none.
    noise : float, optional
        Standard deviation of additive Gaussian noise.
    seed : int or None, optional
        Random seed; the same seed and options give the same images.

    Returns
    -------
    image : ndarray of float32, shape ``shape``
        Intensities roughly in [0, 1.5].
    labels : ndarray of int32, shape ``shape``
        0 = background; nuclei numbered 1..N consecutively, one connected region
        each. N can be smaller than ``n``: nuclei cut off entirely are dropped.

    Raises
    ------
    napari_gan.InputError
        If an option is out of range.

    Examples
    --------
    >>> image, labels = touching_nuclei((128, 128), seed=1)
    >>> image.shape, image.dtype, labels.dtype
    ((128, 128), dtype('float32'), dtype('int32'))
    """
    shape = _check_shape(shape, minimum=16)
    ndim = len(shape)
    radius = _check_range(radius, "radius", low=1.0, high=max(shape) / 2)
    aspect = _check_range(aspect, "aspect", low=1.0, high=10.0)
    brightness = _check_range(brightness, "brightness", low=0.0, high=10.0)
    if not 0 <= clustering <= 1:
        raise InputError(f"clustering must lie in [0, 1], got {clustering}")
    texture, background, blur, noise = (
        _nonnegative(v, k)
        for v, k in ((texture, "texture"), (background, "background"), (blur, "blur"), (noise, "noise"))
    )
    if photons is not None and not (math.isfinite(photons) and photons > 0):
        raise InputError(f"photons must be a positive number or None, got {photons}")
    if n is None:
        if not 0 < density <= 1:
            raise InputError(f"density must lie in (0, 1], got {density}")
        mean_r = sum(radius) / 2
        volume = math.pi * mean_r**2 if ndim == 2 else 4 / 3 * math.pi * mean_r**3
        n = max(1, round(density * math.prod(shape) / volume))
    elif int(n) != n or n < 0:
        raise InputError(f"n must be a whole number >= 0, got {n}")
    rng = np.random.default_rng(seed)

    centres, radii = _place_nuclei(shape, rng, int(n), radius, clustering)
    labels = np.zeros(shape, dtype=np.int32)
    depth = np.full(shape, np.inf)  # normalised radius of the nucleus owning each pixel
    for index, (c, r) in enumerate(zip(centres, radii), start=1):
        matrix = _shape_matrix(ndim, r, rng.uniform(*aspect), rng)
        reach = 1.0 / np.linalg.svd(matrix, compute_uv=False).min()  # longest semi-axis
        low = np.maximum(np.floor(c - reach).astype(int), 0)
        high = np.minimum(np.ceil(c + reach).astype(int) + 1, shape)
        if np.any(high <= low):
            continue
        box = tuple(slice(a, b) for a, b in zip(low, high))
        offsets = np.stack(np.meshgrid(*(np.arange(a, b) - cc for a, b, cc in zip(low, high, c)), indexing="ij"))
        rho = np.linalg.norm(np.einsum("ij,j...->i...", matrix, offsets), axis=0)
        mine = (rho <= 1.0) & (rho < depth[box])
        labels[box][mine] = index
        depth[box][mine] = rho[mine]
    _keep_largest_pieces(labels)
    labels, _, _ = relabel_sequential(labels)
    labels = labels.astype(np.int32, copy=False)

    # the picture, rendered from the final label map so that image and truth agree
    level = np.concatenate([[0.0], rng.uniform(*brightness, size=int(labels.max()))])
    inside = labels > 0
    shade = np.where(inside, 1.0 - 0.35 * np.where(inside, depth, 0.0) ** 2, 0.0)
    grain = ndi.gaussian_filter(rng.normal(size=shape), 1.2)
    grain /= grain.std() + 1e-12
    nuclei = level[labels] * shade * np.clip(1.0 + texture * grain, 0.0, None)
    # a dim seam where two nuclei touch, as in real images of touching nuclei
    touching = np.zeros(shape, dtype=bool)
    for axis in range(ndim):
        for step in (1, -1):
            neighbour = np.roll(labels, step, axis=axis)
            edge = [slice(None)] * ndim
            edge[axis] = 0 if step == 1 else -1
            neighbour[tuple(edge)] = 0
            touching |= (neighbour > 0) & (neighbour != labels)
    nuclei[touching & inside] *= 0.45
    clean = background * _smooth_field(shape, rng) + nuclei + 0.05
    if blur > 0:
        clean = ndi.gaussian_filter(clean, blur)
    image = _add_noise(clean, rng, photons=photons, gaussian=noise)
    return image.astype(np.float32), labels


# --------------------------------------------------------------------------- spots


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


def scribbles(labels: np.ndarray, *, seed: int, objects: float = 0.6, seams: float = 0.5) -> np.ndarray:
    """Sparse annotation of a 2D instance label image, drawn as a user would paint it
    (for the benchmark, tests and the sample data).

    2 (object): a 1-px stroke along the long axis of ``objects`` of the objects,
    kept 2 px inside their outline. 1 (background): short random strokes on the
    background, plus the whole seam between ``seams`` of the pairs of touching or
    nearly touching objects (one-pixel line where they touch, the background pixels
    of a gap under 3 px), so the model learns where one object ends and the next
    begins. 0: not annotated.
    """
    rng = np.random.default_rng(seed)
    h, w = labels.shape
    out = np.zeros(labels.shape, np.int32)
    rim = ndi.binary_dilation(segmentation.find_boundaries(labels, mode="thick"))
    deep = (labels > 0) & ~rim
    for obj in measure.regionprops(labels):
        if rng.random() >= objects:
            continue
        cy, cx = obj.centroid
        half = 0.35 * obj.axis_major_length
        dy, dx = math.cos(obj.orientation) * half, math.sin(obj.orientation) * half
        rr, cc = draw.line(*(int(round(v)) for v in (cy - dy, cx - dx, cy + dy, cx + dx)))
        ok = (rr >= 0) & (rr < h) & (cc >= 0) & (cc < w)
        rr, cc = rr[ok], cc[ok]
        keep = deep[rr, cc] & (labels[rr, cc] == obj.label)
        out[rr[keep], cc[keep]] = 2

    # background strokes: about one per (size/6)^2 pixels, each ~size/10 long
    bg = np.argwhere(labels == 0)
    length = max(6, min(h, w) // 10)
    for _ in range(max(4, int(h * w / (min(h, w) / 6) ** 2))) if len(bg) else ():
        y0, x0 = bg[rng.integers(len(bg))]
        angle = rng.uniform(0, math.pi)
        y1 = int(np.clip(round(y0 + length * math.sin(angle)), 0, h - 1))
        x1 = int(np.clip(round(x0 + length * math.cos(angle)), 0, w - 1))
        rr, cc = draw.line(int(y0), int(x0), y1, x1)
        keep = labels[rr, cc] == 0
        out[rr[keep], cc[keep]] = 1

    # seams: key every seam pixel by the pair of objects it separates, paint some pairs
    big = np.iinfo(np.int32).max
    pair_lo = np.zeros(labels.shape, np.int64)
    pair_hi = np.zeros(labels.shape, np.int64)
    for axis in (0, 1):
        for step in (1, -1):
            nb = np.roll(labels, step, axis=axis)
            edge = [slice(None)] * 2
            edge[axis] = 0 if step == 1 else -1
            nb[tuple(edge)] = 0
            # one side only (the higher id), so the painted seam is a 1-px line
            touch = (labels > 0) & (nb > 0) & (nb < labels)
            pair_lo[touch], pair_hi[touch] = nb[touch], labels[touch]
    hi3 = ndi.maximum_filter(labels, size=3)
    lo3 = ndi.minimum_filter(np.where(labels > 0, labels, big), size=3)
    gap = (labels == 0) & (hi3 > 0) & (lo3 < big) & (lo3 != hi3) & (pair_hi == 0)
    pair_lo[gap], pair_hi[gap] = lo3[gap], hi3[gap]
    on_seam = pair_hi > 0
    keys = pair_lo[on_seam] * (int(labels.max()) + 1) + pair_hi[on_seam]
    pairs = np.unique(keys)
    chosen = pairs[rng.random(len(pairs)) < seams]
    painted = np.zeros(labels.shape, bool)
    painted[on_seam] = np.isin(keys, chosen)
    out[painted] = 1
    return out


# --------------------------------------------------------------------------- two kinds of objects


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
