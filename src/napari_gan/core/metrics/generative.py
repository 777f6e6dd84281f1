"""Generated images against real ones: patch statistics (sliced Wasserstein
distance of Laplacian-pyramid neighbourhoods, Karras et al., ProGAN, 2018) with the
real-vs-real floor it should be compared with, a memorisation check, diversity and a
lattice-artefact measure. The two-sample classifier test, the first measure of a
generated result, is in :mod:`.two_sample`; the seam measure of fills in :mod:`.seams`."""

from __future__ import annotations

import math

import numpy as np

from ..errors import InputError

__all__ = [
    "diversity",
    "lattice_strength",
    "memorisation_distance",
    "sliced_wasserstein",
    "sliced_wasserstein_floor",
    "split_halves",
]


_BINOMIAL = np.array([1.0, 4.0, 6.0, 4.0, 1.0]) / 16.0


def _image_set(images, name: str, channel_axis: int | None) -> list[np.ndarray]:
    """Images -> list of float64 (Y, X, C) arrays.

    A 2D array is one image; 3D is a stack (N, Y, X) (or one (Y, X, C) image when
    ``channel_axis`` is given); 4D a stack with channels; a list holds 2D images (or
    3D with ``channel_axis``) of any sizes.
    """
    if isinstance(images, (list, tuple)):
        items = [np.asarray(a) for a in images]
    else:
        arr = np.asarray(images)
        per_image = 2 if channel_axis is None else 3
        if arr.ndim == per_image:
            items = [arr]
        elif arr.ndim == per_image + 1:
            items = list(arr)
        else:
            raise InputError(
                f"{name} of shape {arr.shape}: expected {'(Y, X) or (N, Y, X)' if channel_axis is None else ''}"
                f"{'(Y, X, C) or (N, Y, X, C)' if channel_axis is not None else ''}"
            )
    if not items:
        raise InputError(f"{name} is empty")
    out = []
    for a in items:
        if a.dtype.kind not in "uif":
            raise InputError(f"{name} has unsupported dtype {a.dtype}")
        a = a.astype(np.float64)
        if channel_axis is not None:
            a = np.moveaxis(a, channel_axis, -1)
        elif a.ndim == 2:
            a = a[..., None]
        if a.ndim != 3:
            raise InputError(f"{name}: every image must be 2D (with channel_axis: 2D + channels), got {a.shape}")
        if not np.isfinite(a).all():
            raise InputError(f"{name} contains NaN or infinite values")
        out.append(a)
    if len({a.shape[-1] for a in out}) > 1:
        raise InputError(f"{name}: images have different numbers of channels")
    return out


def split_halves(images, *, channel_axis: int | None = None) -> tuple[list[np.ndarray], list[np.ndarray]]:
    """Two disjoint halves of real data, for real-vs-real reference values.

    Several images: the even-indexed and the odd-indexed ones. One image: its two
    halves along the longer axis. Returns lists of (Y, X, C) float64 images.
    """
    items = _image_set(images, "images", channel_axis)
    if len(items) >= 2:
        return items[0::2], items[1::2]
    a = items[0]
    axis = 0 if a.shape[0] >= a.shape[1] else 1
    h = a.shape[axis] // 2
    return [a[:h] if axis == 0 else a[:, :h]], [a[h : 2 * h] if axis == 0 else a[:, h : 2 * h]]


def _blur(a: np.ndarray) -> np.ndarray:
    from scipy import ndimage as ndi

    a = ndi.convolve1d(a, _BINOMIAL, axis=0, mode="reflect")
    return ndi.convolve1d(a, _BINOMIAL, axis=1, mode="reflect")


def _laplacian_pyramid(a: np.ndarray, levels: int) -> list[np.ndarray]:
    """Finest first; the last level is the coarsest Gaussian level."""
    out = []
    g = a
    for _ in range(levels - 1):
        small = _blur(g)[::2, ::2]
        up = np.repeat(np.repeat(small, 2, 0), 2, 1)[: g.shape[0], : g.shape[1]]
        out.append(g - _blur(up))
        g = small
    out.append(g)
    return out


def _n_levels(items: list[np.ndarray], min_size: int) -> int:
    side = min(min(a.shape[:2]) for a in items)
    return max(1, int(math.floor(math.log2(side / min_size))) + 1) if side >= min_size else 1


