"""Crowded, touching nuclei with an instance label image (2D and 3D)."""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
from scipy import ndimage as ndi
from scipy.spatial.transform import Rotation
from skimage.segmentation import relabel_sequential

from ..errors import InputError
from ._common import _add_noise, _check_range, _check_shape, _nonnegative, _smooth_field


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
