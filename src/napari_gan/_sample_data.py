"""Offline sample data for File > Open Sample > napari-gan.

Every sample is built from images bundled inside scikit-image's wheel (never the
ones it downloads) with a fixed seed, so the same call gives the same pixels on
every machine and no network is needed. The plain-numpy parts (`make_noisy`,
`make_poisson_gaussian`, `blob_volume`, `load_pair`) are what tests and
benchmarks reuse; the functions named in napari.yaml wrap them as napari
LayerData tuples. This module imports neither napari nor Qt.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

__all__ = [
    "SIGMA",
    "SAMPLE_NAMES",
    "NoisyPair",
    "make_noisy",
    "make_poisson_gaussian",
    "blob_volume",
    "load_pair",
    "noisy_camera",
    "noisy_moon",
    "noisy_clean_pair",
    "noisy_stack_3d",
    "microscopy_like",
]

#: Gaussian noise level (on the 0-255 scale) of the denoising literature's benchmarks.
SIGMA = 25.0

# One fixed seed per sample: images of the same shape (camera, moon, astronaut)
# would otherwise share one noise field, which would let a model trained on one
# pair "know" the noise of another.
_SEEDS = {"camera": 1, "moon": 2, "astronaut": 3, "stack_3d": 4, "microscopy": 5}

#: Names accepted by `load_pair`.
SAMPLE_NAMES = tuple(_SEEDS)

# Microscope-like acquisition: few photons at the brightest pixel, a camera
# offset so that read noise below zero is not clipped away, and sCMOS-like read
# noise, with a gain of one ADU per photo-electron.
_PEAK_PHOTONS = 30.0
_READ_NOISE = 2.0
_OFFSET = 100.0


@dataclass(frozen=True)
class NoisyPair:
    """A noisy image, its clean reference and how the noise was made.

    Attributes
    ----------
    noisy : ndarray
        The noisy image; float32 for Gaussian noise, uint16 for Poisson-Gaussian.
    clean : ndarray
        The noise-free image of the same shape, in the same units as `noisy`.
    noise : dict
        Noise parameters (``kind``, ``seed`` and the kind's own parameters),
        also written to the napari layer's metadata.
    source : str
        The scikit-image function the clean image comes from.
    """

    noisy: np.ndarray
    clean: np.ndarray
    noise: dict[str, Any] = field(default_factory=dict)
    source: str = ""


def make_noisy(image: np.ndarray, *, sigma: float, seed: int | None = 0) -> np.ndarray:
    """Add white Gaussian noise to an image.

    Parameters
    ----------
    image : ndarray, any shape and real dtype
        The clean image. The noise is added in the image's own units (e.g. on the
        0-255 scale for uint8 images).
    sigma : float
        Standard deviation of the noise, >= 0.
    seed : int or None, optional
        Seed of the random generator; the same seed gives the same noise.

    Returns
    -------
    noisy : ndarray of float32, same shape as `image`
        Not clipped to the input's range: clipping would bias dark and bright
        regions and make the noise no longer Gaussian.
    """
    if not np.isfinite(sigma) or sigma < 0:
        raise ValueError(f"sigma must be a finite number >= 0, got {sigma!r}")
    image = np.asarray(image)
    if not (np.issubdtype(image.dtype, np.integer) or np.issubdtype(image.dtype, np.floating)):
        raise TypeError(f"image must have a real numeric dtype, got {image.dtype}")
    rng = np.random.default_rng(seed)
    noise = rng.standard_normal(image.shape, dtype=np.float32)
    return image.astype(np.float32) + np.float32(sigma) * noise


def make_poisson_gaussian(
    photons: np.ndarray,
    *,
    read_noise: float = _READ_NOISE,
    offset: float = _OFFSET,
    seed: int | None = 0,
) -> np.ndarray:
    """Simulate a camera image: photon shot noise plus Gaussian read noise.

    Parameters
    ----------
    photons : ndarray of float, any shape
        Expected number of photo-electrons per pixel (the clean signal), >= 0.
    read_noise : float, optional
        Standard deviation of the Gaussian read noise in ADU (gain is 1 ADU per
        electron), >= 0.
    offset : float, optional
        Camera offset in ADU, added so that read noise is not clipped at zero.
    seed : int or None, optional
        Seed of the random generator.

    Returns
    -------
    noisy : ndarray of uint16, same shape as `photons`
        ``offset + Poisson(photons) + Normal(0, read_noise)``, rounded and
        clipped to the uint16 range like a camera's digitiser. Its clean
        reference in the same units is ``photons + offset``.
    """
    photons = np.asarray(photons, dtype=np.float64)
    if not np.all(np.isfinite(photons)) or photons.min(initial=0) < 0:
        raise ValueError("photons must be finite and >= 0")
    if not np.isfinite(read_noise) or read_noise < 0:
        raise ValueError(f"read_noise must be a finite number >= 0, got {read_noise!r}")
    rng = np.random.default_rng(seed)
    counts = rng.poisson(photons) + offset + read_noise * rng.standard_normal(photons.shape)
    return np.clip(np.rint(counts), 0, np.iinfo(np.uint16).max).astype(np.uint16)


def blob_volume(shape: tuple[int, int, int] = (32, 128, 128), *, seed: int = 0) -> np.ndarray:
    """A smooth synthetic volume of blobs, cell-like, on a 0-255 scale.

    scikit-image bundles no 3D image (cells3d downloads), so the volume is made
    from `skimage.data.binary_blobs`, blurred so that edges look like optics.

    Parameters
    ----------
    shape : tuple of 3 ints, optional
        (Z, Y, X) shape of the volume.
    seed : int, optional
        Seed of the blob layout.

    Returns
    -------
    volume : ndarray of uint8, shape `shape`
        Background near 30, blob interiors near 220.
    """
    from scipy import ndimage
    from skimage.data import binary_blobs

    if len(shape) != 3 or min(shape) < 1:
        raise ValueError(f"shape must be three positive ints (Z, Y, X), got {shape!r}")
    # binary_blobs makes cubes only: make one as large as the longest side, crop.
    blobs = binary_blobs(length=max(shape), n_dim=3, volume_fraction=0.3, blob_size_fraction=0.1, rng=seed)
    blobs = blobs[: shape[0], : shape[1], : shape[2]]
    smooth = ndimage.gaussian_filter(blobs.astype(np.float32), sigma=1.0)
    return np.rint(30.0 + 190.0 * smooth).astype(np.uint8)


def _gray_uint8(rgb: np.ndarray) -> np.ndarray:
    from skimage.color import rgb2gray
    from skimage.util import img_as_ubyte

    return img_as_ubyte(rgb2gray(rgb))


def _gaussian_pair(clean: np.ndarray, seed: int, source: str) -> NoisyPair:
    noise = {"kind": "gaussian", "sigma": SIGMA, "seed": seed, "data_range": 255.0}
    return NoisyPair(make_noisy(clean, sigma=SIGMA, seed=seed), clean, noise, source)


def load_pair(name: str, *, seed: int | None = None) -> NoisyPair:
    """Build one of the samples as a noisy/clean pair of numpy arrays.

    Parameters
    ----------
    name : {"camera", "moon", "astronaut", "stack_3d", "microscopy"}
        ``camera``, ``moon``: the 512 x 512 uint8 images with Gaussian noise of
        sigma 25. ``astronaut``: the same for the astronaut converted to gray.
        ``stack_3d``: a 32 x 128 x 128 blob volume (see `blob_volume`) with
        Gaussian noise of sigma 25. ``microscopy``: a 512 x 512 crop of the
        Hubble deep field scaled to at most 30 photons, with shot noise, read
        noise of 2 ADU and an offset of 100 ADU (uint16).
    seed : int, optional
        Noise seed; by default each sample has its own fixed seed.

    Returns
    -------
    pair : NoisyPair
        ``pair.noisy`` and ``pair.clean`` have the same shape; ``pair.noise``
        holds the noise parameters.
    """
    from skimage import data

    if name not in _SEEDS:
        raise ValueError(f"unknown sample {name!r}; choose one of {SAMPLE_NAMES}")
    seed = _SEEDS[name] if seed is None else seed
    if name == "camera":
        return _gaussian_pair(data.camera(), seed, "skimage.data.camera")
    if name == "moon":
        return _gaussian_pair(data.moon(), seed, "skimage.data.moon")
    if name == "astronaut":
        return _gaussian_pair(_gray_uint8(data.astronaut()), seed, "skimage.data.astronaut")
    if name == "stack_3d":
        return _gaussian_pair(blob_volume(seed=seed), seed, "skimage.data.binary_blobs")
    # The deep field's sparse bright spots on a dark background look like a
    # fluorescence image; its top-left 512 x 512 is dense with objects.
    sky = _gray_uint8(data.hubble_deep_field())[:512, :512]
    photons = sky.astype(np.float64) * (_PEAK_PHOTONS / 255.0)
    noisy = make_poisson_gaussian(photons, read_noise=_READ_NOISE, offset=_OFFSET, seed=seed)
    noise = {
        "kind": "poisson-gaussian",
        "peak_photons": _PEAK_PHOTONS,
        "gain": 1.0,
        "read_noise": _READ_NOISE,
        "offset": _OFFSET,
        "seed": seed,
    }
    clean = (photons + _OFFSET).astype(np.float32)
    return NoisyPair(noisy, clean, noise, "skimage.data.hubble_deep_field")


# ---- napari sample-data contributions (see napari.yaml) --------------------------


def _layer(data: np.ndarray, name: str, pair: NoisyPair, *, noisy: bool, **kwargs: Any) -> tuple:
    metadata = {"source": pair.source, "noise": pair.noise if noisy else None}
    return (data, {"name": name, "metadata": metadata, **kwargs}, "image")


def _noisy_layer(pair: NoisyPair, name: str) -> tuple:
    # Fixed limits show the noisy image with the clean image's contrast; automatic
    # ones would stretch to the noise's outliers.
    return _layer(pair.noisy, name, pair, noisy=True, contrast_limits=(0.0, 255.0))


def noisy_camera() -> list[tuple]:
    """Camera man, 512 x 512, with Gaussian noise of sigma 25 (float32)."""
    return [_noisy_layer(load_pair("camera"), "camera (noisy, sigma=25)")]


def noisy_moon() -> list[tuple]:
    """Moon surface, 512 x 512, with Gaussian noise of sigma 25 (float32)."""
    return [_noisy_layer(load_pair("moon"), "moon (noisy, sigma=25)")]


def noisy_clean_pair() -> list[tuple]:
    """Gray astronaut, 512 x 512: noisy (sigma 25, float32) and clean (uint8) layers."""
    pair = load_pair("astronaut")
    return [
        _noisy_layer(pair, "astronaut (noisy, sigma=25)"),
        _layer(pair.clean, "astronaut (clean)", pair, noisy=False, contrast_limits=(0, 255)),
    ]


def noisy_stack_3d() -> list[tuple]:
    """Blob volume, 32 x 128 x 128, with Gaussian noise of sigma 25 (float32)."""
    return [_noisy_layer(load_pair("stack_3d"), "blobs 3D (noisy, sigma=25)")]


def microscopy_like() -> list[tuple]:
    """Poisson-Gaussian 'fluorescence' image, 512 x 512, uint16 (at most ~30 photons)."""
    pair = load_pair("microscopy")
    limits = (_OFFSET, float(np.percentile(pair.noisy, 99.9)))
    name = "microscopy-like (Poisson-Gaussian)"
    return [_layer(pair.noisy, name, pair, noisy=True, contrast_limits=limits)]


def nuclei_with_masks() -> list[tuple]:
    """Synthetic crowded nuclei (256 x 256, float32), their masks, and scribbles drawn
    from the masks (1 = background, 2 = nucleus, under 3% of the pixels), for the
    Segment widget: train on the scribbles (semantic) or on the masks (instance)."""
    from .core.synthetic import scribbles, touching_nuclei

    image, masks = touching_nuclei((256, 256), seed=7)
    meta = {"source": "napari_gan.core.synthetic.touching_nuclei(seed=7)"}
    return [
        (image, {"name": "nuclei", "metadata": meta}, "image"),
        (masks, {"name": "nuclei masks", "metadata": meta, "visible": False}, "labels"),
        (scribbles(masks, seed=7), {"name": "nuclei scribbles", "metadata": meta}, "labels"),
    ]


def cells_with_landmarks() -> list[tuple]:
    """Synthetic tapered cells (256 x 256, float32) with a blunt head and a thin tail,
    and one Points layer per kind ("head", "tail") marking every cell, for the
    Keypoints widget: select both layers, train, then find heads and tails."""
    from .core.synthetic_landmarks import landmark_cells

    image, points = landmark_cells((256, 256), n_cells=20, seed=0)
    meta = {"source": "napari_gan.core.synthetic_landmarks.landmark_cells(n_cells=20, seed=0)"}
    layers = [(image, {"name": "cells", "metadata": meta}, "image")]
    for kind, colour in (("head", "orange"), ("tail", "cyan")):
        style = {"name": kind, "metadata": meta, "size": 6, "face_color": "transparent", "border_color": colour}
        layers.append((points[kind], style, "points"))
    return layers


def blobs_and_rods_with_boxes() -> list[tuple]:
    """Synthetic round blobs and elongated rods (192 x 192, float32), a Shapes layer
    with a rectangle around every object and its class ("blob" or "rod") in a
    "class" feature column, for the Boxes widget, and the objects as (hidden)
    Labels, for its "Boxes from labels"."""
    from .core.synthetic_boxes import blobs_and_rods

    image, boxes, classes, labels = blobs_and_rods((192, 192), n=(20, 16), seed=3, return_labels=True)
    meta = {"source": "napari_gan.core.synthetic_boxes.blobs_and_rods((192, 192), n=(20, 16), seed=3)"}
    # napari draws pixel i from i - 0.5 to i + 0.5: the rectangle around a box's
    # pixels (max exclusive) runs from min - 0.5 to max - 0.5
    lo, hi = boxes[:, 0] - 0.5, boxes[:, 1] - 0.5
    rectangles = np.stack([lo, np.stack([lo[:, 0], hi[:, 1]], 1), hi, np.stack([hi[:, 0], lo[:, 1]], 1)], 1)
    style = {
        "name": "blob and rod boxes",
        "metadata": meta,
        "shape_type": "rectangle",
        "features": {"class": classes},
        "edge_color": "class",
        "edge_color_cycle": ["orange", "cyan"],
        "edge_width": 1,
        "face_color": "transparent",
    }
    return [
        (image, {"name": "blobs and rods", "metadata": meta}, "image"),
        (labels, {"name": "blobs and rods objects", "metadata": meta, "visible": False}, "labels"),
        (rectangles, style, "shapes"),
    ]


def spots_with_points() -> list[tuple]:
    """Synthetic diffraction-limited spots (256 x 256, float32, SNR 4) and a Points layer
    marking the spots of the top half, for the Detect widget (train with the region
    of the top half, then detect in the whole image)."""
    from .core.synthetic import spots

    image, coords = spots((256, 256), n=120, snr=4.0, seed=7)
    meta = {"source": "napari_gan.core.synthetic.spots(snr=4, seed=7)"}
    top = coords[coords[:, 0] < 128]
    region = np.array([[0.0, 0.0], [127.0, 255.0]])
    return [
        (image, {"name": "spots", "metadata": meta}, "image"),
        (
            top,
            {
                "name": "spots (top half marked)",
                "metadata": meta,
                "size": 5,
                "face_color": "transparent",
                "border_color": "cyan",
            },
            "points",
        ),
        (
            [region],
            {"name": "annotated region", "shape_type": "rectangle", "face_color": "transparent", "edge_color": "cyan"},
            "shapes",
        ),
    ]


def brick_texture() -> list[tuple]:
    """scikit-image's brick wall (512 x 512, uint8) as one texture image, for the
    Generate (GAN) widget in texture mode."""
    from skimage import data

    meta = {"source": "skimage.data.brick"}
    return [(data.brick(), {"name": "brick texture", "metadata": meta}, "image")]


def faces_stack() -> list[tuple]:
    """The 100 face images of scikit-image's ``lfw_subset`` (100 x 25 x 25, float),
    a stack for the Generate (GAN) widget in samples mode (its other 100 images are
    not faces)."""
    from skimage import data

    meta = {"source": "skimage.data.lfw_subset()[:100]"}
    return [(data.lfw_subset()[:100].astype(np.float32), {"name": "faces", "metadata": meta}, "image")]


def objects_two_kinds() -> list[tuple]:
    """Synthetic separate objects of two kinds (256 x 256, float32): uniform and
    bright-rimmed, their Labels, and one Points layer per class marking 6 objects of
    each kind ("class: uniform", "class: rim"), for the Classify widget."""
    from scipy import ndimage as ndi

    from .core.synthetic import two_kinds

    image, labels, kinds = two_kinds((256, 256), seed=7)
    meta = {"source": "napari_gan.core.synthetic.two_kinds(seed=7)"}
    ids = np.arange(1, labels.max() + 1)
    centres = np.round(np.asarray(ndi.center_of_mass(labels > 0, labels, ids))).astype(float)
    layers = [
        (image, {"name": "two kinds", "metadata": meta}, "image"),
        (labels, {"name": "two kinds objects", "metadata": meta, "opacity": 0.3}, "labels"),
    ]
    for kind, (name, color) in enumerate((("uniform", "cyan"), ("rim", "magenta"))):
        picked = centres[kinds == kind][:6]
        style = {"size": 6, "face_color": color, "border_color": "white", "metadata": meta}
        layers.append((picked, {"name": f"class: {name}", **style}, "points"))
    return layers


def lowres_highres_pair() -> list[tuple]:
    """scikit-image's coins (303 x 384, uint8) at full resolution, for training the
    Image-to-image widget in superres mode, and the mean of its 2 x 2 blocks
    (151 x 192), to upscale; the low-resolution layer is scaled to overlay the other."""
    from skimage import data

    from .core.tasks.translate import downscale

    high = data.coins()
    low = downscale(high[None].astype(np.float32), 2)[0]  # what the superres model learns to undo
    meta = {"source": "skimage.data.coins"}
    return [
        (high, {"name": "coins (high resolution)", "metadata": meta}, "image"),
        (low, {"name": "coins (low resolution)", "metadata": meta, "scale": (2, 2), "translate": (0.5, 0.5)}, "image"),
    ]


def image_with_hole_mask() -> list[tuple]:
    """scikit-image's brick wall (512 x 512, uint8) and a Labels mask of strokes and a
    box to fill, for the Image-to-image widget in inpaint mode."""
    from skimage import data
    from skimage.draw import line

    image = data.brick()
    mask = np.zeros(image.shape, dtype=np.uint8)
    mask[200:260, 300:380] = 1
    for r0, c0, r1, c1 in ((60, 40, 180, 200), (400, 100, 330, 260)):
        rr, cc = line(r0, c0, r1, c1)
        for d in range(-4, 5):
            mask[np.clip(rr + d, 0, 511), cc] = 1
    meta = {"source": "skimage.data.brick"}
    return [
        (image, {"name": "brick", "metadata": meta}, "image"),
        (mask, {"name": "brick hole mask", "metadata": meta, "opacity": 0.5}, "labels"),
    ]