def _descriptors(pyramids, level: int, n: int, patch: int, rng: np.random.Generator) -> np.ndarray:
    """``n`` random patch x patch neighbourhoods of one pyramid level, normalised
    per channel (zero mean, unit std over the set, as ProGAN does)."""
    out = []
    which = rng.integers(len(pyramids), size=n)
    for i in range(len(pyramids)):
        k = int((which == i).sum())
        if k == 0:
            continue
        img = pyramids[i][level]
        if min(img.shape[:2]) < patch:
            raise InputError(f"pyramid level {level} is {img.shape[:2]}, smaller than the {patch}-pixel patch")
        ys = rng.integers(img.shape[0] - patch + 1, size=k)
        xs = rng.integers(img.shape[1] - patch + 1, size=k)
        win = np.lib.stride_tricks.sliding_window_view(img, (patch, patch), axis=(0, 1))
        out.append(win[ys, xs])  # (k, C, patch, patch)
    d = np.concatenate(out)
    d = d - d.mean(axis=(0, 2, 3), keepdims=True)
    d = d / (d.std(axis=(0, 2, 3), keepdims=True) + 1e-12)
    return d.reshape(n, -1)


def sliced_wasserstein(
    images_a,
    images_b,
    *,
    n_descriptors: int = 8192,
    patch: int = 7,
    n_projections: int = 512,
    n_repeats: int = 4,
    levels: int | None = None,
    min_size: int = 16,
    channel_axis: int | None = None,
    seed: int = 0,
) -> dict:
    """Patch sliced Wasserstein distance between two image sets (ProGAN's SWD).

    Each image is split into a Laplacian pyramid (5-tap binomial filter, finest level
    first, down to ``min_size`` pixels); ``n_descriptors`` random ``patch x patch``
    neighbourhoods are drawn per level and set (from images chosen at random),
    normalised per channel within each set, and the two descriptor sets are compared
    by the sliced Wasserstein distance: the mean, over ``n_projections`` random
    directions (``n_repeats`` times), of the mean absolute difference of the sorted
    projections. Lower is closer; compare with :func:`sliced_wasserstein_floor`.

    Parameters
    ----------
    images_a, images_b : array-like
        (Y, X) one image, (N, Y, X) a stack, (N, Y, X, C) with ``channel_axis=-1``,
        or lists of 2D images of any sizes (at least ``min_size`` per side).
    levels : int, optional
        Pyramid levels; default: as many as the smallest image of either set allows.
    seed : int
        Descriptor positions and projection directions; the same seed gives the
        same value.

    Returns
    -------
    dict
        ``levels``: list of SWD x 1e3 per pyramid level (finest first; ProGAN's
        scale), ``mean``: their mean.
    """
    a = _image_set(images_a, "images_a", channel_axis)
    b = _image_set(images_b, "images_b", channel_axis)
    if a[0].shape[-1] != b[0].shape[-1]:
        raise InputError("images_a and images_b have different numbers of channels")
    if levels is None:
        levels = _n_levels(a + b, min_size)
    if levels < 1:
        raise InputError(f"levels must be >= 1, got {levels}")
    smallest = min(min(x.shape[:2]) for x in a + b)
    if smallest // 2 ** (levels - 1) < patch:
        raise InputError(
            f"the smallest image ({smallest} px) is too small for {levels} pyramid levels of {patch}x{patch} patches"
        )
    rng = np.random.default_rng(seed)
    pa = [_laplacian_pyramid(x, levels) for x in a]
    pb = [_laplacian_pyramid(x, levels) for x in b]
    dim = patch * patch * a[0].shape[-1]
    per_level = []
    for level in range(levels):
        da = _descriptors(pa, level, n_descriptors, patch, rng)
        db = _descriptors(pb, level, n_descriptors, patch, rng)
        total = 0.0
        for _ in range(n_repeats):
            dirs = rng.standard_normal((dim, n_projections))
            dirs /= np.linalg.norm(dirs, axis=0, keepdims=True)
            proj_a = np.sort(da @ dirs, axis=0)
            proj_b = np.sort(db @ dirs, axis=0)
            total += float(np.abs(proj_a - proj_b).mean())
        per_level.append(total / n_repeats * 1e3)
    return {"levels": per_level, "mean": float(np.mean(per_level))}


def sliced_wasserstein_floor(images, *, channel_axis: int | None = None, **options) -> dict:
    """The real-vs-real floor of :func:`sliced_wasserstein`: the SWD between two
    disjoint halves of the real data (see :func:`split_halves`), with the same
    options. A generator whose SWD to the real data is near this value produces patch
    statistics as close to the data as the data is to itself."""
    first, second = split_halves(images, channel_axis=channel_axis)
    return sliced_wasserstein(first, second, channel_axis=-1, **options)


def _patches(items: list[np.ndarray], patch: int, stride: int, floor: float) -> np.ndarray:
    """All patches (every ``stride`` pixels), each with its own mean removed and scaled
    to unit RMS (RMS at least ``floor``): distances then compare structure, and a flat
    patch (a blurry generator's) is not "close" to every flat region of the data."""
    out = []
    for a in items:
        if min(a.shape[:2]) < patch:
            raise InputError(f"an image of {a.shape[:2]} is smaller than the {patch}-pixel patch")
        win = np.lib.stride_tricks.sliding_window_view(a, (patch, patch), axis=(0, 1))[::stride, ::stride]
        out.append(win.reshape(-1, win[0, 0].size).astype(np.float32))
    return _unit_patches(np.concatenate(out), floor)


def _unit_patches(p: np.ndarray, floor: float) -> np.ndarray:
    p -= p.mean(1, keepdims=True)
    p /= np.maximum(np.sqrt((p**2).mean(1, keepdims=True)), floor)
    return p


def _sample_patches(items: list[np.ndarray], patch: int, k: int, floor: float, rng) -> np.ndarray:
    """``k`` distinct random patches of ``items`` (the ones ``_patches(items, patch, 1)``
    would list at the drawn rows), normalised like :func:`_patches`, without building
    every patch first."""
    for a in items:
        if min(a.shape[:2]) < patch:
            raise InputError(f"an image of {a.shape[:2]} is smaller than the {patch}-pixel patch")
    widths = [a.shape[1] - patch + 1 for a in items]
    counts = np.array([(a.shape[0] - patch + 1) * w for a, w in zip(items, widths)])
    starts = np.concatenate([[0], np.cumsum(counts)])
    rows = rng.choice(int(starts[-1]), size=min(k, int(starts[-1])), replace=False)
    out = []
    for r in rows:
        i = int(np.searchsorted(starts, r, side="right") - 1)
        y, x = divmod(int(r - starts[i]), widths[i])
        out.append(np.moveaxis(items[i][y : y + patch, x : x + patch], -1, 0).reshape(-1))
    return _unit_patches(np.array(out, dtype=np.float32), floor)


def _nearest(queries: np.ndarray, candidates: np.ndarray) -> np.ndarray:
    """RMS (per pixel) distance of each query to its nearest candidate."""
    import torch

    c = torch.from_numpy(candidates.astype(np.float32))
    out = []
    for i in range(0, len(queries), 256):
        q = torch.from_numpy(queries[i : i + 256].astype(np.float32))
        out.append(torch.cdist(q, c).min(1).values.numpy())
    return np.concatenate(out) / math.sqrt(queries.shape[1])


def memorisation_distance(
    generated,
    training,
    *,
    patch: int = 16,
    stride: int = 1,
    n_patches: int = 1000,
    channel_axis: int | None = None,
    seed: int = 0,
) -> dict:
    """Does a generator copy its training data? Nearest-neighbour distances of
    generated patches to the training patches, against real-to-real ones.

    ``n_patches`` random ``patch x patch`` patches of the generated images are each
    matched to their nearest training patch (all positions, every ``stride``
    pixels), by RMS distance after removing each patch's mean and scaling it to unit
    RMS (so the distance measures structure: 0 for a copy, about 1.4 for unrelated
    patches).
    The reference is the same distance from patches of one half of the training data
    to the other half (:func:`split_halves`): a fresh sample of the same process. A
    generator that copies gives much smaller distances than the reference.

    Returns
    -------
    dict
        ``generated``: median NN distance of generated patches; ``real``: median
        NN distance of real patches to the other half; ``ratio``: generated / real
        (near or above 1: no copying; the generated side searches twice as many
        candidates, so slightly below 1 is expected too; far below 1: copies);
        ``copied_fraction``: share of generated patches closer to the training data
        than 99% of real patches are to the other half (about 0.01 without copying).
    """
    gen = _image_set(generated, "generated", channel_axis)
    train = _image_set(training, "training", channel_axis)
    mean = float(np.mean([a.mean() for a in train]))
    std = float(np.sqrt(np.mean([((a - mean) ** 2).mean() for a in train]))) or 1.0
    gen = [(a - mean) / std for a in gen]
    train = [(a - mean) / std for a in train]
    first, second = split_halves(train, channel_axis=-1)
    rng = np.random.default_rng(seed)
    floor = 0.05  # in units of the data's standard deviation

    d_gen = _nearest(_sample_patches(gen, patch, n_patches, floor, rng), _patches(train, patch, stride, floor))
    d_real = _nearest(_sample_patches(first, patch, n_patches, floor, rng), _patches(second, patch, stride, floor))
    threshold = float(np.percentile(d_real, 1))
    return {
        "generated": float(np.median(d_gen)),
        "real": float(np.median(d_real)),
        "ratio": float(np.median(d_gen) / max(np.median(d_real), 1e-12)),
        "copied_fraction": float((d_gen < threshold).mean()),
    }


def diversity(samples, *, channel_axis: int | None = None) -> float:
    """How different generated images are from each other: the mean pairwise RMS
    distance between samples divided by ``sqrt(2)`` times their pixel standard
    deviation. About 1 for independent images, 0 when every sample is the same
    (mode collapse). Compare with the same value of real images.

    Parameters
    ----------
    samples : array-like, (N, Y, X) or (N, Y, X, C) with ``channel_axis=-1``; N >= 2
    """
    items = _image_set(samples, "samples", channel_axis)
    if len(items) < 2:
        raise InputError("diversity needs at least 2 samples")
    if len({a.shape for a in items}) > 1:
        raise InputError("diversity needs samples of one shape")
    x = np.stack(items).reshape(len(items), -1)
    std = x.std()
    if std == 0:
        return 0.0
    sq = (x**2).sum(1)
    d2 = np.maximum(sq[:, None] + sq[None, :] - 2 * x @ x.T, 0) / x.shape[1]
    iu = np.triu_indices(len(items), 1)
    return float(np.sqrt(d2[iu]).mean() / (math.sqrt(2) * std))


def lattice_strength(images, period: int, *, channel_axis: int | None = None) -> float:
    """How strongly images repeat with a given period (in pixels): a generator's
    lattice artefact, e.g. the 8 px of a texture generator that upsamples its noise
    three times.

    For every harmonic of the period (1 / period, 2 / period, ... cycles per pixel up
    to Nyquist) along Y, X and both diagonals, the amplitude of the Hann-windowed
    image's spectrum at that frequency over the median amplitude around it (2 to 4
    frequency bins away); the largest of these ratios, averaged over the images.
    About 1-3 for images without such a lattice (the spread of spectral noise),
    several times more with one. Compare with the value of the real data.

    Parameters
    ----------
    images : array-like, (Y, X), (N, Y, X) or a list of 2D images (any sizes);
        with ``channel_axis``, the channels are averaged first. Each at least
        ``4 * period`` pixels per side.
    period : int >= 2
    """
    if isinstance(period, bool) or not isinstance(period, (int, np.integer)) or period < 2:
        raise InputError(f"period must be an integer >= 2, got {period!r}")
    items = _image_set(images, "images", channel_axis)
    ys, xs = np.meshgrid(np.arange(-4, 5), np.arange(-4, 5), indexing="ij")
    ring = np.maximum(np.abs(ys), np.abs(xs)) >= 2
    ys, xs = ys[ring], xs[ring]  # the bins 2 to 4 away from a frequency
    scores = []
    for a in items:
        a = a.mean(-1)
        h, w = a.shape
        if min(h, w) < 4 * period:
            raise InputError(f"images of {a.shape} are too small for period {period}: need {4 * period} px per side")
        win = np.hanning(h)[:, None] * np.hanning(w)[None, :]
        amp = np.abs(np.fft.fft2((a - a.mean()) * win))
        best = 0.0
        for k in range(1, period // 2 + 1):
            for dy, dx in ((1, 0), (0, 1), (1, 1), (1, -1)):
                cy, cx = round(dy * k * h / period), round(dx * k * w / period)
                around = amp[(cy + ys) % h, (cx + xs) % w]
                best = max(best, amp[cy % h, cx % w] / max(float(np.median(around)), 1e-12))
        scores.append(best)
    return float(np.mean(scores))
